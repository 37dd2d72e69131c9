package demo

import (
	"fmt"
	"net/http"
	"strings"
	"time"

	gasfake "github.com/accountbridge/accountbridge/internal/providers/gas/fake"
	onecloudfake "github.com/accountbridge/accountbridge/internal/providers/onecloud/fake"
	smsfake "github.com/accountbridge/accountbridge/internal/providers/sms/fake"
	telecomfake "github.com/accountbridge/accountbridge/internal/providers/telecom/fake"
)

// Each function below is one provider's part of the demo; providersInDemo lists them.

// startTelecom: one number on the "normal" plan whose data use grows by 64 MiB a poll,
// with a threshold rule that fires when it passes 7.5 GiB (about a minute and a half in).
func startTelecom(env *Env) (Setup, error) {
	const phone, password = "18912345678", "123456"
	f := telecomfake.New()
	f.AddAccount(phone, password, telecomfake.PlanNormal)
	url, err := env.Serve(f)
	if err != nil {
		return Setup{}, err
	}
	env.Tick(env.Every, func() { f.AddDataUse(phone, 64*1024) })
	key := "      " + strings.ReplaceAll(strings.TrimSpace(f.PublicKeyPEM()), "\n", "\n      ")
	return Setup{
		URL:      url,
		Accounts: []string{"mobile"},
		AccountsYA: fmt.Sprintf(`  - id: mobile
    provider: telecom
    name: Demo phone
    phone: "%s"
    password: "%s"
    base_url: %s
    login_url: %s
    rsa_public_key: |
%s
    schedule: "%s"
`, phone, password, url, url, key, env.Schedule),
		RulesYAML: `    - name: demo_data_used_high
      entity: telecom_mobile.data_used
      above: 7.5
      for: 10s
`,
		Alive: fmt.Sprintf("data use grows 64 MiB every %s; alert above 7.5 GiB", env.Every),
	}, nil
}

// startGas: one meter that moves on by a day every minute, with a balance below the
// threshold rule's 100 CNY (it fires on the first polls).
func startGas(env *Env) (Setup, error) {
	f := gasfake.New(gasfake.Options{LastDay: time.Now().In(gasfake.CST).AddDate(0, 0, -60)})
	url, err := env.Serve(f)
	if err != nil {
		return Setup{}, err
	}
	env.Tick(time.Minute, f.AddDay)
	return Setup{
		URL:      url,
		Accounts: []string{"home"},
		AccountsYA: fmt.Sprintf(`  - id: home
    provider: gas
    name: Demo gas meter
    user_code: "%s"
    mobile: "%s"
    password: "%s"
    base_url: %s
    schedule: "%s"
`, gasfake.DefaultUserCode, gasfake.DefaultMobile, gasfake.DefaultPassword, url, env.Schedule),
		RulesYAML: `    - name: demo_gas_balance_low
      entity: gas_home.balance
      below: 100
      for: 20s
`,
		Alive: "the meter moves on a day every minute; balance 86.42 < 100 alerts",
	}, nil
}

// startOneCloud: an account with two boxes; box "eastmoon6469" goes offline after
// env.OfflineAfter and toggles every OfflineAfter, so the built-in offline alert fires
// (after its grace, env.AlertFor) and resolves.
func startOneCloud(env *Env) (Setup, error) {
	o := onecloudfake.Default()
	f := onecloudfake.New(o)
	f.SetStatus(o.Boxes[1].SN, "online", "") // only the flapping box goes offline
	url, err := env.Serve(f)
	if err != nil {
		return Setup{}, err
	}
	env.Tick(env.OfflineAfter, func() { f.Toggle(o.Boxes[0].SN) })
	return Setup{
		URL:      url,
		Accounts: []string{"miner"},
		AccountsYA: fmt.Sprintf(`  - id: miner
    provider: onecloud
    name: Demo OneCloud
    phone: "%s"
    password: "%s"
    account_base_url: %s
    control_base_url: %s
    schedule: "%s"
`, o.Phone, o.Password, url, url, env.Schedule),
		Alive: fmt.Sprintf("box %s goes offline every other %s; offline alert after %s", o.Boxes[0].Name, env.OfflineAfter, env.AlertFor),
	}, nil
}

// startSMS: three platforms, one per protocol family the router speaks. SMS-Activate is
// the cheapest for Telegram/US but has no numbers, so an order with strategy price gets
// its number from 5SIM and its code about 15 s later; the self-hosted service's balance
// is below its low_balance line. The `sms:` section watches tg/us and wa/us.
func startSMS(env *Env) (Setup, error) {
	const key, token, user, pass = "demo-activate-key", "demo-5sim-token", "demo", "demo-pass"
	act := smsfake.NewActivate(key)
	act.SetBalance(250)
	act.SetOffer("tg", "187", 10, 0) // cheapest, out of stock
	act.SetOffer("wa", "187", 18, 40)
	act.SetCodeAfter(15 * time.Second)
	five := smsfake.NewFiveSim(token)
	five.SetBalance(120)
	five.SetOffer("telegram", "usa", 14, 120)
	five.SetOffer("whatsapp", "usa", 16, 25)
	five.SetCodeAfter(15 * time.Second)
	self := smsfake.NewSMSAPI(user, pass)
	self.SetBalance(3)
	self.SetCodeAfter(15 * time.Second)
	var urls [3]string
	for i, h := range []http.Handler{act, five, self} {
		u, err := env.Serve(h)
		if err != nil {
			return Setup{}, err
		}
		urls[i] = u
	}
	// Stock moves a little, so the stock sensors are alive.
	n := 0
	env.Tick(env.Every, func() {
		n++
		five.SetStock("whatsapp", "usa", 25-n%10)
	})
	return Setup{
		URL:      urls[0] + " " + urls[1] + " " + urls[2],
		Accounts: []string{"activate", "fivesim", "selfhosted"},
		AccountsYA: fmt.Sprintf(`  - id: activate
    provider: sms
    name: Demo SMS-Activate
    platform: activate
    api_key: %s
    base_url: %s
    currency: RUB
    schedule: "%s"
  - id: fivesim
    provider: sms
    name: Demo 5SIM
    platform: fivesim
    api_key: %s
    base_url: %s
    currency: RUB
    schedule: "%s"
  - id: selfhosted
    provider: sms
    name: Demo SMS service
    platform: smsapi
    username: %s
    password: %s
    base_url: %s
    currency: CNY
    low_balance: 5
    schedule: "%s"
`, key, urls[0], env.Schedule, token, urls[1], env.Schedule, user, pass, urls[2], env.Schedule),
		SectionsYAML: `sms:
  watch:
    - {service: tg, country: us}
    - {service: wa, country: us}
  default_strategy: price
  code_poll_interval: 5s
  code_timeout: 3m
  max_daily_spend: 200
  currency: RUB
  rates: {CNY: 12.5}
`,
		Alive: "tg/us is cheapest at SMS-Activate (no stock), so orders go to 5SIM; codes arrive ~15 s after buying",
		Try: []string{
			"SMS order: {sub} -v -t '" + BaseTopic + "/sms/order/#'   and then",
			"            {pub} -t '" + BaseTopic + `/sms/order' -m '{"request_id":"demo-1","service":"tg","country":"us","strategy":"price"}'`,
		},
	}, nil
}
