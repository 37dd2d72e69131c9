package sms

import (
	"cmp"
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/accountbridge/accountbridge/internal/providers/sms/fake"
)

const fivesimToken = "eyJ5sim.secret-token-0002"

// fivesimFake is a 5SIM fake selling telegram in usa (virtual21) and its adapter; wrap
// may put an interceptor in front of the fake.
func fivesimFake(t *testing.T, tweak func(*fake.FiveSim), s Settings, wrap func(http.Handler) http.Handler) (*fake.FiveSim, adapter) {
	t.Helper()
	f := fake.NewFiveSim(fivesimToken)
	f.SetOffer("telegram", "usa", 0.8, 4)
	f.SetOffer("whatsapp", "england", 1.2, 0)
	s.Platform, s.APIKey, s.BaseURL = FamilyFiveSim, cmp.Or(s.APIKey, fivesimToken), serveFake(t, f, tweak, wrap)
	return f, adapterFor(t, s)
}

func TestFiveSimAdapter_Lifecycle(t *testing.T) {
	for _, op := range []string{"", "virtual21"} {
		t.Run("operator "+op, func(t *testing.T) {
			f, a := fivesimFake(t, func(f *fake.FiveSim) { f.SetCodeAfter(-1) }, Settings{Operator: op}, nil)
			ctx := ctxT(t)
			if bal, err := a.balance(ctx); err != nil || bal != 100 {
				t.Fatalf("balance = %v, %v", bal, err)
			}
			if q, err := a.quote(ctx, "telegram", "usa"); err != nil || q != (Quote{Price: 0.8, Count: 4, CountKnown: true}) {
				t.Fatalf("quote = %+v, %v", q, err)
			}
			c, err := a.(countryLister).countries(ctx)
			if err != nil || !c["usa"] || !c["england"] {
				t.Fatalf("countries = %v, %v", c, err)
			}
			n, err := a.buy(ctx, "telegram", "usa", 1)
			if err != nil {
				t.Fatalf("buy: %v", err)
			}
			o, _ := f.Order(n.ID)
			if n.Phone != digits(o.Phone) || n.Phone[0] == '+' || n.Price != 0.8 {
				t.Fatalf("bought %+v, fake has %+v", n, o)
			}
			if s, err := a.check(ctx, n); err != nil || s.State != StateWaiting {
				t.Fatalf("check = %+v, %v", s, err)
			}
			f.Deliver(n.ID, "Telegram code: 12345")
			if s := waitCode(t, a, n); s.Code != "12345" || s.Text != "Telegram code: 12345" {
				t.Fatalf("code = %+v", s)
			}
			if err := a.finish(ctx, n); err != nil {
				t.Fatalf("finish: %v", err)
			}
			if o, _ := f.Order(n.ID); o.State != fake.Finished {
				t.Fatalf("state %s", o.State)
			}
		})
	}
}

func TestFiveSimAdapter_CodeAfterDelay(t *testing.T) {
	_, a := fivesimFake(t, func(f *fake.FiveSim) { f.SetCodeAfter(time.Millisecond) }, Settings{}, nil)
	n, err := a.buy(ctxT(t), "telegram", "usa", 0)
	if err != nil {
		t.Fatal(err)
	}
	if s := waitCode(t, a, n); s.State != StateCode || s.Code == "" {
		t.Fatalf("got %+v", s)
	}
}

