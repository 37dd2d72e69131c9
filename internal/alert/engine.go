// Package alert evaluates alert rules against polled devices: built-in rules (a
// connectivity sensor offline, a problem sensor on) and threshold rules from the config.
// Each rule and subject runs a small state machine (ok → pending → firing → resolved) that
// is persisted, so a restart neither repeats an alert nor forgets one that is firing.
//
// The engine is passive: the daemon calls Observe with every snapshot and Tick on a timer,
// and hands the alerts they return to Dispatch (notifiers run on their own goroutines).
package alert

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/accountbridge/accountbridge/internal/config"
	"github.com/accountbridge/accountbridge/internal/logging"
	"github.com/accountbridge/accountbridge/internal/providers"
	"github.com/accountbridge/accountbridge/internal/store"
)

// Rule kinds.
const (
	KindOffline   = "offline"
	KindProblem   = "problem"
	KindThreshold = "threshold"
)

// Alert states as notifiers see them.
const (
	Firing   = "firing"
	Resolved = "resolved"
)

// HA event types published on a device's alert event entity.
var EventTypes = []string{"offline", "online", "problem", "threshold", "recovered"}

// Alert is one notification: a rule started firing, reminds that it still fires, or resolved.
type Alert struct {
	ID         string    `json:"id"` // <rule>:<device>.<entity>, stable for one condition
	Rule       string    `json:"rule"`
	Kind       string    `json:"kind"`
	Device     string    `json:"device"`
	DeviceName string    `json:"device_name,omitempty"`
	Entity     string    `json:"entity"`
	State      string    `json:"state"` // firing or resolved
	Reminder   bool      `json:"reminder,omitempty"`
	Since      time.Time `json:"since"` // when the condition began
	At         time.Time `json:"at"`
	Value      any       `json:"value,omitempty"`
	Unit       string    `json:"unit,omitempty"`
	Message    string    `json:"message"`
	// Seq is the alert's place in the outbox (0: not queued); Dispatch releases every
	// entry up to it.
	Seq int64 `json:"-"`
}

// EventType is the HA event type of the alert.
func (a Alert) EventType() string {
	switch {
	case a.State == Firing:
		return a.Kind
	case a.Kind == KindOffline:
		return "online"
	default:
		return "recovered"
	}
}

// Store is the part of the store the engine uses: alert states and the outbox.
type Store interface {
	AlertStates(ctx context.Context) ([]store.AlertState, error)
	SaveAlertState(ctx context.Context, st store.AlertState) error
	DeleteAlertState(ctx context.Context, rule, subject string) error
	CommitAlert(ctx context.Context, st store.AlertState, del bool, outputs []string, alertID string, payload []byte) (int64, error)
	NextOutbox(ctx context.Context, output string, upTo int64) (store.OutboxEntry, bool, error)
	DeleteOutbox(ctx context.Context, id int64) error
	ExpireOutbox(ctx context.Context, id int64) error
	DeleteOutboxExcept(ctx context.Context, keep []string) (int64, error)
	OutboxStats(ctx context.Context) (pending int, lastID, expired int64, err error)
}

// Options are the engine's dependencies.
type Options struct {
	Store     Store
	Now       func() time.Time
	Logger    *slog.Logger
	Notifiers []Notifier
	// RetryDelay is the first pause before a failed notification is tried again; it
	// doubles up to RetryMax (default 5s and 5m). A notifier that is not Ready (MQTT while
	// disconnected) is not tried at all: it is polled every ReadyPoll (default 250ms).
	RetryDelay time.Duration
	RetryMax   time.Duration
	ReadyPoll  time.Duration
	// Expiry is how long an alert may wait for an output before it is dropped unsent,
	// logged and counted (Expired); default config.DefaultAlertExpiry.
	Expiry time.Duration
}

// rule is one compiled rule.
type rule struct {
	name   string
	kind   string
	entity string // threshold rules: <device>.<key>
	below  *float64
	above  *float64
	grace  time.Duration
	repeat time.Duration
	text   string // custom message
}

// subject state, persisted as store.AlertState with data as JSON.
type subject struct {
	State        string    `json:"-"` // pending or firing (ok is "no record")
	Since        time.Time `json:"-"`
	Device       string    `json:"device"`
	DeviceName   string    `json:"device_name,omitempty"`
	Entity       string    `json:"entity"`
	EntityName   string    `json:"entity_name,omitempty"`
	Value        any       `json:"value,omitempty"`
	Unit         string    `json:"unit,omitempty"`
	Precision    *int      `json:"precision,omitempty"` // the entity's display precision, for messages
	LastNotified time.Time `json:"last_notified,omitzero"`
	LastSeenOK   time.Time `json:"last_seen_ok,omitzero"`
}

