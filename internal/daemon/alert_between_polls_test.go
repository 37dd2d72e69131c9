package daemon_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/accountbridge/accountbridge/internal/clock"
	"github.com/accountbridge/accountbridge/internal/daemon"
	"github.com/accountbridge/accountbridge/internal/logging"
)

// TestAlertFiresBetweenPolls: a threshold rule with a grace period that ends between two
// polls of its account fires on the daemon's alert timer, without waiting for the next
// poll. The clock is fake: the account is polled once (at start, schedule hourly), then
// the clock moves ten minutes in steps of the alert timer.
func TestAlertFiresBetweenPolls(t *testing.T) {
	e := newEnv(t)
	id := "b" + strings.TrimPrefix(e.base, "ab_")
	dev := "testfake_" + id
	cfg := e.Config(fmt.Sprintf("  - id: %s\n    provider: testfake\n    balance: 5\n    schedule: \"@every 1h\"\n", id),
		fmt.Sprintf("alerts:\n  rules:\n    - entity: %s.balance\n      below: 10\n      for: 2m\n", dev))
	clk := clock.NewFake(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	b := behaviourOf(id)

	w := e.watch()
	ctx, cancel := context.WithCancel(context.Background())
	d, err := daemon.New(ctx, daemon.Options{Config: cfg, Logger: discard(), Redactor: logging.NewRedactor(), Clock: clk})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()

	// The first poll: the balance is below, the rule is pending (no alert yet: the marker
	// published after the state arrives before anything on the alerts topic).
	w.WaitAll(map[string]string{e.StateTopic(dev): `~"balance":5`})
	w.Publish(e.base+"/marker", "m", false)
	for _, m := range w.Until(e.base + "/marker") {
		if m.Topic == e.base+"/alerts" {
			t.Fatalf("alert before its grace period: %s", m.Payload)
		}
	}

	// Ten minutes in steps of the alert timer, each step taken once every timer that fired
	// is waiting again. The next poll is an hour (less at most 6m of jitter) away.
	for range 20 {
		n := clk.Waiters()
		clk.Advance(daemon.AlertTick)
		clk.WaitForWaiters(n)
	}
	w.WaitAll(map[string]string{e.base + "/alerts": `~"state":"firing"`})
	if polls := b.polls.Load(); polls != 1 {
		t.Errorf("the alert came with %d polls, want it between the first and the second", polls)
	}
}
