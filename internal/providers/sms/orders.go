package sms

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Order states (stored).
const (
	stateQueued     = "queued"     // request stored, nothing bought
	stateBuying     = "buying"     // a purchase call is in flight
	stateWaiting    = "waiting"    // number bought, polling for the code
	stateCode       = "code"       // code received, finishing upstream
	stateCancelling = "cancelling" // cancelling upstream (user cancel or timeout)
	stateDone       = "done"
	stateFailed     = "failed"
	stateCancelled  = "cancelled"
)

// Message statuses on <base>/sms/order/<request_id>.
const (
	StatusNumber    = "number"
	StatusCode      = "code"
	StatusDone      = "done"
	StatusFailed    = "failed"
	StatusCancelled = "cancelled"
)

// Reasons of a failed order.
const (
	ReasonInvalidRequest  = "invalid_request"
	ReasonTooManyOrders   = "too_many_orders"
	ReasonNoPlatform      = "no_platform"      // no candidate: none healthy, serving, in stock, under max_price
	ReasonAllFailed       = "all_failed"       // every tried platform failed
	ReasonMaxDailySpend   = "max_daily_spend"  // buying would exceed sms.max_daily_spend
	ReasonOrderError      = "order_error"      // the platform refused the order itself (no failover)
	ReasonTimeout         = "timeout"          // no code within code_timeout; cancelled upstream
	ReasonExpired         = "expired"          // the platform ended the activation without a code
	ReasonCancelledRemote = "cancelled_remote" // the activation was cancelled on the platform
	ReasonCancelRefused   = "cancel_refused"   // the user's cancel was refused upstream
	ReasonInterrupted     = "interrupted"      // the bridge stopped during a purchase call
	ReasonPlatformGone    = "platform_gone"    // the platform account is no longer configured
)

const kvOrders = "orders"

// buyGrace bounds a purchase call that is let finish while the bridge stops.
const buyGrace = 30 * time.Second

// Attempt is one step of an order on a platform: a purchase (or a candidate skipped),
// a cancel.
type Attempt struct {
	Platform  string   `json:"platform"`
	Op        string   `json:"op"`      // buy, skip, cancel
	Outcome   string   `json:"outcome"` // ok, or the error class (no_numbers, needs_funds, fatal, try_next, rate_limited, order), or why skipped
	Error     string   `json:"error,omitempty"`
	Code      string   `json:"code,omitempty"` // the platform's token
	Price     *float64 `json:"price,omitempty"`
	At        string   `json:"at"`
	LatencyMs float64  `json:"latency_ms,omitempty"`
}

// order is the stored state of one request.
type order struct {
	Req             Request   `json:"request"`
	State           string    `json:"state"`
	Created         time.Time `json:"created"`
	Updated         time.Time `json:"updated"`
	Ended           time.Time `json:"ended,omitzero"`
	Platform        string    `json:"platform,omitempty"`
	Currency        string    `json:"currency,omitempty"`
	RouterPrice     float64   `json:"router_price,omitempty"`
	Number          *Number   `json:"number,omitempty"`
	Bought          time.Time `json:"bought,omitzero"`
	Deadline        time.Time `json:"deadline,omitzero"`
	Code            string    `json:"code,omitempty"`
	Text            string    `json:"text,omitempty"`
	Refunded        bool      `json:"refunded,omitempty"`
	CancelRequested bool      `json:"cancel_requested,omitempty"`
	CancelReason    string    `json:"cancel_reason,omitempty"` // user or timeout
	Reason          string    `json:"reason,omitempty"`
	Message         string    `json:"message,omitempty"`
	Attempts        []Attempt `json:"attempts,omitempty"`
	// Outbox holds the progress messages not yet published, in order.
	Outbox []json.RawMessage `json:"outbox,omitempty"`
	// listed: in Router.rejected (ended without buying anything).
	listed bool
}

func (o *order) terminal() bool {
	return o.State == stateDone || o.State == stateFailed || o.State == stateCancelled
}

