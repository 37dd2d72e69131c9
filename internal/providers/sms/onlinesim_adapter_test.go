package sms

import (
	"cmp"
	"context"
	"net/http"
	"testing"

	"github.com/accountbridge/accountbridge/internal/providers/sms/fake"
)

const onlinesimKey = "onlinesim-secret-key-0005"

// onlinesimFake sells telegram in Russia (dial code 7); whatsapp there is out of stock.
func onlinesimFake(t *testing.T, tweak func(*fake.OnlineSim), key string, wrap func(http.Handler) http.Handler) (*fake.OnlineSim, adapter) {
	t.Helper()
	f := fake.NewOnlineSim(onlinesimKey)
	f.SetOffer("telegram", "7", 25, 312)
	f.SetOffer("whatsapp", "7", 30, 0)
	return f, adapterFor(t, Settings{Platform: FamilyOnlineSim, APIKey: cmp.Or(key, onlinesimKey), BaseURL: serveFake(t, f, tweak, wrap)})
}

func TestOnlineSimAdapter_Lifecycle(t *testing.T) {
	f, a := onlinesimFake(t, func(f *fake.OnlineSim) { f.SetCodeAfter(-1) }, "", nil)
	ctx := ctxT(t)
	if bal, err := a.balance(ctx); err != nil || bal != 100 {
		t.Fatalf("balance = %v, %v", bal, err)
	}
	if q, err := a.quote(ctx, "telegram", "7"); err != nil || q != (Quote{Price: 25, Count: 312, CountKnown: true}) {
		t.Fatalf("quote = %+v, %v", q, err)
	}
	n, err := a.buy(ctx, "telegram", "7", 0)
	if err != nil {
		t.Fatalf("buy: %v", err)
	}
	o, _ := f.Order(n.ID)
	if n.Phone != digits(o.Phone) || n.Phone[0] != '7' {
		t.Fatalf("bought %+v, fake has %+v", n, o)
	}
	if s, err := a.check(ctx, n); err != nil || s.State != StateWaiting {
		t.Fatalf("check = %+v, %v", s, err)
	}
	f.Deliver(n.ID, "Telegram code 70707")
	if s := waitCode(t, a, n); s.Code != "70707" {
		t.Fatalf("code = %+v", s)
	}
	if err := a.finish(ctx, n); err != nil {
		t.Fatalf("finish: %v", err)
	}
	if o, _ := f.Order(n.ID); o.State != fake.Finished || f.Refunds() != 0 {
		t.Fatalf("state %s, refunds %d", o.State, f.Refunds())
	}
	// TZ_OVER_OK still carries the code.
	if s, err := a.check(ctx, n); err != nil || s.State != StateCode || s.Code != "70707" {
		t.Fatalf("check after finish = %+v, %v", s, err)
	}
}

func TestOnlineSimAdapter_Errors(t *testing.T) {
	type call func(ctx context.Context, a adapter) error
	balance := func(ctx context.Context, a adapter) error { _, err := a.balance(ctx); return err }
	quote := func(svc, cc string) call {
		return func(ctx context.Context, a adapter) error { _, err := a.quote(ctx, svc, cc); return err }
	}
	buy := func(svc string) call {
		return func(ctx context.Context, a adapter) error { _, err := a.buy(ctx, svc, "7", 0); return err }
	}
	check := func(ctx context.Context, a adapter) error { _, err := a.check(ctx, Number{ID: "77"}); return err }
	cancel := func(ctx context.Context, a adapter) error { return a.cancel(ctx, Number{ID: "77"}) }
	inject := func(op, tok string) func(*fake.OnlineSim) { return func(f *fake.OnlineSim) { f.Fail(op, tok) } }
	answer := func(sub string, status int, body string) func(http.Handler) http.Handler {
		return func(h http.Handler) http.Handler { return intercept(h, pathHas(sub), status, body) }
	}
	tests := []struct {
		name  string
		tweak func(*fake.OnlineSim)
		wrap  func(http.Handler) http.Handler
		key   string
		call  call
		class Class
		code  string
	}{
		{name: "wrong key", key: "nope-nope", call: balance, class: ClassFatal, code: "ERROR_WRONG_KEY"},
		{name: "account blocked", tweak: inject(fake.OpBuy, "ACCOUNT_BLOCKED"), call: buy("telegram"), class: ClassFatal},
		{name: "api access from this ip", tweak: inject(fake.OpBalance, "API_ACCESS_IP"), call: balance, class: ClassFatal},
		{name: "low balance", tweak: func(f *fake.OnlineSim) { f.SetBalance(1) }, call: buy("telegram"), class: ClassFunds, code: "WARNING_LOW_BALANCE"},
		{name: "no number", call: buy("whatsapp"), class: ClassNoNumbers, code: "NO_NUMBER"},
		{name: "no nums warning", tweak: inject(fake.OpBuy, "WARNING_NO_NUMS"), call: buy("telegram"), class: ClassNoNumbers},
		{name: "no service", call: buy("nosuch"), class: ClassTryNext, code: "ERROR_NO_SERVICE"},
		{name: "undefined country", call: quote("telegram", "999"), class: ClassTryNext, code: "UNDEFINED_COUNTRY"},
		{name: "service not in the stats", call: quote("nosuch", "7"), class: ClassNoNumbers},
		{name: "try again later", tweak: inject(fake.OpBuy, "TRY_AGAIN_LATER"), call: buy("telegram"), class: ClassRateLimited},
		{name: "concurrent operations", tweak: inject(fake.OpBuy, "EXCEEDED_CONCURRENT_OPERATIONS"), call: buy("telegram"), class: ClassRateLimited},
		{name: "unknown operation", call: check, class: ClassOrder, code: "ERROR_NO_OPERATIONS"},
		{name: "cancel unknown tzid", call: cancel, class: ClassOrder, code: "ERROR_WRONG_TZID"},
		{name: "HTTP 500", tweak: inject(fake.OpBalance, "HTTP 500"), call: balance, class: ClassTryNext, code: "HTTP 500"},
		{name: "HTTP 429", tweak: inject(fake.OpBalance, "HTTP 429"), call: balance, class: ClassRateLimited},
		{name: "garbage JSON", wrap: answer("getBalance", 200, `{"response":`), call: balance, class: ClassTryNext},
		{name: "html", wrap: answer("getBalance", 200, `<html></html>`), call: balance, class: ClassTryNext},
		{name: "state not an array", wrap: answer("getState", 200, `{"response":"1"}`), call: check, class: ClassTryNext},
		{name: "unknown state", wrap: answer("getState", 200, `[{"tzid":77,"response":"TZ_SOMETHING"}]`), call: check, class: ClassTryNext},
		{name: "number without tzid", wrap: answer("getNum", 200, `{"response":1,"number":"+79001234567"}`), call: buy("telegram"), class: ClassTryNext},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, a := onlinesimFake(t, tc.tweak, tc.key, tc.wrap)
			err := tc.call(ctxT(t), a)
			wantClass(t, err, tc.class, tc.code)
			noSecret(t, err, onlinesimKey)
		})
	}
}
