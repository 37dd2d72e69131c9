// Package fakeutil holds what the fake upstreams (internal/providers/*/fake) share: a
// request counter per endpoint, latency for all or some endpoints, and fault switches
// (an HTTP status, or a fault the fake renders in its protocol's own words, for every
// call or the next one). Each fake names its endpoints (a path, an operation) its own way.
package fakeutil

import (
	"context"
	"maps"
	"sync"
	"time"
)

// Endpoints is safe for concurrent use; the zero value is ready.
type Endpoints struct {
	mu        sync.Mutex
	counts    map[string]int
	latency   time.Duration
	latencyOn map[string]bool // nil: every endpoint
	status    map[string]int
	fault     map[string]string
	faultOnce map[string]string
}

// Hit counts a request of ep and returns its injected HTTP status (0: none) and fault
// ("", false: none). A FailOnce fault is used up by this call.
func (e *Endpoints) Hit(ep string) (status int, fault string, faulty bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.counts == nil {
		e.counts = map[string]int{}
	}
	e.counts[ep]++
	if f, ok := e.faultOnce[ep]; ok {
		delete(e.faultOnce, ep)
		return e.status[ep], f, true
	}
	f, ok := e.fault[ep]
	return e.status[ep], f, ok
}

// Count is how many requests ep received.
func (e *Endpoints) Count(ep string) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.counts[ep]
}

// Counts is a copy of every counter.
func (e *Endpoints) Counts() map[string]int {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := maps.Clone(e.counts)
	if out == nil {
		out = map[string]int{}
	}
	return out
}

// SetLatency delays every answer of the named endpoints (none: of every endpoint) by d,
// as a distant upstream would; 0 turns it off.
func (e *Endpoints) SetLatency(d time.Duration, eps ...string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.latency, e.latencyOn = d, nil
	if len(eps) > 0 {
		e.latencyOn = map[string]bool{}
		for _, ep := range eps {
			e.latencyOn[ep] = true
		}
	}
}

// Delay waits out ep's latency; it ends early when ctx (the client's request) ends.
func (e *Endpoints) Delay(ctx context.Context, ep string) {
	e.mu.Lock()
	d := e.latency
	if e.latencyOn != nil && !e.latencyOn[ep] {
		d = 0
	}
	e.mu.Unlock()
	Sleep(ctx, d)
}

// SetHTTPStatus answers every request of ep with code (0 restores normal answers).
func (e *Endpoints) SetHTTPStatus(ep string, code int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.status == nil {
		e.status = map[string]int{}
	}
	if code == 0 {
		delete(e.status, ep)
		return
	}
	e.status[ep] = code
}

// Fail answers every call of ep with fault until ClearFail.
func (e *Endpoints) Fail(ep, fault string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.fault == nil {
		e.fault = map[string]string{}
	}
	e.fault[ep] = fault
}

// FailOnce answers the next call of ep with fault.
func (e *Endpoints) FailOnce(ep, fault string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.faultOnce == nil {
		e.faultOnce = map[string]string{}
	}
	e.faultOnce[ep] = fault
}

// ClearFail removes the faults of ep ("": of every endpoint).
func (e *Endpoints) ClearFail(ep string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if ep == "" {
		e.fault, e.faultOnce = nil, nil
		return
	}
	delete(e.fault, ep)
	delete(e.faultOnce, ep)
}

// Sleep waits d, or until ctx ends.
func Sleep(ctx context.Context, d time.Duration) {
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}
