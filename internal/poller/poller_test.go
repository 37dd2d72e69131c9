package poller

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/accountbridge/accountbridge/internal/providers"
)

func TestNewValidates(t *testing.T) {
	ok := newJob("a", "@hourly", &fakeProvider{})
	cases := map[string]struct {
		opts Options
		jobs []Job
	}{
		"no results":   {Options{State: newMemStore()}, []Job{ok}},
		"no state":     {Options{Results: newRecorder()}, []Job{ok}},
		"no account":   {Options{Results: newRecorder(), State: newMemStore()}, []Job{{Provider: ok.Provider, Schedule: ok.Schedule}}},
		"no provider":  {Options{Results: newRecorder(), State: newMemStore()}, []Job{{Account: "a", Schedule: ok.Schedule}}},
		"no schedule":  {Options{Results: newRecorder(), State: newMemStore()}, []Job{{Account: "a", Provider: ok.Provider}}},
		"duplicate":    {Options{Results: newRecorder(), State: newMemStore()}, []Job{ok, ok}},
		"negative ttl": {Options{Results: newRecorder(), State: newMemStore()}, []Job{{Account: "a", Provider: ok.Provider, Schedule: ok.Schedule, Timeout: -1}}},
	}
	for name, c := range cases {
		if _, err := New(c.opts, c.jobs); err == nil {
			t.Errorf("%s: New succeeded", name)
		}
	}
}

func TestImmediateFirstRunThenInterval(t *testing.T) {
	h := newHarness(t)
	prov := &fakeProvider{}
	p := h.poller(Options{}, newJob("a", "@every 10m", prov))

	initial := h.start(p)
	if st := initial["a"]; st.State != StatePending || !st.NextRun.Equal(t0) {
		t.Fatalf("status at start = %+v, want pending with NextRun %s", st, t0)
	}
	st := h.next("a")
	if st.State != StateOK || !st.Available || !st.LastRun.Equal(t0) || !st.LastOK.Equal(t0) {
		t.Fatalf("after first run: %+v", st)
	}
	if want := t0.Add(10 * time.Minute); !st.NextRun.Equal(want) {
		t.Fatalf("NextRun = %s, want %s", st.NextRun, want)
	}
	snap := await(t, h.rec.snapCh("a"), "snapshot")
	if snap.Account != "a" || len(snap.Devices) != 1 {
		t.Fatalf("snapshot = %+v", snap)
	}

	// Not before the interval: the loop's only timer is still pending after 9m59s.
	h.advance(10*time.Minute - time.Second)
	if n := h.clk.Waiters(); n != 1 {
		t.Fatalf("loop timer fired early (%d waiters)", n)
	}
	h.noStatus("a")
	if n := prov.calls.Load(); n != 1 {
		t.Fatalf("polls = %d before the interval, want 1", n)
	}

	h.advance(time.Second)
	st = h.next("a")
	if want := t0.Add(10 * time.Minute); !st.LastRun.Equal(want) {
		t.Fatalf("second run at %s, want %s", st.LastRun, want)
	}
	h.advance(10 * time.Minute)
	st = h.next("a")
	if want := t0.Add(20 * time.Minute); !st.LastRun.Equal(want) || prov.calls.Load() != 3 {
		t.Fatalf("third run at %s (%d polls), want %s", st.LastRun, prov.calls.Load(), want)
	}
	if runs := h.st.runsOf("a"); len(runs) != 3 || !runs[2].OK {
		t.Fatalf("runs = %+v", runs)
	}
}

