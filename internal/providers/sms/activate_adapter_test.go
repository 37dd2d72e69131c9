package sms

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/accountbridge/accountbridge/internal/providers/sms/fake"
)

const activateKey = "act-secret-key-0001"

// activateFake is an SMS-Activate fake with tg in country 187 (USA) and its adapter.
func activateFake(t *testing.T, tweak func(*fake.Activate), s Settings) (*fake.Activate, adapter) {
	t.Helper()
	f := fake.NewActivate(activateKey)
	f.SetOffer("tg", "187", 18, 5)
	f.SetOffer("wa", "6", 9.5, 0)
	if tweak != nil {
		tweak(f)
	}
	s.Platform = FamilyActivate
	if s.APIKey == "" {
		s.APIKey = activateKey
	}
	s.BaseURL = serve(t, f)
	return f, adapterFor(t, s)
}

func TestActivateAdapter_Lifecycle(t *testing.T) {
	tests := []struct {
		name       string
		stringNums bool
	}{
		{"numbers", false},
		{"numeric strings", true}, // cost "18", count "5" as some builds send
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f, a := activateFake(t, func(f *fake.Activate) { f.StringNums = tc.stringNums; f.SetCodeAfter(-1) }, Settings{})
			ctx := ctxT(t)

			bal, err := a.balance(ctx)
			if err != nil || bal != 100 {
				t.Fatalf("balance = %v, %v; want 100", bal, err)
			}
			q, err := a.quote(ctx, "tg", "187")
			if err != nil || q != (Quote{Price: 18, Count: 5, CountKnown: true}) {
				t.Fatalf("quote = %+v, %v", q, err)
			}
			countries, err := a.(countryLister).countries(ctx)
			if err != nil || !countries["187"] || !countries["6"] || countries["0"] {
				t.Fatalf("countries = %v, %v", countries, err)
			}

			n, err := a.buy(ctx, "tg", "187", 20)
			if err != nil {
				t.Fatalf("buy: %v", err)
			}
			o, ok := f.Order(n.ID)
			if !ok || n.Phone != o.Phone || n.Service != "tg" || n.Country != "187" {
				t.Fatalf("bought %+v, fake has %+v", n, o)
			}
			if f.Balance() != 82 {
				t.Fatalf("fake balance after buy = %v, want 82", f.Balance())
			}

			s, err := a.check(ctx, n)
			if err != nil || s.State != StateWaiting {
				t.Fatalf("check before the SMS = %+v, %v", s, err)
			}
			f.Deliver(n.ID, "Telegram code 51234, do not share")
			s = waitCode(t, a, n)
			if s.State != StateCode || s.Code != "51234" || s.Text != "Telegram code 51234, do not share" {
				t.Fatalf("check after the SMS = %+v", s)
			}
			if err := a.finish(ctx, n); err != nil {
				t.Fatalf("finish: %v", err)
			}
			if o, _ := f.Order(n.ID); o.State != fake.Finished {
				t.Fatalf("order state after finish = %s", o.State)
			}
		})
	}
}

func TestActivateAdapter_CodeAfterDelay(t *testing.T) {
	f, a := activateFake(t, func(f *fake.Activate) { f.SetCodeAfter(time.Millisecond) }, Settings{})
	n, err := a.buy(ctxT(t), "tg", "187", 0)
	if err != nil {
		t.Fatal(err)
	}
	s := waitCode(t, a, n)
	o, _ := f.Order(n.ID)
	if s.State != StateCode || s.Code != o.Code || s.Text != o.Text {
		t.Fatalf("got %+v, want the code of %+v", s, o)
	}
}

func TestActivateAdapter_CancelRefunds(t *testing.T) {
	tests := []struct {
		name  string
		tweak func(*fake.Activate)
	}{
		{"sms-activate", nil},
		{"tiger answers ACCESS_CANCEL to getStatus", func(f *fake.Activate) { f.Tiger = true }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f, a := activateFake(t, func(f *fake.Activate) {
				f.SetCodeAfter(-1)
				if tc.tweak != nil {
					tc.tweak(f)
				}
			}, Settings{})
			ctx := ctxT(t)
			n, err := a.buy(ctx, "tg", "187", 0)
			if err != nil {
				t.Fatal(err)
			}
			if err := a.cancel(ctx, n); err != nil {
				t.Fatalf("cancel: %v", err)
			}
			if f.Refunds() != 1 || f.Balance() != 100 {
				t.Fatalf("refunds %d, balance %v; want 1 refund and 100 back", f.Refunds(), f.Balance())
			}
			s, err := a.check(ctx, n)
			if err != nil || s.State != StateCancelled {
				t.Fatalf("check after cancel = %+v, %v", s, err)
			}
		})
	}
}

