package sms

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/accountbridge/accountbridge/internal/logging"
	"github.com/accountbridge/accountbridge/internal/providers"
)

// Defaults of the `sms:` section.
const (
	DefaultStrategy         = StrategyPrice
	DefaultMaxPlatformTries = 3
	DefaultCodePollInterval = 20 * time.Second
	DefaultCodeTimeout      = 10 * time.Minute
	DefaultCountriesTTL     = 24 * time.Hour
	DefaultPricesTTL        = time.Hour
	DefaultHealthTTL        = 5 * time.Minute
	DefaultMaxActiveOrders  = 20
	DefaultOrderRetention   = 7 * 24 * time.Hour
	// DefaultMaxRejectedOrders caps the ended orders that bought nothing (refused,
	// invalid, no platform) kept to recognise a repeated request_id.
	DefaultMaxRejectedOrders = 1000
	// parallelCalls bounds the upstream calls the router makes at once.
	parallelCalls = 4
	// publishRetry is the longest wait before publishing a kept message again.
	publishRetry = 2 * time.Second
)

// Topics of the ordering protocol, relative to <base>.
const (
	TopicOrder       = "sms/order"
	topicOrderPrefix = "sms/order/"
)

// RouterDeviceID is the id of the SMS router device.
var RouterDeviceID = providers.DeviceID(Kind, "router")

// Pair is a (service, country) in the router's codes: SMS-Activate service codes (tg,
// wa, vk…) and ISO 3166 country codes (us, gb, ru…), lowercase.
type Pair struct {
	Service string `yaml:"service" json:"service"`
	Country string `yaml:"country" json:"country"`
}

// RouterSettings is the top-level `sms:` section.
type RouterSettings struct {
	Watch            []Pair        `yaml:"watch"`
	DefaultStrategy  string        `yaml:"default_strategy"`
	MaxPlatformTries int           `yaml:"max_platform_tries"`
	CodePollInterval time.Duration `yaml:"code_poll_interval"`
	CodeTimeout      time.Duration `yaml:"code_timeout"`
	// MaxDailySpend caps what the router buys per day (local time), in Currency; 0 = no limit.
	MaxDailySpend float64 `yaml:"max_daily_spend"`
	// Currency is what prices are compared, max_price and max_daily_spend are in; default:
	// the platforms' currency when they all share one.
	Currency string `yaml:"currency"`
	// Rates converts each other platform currency to Currency: 1 unit = rate units.
	Rates           map[string]float64 `yaml:"rates"`
	CountriesTTL    time.Duration      `yaml:"countries_ttl"`
	PricesTTL       time.Duration      `yaml:"prices_ttl"`
	HealthTTL       time.Duration      `yaml:"health_ttl"`
	MaxActiveOrders int                `yaml:"max_active_orders"`
	OrderRetention  time.Duration      `yaml:"order_retention"`
	// MaxRejectedOrders caps the ended orders that bought nothing that are remembered.
	MaxRejectedOrders int `yaml:"max_rejected_orders"`
}

// Router is the group of the sms kind: the router device, and ordering over MQTT.
type Router struct {
	set       RouterSettings
	platforms []*Platform
	byID      map[string]*Platform
	deps      providers.GroupDeps
	log       *slog.Logger
	now       func() time.Time
	sem       chan struct{}
	kick      chan struct{}

	rngMu sync.Mutex
	rng   *rand.Rand

	store providers.OrderStore

	mu      sync.Mutex
	loaded  bool
	orders  map[string]*order
	active  map[string]struct{} // orders in progress
	pending map[string]struct{} // orders with work or messages left
	bought  map[string]*order   // orders that bought a number
	// rejected lists the ended orders that bought nothing, oldest first (capped by
	// max_rejected_orders).
	rejected []string
	workers  map[string]chan struct{}
	reserved float64
	wg       sync.WaitGroup
	running  bool
}

