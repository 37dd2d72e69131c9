package demo

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/accountbridge/accountbridge/internal/providers/fakeutil"
	gasfake "github.com/accountbridge/accountbridge/internal/providers/gas/fake"
	onecloudfake "github.com/accountbridge/accountbridge/internal/providers/onecloud/fake"
	smsfake "github.com/accountbridge/accountbridge/internal/providers/sms/fake"
	telecomfake "github.com/accountbridge/accountbridge/internal/providers/telecom/fake"

	"github.com/accountbridge/accountbridge/internal/providers/wire"
)

// Each function below is one provider's part of the demo; providersInDemo lists them.

// startTelecom: numbers on the "normal" plan whose data use grows by 64 MiB a poll, with
// a threshold rule on the first one that fires when it passes 7.5 GiB (about a minute and
// a half in).
func startTelecom(env *Env) (Setup, error) {
	const password = "123456"
	f := telecomfake.New()
	n := env.count(1)
	phones := make([]string, n)
	for i := range phones {
		phones[i] = "18912345678"
		if i > 0 {
			phones[i] = fmt.Sprintf("189%08d", 20000000+i)
		}
		f.AddAccount(phones[i], password, telecomfake.PlanNormal)
	}
	url, err := env.Serve(f)
	if err != nil {
		return Setup{}, err
	}
	env.Tick(env.Every, func() {
		for _, p := range phones {
			f.AddDataUse(p, 64*1024)
		}
	})
	key := "      " + strings.ReplaceAll(strings.TrimSpace(f.PublicKeyPEM()), "\n", "\n      ")
	s := Setup{
		URL: url,
		RulesYAML: `    - name: demo_data_used_high
      entity: telecom_mobile.data_used
      above: 7.5
      for: 10s
`,
		Alive: fmt.Sprintf("data use grows 64 MiB every %s; alert above 7.5 GiB", env.Every),
	}
	var ya strings.Builder
	for i, phone := range phones {
		id := accountID("mobile", i)
		s.Accounts = append(s.Accounts, id)
		fmt.Fprintf(&ya, `  - id: %s
    provider: telecom
    name: Demo phone%s
    phone: "%s"
    password: "%s"
    base_url: %s
    login_url: %s
    rsa_public_key: |
%s
    schedule: "%s"
`, id, nameSuffix(i), phone, password, url, url, key, env.Schedule)
	}
	s.AccountsYA = ya.String()
	return s, nil
}

// accountID is the demo id of a provider's account i: base for the first (as the demo
// always had), base_2, base_3, … for the others (--accounts N).
func accountID(base string, i int) string {
	if i == 0 {
		return base
	}
	return base + "_" + strconv.Itoa(i+1)
}

func nameSuffix(i int) string {
	if i == 0 {
		return ""
	}
	return " " + strconv.Itoa(i+1)
}

// startGas: meters that move on by a day every minute, the first with a balance below the
// threshold rule's 100 CNY (it fires on the first polls). Each meter is its own fake,
// served under /a/<i>/.
func startGas(env *Env) (Setup, error) {
	n := env.count(1)
	fakes := make([]*gasfake.Server, n)
	router := make(fakeutil.Prefixed, n)
	for i := range fakes {
		o := gasfake.Options{LastDay: time.Now().In(wire.CST).AddDate(0, 0, -60)}
		if i > 0 {
			o.UserCode, o.Mobile = fmt.Sprintf("%08d", 20000000+i), fmt.Sprintf("138%08d", i)
		}
		fakes[i] = gasfake.New(o)
		router[i] = fakes[i]
	}
	url, err := env.Serve(router)
	if err != nil {
		return Setup{}, err
	}
	env.Tick(time.Minute, func() {
		for _, f := range fakes {
			f.AddDay()
		}
	})
	s := Setup{
		URL: url,
		RulesYAML: `    - name: demo_gas_balance_low
      entity: gas_home.balance
      below: 100
      for: 20s
`,
		Alive: "the meter moves on a day every minute; balance 86.42 < 100 alerts",
	}
	var ya strings.Builder
	for i := range fakes {
		userCode, mobile := gasfake.DefaultUserCode, gasfake.DefaultMobile
		if i > 0 {
			userCode, mobile = fmt.Sprintf("%08d", 20000000+i), fmt.Sprintf("138%08d", i)
		}
		id := accountID("home", i)
		s.Accounts = append(s.Accounts, id)
		fmt.Fprintf(&ya, `  - id: %s
    provider: gas
    name: Demo gas meter%s
    user_code: "%s"
    mobile: "%s"
    password: "%s"
    base_url: %s/a/%d
    schedule: "%s"
`, id, nameSuffix(i), userCode, mobile, gasfake.DefaultPassword, url, i, env.Schedule)
	}
	s.AccountsYA = ya.String()
	return s, nil
}

