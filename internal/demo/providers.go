package demo

import (
	"fmt"
	"strings"
	"time"

	gasfake "github.com/accountbridge/accountbridge/internal/providers/gas/fake"
	onecloudfake "github.com/accountbridge/accountbridge/internal/providers/onecloud/fake"
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
// (after its 30 s grace) and resolves.
func startOneCloud(env *Env) (Setup, error) {
	o := onecloudfake.Default()
	f := onecloudfake.New(o)
	f.SetStatus(o.Boxes[1].SN, "online", "") // only the flapping box goes offline
	url, err := env.Serve(f)
	if err != nil {
		return Setup{}, err
	}
	f.Flap(env.ctx, o.Boxes[0].SN, env.OfflineAfter) // its goroutine ends with the demo
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
		Alive: fmt.Sprintf("box %s goes offline every other %s; offline alert after 30 s", o.Boxes[0].Name, env.OfflineAfter),
	}, nil
}
