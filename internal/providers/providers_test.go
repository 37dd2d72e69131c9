package providers

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestLoginGuard(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC) // 18:00 in Shanghai
	kv := &MemoryKV{}
	g := LoginGuard{KV: kv, Now: func() time.Time { return now }, MinInterval: 10 * time.Minute, MaxFailuresPerDay: 2}

	if err := g.Begin(ctx); err != nil {
		t.Fatalf("first login refused: %v", err)
	}
	g.End(ctx, errors.New("wrong password"))
	// Too soon after the last attempt.
	now = now.Add(5 * time.Minute)
	if err := g.Begin(ctx); !errors.Is(err, ErrRateLimited) || !strings.Contains(err.Error(), "next allowed in 5m0s") {
		t.Fatalf("err = %v, want rate limited with the wait", err)
	}
	now = now.Add(6 * time.Minute)
	if err := g.Begin(ctx); err != nil {
		t.Fatal(err)
	}
	g.End(ctx, errors.New("wrong password"))
	if n, _ := g.FailuresToday(ctx); n != 2 {
		t.Errorf("failures today = %d", n)
	}
	// The day's limit is reached: permanent until tomorrow (Shanghai time).
	now = now.Add(time.Hour)
	if err := g.Begin(ctx); !errors.Is(err, ErrPermanent) {
		t.Fatalf("err = %v, want permanent", err)
	}
	// A new guard over the same KV (a restart) still refuses.
	g2 := g
	if err := g2.Begin(ctx); !errors.Is(err, ErrPermanent) {
		t.Fatalf("after restart err = %v, want permanent", err)
	}
	// 16:00 UTC is midnight in Shanghai: a new day.
	now = time.Date(2026, 11, 21, 16, 0, 1, 0, time.UTC)
	if err := g.Begin(ctx); err != nil {
		t.Fatalf("new day: %v", err)
	}
	g.End(ctx, nil)
	if n, _ := g.FailuresToday(ctx); n != 0 {
		t.Errorf("failures after success = %d", n)
	}
}

func TestIDs(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"ABC-123", "abc_123"}, {"box 1.local", "box_1_local"}, {"玩客云", "_________"}, {"ok_1", "ok_1"},
	} {
		if got := SanitizeID(tt.in); got != tt.want {
			t.Errorf("SanitizeID(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	if got := DeviceID("onecloud", "home", "OCP-9A"); got != "onecloud_home_ocp_9a" {
		t.Errorf("DeviceID = %q", got)
	}
	for id, ok := range map[string]bool{"main": true, "a_1": true, "": false, "Main": false, "a-b": false, "a b": false, "a\n": false, "ü": false} {
		if ValidID(id) != ok {
			t.Errorf("ValidID(%q) = %v", id, !ok)
		}
	}
	for name, ok := range map[string]bool{"summary": true, "poll": true, "state": false, "availability": false, "event": false, "Bad-Name": false, "": false} {
		if ValidTopicName(name) != ok {
			t.Errorf("ValidTopicName(%q) = %v", name, !ok)
		}
	}
}

func TestKind(t *testing.T) {
	for _, tt := range []struct {
		err  error
		want string
	}{
		{nil, ""},
		{fmt.Errorf("query: %w", ErrAuth), "auth"},
		{fmt.Errorf("x: %w", ErrRateLimited), "rate_limited"},
		{Permanent("captcha required: log in once in the app"), "permanent"},
		{errors.New("connection reset"), "transient"},
	} {
		if got := Kind(tt.err); got != tt.want {
			t.Errorf("Kind(%v) = %q, want %q", tt.err, got, tt.want)
		}
	}
	if msg := Permanent("use the %d-digit service password", 6).Error(); msg != "permanent failure: use the 6-digit service password" {
		t.Errorf("message = %q", msg)
	}
}

func TestRegistry(t *testing.T) {
	Register(Info{Kind: "zz_test", Factory: func(Account, Deps) (Provider, error) { return nil, errors.New("bad setting") }})
	t.Cleanup(func() { // so that -count=N runs it again
		registryMu.Lock()
		delete(registry, "zz_test")
		registryMu.Unlock()
	})
	if _, ok := Lookup("zz_test"); !ok {
		t.Fatal("not registered")
	}
	if _, err := New(Account{ID: "a", Provider: "zz_test"}, Deps{}); err == nil || err.Error() != "account a: bad setting" {
		t.Errorf("err = %v", err)
	}
	if _, err := New(Account{ID: "a", Provider: "nope"}, Deps{}); err == nil || !strings.Contains(err.Error(), `unknown provider "nope"`) {
		t.Errorf("err = %v", err)
	}
	defer func() {
		if recover() == nil {
			t.Error("duplicate registration did not panic")
		}
	}()
	Register(Info{Kind: "zz_test"})
}