// Message is a progress or result message of an order.
type Message struct {
	Status    string    `json:"status"`
	RequestID string    `json:"request_id"`
	Service   string    `json:"service,omitempty"`
	Country   string    `json:"country,omitempty"`
	Platform  string    `json:"platform,omitempty"`
	OrderID   string    `json:"order_id,omitempty"`
	Phone     string    `json:"phone,omitempty"`
	Price     *float64  `json:"price,omitempty"`
	Currency  string    `json:"currency,omitempty"`
	Expires   string    `json:"expires,omitempty"`
	Code      string    `json:"code,omitempty"`
	Text      string    `json:"text,omitempty"`
	Reason    string    `json:"reason,omitempty"`
	Error     string    `json:"message,omitempty"`
	Refunded  *bool     `json:"refunded,omitempty"`
	Attempts  []Attempt `json:"attempts,omitempty"`
	Time      string    `json:"time"`
}

func ptr[T any](v T) *T { return &v }

func rfc3339(t time.Time) string { return t.Format(time.RFC3339) }

// base fills the fields every message of o carries.
func (o *order) msg(status string, now time.Time) Message {
	m := Message{Status: status, RequestID: o.Req.RequestID, Service: o.Req.Service, Country: o.Req.Country, Platform: o.Platform, Time: rfc3339(now)}
	if o.Number != nil {
		m.OrderID, m.Phone = o.Number.ID, o.Number.Phone
	}
	return m
}

func (o *order) push(m Message) {
	raw, _ := json.Marshal(m)
	o.Outbox = append(o.Outbox, raw)
}

// fail ends o as failed with reason and queues the failed message.
func (o *order) fail(now time.Time, reason, msg string) {
	o.State, o.Reason, o.Message, o.Ended, o.Updated = stateFailed, reason, msg, now, now
	m := o.msg(StatusFailed, now)
	m.Reason, m.Error = reason, msg
	m.Attempts = o.Attempts
	if o.Number != nil {
		m.Refunded = ptr(o.Refunded)
		m.Price, m.Currency = ptr(o.Number.Price), o.Currency
	}
	o.push(m)
}

// loadLocked reads the stored orders once, and indexes them.
func (r *Router) loadLocked() {
	if r.loaded {
		return
	}
	r.loaded = true
	r.orders = map[string]*order{}
	ctx := context.Background()
	err := r.store.LoadOrders(ctx, func(id string, data []byte) error {
		o := &order{}
		if err := json.Unmarshal(data, o); err != nil {
			r.log.Error("stored SMS order unreadable; dropped", "request_id", id, "err", err)
			return nil
		}
		r.orders[id] = o
		return nil
	})
	if err != nil {
		r.log.Error("stored SMS orders not read", "err", err)
	}
	r.importLegacyLocked(ctx)
	// The ended orders that bought nothing, oldest first, for the cap on them.
	var nothing []string
	for id, o := range r.orders {
		r.indexLocked(id, o)
		if o.terminal() && o.Number == nil {
			o.listed = true
			nothing = append(nothing, id)
		}
	}
	slices.SortFunc(nothing, func(a, b string) int { return r.orders[a].Ended.Compare(r.orders[b].Ended) })
	r.rejected = nothing
	r.capRejectedLocked()
}

// importLegacyLocked moves the orders an older version kept as one KV value into the
// order table, once.
func (r *Router) importLegacyLocked(ctx context.Context) {
	raw, ok, err := r.deps.KV.Get(ctx, kvOrders)
	if err != nil || !ok {
		return
	}
	var old map[string]*order
	if json.Unmarshal(raw, &old) != nil {
		r.log.Error("SMS orders of an older version unreadable; not imported")
		old = nil
	}
	for id, o := range old {
		if _, have := r.orders[id]; !have && o != nil {
			r.orders[id] = o
			r.saveLocked(id, o)
		}
	}
	if err := r.deps.KV.Delete(ctx, kvOrders); err != nil {
		r.log.Warn("SMS orders of an older version imported but not deleted", "err", err)
	}
}

// saveLocked stores one order: one row, whatever the number of orders.
func (r *Router) saveLocked(id string, o *order) {
	raw, err := json.Marshal(o)
	if err == nil {
		err = r.store.SaveOrder(context.Background(), id, o.State, o.Ended, raw)
	}
	if err != nil {
		r.log.Error("SMS order not stored", "request_id", id, "err", err)
	}
}

