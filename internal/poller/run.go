package poller

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"time"

	"github.com/accountbridge/accountbridge/internal/providers"
	"github.com/accountbridge/accountbridge/internal/store"
)

// outcome is what one run produced.
type outcome struct {
	snap  providers.Snapshot
	err   error
	kind  string // "" on success
	msg   string // redacted
	stack []byte // set when the poll panicked
}

// run executes runs while it holds a concurrency slot (spawnLocked): j, then whatever is
// queued when it is done, until the queue is empty. Keeping one goroutine per slot instead
// of one per run matters at thousands of accounts: a poll's TLS writes and JSON decoding
// grow the stack, and a new goroutine per run paid for that growth each time (about 6% of
// the CPU of a steady 3,000-account cycle). Reporting runs on a goroutine of its own, so
// the slot goes to the next poll at once and a slow broker acknowledgement never holds
// back polling.
func (p *Poller) run(j *job) {
	defer p.wg.Done()
	for j != nil {
		j = p.runOne(j)
	}
}

// runOne polls j, then reports it (asynchronously) and returns the queued job that inherits
// the slot, or nil when the slot was freed.
func (p *Poller) runOne(j *job) *job {
	p.mu.Lock()
	if p.stopping {
		// Shutdown began before this run started: drop it, nothing happened.
		j.running = false
		p.mu.Unlock()
		<-p.sem
		return nil
	}
	p.polling++
	runCtx := p.runCtx
	p.mu.Unlock()

	started := p.clock.Now()
	o := p.poll(runCtx, j)
	finished := p.clock.Now()

	p.mu.Lock()
	p.polling--
	next := p.nextLocked()
	if o.err != nil && runCtx.Err() != nil {
		// Shutdown cancelled the poll: not the account's fault, so no failure is counted
		// (it would delay the next start by a backoff).
		j.running = false
		p.mu.Unlock()
		p.log.Info("poll cancelled by shutdown", "account", j.Account)
		return next
	}
	p.wg.Add(1) // this goroutine still counts, so the counter is above zero
	p.mu.Unlock()
	go func() {
		defer p.wg.Done()
		p.finish(j, started, finished, o)
	}()
	return next
}

// poll calls the provider under the run's deadline, retrying once on ErrAuth (the
// provider dropped its session, so the retry logs in again).
func (p *Poller) poll(runCtx context.Context, j *job) outcome {
	ctx, cancel := context.WithTimeout(runCtx, j.Timeout)
	defer cancel()

	o := p.safePoll(ctx, j)
	if o.err != nil && o.stack == nil && ctx.Err() == nil &&
		providers.Kind(o.err) == kindAuth {
		p.log.Debug("session expired; retrying the poll once", "account", j.Account,
			"error", p.opts.Redact(o.err.Error()))
		o = p.safePoll(ctx, j)
	}
	if o.err == nil {
		return o
	}
	switch {
	case o.stack != nil:
		o.kind = KindPanic
	case providers.Kind(o.err) == kindTransient &&
		(errors.Is(o.err, context.DeadlineExceeded) || errors.Is(ctx.Err(), context.DeadlineExceeded)):
		o.kind = KindTimeout
		// Only when the poll's own deadline passed: a deadline inside it (an HTTP
		// request's timeout) leaves the poll alive, and its error says which it was.
		if ctx.Err() != nil {
			o.msg = p.opts.Redact(fmt.Sprintf("poll timed out after %s: %v", j.Timeout, o.err))
		}
	default:
		o.kind = providers.Kind(o.err)
	}
	if o.msg == "" {
		o.msg = p.opts.Redact(o.err.Error())
	}
	return o
}

// safePoll calls Poll and turns a panic into an error, so one broken provider cannot
// take the daemon down.
func (p *Poller) safePoll(ctx context.Context, j *job) (o outcome) {
	defer func() {
		if r := recover(); r != nil {
			o = outcome{err: fmt.Errorf("panic: %v", r), stack: debug.Stack()}
			o.msg = p.opts.Redact(o.err.Error())
		}
	}()
	o.snap, o.err = j.Provider.Poll(ctx)
	return o
}