func TestJitterShiftsPhaseWithoutDrift(t *testing.T) {
	cases := []struct {
		name   string
		spec   string
		jitter time.Duration
		wantN  time.Duration // Rand's argument - 1: the effective max jitter
		offset time.Duration // what Rand returns
		runs   []time.Duration
	}{
		{
			name: "auto jitter is 10% of a 10m cron", spec: "*/10 * * * *", jitter: -1,
			wantN: time.Minute, offset: 30 * time.Second,
			runs: []time.Duration{10*time.Minute + 30*time.Second, 20*time.Minute + 30*time.Second,
				30*time.Minute + 30*time.Second, 40*time.Minute + 30*time.Second},
		},
		{
			name: "explicit jitter on an hourly cron", spec: "@hourly", jitter: 2 * time.Minute,
			wantN: 2 * time.Minute, offset: 2 * time.Minute,
			runs: []time.Duration{62 * time.Minute, 122 * time.Minute, 182 * time.Minute},
		},
		{
			name: "auto jitter capped at 5m on @every 1h", spec: "@every 1h", jitter: -1,
			wantN: 5 * time.Minute, offset: 4 * time.Minute,
			runs: []time.Duration{64 * time.Minute, 124 * time.Minute, 184 * time.Minute},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := newHarness(t)
			j := newJob("a", c.spec, &fakeProvider{})
			j.Jitter = c.jitter
			rnd := func(n int64) int64 {
				if n != int64(c.wantN)+1 {
					t.Errorf("Rand(%d), want Rand(%d)", n, int64(c.wantN)+1)
				}
				return int64(c.offset)
			}
			p := h.poller(Options{Rand: rnd}, j)
			h.start(p)
			st := h.next("a")
			if !st.LastRun.Equal(t0) {
				t.Fatalf("first run at %s, want immediately at %s", st.LastRun, t0)
			}
			for _, r := range c.runs {
				want := t0.Add(r)
				if !st.NextRun.Equal(want) {
					t.Fatalf("NextRun = %s, want %s", st.NextRun, want)
				}
				h.advance(want.Sub(h.clk.Now()) - time.Second)
				if n := h.clk.Waiters(); n != 1 {
					t.Fatalf("run before %s", want)
				}
				h.advance(time.Second)
				st = h.next("a")
				if !st.LastRun.Equal(want) {
					t.Fatalf("run at %s, want %s", st.LastRun, want)
				}
			}
		})
	}
}

func TestSkipIfRunning(t *testing.T) {
	h := newHarness(t)
	release := make(chan struct{})
	entered := make(chan int64, 10)
	var inFlight, maxInFlight atomic.Int64
	prov := &fakeProvider{fn: func(ctx context.Context, call int64) (providers.Snapshot, error) {
		n := inFlight.Add(1)
		defer inFlight.Add(-1)
		for m := maxInFlight.Load(); n > m && !maxInFlight.CompareAndSwap(m, n); m = maxInFlight.Load() {
		}
		entered <- call
		if call == 1 {
			<-release
		}
		return goodSnapshot(), nil
	}}
	p := h.poller(Options{}, newJob("a", "@every 10m", prov))
	h.start(p)
	await(t, entered, "first poll")

	// Two due runs pass while the first poll hangs: both are skipped.
	h.advance(10 * time.Minute)
	h.advance(10 * time.Minute)
	h.settle()
	if st := p.Statuses()[0]; st.SkippedRunning != 2 {
		t.Fatalf("SkippedRunning = %d, want 2", st.SkippedRunning)
	}
	if p.RunNow("a") {
		t.Fatal("RunNow started a second concurrent poll")
	}
	if n := prov.calls.Load(); n != 1 {
		t.Fatalf("polls = %d while the first hangs, want 1", n)
	}

	close(release)
	if st := h.next("a"); st.State != StateOK || !st.LastRun.Equal(t0) {
		t.Fatalf("first run: %+v", st)
	}
	h.advance(10 * time.Minute)
	await(t, entered, "second poll")
	if st := h.next("a"); !st.LastRun.Equal(t0.Add(30*time.Minute)) || st.SkippedRunning != 2 {
		t.Fatalf("second run: %+v", st)
	}
	if m := maxInFlight.Load(); m != 1 {
		t.Fatalf("max concurrent polls of one job = %d", m)
	}
}

