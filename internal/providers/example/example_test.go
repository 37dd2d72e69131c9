package example

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/accountbridge/accountbridge/internal/clock"
	"github.com/accountbridge/accountbridge/internal/config"
	"github.com/accountbridge/accountbridge/internal/discovery"
	"github.com/accountbridge/accountbridge/internal/providers"
)

// fakeUpstream answers GET /v1/balance for one token. A real provider keeps its fake in
// fake/ (an http.Handler with fault switches and counters) for its tests, the demo and
// the benchmarks to share.
type fakeUpstream struct {
	token   string
	balance string
	status  atomic.Int32 // when set, every answer has this status
}

func (f *fakeUpstream) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case f.status.Load() != 0:
		w.WriteHeader(int(f.status.Load()))
	case r.URL.Path != "/v1/balance":
		http.NotFound(w, r)
	case r.Header.Get("Authorization") != "Bearer "+f.token:
		w.WriteHeader(http.StatusUnauthorized)
	default:
		_, _ = w.Write([]byte(`{"balance": ` + f.balance + `}`))
	}
}

// account decodes yaml the way the daemon does: through config, so that the test sees
// the same file:line errors a user would.
func account(t *testing.T, yaml string) providers.Account {
	t.Helper()
	cfg, err := config.Parse("config.yaml", []byte("accounts:\n  - id: main\n    provider: example\n"+yaml), config.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	a := &cfg.Accounts[0]
	return providers.Account{ID: a.ID, Provider: a.Provider, Name: a.Name, Decode: a.Decode}
}

func TestSettingsErrorsAtTheirKeys(t *testing.T) {
	tests := []struct {
		yaml string
		want []string // "key: message"; config errors come with their line
	}{
		{"", []string{"token: required"}},
		{"    token: t\n    low_balance: -1\n", []string{"low_balance: must be 0 or more"}},
		{"    token: t\n    base_url: ftp://x\n", []string{"base_url: expected an http(s) URL"}},
		// An unknown key and a missing one, in one run.
		{"    tokn: t\n", []string{`config.yaml:4: accounts[0].tokn: unknown key (did you mean "token"?)`, "token: required"}},
	}
	for _, tc := range tests {
		_, err := New(account(t, tc.yaml), providers.Deps{})
		if err == nil {
			t.Errorf("%q: no error", tc.yaml)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%q: error %q lacks %q", tc.yaml, err, w)
			}
		}
		var se *providers.SettingError
		if !errors.As(err, &se) {
			t.Errorf("%q: no providers.SettingError in %v", tc.yaml, err)
		}
	}
}

func TestPoll(t *testing.T) {
	f := &fakeUpstream{token: "tok-secret", balance: "8.5"}
	srv := httptest.NewServer(f)
	defer srv.Close()
	clk := clock.NewFake(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	p, err := New(account(t, "    token: tok-secret\n    low_balance: 10\n    base_url: "+srv.URL+"\n"), providers.Deps{Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	snap, err := p.Poll(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	dev := snap.Devices[0]
	if dev.ID != "example_main" || dev.Values["balance"] != 8.5 || dev.Values["low_balance"] != true || !snap.Time.Equal(clk.Now()) {
		t.Errorf("snapshot = %+v", snap)
	}
	// Every entity the provider can produce is valid for Home Assistant.
	for _, e := range dev.Entities {
		if err := discovery.ValidateEntity(e); err != nil {
			t.Errorf("entity %s: %v", e.Key, err)
		}
	}

	// Errors are classified for the poller.
	for _, tc := range []struct {
		status int
		is     error
	}{{401, providers.ErrPermanent}, {429, providers.ErrRateLimited}, {502, nil}} {
		f.status.Store(int32(tc.status))
		_, err := p.Poll(context.Background())
		if err == nil || (tc.is != nil && !errors.Is(err, tc.is)) || (tc.is == nil && providers.Kind(err) != "transient") {
			t.Errorf("HTTP %d: %v (%s)", tc.status, err, providers.Kind(err))
		}
		if err != nil && strings.Contains(err.Error(), "tok-secret") {
			t.Errorf("HTTP %d: the error shows the token: %v", tc.status, err)
		}
	}
}

func TestDeviceWithoutThreshold(t *testing.T) {
	d := device(providers.Account{ID: "x", Name: "Mine"}, 3, 0)
	if _, ok := d.Values["low_balance"]; ok || d.Name != "Mine" {
		t.Errorf("without low_balance the sensor is unknown, got %+v", d)
	}
}
