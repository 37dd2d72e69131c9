package sms

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/accountbridge/accountbridge/internal/clock"
	"github.com/accountbridge/accountbridge/internal/providers"
)

// Helpers of the adapter tests (*_adapter_test.go): every adapter is built through New,
// so the tests also cover what the factory wires (presets, base_url, cancel status).

// adapterFor builds the adapter of one platform account pointed at a fake.
func adapterFor(t testing.TB, s Settings) adapter {
	t.Helper()
	return adapterWith(t, s, providers.Deps{KV: &providers.MemoryKV{}})
}

func testAccount(s Settings) providers.Account {
	return providers.Account{ID: "acct", Provider: Kind, Decode: func(v any) error {
		*v.(*Settings) = s
		return nil
	}}
}

func testDeps() providers.Deps { return providers.Deps{KV: &providers.MemoryKV{}} }

func adapterWith(t testing.TB, s Settings, deps providers.Deps) adapter {
	t.Helper()
	p, err := New(testAccount(s), deps)
	if err != nil {
		t.Fatalf("New(%+v): %v", s, err)
	}
	return p.(*Platform).a
}

// serve runs h on loopback for the test.
func serve(t testing.TB, h http.Handler) string {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}

// ctxT is a context bounded by the tests' wait deadline.
func ctxT(t testing.TB) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	t.Cleanup(cancel)
	return ctx
}

// wantClass fails unless err is an *Error of class c (and code, when not "").
func wantClass(t testing.TB, err error, c Class, code string) {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v (%T) is not a classified *Error, want class %s", err, err, c)
	}
	if e.Class != c {
		t.Fatalf("error %q: class %s, want %s", err, e.Class, c)
	}
	if code != "" && e.Code != code {
		t.Fatalf("error %q: code %q, want %q", err, e.Code, code)
	}
}

// noSecret fails when err's text carries one of the secrets.
func noSecret(t testing.TB, err error, secrets ...string) {
	t.Helper()
	if err == nil {
		t.Fatal("want an error")
	}
	for _, s := range secrets {
		if s != "" && strings.Contains(err.Error(), s) {
			t.Fatalf("error %q leaks a secret", err)
		}
	}
}

// waitCode polls check until a code (or another final state) arrives, within wait.
func waitCode(t testing.TB, a adapter, n Number) SMS {
	t.Helper()
	ctx := ctxT(t)
	for {
		s, err := a.check(ctx, n)
		if err != nil {
			t.Fatalf("check: %v", err)
		}
		if s.State != StateWaiting {
			return s
		}
		select {
		case <-ctx.Done():
			t.Fatalf("no code within %s", wait)
		case <-time.After(time.Millisecond):
		}
	}
}

// echoServer answers every request with status and a body that repeats the request URL
// and headers, as some broken upstreams and proxies do: errors built from the body must
// still not carry the key.
func echoServer(t testing.TB, status int) string {
	t.Helper()
	return serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(status)
		_, _ = w.Write([]byte("bad request " + r.URL.String() + " auth=" + r.Header.Get("Authorization")))
	}))
}

// deadURL is the address of a server that is already closed: transport errors.
func deadURL(t testing.TB) string {
	t.Helper()
	srv := httptest.NewServer(http.NotFoundHandler())
	u := srv.URL
	srv.Close()
	return u
}

func newClock() *clock.Fake { return clock.NewFake(time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC)) }

// intercept answers the requests match selects with status and body, and passes the
// rest to h: garbage and odd statuses a fake's token injection cannot produce.
func intercept(h http.Handler, match func(*http.Request) bool, status int, body string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if match(r) {
			w.WriteHeader(status)
			_, _ = w.Write([]byte(body))
			return
		}
		h.ServeHTTP(w, r)
	})
}

func pathHas(sub string) func(*http.Request) bool {
	return func(r *http.Request) bool { return strings.Contains(r.URL.Path, sub) }
}

// serveFake applies tweak (when given) to the fake f, serves it on loopback, through wrap
// when given, and returns its base URL.
func serveFake[F http.Handler](t testing.TB, f F, tweak func(F), wrap func(http.Handler) http.Handler) string {
	t.Helper()
	if tweak != nil {
		tweak(f)
	}
	var h http.Handler = f
	if wrap != nil {
		h = wrap(h)
	}
	return serve(t, h)
}