// Engine holds the rules and the state of every rule and subject.
type Engine struct {
	opts     Options
	lang     string
	builtins map[string]*rule // by kind
	rules    []*rule          // threshold rules
	haOut    bool

	mu       sync.Mutex
	states   map[string]*subject // key: rule name + "\x00" + subject
	lastOK   map[string]time.Time
	kicks    []chan struct{} // one per notifier: the outbox has new entries
	released atomic.Int64    // outbox entries up to this id may be delivered
	expired  atomic.Int64    // alerts dropped unsent, since the store was created
	workers  sync.WaitGroup
	stopping chan struct{}
}

// New compiles the rules of cfg.
func New(cfg config.Alerts, opts Options) *Engine {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.RetryDelay == 0 {
		opts.RetryDelay = 5 * time.Second
	}
	if opts.RetryMax == 0 {
		opts.RetryMax = 5 * time.Minute
	}
	if opts.ReadyPoll == 0 {
		opts.ReadyPoll = 250 * time.Millisecond
	}
	if opts.Expiry == 0 {
		opts.Expiry = cfg.ExpireAfter.D()
	}
	if opts.Expiry <= 0 {
		opts.Expiry = config.DefaultAlertExpiry
	}
	e := &Engine{opts: opts, lang: cfg.Language, builtins: map[string]*rule{}, haOut: cfg.HomeAssistantEnabled(),
		states: map[string]*subject{}, lastOK: map[string]time.Time{}, stopping: make(chan struct{})}
	if cfg.Offline.IsEnabled() {
		e.builtins[KindOffline] = &rule{name: KindOffline, kind: KindOffline, grace: cfg.Offline.For.D(), repeat: cfg.Offline.Repeat.D()}
	}
	if cfg.Problem.IsEnabled() {
		e.builtins[KindProblem] = &rule{name: KindProblem, kind: KindProblem, grace: cfg.Problem.For.D(), repeat: cfg.Problem.Repeat.D()}
	}
	for _, r := range cfg.Rules {
		e.rules = append(e.rules, &rule{name: r.Name, kind: KindThreshold, entity: r.Entity, below: r.Below, above: r.Above,
			grace: r.For.D(), repeat: r.Repeat.D(), text: r.Message})
	}
	return e
}

func stateKey(rule, subj string) string { return rule + "\x00" + subj }

