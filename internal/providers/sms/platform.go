// Package sms monitors SMS verification-code ("接码") platforms — balance, health,
// prices and stock of watched (service, country) pairs — and orders numbers over MQTT
// through a router that picks a platform by strategy, fails over and survives restarts.
//
// Each platform account (`provider: sms`) is a Platform speaking one protocol family
// (activate, fivesim, smsapi, smsman, onlinesim, smspva, getsmscode); the kind's Group is
// the Router (`sms:` section). User guide and protocol notes: docs/sms.md.
package sms

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/accountbridge/accountbridge/internal/providers"
)

// Kind is the provider name used in the config.
const Kind = "sms"

func init() {
	providers.Register(providers.Info{Kind: Kind, Description: "SMS verification-code platforms (balances, prices, stock, ordering over MQTT)",
		DefaultSchedule: "@every 5m", Factory: New, Group: NewRouter, GroupSchedule: "@every 1m", Names: Names, Settings: &Settings{}})
}

// Platform families (protocols).
const (
	FamilyActivate   = "activate"
	FamilyFiveSim    = "fivesim"
	FamilySMSAPI     = "smsapi"
	FamilySMSMan     = "smsman"
	FamilyOnlineSim  = "onlinesim"
	FamilySMSPVA     = "smspva"
	FamilyGetSMSCode = "getsmscode"
)

// Families lists the supported protocol families.
var Families = []string{FamilyActivate, FamilyFiveSim, FamilySMSAPI, FamilySMSMan, FamilyOnlineSim, FamilySMSPVA, FamilyGetSMSCode}

// Settings are the keys of one platform account.
type Settings struct {
	Platform string `yaml:"platform"` // protocol family
	Preset   string `yaml:"preset"`   // activate clones (docs/sms.md); default sms-activate
	APIKey   string `yaml:"api_key" secret:"true"`
	Username string `yaml:"username"` // smsapi, getsmscode
	Password string `yaml:"password" secret:"true"`
	BaseURL  string `yaml:"base_url"`
	// Currency the platform reports money in: an ISO 4217 code (RUB, USD, CNY) or any
	// other unit; default per platform.
	Currency string `yaml:"currency"`
	// Priority orders platforms for the priority strategy and breaks ties: lower first.
	Priority int `yaml:"priority"`
	// LowBalance turns the low-balance sensor on below this balance (platform currency).
	LowBalance *float64 `yaml:"low_balance"`
	// Operator for 5SIM purchases; default "any".
	Operator string `yaml:"operator"`
	// CancelStatus overrides the activate preset's setStatus cancel value.
	CancelStatus string `yaml:"cancel_status"`
	// Services and Countries map the router's codes (SMS-Activate service codes like tg,
	// ISO 3166 country codes like us) to the platform's own.
	Services  map[string]string `yaml:"services"`
	Countries map[string]string `yaml:"countries"`
	// Prices ("service/country" → price in the platform's currency) for platforms that
	// publish none (getsmscode, smspva without a price field).
	Prices map[string]float64 `yaml:"prices"`
}

var (
	currencyRe = regexp.MustCompile(`^[A-Z]{3}$`)
	statusRe   = regexp.MustCompile(`^-?[0-9]+$`)
)

// Platform is one platform account: its adapter and the caches the router reads.
type Platform struct {
	acct     providers.Account
	family   string
	preset   string
	currency string
	priority int
	low      *float64
	a        adapter
	maps     vocab
	prices   map[string]float64
	log      *slog.Logger
	now      func() time.Time

	fetchMu sync.Mutex // one upstream cache fill at a time

	mu         sync.Mutex
	cfg        platformConfig
	health     Health
	quotes     map[string]quoteEntry
	countries  map[string]bool
	countriesT time.Time
	needsFunds bool
	fatal      error
	stats      func(platform string) PlatformStats
	warned     map[string]bool
	lastErr    *lastError
}

// lastError is the platform's last upstream error (the last_api_error sensor); a good
// health check clears it.
type lastError struct {
	Msg   string
	Class Class
	Code  string
	At    time.Time
}

// platformConfig is what the router tells its platforms.
type platformConfig struct {
	watch        []Pair
	pricesTTL    time.Duration
	countriesTTL time.Duration
	// healthTTL also bounds how long a failed or out-of-stock quote is kept: a platform
	// is not left out of routing for a whole prices_ttl because of one bad answer.
	healthTTL time.Duration
}

// Health is the outcome of the last health check (balance call).
type Health struct {
	Checked    time.Time
	OK         bool
	Err        string
	Class      Class
	LatencyMs  float64
	Balance    float64
	HasBalance bool
}

