package poller

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/accountbridge/accountbridge/internal/clock"
	"github.com/accountbridge/accountbridge/internal/providers"
	"github.com/accountbridge/accountbridge/internal/store"
)

// t0 is a Monday noon, on a minute and hour boundary, so cron slots are easy to read.
var t0 = time.Date(2025, 1, 6, 12, 0, 0, 0, time.UTC)

// failsafe only keeps a broken test from hanging; nothing waits for it in a passing run.
const failsafe = 30 * time.Second

func await[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(failsafe):
		t.Fatalf("gave up waiting for %s", what)
		panic("unreachable")
	}
}

// memStore is an in-memory StateStore.
type memStore struct {
	mu     sync.Mutex
	states map[string]store.AccountState
	runs   []store.Run
}

func newMemStore() *memStore { return &memStore{states: map[string]store.AccountState{}} }

func (m *memStore) AccountState(_ context.Context, account string) (store.AccountState, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	st, ok := m.states[account]
	return st, ok, nil
}

func (m *memStore) SaveAccountState(_ context.Context, st store.AccountState) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.states[st.Account] = st
	return nil
}

func (m *memStore) RecordRun(_ context.Context, r store.Run) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.runs = append(m.runs, r)
	return nil
}

func (m *memStore) state(account string) store.AccountState {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.states[account]
}

func (m *memStore) runsOf(account string) []store.Run {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []store.Run
	for _, r := range m.runs {
		if r.Account == account {
			out = append(out, r)
		}
	}
	return out
}

// recorder is a Results with one channel per account.
type recorder struct {
	mu       sync.Mutex
	statuses map[string]chan Status
	snaps    map[string]chan providers.Snapshot
}

func newRecorder() *recorder {
	return &recorder{statuses: map[string]chan Status{}, snaps: map[string]chan providers.Snapshot{}}
}

func (r *recorder) statusCh(account string) chan Status {
	r.mu.Lock()
	defer r.mu.Unlock()
	ch := r.statuses[account]
	if ch == nil {
		ch = make(chan Status, 1000)
		r.statuses[account] = ch
	}
	return ch
}

func (r *recorder) snapCh(account string) chan providers.Snapshot {
	r.mu.Lock()
	defer r.mu.Unlock()
	ch := r.snaps[account]
	if ch == nil {
		ch = make(chan providers.Snapshot, 1000)
		r.snaps[account] = ch
	}
	return ch
}

func (r *recorder) Status(_ context.Context, st Status) { r.statusCh(st.Account) <- st }
func (r *recorder) Snapshot(_ context.Context, s providers.Snapshot) {
	r.snapCh(s.Account) <- s
}

// fakeProvider counts its polls and answers with fn (a good snapshot when fn is nil).
type fakeProvider struct {
	calls atomic.Int64
	fn    func(ctx context.Context, call int64) (providers.Snapshot, error)
}

func (f *fakeProvider) Poll(ctx context.Context) (providers.Snapshot, error) {
	n := f.calls.Add(1)
	if f.fn == nil {
		return goodSnapshot(), nil
	}
	return f.fn(ctx, n)
}

func goodSnapshot() providers.Snapshot {
	return providers.Snapshot{Devices: []providers.Device{{ID: "fake_dev", Values: map[string]any{"v": 1}}}}
}

// logCapture is a slog.Handler that keeps every record.
type logCapture struct {
	mu      sync.Mutex
	records []slog.Record
}

func (l *logCapture) Enabled(context.Context, slog.Level) bool { return true }
func (l *logCapture) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.records = append(l.records, r.Clone())
	return nil
}
func (l *logCapture) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *logCapture) WithGroup(string) slog.Handler      { return l }

// count returns how many records have this level and message.
func (l *logCapture) count(level slog.Level, msg string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, r := range l.records {
		if r.Level == level && r.Message == msg {
			n++
		}
	}
	return n
}

// attr returns the value of key in the first record with msg.
func (l *logCapture) attr(msg, key string) (string, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, r := range l.records {
		if r.Message != msg {
			continue
		}
		var val string
		found := false
		r.Attrs(func(a slog.Attr) bool {
			if a.Key == key {
				val, found = a.Value.String(), true
				return false
			}
			return true
		})
		return val, found
	}
	return "", false
}

// harness wires a Poller to a fake clock, an in-memory store and a recorder.
type harness struct {
	t    *testing.T
	clk  *clock.Fake
	st   *memStore
	rec  *recorder
	logs *logCapture
}

func newHarness(t *testing.T) *harness {
	return &harness{t: t, clk: clock.NewFake(t0), st: newMemStore(), rec: newRecorder(), logs: &logCapture{}}
}

// poller builds a Poller on the harness; it is shut down when the test ends.
func (h *harness) poller(opts Options, jobs ...Job) *Poller {
	h.t.Helper()
	if opts.Clock == nil {
		opts.Clock = h.clk
	}
	if opts.Results == nil {
		opts.Results = h.rec
	}
	if opts.State == nil {
		opts.State = h.st
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(h.logs)
	}
	p, err := New(opts, jobs)
	if err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(func() { _ = p.Shutdown(context.Background()) })
	return p
}

// start starts p and returns the Status reported at Start for every job.
func (h *harness) start(p *Poller) map[string]Status {
	h.t.Helper()
	p.Start(context.Background())
	out := map[string]Status{}
	for _, j := range p.jobs {
		out[j.Account] = h.next(j.Account)
	}
	return out
}

// next awaits the next Status of account.
func (h *harness) next(account string) Status {
	h.t.Helper()
	return await(h.t, h.rec.statusCh(account), "status of "+account)
}

// noStatus asserts that no Status of account is pending.
func (h *harness) noStatus(account string) {
	h.t.Helper()
	select {
	case st := <-h.rec.statusCh(account):
		h.t.Fatalf("unexpected status of %s: %+v", account, st)
	default:
	}
}

// advance moves the clock once the loop is waiting on it, so no wake-up is missed.
func (h *harness) advance(d time.Duration) {
	h.t.Helper()
	h.clk.WaitForWaiters(1)
	h.clk.Advance(d)
}

// settle returns once the loop has handled the last advance and is waiting again.
func (h *harness) settle() { h.clk.WaitForWaiters(1) }

func newJob(account string, spec string, prov providers.Provider) Job {
	s, err := ParseSchedule(spec)
	if err != nil {
		panic(err)
	}
	return Job{Account: account, Provider: prov, Schedule: s, Fingerprint: "fp1"}
}

func storeState(account string, failures int, lastRun, backoffUntil time.Time) store.AccountState {
	return store.AccountState{
		Account: account, ConsecutiveFailures: failures, LastRun: lastRun,
		LastErrorKind: "transient", LastError: "upstream said 502", BackoffUntil: backoffUntil,
	}
}
