package sms

import (
	"cmp"
	"context"
	"net/http"
	"testing"

	"github.com/accountbridge/accountbridge/internal/providers/sms/fake"
)

const smsmanToken = "smsman-secret-token-0004"

// smsmanFake sells tg (application 3) in Indonesia (country 4); wa (6) in Russia (0) is
// out of stock.
func smsmanFake(t *testing.T, tweak func(*fake.SMSMan), key string, wrap func(http.Handler) http.Handler) (*fake.SMSMan, adapter) {
	t.Helper()
	f := fake.NewSMSMan(smsmanToken)
	f.SetOffer("3", "4", 0.15, 5)
	f.SetOffer("6", "0", 0.3, 0)
	return f, adapterFor(t, Settings{Platform: FamilySMSMan, APIKey: cmp.Or(key, smsmanToken), BaseURL: serveFake(t, f, tweak, wrap)})
}

func TestSMSManAdapter_Lifecycle(t *testing.T) {
	f, a := smsmanFake(t, func(f *fake.SMSMan) { f.SetCodeAfter(-1) }, "", nil)
	ctx := ctxT(t)
	if bal, err := a.balance(ctx); err != nil || bal != 100 {
		t.Fatalf("balance = %v, %v", bal, err)
	}
	// Codes resolve to ids through the catalog, loaded once.
	if q, err := a.quote(ctx, "tg", "id"); err != nil || q != (Quote{Price: 0.15, Count: 5, CountKnown: true}) {
		t.Fatalf("quote = %+v, %v", q, err)
	}
	n, err := a.buy(ctx, "tg", "id", 0)
	if err != nil {
		t.Fatalf("buy: %v", err)
	}
	if f.Count(fake.OpCountries) != 2 {
		t.Fatalf("catalog calls = %d, want 2 (applications, countries)", f.Count(fake.OpCountries))
	}
	o, _ := f.Order(n.ID)
	if o.Service != "3" || o.Country != "4" || n.Phone != o.Phone {
		t.Fatalf("bought %+v, fake has %+v", n, o)
	}
	if s, err := a.check(ctx, n); err != nil || s.State != StateWaiting {
		t.Fatalf("check (wait_sms) = %+v, %v", s, err)
	}
	f.Deliver(n.ID, "code 4321")
	if s := waitCode(t, a, n); s.Code != "4321" {
		t.Fatalf("code = %+v", s)
	}
	if err := a.finish(ctx, n); err != nil {
		t.Fatalf("finish: %v", err)
	}
	if o, _ := f.Order(n.ID); o.State != fake.Finished {
		t.Fatalf("state %s", o.State)
	}
	// Numeric ids pass as they are.
	if _, err := a.quote(ctx, "3", "4"); err != nil {
		t.Fatalf("quote by ids: %v", err)
	}
}

func TestSMSManAdapter_Errors(t *testing.T) {
	type call func(ctx context.Context, a adapter) error
	balance := func(ctx context.Context, a adapter) error { _, err := a.balance(ctx); return err }
	quote := func(svc, cc string) call {
		return func(ctx context.Context, a adapter) error { _, err := a.quote(ctx, svc, cc); return err }
	}
	buy := func(svc, cc string) call {
		return func(ctx context.Context, a adapter) error { _, err := a.buy(ctx, svc, cc, 0); return err }
	}
	finish := func(ctx context.Context, a adapter) error {
		n, err := a.buy(ctx, "tg", "id", 0)
		if err != nil {
			return err
		}
		return a.finish(ctx, n)
	}
	inject := func(op, tok string) func(*fake.SMSMan) { return func(f *fake.SMSMan) { f.Fail(op, tok) } }
	answer := func(sub string, status int, body string) func(http.Handler) http.Handler {
		return func(h http.Handler) http.Handler { return intercept(h, pathHas(sub), status, body) }
	}
	tests := []struct {
		name  string
		tweak func(*fake.SMSMan)
		wrap  func(http.Handler) http.Handler
		key   string
		call  call
		class Class
		code  string
	}{
		{name: "wrong token", key: "nope", call: balance, class: ClassFatal, code: "wrong_token"},
		{name: "wrong token on HTTP 400", key: "nope", tweak: func(f *fake.SMSMan) { f.ErrStatus = 400 }, call: balance, class: ClassFatal, code: "wrong_token"},
		{name: "no balance", tweak: func(f *fake.SMSMan) { f.SetBalance(0.01) }, call: buy("tg", "id"), class: ClassFunds, code: "balance"},
		{name: "no numbers", call: buy("wa", "ru"), class: ClassNoNumbers, code: "no_numbers"},
		{name: "wrong application id", call: buy("99", "4"), class: ClassTryNext, code: "wrong_application_id"},
		{name: "service not in the catalog", call: quote("zz", "id"), class: ClassNoNumbers},
		{name: "country not in the catalog", call: buy("tg", "xx"), class: ClassNoNumbers},
		{name: "no price for the pair", call: quote("tg", "us"), class: ClassNoNumbers},
		{name: "close before the code", tweak: func(f *fake.SMSMan) { f.SetCodeAfter(-1) }, call: finish, class: ClassOrder, code: "wrong_status"},
		{name: "HTTP 502", tweak: inject(fake.OpBalance, "HTTP 502"), call: balance, class: ClassTryNext, code: "HTTP 502"},
		{name: "HTTP 429", tweak: inject(fake.OpBuy, "HTTP 429"), call: buy("3", "4"), class: ClassRateLimited},
		{name: "catalog down", tweak: inject(fake.OpCountries, "HTTP 500"), call: quote("tg", "id"), class: ClassTryNext},
		{name: "garbage balance", wrap: answer("get-balance", 200, "<html>oops</html>"), call: balance, class: ClassTryNext},
		{name: "garbage prices", wrap: answer("get-prices", 200, `{"4":`), call: quote("3", "4"), class: ClassTryNext},
		{name: "number without request_id", wrap: answer("get-number", 200, `{"number":"1"}`), call: buy("3", "4"), class: ClassTryNext},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, a := smsmanFake(t, tc.tweak, tc.key, tc.wrap)
			err := tc.call(ctxT(t), a)
			wantClass(t, err, tc.class, tc.code)
			noSecret(t, err, smsmanToken)
		})
	}
}