type quoteEntry struct {
	Q       Quote
	Fetched time.Time
	Err     error
}

// PlatformStats are the router's figures of one platform (over the kept order history).
type PlatformStats struct {
	SuccessRate float64 // 0..100
	HasRate     bool
	Orders      int     // numbers bought
	SpendToday  float64 // platform currency, refunds deducted
}

// New validates a platform account and builds it. It does no I/O.
func New(acct providers.Account, deps providers.Deps) (providers.Provider, error) {
	var s Settings
	// Decode's errors and the checks below are reported together; a key Decode rejected
	// is left zero here, and the daemon drops the second error about it.
	problems := []error{acct.Decode(&s)}
	if acct.ID == "router" {
		problems = append(problems, providers.Settingf("id", "the account id `router` is reserved for the SMS router device: choose another id"))
	}
	deps = deps.WithDefaults()
	if deps.KV == nil {
		deps.KV = &providers.MemoryKV{}
	}
	add := func(key, f string, args ...any) { problems = append(problems, providers.Settingf(key, f, args...)) }
	s.Platform = strings.ToLower(strings.TrimSpace(s.Platform))
	p := &Platform{acct: acct, family: s.Platform, priority: s.Priority, low: s.LowBalance,
		log: deps.Logger, now: deps.Now, quotes: map[string]quoteEntry{}, warned: map[string]bool{},
		cfg: platformConfig{pricesTTL: DefaultPricesTTL, countriesTTL: DefaultCountriesTTL, healthTTL: DefaultHealthTTL}}
	problems = append(problems, buildFamily(p, s, deps, add)...)
	if s.Currency != "" {
		p.currency = strings.TrimSpace(s.Currency)
	}
	checkCommon(s, add)
	p.maps.userSvc, p.maps.userCC = s.Services, s.Countries
	p.prices = s.Prices
	if err := errors.Join(problems...); err != nil {
		return nil, err
	}
	if s.APIKey != "" {
		deps.Secret(s.APIKey)
	}
	return p, nil
}

// ID is the account id; the router's platform id.
func (p *Platform) ID() string { return p.acct.ID }

// Family is the protocol family.
func (p *Platform) Family() string { return p.family }

// Currency the platform's money is in.
func (p *Platform) Currency() string { return p.currency }

// Priority for the priority strategy (lower first).
func (p *Platform) Priority() int { return p.priority }

func (p *Platform) deviceID() string { return providers.DeviceID(Kind, p.acct.ID) }

func (p *Platform) attach(cfg platformConfig, stats func(string) PlatformStats) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cfg, p.stats = cfg, stats
}

// serves maps the router's (service, country) to the platform's codes.
func (p *Platform) serves(service, country string) (string, string, bool) {
	return p.maps.mapPair(service, country)
}

// checkHealth calls the balance endpoint and records the outcome.
func (p *Platform) checkHealth(ctx context.Context) Health {
	t0 := time.Now()
	bal, err := p.a.balance(ctx)
	h := Health{Checked: p.now(), LatencyMs: since(t0)}
	if err != nil {
		if ctx.Err() != nil {
			return p.Health()
		}
		h.Err, h.Class = err.Error(), ClassOf(err)
	} else {
		h.OK, h.Balance, h.HasBalance = true, bal, true
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if h.Class == ClassFatal {
		p.fatal = err
	}
	if !h.OK {
		p.lastErr = &lastError{Msg: h.Err, Class: h.Class, Code: CodeOf(err), At: h.Checked}
	} else {
		p.fatal, p.lastErr = nil, nil
		// A top-up (more money than when the platform said it had too little) clears the
		// needs-funds condition.
		if p.needsFunds && (!p.health.HasBalance || bal > p.health.Balance) {
			p.needsFunds = false
		}
	}
	if !h.OK && p.health.HasBalance {
		h.Balance, h.HasBalance = p.health.Balance, true // keep the last known balance
	}
	p.health = h
	return h
}

// Health returns the last health check.
func (p *Platform) Health() Health {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.health
}

// ensureHealth returns a health check no older than maxAge (maxAge < 0: any, only
// checking a platform never checked).
func (p *Platform) ensureHealth(ctx context.Context, maxAge time.Duration) Health {
	p.fetchMu.Lock()
	defer p.fetchMu.Unlock()
	h := p.Health()
	if !h.Checked.IsZero() && (maxAge < 0 || p.now().Sub(h.Checked) < maxAge) {
		return h
	}
	return p.checkHealth(ctx)
}

// usable reports whether the router may buy here now, and why not.
func (p *Platform) usable() (bool, string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case p.fatal != nil:
		return false, "disabled: " + p.fatal.Error()
	case p.needsFunds:
		return false, "needs funds"
	case !p.health.OK:
		return false, "unhealthy: " + p.health.Err
	}
	return true, ""
}

