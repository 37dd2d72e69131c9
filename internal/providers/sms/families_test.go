package sms

import (
	"cmp"
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/accountbridge/accountbridge/internal/providers"
	"github.com/accountbridge/accountbridge/internal/providers/sms/fake"
)

// member is one family in the conformance test: a fake of its protocol with one pair in
// stock and one sold out (in the platform's own codes), and the settings that point an
// account at it. secrets are what must never show in an error.
type member struct {
	family   string
	fake     func() (http.Handler, *fake.Market)
	settings func(url string) Settings
	wrong    func(s *Settings) // makes the credentials wrong
	suffix   string            // path the account's base_url has beyond the fake's root
	secrets  []string
	svc, cc  string // in stock
	outSvc   string // sold out (same country)
	outCC    string
	deps     func() providers.Deps
	// noFinish: the protocol has nothing to confirm, finish only ends our side.
	noFinish bool
	// expired is what check reports once the upstream ended an order by itself: activate
	// says cancelled (STATUS_CANCEL); sms_api and GetSMSCode cannot tell (the router's
	// code_timeout ends the order).
	expired State
	// cancelled is what check reports after our cancel: SMS-Man, OnlineSIM and SMSPVA
	// close the order as ended without SMS.
	cancelled State
}

func members() []member {
	return []member{
		{family: FamilyActivate, svc: "tg", cc: "187", outSvc: "wa", outCC: "187", secrets: []string{"act-key-secret-1"},
			fake: func() (http.Handler, *fake.Market) {
				f := fake.NewActivate("act-key-secret-1")
				return f, f.Market
			},
			settings: func(u string) Settings {
				return Settings{Platform: FamilyActivate, APIKey: "act-key-secret-1", BaseURL: u}
			},
			wrong: func(s *Settings) { s.APIKey = "nope" }, expired: StateCancelled},
		{family: FamilyFiveSim, svc: "telegram", cc: "usa", outSvc: "whatsapp", outCC: "usa", secrets: []string{"fivesim-token-secret-2"},
			fake: func() (http.Handler, *fake.Market) {
				f := fake.NewFiveSim("fivesim-token-secret-2")
				return f, f.Market
			},
			settings: func(u string) Settings {
				return Settings{Platform: FamilyFiveSim, APIKey: "fivesim-token-secret-2", BaseURL: u}
			},
			wrong: func(s *Settings) { s.APIKey = "nope" }},
		{family: FamilySMSAPI, svc: smsapiPID, cc: "cn", outSvc: "654321", outCC: "cn", suffix: "/api", secrets: []string{"smsapi-pass-secret-3"},
			fake: func() (http.Handler, *fake.Market) {
				f := fake.NewSMSAPI("user3", "smsapi-pass-secret-3")
				f.Arrival = 1
				return f, f.Market
			},
			settings: func(u string) Settings {
				return Settings{Platform: FamilySMSAPI, Username: "user3", Password: "smsapi-pass-secret-3", BaseURL: u}
			},
			wrong: func(s *Settings) { s.Password = "nope" }, expired: StateWaiting,
			deps: func() providers.Deps {
				return providers.Deps{KV: &providers.MemoryKV{}, Now: tickingNow(time.Date(2024, 3, 1, 0, 0, 0, 0, time.UTC))}
			}},
		{family: FamilySMSMan, svc: "3", cc: "4", outSvc: "6", outCC: "4", secrets: []string{"smsman-token-secret-4"},
			fake: func() (http.Handler, *fake.Market) {
				f := fake.NewSMSMan("smsman-token-secret-4")
				return f, f.Market
			},
			settings: func(u string) Settings {
				return Settings{Platform: FamilySMSMan, APIKey: "smsman-token-secret-4", BaseURL: u}
			},
			wrong: func(s *Settings) { s.APIKey = "nope" }, cancelled: StateExpired},
		{family: FamilyOnlineSim, svc: "telegram", cc: "7", outSvc: "whatsapp", outCC: "7", secrets: []string{"onlinesim-key-secret-5"},
			fake: func() (http.Handler, *fake.Market) {
				f := fake.NewOnlineSim("onlinesim-key-secret-5")
				return f, f.Market
			},
			settings: func(u string) Settings {
				return Settings{Platform: FamilyOnlineSim, APIKey: "onlinesim-key-secret-5", BaseURL: u}
			},
			wrong: func(s *Settings) { s.APIKey = "nope" }, cancelled: StateExpired},
		{family: FamilySMSPVA, svc: "opt29", cc: "RU", outSvc: "opt41", outCC: "RU", secrets: []string{"smspva-key-secret-6"},
			fake: func() (http.Handler, *fake.Market) {
				f := fake.NewSMSPVA("smspva-key-secret-6")
				return f, f.Market
			},
			settings: func(u string) Settings {
				return Settings{Platform: FamilySMSPVA, APIKey: "smspva-key-secret-6", BaseURL: u}
			},
			wrong: func(s *Settings) { s.APIKey = "nope" }, noFinish: true, cancelled: StateExpired},
		{family: FamilyGetSMSCode, svc: "10", cc: "cn", outSvc: "3", outCC: "cn", secrets: []string{"getsmscode-token-secret-7"},
			fake: func() (http.Handler, *fake.Market) {
				f := fake.NewGetSMSCode("user7@example.com", "getsmscode-token-secret-7")
				return f, f.Market
			},
			settings: func(u string) Settings {
				return Settings{Platform: FamilyGetSMSCode, Username: "user7@example.com", APIKey: "getsmscode-token-secret-7", BaseURL: u}
			},
			wrong: func(s *Settings) { s.APIKey = "nope" }, noFinish: true, expired: StateWaiting},
	}
}