// NewRouter builds the router over every platform account. It does no I/O.
func NewRouter(members []providers.GroupMember, deps providers.GroupDeps) (providers.Group, error) {
	if deps.Logger == nil {
		deps.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if deps.Now == nil {
		deps.Now = time.Now
	}
	if deps.KV == nil {
		deps.KV = &providers.MemoryKV{}
	}
	if deps.Publish == nil {
		deps.Publish = func(string, []byte, bool) error { return errors.New("no publisher") }
	}
	var s RouterSettings
	var problems []error
	if deps.Decode != nil {
		// Reported with the checks below; a key Decode rejected is left zero.
		problems = append(problems, deps.Decode(&s))
	}
	r := &Router{deps: deps, log: deps.Logger, now: deps.Now, byID: map[string]*Platform{},
		sem: make(chan struct{}, parallelCalls), kick: make(chan struct{}, 1),
		rng: rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 0x5eed)), workers: map[string]chan struct{}{},
		store: deps.Orders, active: map[string]struct{}{}, pending: map[string]struct{}{}, bought: map[string]*order{}}
	if r.store == nil {
		if st, ok := deps.KV.(providers.OrderStore); ok {
			r.store = st
		} else {
			r.store = &providers.MemoryKV{} // not persistent: only tests and tools get here
		}
	}
	for _, m := range members {
		p, ok := m.Provider.(*Platform)
		if !ok {
			return nil, fmt.Errorf("account %s is not an SMS platform", m.Account.ID)
		}
		r.platforms = append(r.platforms, p)
		r.byID[p.ID()] = p
	}
	add := func(key, f string, args ...any) { problems = append(problems, providers.Settingf(key, f, args...)) }
	if s.DefaultStrategy == "" {
		s.DefaultStrategy = DefaultStrategy
	} else if !validStrategy(s.DefaultStrategy) {
		add("default_strategy", "must be one of %s, got %q", strings.Join(Strategies, ", "), s.DefaultStrategy)
	}
	if s.MaxPlatformTries == 0 {
		s.MaxPlatformTries = DefaultMaxPlatformTries
	} else if s.MaxPlatformTries < 0 {
		add("max_platform_tries", "must be at least 1")
	}
	if s.MaxRejectedOrders == 0 {
		s.MaxRejectedOrders = DefaultMaxRejectedOrders
	} else if s.MaxRejectedOrders < 0 {
		add("max_rejected_orders", "must be at least 1")
	}
	if s.MaxActiveOrders == 0 {
		s.MaxActiveOrders = DefaultMaxActiveOrders
	} else if s.MaxActiveOrders < 0 {
		add("max_active_orders", "must be at least 1")
	}
	dur := func(name string, d *time.Duration, def time.Duration) {
		if *d == 0 {
			*d = def
		} else if *d < 0 {
			add(name, "must be positive, got %s", *d)
		}
	}
	dur("code_poll_interval", &s.CodePollInterval, DefaultCodePollInterval)
	dur("code_timeout", &s.CodeTimeout, DefaultCodeTimeout)
	dur("countries_ttl", &s.CountriesTTL, DefaultCountriesTTL)
	dur("prices_ttl", &s.PricesTTL, DefaultPricesTTL)
	dur("health_ttl", &s.HealthTTL, DefaultHealthTTL)
	dur("order_retention", &s.OrderRetention, DefaultOrderRetention)
	if s.MaxDailySpend < 0 {
		add("max_daily_spend", "must not be negative (0 = no limit)")
	}
	seen := map[Pair]bool{}
	for i := range s.Watch {
		w := &s.Watch[i]
		w.Service, w.Country = strings.ToLower(strings.TrimSpace(w.Service)), strings.ToLower(strings.TrimSpace(w.Country))
		if w.Service == "" || w.Country == "" {
			add(fmt.Sprintf("watch[%d]", i), "needs both `service` (e.g. tg) and `country` (e.g. us)")
		}
		if seen[*w] {
			add(fmt.Sprintf("watch[%d]", i), "repeats %s/%s", w.Service, w.Country)
		}
		seen[*w] = true
	}
	if s.Currency == "" {
		curs := map[string]bool{}
		for _, p := range r.platforms {
			curs[p.Currency()] = true
		}
		switch {
		case len(curs) == 1:
			for c := range curs {
				s.Currency = c
			}
		case len(curs) > 1:
			add("currency", "the SMS platforms report in different currencies (%s): set sms.currency (what prices are compared in) and sms.rates for the others",
				strings.Join(sortedKeys(curs), ", "))
		}
	}
	for _, p := range r.platforms {
		if c := p.Currency(); c != s.Currency && s.Currency != "" {
			if rate, ok := s.Rates[c]; !ok || rate <= 0 {
				add("rates", "needs a positive rate for %s (account %s): how many %s one %s is worth", c, p.ID(), s.Currency, c)
			}
		}
	}
	if err := errors.Join(problems...); err != nil {
		return nil, err
	}
	r.set = s
	cfg := platformConfig{watch: s.Watch, pricesTTL: s.PricesTTL, countriesTTL: s.CountriesTTL, healthTTL: s.HealthTTL}
	for _, p := range r.platforms {
		p.attach(cfg, r.platformStats)
	}
	return r, nil
}

