package sms

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/accountbridge/accountbridge/internal/clock"
	"github.com/accountbridge/accountbridge/internal/providers"
	"github.com/accountbridge/accountbridge/internal/providers/sms/fake"
)

const (
	smsapiUser = "testuser"
	smsapiPass = "pass-secret-0003"
	smsapiPID  = "123456"
)

// tickingNow is a clock.Fake that advances a minute at every reading, so the login guard
// (30 s between attempts) never stands in the way of the re-login a test expects.
func tickingNow(start time.Time) func() time.Time {
	c := clock.NewFake(start)
	return func() time.Time { c.Advance(time.Minute); return c.Now() }
}

type smsapiEnv struct {
	f   *fake.SMSAPI
	a   adapter
	kv  *providers.MemoryKV
	url string
}

// smsapiFake runs the sms_api fake with project 123456 (price 0.1, 3 numbers). now ""
// uses a ticking clock; wrap may put an interceptor in front of the fake.
func smsapiFake(t *testing.T, tweak func(*fake.SMSAPI), now func() time.Time, wrap func(http.Handler) http.Handler) smsapiEnv {
	t.Helper()
	f := fake.NewSMSAPI(smsapiUser, smsapiPass)
	f.Arrival = 1 // deterministic: a due code arrives at the first poll
	f.SetOffer(smsapiPID, "cn", 0.1, 3)
	f.SetOffer("654321", "cn", 0.1, 0)
	if now == nil {
		now = tickingNow(time.Date(2024, 3, 1, 0, 0, 0, 0, time.UTC))
	}
	env := smsapiEnv{f: f, kv: &providers.MemoryKV{}, url: serveFake(t, f, tweak, wrap) + "/api"}
	env.a = adapterWith(t, Settings{Platform: FamilySMSAPI, Username: smsapiUser, Password: smsapiPass, BaseURL: env.url},
		providers.Deps{KV: env.kv, Now: now})
	return env
}

func TestSMSAPIAdapter_Lifecycle(t *testing.T) {
	e := smsapiFake(t, func(f *fake.SMSAPI) { f.SetCodeAfter(-1) }, nil, nil)
	ctx := ctxT(t)
	if bal, err := e.a.balance(ctx); err != nil || bal != 100 {
		t.Fatalf("balance = %v, %v", bal, err)
	}
	if e.f.Logins() != 1 {
		t.Fatalf("logins = %d, want 1", e.f.Logins())
	}
	// search_projects publishes 0.1 and no stock.
	if q, err := e.a.quote(ctx, smsapiPID, "cn"); err != nil || q != (Quote{Price: 0.1}) || !q.InStock() {
		t.Fatalf("quote = %+v, %v", q, err)
	}
	n, err := e.a.buy(ctx, smsapiPID, "cn", 0)
	if err != nil {
		t.Fatalf("buy: %v", err)
	}
	o := e.f.Orders()[0]
	if n.ID != o.Phone || n.Phone != "86"+o.Phone || n.Service != smsapiPID {
		t.Fatalf("bought %+v, fake has %+v", n, o)
	}
	if got := e.f.Balance(); got < 99.89 || got > 99.91 {
		t.Fatalf("balance after buy %v, want 99.9 (price frozen)", got)
	}
	if s, err := e.a.check(ctx, n); err != nil || s.State != StateWaiting {
		t.Fatalf("check = %+v, %v", s, err)
	}
	e.f.Deliver(o.ID, "")
	s := waitCode(t, e.a, n)
	if s.Code != o.Code || !strings.Contains(s.Text, o.Code) {
		t.Fatalf("code = %+v, want %s", s, o.Code)
	}
	if err := e.a.finish(ctx, n); err != nil {
		t.Fatalf("finish: %v", err)
	}
	if o, _ := e.f.Order(o.ID); o.State != fake.Finished {
		t.Fatalf("state %s, want the debit final", o.State)
	}
	if e.f.Logins() != 1 {
		t.Fatalf("logins = %d: the token must be reused", e.f.Logins())
	}
}

// TestSMSAPIAdapter_RandomArrival: with the service's 70 % arrival the code still
// comes, only after some polls.
func TestSMSAPIAdapter_RandomArrival(t *testing.T) {
	e := smsapiFake(t, func(f *fake.SMSAPI) { f.Arrival = 0.7 }, nil, nil)
	n, err := e.a.buy(ctxT(t), smsapiPID, "cn", 0)
	if err != nil {
		t.Fatal(err)
	}
	if s := waitCode(t, e.a, n); s.State != StateCode || len(s.Code) != 6 {
		t.Fatalf("got %+v", s)
	}
}

func TestSMSAPIAdapter_CancelRefunds(t *testing.T) {
	e := smsapiFake(t, func(f *fake.SMSAPI) { f.SetCodeAfter(-1) }, nil, nil)
	ctx := ctxT(t)
	n, err := e.a.buy(ctx, smsapiPID, "cn", 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.a.cancel(ctx, n); err != nil {
		t.Fatalf("cancel: %v", err)
	}
	if e.f.Refunds() != 1 || e.f.Balance() != 100 {
		t.Fatalf("refunds %d, balance %v", e.f.Refunds(), e.f.Balance())
	}
	// A second release is the service's 404: an order-level error.
	wantClass(t, e.a.cancel(ctx, n), ClassOrder, "HTTP 404")
	_, err = e.a.check(ctx, n)
	wantClass(t, err, ClassOrder, "HTTP 404")
}

func TestSMSAPIAdapter_TokenExpiry(t *testing.T) {
	e := smsapiFake(t, nil, nil, nil)
	ctx := ctxT(t)
	if _, err := e.a.balance(ctx); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"account family", "number family"} {
		e.f.ExpireToken()
		var err error
		if name == "account family" {
			_, err = e.a.balance(ctx)
		} else {
			_, err = e.a.buy(ctx, smsapiPID, "cn", 0)
		}
		if err != nil {
			t.Fatalf("%s after expiry: %v", name, err)
		}
	}
	if e.f.Logins() != 3 {
		t.Fatalf("logins = %d, want 3 (one per expiry)", e.f.Logins())
	}
	// The token survives a restart through the KV: a new adapter does not log in.
	a2 := adapterWith(t, Settings{Platform: FamilySMSAPI, Username: smsapiUser, Password: smsapiPass, BaseURL: e.url},
		providers.Deps{KV: e.kv, Now: time.Now})
	if _, err := a2.balance(ctx); err != nil {
		t.Fatal(err)
	}
	if e.f.Logins() != 3 {
		t.Fatalf("logins = %d, want 4: the stored token must be reused", e.f.Logins())
	}
}