func TestPanicRecovery(t *testing.T) {
	h := newHarness(t)
	prov := &fakeProvider{fn: func(ctx context.Context, call int64) (providers.Snapshot, error) {
		if call == 1 {
			panic("boom: nil map")
		}
		return goodSnapshot(), nil
	}}
	p := h.poller(Options{}, newJob("a", "@every 10m", prov))
	h.start(p)

	st := h.next("a")
	if st.State != StateFailing || st.LastErrorKind != KindPanic || st.ConsecutiveFailures != 1 {
		t.Fatalf("after panic: %+v", st)
	}
	if !strings.Contains(st.LastError, "boom: nil map") || strings.Contains(st.LastError, "goroutine") {
		t.Fatalf("LastError = %q, want the panic value without a stack", st.LastError)
	}
	if runs := h.st.runsOf("a"); len(runs) != 1 || runs[0].ErrorKind != KindPanic || strings.Contains(runs[0].Message, "goroutine") {
		t.Fatalf("runs = %+v", runs)
	}
	if n := h.logs.count(slog.LevelError, "poll panicked"); n != 1 {
		t.Fatalf("panic logged %d times at error, want 1", n)
	}
	if stack, _ := h.logs.attr("poll panicked", "stack"); !strings.Contains(stack, "goroutine") {
		t.Fatalf("logged stack = %q", stack)
	}

	h.advance(10 * time.Minute)
	if st := h.next("a"); st.State != StateOK || st.ConsecutiveFailures != 0 {
		t.Fatalf("next scheduled run: %+v", st)
	}
}

func TestBackoff(t *testing.T) {
	h := newHarness(t)
	var fail atomic.Bool
	fail.Store(true)
	prov := &fakeProvider{fn: func(ctx context.Context, call int64) (providers.Snapshot, error) {
		if fail.Load() {
			return providers.Snapshot{}, errors.New("upstream said 502")
		}
		return goodSnapshot(), nil
	}}
	// Every minute; backoff 1m, 2m, 4m, then capped at 4m.
	p := h.poller(Options{BackoffBase: time.Minute, BackoffMax: 4 * time.Minute},
		newJob("a", "* * * * *", prov))

	// minute of a run → consecutive failures after it and the minute before which no run
	// may start (next allowed = LastRun + min(base·2^(n-1), max)).
	type want struct{ failures, until int }
	runs := map[int]want{
		0:  {1, 1},  // +1m
		1:  {2, 3},  // +2m; minute 2 skipped
		3:  {3, 7},  // +4m; minutes 4-6 skipped
		7:  {4, 11}, // +8m capped to 4m
		11: {5, 15}, // +16m capped to 4m; then the upstream recovers
		15: {0, 0},  // success resets
		16: {0, 0},  // back on schedule
	}
	at := func(m int) time.Time { return t0.Add(time.Duration(m) * time.Minute) }
	check := func(m int) {
		t.Helper()
		w := runs[m]
		st := h.next("a")
		if !st.LastRun.Equal(at(m)) || st.ConsecutiveFailures != w.failures {
			t.Fatalf("minute %d: run at %s with %d failures, want %d", m, st.LastRun, st.ConsecutiveFailures, w.failures)
		}
		saved := h.st.state("a")
		wantUntil, wantNext := time.Time{}, at(m+1)
		if w.failures > 0 {
			wantUntil, wantNext = at(w.until), at(w.until)
			if st.LastErrorKind != "transient" {
				t.Fatalf("minute %d: kind %q", m, st.LastErrorKind)
			}
		}
		if !saved.BackoffUntil.Equal(wantUntil) || saved.ConsecutiveFailures != w.failures {
			t.Fatalf("minute %d: saved %+v, want BackoffUntil %s", m, saved, wantUntil)
		}
		if !st.NextRun.Equal(wantNext) {
			t.Fatalf("minute %d: NextRun %s, want %s", m, st.NextRun, wantNext)
		}
	}

	h.start(p)
	check(0)
	for m := 1; m <= 16; m++ {
		h.advance(time.Minute)
		if _, ok := runs[m]; ok {
			check(m)
		} else {
			h.settle()
			h.noStatus("a")
		}
		if m == 11 {
			fail.Store(false)
		}
	}
	if n := prov.calls.Load(); n != int64(len(runs)) {
		t.Fatalf("polls = %d, want %d", n, len(runs))
	}
	// RunNow ignores backoff.
	fail.Store(true)
	h.advance(time.Minute)
	h.next("a") // minute 17 fails: backoff until minute 18
	if !p.RunNow("a") {
		t.Fatal("RunNow refused during backoff")
	}
	if st := h.next("a"); st.ConsecutiveFailures != 2 {
		t.Fatalf("RunNow during backoff: %+v", st)
	}
}

