// Package poller runs one job per account: an immediate first poll, then polls on the
// account's cron schedule shifted by a fixed random phase, with a per-run timeout,
// skip-if-running, exponential backoff, a quarantine for permanent errors and a global
// limit of polls in flight.
//
// robfig/cron parses the schedules and computes Next; the scheduling loop is our own so
// it runs on an injected clock.Clock and tests can drive it with clock.Fake.
package poller

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sort"
	"sync"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/accountbridge/accountbridge/internal/clock"
	"github.com/accountbridge/accountbridge/internal/providers"
	"github.com/accountbridge/accountbridge/internal/store"
)

// Account states reported in Status.State.
const (
	StateOK          = "ok"
	StateFailing     = "failing"
	StateQuarantined = "quarantined"
	StatePending     = "pending" // never polled yet
	// StateDisabled (control.go): paused from the web UI.
)

// Error kinds the poller adds to those of providers.Kind.
const (
	KindPanic   = "panic"
	KindTimeout = "timeout"
)

const (
	defaultTimeout     = 60 * time.Second
	maxAutoJitter      = 5 * time.Minute
	bookkeepingTimeout = 30 * time.Second
)

// Job is one account to poll.
type Job struct {
	Account     string
	Provider    providers.Provider
	Schedule    cron.Schedule
	Timeout     time.Duration // per run (context deadline); 0 = 60s
	Jitter      time.Duration // max phase offset; negative = automatic: 10% of Interval capped at 5m; 0 = none
	Fingerprint string        // config fingerprint; a quarantine persists only while it is unchanged
}

// Results is what the poller reports to. The daemon wires it to the store, the MQTT
// publisher and the alert engine. It must be safe for concurrent use: runs of different
// accounts report concurrently (runs of one account report in order).
type Results interface {
	// Snapshot is called after every successful poll.
	Snapshot(ctx context.Context, snap providers.Snapshot)
	// Status is called after every run (success or failure) and once per job at Start
	// (from the persisted state).
	Status(ctx context.Context, st Status)
}

// Status is the current state of one account's job.
type Status struct {
	Account string
	State   string // StateOK, StateFailing, StateQuarantined, StatePending
	// Available is false when quarantined, or when ConsecutiveFailures >= UnavailableAfter
	// and the last failure was not a rate limit (rate limits keep the last good values).
	Available           bool
	ConsecutiveFailures int
	LastRun, LastOK     time.Time
	LastErrorKind       string
	LastError           string    // redacted
	NextRun             time.Time // zero when quarantined or disabled
	BackoffUntil        time.Time // no scheduled poll before this (after failures)
	// SkippedRunning counts scheduled runs skipped since Start because the previous run of
	// the job was still going (a schedule too tight for the upstream).
	SkippedRunning int
}

// StateStore persists what the poller must remember across restarts. *store.Store
// implements it.
type StateStore interface {
	AccountState(ctx context.Context, account string) (store.AccountState, bool, error)
	SaveAccountState(ctx context.Context, st store.AccountState) error
	RecordRun(ctx context.Context, r store.Run) error
}

// Options configure a Poller. Results and State are required.
type Options struct {
	Clock            clock.Clock         // default clock.Real{}
	Logger           *slog.Logger        // default discard
	Results          Results             // required
	State            StateStore          // required
	Concurrency      int                 // global limit of polls in flight, default 8
	BackoffBase      time.Duration       // default 1m
	BackoffMax       time.Duration       // default 6h
	UnavailableAfter int                 // default 2
	Rand             func(n int64) int64 // random in [0,n) for jitter (n in nanoseconds); default math/rand/v2
	Redact           func(string) string // applied to error messages before they are logged/stored/reported; default identity
}