func TestFiveSimAdapter_Errors(t *testing.T) {
	type call func(ctx context.Context, a adapter) error
	balance := func(ctx context.Context, a adapter) error { _, err := a.balance(ctx); return err }
	quote := func(svc, cc string) call {
		return func(ctx context.Context, a adapter) error { _, err := a.quote(ctx, svc, cc); return err }
	}
	buy := func(svc, cc string) call {
		return func(ctx context.Context, a adapter) error { _, err := a.buy(ctx, svc, cc, 0); return err }
	}
	bought := func(op func(ctx context.Context, a adapter, n Number) error) call {
		return func(ctx context.Context, a adapter) error {
			n, err := a.buy(ctx, "telegram", "usa", 0)
			if err != nil {
				return err
			}
			return op(ctx, a, n)
		}
	}
	finish := bought(func(ctx context.Context, a adapter, n Number) error { return a.finish(ctx, n) })
	check := bought(func(ctx context.Context, a adapter, n Number) error { _, err := a.check(ctx, n); return err })
	unknown := func(ctx context.Context, a adapter) error { _, err := a.check(ctx, Number{ID: "99"}); return err }
	inject := func(op, tok string) func(*fake.FiveSim) { return func(f *fake.FiveSim) { f.Fail(op, tok) } }
	answer := func(sub string, status int, body string) func(http.Handler) http.Handler {
		return func(h http.Handler) http.Handler { return intercept(h, pathHas(sub), status, body) }
	}

	tests := []struct {
		name  string
		tweak func(*fake.FiveSim)
		wrap  func(http.Handler) http.Handler
		s     Settings
		call  call
		class Class
		code  string
	}{
		{name: "bad token", s: Settings{APIKey: "wrong"}, call: balance, class: ClassFatal, code: "HTTP 401"},
		{name: "not enough balance", tweak: func(f *fake.FiveSim) { f.SetBalance(0.1) }, call: buy("telegram", "usa"), class: ClassFunds},
		{name: "no free phones on HTTP 200", call: buy("whatsapp", "england"), class: ClassNoNumbers, code: "no free phones"},
		{name: "no free phones on HTTP 400", tweak: inject(fake.OpBuy, "no free phones"), call: buy("telegram", "usa"), class: ClassNoNumbers},
		{name: "no product", call: buy("nosuch", "usa"), class: ClassTryNext, code: "no product"},
		{name: "bad operator", s: Settings{Operator: "mts"}, call: buy("telegram", "usa"), class: ClassTryNext, code: "bad operator"},
		{name: "bad country", tweak: inject(fake.OpBuy, "bad country"), call: buy("telegram", "usa"), class: ClassTryNext},
		{name: "server offline", tweak: inject(fake.OpBuy, "server offline"), call: buy("telegram", "usa"), class: ClassTryNext},
		{name: "not enough rating", tweak: inject(fake.OpBuy, "not enough rating"), call: buy("telegram", "usa"), class: ClassRateLimited},
		{name: "order not found", call: unknown, class: ClassOrder, code: "order not found"},
		{name: "finish without sms", tweak: func(f *fake.FiveSim) { f.SetCodeAfter(-1) }, call: finish, class: ClassOrder},
		{name: "HTTP 429", tweak: inject(fake.OpBalance, "HTTP 429"), call: balance, class: ClassRateLimited, code: "HTTP 429"},
		{name: "HTTP 503", tweak: inject(fake.OpCheck, "HTTP 503"), call: check, class: ClassRateLimited, code: "HTTP 503"},
		{name: "HTTP 500", tweak: inject(fake.OpBalance, "HTTP 500"), call: balance, class: ClassTryNext, code: "HTTP 500"},
		{name: "garbage JSON", wrap: answer("/profile", 200, `{"balance":`), call: balance, class: ClassTryNext},
		{name: "balance not a number", wrap: answer("/profile", 200, `{"balance":"lots"}`), call: balance, class: ClassTryNext},
		{name: "profile without balance", wrap: answer("/profile", 200, `{"id":1}`), call: balance, class: ClassTryNext},
		{name: "empty 200", wrap: answer("/profile", 200, ``), call: balance, class: ClassTryNext},
		{name: "html 200", wrap: answer("/buy/", 200, `<html>cloudflare</html>`), call: buy("telegram", "usa"), class: ClassTryNext},
		{name: "order without phone", wrap: answer("/buy/", 200, `{"id":5,"phone":""}`), call: buy("telegram", "usa"), class: ClassTryNext},
		{name: "no price for the pair", call: quote("telegram", "england"), class: ClassNoNumbers},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, a := fivesimFake(t, tc.tweak, tc.s, tc.wrap)
			err := tc.call(ctxT(t), a)
			wantClass(t, err, tc.class, tc.code)
			noSecret(t, err, fivesimToken)
		})
	}
}

// TestFiveSimAdapter_CheapestOperator: with operator any the quote is the cheapest
// operator that has stock, and the stock of all operators.
func TestFiveSimAdapter_CheapestOperator(t *testing.T) {
	body := `{"usa":{"telegram":{"a":{"cost":0.5,"count":0},"b":{"cost":0.9,"count":3},"c":{"cost":"1.5","count":"2","rate":90}}}}`
	_, a := fivesimFake(t, nil, Settings{}, func(h http.Handler) http.Handler { return intercept(h, pathHas("/prices"), 200, body) })
	q, err := a.quote(ctxT(t), "telegram", "usa")
	if err != nil || q != (Quote{Price: 0.9, Count: 5, CountKnown: true}) {
		t.Fatalf("quote = %+v, %v", q, err)
	}
}