func pairKey(service, country string) string { return providers.SanitizeID(service + "_" + country) }

// quote returns the cached quote of a pair when younger than maxAge (maxAge < 0: any
// cached one), else asks the platform.
func (p *Platform) quote(ctx context.Context, service, country string, maxAge time.Duration) (Quote, error) {
	psvc, pcc, ok := p.serves(service, country)
	if !ok {
		return Quote{}, newErr(ClassNoNumbers, "", "%s does not serve %s/%s (add it to `services`/`countries`)", p.acct.ID, service, country)
	}
	key := pairKey(service, country)
	p.fetchMu.Lock()
	defer p.fetchMu.Unlock()
	p.mu.Lock()
	e, had := p.quotes[key]
	cfg := p.cfg
	p.mu.Unlock()
	if had && maxAge >= 0 && (e.Err != nil || !e.Q.InStock()) && cfg.healthTTL > 0 {
		maxAge = min(maxAge, cfg.healthTTL)
	}
	if had && (maxAge < 0 || p.now().Sub(e.Fetched) < maxAge) {
		return e.Q, e.Err
	}
	if lister, ok := p.a.(countryLister); ok {
		if set, err := p.countrySet(ctx, lister, cfg.countriesTTL); err == nil && set != nil && !set[pcc] {
			err := newErr(ClassNoNumbers, "", "%s does not list country %s", p.acct.ID, pcc)
			p.storeQuote(key, quoteEntry{Fetched: p.now(), Err: err})
			return Quote{}, err
		}
	}
	q, err := p.a.quote(ctx, psvc, pcc)
	if err != nil && ctx.Err() != nil {
		return Quote{}, err
	}
	if err == nil && q.Price < 0 {
		if v, ok := p.prices[service+"/"+country]; ok {
			q.Price = v
		} else {
			err = newErr(ClassTryNext, "", "%s publishes no price for %s/%s: set it in the account's `prices`", p.acct.ID, service, country)
		}
	}
	p.noteError(err)
	p.storeQuote(key, quoteEntry{Q: q, Fetched: p.now(), Err: err})
	return q, err
}

func (p *Platform) storeQuote(key string, e quoteEntry) {
	p.mu.Lock()
	p.quotes[key] = e
	p.mu.Unlock()
}

// cachedQuote is the last quote of a pair, if any.
func (p *Platform) cachedQuote(service, country string) (quoteEntry, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	e, ok := p.quotes[pairKey(service, country)]
	return e, ok
}

// countrySet is the platform's country list, cached for ttl. Called under fetchMu.
func (p *Platform) countrySet(ctx context.Context, l countryLister, ttl time.Duration) (map[string]bool, error) {
	p.mu.Lock()
	set, at := p.countries, p.countriesT
	p.mu.Unlock()
	if !at.IsZero() && p.now().Sub(at) < ttl {
		return set, nil
	}
	set, err := l.countries(ctx)
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	p.countries, p.countriesT = set, p.now()
	p.mu.Unlock()
	return set, nil
}

// noteError records what an upstream error says about the platform.
func (p *Platform) noteError(err error) {
	if err == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if cls := ClassOf(err); cls != ClassNoNumbers {
		p.lastErr = &lastError{Msg: err.Error(), Class: cls, Code: CodeOf(err), At: p.now()}
	}
	switch ClassOf(err) {
	case ClassFatal:
		p.fatal = err
	case ClassFunds:
		p.needsFunds = true
	}
}

// buy buys a number and notes what its failure says about the platform.
func (p *Platform) buy(ctx context.Context, service, country string, maxPrice float64) (Number, error) {
	psvc, pcc, ok := p.serves(service, country)
	if !ok {
		return Number{}, newErr(ClassTryNext, "", "%s does not serve %s/%s", p.acct.ID, service, country)
	}
	n, err := p.a.buy(ctx, psvc, pcc, maxPrice)
	if err != nil {
		if ctx.Err() == nil {
			p.noteError(err)
		}
		if ClassOf(err) == ClassNoNumbers {
			// The platform just said it has none: the stock sensor and the next order's
			// candidates should know before the cached quote expires.
			p.mu.Lock()
			if e, ok := p.quotes[pairKey(service, country)]; ok && e.Err == nil {
				e.Q.Count, e.Q.CountKnown = 0, true
				p.quotes[pairKey(service, country)] = e
			}
			p.mu.Unlock()
		}
		return Number{}, err
	}
	p.mu.Lock()
	p.needsFunds = false
	p.mu.Unlock()
	return n, nil
}