func TestActivateAdapter_Errors(t *testing.T) {
	type call func(ctx context.Context, a adapter, f *fake.Activate) error
	balance := func(ctx context.Context, a adapter, _ *fake.Activate) error { _, err := a.balance(ctx); return err }
	quote := func(ctx context.Context, a adapter, _ *fake.Activate) error {
		_, err := a.quote(ctx, "tg", "187")
		return err
	}
	buy := func(svc, cc string) call {
		return func(ctx context.Context, a adapter, _ *fake.Activate) error {
			_, err := a.buy(ctx, svc, cc, 0)
			return err
		}
	}
	bought := func(op func(ctx context.Context, a adapter, n Number) error) call {
		return func(ctx context.Context, a adapter, f *fake.Activate) error {
			n, err := a.buy(ctx, "tg", "187", 0)
			if err != nil {
				return err
			}
			return op(ctx, a, n)
		}
	}
	check := bought(func(ctx context.Context, a adapter, n Number) error { _, err := a.check(ctx, n); return err })
	finish := bought(func(ctx context.Context, a adapter, n Number) error { return a.finish(ctx, n) })
	cancel := bought(func(ctx context.Context, a adapter, n Number) error { return a.cancel(ctx, n) })
	unknown := func(ctx context.Context, a adapter, _ *fake.Activate) error {
		_, err := a.check(ctx, Number{ID: "424242"})
		return err
	}
	inject := func(op, tok string) func(*fake.Activate) { return func(f *fake.Activate) { f.Fail(op, tok) } }

	tests := []struct {
		name     string
		tweak    func(*fake.Activate)
		key      string
		call     call
		class    Class
		code     string
		contains string
	}{
		{name: "bad key", key: "wrong-key", call: balance, class: ClassFatal, code: "BAD_KEY"},
		{name: "no key", tweak: inject(fake.OpBalance, "NO_KEY"), call: balance, class: ClassFatal, code: "NO_KEY"},
		{name: "account inactive", tweak: inject(fake.OpBuy, "ACCOUNT_INACTIVE"), call: buy("tg", "187"), class: ClassFatal},
		{name: "banned with date", tweak: inject(fake.OpBalance, "BANNED:'2024-3-1 12-00-00'"), call: balance, class: ClassFatal,
			code: "BANNED", contains: "2024-3-1 12-00-00"},
		{name: "no balance", tweak: func(f *fake.Activate) { f.SetBalance(1) }, call: buy("tg", "187"), class: ClassFunds, code: "NO_BALANCE"},
		{name: "no means (old)", tweak: inject(fake.OpBuy, "NO_MEANS"), call: buy("tg", "187"), class: ClassFunds},
		{name: "no numbers", call: buy("wa", "6"), class: ClassNoNumbers, code: "NO_NUMBERS"},
		{name: "no number (old)", tweak: inject(fake.OpBuy, "NO_NUMBER"), call: buy("tg", "187"), class: ClassNoNumbers},
		{name: "bad service", call: buy("zz", "187"), class: ClassTryNext, code: "BAD_SERVICE"},
		{name: "wrong max price", tweak: inject(fake.OpBuy, "WRONG_MAX_PRICE:6.50"), call: buy("tg", "187"), class: ClassTryNext,
			code: "WRONG_MAX_PRICE", contains: "6.50"},
		{name: "sql error", tweak: inject(fake.OpBuy, "ERROR_SQL"), call: buy("tg", "187"), class: ClassTryNext, code: "ERROR_SQL"},
		{name: "bad action", tweak: inject(fake.OpBalance, "BAD_ACTION"), call: balance, class: ClassTryNext},
		{name: "unknown activation", call: unknown, class: ClassOrder, code: "NO_ACTIVATION"},
		{name: "finish before the code", tweak: func(f *fake.Activate) { f.SetCodeAfter(-1) }, call: finish, class: ClassOrder, code: "BAD_STATUS"},
		{name: "early cancel", tweak: func(f *fake.Activate) { f.SetEarlyCancel(time.Hour) }, call: cancel, class: ClassOrder,
			code: "EARLY_CANCEL_DENIED"},
		{name: "check refused", tweak: inject(fake.OpCheck, "WRONG_ACTIVATION_ID"), call: check, class: ClassOrder},
		{name: "HTTP 503", tweak: inject(fake.OpBalance, "HTTP 503"), call: balance, class: ClassTryNext, code: "HTTP 503"},
		{name: "HTTP 429", tweak: inject(fake.OpBuy, "HTTP 429"), call: buy("tg", "187"), class: ClassRateLimited, code: "HTTP 429"},
		{name: "HTTP 401", tweak: inject(fake.OpBalance, "HTTP 401"), call: balance, class: ClassFatal, code: "HTTP 401"},
		{name: "garbage balance", tweak: inject(fake.OpBalance, "<html>maintenance</html>"), call: balance, class: ClassTryNext},
		{name: "balance not a number", tweak: inject(fake.OpBalance, "ACCESS_BALANCE:lots"), call: balance, class: ClassTryNext},
		{name: "empty answer", tweak: inject(fake.OpBalance, ""), call: balance, class: ClassTryNext},
		{name: "garbage prices", tweak: inject(fake.OpPrices, "{not json"), call: quote, class: ClassTryNext},
		{name: "garbage number", tweak: inject(fake.OpBuy, "ACCESS_NUMBER:123:"), call: buy("tg", "187"), class: ClassTryNext},
		{name: "garbage status", tweak: inject(fake.OpCheck, "STATUS_WHATEVER"), call: check, class: ClassTryNext},
		{name: "garbage setStatus", tweak: inject(fake.OpCancel, "OK"), call: cancel, class: ClassTryNext},
		{name: "hero-sms JSON error", tweak: func(f *fake.Activate) { f.JSONErrors = true }, call: buy("wa", "6"), class: ClassNoNumbers, code: "NO_NUMBERS"},
		{name: "hero-sms JSON bad key", tweak: func(f *fake.Activate) { f.JSONErrors = true }, key: "wrong-key", call: balance, class: ClassFatal, code: "BAD_KEY"},
		{name: "no price for the pair", call: func(ctx context.Context, a adapter, _ *fake.Activate) error {
			_, err := a.quote(ctx, "tg", "6")
			return err
		}, class: ClassNoNumbers},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f, a := activateFake(t, tc.tweak, Settings{APIKey: tc.key})
			err := tc.call(ctxT(t), a, f)
			wantClass(t, err, tc.class, tc.code)
			if tc.contains != "" && !strings.Contains(err.Error(), tc.contains) {
				t.Fatalf("error %q does not say %q", err, tc.contains)
			}
			noSecret(t, err, activateKey, tc.key)
		})
	}
}

