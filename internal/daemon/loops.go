package daemon

import (
	"context"
	"time"

	"github.com/accountbridge/accountbridge/internal/clock"
)

// loop runs fn on its own goroutine until ctx ends; Run waits for it before shutting down.
func (d *Daemon) loop(ctx context.Context, fn func(context.Context)) {
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		fn(ctx)
	}()
}

// throttled runs fn when kicked: at once, then not again until the pause fn returns has
// passed, however often it is kicked meanwhile (kicks coalesce into one run).
type throttled struct {
	kick chan struct{}
	fn   func() (pause time.Duration)
}

func newThrottled(fn func() time.Duration) *throttled {
	return &throttled{kick: make(chan struct{}, 1), fn: fn}
}

// Kick asks for a run; it never blocks.
func (t *throttled) Kick() {
	select {
	case t.kick <- struct{}{}:
	default:
	}
}

func (t *throttled) run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.kick:
			pause := t.fn()
			select {
			case <-ctx.Done():
				return
			case <-time.After(pause):
			}
		}
	}
}

// periodic runs fn every interval on clock until ctx ends, the first time at once when
// atStart is set.
type periodic struct {
	clock   clock.Clock
	every   time.Duration
	atStart bool
	fn      func(context.Context)
}

func (p periodic) run(ctx context.Context) {
	if p.atStart {
		p.fn(ctx)
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-p.clock.After(p.every):
			p.fn(ctx)
		}
	}
}
