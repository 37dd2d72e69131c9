package poller

import (
	"context"
	"errors"
	"time"
)

// StateDisabled is the State of a job paused with SetEnabled (the web UI's "disable").
const StateDisabled = "disabled"

// ErrUnknownAccount is returned by the controls for an account without a job.
var ErrUnknownAccount = errors.New("no such account")

// Lift clears the account's quarantine and backoff now, as `bridge reset` does in the
// store, saves that, and polls it at once (unless disabled). It reports the new Status.
func (p *Poller) Lift(ctx context.Context, account string) error {
	j := p.byAccount[account]
	if j == nil {
		return ErrUnknownAccount
	}
	j.reportMu.Lock()
	defer j.reportMu.Unlock()
	p.mu.Lock()
	st := j.state
	st.Account = account
	st.ConsecutiveFailures = 0
	st.BackoffUntil = time.Time{}
	st.QuarantineFingerprint, st.QuarantineReason = "", ""
	if j.quarantined() {
		st.LastErrorKind, st.LastError = "", ""
	}
	j.state = st
	j.shown = st
	p.rescheduleLocked(j)
	status := p.statusLocked(j)
	p.mu.Unlock()
	p.log.Info("quarantine and backoff lifted", "account", account)
	if err := p.opts.State.SaveAccountState(ctx, st); err != nil {
		return err
	}
	p.opts.Results.Status(ctx, status)
	return nil
}

// SetEnabled pauses (false) or resumes (true) the account's polls until the next start;
// a resumed account is polled at once. It reports the new Status.
func (p *Poller) SetEnabled(ctx context.Context, account string, enabled bool) error {
	j := p.byAccount[account]
	if j == nil {
		return ErrUnknownAccount
	}
	j.reportMu.Lock()
	defer j.reportMu.Unlock()
	p.mu.Lock()
	if j.paused == !enabled {
		p.mu.Unlock()
		return nil
	}
	j.paused = !enabled
	if enabled {
		p.rescheduleLocked(j)
	}
	status := p.statusLocked(j)
	p.mu.Unlock()
	p.log.Info("account polls "+map[bool]string{true: "resumed", false: "paused"}[enabled], "account", account)
	p.opts.Results.Status(ctx, status)
	return nil
}

// rescheduleLocked makes j due now and wakes the loop, which may sleep until a later job.
func (p *Poller) rescheduleLocked(j *job) {
	if j.quarantined() || j.paused || !p.loaded || p.stopping {
		return
	}
	j.next = p.clock.Now()
	j.first = true
	select {
	case p.wake <- struct{}{}:
	default:
	}
}