func TestRateLimitedStaysAvailable(t *testing.T) {
	h := newHarness(t)
	prov := &fakeProvider{fn: func(ctx context.Context, call int64) (providers.Snapshot, error) {
		return providers.Snapshot{}, fmt.Errorf("%w: too many requests, retry in 10 minutes", providers.ErrRateLimited)
	}}
	p := h.poller(Options{UnavailableAfter: 2}, newJob("a", "@every 10m", prov))
	h.start(p)
	for i := 1; i <= 3; i++ {
		if i > 1 && !p.RunNow("a") {
			t.Fatal("RunNow refused")
		}
		st := h.next("a")
		if st.LastErrorKind != "rate_limited" || st.ConsecutiveFailures != i || st.State != StateFailing || !st.Available {
			t.Fatalf("failure %d: %+v", i, st)
		}
	}
}

func TestUnavailableAfterConsecutiveFailures(t *testing.T) {
	h := newHarness(t)
	var fail atomic.Bool
	fail.Store(true)
	prov := &fakeProvider{fn: func(ctx context.Context, call int64) (providers.Snapshot, error) {
		if fail.Load() {
			return providers.Snapshot{}, errors.New("connection refused")
		}
		return goodSnapshot(), nil
	}}
	p := h.poller(Options{UnavailableAfter: 3}, newJob("a", "@every 10m", prov))
	h.start(p)
	for i, want := range []bool{true, true, false, false} {
		if i > 0 && !p.RunNow("a") {
			t.Fatal("RunNow refused")
		}
		if st := h.next("a"); st.Available != want || st.ConsecutiveFailures != i+1 {
			t.Fatalf("after %d failures: %+v, want Available %v", i+1, st, want)
		}
	}
	fail.Store(false)
	p.RunNow("a")
	if st := h.next("a"); !st.Available || st.State != StateOK {
		t.Fatalf("after recovery: %+v", st)
	}
}

func TestAuthRetriesOnce(t *testing.T) {
	expired := fmt.Errorf("%w: token expired", providers.ErrAuth)
	t.Run("retry succeeds", func(t *testing.T) {
		h := newHarness(t)
		prov := &fakeProvider{fn: func(ctx context.Context, call int64) (providers.Snapshot, error) {
			if call == 1 {
				return providers.Snapshot{}, expired
			}
			return goodSnapshot(), nil
		}}
		p := h.poller(Options{}, newJob("a", "@every 10m", prov))
		h.start(p)
		if st := h.next("a"); st.State != StateOK || st.ConsecutiveFailures != 0 {
			t.Fatalf("status: %+v", st)
		}
		if n := prov.calls.Load(); n != 2 {
			t.Fatalf("polls = %d, want 2", n)
		}
		if runs := h.st.runsOf("a"); len(runs) != 1 || !runs[0].OK {
			t.Fatalf("runs = %+v, want one good run", runs)
		}
	})
	t.Run("retry fails", func(t *testing.T) {
		h := newHarness(t)
		prov := &fakeProvider{fn: func(ctx context.Context, call int64) (providers.Snapshot, error) {
			return providers.Snapshot{}, expired
		}}
		p := h.poller(Options{}, newJob("a", "@every 10m", prov))
		h.start(p)
		st := h.next("a")
		if st.LastErrorKind != "auth" || st.ConsecutiveFailures != 1 || prov.calls.Load() != 2 {
			t.Fatalf("status %+v after %d polls, want one auth failure after 2 polls", st, prov.calls.Load())
		}
		p.RunNow("a")
		if st := h.next("a"); st.ConsecutiveFailures != 2 || prov.calls.Load() != 4 {
			t.Fatalf("status %+v after %d polls, want 2 failures after 4 polls", st, prov.calls.Load())
		}
	})
	t.Run("retry hits a permanent error", func(t *testing.T) {
		h := newHarness(t)
		prov := &fakeProvider{fn: func(ctx context.Context, call int64) (providers.Snapshot, error) {
			if call == 1 {
				return providers.Snapshot{}, expired
			}
			return providers.Snapshot{}, providers.Permanent("wrong password: fix `password`")
		}}
		p := h.poller(Options{}, newJob("a", "@every 10m", prov))
		h.start(p)
		if st := h.next("a"); st.State != StateQuarantined || prov.calls.Load() != 2 {
			t.Fatalf("status %+v after %d polls", st, prov.calls.Load())
		}
	})
}