// job is a Job with its runtime state.
type job struct {
	Job
	offset time.Duration // fixed phase offset in [0, Jitter], whole seconds

	// reportMu serialises the reporting of one job's runs, so Results and the store see
	// them in order even though the job is runnable again before reporting ends.
	reportMu sync.Mutex

	// Guarded by Poller.mu.
	state      store.AccountState // the scheduling truth: set as soon as a run ends
	paused     bool               // SetEnabled(false): no polls until resumed or restarted
	running    bool
	next       time.Time // next scheduled run; zero when never again
	first      bool      // next is the immediate run at Start
	skipped    int
	lastLogged string // kind and message of the last failure logged above debug

	// What Status shows, also guarded by Poller.mu: state as of the last run whose report
	// is out. finish sets it once the run's snapshot is published, so a reader of Statuses
	// (bridge/info, the web UI) never sees an account "ok" before its devices are.
	shown store.AccountState
}

// Poller runs the jobs. Create it with New, then Start it; Shutdown ends it.
type Poller struct {
	opts      Options
	clock     clock.Clock
	log       *slog.Logger
	jobs      []*job // sorted by account
	byAccount map[string]*job
	sem       chan struct{}
	stop      chan struct{} // closed when scheduling stops
	wake      chan struct{} // a job became due earlier than the loop's timer (Lift, SetEnabled)
	wg        sync.WaitGroup

	mu         sync.Mutex
	started    bool // Start was called
	loaded     bool // persisted state is loaded: RunNow may poll
	stopping   bool
	polling    int                // polls in progress (between semaphore and return)
	queue      []*job             // runs due but waiting for a concurrency slot (FIFO)
	baseCtx    context.Context    // Start's ctx without its cancellation: for bookkeeping
	runCtx     context.Context    // parent of poll contexts; cancelled by Shutdown
	cancelRuns context.CancelFunc // cancels runCtx
}