// TestEveryFamilyHasAConformanceMember: a family added to the table without a member here
// fails, so the conformance test always runs over every family.
func TestEveryFamilyHasAConformanceMember(t *testing.T) {
	var have []string
	for _, m := range members() {
		have = append(have, m.family)
	}
	for _, f := range Families {
		if _, ok := families[f]; !ok {
			t.Errorf("family %s is listed but has no entry in the families table", f)
		}
		if !slices.Contains(have, f) {
			t.Errorf("family %s has no conformance member", f)
		}
	}
	if len(families) != len(Families) {
		t.Errorf("families table has %d entries, Families lists %d", len(families), len(Families))
	}
}

// TestFamilyConformance runs the adapter contract over every family against its fake:
// balance; a quote in stock; buy, wait, code, finish; buy and cancel (refunded); buy and
// expire; sold out is no-numbers; wrong credentials are fatal; no error carries a secret.
func TestFamilyConformance(t *testing.T) {
	for _, m := range members() {
		t.Run(m.family, func(t *testing.T) {
			h, mk := m.fake()
			mk.SetOffer(m.svc, m.cc, 0.5, 5)
			mk.SetOffer(m.outSvc, m.outCC, 0.5, 0)
			mk.SetCodeAfter(-1)
			url := serve(t, h) + m.suffix
			newDeps := func() providers.Deps { return providers.Deps{KV: &providers.MemoryKV{}} }
			if m.deps != nil {
				newDeps = m.deps
			}
			a := adapterWith(t, m.settings(url), newDeps())
			ctx := ctxT(t)
			all := func(err error) {
				t.Helper()
				if err != nil {
					noSecret(t, err, m.secrets...)
				}
			}

			if bal, err := a.balance(ctx); err != nil || bal != 100 {
				t.Fatalf("balance = %v, %v; want 100", bal, err)
			}
			q, err := a.quote(ctx, m.svc, m.cc)
			if err != nil || !q.InStock() {
				t.Fatalf("quote of %s/%s = %+v, %v; want in stock", m.svc, m.cc, q, err)
			}

			// Bought, waiting, the code, finished.
			n, err := a.buy(ctx, m.svc, m.cc, 0)
			if err != nil || n.ID == "" || n.Phone == "" {
				t.Fatalf("buy = %+v, %v", n, err)
			}
			orders := mk.Orders()
			if len(orders) != 1 {
				t.Fatalf("fake has %d orders, want 1", len(orders))
			}
			if s, err := a.check(ctx, n); err != nil || s.State != StateWaiting {
				t.Fatalf("check before the SMS = %+v, %v; want waiting", s, err)
			}
			mk.Deliver(orders[0].ID, "Your code is 4321")
			if s := waitCode(t, a, n); s.State != StateCode || s.Code != "4321" {
				t.Fatalf("check after the SMS = %+v; want code 4321", s)
			}
			if err := a.finish(ctx, n); err != nil {
				t.Fatalf("finish: %v", err)
			}
			if o, _ := mk.Order(orders[0].ID); !m.noFinish && o.State != fake.Finished {
				t.Fatalf("order %s after finish, want finished", o.State)
			}

			// Bought and cancelled: the money comes back.
			before := mk.Balance()
			n2, err := a.buy(ctx, m.svc, m.cc, 0)
			if err != nil {
				t.Fatalf("second buy: %v", err)
			}
			if err := a.cancel(ctx, n2); err != nil {
				t.Fatalf("cancel: %v", err)
			}
			if mk.Refunds() != 1 || mk.Balance() != before {
				t.Fatalf("after cancel: %d refunds, balance %v; want 1 and %v", mk.Refunds(), mk.Balance(), before)
			}
			if m.family != FamilyGetSMSCode && m.family != FamilySMSAPI { // they forget a released number
				want := cmp.Or(m.cancelled, StateCancelled)
				if s, err := a.check(ctx, n2); err != nil || s.State != want {
					t.Fatalf("check after cancel = %+v, %v; want %s", s, err, want)
				}
			}

			// Bought and expired upstream: the order ends without a code.
			n3, err := a.buy(ctx, m.svc, m.cc, 0)
			if err != nil {
				t.Fatalf("third buy: %v", err)
			}
			orders = mk.Orders()
			mk.Expire(orders[len(orders)-1].ID)
			want := cmp.Or(m.expired, StateExpired)
			if s, err := a.check(ctx, n3); err != nil || s.State != want {
				t.Fatalf("check after expiry = %+v, %v; want %s", s, err, want)
			}

			// Sold out is no-numbers: the router tries the next platform.
			_, err = a.buy(ctx, m.outSvc, m.outCC, 0)
			wantClass(t, err, ClassNoNumbers, "")
			all(err)

			// Wrong credentials are fatal and never echoed.
			s := m.settings(url)
			m.wrong(&s)
			bad := adapterWith(t, s, newDeps()) // no session of the good account
			_, err = bad.balance(ctx)
			wantClass(t, err, ClassFatal, "")
			all(err)

			// Upstreams that echo the request (even the key in it), or are gone: no secret in
			// the error, and echoed garbage is never read as a verdict about the account.
			for _, base := range []string{echoServer(t, 200), echoServer(t, 400), echoServer(t, 401), echoServer(t, 500)} {
				a := adapterWith(t, m.settings(base+m.suffix), newDeps())
				_, err := a.balance(ctx)
				noSecret(t, err, m.secrets...)
				if c := ClassOf(err); c == ClassFunds {
					t.Errorf("echoed garbage read as %s: %v", c, err)
				}
				_, err = a.buy(ctx, m.svc, m.cc, 0)
				noSecret(t, err, m.secrets...)
			}
			gone := adapterWith(t, m.settings(deadURL(t)+m.suffix), newDeps())
			_, err = gone.balance(ctx)
			wantClass(t, err, ClassTryNext, "")
			noSecret(t, err, m.secrets...)
		})
	}
}