func TestQuarantine(t *testing.T) {
	h := newHarness(t)
	const instruction = "wrong service password (2 tries left): check `password`"
	var badPolls atomic.Int64
	bad := func() providers.Provider {
		return &fakeProvider{fn: func(ctx context.Context, call int64) (providers.Snapshot, error) {
			badPolls.Add(1)
			return providers.Snapshot{}, providers.Permanent(instruction)
		}}
	}
	jobs := func(fp string, badProv providers.Provider) []Job {
		b := newJob("bad", "@every 10m", badProv)
		b.Fingerprint = fp
		return []Job{b, newJob("good", "@every 10m", &fakeProvider{})}
	}

	p := h.poller(Options{}, jobs("fp1", bad())...)
	h.start(p)
	st := h.next("bad")
	if st.State != StateQuarantined || st.Available || !strings.Contains(st.LastError, instruction) || !st.NextRun.IsZero() {
		t.Fatalf("after permanent error: %+v", st)
	}
	if n := h.logs.count(slog.LevelError, "account quarantined: no more polls until its configuration changes"); n != 1 {
		t.Fatalf("quarantine logged %d times at error", n)
	}
	if msg, _ := h.logs.attr("account quarantined: no more polls until its configuration changes", "error"); !strings.Contains(msg, instruction) {
		t.Fatalf("quarantine log lacks the instruction: %q", msg)
	}
	saved := h.st.state("bad")
	if saved.QuarantineFingerprint != "fp1" || !strings.Contains(saved.QuarantineReason, instruction) {
		t.Fatalf("saved state: %+v", saved)
	}
	if p.RunNow("bad") {
		t.Fatal("RunNow polled a quarantined account")
	}
	h.next("good")
	for range 3 {
		h.advance(10 * time.Minute)
		h.next("good")
	}
	h.noStatus("bad")
	if n := badPolls.Load(); n != 1 {
		t.Fatalf("quarantined account polled %d times, want 1", n)
	}
	if err := p.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}

	// Restart with the same fingerprint: quarantined from the persisted state, no poll.
	badPolls.Store(0)
	p = h.poller(Options{}, jobs("fp1", bad())...)
	initial := h.start(p)
	if st := initial["bad"]; st.State != StateQuarantined || st.Available {
		t.Fatalf("after restart: %+v", st)
	}
	h.next("good") // the first run of every job has been fired
	if err := p.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	h.noStatus("bad")
	if n := badPolls.Load(); n != 0 {
		t.Fatalf("restart with the same fingerprint polled %d times", n)
	}

	// Restart with a changed fingerprint (the user fixed the password): polls again.
	p = h.poller(Options{}, jobs("fp2", &fakeProvider{})...)
	initial = h.start(p)
	if st := initial["bad"]; st.State == StateQuarantined || !st.Available {
		t.Fatalf("after config change: %+v", st)
	}
	if st := h.next("bad"); st.State != StateOK {
		t.Fatalf("first poll after config change: %+v", st)
	}
	if saved := h.st.state("bad"); saved.QuarantineFingerprint != "" || saved.ConsecutiveFailures != 0 {
		t.Fatalf("quarantine not lifted in the store: %+v", saved)
	}
}