// New validates the jobs and builds a Poller. It does no I/O.
func New(opts Options, jobs []Job) (*Poller, error) {
	if opts.Results == nil {
		return nil, errors.New("poller: Options.Results is required")
	}
	if opts.State == nil {
		return nil, errors.New("poller: Options.State is required")
	}
	if opts.Clock == nil {
		opts.Clock = clock.Real{}
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Concurrency <= 0 {
		opts.Concurrency = 8
	}
	if opts.BackoffBase <= 0 {
		opts.BackoffBase = time.Minute
	}
	if opts.BackoffMax <= 0 {
		opts.BackoffMax = 6 * time.Hour
	}
	if opts.BackoffMax < opts.BackoffBase {
		opts.BackoffMax = opts.BackoffBase
	}
	if opts.UnavailableAfter <= 0 {
		opts.UnavailableAfter = 2
	}
	if opts.Rand == nil {
		opts.Rand = rand.Int64N
	}
	if opts.Redact == nil {
		opts.Redact = func(s string) string { return s }
	}

	p := &Poller{
		opts:      opts,
		clock:     opts.Clock,
		log:       opts.Logger,
		byAccount: make(map[string]*job, len(jobs)),
		sem:       make(chan struct{}, opts.Concurrency),
		stop:      make(chan struct{}),
		wake:      make(chan struct{}, 1),
	}
	now := opts.Clock.Now()
	for i, jb := range jobs {
		switch {
		case jb.Account == "":
			return nil, fmt.Errorf("poller: job %d has no account", i)
		case jb.Provider == nil:
			return nil, fmt.Errorf("poller: account %s: no provider", jb.Account)
		case jb.Schedule == nil:
			return nil, fmt.Errorf("poller: account %s: no schedule", jb.Account)
		case jb.Timeout < 0:
			return nil, fmt.Errorf("poller: account %s: negative timeout %s", jb.Account, jb.Timeout)
		case p.byAccount[jb.Account] != nil:
			return nil, fmt.Errorf("poller: account %s: duplicate job", jb.Account)
		}
		if jb.Timeout == 0 {
			jb.Timeout = defaultTimeout
		}
		j := &job{Job: jb}
		jitter := jb.Jitter
		if jitter < 0 {
			jitter = min(Interval(jb.Schedule, now)/10, maxAutoJitter)
		}
		if jitter > 0 {
			// Whole seconds: cron schedules have second resolution, and @every truncates
			// sub-second parts, which would otherwise nudge the phase on the first runs.
			off := time.Duration(opts.Rand(int64(jitter) + 1))
			j.offset = min(max(off, 0), jitter).Truncate(time.Second)
		}
		p.jobs = append(p.jobs, j)
		p.byAccount[jb.Account] = j
	}
	sort.Slice(p.jobs, func(a, b int) bool { return p.jobs[a].Account < p.jobs[b].Account })
	return p, nil
}

// Start loads the persisted state of every job, reports a Status per job and starts the
// scheduling loop. ctx's values reach the polls; cancelling ctx stops scheduling (like
// Shutdown) but does not cancel polls in flight: call Shutdown to wait for them.
func (p *Poller) Start(ctx context.Context) {
	p.mu.Lock()
	if p.started || p.stopping {
		p.mu.Unlock()
		return
	}
	p.started = true
	p.baseCtx = context.WithoutCancel(ctx)
	p.runCtx, p.cancelRuns = context.WithCancel(p.baseCtx)
	p.mu.Unlock()

	now := p.clock.Now()
	for _, j := range p.jobs {
		p.load(ctx, j, now)
	}
	for _, j := range p.jobs {
		p.mu.Lock()
		st := p.statusLocked(j)
		p.mu.Unlock()
		p.opts.Results.Status(ctx, st)
	}

	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stopping { // Shutdown ran meanwhile: it may already be waiting on wg
		return
	}
	p.loaded = true
	p.wg.Add(1)
	go p.loop(ctx)
}

// load restores a job's persisted state and decides its first run.
func (p *Poller) load(ctx context.Context, j *job, now time.Time) {
	st, ok, err := p.opts.State.AccountState(ctx, j.Account)
	if err != nil {
		// Polling with a fresh state beats not polling; the provider's login guard still
		// protects the upstream.
		p.log.Error("cannot load account state; starting fresh", "account", j.Account, "error", err)
	}
	if err != nil || !ok {
		st = store.AccountState{}
	}
	st.Account = j.Account

	quarantined := false
	if st.QuarantineFingerprint != "" {
		if st.QuarantineFingerprint == fingerprintKey(j.Fingerprint) {
			quarantined = true
			p.log.Error("account stays quarantined until its configuration changes; no polls",
				"account", j.Account, "reason", st.QuarantineReason)
		} else {
			p.log.Info("account configuration changed; lifting its quarantine",
				"account", j.Account, "reason", st.QuarantineReason)
			st.QuarantineFingerprint, st.QuarantineReason = "", ""
			st.ConsecutiveFailures = 0
			st.LastErrorKind, st.LastError = "", ""
			st.BackoffUntil = time.Time{}
		}
	}

	p.mu.Lock()
	defer p.mu.Unlock()
	j.state = st
	j.shown = st
	switch {
	case quarantined:
		j.next = time.Time{}
	case now.Before(st.BackoffUntil):
		// A restart must not bypass a backoff (a crash loop would hammer the upstream):
		// start on the schedule and let the loop skip slots until the backoff is over.
		j.next = j.slotAfter(now.Add(j.offset))
		p.log.Info("account is backing off; first poll delayed",
			"account", j.Account, "until", st.BackoffUntil)
	default:
		j.next = now
		j.first = true
	}
}

// fingerprintKey maps an empty fingerprint to a non-empty key, because an empty
// QuarantineFingerprint means "not quarantined".
func fingerprintKey(fp string) string {
	if fp == "" {
		return "(none)"
	}
	return fp
}

// quarantinedState reports whether st is quarantined: a quarantine always carries its
// fingerprint key, which is never empty.
func quarantinedState(st store.AccountState) bool { return st.QuarantineFingerprint != "" }

// quarantined reports whether j is quarantined: no polls until Lift or a configuration
// change. p.mu must be held.
func (j *job) quarantined() bool { return quarantinedState(j.state) }

// slotAfter is the first slot of the job's phase-shifted schedule after t.
func (j *job) slotAfter(t time.Time) time.Time {
	n := j.Schedule.Next(t.Add(-j.offset))
	if n.IsZero() {
		return n
	}
	return n.Add(j.offset)
}

// advance moves j.next past now. Missed slots (the clock jumped, the host slept) collapse
// into one run. The immediate run at Start stands for the slot at Start+offset, so the
// first scheduled run is a full period later rather than seconds after it.
func (j *job) advance(now time.Time) {
	prev := j.next
	if j.first {
		prev = prev.Add(j.offset)
		j.first = false
	}
	n := j.slotAfter(prev)
	if !n.IsZero() && !n.After(now) {
		n = j.slotAfter(now)
	}
	j.next = n
}

// loop fires due jobs and sleeps on the clock until the earliest next run. It re-arms the
// timer only after it fired, so exactly one clock waiter is pending while idle (tests
// rely on that with clock.Fake.WaitForWaiters).
func (p *Poller) loop(ctx context.Context) {
	defer p.wg.Done()
	var timer <-chan time.Time
	var timerAt time.Time
	for {
		now := p.clock.Now()
		earliest := p.fire(now)
		if !earliest.IsZero() && (timer == nil || earliest.Before(timerAt)) {
			timer, timerAt = p.clock.After(earliest.Sub(now)), earliest
		}
		select {
		case <-timer:
			timer = nil
		case <-p.wake:
		case <-p.stop:
			return
		case <-ctx.Done():
			p.beginStop()
			return
		}
	}
}

// fire starts the runs that are due at now and returns the earliest next run.
func (p *Poller) fire(now time.Time) time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	var earliest time.Time
	if p.stopping {
		return earliest
	}
	for _, j := range p.jobs {
		if j.quarantined() || j.paused || j.next.IsZero() {
			continue
		}
		if !j.next.After(now) {
			j.advance(now)
			switch {
			case j.running:
				j.skipped++
				p.log.Debug("previous run still going; skipping this one",
					"account", j.Account, "skipped", j.skipped)
			case now.Before(j.state.BackoffUntil):
				p.log.Debug("backing off; skipping this run",
					"account", j.Account, "until", j.state.BackoffUntil)
			default:
				p.spawnLocked(j)
			}
			if j.next.IsZero() {
				p.log.Warn("schedule has no further runs", "account", j.Account)
				continue
			}
		}
		if earliest.IsZero() || j.next.Before(earliest) {
			earliest = j.next
		}
	}
	return earliest
}