// finish updates j's state from one run's outcome, logs transitions and reports:
// Snapshot (on success), RecordRun, SaveAccountState, then Status. Status and Statuses
// show the run's outcome from the moment it is reported, not before.
func (p *Poller) finish(j *job, started, finished time.Time, o outcome) {
	j.reportMu.Lock()
	defer j.reportMu.Unlock()

	p.mu.Lock()
	prev := j.state
	st := prev
	st.LastRun = started
	if o.err == nil {
		st.ConsecutiveFailures = 0
		st.LastOK = started
		st.LastErrorKind, st.LastError = "", ""
		st.BackoffUntil = time.Time{}
	} else {
		st.ConsecutiveFailures++
		st.LastErrorKind, st.LastError = o.kind, o.msg
		st.BackoffUntil = started.Add(p.backoff(st.ConsecutiveFailures))
		if o.kind == kindPermanent {
			st.QuarantineFingerprint = fingerprintKey(j.Fingerprint)
			st.QuarantineReason = o.msg
		}
	}
	j.state = st
	// Runnable again before reporting ends; reportMu keeps the next run's report behind
	// this one.
	j.running = false
	logged := j.lastLogged
	if o.err == nil {
		j.lastLogged = ""
	} else {
		j.lastLogged = o.kind + "\x00" + o.msg
	}
	p.mu.Unlock()

	p.logOutcome(j, prev, st, o, logged)

	// Bookkeeping must outlive a Shutdown that cancels polls: a finished poll is kept.
	ctx, cancel := context.WithTimeout(p.baseCtx, bookkeepingTimeout)
	defer cancel()
	if o.err == nil {
		snap := o.snap
		if snap.Account == "" {
			snap.Account = j.Account
		}
		if snap.Time.IsZero() {
			snap.Time = finished
		}
		p.opts.Results.Snapshot(ctx, snap)
	}
	run := store.Run{
		Account:   j.Account,
		Started:   started,
		Duration:  finished.Sub(started),
		OK:        o.err == nil,
		ErrorKind: o.kind,
		Message:   o.msg,
	}
	if fr, ok := p.opts.State.(runFinisher); ok {
		if err := fr.FinishRun(ctx, run, st); err != nil {
			p.log.Warn("cannot record run and account state", "account", j.Account, "error", err)
		}
	} else {
		if err := p.opts.State.RecordRun(ctx, run); err != nil {
			p.log.Warn("cannot record run", "account", j.Account, "error", err)
		}
		if err := p.opts.State.SaveAccountState(ctx, st); err != nil {
			p.log.Warn("cannot save account state", "account", j.Account, "error", err)
		}
	}
	// Shown only now, with its snapshot published.
	p.mu.Lock()
	j.shown = st
	status := p.statusLocked(j)
	p.mu.Unlock()
	p.opts.Results.Status(ctx, status)
}

// runFinisher is a StateStore that records a run and the account state in one
// transaction (*store.Store does).
type runFinisher interface {
	FinishRun(ctx context.Context, r store.Run, st store.AccountState) error
}

// logOutcome logs once per transition: the first failure (or a different one) at warn,
// repeats at debug, recovery at info; quarantine and panics at error.
func (p *Poller) logOutcome(j *job, prev, st store.AccountState, o outcome, lastLogged string) {
	switch {
	case o.err == nil:
		if prev.ConsecutiveFailures > 0 {
			p.log.Info("account recovered", "account", j.Account,
				"after_failures", prev.ConsecutiveFailures, "last_error_kind", prev.LastErrorKind)
		} else {
			p.log.Debug("poll ok", "account", j.Account)
		}
	case o.kind == kindPermanent:
		p.log.Error("account quarantined: no more polls until its configuration changes",
			"account", j.Account, "error", o.msg)
	case o.kind+"\x00"+o.msg == lastLogged:
		p.log.Debug("poll failed again", "account", j.Account, "kind", o.kind,
			"error", o.msg, "failures", st.ConsecutiveFailures, "backoff_until", st.BackoffUntil)
	case o.kind == KindPanic:
		p.log.Error("poll panicked", "account", j.Account, "error", o.msg,
			"failures", st.ConsecutiveFailures, "stack", p.opts.Redact(string(o.stack)))
	default:
		p.log.Warn("poll failed", "account", j.Account, "kind", o.kind, "error", o.msg,
			"failures", st.ConsecutiveFailures, "backoff_until", st.BackoffUntil)
	}
}

// The provider error kinds, by name, as providers.Kind spells them.
var (
	kindAuth        = providers.Kind(providers.ErrAuth)
	kindRateLimited = providers.Kind(providers.ErrRateLimited)
	kindPermanent   = providers.Kind(providers.ErrPermanent)
	kindTransient   = providers.Kind(errors.New("other"))
)