// indexLocked files o in the indexes that keep every per-change check O(1): active
// (in progress), pending (work or messages left), bought (a number was bought: spend and
// success rates are computed over these alone).
func (r *Router) indexLocked(id string, o *order) {
	if o.terminal() {
		delete(r.active, id)
	} else {
		r.active[id] = struct{}{}
	}
	if !o.terminal() || len(o.Outbox) > 0 {
		r.pending[id] = struct{}{}
	} else {
		delete(r.pending, id)
	}
	if o.Number != nil {
		r.bought[id] = o
	}
}

// changedLocked stores o after a change and updates the indexes; an order that just
// ended without buying anything joins the capped list of those.
func (r *Router) changedLocked(id string, o *order) {
	r.orders[id] = o
	r.indexLocked(id, o)
	r.saveLocked(id, o)
	if o.terminal() && o.Number == nil && !o.listed {
		o.listed = true
		r.rejected = append(r.rejected, id)
		r.capRejectedLocked()
	}
}

// capRejectedLocked forgets the oldest ended orders that bought nothing beyond
// max_rejected_orders: a flood of refused orders must not grow the store without end.
// They matter only to recognise a repeated request_id; orders that bought a number are
// kept order_retention for spend and success rates. One whose reply is not published
// yet waits.
func (r *Router) capRejectedLocked() {
	for len(r.rejected) > r.set.MaxRejectedOrders {
		id := r.rejected[0]
		if o, ok := r.orders[id]; ok {
			if len(o.Outbox) > 0 {
				return
			}
			r.forgetLocked(id)
		}
		r.rejected = r.rejected[1:]
	}
}

func (r *Router) forgetLocked(id string) {
	delete(r.orders, id)
	delete(r.active, id)
	delete(r.pending, id)
	delete(r.bought, id)
	if err := r.store.DeleteOrder(context.Background(), id); err != nil {
		r.log.Error("SMS order not deleted", "request_id", id, "err", err)
	}
}

// pruneLocked forgets ended orders older than order_retention whose messages were sent.
// It runs once a minute, not per change.
func (r *Router) pruneLocked() {
	cut := r.now().Add(-r.set.OrderRetention)
	for id, o := range r.orders {
		if o.terminal() && len(o.Outbox) == 0 && o.Ended.Before(cut) {
			r.forgetLocked(id)
		}
	}
}

func (r *Router) activeLocked() int { return len(r.active) }

func sameDay(a, b time.Time) bool {
	a, b = a.Local(), b.Local()
	return a.Year() == b.Year() && a.YearDay() == b.YearDay()
}

// spendTodayLocked is what numbers bought today cost, refunds deducted (router currency).
func (r *Router) spendTodayLocked() float64 {
	now := r.now()
	sum := 0.0
	for _, o := range r.bought {
		if !o.Refunded && sameDay(o.Bought, now) {
			sum += o.RouterPrice
		}
	}
	return sum
}

// platformStats are one platform's figures over the kept orders.
func (r *Router) platformStats(id string) PlatformStats {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.loadLocked()
	now := r.now()
	var st PlatformStats
	codes, ended := 0, 0
	for _, o := range r.bought {
		if o.Platform != id {
			continue
		}
		st.Orders++
		if !o.Refunded && sameDay(o.Bought, now) {
			st.SpendToday += o.Number.Price
		}
		switch {
		case o.Code != "":
			codes++
			ended++
		case o.terminal() && o.CancelReason != "user":
			ended++
		}
	}
	if ended > 0 {
		st.HasRate, st.SuccessRate = true, 100*float64(codes)/float64(ended)
	}
	return st
}

// successScore is the smoothed success rate the success strategy sorts by.
func (r *Router) successScore(id string) float64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	codes, ended := 0, 0
	for _, o := range r.bought {
		if o.Platform != id {
			continue
		}
		if o.Code != "" {
			codes++
			ended++
		} else if o.terminal() && o.CancelReason != "user" {
			ended++
		}
	}
	return float64(codes+1) / float64(ended+2)
}

