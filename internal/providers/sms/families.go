package sms

import (
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/accountbridge/accountbridge/internal/didyoumean"
	"github.com/accountbridge/accountbridge/internal/providers"
)

// family is one protocol family: its defaults, the settings it requires, how its adapter
// is built and the vocabulary that maps the router's codes to its own. Adding a family is
// adding an entry to families (and its adapter and fake); the conformance test
// (families_test.go) then runs over it.
type family struct {
	base     string // default base_url; "" = the account must set one
	currency string // default currency
	// key describes api_key when the family needs one ("the 5SIM API token"); "" = none.
	key string
	// own lists the settings only this family takes (preset, cancel_status, operator).
	own []string
	// build checks the family's own settings and returns its adapter and vocabulary; it
	// may change the platform's preset and currency (the activate presets do).
	build func(b *builder) (adapter, vocab)
}

// builder is what a family's build gets: the settings and the account's dependencies,
// and the shared checks that report problems at the setting's key.
type builder struct {
	s    Settings
	deps providers.Deps
	fam  family
	p    *Platform
	errs []error
}

func (b *builder) add(key, format string, args ...any) {
	b.errs = append(b.errs, providers.Settingf(key, format, args...))
}

// http is the family's HTTP client at base_url, or at def when the account sets none.
func (b *builder) http(def string) httpc {
	if b.s.BaseURL == "" {
		if def == "" {
			b.add("base_url", "set `base_url` (the platform's API address)")
		}
		return httpc{hc: b.deps.HTTP, base: def}
	}
	u, err := url.Parse(b.s.BaseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" {
		b.add("base_url", "`base_url` must be an http(s) URL without a query, got %q", b.s.BaseURL)
		return httpc{hc: b.deps.HTTP}
	}
	return httpc{hc: b.deps.HTTP, base: strings.TrimRight(b.s.BaseURL, "/")}
}

// families by name; Families is their order in messages.
var families = map[string]family{
	FamilyActivate: {key: "the platform's API key", own: []string{"preset", "cancel_status"}, build: func(b *builder) (adapter, vocab) {
		name := b.s.Preset
		if name == "" {
			name = "sms-activate"
		}
		pr, ok := Presets[name]
		if !ok {
			b.add("preset", "unknown `preset` %q (known: %s)", b.s.Preset, strings.Join(PresetNames(), ", "))
			return nil, vocab{}
		}
		b.p.preset, b.p.currency = name, pr.Currency
		cancel := pr.CancelStatus
		if b.s.CancelStatus != "" {
			if !statusRe.MatchString(b.s.CancelStatus) {
				b.add("cancel_status", "`cancel_status` is a setStatus number (e.g. \"8\") of platform activate")
			}
			cancel = b.s.CancelStatus
		}
		return &activate{h: b.http(pr.BaseURL), path: pr.Path, key: b.s.APIKey, cancelStatus: cancel, textOnly: pr.TextOnly},
			vocab{svc: identity, cc: tableOrDigits(activateCountries)}
	}},
	FamilyFiveSim: {base: "https://5sim.net", currency: "RUB", key: "the 5SIM API token", own: []string{"operator"}, build: func(b *builder) (adapter, vocab) {
		op := b.s.Operator
		if op == "" {
			op = "any"
		}
		return &fivesim{h: b.http(b.fam.base), token: b.s.APIKey, operator: op},
			vocab{svc: tableOrSame(fivesimServices), cc: tableOrWord(fivesimCountries)}
	}},
	FamilySMSAPI: {currency: "CNY", build: func(b *builder) (adapter, vocab) {
		if b.s.Username == "" || b.s.Password == "" {
			b.add("username", "set `username` and `password` (the sms_api login; `password_file` works too)")
		}
		kv := b.deps.KV
		return &smsapi{h: b.http(b.fam.base), user: b.s.Username, pass: b.s.Password, kv: kv, secret: b.deps.Secret,
				guard: providers.LoginGuard{KV: kv, Now: b.deps.Now, MinInterval: 30 * time.Second, MaxFailuresPerDay: 5}},
			vocab{svc: onlyDigits, cc: only("cn")}
	}},
	FamilySMSMan: {base: "https://api.sms-man.com", currency: "RUB", key: "the SMS-Man token", build: func(b *builder) (adapter, vocab) {
		return &smsman{h: b.http(b.fam.base), token: b.s.APIKey}, vocab{svc: identity, cc: identity}
	}},
	FamilyOnlineSim: {base: "https://onlinesim.io", currency: "RUB", key: "the OnlineSIM apikey", build: func(b *builder) (adapter, vocab) {
		return &onlinesim{h: b.http(b.fam.base), key: b.s.APIKey}, vocab{svc: tableOrSame(onlinesimServices), cc: tableOrDigits(dialCodes)}
	}},
	FamilySMSPVA: {base: "http://smspva.com", currency: "USD", key: "the SMSPVA apikey", build: func(b *builder) (adapter, vocab) {
		return &smspva{h: b.http(b.fam.base), key: b.s.APIKey}, vocab{svc: prefixed("opt"), cc: smspvaCountry}
	}},
	FamilyGetSMSCode: {base: "http://api.getsmscode.com", currency: "USD", key: "the GetSMSCode token", build: func(b *builder) (adapter, vocab) {
		if b.s.Username == "" {
			b.add("username", "set `username` (the GetSMSCode login)")
		}
		return &getsmscode{h: b.http(b.fam.base), user: b.s.Username, token: b.s.APIKey}, vocab{svc: onlyDigits, cc: identity}
	}},
}