func TestConcurrencyLimit(t *testing.T) {
	h := newHarness(t)
	const jobs, limit = 10, 3
	var inFlight, maxInFlight atomic.Int64
	entered := make(chan struct{})
	release := make(chan struct{})
	prov := func() providers.Provider {
		return &fakeProvider{fn: func(ctx context.Context, call int64) (providers.Snapshot, error) {
			n := inFlight.Add(1)
			for m := maxInFlight.Load(); n > m && !maxInFlight.CompareAndSwap(m, n); m = maxInFlight.Load() {
			}
			entered <- struct{}{}
			<-release
			inFlight.Add(-1)
			return goodSnapshot(), nil
		}}
	}
	var js []Job
	for i := range jobs {
		js = append(js, newJob(fmt.Sprintf("a%d", i), "@every 10m", prov()))
	}
	p := h.poller(Options{Concurrency: limit}, js...)
	h.start(p)

	for range limit {
		await(t, entered, "a poll to start")
	}
	// Each release lets exactly one poll end, which frees one slot for the next.
	for range jobs - limit {
		release <- struct{}{}
		await(t, entered, "a poll to start")
	}
	for range limit {
		release <- struct{}{}
	}
	for _, j := range js {
		if st := h.next(j.Account); st.State != StateOK {
			t.Fatalf("%s: %+v", j.Account, st)
		}
	}
	if m := maxInFlight.Load(); m != limit {
		t.Fatalf("max polls in flight = %d, want %d", m, limit)
	}
}

func TestTimeout(t *testing.T) {
	h := newHarness(t)
	prov := &fakeProvider{fn: func(ctx context.Context, call int64) (providers.Snapshot, error) {
		<-ctx.Done()
		return providers.Snapshot{}, ctx.Err()
	}}
	j := newJob("a", "@every 10m", prov)
	j.Timeout = 20 * time.Millisecond // real time: the context deadline is not on the fake clock
	p := h.poller(Options{}, j)
	h.start(p)
	st := h.next("a")
	if st.LastErrorKind != KindTimeout || st.State != StateFailing || !strings.Contains(st.LastError, "timed out") {
		t.Fatalf("status: %+v", st)
	}
	if runs := h.st.runsOf("a"); len(runs) != 1 || runs[0].ErrorKind != KindTimeout {
		t.Fatalf("runs = %+v", runs)
	}
}

// A deadline inside the poll (an HTTP request's own timeout) is a timeout too, but the
// poll's deadline did not pass, so the status must not say it did.
func TestRequestTimeoutInsidePoll(t *testing.T) {
	h := newHarness(t)
	prov := &fakeProvider{fn: func(ctx context.Context, call int64) (providers.Snapshot, error) {
		return providers.Snapshot{}, fmt.Errorf("query: no answer within the request timeout of 30s: %w", context.DeadlineExceeded)
	}}
	p := h.poller(Options{}, newJob("a", "@every 10m", prov))
	h.start(p)
	st := h.next("a")
	if st.LastErrorKind != KindTimeout || st.LastError != "query: no answer within the request timeout of 30s: context deadline exceeded" {
		t.Fatalf("status: %+v", st)
	}
}

func TestShutdownWaitsForInFlightPoll(t *testing.T) {
	h := newHarness(t)
	entered := make(chan struct{})
	release := make(chan struct{})
	var finished atomic.Bool
	prov := &fakeProvider{fn: func(ctx context.Context, call int64) (providers.Snapshot, error) {
		close(entered)
		<-release
		finished.Store(true)
		return goodSnapshot(), nil
	}}
	p := h.poller(Options{}, newJob("a", "@every 10m", prov))
	h.start(p)
	<-entered

	errc := make(chan error, 1)
	go func() { errc <- p.Shutdown(context.Background()) }()
	select {
	case err := <-errc:
		t.Fatalf("Shutdown returned %v with a poll in flight", err)
	default:
	}
	close(release)
	if err := await(t, errc, "Shutdown"); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if !finished.Load() {
		t.Fatal("Shutdown returned before the poll finished")
	}
	// The finished poll was recorded before Shutdown returned.
	if st := h.next("a"); st.State != StateOK {
		t.Fatalf("status: %+v", st)
	}
	if p.RunNow("a") {
		t.Fatal("RunNow after Shutdown")
	}
}

func TestShutdownCancelsWhenContextExpires(t *testing.T) {
	h := newHarness(t)
	entered := make(chan struct{})
	var sawCancel atomic.Bool
	prov := &fakeProvider{fn: func(ctx context.Context, call int64) (providers.Snapshot, error) {
		close(entered)
		<-ctx.Done()
		sawCancel.Store(errors.Is(ctx.Err(), context.Canceled))
		return providers.Snapshot{}, ctx.Err()
	}}
	p := h.poller(Options{}, newJob("a", "@every 10m", prov))
	h.start(p)
	<-entered

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := p.Shutdown(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Shutdown = %v, want context.Canceled", err)
	}
	if !sawCancel.Load() {
		t.Fatal("the poll's context was not cancelled")
	}
	// A poll cut short by Shutdown is not the account's failure.
	h.noStatus("a")
	if saved := h.st.state("a"); saved.ConsecutiveFailures != 0 || !saved.BackoffUntil.IsZero() {
		t.Fatalf("saved state after cancelled poll: %+v", saved)
	}
}

