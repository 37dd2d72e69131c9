package sms

import (
	"cmp"
	"context"
	"net/http"
	"testing"

	"github.com/accountbridge/accountbridge/internal/providers/sms/fake"
)

const (
	getsmscodeUser  = "user@example.com"
	getsmscodeToken = "getsmscode-secret-token-0007"
)

// getsmscodeFake sells pid 10 (Telegram) in China (do.php), Indonesia (vndo.php) and
// the USA (usdo.php); pid 3 in China is out of stock.
func getsmscodeFake(t *testing.T, tweak func(*fake.GetSMSCode), s Settings, wrap func(http.Handler) http.Handler) (*fake.GetSMSCode, adapter) {
	t.Helper()
	f := fake.NewGetSMSCode(getsmscodeUser, getsmscodeToken)
	f.SetOffer("10", "cn", 0.1, 5)
	f.SetOffer("10", "id", 0.2, 5)
	f.SetOffer("10", "us", 0.3, 5)
	f.SetOffer("3", "cn", 0.1, 0)
	s.Platform, s.Username, s.APIKey = FamilyGetSMSCode, cmp.Or(s.Username, getsmscodeUser), cmp.Or(s.APIKey, getsmscodeToken)
	s.BaseURL = serveFake(t, f, tweak, wrap)
	return f, adapterFor(t, s)
}

func TestGetSMSCodeAdapter_Lifecycle(t *testing.T) {
	tests := []struct {
		country string
		phone   func(string) string
	}{
		{"cn", func(p string) string { return "86" + p }}, // do.php: mainland numbers get +86
		{"id", func(p string) string { return p }},        // vndo.php?cocode=id
		{"us", func(p string) string { return p }},        // usdo.php
	}
	for _, tc := range tests {
		t.Run(tc.country, func(t *testing.T) {
			f, a := getsmscodeFake(t, func(f *fake.GetSMSCode) { f.SetCodeAfter(-1) }, Settings{}, nil)
			ctx := ctxT(t)
			if bal, err := a.balance(ctx); err != nil || bal != 100 {
				t.Fatalf("balance = %v, %v", bal, err)
			}
			// GetSMSCode publishes no prices: the account's `prices` fill in.
			if q, err := a.quote(ctx, "10", tc.country); err != nil || q.Price != -1 || q.CountKnown {
				t.Fatalf("quote = %+v, %v", q, err)
			}
			n, err := a.buy(ctx, "10", tc.country, 0)
			if err != nil {
				t.Fatalf("buy: %v", err)
			}
			o := f.Orders()[0]
			if o.Country != tc.country || n.ID != o.Phone || n.Phone != tc.phone(o.Phone) {
				t.Fatalf("bought %+v, fake has %+v", n, o)
			}
			if s, err := a.check(ctx, n); err != nil || s.State != StateWaiting {
				t.Fatalf("check = %+v, %v", s, err)
			}
			// A bank-style text mentioning the balance is an SMS, not a funds error.
			f.Deliver(o.ID, "Your balance code is 667788, valid 5 min")
			s := waitCode(t, a, n)
			if s.Code != "667788" || s.Text != "Your balance code is 667788, valid 5 min" {
				t.Fatalf("code = %+v", s)
			}
			if err := a.finish(ctx, n); err != nil {
				t.Fatalf("finish: %v", err)
			}
		})
	}
}

func TestGetSMSCodeAdapter_CancelBlacklists(t *testing.T) {
	f, a := getsmscodeFake(t, func(f *fake.GetSMSCode) { f.SetCodeAfter(-1) }, Settings{}, nil)
	ctx := ctxT(t)
	n, err := a.buy(ctx, "10", "cn", 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.cancel(ctx, n); err != nil {
		t.Fatalf("cancel: %v", err)
	}
	if f.Count(fake.OpCancel) != 1 || f.Refunds() != 1 || f.Balance() != 100 {
		t.Fatalf("addblack %d, refunds %d, balance %v", f.Count(fake.OpCancel), f.Refunds(), f.Balance())
	}
}

func TestGetSMSCodeAdapter_Errors(t *testing.T) {
	type call func(ctx context.Context, a adapter) error
	balance := func(ctx context.Context, a adapter) error { _, err := a.balance(ctx); return err }
	buy := func(pid string) call {
		return func(ctx context.Context, a adapter) error { _, err := a.buy(ctx, pid, "cn", 0); return err }
	}
	n := Number{ID: "13800000001", Service: "10", Country: "cn"}
	cancel := func(ctx context.Context, a adapter) error { return a.cancel(ctx, n) }
	check := func(ctx context.Context, a adapter) error { _, err := a.check(ctx, n); return err }
	inject := func(op, tok string) func(*fake.GetSMSCode) { return func(f *fake.GetSMSCode) { f.Fail(op, tok) } }
	tests := []struct {
		name  string
		tweak func(*fake.GetSMSCode)
		s     Settings
		call  call
		class Class
		code  string
	}{
		{name: "username is wrong", s: Settings{Username: "someone"}, call: balance, class: ClassFatal, code: "username is wrong"},
		{name: "token is wrong", s: Settings{APIKey: "wrong-token"}, call: buy("10"), class: ClassFatal, code: "token is wrong"},
		// The two below use the fake's placeholder texts (sms.md has none).
		{name: "no numbers (placeholder text)", call: buy("3"), class: ClassNoNumbers},
		{name: "no balance (placeholder text)", tweak: func(f *fake.GetSMSCode) { f.SetBalance(0) }, call: buy("10"), class: ClassFunds},
		{name: "unknown getmobile text", tweak: inject(fake.OpBuy, "Message|system busy"), call: buy("10"), class: ClassTryNext},
		{name: "empty getmobile", tweak: inject(fake.OpBuy, ""), call: buy("10"), class: ClassTryNext},
		{name: "login without balance", tweak: inject(fake.OpBalance, "user"), call: balance, class: ClassTryNext},
		{name: "login balance not a number", tweak: inject(fake.OpBalance, "user|lots|0"), call: balance, class: ClassTryNext},
		{name: "garbage getsms", tweak: inject(fake.OpCheck, "<html>"), call: check, class: ClassTryNext},
		{name: "addblack refused", tweak: inject(fake.OpCancel, "Message|failed"), call: cancel, class: ClassOrder},
		{name: "HTTP 503", tweak: inject(fake.OpBalance, "HTTP 503"), call: balance, class: ClassTryNext, code: "HTTP 503"},
		{name: "HTTP 429", tweak: inject(fake.OpBuy, "HTTP 429"), call: buy("10"), class: ClassRateLimited},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, a := getsmscodeFake(t, tc.tweak, tc.s, nil)
			err := tc.call(ctxT(t), a)
			wantClass(t, err, tc.class, tc.code)
			noSecret(t, err, getsmscodeToken)
		})
	}
}

// TestGetSMSCodeAdapter_TooFast: "Please wait 10 seconds" to getsms is a wait, not an error.
func TestGetSMSCodeAdapter_TooFast(t *testing.T) {
	_, a := getsmscodeFake(t, func(f *fake.GetSMSCode) { f.Fail(fake.OpCheck, "Message|Please wait 10 seconds to request!") }, Settings{}, nil)
	s, err := a.check(ctxT(t), Number{ID: "13800000001", Service: "10", Country: "cn"})
	if err != nil || s.State != StateWaiting {
		t.Fatalf("check = %+v, %v", s, err)
	}
}