// Settings returns the effective settings (defaults applied).
func (r *Router) Settings() RouterSettings { return r.set }

// toRouter converts an amount in cur to the router's currency.
func (r *Router) toRouter(v float64, cur string) float64 {
	if cur == r.set.Currency {
		return v
	}
	return v * r.set.Rates[cur]
}

func (r *Router) fromRouter(v float64, cur string) float64 {
	if cur == r.set.Currency {
		return v
	}
	return v / r.set.Rates[cur]
}

// Topics implements providers.Group.
func (r *Router) Topics() []string { return []string{TopicOrder, topicOrderPrefix + "+/cancel"} }

func (r *Router) acquire(ctx context.Context) bool {
	select {
	case r.sem <- struct{}{}:
		return true
	case <-ctx.Done():
		return false
	}
}

func (r *Router) release() { <-r.sem }

// Poll reports the router device from the platforms' caches. Only a platform never
// checked (or a watched pair never priced) is asked upstream, once.
func (r *Router) Poll(ctx context.Context) (providers.Snapshot, error) {
	for _, p := range r.platforms {
		if !r.acquire(ctx) {
			return providers.Snapshot{}, ctx.Err()
		}
		h := p.ensureHealth(ctx, -1)
		if ok, _ := p.usable(); ok && h.OK {
			for _, w := range r.set.Watch {
				if _, _, serves := p.serves(w.Service, w.Country); serves {
					_, _ = p.quote(ctx, w.Service, w.Country, -1)
				}
			}
		}
		r.release()
	}
	if ctx.Err() != nil {
		return providers.Snapshot{}, ctx.Err()
	}
	return providers.Snapshot{Account: "@" + Kind, Time: r.now(), Devices: []providers.Device{r.device()}}, nil
}

// PriceEntry is one platform's offer for a watched pair (the cheapest sensor's attributes).
type PriceEntry struct {
	Platform    string  `json:"platform"`
	Price       float64 `json:"price"`
	Currency    string  `json:"currency"`
	RouterPrice float64 `json:"router_price"`
	Count       *int    `json:"count,omitempty"`
	Healthy     bool    `json:"healthy"`
	InStock     bool    `json:"in_stock"`
}