// spawnLocked starts one run of j: in its own goroutine when a concurrency slot is free,
// else it queues j and the goroutine whose run ends next starts it. Runs waiting for a
// slot are not goroutines: with thousands of accounts due at once, parked goroutines
// would cost a stack each. p.mu must be held and the poller not stopping (so wg.Add
// cannot race with Shutdown's Wait).
func (p *Poller) spawnLocked(j *job) {
	j.running = true
	select {
	case p.sem <- struct{}{}:
		p.wg.Add(1)
		go p.run(j)
	default:
		p.queue = append(p.queue, j)
	}
}

// nextLocked returns the queued run that inherits the caller's concurrency slot, or frees
// the slot and returns nil. p.mu must be held.
func (p *Poller) nextLocked() *job {
	if !p.stopping && len(p.queue) > 0 {
		j := p.queue[0]
		p.queue[0] = nil
		p.queue = p.queue[1:]
		if len(p.queue) == 0 {
			p.queue = nil
		}
		return j
	}
	<-p.sem
	return nil
}

// RunNow triggers an immediate poll of account, ignoring its backoff. It returns false
// when the account is unknown or quarantined, a run of it is already going, or the
// poller is not running.
func (p *Poller) RunNow(account string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	j := p.byAccount[account]
	if j == nil || !p.loaded || p.stopping || j.quarantined() || j.paused || j.running {
		return false
	}
	p.spawnLocked(j)
	return true
}