func (p *Platform) check(ctx context.Context, n Number) (SMS, error) {
	s, err := p.a.check(ctx, n)
	if ctx.Err() == nil {
		p.noteError(err)
	}
	return s, err
}

func (p *Platform) finish(ctx context.Context, n Number) error {
	err := p.a.finish(ctx, n)
	if ctx.Err() == nil {
		p.noteError(err)
	}
	return err
}

func (p *Platform) cancel(ctx context.Context, n Number) error {
	err := p.a.cancel(ctx, n)
	if ctx.Err() == nil {
		p.noteError(err)
	}
	return err
}

// Poll is the platform's health check: balance and response time, then the prices and
// stock of the watched pairs (each refreshed when older than prices_ttl).
func (p *Platform) Poll(ctx context.Context) (providers.Snapshot, error) {
	p.fetchMu.Lock()
	h := p.checkHealth(ctx)
	p.fetchMu.Unlock()
	if ctx.Err() != nil {
		return providers.Snapshot{}, ctx.Err()
	}
	if !h.OK && (h.Class == ClassFatal || h.Class == ClassRateLimited) {
		p.mu.Lock()
		err := p.fatal
		p.mu.Unlock()
		if h.Class == ClassRateLimited || err == nil {
			err = &Error{Class: h.Class, Msg: h.Err}
		}
		return providers.Snapshot{}, pollError(err)
	}
	p.mu.Lock()
	cfg := p.cfg
	p.mu.Unlock()
	if h.OK {
		for _, w := range cfg.watch {
			if _, _, ok := p.serves(w.Service, w.Country); !ok {
				continue
			}
			if _, err := p.quote(ctx, w.Service, w.Country, cfg.pricesTTL); err != nil && ClassOf(err) != ClassNoNumbers {
				p.warn(fmt.Sprintf("price of %s/%s not read: %v", w.Service, w.Country, err))
			}
		}
	}
	return providers.Snapshot{Account: p.acct.ID, Time: p.now(), Devices: []providers.Device{p.device()}}, nil
}

func (p *Platform) warn(msg string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.warned[msg] {
		return
	}
	if len(p.warned) < 200 {
		p.warned[msg] = true
	}
	p.log.Warn(msg)
}

// lowBalance reports the low-balance condition.
func (p *Platform) lowBalance() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.lowBalanceLocked()
}

func (p *Platform) lowBalanceLocked() bool {
	if p.needsFunds {
		return true
	}
	return p.low != nil && p.health.HasBalance && p.health.Balance < *p.low
}

// vocab maps router codes to a platform's codes: the account's own maps first, then the
// family's rule.
type vocab struct {
	userSvc, userCC map[string]string
	svc, cc         func(string) (string, bool)
}

func (v vocab) mapPair(service, country string) (string, string, bool) {
	s, ok := v.userSvc[service]
	if !ok {
		if s, ok = v.svc(service); !ok {
			return "", "", false
		}
	}
	c, ok := v.userCC[country]
	if !ok {
		if c, ok = v.cc(country); !ok {
			return "", "", false
		}
	}
	return s, c, true
}

func identity(s string) (string, bool) { return s, s != "" }

func isDigits(s string) bool {
	return s != "" && strings.Trim(s, "0123456789") == ""
}

func onlyDigits(s string) (string, bool) { return s, isDigits(s) }

func tableOrDigits(t map[string]string) func(string) (string, bool) {
	return func(s string) (string, bool) {
		if v, ok := t[strings.ToLower(s)]; ok {
			return v, true
		}
		return s, isDigits(s)
	}
}

func tableOrSame(t map[string]string) func(string) (string, bool) {
	return func(s string) (string, bool) {
		if v, ok := t[strings.ToLower(s)]; ok {
			return v, true
		}
		return s, s != ""
	}
}

// tableOrWord: a two-letter code must be in the table; a longer name is the platform's own.
func tableOrWord(t map[string]string) func(string) (string, bool) {
	return func(s string) (string, bool) {
		if v, ok := t[strings.ToLower(s)]; ok {
			return v, true
		}
		return s, len(s) > 2
	}
}

func only(codes ...string) func(string) (string, bool) {
	return func(s string) (string, bool) {
		for _, c := range codes {
			if strings.EqualFold(s, c) {
				return c, true
			}
		}
		return "", false
	}
}

func prefixed(prefix string) func(string) (string, bool) {
	return func(s string) (string, bool) { return s, strings.HasPrefix(s, prefix) }
}

// sortedKeys returns the keys of m, sorted.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
