package poller

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/accountbridge/accountbridge/internal/providers"
)

// TestLiftQuarantineLive: Lift clears the quarantine in memory and in the store and polls
// the account at once, without a restart; it then follows its schedule again.
func TestLiftQuarantineLive(t *testing.T) {
	h := newHarness(t)
	var fixed atomic.Bool
	prov := &fakeProvider{fn: func(ctx context.Context, call int64) (providers.Snapshot, error) {
		if !fixed.Load() {
			return providers.Snapshot{}, providers.Permanent("confirm the new device in the app")
		}
		return goodSnapshot(), nil
	}}
	p := h.poller(Options{}, newJob("acct", "@every 10m", prov))
	h.start(p)
	if st := h.next("acct"); st.State != StateQuarantined {
		t.Fatalf("%+v", st)
	}
	fixed.Store(true)
	if err := p.Lift(context.Background(), "acct"); err != nil {
		t.Fatal(err)
	}
	if st := h.next("acct"); st.State == StateQuarantined || st.ConsecutiveFailures != 0 || !st.BackoffUntil.IsZero() {
		t.Fatalf("status reported by Lift: %+v", st)
	}
	if saved := h.st.state("acct"); saved.QuarantineFingerprint != "" || saved.ConsecutiveFailures != 0 {
		t.Fatalf("store after Lift: %+v", saved)
	}
	if st := h.next("acct"); st.State != StateOK {
		t.Fatalf("poll after Lift: %+v", st)
	}
	h.advance(10 * time.Minute)
	if st := h.next("acct"); st.State != StateOK || !st.LastRun.Equal(t0.Add(10*time.Minute)) {
		t.Fatalf("scheduled poll after Lift: %+v", st)
	}
	if err := p.Lift(context.Background(), "nope"); !errors.Is(err, ErrUnknownAccount) {
		t.Fatalf("unknown account: %v", err)
	}
}

// TestSetEnabled: a disabled account is not polled (scheduled or RunNow) and reports
// StateDisabled; enabling polls it at once.
func TestSetEnabled(t *testing.T) {
	h := newHarness(t)
	var polls atomic.Int64
	prov := &fakeProvider{fn: func(ctx context.Context, call int64) (providers.Snapshot, error) {
		polls.Add(1)
		return goodSnapshot(), nil
	}}
	p := h.poller(Options{}, newJob("acct", "@every 10m", prov), newJob("other", "@every 10m", &fakeProvider{}))
	h.start(p)
	h.next("acct")
	h.next("other")
	if err := p.SetEnabled(context.Background(), "acct", false); err != nil {
		t.Fatal(err)
	}
	if st := h.next("acct"); st.State != StateDisabled || st.Available || !st.NextRun.IsZero() {
		t.Fatalf("disabled: %+v", st)
	}
	if p.RunNow("acct") {
		t.Fatal("RunNow polled a disabled account")
	}
	h.advance(10 * time.Minute)
	h.next("other")
	h.noStatus("acct")
	if n := polls.Load(); n != 1 {
		t.Fatalf("polls while disabled: %d", n)
	}
	if err := p.SetEnabled(context.Background(), "acct", true); err != nil {
		t.Fatal(err)
	}
	if st := h.next("acct"); st.State != StateOK || !st.Available {
		t.Fatalf("enabled: %+v", st)
	}
	if st := h.next("acct"); st.LastRun.IsZero() || polls.Load() != 2 {
		t.Fatalf("no poll after enabling: %+v (%d polls)", st, polls.Load())
	}
}