// TestSMSAPIAdapter_LoginGuard: a refused login is fatal and says nothing of the
// password; the guard then refuses a new attempt within its interval without asking.
func TestSMSAPIAdapter_LoginGuard(t *testing.T) {
	clk := newClock()
	e := smsapiFake(t, func(f *fake.SMSAPI) { f.Password = "changed" }, clk.Now, nil)
	ctx := ctxT(t)
	_, err := e.a.balance(ctx)
	wantClass(t, err, ClassFatal, "HTTP 401")
	noSecret(t, err, smsapiPass)
	_, err = e.a.balance(ctx)
	wantClass(t, err, ClassRateLimited, "")
	if n := e.f.Count(fake.OpLogin); n != 1 {
		t.Fatalf("login requests = %d, want 1", n)
	}
	clk.Advance(time.Minute)
	e.f.Password = smsapiPass
	if _, err := e.a.balance(ctx); err != nil {
		t.Fatalf("after the interval: %v", err)
	}
}

func TestSMSAPIAdapter_Errors(t *testing.T) {
	type call func(ctx context.Context, a adapter) error
	balance := func(ctx context.Context, a adapter) error { _, err := a.balance(ctx); return err }
	quote := func(pid string) call {
		return func(ctx context.Context, a adapter) error { _, err := a.quote(ctx, pid, "cn"); return err }
	}
	buy := func(pid string) call {
		return func(ctx context.Context, a adapter) error { _, err := a.buy(ctx, pid, "cn", 0); return err }
	}
	check := func(n Number) call {
		return func(ctx context.Context, a adapter) error { _, err := a.check(ctx, n); return err }
	}
	boughtCheck := func(ctx context.Context, a adapter) error {
		n, err := a.buy(ctx, smsapiPID, "cn", 0)
		if err != nil {
			return err
		}
		n.Service = "654321" // the number is not of this project
		_, err = a.check(ctx, n)
		return err
	}
	inject := func(op, tok string) func(*fake.SMSAPI) { return func(f *fake.SMSAPI) { f.Fail(op, tok) } }
	answer := func(sub string, status int, body string) func(http.Handler) http.Handler {
		return func(h http.Handler) http.Handler { return intercept(h, pathHas(sub), status, body) }
	}

	tests := []struct {
		name  string
		tweak func(*fake.SMSAPI)
		wrap  func(http.Handler) http.Handler
		call  call
		class Class
		code  string
	}{
		{name: "no balance: code -2 on HTTP 200", tweak: func(f *fake.SMSAPI) { f.SetBalance(0.05) }, call: buy(smsapiPID), class: ClassFunds, code: "code -2"},
		{name: "no numbers: code -3 on HTTP 200", call: buy("654321"), class: ClassNoNumbers, code: "code -3"},
		{name: "unknown project: 404", call: buy("999999"), class: ClassTryNext, code: "HTTP 404"},
		{name: "project not found by search", call: quote("999999"), class: ClassNoNumbers},
		{name: "unknown phone: 404", call: check(Number{ID: "13800000000", Service: smsapiPID}), class: ClassOrder, code: "HTTP 404"},
		{name: "phone of another project: 400", call: boughtCheck, class: ClassOrder, code: "HTTP 400"},
		{name: "token refused after a fresh login", tweak: inject(fake.OpBalance, "bad_token"), call: balance, class: ClassFatal, code: "HTTP 401"},
		{name: "server error 500", tweak: inject(fake.OpBuy, "boom"), call: buy(smsapiPID), class: ClassTryNext, code: "HTTP 500"},
		{name: "HTTP 429", tweak: inject(fake.OpCheck, "HTTP 429"), call: check(Number{ID: "1", Service: smsapiPID}), class: ClassRateLimited},
		{name: "HTTP 503 on login", tweak: inject(fake.OpLogin, "HTTP 503"), call: balance, class: ClassTryNext, code: "HTTP 503"},
		{name: "garbage body", wrap: answer("/balance", 200, "<html>502 bad gateway</html>"), call: balance, class: ClassTryNext},
		{name: "balance without balance", wrap: answer("/balance", 200, `{"success":true}`), call: balance, class: ClassTryNext},
		{name: "stat true without a phone", wrap: answer("/get_phone", 200, `{"stat":true,"message":"ok","code":1,"data":null}`), call: buy(smsapiPID), class: ClassTryNext},
		{name: "unknown route 404", wrap: answer("/get_phone", 404, `{"error":"资源未找到"}`), call: buy(smsapiPID), class: ClassTryNext, code: "HTTP 404"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := smsapiFake(t, tc.tweak, nil, tc.wrap)
			err := tc.call(ctxT(t), e.a)
			wantClass(t, err, tc.class, tc.code)
			noSecret(t, err, smsapiPass, "eyJhbGciOiJIUzI1NiJ9")
		})
	}
}