// update applies fn to the order under the lock and stores it.
func (r *Router) update(rid string, fn func(o *order, now time.Time)) order {
	r.mu.Lock()
	defer r.mu.Unlock()
	o := r.orders[rid]
	now := r.now()
	fn(o, now)
	o.Updated = now
	r.changedLocked(rid, o)
	return *o
}

// get returns a copy of the order; a forgotten one (capped or pruned while its worker
// still ran) comes back as an ended order with nothing left to do.
func (r *Router) get(rid string) order {
	r.mu.Lock()
	defer r.mu.Unlock()
	p := r.orders[rid]
	if p == nil {
		return order{State: stateFailed}
	}
	o := *p
	o.Attempts = append([]Attempt(nil), o.Attempts...)
	return o
}

// flush publishes the order's kept messages in order; it reports whether some remain.
func (r *Router) flush(rid string) bool {
	r.mu.Lock()
	var msgs []json.RawMessage
	if o := r.orders[rid]; o != nil {
		msgs = append(msgs, o.Outbox...)
	}
	r.mu.Unlock()
	sent := 0
	for _, m := range msgs {
		if err := r.deps.Publish(topicOrderPrefix+rid, m, false); err != nil {
			r.log.Debug("SMS order message kept for later", "request_id", rid, "err", err)
			break
		}
		sent++
	}
	if sent > 0 {
		r.mu.Lock()
		o := r.orders[rid] // only its worker (this one) empties an order's outbox: still there
		o.Outbox = o.Outbox[sent:]
		if len(o.Outbox) == 0 {
			o.Outbox = nil
		}
		r.changedLocked(rid, o)
		r.capRejectedLocked() // one held back for its reply may go now
		r.mu.Unlock()
	}
	return sent < len(msgs)
}

// work drives one order until it ended and its messages were published, or ctx ends.
func (r *Router) work(ctx context.Context, rid string, wake chan struct{}) {
	defer func() {
		r.mu.Lock()
		delete(r.workers, rid)
		r.mu.Unlock()
	}()
	for {
		delay, ended := r.step(ctx, rid)
		if ctx.Err() != nil {
			return
		}
		pending := r.flush(rid)
		if ended && !pending {
			return
		}
		if pending && (delay <= 0 || delay > publishRetry) {
			delay = min(publishRetry, r.set.CodePollInterval)
		}
		if delay <= 0 {
			continue
		}
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-wake:
			t.Stop()
		case <-t.C:
		}
	}
}