// familyOnly are the settings some family owns, with their values in s.
func familyOnly(s Settings) [][2]string {
	return [][2]string{{"preset", s.Preset}, {"cancel_status", s.CancelStatus}, {"operator", s.Operator}}
}

// buildFamily checks the family-dependent settings and sets the platform's adapter,
// vocabulary and default currency.
func buildFamily(p *Platform, s Settings, deps providers.Deps, add func(key, format string, args ...any)) []error {
	fam, known := families[s.Platform]
	switch {
	case s.Platform == "":
		add("platform", "set `platform` (one of %s)", strings.Join(Families, ", "))
		return nil
	case !known:
		if near, ok := didyoumean.Closest(s.Platform, Families); ok {
			add("platform", "unknown `platform` %q (did you mean %q?)", s.Platform, near)
		} else {
			add("platform", "unknown `platform` %q (one of %s)", s.Platform, strings.Join(Families, ", "))
		}
		return nil
	}
	for _, kv := range familyOnly(s) {
		if kv[1] != "" && !slices.Contains(fam.own, kv[0]) {
			add(kv[0], "`%s` is only for platform %s", kv[0], ownerOf(kv[0]))
		}
	}
	if fam.key != "" && s.APIKey == "" {
		add("api_key", "set `api_key` (%s; `api_key_file` works too)", fam.key)
	}
	p.currency = fam.currency
	b := &builder{s: s, deps: deps, fam: fam, p: p}
	p.a, p.maps = fam.build(b)
	return b.errs
}

// checkCommon checks the settings every family has.
func checkCommon(s Settings, add func(key, format string, args ...any)) {
	if s.LowBalance != nil && *s.LowBalance < 0 {
		add("low_balance", "`low_balance` must not be negative")
	}
	for k, v := range s.Services {
		if k == "" || v == "" {
			add("services", "`services` maps a service code to the platform's code; both must be set")
		}
	}
	for k, v := range s.Countries {
		if k == "" || v == "" {
			add("countries", "`countries` maps a country code to the platform's code; both must be set")
		}
	}
	for k, v := range s.Prices {
		if svc, cc, ok := strings.Cut(k, "/"); !ok || svc == "" || cc == "" || v <= 0 {
			add("prices", "`prices` keys are \"service/country\" (e.g. \"tg/us\") with a positive price, got %q: %v", k, v)
		}
	}
}

// ownerOf names the family that takes the setting key.
func ownerOf(key string) string {
	for _, name := range Families {
		for _, k := range families[name].own {
			if k == key {
				return name
			}
		}
	}
	return ""
}