// PriceList is the sorted offers of a pair from the caches (cheapest first).
func (r *Router) PriceList(w Pair) []PriceEntry {
	var out []PriceEntry
	for _, p := range r.platforms {
		e, ok := p.cachedQuote(w.Service, w.Country)
		if !ok || e.Err != nil {
			continue
		}
		usable, _ := p.usable()
		pe := PriceEntry{Platform: p.ID(), Price: round(e.Q.Price, 4), Currency: p.Currency(),
			RouterPrice: round(r.toRouter(e.Q.Price, p.Currency()), 4), Healthy: usable, InStock: e.Q.InStock()}
		if e.Q.CountKnown {
			n := e.Q.Count
			pe.Count = &n
		}
		out = append(out, pe)
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].RouterPrice != out[j].RouterPrice {
			return out[i].RouterPrice < out[j].RouterPrice
		}
		return r.byID[out[i].Platform].Priority() < r.byID[out[j].Platform].Priority()
	})
	return out
}

func (r *Router) device() providers.Device {
	d := providers.Device{ID: RouterDeviceID, Name: "SMS router", Manufacturer: "accountbridge", Model: "SMS platform router",
		Entities: routerEntities(r.set.Watch, r.set.Currency), Values: map[string]any{}, Attributes: map[string]map[string]any{}}
	for _, w := range r.set.Watch {
		list := r.PriceList(w)
		cheapest := "none"
		attrs := map[string]any{"service": w.Service, "country": w.Country, "currency": r.set.Currency, "prices": list}
		for _, pe := range list {
			if pe.Healthy && pe.InStock {
				cheapest = pe.Platform
				attrs["price"] = pe.RouterPrice
				break
			}
		}
		d.Values[cheapestKey(w)] = cheapest
		d.Attributes[cheapestKey(w)] = attrs
	}
	healthy := 0
	for _, p := range r.platforms {
		if ok, _ := p.usable(); ok {
			healthy++
		}
	}
	d.Values["healthy_platforms"] = healthy
	r.mu.Lock()
	r.loadLocked()
	d.Values["spend_today"] = round(r.spendTodayLocked(), 4)
	d.Values["active_orders"] = r.activeLocked()
	r.mu.Unlock()
	return d
}

// requestIDRe: a request id is one MQTT topic level.
var requestIDRe = regexp.MustCompile(`^[A-Za-z0-9_.:-]{1,64}$`)

// Request is an order published on <base>/sms/order.
type Request struct {
	RequestID string   `json:"request_id"`
	Service   string   `json:"service"`
	Country   string   `json:"country"`
	Strategy  string   `json:"strategy,omitempty"`
	Platform  string   `json:"platform,omitempty"`
	MaxPrice  *float64 `json:"max_price,omitempty"`
}

// Handle validates an order or a cancel and hands it to Run. It never calls upstream.
func (r *Router) Handle(_ context.Context, topic string, payload []byte) {
	if topic == TopicOrder {
		r.handleOrder(payload)
		return
	}
	rest, ok := strings.CutPrefix(topic, topicOrderPrefix)
	rid, tail, _ := strings.Cut(rest, "/")
	if !ok || tail != "cancel" {
		return
	}
	r.mu.Lock()
	r.loadLocked()
	o, exists := r.orders[rid]
	switch {
	case !exists:
		r.mu.Unlock()
		r.log.Warn("SMS order cancel for an unknown request_id ignored", "request_id", rid)
		return
	case o.terminal():
		r.mu.Unlock()
		r.log.Info("SMS order already ended; cancel ignored", "request_id", rid, "state", o.State)
		return
	}
	o.CancelRequested = true
	r.changedLocked(rid, o)
	wake := r.workers[rid]
	r.mu.Unlock()
	r.log.Info("SMS order cancel requested", "request_id", rid)
	if wake != nil {
		select {
		case wake <- struct{}{}:
		default:
		}
	}
	r.kickRun()
}

func (r *Router) kickRun() {
	select {
	case r.kick <- struct{}{}:
	default:
	}
}

