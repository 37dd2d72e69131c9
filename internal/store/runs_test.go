package store

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestRuns(t *testing.T) {
	ctx := t.Context()
	s := openTest(t)
	// Recorded out of order, to show the listing sorts by start time.
	recorded := []Run{
		{Account: "gas_a", Started: t0.Add(2 * time.Minute), Duration: 2 * time.Second, OK: true},
		{Account: "gas_a", Started: t0, Duration: time.Second, ErrorKind: "auth", Message: "login refused"},
		{Account: "telecom_a", Started: t0.Add(time.Minute), Duration: 3 * time.Second, OK: true},
		{Account: "gas_a", Started: t0.Add(3 * time.Minute), Duration: 4 * time.Second, ErrorKind: "timeout"},
		{Account: "gas_a", Started: t0.Add(time.Minute), OK: true},
	}
	for _, r := range recorded {
		must(t, s.RecordRun(ctx, r))
	}

	tests := []struct {
		name    string
		account string
		limit   int
		want    []Run
	}{
		{"newest first with limit", "gas_a", 2, []Run{recorded[3], recorded[0]}},
		{"no limit", "gas_a", 0, []Run{recorded[3], recorded[0], recorded[4], recorded[1]}},
		{"limit above count", "telecom_a", 10, []Run{recorded[2]}},
		{"every account; same start: later insert first", "", 4, []Run{recorded[3], recorded[0], recorded[4], recorded[2]}},
		{"unknown account", "nobody", 5, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.Runs(ctx, tt.account, tt.limit)
			must(t, err)
			if len(got) != len(tt.want) {
				t.Fatalf("got %d runs %+v, want %d", len(got), got, len(tt.want))
			}
			for i := range got {
				if !equalRun(got[i], tt.want[i]) {
					t.Errorf("run %d = %+v, want %+v", i, got[i], tt.want[i])
				}
			}
		})
	}

	// Prune everything that started before t0+1m: only the run at t0 goes.
	n, err := s.PruneRuns(ctx, t0.Add(time.Minute))
	must(t, err)
	if n != 1 {
		t.Errorf("pruned %d, want 1", n)
	}
	n, err = s.PruneRuns(ctx, time.Time{})
	must(t, err)
	if n != 0 {
		t.Errorf("pruned %d before the zero time, want 0", n)
	}
	got, err := s.Runs(ctx, "", 0)
	must(t, err)
	if len(got) != 4 {
		t.Errorf("%d runs left, want 4", len(got))
	}
	for _, r := range got {
		if r.Started.Before(t0.Add(time.Minute)) {
			t.Errorf("run at %v survived pruning", r.Started)
		}
	}
}

func TestRecordRunStampsStart(t *testing.T) {
	ctx := t.Context()
	s := openTest(t)
	must(t, s.RecordRun(ctx, Run{Account: "a", OK: true}))
	got, err := s.Runs(ctx, "a", 1)
	must(t, err)
	if len(got) != 1 || !got[0].Started.Equal(t0) {
		t.Errorf("runs = %+v, want one started at the clock's %v", got, t0)
	}
	if err := s.RecordRun(ctx, Run{}); err == nil {
		t.Error("empty account: no error")
	}
}

// Concurrent FinishRun calls (committed together) all land; one with a time the store
// cannot keep fails alone.
func TestFinishRunGroupCommit(t *testing.T) {
	s := openTest(t)
	ctx := t.Context()
	now := time.Date(2026, 12, 6, 8, 0, 0, 0, time.UTC)
	const n = 40
	errs := make(chan error, n)
	for i := range n {
		go func() {
			acct := fmt.Sprintf("acct_%d", i)
			st := AccountState{Account: acct, LastRun: now, LastOK: now, ConsecutiveFailures: i}
			if i == 7 {
				st.LastOK = time.Date(1200, 1, 1, 0, 0, 0, 0, time.UTC) // out of range
			}
			errs <- s.FinishRun(ctx, Run{Account: acct, Started: now, Duration: time.Second, OK: true}, st)
		}()
	}
	failed := 0
	for range n {
		if err := <-errs; err != nil {
			failed++
			if !strings.Contains(err.Error(), "acct_7") {
				t.Errorf("error names the wrong account: %v", err)
			}
		}
	}
	if failed != 1 {
		t.Fatalf("%d calls failed, want only acct_7's", failed)
	}
	runs, err := s.Runs(ctx, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(runs) != n-1 {
		t.Errorf("%d runs stored, want %d", len(runs), n-1)
	}
	for i := range n {
		st, ok, err := s.AccountState(ctx, fmt.Sprintf("acct_%d", i))
		if err != nil {
			t.Fatal(err)
		}
		if ok != (i != 7) || (ok && st.ConsecutiveFailures != i) {
			t.Errorf("acct_%d: state %+v, stored %v", i, st, ok)
		}
	}
}