func TestShutdownDropsPollsWaitingForASlot(t *testing.T) {
	h := newHarness(t)
	entered := make(chan string, 2)
	mk := func(name string) *fakeProvider {
		return &fakeProvider{fn: func(ctx context.Context, call int64) (providers.Snapshot, error) {
			entered <- name
			<-ctx.Done()
			return providers.Snapshot{}, ctx.Err()
		}}
	}
	a, b := mk("a"), mk("b")
	p := h.poller(Options{Concurrency: 1}, newJob("a", "@every 10m", a), newJob("b", "@every 10m", b))
	h.start(p)
	first := <-entered // the other job waits for the only slot

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := p.Shutdown(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Shutdown = %v", err)
	}
	// The cancelled poll freed the slot, but no poll may start once Shutdown began.
	if total := a.calls.Load() + b.calls.Load(); total != 1 {
		t.Fatalf("polls = %d after %s got the slot, want 1", total, first)
	}
}

func TestRestartRespectsBackoff(t *testing.T) {
	h := newHarness(t)
	h.st.states["a"] = storeState("a", 3, t0.Add(-time.Minute), t0.Add(5*time.Minute))
	prov := &fakeProvider{}
	p := h.poller(Options{}, newJob("a", "* * * * *", prov))
	initial := h.start(p)
	if st := initial["a"]; st.State != StateFailing || !st.NextRun.Equal(t0.Add(5*time.Minute)) {
		t.Fatalf("at start: %+v", st)
	}
	for range 4 {
		h.advance(time.Minute)
	}
	h.settle()
	if n := prov.calls.Load(); n != 0 {
		t.Fatalf("polled %d times during the persisted backoff", n)
	}
	h.advance(time.Minute)
	if st := h.next("a"); st.State != StateOK || !st.LastRun.Equal(t0.Add(5*time.Minute)) {
		t.Fatalf("after backoff: %+v", st)
	}
}

func TestLogsOncePerTransition(t *testing.T) {
	h := newHarness(t)
	var fail atomic.Bool
	fail.Store(true)
	prov := &fakeProvider{fn: func(ctx context.Context, call int64) (providers.Snapshot, error) {
		if fail.Load() {
			return providers.Snapshot{}, errors.New("upstream said 502")
		}
		return goodSnapshot(), nil
	}}
	p := h.poller(Options{}, newJob("a", "@every 10m", prov))
	h.start(p)
	h.next("a")
	for range 3 {
		p.RunNow("a")
		h.next("a")
	}
	fail.Store(false)
	p.RunNow("a")
	h.next("a")
	if n := h.logs.count(slog.LevelWarn, "poll failed"); n != 1 {
		t.Errorf("warn logs = %d, want 1", n)
	}
	if n := h.logs.count(slog.LevelDebug, "poll failed again"); n != 3 {
		t.Errorf("debug repeats = %d, want 3", n)
	}
	if n := h.logs.count(slog.LevelInfo, "account recovered"); n != 1 {
		t.Errorf("recovery logs = %d, want 1", n)
	}
}

func TestRedactsErrorMessages(t *testing.T) {
	h := newHarness(t)
	prov := &fakeProvider{fn: func(ctx context.Context, call int64) (providers.Snapshot, error) {
		return providers.Snapshot{}, errors.New("login failed for token=s3cr3t")
	}}
	redact := func(s string) string { return strings.ReplaceAll(s, "s3cr3t", "***") }
	p := h.poller(Options{Redact: redact}, newJob("a", "@every 10m", prov))
	h.start(p)
	st := h.next("a")
	if strings.Contains(st.LastError, "s3cr3t") || !strings.Contains(st.LastError, "***") {
		t.Fatalf("status error not redacted: %q", st.LastError)
	}
	if saved := h.st.state("a"); strings.Contains(saved.LastError, "s3cr3t") {
		t.Fatalf("stored error not redacted: %q", saved.LastError)
	}
	if runs := h.st.runsOf("a"); strings.Contains(runs[0].Message, "s3cr3t") {
		t.Fatalf("run message not redacted: %q", runs[0].Message)
	}
	if msg, _ := h.logs.attr("poll failed", "error"); strings.Contains(msg, "s3cr3t") {
		t.Fatalf("log not redacted: %q", msg)
	}
}

