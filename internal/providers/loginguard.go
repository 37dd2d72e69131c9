package providers

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/accountbridge/accountbridge/internal/providers/wire"
)

// LoginGuard keeps a provider from hammering a login endpoint. Its state lives in the
// account's KV, so a restart cannot bypass it.
type LoginGuard struct {
	KV                KV
	Now               func() time.Time
	MinInterval       time.Duration  // between two login attempts
	MaxFailuresPerDay int            // 0: no limit
	Location          *time.Location // where "today" is; nil: Asia/Shanghai (+08:00)
}

const (
	guardLastKey     = "login_guard.last_attempt"
	guardFailuresKey = "login_guard.failures"
)

func (g *LoginGuard) day(t time.Time) string {
	loc := g.Location
	if loc == nil {
		loc = wire.CST
	}
	return t.In(loc).Format("2006-01-02")
}

// Begin checks the guard and records an attempt. It returns ErrRateLimited when the last
// attempt was too recent and ErrPermanent when today's failures reached the limit.
func (g *LoginGuard) Begin(ctx context.Context) error {
	now := g.Now()
	if raw, ok, err := g.KV.Get(ctx, guardLastKey); err != nil {
		return fmt.Errorf("login guard: %w", err)
	} else if ok {
		if last, err := time.Parse(time.RFC3339Nano, string(raw)); err == nil {
			if wait := last.Add(g.MinInterval).Sub(now); wait > 0 {
				return fmt.Errorf("%w: last login attempt %s ago, next allowed in %s",
					ErrRateLimited, now.Sub(last).Round(time.Second), wait.Round(time.Second))
			}
		}
	}
	if g.MaxFailuresPerDay > 0 {
		if n, err := g.failuresToday(ctx, now); err != nil {
			return err
		} else if n >= g.MaxFailuresPerDay {
			return Permanent("%d failed logins today (limit %d): fix the credentials, then restart", n, g.MaxFailuresPerDay)
		}
	}
	return g.KV.Set(ctx, guardLastKey, []byte(now.UTC().Format(time.RFC3339Nano)))
}

// End records the outcome of the attempt started with Begin.
func (g *LoginGuard) End(ctx context.Context, loginErr error) error {
	if loginErr == nil {
		return g.KV.Delete(ctx, guardFailuresKey)
	}
	now := g.Now()
	n, err := g.failuresToday(ctx, now)
	if err != nil {
		return err
	}
	return g.KV.Set(ctx, guardFailuresKey, []byte(g.day(now)+" "+strconv.Itoa(n+1)))
}

// FailuresToday reports how many logins failed today.
func (g *LoginGuard) FailuresToday(ctx context.Context) (int, error) {
	return g.failuresToday(ctx, g.Now())
}

func (g *LoginGuard) failuresToday(ctx context.Context, now time.Time) (int, error) {
	raw, ok, err := g.KV.Get(ctx, guardFailuresKey)
	if err != nil {
		return 0, fmt.Errorf("login guard: %w", err)
	}
	if !ok {
		return 0, nil
	}
	day, count, _ := strings.Cut(string(raw), " ")
	if day != g.day(now) {
		return 0, nil
	}
	n, _ := strconv.Atoi(count)
	return n, nil
}
