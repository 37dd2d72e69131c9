package sms

import (
	"cmp"
	"context"
	"net/http"
	"testing"

	"github.com/accountbridge/accountbridge/internal/providers/sms/fake"
)

const smspvaKey = "smspva-secret-key-0006"

// smspvaFake sells opt29 in RU; opt41 in UK is out of stock.
func smspvaFake(t *testing.T, tweak func(*fake.SMSPVA), key string, wrap func(http.Handler) http.Handler) (*fake.SMSPVA, adapter) {
	t.Helper()
	f := fake.NewSMSPVA(smspvaKey)
	f.SetOffer("opt29", "RU", 0.5, 135)
	f.SetOffer("opt41", "UK", 0.9, 0)
	return f, adapterFor(t, Settings{Platform: FamilySMSPVA, APIKey: cmp.Or(key, smspvaKey), BaseURL: serveFake(t, f, tweak, wrap)})
}

func TestSMSPVAAdapter_Lifecycle(t *testing.T) {
	f, a := smspvaFake(t, func(f *fake.SMSPVA) { f.SetCodeAfter(-1) }, "", nil)
	ctx := ctxT(t)
	if bal, err := a.balance(ctx); err != nil || bal != 100 {
		t.Fatalf("balance = %v, %v", bal, err)
	}
	// get_count_new gives the stock only: the price is the account's `prices` (-1 here).
	if q, err := a.quote(ctx, "opt29", "RU"); err != nil || q != (Quote{Price: -1, Count: 135, CountKnown: true}) {
		t.Fatalf("quote = %+v, %v", q, err)
	}
	n, err := a.buy(ctx, "opt29", "RU", 0)
	if err != nil {
		t.Fatalf("buy: %v", err)
	}
	o, _ := f.Order(n.ID)
	if n.Phone != "7"+o.Phone { // CountryCode + number without prefix
		t.Fatalf("phone %s, fake number %s", n.Phone, o.Phone)
	}
	if s, err := a.check(ctx, n); err != nil || s.State != StateWaiting {
		t.Fatalf("check = %+v, %v", s, err)
	}
	f.Deliver(n.ID, "your code 123456")
	if s := waitCode(t, a, n); s.Code != "123456" {
		t.Fatalf("code = %+v", s)
	}
	if err := a.finish(ctx, n); err != nil || f.Count(fake.OpFinish) != 0 {
		t.Fatalf("finish: %v (SMSPVA has nothing to confirm)", err)
	}
}

func TestSMSPVAAdapter_PriceField(t *testing.T) {
	_, a := smspvaFake(t, func(f *fake.SMSPVA) { f.CountPrice = true }, "", nil)
	if q, err := a.quote(ctxT(t), "opt29", "RU"); err != nil || q != (Quote{Price: 0.5, Count: 135, CountKnown: true}) {
		t.Fatalf("quote = %+v, %v", q, err)
	}
}

func TestSMSPVAAdapter_CancelRefunds(t *testing.T) {
	f, a := smspvaFake(t, func(f *fake.SMSPVA) { f.SetCodeAfter(-1) }, "", nil)
	ctx := ctxT(t)
	n, err := a.buy(ctx, "opt29", "RU", 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.cancel(ctx, n); err != nil {
		t.Fatalf("cancel: %v", err)
	}
	if f.Refunds() != 1 || f.Balance() != 100 {
		t.Fatalf("refunds %d balance %v", f.Refunds(), f.Balance())
	}
	if s, err := a.check(ctx, n); err != nil || s.State != StateExpired {
		t.Fatalf("check after denial = %+v, %v", s, err)
	}
	// A second denial is refused.
	wantClass(t, a.cancel(ctx, n), ClassOrder, "response 2")
}

func TestSMSPVAAdapter_Errors(t *testing.T) {
	type call func(ctx context.Context, a adapter) error
	balance := func(ctx context.Context, a adapter) error { _, err := a.balance(ctx); return err }
	quote := func(svc, cc string) call {
		return func(ctx context.Context, a adapter) error { _, err := a.quote(ctx, svc, cc); return err }
	}
	buy := func(svc, cc string) call {
		return func(ctx context.Context, a adapter) error { _, err := a.buy(ctx, svc, cc, 0); return err }
	}
	check := func(ctx context.Context, a adapter) error {
		_, err := a.check(ctx, Number{ID: "1", Service: "opt29", Country: "RU"})
		return err
	}
	inject := func(op, tok string) func(*fake.SMSPVA) { return func(f *fake.SMSPVA) { f.Fail(op, tok) } }
	answer := func(status int, body string) func(http.Handler) http.Handler {
		return func(h http.Handler) http.Handler { return intercept(h, pathHas("priemnik"), status, body) }
	}
	tests := []struct {
		name  string
		tweak func(*fake.SMSPVA)
		wrap  func(http.Handler) http.Handler
		key   string
		call  call
		class Class
		code  string
	}{
		{name: "api key not found", key: "nope-nope", call: balance, class: ClassFatal, code: "API KEY NOT FOUND!"},
		{name: "service not found", call: buy("opt999", "RU"), class: ClassTryNext, code: "Service NOT FOUND!"},
		{name: "service not found on count", call: quote("opt999", "RU"), class: ClassTryNext},
		{name: "no numbers", call: buy("opt41", "UK"), class: ClassNoNumbers, code: "response 2"},
		{name: "pause 60 s", tweak: inject(fake.OpBuy, "5"), call: buy("opt29", "RU"), class: ClassRateLimited, code: "response 5"},
		{name: "pause 600 s", tweak: inject(fake.OpBalance, "6"), call: balance, class: ClassRateLimited, code: "response 6"},
		{name: "unknown get_sms answer", tweak: inject(fake.OpCheck, "7"), call: check, class: ClassOrder},
		{name: "HTTP 502", tweak: inject(fake.OpBalance, "HTTP 502"), call: balance, class: ClassTryNext, code: "HTTP 502"},
		{name: "HTTP 429", tweak: inject(fake.OpBalance, "HTTP 429"), call: balance, class: ClassRateLimited},
		{name: "short balance complaint", wrap: answer(200, "Not enough balance"), call: buy("opt29", "RU"), class: ClassFunds},
		{name: "html mentioning balance", wrap: answer(200, "<html><title>balance</title></html>"), call: balance, class: ClassTryNext},
		{name: "garbage", wrap: answer(200, "<html>cloudflare</html>"), call: balance, class: ClassTryNext},
		{name: "broken JSON", wrap: answer(200, `{"response":"1","balance":`), call: balance, class: ClassTryNext},
		{name: "balance missing", wrap: answer(200, `{"response":"1"}`), call: balance, class: ClassTryNext},
		{name: "number without id", wrap: answer(200, `{"response":"1","number":"9001234567","CountryCode":"+7"}`), call: buy("opt29", "RU"), class: ClassTryNext},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, a := smspvaFake(t, tc.tweak, tc.key, tc.wrap)
			err := tc.call(ctxT(t), a)
			wantClass(t, err, tc.class, tc.code)
			noSecret(t, err, smspvaKey)
		})
	}
}