// Limits of an order. An order is a few short strings: anything longer is refused before
// it is stored, and never echoed back.
const (
	MaxOrderBytes  = 4096
	maxServiceLen  = 32 // SMS-Activate codes are 2-3 letters, 5SIM product names a word
	maxCountryLen  = 32
	maxStrategyLen = 16
	maxPlatformLen = 64 // an account id or a family
	maxProblemLen  = 200
)

func (r *Router) handleOrder(payload []byte) {
	if len(payload) > MaxOrderBytes {
		r.reject(Request{RequestID: looseRequestID(payload)}, fmt.Sprintf("the order is %d bytes; at most %d", len(payload), MaxOrderBytes))
		return
	}
	var req Request
	if err := decodeOrder(payload, &req); err != nil {
		// Keep the request id when the rest is broken, to report the failure.
		r.reject(Request{RequestID: looseRequestID(payload)}, logging.CutBytes("the order is not valid JSON of the documented shape: "+err.Error(), maxProblemLen))
		return
	}
	var tooLong []string
	for _, f := range []struct {
		name string
		v    *string
		max  int
	}{{"service", &req.Service, maxServiceLen}, {"country", &req.Country, maxCountryLen},
		{"strategy", &req.Strategy, maxStrategyLen}, {"platform", &req.Platform, maxPlatformLen}} {
		if len(*f.v) > f.max {
			tooLong = append(tooLong, fmt.Sprintf("`%s` is %d bytes; at most %d", f.name, len(*f.v), f.max))
			*f.v = "" // not stored, not echoed
		}
	}
	if len(tooLong) > 0 {
		r.reject(req, strings.Join(tooLong, "; "))
		return
	}
	req.Service = strings.ToLower(strings.TrimSpace(req.Service))
	req.Country = strings.ToLower(strings.TrimSpace(req.Country))
	req.Strategy = strings.ToLower(strings.TrimSpace(req.Strategy))
	var problems []string
	if req.Service == "" {
		problems = append(problems, "`service` is required (e.g. \"tg\")")
	}
	if req.Country == "" {
		problems = append(problems, "`country` is required (e.g. \"us\")")
	}
	if req.Strategy != "" && !validStrategy(req.Strategy) {
		problems = append(problems, fmt.Sprintf("`strategy` must be one of %s", strings.Join(Strategies, ", ")))
	}
	if req.Platform != "" && !r.knownPlatform(req.Platform) {
		problems = append(problems, fmt.Sprintf("`platform` %q is neither an SMS account id nor a platform with an account", req.Platform))
	}
	if req.MaxPrice != nil && *req.MaxPrice <= 0 {
		problems = append(problems, "`max_price` must be positive")
	}
	if len(problems) > 0 {
		r.reject(req, strings.Join(problems, "; "))
		return
	}
	if !requestIDRe.MatchString(req.RequestID) {
		r.reject(req, "")
		return
	}
	r.mu.Lock()
	r.loadLocked()
	if _, dup := r.orders[req.RequestID]; dup {
		r.mu.Unlock()
		r.log.Warn("SMS order with a request_id already used: ignored (nothing bought)", "request_id", req.RequestID)
		return
	}
	now := r.now()
	o := &order{Req: req, State: stateQueued, Created: now, Updated: now}
	if r.activeLocked() >= r.set.MaxActiveOrders {
		o.fail(now, ReasonTooManyOrders, fmt.Sprintf("%d orders are in progress (sms.max_active_orders)", r.set.MaxActiveOrders))
	}
	r.changedLocked(req.RequestID, o)
	r.mu.Unlock()
	r.log.Info("SMS order received", "request_id", req.RequestID, "service", req.Service, "country", req.Country,
		"strategy", req.Strategy, "platform", req.Platform)
	r.kickRun()
}

// looseRequestID is the request_id of a payload that is not a valid order, when it has
// one, to address the failure to it.
func looseRequestID(payload []byte) string {
	var loose struct {
		RequestID string `json:"request_id"`
	}
	// The first value only: `{…} {…}` is answered on the first object's request_id.
	_ = json.NewDecoder(bytes.NewReader(payload)).Decode(&loose)
	return loose.RequestID
}