func TestStatusesSorted(t *testing.T) {
	h := newHarness(t)
	p := h.poller(Options{}, newJob("b", "@hourly", &fakeProvider{}), newJob("a", "@hourly", &fakeProvider{}))
	h.start(p)
	h.next("a")
	h.next("b")
	sts := p.Statuses()
	if len(sts) != 2 || sts[0].Account != "a" || sts[1].Account != "b" {
		t.Fatalf("Statuses = %+v", sts)
	}
	if p.RunNow("nope") {
		t.Fatal("RunNow of an unknown account")
	}
	// One account's status is the same as in the list.
	if st, ok := p.Status("b"); !ok || st != sts[1] {
		t.Fatalf("Status(b) = %+v, %v; want %+v", st, ok, sts[1])
	}
	if _, ok := p.Status("nope"); ok {
		t.Fatal("Status of an unknown account")
	}
}

func TestNoGoroutineLeak(t *testing.T) {
	before := runtime.NumGoroutine()
	h := newHarness(t)
	var js []Job
	for i := range 5 {
		js = append(js, newJob(fmt.Sprintf("a%d", i), "@every 10m", &fakeProvider{}))
	}
	p := h.poller(Options{Concurrency: 2}, js...)
	h.start(p)
	for range 3 {
		for _, j := range js {
			h.next(j.Account)
		}
		h.advance(10 * time.Minute)
	}
	if err := p.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	// Goroutines that called wg.Done may still be unwinding; let them finish.
	for deadline := time.Now().Add(failsafe); runtime.NumGoroutine() > before && time.Now().Before(deadline); {
		runtime.Gosched()
	}
	if after := runtime.NumGoroutine(); after > before {
		buf := make([]byte, 1<<16)
		t.Fatalf("goroutines: %d before, %d after Shutdown\n%s", before, after, buf[:runtime.Stack(buf, true)])
	}
}

// heldResults holds every Snapshot until release is closed, telling entered first.
type heldResults struct {
	*recorder
	entered chan struct{}
	release chan struct{}
}

func (r *heldResults) Snapshot(ctx context.Context, s providers.Snapshot) {
	r.entered <- struct{}{}
	<-r.release
	r.recorder.Snapshot(ctx, s)
}

// A run's outcome shows in Status and Statuses only once it is reported: bridge/info
// lists an account's status beside its published devices, so "ok" before the snapshot is
// out would list an account as polled without its devices.
func TestStatusShowsARunOnceReported(t *testing.T) {
	h := newHarness(t)
	res := &heldResults{recorder: h.rec, entered: make(chan struct{}, 1), release: make(chan struct{})}
	p := h.poller(Options{Results: res}, newJob("a", "@every 10m", &fakeProvider{}))
	release := sync.OnceFunc(func() { close(res.release) })
	t.Cleanup(release) // before the poller's Shutdown, which waits for the held snapshot
	h.start(p)

	await(t, res.entered, "snapshot of the first run")
	if st, _ := p.Status("a"); st.State != StatePending || !st.LastRun.IsZero() {
		t.Fatalf("Status while the first snapshot is being published = %+v, want pending", st)
	}
	if sts := p.Statuses(); len(sts) != 1 || sts[0].State != StatePending {
		t.Fatalf("Statuses while the first snapshot is being published = %+v, want pending", sts)
	}
	release()
	reported := h.next("a")
	if reported.State != StateOK || !reported.LastOK.Equal(t0) {
		t.Fatalf("reported status = %+v, want ok", reported)
	}
	if st, _ := p.Status("a"); st != reported {
		t.Fatalf("Status after the report = %+v, want the reported %+v", st, reported)
	}
}