// Status returns the current status of one job; false for an account it has no job of.
func (p *Poller) Status(account string) (Status, bool) {
	j := p.byAccount[account] // not changed after New
	if j == nil {
		return Status{}, false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.statusLocked(j), true
}

// Statuses returns the current status of every job, sorted by account.
func (p *Poller) Statuses() []Status {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]Status, 0, len(p.jobs))
	for _, j := range p.jobs {
		out = append(out, p.statusLocked(j))
	}
	return out
}

// Shutdown stops scheduling and waits for the polls in flight. When ctx is done first it
// cancels their contexts, waits for them to return and returns ctx.Err(). Polls waiting
// for a concurrency slot are dropped. Results of completed polls are still recorded.
func (p *Poller) Shutdown(ctx context.Context) error {
	p.beginStop()
	done := make(chan struct{})
	go func() {
		p.wg.Wait()
		close(done)
	}()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		p.mu.Lock()
		inFlight := p.polling
		p.mu.Unlock()
		p.cancel()
		<-done
		if inFlight > 0 {
			err = ctx.Err()
		}
	}
	p.cancel() // release the context's resources
	return err
}

func (p *Poller) beginStop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.stopping {
		p.stopping = true
		close(p.stop)
	}
	// Runs still waiting for a slot are dropped: nothing happened yet.
	for _, j := range p.queue {
		j.running = false
	}
	p.queue = nil
}

func (p *Poller) cancel() {
	p.mu.Lock()
	cancel := p.cancelRuns
	p.mu.Unlock()
	if cancel != nil {
		cancel()
	}
}

// statusLocked builds j's Status from what it shows. p.mu must be held.
func (p *Poller) statusLocked(j *job) Status {
	st := j.shown
	quarantined := quarantinedState(st)
	s := Status{
		Account:             j.Account,
		ConsecutiveFailures: st.ConsecutiveFailures,
		LastRun:             st.LastRun,
		LastOK:              st.LastOK,
		LastErrorKind:       st.LastErrorKind,
		LastError:           st.LastError,
		BackoffUntil:        st.BackoffUntil,
		SkippedRunning:      j.skipped,
	}
	switch {
	case j.paused:
		s.State = StateDisabled
	case quarantined:
		s.State = StateQuarantined
		if s.LastError == "" {
			s.LastError = st.QuarantineReason
		}
	case st.ConsecutiveFailures > 0:
		s.State = StateFailing
	case st.LastRun.IsZero():
		s.State = StatePending
	default:
		s.State = StateOK
	}
	s.Available = !quarantined && !j.paused &&
		(st.ConsecutiveFailures < p.opts.UnavailableAfter || st.LastErrorKind == kindRateLimited)
	s.NextRun = p.nextRunLocked(j)
	return s
}

// nextRunLocked is when the loop will next start j, given its backoff.
func (p *Poller) nextRunLocked(j *job) time.Time {
	if j.quarantined() || j.paused {
		return time.Time{}
	}
	if j.next.IsZero() || j.first {
		return j.next
	}
	t := j.next
	// Bounded: a 6h backoff on a 1s schedule is 21600 slots; beyond the bound the
	// estimate is early, which only matters for display.
	for i := 0; i < 100000 && !t.IsZero() && t.Before(j.state.BackoffUntil); i++ {
		t = j.slotAfter(t)
	}
	return t
}

// backoff is how long to wait after n consecutive failures: BackoffBase·2^(n-1), capped.
func (p *Poller) backoff(n int) time.Duration {
	d := p.opts.BackoffBase
	for i := 1; i < n; i++ {
		if d >= p.opts.BackoffMax/2 {
			return p.opts.BackoffMax
		}
		d *= 2
	}
	return min(d, p.opts.BackoffMax)
}