// decodeOrder decodes exactly one JSON object of the documented shape: no unknown key,
// no key twice (encoding/json would let the last one win, matching keys without regard
// to case), nothing after it (`{…} {…}` is not two orders, nor the first one).
func decodeOrder(payload []byte, req *Request) error {
	if t := bytes.TrimLeft(payload, " \t\r\n"); len(t) == 0 || t[0] != '{' {
		return errors.New("not a JSON object")
	}
	if err := uniqueKeys(payload); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.DisallowUnknownFields()
	if err := dec.Decode(req); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("more than one JSON value: trailing data after the order object")
	}
	return nil
}

// uniqueKeys fails when the top-level object repeats a key (compared as encoding/json
// matches fields: without regard to case). Orders have no nested objects.
func uniqueKeys(payload []byte) error {
	dec := json.NewDecoder(bytes.NewReader(payload))
	if _, err := dec.Token(); err != nil { // the opening brace
		return err
	}
	seen := map[string]bool{}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return err
		}
		key, _ := t.(string)
		if k := strings.ToLower(key); seen[k] {
			return fmt.Errorf("duplicate key %q", logging.CutBytes(key, 32))
		} else {
			seen[k] = true
		}
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return err
		}
	}
	return nil
}

// reject answers an invalid order (when its request_id can name a topic).
func (r *Router) reject(req Request, msg string) {
	if !requestIDRe.MatchString(req.RequestID) {
		r.log.Warn("SMS order without a usable request_id ignored ([A-Za-z0-9_.:-], at most 64)",
			"request_id", logging.CutBytes(req.RequestID, 80), "problem", msg)
		return
	}
	r.mu.Lock()
	r.loadLocked()
	if _, dup := r.orders[req.RequestID]; dup {
		r.mu.Unlock()
		r.log.Warn("invalid SMS order with a request_id already used: ignored", "request_id", req.RequestID, "problem", msg)
		return
	}
	now := r.now()
	o := &order{Req: req, State: stateQueued, Created: now, Updated: now}
	o.fail(now, ReasonInvalidRequest, msg)
	r.changedLocked(req.RequestID, o)
	r.mu.Unlock()
	r.log.Warn("invalid SMS order", "request_id", req.RequestID, "problem", msg)
	r.kickRun()
}

func (r *Router) knownPlatform(id string) bool {
	for _, p := range r.platforms {
		if p.ID() == id || p.Family() == id {
			return true
		}
	}
	return false
}

// Run resumes the stored orders and works every order until ctx ends.
func (r *Router) Run(ctx context.Context) error {
	r.mu.Lock()
	r.loadLocked()
	r.pruneLocked()
	r.running = true
	r.mu.Unlock()
	tick := time.NewTicker(time.Minute)
	defer tick.Stop()
	r.startWorkers(ctx)
	for {
		select {
		case <-ctx.Done():
			r.wg.Wait()
			r.mu.Lock()
			r.running = false
			r.mu.Unlock()
			return nil
		case <-r.kick:
			r.startWorkers(ctx)
		case <-tick.C:
			r.mu.Lock()
			r.pruneLocked()
			r.mu.Unlock()
			r.startWorkers(ctx)
		}
	}
}

// startWorkers starts a worker for every order with work left (or messages to send).
func (r *Router) startWorkers(ctx context.Context) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if ctx.Err() != nil {
		return
	}
	for _, rid := range sortedKeys(r.pending) {
		if _, running := r.workers[rid]; running {
			continue
		}
		wake := make(chan struct{}, 1)
		r.workers[rid] = wake
		r.wg.Add(1)
		go func() {
			defer r.wg.Done()
			r.work(ctx, rid, wake)
		}()
	}
}