// TestActivateAdapter_EmptyPrices: PHP clones encode an empty price table as [] (an
// empty PHP array), which means "nothing for this pair", not garbage.
func TestActivateAdapter_EmptyPrices(t *testing.T) {
	for _, body := range []string{"[]", "{}", `{"187":[]}`, `{"187":{}}`, `{"0":[],"187":[]}`, `{"0":{"tg":{"cost":1,"count":1}},"187":[]}`} {
		t.Run(body, func(t *testing.T) {
			_, a := activateFake(t, func(f *fake.Activate) { f.Fail(fake.OpPrices, body) }, Settings{})
			_, err := a.quote(ctxT(t), "tg", "187")
			wantClass(t, err, ClassNoNumbers, "")
		})
	}
}

func TestActivateAdapter_OldPriceFields(t *testing.T) {
	tests := []struct {
		body string
		want Quote
	}{
		{`{"187":{"tg":{"cost":"12.50","quant":"7"}}}`, Quote{Price: 12.5, Count: 7, CountKnown: true}},
		{`{"187":{"tg":{"cost":12.5,"count":3,"physicalCount":9}}}`, Quote{Price: 12.5, Count: 3, CountKnown: true}},
		{`{"187":{"tg":{"cost":12.5}}}`, Quote{Price: 12.5}},
		{`{"0":[],"187":{"tg":{"cost":"9","count":"0"}}}`, Quote{Price: 9, CountKnown: true}},
	}
	for _, tc := range tests {
		t.Run(tc.body, func(t *testing.T) {
			_, a := activateFake(t, func(f *fake.Activate) { f.Fail(fake.OpPrices, tc.body) }, Settings{})
			q, err := a.quote(ctxT(t), "tg", "187")
			if err != nil || q != tc.want {
				t.Fatalf("quote = %+v, %v; want %+v", q, err, tc.want)
			}
		})
	}
}