// step does the next piece of work of an order: how long to wait before the next, and
// whether the order has ended.
func (r *Router) step(ctx context.Context, rid string) (time.Duration, bool) {
	o := r.get(rid)
	poll := r.set.CodePollInterval
	if o.terminal() {
		return 0, true
	}
	var p *Platform
	if o.Platform != "" && o.State != stateQueued {
		if p = r.byID[o.Platform]; p == nil {
			r.update(rid, func(o *order, now time.Time) {
				o.fail(now, ReasonPlatformGone, fmt.Sprintf("platform account %s is no longer configured; check the order on the platform", o.Platform))
			})
			return 0, true
		}
	}
	switch o.State {
	case stateQueued:
		if o.CancelRequested {
			r.update(rid, func(o *order, now time.Time) {
				o.State, o.Ended, o.CancelReason = stateCancelled, now, "user"
				o.push(o.msg(StatusCancelled, now))
			})
			return 0, true
		}
		r.buyPhase(ctx, rid)
		return poll, false
	case stateBuying:
		r.update(rid, func(o *order, now time.Time) {
			o.fail(now, ReasonInterrupted, fmt.Sprintf("the bridge stopped while buying on %s; nothing is bought again for this request_id: check the platform", o.Platform))
		})
		return 0, true
	case stateWaiting:
		if o.CancelRequested {
			return r.cancelPhase(ctx, rid, p, "user")
		}
		// Past the deadline the number is checked once more before it is cancelled, so a
		// code that arrived during the last poll interval is still delivered.
		expired := !r.now().Before(o.Deadline)
		if !r.acquire(ctx) {
			return 0, false
		}
		sms, err := p.check(ctx, *o.Number)
		r.release()
		if ctx.Err() != nil {
			return 0, false
		}
		if err != nil {
			if ClassOf(err) == ClassOrder {
				r.update(rid, func(o *order, now time.Time) {
					o.Attempts = append(o.Attempts, attempt(p.ID(), "check", err, now, 0))
					o.fail(now, ReasonOrderError, err.Error())
				})
				return 0, true
			}
			if expired {
				return r.cancelPhase(ctx, rid, p, "timeout")
			}
			r.log.Warn("SMS code not checked; trying again", "request_id", rid, "platform", p.ID(), "err", err)
			return max(0, min(poll, o.Deadline.Sub(r.now()))), false
		}
		if sms.State == StateWaiting && expired {
			return r.cancelPhase(ctx, rid, p, "timeout")
		}
		switch sms.State {
		case StateCode:
			r.update(rid, func(o *order, now time.Time) {
				o.State, o.Code, o.Text = stateCode, sms.Code, sms.Text
				m := o.msg(StatusCode, now)
				m.Code, m.Text = sms.Code, sms.Text
				o.push(m)
			})
			r.log.Info("SMS code received", "request_id", rid, "platform", p.ID())
			return 0, false
		case StateCancelled:
			r.update(rid, func(o *order, now time.Time) {
				o.Refunded = true
				o.fail(now, ReasonCancelledRemote, "the activation was cancelled on the platform (refunded)")
			})
			return 0, true
		case StateExpired:
			r.update(rid, func(o *order, now time.Time) {
				o.Refunded = true
				o.fail(now, ReasonExpired, "the platform ended the activation without a code (refunded by the platform)")
			})
			return 0, true
		}
		return max(0, min(poll, o.Deadline.Sub(r.now()))), false
	case stateCode:
		if !r.acquire(ctx) {
			return 0, false
		}
		err := p.finish(ctx, *o.Number)
		r.release()
		if ctx.Err() != nil {
			return 0, false
		}
		if err != nil {
			r.log.Warn("SMS activation not confirmed on the platform (the code was delivered)", "request_id", rid, "platform", p.ID(), "err", err)
		}
		r.update(rid, func(o *order, now time.Time) {
			o.State, o.Ended = stateDone, now
			m := o.msg(StatusDone, now)
			m.Code, m.Price, m.Currency = o.Code, ptr(o.Number.Price), o.Currency
			o.push(m)
		})
		return 0, true
	case stateCancelling:
		return r.cancelPhase(ctx, rid, p, o.CancelReason)
	}
	return 0, true
}

func attempt(platform, op string, err error, now time.Time, latency float64) Attempt {
	a := Attempt{Platform: platform, Op: op, Outcome: "ok", At: rfc3339(now), LatencyMs: round(latency, 1)}
	if err != nil {
		a.Outcome, a.Error, a.Code = string(ClassOf(err)), err.Error(), CodeOf(err)
	}
	return a
}

// cancelPhase cancels the number upstream (refund): on the user's request or on timeout.
func (r *Router) cancelPhase(ctx context.Context, rid string, p *Platform, why string) (time.Duration, bool) {
	o := r.update(rid, func(o *order, _ time.Time) { o.State, o.CancelReason = stateCancelling, why })
	if !r.acquire(ctx) {
		return 0, false
	}
	t0 := time.Now()
	err := p.cancel(ctx, *o.Number)
	r.release()
	if ctx.Err() != nil {
		return 0, false
	}
	lat := since(t0)
	if err == nil {
		r.update(rid, func(o *order, now time.Time) {
			o.Attempts = append(o.Attempts, attempt(p.ID(), "cancel", nil, now, lat))
			o.Refunded = true
			if why == "timeout" {
				o.fail(now, ReasonTimeout, fmt.Sprintf("no code within %s; the number was cancelled on %s (refunded)", r.set.CodeTimeout, p.ID()))
				return
			}
			o.State, o.Ended = stateCancelled, now
			m := o.msg(StatusCancelled, now)
			m.Refunded = ptr(true)
			o.push(m)
		})
		r.log.Info("SMS number cancelled on the platform", "request_id", rid, "platform", p.ID(), "why", why)
		return 0, true
	}
	giveUp := r.now().After(o.Deadline.Add(r.set.CodeTimeout))
	if ClassOf(err) == ClassOrder && (CodeOf(err) != "EARLY_CANCEL_DENIED" || giveUp) || giveUp {
		r.update(rid, func(o *order, now time.Time) {
			o.Attempts = append(o.Attempts, attempt(p.ID(), "cancel", err, now, lat))
			if why == "timeout" {
				o.fail(now, ReasonTimeout, fmt.Sprintf("no code within %s and the cancel was refused (%v): check the platform", r.set.CodeTimeout, err))
				return
			}
			o.fail(now, ReasonCancelRefused, fmt.Sprintf("the cancel was refused: %v", err))
		})
		return 0, true
	}
	r.log.Warn("SMS number not cancelled yet; trying again", "request_id", rid, "platform", p.ID(), "err", err)
	return r.set.CodePollInterval, false
}