// startOneCloud: accounts with two boxes each; box "eastmoon6469" goes offline after
// env.OfflineAfter and toggles every OfflineAfter, so the built-in offline alert fires
// (after its grace, env.AlertFor) and resolves. Each account is its own fake, served
// under /a/<i>/.
func startOneCloud(env *Env) (Setup, error) {
	n := env.count(1)
	o := onecloudfake.Default()
	fakes := make([]*onecloudfake.Server, n)
	router := make(fakeutil.Prefixed, n)
	phones := make([]string, n)
	for i := range fakes {
		oi := o
		if i > 0 {
			oi.Phone = fmt.Sprintf("137%08d", i)
		}
		phones[i] = oi.Phone
		fakes[i] = onecloudfake.New(oi)
		fakes[i].SetStatus(o.Boxes[1].SN, "online", "") // only the flapping box goes offline
		router[i] = fakes[i]
	}
	url, err := env.Serve(router)
	if err != nil {
		return Setup{}, err
	}
	env.Tick(env.OfflineAfter, func() {
		for _, f := range fakes {
			f.Toggle(o.Boxes[0].SN)
		}
	})
	s := Setup{
		URL:   url,
		Alive: fmt.Sprintf("box %s goes offline every other %s; offline alert after %s", o.Boxes[0].Name, env.OfflineAfter, env.AlertFor),
	}
	var ya strings.Builder
	for i, phone := range phones {
		id := accountID("miner", i)
		s.Accounts = append(s.Accounts, id)
		fmt.Fprintf(&ya, `  - id: %s
    provider: onecloud
    name: Demo OneCloud%s
    phone: "%s"
    password: "%s"
    account_base_url: %s/a/%d
    control_base_url: %s/a/%d
    schedule: "%s"
`, id, nameSuffix(i), phone, o.Password, url, i, url, i, env.Schedule)
	}
	s.AccountsYA = ya.String()
	return s, nil
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
	// The three platform accounts, in turn; with --accounts N, N accounts that share the
	// three fakes (activate_2 is another account on the same SMS-Activate fake).
	blocks := [3]string{`    platform: activate
    api_key: %[1]s
    base_url: %[2]s
    currency: RUB
`, `    platform: fivesim
    api_key: %[1]s
    base_url: %[2]s
    currency: RUB
`, `    platform: smsapi
    username: %[3]s
    password: %[1]s
    base_url: %[2]s
    currency: CNY
    low_balance: 5
`}
	ids := [3]string{"activate", "fivesim", "selfhosted"}
	names := [3]string{"SMS-Activate", "5SIM", "SMS service"}
	secrets := [3]string{key, token, pass}
	var accounts []string
	var ya strings.Builder
	for i := range env.count(3) {
		k := i % 3
		id := accountID(ids[k], i/3)
		accounts = append(accounts, id)
		fmt.Fprintf(&ya, "  - id: %s\n    provider: sms\n    name: Demo %s%s\n", id, names[k], nameSuffix(i/3))
		fmt.Fprintf(&ya, blocks[k], secrets[k], urls[k], user)
		fmt.Fprintf(&ya, "    schedule: \"%s\"\n", env.Schedule)
	}
	return Setup{
		URL:        urls[0] + " " + urls[1] + " " + urls[2],
		Accounts:   accounts,
		AccountsYA: ya.String(),
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