// TestActivatePresets: every clone is wired with its path, cancel status and text-only
// quirk; the fake speaks the same quirks and refuses anything else.
func TestActivatePresets(t *testing.T) {
	for _, name := range PresetNames() {
		pr := Presets[name]
		t.Run(name, func(t *testing.T) {
			f := fake.NewActivate(activateKey)
			f.Path, f.CancelStatus, f.TextOnly = pr.Path, pr.CancelStatus, pr.TextOnly
			f.SetOffer("tg", "0", 10, 3)
			f.SetCodeAfter(-1)
			a := adapterFor(t, Settings{Platform: FamilyActivate, Preset: name, APIKey: activateKey, BaseURL: serve(t, f)})
			ctx := ctxT(t)
			if _, err := a.balance(ctx); err != nil {
				t.Fatalf("balance: %v", err)
			}
			c, err := a.(countryLister).countries(ctx)
			switch {
			case err != nil:
				t.Fatalf("countries: %v", err)
			case pr.TextOnly && (c != nil || f.Count(fake.OpCountries) != 0):
				t.Fatalf("text-only preset asked getCountries: %v", c)
			case !pr.TextOnly && !c["0"]:
				t.Fatalf("countries = %v", c)
			}
			n, err := a.buy(ctx, "tg", "0", 0)
			if err != nil {
				t.Fatalf("buy: %v", err)
			}
			if err := a.cancel(ctx, n); err != nil {
				t.Fatalf("cancel with status %s: %v", pr.CancelStatus, err)
			}
			if f.Refunds() != 1 || f.Count(fake.OpCancel) != 1 {
				t.Fatalf("refunds %d, cancels %d", f.Refunds(), f.Count(fake.OpCancel))
			}
		})
	}
}

func TestActivatePresets_Defaults(t *testing.T) {
	for _, name := range PresetNames() {
		pr := Presets[name]
		t.Run(name, func(t *testing.T) {
			if pr.Path == "" || pr.CancelStatus == "" || pr.Currency == "" {
				t.Fatalf("incomplete preset %+v", pr)
			}
			p, err := New(testAccount(Settings{Platform: FamilyActivate, Preset: name, APIKey: activateKey}), testDeps())
			if pr.BaseURL == "" {
				if err == nil || !strings.Contains(err.Error(), "base_url") {
					t.Fatalf("preset without a host must ask for base_url, got %v", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			if !strings.HasPrefix(pr.BaseURL, "http") || strings.HasSuffix(pr.BaseURL, "/") {
				t.Fatalf("base URL %q", pr.BaseURL)
			}
			pl := p.(*Platform)
			a := pl.a.(*activate)
			if pl.Currency() != pr.Currency || a.h.base != pr.BaseURL || a.path != pr.Path || a.cancelStatus != pr.CancelStatus || a.textOnly != pr.TextOnly {
				t.Fatalf("wired %s %s%s cancel %s textOnly %v, want %+v", pl.Currency(), a.h.base, a.path, a.cancelStatus, a.textOnly, pr)
			}
		})
	}
	// The clone quirks of docs/sms.md, "Protocol: activate family".
	if p := Presets["getsms-online"]; p.CancelStatus != "10" {
		t.Errorf("getsms-online cancels with %s, want 10", p.CancelStatus)
	}
	if p := Presets["cheapsms"]; p.Path != "/handler/index" {
		t.Errorf("cheapsms path %s", p.Path)
	}
	if p := Presets["sms-verification-number"]; p.Path != "/stubs/handler_api" {
		t.Errorf("sms-verification-number path %s", p.Path)
	}
	if !Presets["tiger-sms"].TextOnly {
		t.Error("tiger-sms is text-only")
	}
}

// TestActivateAdapter_CancelStatusOverride: cancel_status replaces the preset's value.
func TestActivateAdapter_CancelStatusOverride(t *testing.T) {
	f, a := activateFake(t, func(f *fake.Activate) { f.CancelStatus = "-1"; f.SetCodeAfter(-1) }, Settings{CancelStatus: "-1"})
	ctx := ctxT(t)
	n, err := a.buy(ctx, "tg", "187", 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.cancel(ctx, n); err != nil || f.Refunds() != 1 {
		t.Fatalf("cancel: %v, refunds %d", err, f.Refunds())
	}
}

// TestActivateAdapter_WrongPath: a wrong path is the web server's 404, not a protocol
// token: the platform is skipped for this attempt, not quarantined.
func TestActivateAdapter_WrongPath(t *testing.T) {
	_, a := activateFake(t, func(f *fake.Activate) { f.Path = "/handler/index" }, Settings{})
	_, err := a.balance(ctxT(t))
	wantClass(t, err, ClassTryNext, "HTTP 404")
}