// reserve books amount of today's budget for a purchase in flight.
func (r *Router) reserve(amount float64) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.set.MaxDailySpend > 0 && r.spendTodayLocked()+r.reserved+amount > r.set.MaxDailySpend+1e-9 {
		return false
	}
	r.reserved += amount
	return true
}

func (r *Router) unreserve(amount float64) {
	r.mu.Lock()
	r.reserved -= amount
	r.mu.Unlock()
}

// Candidates returns the platforms an order may be bought from, ranked by strategy, and
// why the others were left out. It asks upstream only for stale health or prices.
func (r *Router) Candidates(ctx context.Context, req Request) ([]Candidate, []Attempt) {
	var cs []Candidate
	var skipped []Attempt
	skip := func(p *Platform, why string) {
		skipped = append(skipped, Attempt{Platform: p.ID(), Op: "skip", Outcome: why, At: rfc3339(r.now())})
	}
	for _, p := range r.platforms {
		if req.Platform != "" && req.Platform != p.ID() && req.Platform != p.Family() {
			continue
		}
		if _, _, ok := p.serves(req.Service, req.Country); !ok {
			skip(p, "does not serve "+req.Service+"/"+req.Country)
			continue
		}
		if !r.acquire(ctx) {
			return nil, skipped
		}
		h := p.ensureHealth(ctx, r.set.HealthTTL)
		ok, why := p.usable()
		var q Quote
		var err error
		if ok {
			q, err = p.quote(ctx, req.Service, req.Country, r.set.PricesTTL)
		}
		r.release()
		switch {
		case !ok:
			skip(p, why)
			continue
		case err != nil:
			skip(p, "no price: "+err.Error())
			continue
		case !q.InStock():
			skip(p, "no numbers in stock")
			continue
		}
		price := r.toRouter(q.Price, p.Currency())
		if req.MaxPrice != nil && price > *req.MaxPrice+1e-9 {
			skip(p, fmt.Sprintf("price %g %s above max_price", round(price, 4), r.set.Currency))
			continue
		}
		c := Candidate{ID: p.ID(), Priority: p.Priority(), Price: price, Count: q.Count, Success: r.successScore(p.ID()), p: p, q: q}
		if h.HasBalance {
			c.Balance = r.toRouter(h.Balance, p.Currency())
		}
		cs = append(cs, c)
	}
	strategy := req.Strategy
	if strategy == "" {
		strategy = r.set.DefaultStrategy
	}
	Rank(strategy, cs, func(n int, swap func(i, j int)) {
		r.rngMu.Lock()
		defer r.rngMu.Unlock()
		r.rng.Shuffle(n, swap)
	})
	return cs, skipped
}