// Load reads the persisted states and the outbox; call it once before the first Observe.
// What a former run queued and did not deliver is released at once; entries of outputs
// no longer configured are deleted.
func (e *Engine) Load(ctx context.Context) error {
	recs, err := e.opts.Store.AlertStates(ctx)
	if err != nil {
		return fmt.Errorf("alert: load states: %w", err)
	}
	if n, err := e.opts.Store.DeleteOutboxExcept(ctx, e.outputs()); err != nil {
		return fmt.Errorf("alert: %w", err)
	} else if n > 0 {
		e.opts.Logger.Info("undelivered alerts of outputs no longer configured deleted", "count", n)
	}
	pending, last, expired, err := e.opts.Store.OutboxStats(ctx)
	if err != nil {
		return fmt.Errorf("alert: %w", err)
	}
	e.released.Store(last)
	e.expired.Store(expired)
	if pending > 0 {
		e.opts.Logger.Info("alerts from before the restart still to deliver", "count", pending)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, r := range recs {
		var s subject
		if err := json.Unmarshal(r.Data, &s); err != nil {
			e.opts.Logger.Warn("alert state unreadable; dropped", "rule", r.Rule, "subject", r.Subject, "err", err)
			continue
		}
		s.State, s.Since = r.State, r.Since
		e.states[stateKey(r.Rule, r.Subject)] = &s
	}
	return nil
}

// match is one (rule, entity) pair found in a device.
type match struct {
	rule *rule
	ent  providers.Entity
}

// matches lists the rules that apply to the entities of dev.
func (e *Engine) matches(dev providers.Device) []match {
	var out []match
	for _, ent := range dev.Entities {
		if strings.HasPrefix(ent.Key, "alert_") {
			continue // our own problem sensors
		}
		if ent.Component == providers.BinarySensor {
			if r := e.builtins[KindOffline]; r != nil && ent.DeviceClass == "connectivity" {
				out = append(out, match{r, ent})
			}
			if r := e.builtins[KindProblem]; r != nil && ent.DeviceClass == "problem" {
				out = append(out, match{r, ent})
			}
		}
		for _, r := range e.rules {
			if r.entity == dev.ID+"."+ent.Key {
				out = append(out, match{r, ent})
			}
		}
	}
	return out
}

// condition reports whether the rule's condition holds for value; ok is false when the
// value cannot be judged (absent or of the wrong type).
func (r *rule) condition(value any) (holds, ok bool) {
	switch r.kind {
	case KindOffline:
		b, isBool := value.(bool)
		return isBool && !b, isBool
	case KindProblem:
		b, isBool := value.(bool)
		return isBool && b, isBool
	default:
		v, isNum := number(value)
		if !isNum {
			return false, false
		}
		return (r.below != nil && v < *r.below) || (r.above != nil && v > *r.above), true
	}
}

func number(v any) (float64, bool) {
	switch x := v.(type) {
	case float64:
		return x, true
	case float32:
		return float64(x), true
	case int:
		return float64(x), true
	case int64:
		return float64(x), true
	case int32:
		return float64(x), true
	case json.Number:
		f, err := x.Float64()
		return f, err == nil
	}
	return 0, false
}

// Observe evaluates every rule against the devices of a successful poll and returns the
// alerts to send.
func (e *Engine) Observe(ctx context.Context, snap providers.Snapshot) []Alert {
	now := e.opts.Now()
	var out []Alert
	for _, dev := range snap.Devices {
		for _, m := range e.matches(dev) {
			value, present := dev.Values[m.ent.Key]
			if !present {
				continue
			}
			holds, ok := m.rule.condition(value)
			if !ok {
				continue
			}
			out = append(out, e.step(ctx, m.rule, dev, m.ent, value, holds, now)...)
		}
	}
	return out
}

// step advances one state machine with an observation.
func (e *Engine) step(ctx context.Context, r *rule, dev providers.Device, ent providers.Entity, value any, holds bool, now time.Time) []Alert {
	subj := dev.ID + "." + ent.Key
	key := stateKey(r.name, subj)
	e.mu.Lock()
	defer e.mu.Unlock()
	s := e.states[key]
	if !holds {
		e.lastOK[key] = now
		if s == nil {
			return nil
		}
		if s.State == "pending" {
			// It came back within the grace period: a flap, nothing to say.
			e.opts.Logger.Debug("alert condition cleared within its grace period", "rule", r.name, "subject", subj)
			delete(e.states, key)
			e.forget(ctx, r.name, subj)
			return nil
		}
		s.Value = value
		a := e.alert(r, s, subj, Resolved, false, now)
		delete(e.states, key)
		e.commit(ctx, r.name, subj, s, true, &a)
		return []Alert{a}
	}
	if s == nil {
		s = &subject{State: "pending", Since: now, Device: dev.ID, Entity: ent.Key, LastSeenOK: e.lastOK[key]}
		e.states[key] = s
	}
	s.DeviceName, s.EntityName, s.Unit, s.Value, s.Precision = dev.Name, ent.Name, ent.Unit, value, ent.Precision
	return e.advance(ctx, r, s, subj, now)
}

// advance fires a pending state whose grace ran out and reminds a firing one. Callers hold e.mu.
func (e *Engine) advance(ctx context.Context, r *rule, s *subject, subj string, now time.Time) []Alert {
	var a Alert
	switch {
	case s.State == "pending" && now.Sub(s.Since) >= r.grace:
		s.State, s.LastNotified = "firing", now
		a = e.alert(r, s, subj, Firing, false, now)
	case s.State == "firing" && r.repeat > 0 && now.Sub(s.LastNotified) >= r.repeat:
		s.LastNotified = now
		a = e.alert(r, s, subj, Firing, true, now)
	default:
		e.save(ctx, r.name, subj, s)
		return nil
	}
	e.commit(ctx, r.name, subj, s, false, &a)
	return []Alert{a}
}

// Tick fires the pending alerts whose grace period ran out and sends due reminders,
// without a new observation (the last one still holds).
func (e *Engine) Tick(ctx context.Context) []Alert {
	now := e.opts.Now()
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []Alert
	for key, s := range e.states {
		name, subj, _ := strings.Cut(key, "\x00")
		r := e.ruleByName(name)
		if r == nil {
			continue
		}
		if s.State == "pending" && now.Sub(s.Since) < r.grace {
			continue
		}
		if s.State == "firing" && (r.repeat == 0 || now.Sub(s.LastNotified) < r.repeat) {
			continue
		}
		out = append(out, e.advance(ctx, r, s, subj, now)...)
	}
	slices.SortFunc(out, func(a, b Alert) int { return strings.Compare(a.ID, b.ID) })
	return out
}

func (e *Engine) ruleByName(name string) *rule {
	if r, ok := e.builtins[name]; ok {
		return r
	}
	for _, r := range e.rules {
		if r.name == name {
			return r
		}
	}
	return nil
}

func (e *Engine) record(rule, subj string, s *subject) store.AlertState {
	data, _ := json.Marshal(s)
	return store.AlertState{Rule: rule, Subject: subj, State: s.State, Since: s.Since, Updated: e.opts.Now(), Data: data}
}

// commit stores the state change that raised a and queues a for every output, together
// (del: the state is forgotten). a.Seq tells Dispatch what to release.
func (e *Engine) commit(ctx context.Context, rule, subj string, s *subject, del bool, a *Alert) {
	payload, err := json.Marshal(a)
	if err == nil {
		a.Seq, err = e.opts.Store.CommitAlert(ctx, e.record(rule, subj, s), del, e.outputs(), a.ID, payload)
	}
	if err != nil {
		e.opts.Logger.Error("alert not stored; it is not delivered and a restart may repeat it", "rule", rule, "subject", subj, "err", err)
	}
}

func (e *Engine) save(ctx context.Context, rule, subj string, s *subject) {
	err := e.opts.Store.SaveAlertState(ctx, e.record(rule, subj, s))
	if err != nil {
		e.opts.Logger.Error("alert state not saved; a restart may repeat or lose this alert", "rule", rule, "subject", subj, "err", err)
	}
}

func (e *Engine) forget(ctx context.Context, rule, subj string) {
	if err := e.opts.Store.DeleteAlertState(ctx, rule, subj); err != nil {
		e.opts.Logger.Error("alert state not deleted", "rule", rule, "subject", subj, "err", err)
	}
}

func (e *Engine) alert(r *rule, s *subject, subj, state string, reminder bool, now time.Time) Alert {
	// Names come from upstreams (a gas 户号, a OneCloud user name): the bridge's one phone
	// rule masks them here, so every output (MQTT, HA event, email, webhook) agrees.
	a := Alert{ID: r.name + ":" + subj, Rule: r.name, Kind: r.kind, Device: s.Device, DeviceName: logging.MaskPhone(s.DeviceName),
		Entity: s.Entity, State: state, Reminder: reminder, Since: s.Since, At: now, Value: s.Value, Unit: s.Unit}
	a.Message = logging.MaskPhone(e.message(r, s, a))
	return a
}

// Firing reports whether the rule fires for the device's entity (for its problem sensor).
func (e *Engine) firing(rule, subj string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	s := e.states[stateKey(rule, subj)]
	return s != nil && s.State == "firing"
}

// Augment adds to dev what Home Assistant shows of its alerts: an event entity and one
// problem binary sensor per applicable rule (on while the rule fires). Devices no rule
// applies to are returned unchanged.
func (e *Engine) Augment(dev providers.Device) providers.Device {
	if !e.haOut {
		return dev
	}
	ms := e.matches(dev)
	if len(ms) == 0 {
		return dev
	}
	ents := slices.Clip(dev.Entities)
	values := make(map[string]any, len(dev.Values)+len(ms)+1)
	for k, v := range dev.Values {
		values[k] = v
	}
	// A model read back from the store was stored augmented: adding the entities again
	// would list them twice (the web UI's device view of an account not yet polled).
	seen := make(map[string]bool, len(ents))
	for _, ent := range ents {
		seen[ent.Key] = true
	}
	if !seen["alerts"] {
		ents = append(ents, providers.Entity{Key: "alerts", Name: e.text("Alerts", "告警"), Component: providers.Event,
			EventTypes: EventTypes, Icon: "mdi:bell-alert"})
	}
	done := map[string]bool{}
	for _, m := range ms {
		key := "alert_" + m.rule.name
		if m.rule.kind != KindThreshold {
			key = "alert_" + m.rule.name + "_" + m.ent.Key
		}
		if done[key] {
			continue
		}
		done[key] = true
		if !seen[key] {
			ents = append(ents, providers.Entity{Key: key, Name: e.sensorName(m), Component: providers.BinarySensor,
				DeviceClass: "problem"})
		}
		values[key] = e.firing(m.rule.name, dev.ID+"."+m.ent.Key)
	}
	dev.Entities, dev.Values = ents, values
	return dev
}

func (e *Engine) sensorName(m match) string {
	switch m.rule.kind {
	case KindOffline:
		return e.text("Offline alert", "离线告警")
	case KindProblem:
		return e.text(m.ent.Name+" alert", m.ent.Name+"告警")
	default:
		return e.text("Alert "+m.rule.name, "告警 "+m.rule.name)
	}
}

func (e *Engine) text(en, zh string) string {
	if e.lang == "zh" {
		return zh
	}
	return en
}