// TestPlatformSettings: the settings every family shares and the family-only ones, each
// problem at its key.
func TestPlatformSettings(t *testing.T) {
	neg := -1.0
	tests := []struct {
		s    Settings
		key  string
		want string
	}{
		{Settings{}, "platform", "set `platform` (one of activate, fivesim"},
		{Settings{Platform: "fivesm", APIKey: "k"}, "platform", `unknown ` + "`platform`" + ` "fivesm" (did you mean "fivesim"?)`},
		{Settings{Platform: "carrier-pigeon"}, "platform", "(one of activate"},
		{Settings{Platform: FamilySMSMan}, "api_key", "the SMS-Man token"},
		{Settings{Platform: FamilySMSAPI}, "username", "set `username` and `password`"},
		{Settings{Platform: FamilySMSAPI, Username: "u", Password: "p"}, "base_url", "set `base_url`"},
		{Settings{Platform: FamilyGetSMSCode, APIKey: "k"}, "username", "GetSMSCode login"},
		{Settings{Platform: FamilyFiveSim, APIKey: "k", Preset: "grizzly"}, "preset", "only for platform activate"},
		{Settings{Platform: FamilyActivate, APIKey: "k", Operator: "x"}, "operator", "only for platform fivesim"},
		{Settings{Platform: FamilyActivate, APIKey: "k", Preset: "nosuch"}, "preset", "unknown `preset`"},
		{Settings{Platform: FamilyActivate, APIKey: "k", CancelStatus: "eight"}, "cancel_status", "setStatus number"},
		{Settings{Platform: FamilyOnlineSim, APIKey: "k", BaseURL: "ftp://x"}, "base_url", "http(s) URL"},
		{Settings{Platform: FamilySMSPVA, APIKey: "k", LowBalance: &neg}, "low_balance", "must not be negative"},
		{Settings{Platform: FamilySMSPVA, APIKey: "k", Prices: map[string]float64{"tg": 1}}, "prices", `"service/country"`},
		{Settings{Platform: FamilySMSPVA, APIKey: "k", Services: map[string]string{"tg": ""}}, "services", "both must be set"},
	}
	for _, tc := range tests {
		_, err := New(testAccount(tc.s), testDeps())
		var se *providers.SettingError
		found := false
		for _, e := range unjoin(err) {
			if errors.As(e, &se) && se.Key == tc.key && strings.Contains(se.Err.Error(), tc.want) {
				found = true
			}
		}
		if !found {
			t.Errorf("%+v: error %v; want one at %s containing %q", tc.s, err, tc.key, tc.want)
		}
	}
	// Every family's defaults build without problems given its credentials.
	for _, m := range members() {
		s := m.settings("")
		if m.family == FamilySMSAPI {
			s.BaseURL = "https://sms.example.com/api"
		}
		if _, err := New(testAccount(s), testDeps()); err != nil {
			t.Errorf("%s with defaults: %v", m.family, err)
		}
	}
}

func unjoin(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}