// buyPhase picks candidates and buys from the first that sells, trying at most
// max_platform_tries platforms.
func (r *Router) buyPhase(ctx context.Context, rid string) {
	req := r.get(rid).Req
	cands, skipped := r.Candidates(ctx, req)
	if ctx.Err() != nil {
		return
	}
	r.update(rid, func(o *order, _ time.Time) { o.Attempts = append(o.Attempts, skipped...) })
	tries, overBudget := 0, false
	for _, c := range cands {
		if tries >= r.set.MaxPlatformTries {
			break
		}
		if !r.reserve(c.Price) {
			overBudget = true
			r.update(rid, func(o *order, now time.Time) {
				o.Attempts = append(o.Attempts, Attempt{Platform: c.ID, Op: "skip", Outcome: ReasonMaxDailySpend, Price: ptr(round(c.q.Price, 4)), At: rfc3339(now),
					Error: fmt.Sprintf("%g %s would exceed sms.max_daily_spend %g", round(c.Price, 4), r.set.Currency, r.set.MaxDailySpend)})
			})
			continue
		}
		maxPrice := 0.0
		if req.MaxPrice != nil {
			maxPrice = round(r.fromRouter(*req.MaxPrice, c.p.Currency()), 4)
		}
		if ctx.Err() != nil || !r.acquire(ctx) {
			r.unreserve(c.Price) // still queued: nothing was bought
			return
		}
		tries++
		r.update(rid, func(o *order, _ time.Time) { o.State, o.Platform = stateBuying, c.ID })
		// A purchase in flight is finished even when the bridge is stopping, so that a
		// number the platform sold is recorded (and its code delivered after a restart).
		// Only a crash leaves the order "buying": it is then reported as interrupted and
		// never bought again.
		bctx, cancelBuy := context.WithTimeout(context.WithoutCancel(ctx), buyGrace)
		t0 := time.Now()
		n, err := c.p.buy(bctx, req.Service, req.Country, maxPrice)
		cancelBuy()
		r.release()
		lat := since(t0)
		if err != nil {
			r.unreserve(c.Price)
			cls := ClassOf(err)
			r.log.Info("SMS purchase failed", "request_id", rid, "platform", c.ID, "class", cls, "err", err)
			stop := cls == ClassOrder
			r.update(rid, func(o *order, now time.Time) {
				o.Attempts = append(o.Attempts, attempt(c.ID, "buy", err, now, lat))
				o.State, o.Platform = stateQueued, ""
				if stop {
					o.fail(now, ReasonOrderError, fmt.Sprintf("%s refused the order: %v", c.ID, err))
				}
			})
			if stop {
				return
			}
			continue
		}
		if n.Price <= 0 {
			n.Price = c.q.Price
		}
		routerPrice := r.toRouter(n.Price, c.p.Currency())
		r.update(rid, func(o *order, now time.Time) {
			a := attempt(c.ID, "buy", nil, now, lat)
			a.Price = ptr(round(n.Price, 4))
			o.Attempts = append(o.Attempts, a)
			o.State, o.Platform, o.Number, o.Currency, o.RouterPrice = stateWaiting, c.ID, &n, c.p.Currency(), routerPrice
			o.Bought, o.Deadline = now, now.Add(r.set.CodeTimeout)
			m := o.msg(StatusNumber, now)
			m.Price, m.Currency, m.Expires = ptr(round(n.Price, 4)), o.Currency, rfc3339(o.Deadline)
			o.push(m)
		})
		r.unreserve(c.Price)
		r.log.Info("SMS number bought", "request_id", rid, "platform", c.ID, "phone", MaskPhone(n.Phone), "price", n.Price, "currency", c.p.Currency())
		return
	}
	r.update(rid, func(o *order, now time.Time) {
		var why []string
		for _, a := range o.Attempts {
			msg := a.Outcome
			if a.Error != "" {
				msg = a.Error
			}
			why = append(why, a.Platform+": "+msg)
		}
		detail := strings.Join(why, "; ")
		switch {
		case len(o.Attempts) == 0:
			o.fail(now, ReasonNoPlatform, "no SMS platform serves "+req.Service+"/"+req.Country+
				map[bool]string{true: " (platform " + req.Platform + ")", false: ""}[req.Platform != ""])
		case tries == 0 && overBudget:
			o.fail(now, ReasonMaxDailySpend, "buying would exceed sms.max_daily_spend: "+detail)
		case tries == 0:
			o.fail(now, ReasonNoPlatform, "no platform can sell this now: "+detail)
		default:
			o.fail(now, ReasonAllFailed, "every platform tried failed: "+detail)
		}
	})
}
