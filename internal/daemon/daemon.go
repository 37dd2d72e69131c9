package daemon

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/accountbridge/accountbridge/internal/alert"
	"github.com/accountbridge/accountbridge/internal/clock"
	"github.com/accountbridge/accountbridge/internal/config"
	"github.com/accountbridge/accountbridge/internal/discovery"
	"github.com/accountbridge/accountbridge/internal/hapublish"
	"github.com/accountbridge/accountbridge/internal/instance"
	"github.com/accountbridge/accountbridge/internal/logging"
	"github.com/accountbridge/accountbridge/internal/mqtt"
	"github.com/accountbridge/accountbridge/internal/poller"
	"github.com/accountbridge/accountbridge/internal/providers"
	"github.com/accountbridge/accountbridge/internal/providers/bridge"
	"github.com/accountbridge/accountbridge/internal/shard"
	"github.com/accountbridge/accountbridge/internal/store"
	"github.com/accountbridge/accountbridge/internal/version"
	"github.com/accountbridge/accountbridge/internal/web"
)

// Options for New. Config is required; the rest have production defaults.
type Options struct {
	// Config is not changed; the daemon keeps a released copy (config.Config.Released).
	Config   *config.Config
	Logger   *slog.Logger
	Redactor *logging.Redactor
	Clock    clock.Clock
	// WebListen overrides web.listen (bridge demo --web).
	WebListen string
	// WebIngress: running as the Home Assistant app; the UI listens on WebIngressPort
	// unless web.listen says otherwise, and only the Supervisor's ingress proxy may use it.
	WebIngress bool
	// Namespace sets discovery.Options.Namespace: `bridge demo` keeps its Home Assistant
	// devices apart from a real installation's on the same broker. "" for `bridge run`.
	Namespace string
}

// Daemon is the running bridge.
type Daemon struct {
	cfg      *config.Config
	log      *slog.Logger
	red      *logging.Redactor
	clock    clock.Clock
	store    *store.Store
	mqtt     *mqtt.Client         // the connection
	mqttOpts mqtt.Options         // its settings, for the instance claim's own connection
	self     instance.Identity    // who this daemon is on the broker
	pub      *hapublish.Publisher // Home Assistant's devices on it
	poller   *poller.Poller
	topics   discovery.Options
	accounts map[string]Account
	groups   []Group
	started  time.Time

	healthMu sync.Mutex // writeHealth
	mu       sync.Mutex
	marks    map[string]statusMark // account or group job → what Status compares with
	// A device's model (its last published form, without values) and its account are the
	// publisher's (pub.Model, pub.Owner): copies here cost about 250 bytes per device. The
	// publisher records the account before the device's discovery goes out, which is when
	// commands for it can arrive.
	mainDev  map[string]string // account → id of its main device
	alerts   *alert.Engine
	cycle    cycle
	lastPoll time.Time
	byState  map[string]int // accounts (not groups) by Status.State, for the bridge device

	infoLoop   *throttled   // publishes <base>/bridge/info when kicked
	infoSize   atomic.Int64 // bytes of the last bridge/info: the next one's buffer size
	bridgeLoop *throttled   // publishes the bridge device when kicked

	web     *web.Server   // nil when the UI is off
	history *alertHistory // the UI's alert history; nil when the UI is off
	wg      sync.WaitGroup
}

// cycle measures how long it takes to poll every account once: from the earliest start
// of a poll in the cycle to the end of the poll that completed the set.
type cycle struct {
	done  map[string]bool
	start time.Time
	last  time.Duration
}

// New opens the store, builds every account and prepares the MQTT client. Config errors
// come back as config.Errors.
func New(ctx context.Context, opts Options) (_ *Daemon, err error) {
	cfg := opts.Config
	if opts.Redactor == nil {
		opts.Redactor = logging.NewRedactor()
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Clock == nil {
		opts.Clock = clock.Real{}
	}
	d := &Daemon{
		cfg: cfg, log: opts.Logger, red: opts.Redactor, clock: opts.Clock,
		accounts: map[string]Account{}, marks: map[string]statusMark{},
		mainDev: map[string]string{}, started: opts.Clock.Now(),
		cycle: cycle{done: map[string]bool{}}, byState: map[string]int{},
	}
	d.infoLoop = newThrottled(func() time.Duration { return infoInterval(d.publishInfo()) })
	// At once, then at most once a second: a first cycle of many accounts changes the
	// counts with every poll.
	d.bridgeLoop = newThrottled(func() time.Duration { d.publishBridge(); return time.Second })
	st, err := store.Open(ctx, cfg.Store.Path, store.Options{Now: opts.Clock.Now})
	if err != nil {
		return nil, err
	}
	d.store = st
	defer func() {
		if err != nil {
			st.Close()
		}
	}()
	build := BuildOptions{Logger: d.log, Redactor: d.red, KV: func(name string) providers.KV { return st.KV(name) }, Now: opts.Clock.Now}
	// Only the accounts of this instance's shard are built, polled and published.
	accounts, err := BuildAccounts(ofShard(cfg), build)
	if err != nil {
		return nil, err
	}
	for _, a := range accounts {
		d.accounts[a.Config.ID] = a
	}
	tlsCfg, err := TLSConfig(cfg.MQTT)
	if err != nil {
		return nil, err
	}
	d.topics = discovery.Options{
		BaseTopic: cfg.MQTT.BaseTopic, DiscoveryPrefix: cfg.MQTT.DiscoveryPrefix, QoS: 1, BridgeID: cfg.Shard.BridgeID(),
		Namespace: opts.Namespace,
		Origin:    discovery.Origin{Name: "accountbridge", SWVersion: version.String(), SupportURL: "https://github.com/accountbridge/accountbridge"},
	}
	d.mqttOpts = mqtt.Options{
		Broker: cfg.MQTT.Broker, Username: cfg.MQTT.Username, Password: cfg.MQTT.Password, TLS: tlsCfg,
		ClientID: cfg.MQTT.ClientID, KeepAlive: cfg.MQTT.KeepAlive.D(),
		AvailabilityTopic: d.topics.BridgeAvailabilityTopic(), QoS: d.topics.QoS,
		Logger: d.log.With("component", "mqtt"),
	}
	d.self = instance.New(cfg.MQTT.ClientID, cfg.Shard, version.String(), opts.Clock.Now())
	d.mqtt, err = mqtt.New(d.mqttOpts)
	if err != nil {
		return nil, err
	}
	d.pub = hapublish.New(d.mqtt, hapublish.Options{
		Topics: d.topics, Discovery: cfg.MQTT.DiscoveryEnabled(), StatusTopic: cfg.MQTT.StatusTopic,
		BirthDelay: cfg.MQTT.BirthDelay.D(), Logger: d.log.With("component", "mqtt"),
	})
	if webListen(cfg, opts) != "" {
		d.history = newAlertHistory(ctx, st)
	}
	if err := d.setupAlerts(ctx); err != nil {
		return nil, err
	}
	build.Publish = func(topic string, payload []byte, retained bool) error {
		return d.mqtt.Publish(d.topics.BaseTopic+"/"+topic, payload, retained)
	}
	d.groups, err = BuildGroups(cfg, accounts, build)
	if err != nil {
		return nil, err
	}
	// The running daemon keeps a copy of the config without the accounts' YAML nodes:
	// only building the providers (done) needs them.
	d.cfg = cfg.Released()
	for i := range d.cfg.Accounts {
		if a, ok := d.accounts[d.cfg.Accounts[i].ID]; ok {
			a.Config = &d.cfg.Accounts[i]
			d.accounts[a.Config.ID] = a
		}
	}
	jobs := []poller.Job{bridgeJob(d.bridgeStats, opts.Clock.Now)}
	gjobs, err := groupJobs(d.groups)
	if err != nil {
		return nil, err
	}
	jobs = append(jobs, gjobs...)
	for _, id := range slices.Sorted(maps.Keys(d.accounts)) {
		a := d.accounts[id]
		jitter := time.Duration(-1)
		if cfg.Defaults.Jitter != nil {
			jitter = cfg.Defaults.Jitter.D()
		}
		jobs = append(jobs, poller.Job{Account: id, Provider: a.Provider, Schedule: a.Schedule,
			Timeout: a.Timeout, Jitter: jitter, Fingerprint: a.Config.Fingerprint()})
	}
	d.poller, err = poller.New(poller.Options{
		Clock: opts.Clock, Logger: d.log.With("component", "poller"), Results: d, State: st,
		Concurrency: cfg.Defaults.Concurrency, BackoffMax: cfg.Defaults.BackoffMax.D(),
		UnavailableAfter: cfg.Defaults.UnavailableAfter, Redact: d.red.Redact,
	}, jobs)
	if err != nil {
		return nil, err
	}
	if err = d.setupWeb(cfg, opts); err != nil {
		return nil, err
	}
	return d, nil
}

// ClaimWait bounds how long Run waits for the instance claim before it polls anyway (the
// broker is down: polling and alerts go on, and the claim is settled when it returns).
var ClaimWait = 10 * time.Second

// Run restores the last published devices, connects, polls, and returns after ctx ends
// and everything has shut down: in-flight polls finished (or were cancelled at the
// shutdown deadline), offline published, store closed.
func (d *Daemon) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// The health file says connected as soon as MQTT is (before "online"), not at the next
	// HealthInterval: a container turns healthy within seconds of its broker answering.
	d.mqtt.OnConnect(func() { d.writeHealth(false) })
	claim := d.claim(ctx, cancel)
	// Poll only once the claim has decided, so a refused newcomer never logs in upstream
	// (a provider with one session per login would log the running instance out). A
	// broker that does not answer within ClaimWait does not stop polling and alerts.
	select {
	case <-claim.decided:
	case <-time.After(ClaimWait):
		d.log.Warn("broker not reachable yet; polling without waiting for the instance claim", "waited", ClaimWait.String())
	}
	if ctx.Err() != nil { // refused: nothing was started
		<-claim.done
		d.mqtt.Close()
		if err := d.store.Close(); err != nil {
			d.log.Warn("closing the store", "err", err)
		}
		d.writeHealth(true)
		return claim.err
	}
	if err := d.restore(ctx); err != nil {
		d.log.Warn("could not restore the last published devices", "err", err)
	}
	// Commands are button presses, switch states and numbers: mqtt.DefaultMaxPayload.
	d.mqtt.Subscribe(mqtt.Subscription{Filter: d.topics.BaseTopic + "/+/+/set", Handler: d.onCommand})
	bg, stopBG := context.WithCancel(context.Background())
	d.alerts.Start()
	d.startGroups(bg)
	d.infoLoop.Kick() // publish bridge/info once at start, even with no accounts
	d.loop(bg, d.infoLoop.run)
	d.loop(bg, d.bridgeLoop.run)
	d.loop(bg, periodic{clock: clock.Real{}, every: 24 * time.Hour, atStart: true, fn: d.prune}.run)
	d.loop(bg, periodic{clock: clock.Real{}, every: HealthInterval, atStart: true, fn: func(context.Context) { d.writeHealth(false) }}.run)
	d.loop(bg, periodic{clock: d.clock, every: AlertTick, fn: d.alertTick}.run)
	d.poller.Start(bg)
	if d.web != nil {
		d.loop(bg, func(ctx context.Context) {
			if err := d.web.Serve(ctx); err != nil {
				d.log.Error("web UI stopped", "err", err)
			}
		})
		d.log.Info("web UI", "url", "http://"+d.web.Addr()+"/")
	}
	d.log.Info("accountbridge running", "version", version.String(), "accounts", len(d.accounts), "shard", d.cfg.Shard.String(),
		"broker", d.cfg.MQTT.Broker, "base_topic", d.topics.BaseTopic, "store", d.cfg.Store.Path, "gogc", gcPercent())

	<-ctx.Done()
	d.log.Info("shutting down", "deadline", d.cfg.Defaults.ShutdownTimeout.D())
	sctx, cancel := context.WithTimeout(context.Background(), d.cfg.Defaults.ShutdownTimeout.D())
	defer cancel()
	var errs []error
	if err := d.poller.Shutdown(sctx); err != nil {
		errs = append(errs, fmt.Errorf("polls still running at the shutdown deadline were cancelled: %w", err))
	}
	stopBG()
	d.wg.Wait()
	d.alerts.Stop(sctx)
	d.publishInfo()
	<-claim.done
	d.mqtt.Close()
	if claim.holder != nil {
		claim.holder.Close()
	}
	if claim.err != nil {
		errs = append(errs, claim.err)
	}
	if err := d.store.Close(); err != nil {
		errs = append(errs, err)
	}
	d.writeHealth(true) // `bridge health` says stopped at once, not after the file ages
	d.log.Info("stopped")
	return errors.Join(errs...)
}

// claiming is the instance claim running beside the daemon (see claim).
type claiming struct {
	decided chan struct{}    // closed once the claim was granted or refused
	done    chan struct{}    // closed when the claim goroutine ended; then the fields are set
	holder  *instance.Holder // the claim, once granted
	err     error            // the refusal to run next to another instance
}

// claim claims this instance's base topic (internal/instance) and only then connects the
// daemon's own MQTT connection: it shares its client id with any other instance of the
// same config, and connecting it would take over that instance's session. Run waits for
// the decision (decided) at most ClaimWait before it polls, so a daemon started while the
// broker is down still polls and alerts. When another instance is in the way, the daemon
// stops (cancel) and Run returns the refusal.
func (d *Daemon) claim(ctx context.Context, cancel context.CancelFunc) *claiming {
	c := &claiming{done: make(chan struct{}), decided: make(chan struct{})}
	var decideOnce sync.Once
	decide := func() { decideOnce.Do(func() { close(c.decided) }) }
	go func() {
		defer close(c.done)
		defer decide()
		holder, err := instance.Claim(ctx, instance.Options{MQTT: d.mqttOpts, Base: d.topics.BaseTopic, Self: d.self,
			Logger: d.log.With("component", "instance")})
		if err != nil {
			if ctx.Err() == nil {
				d.log.Error("refusing to run", "err", err)
				c.err = err
				cancel()
			}
			return
		}
		c.holder = holder
		decide()
		d.mqtt.Start()
		select {
		case conflict := <-holder.Conflict():
			// Two instances that started at the same moment: the younger one stops.
			d.log.Error("another instance serves this base topic; stopping", "err", conflict)
			c.err = conflict
			cancel()
		case <-ctx.Done():
		}
	}()
	return c
}

// restore re-publishes the devices stored by the last run, so HA has them (and their
// last values) before the first poll finishes; devices of accounts no longer configured
// are removed from Home Assistant and their data deleted.
func (d *Daemon) restore(ctx context.Context) error {
	recs, err := d.store.Devices(ctx)
	if err != nil {
		return err
	}
	configured := map[string]*config.Account{}
	for i := range d.cfg.Accounts {
		configured[d.cfg.Accounts[i].ID] = &d.cfg.Accounts[i]
	}
	// A group (e.g. the SMS router) keeps its devices and KV under its job name, "@<kind>".
	groupJobs := map[string]bool{}
	for _, g := range d.groups {
		groupJobs[g.Job] = true
	}
	if err := d.removeOldBridges(ctx); err != nil {
		return err
	}
	gone, moved := map[string]bool{}, map[string]bool{}
	for _, rec := range recs {
		acct, ok := configured[rec.Account]
		if rec.Account == bridge.Kind && rec.DeviceID != d.topics.Bridge() {
			// This instance's diagnostics device of another shard layout (bridge before
			// sharding, bridge_0 after): no instance has it any more.
			d.log.Info("removing the diagnostics device of the former shard layout", "device", rec.DeviceID)
			d.removeBridge(rec.DeviceID)
			if err := d.store.DeleteDevice(ctx, rec.DeviceID); err != nil {
				return err
			}
			continue
		}
		if d.movedAway(rec.Account) {
			// Polled by another instance now, which publishes it with the same ids: forget
			// it here without removing it from Home Assistant.
			if !moved[rec.Account] {
				d.log.Info("account moved to another shard; forgetting it here", "account", rec.Account,
					"shard", shard.Of(ShardKey(rec.Account, providerOf(configured, rec.Account)), d.cfg.Shard.Count))
			}
			moved[rec.Account] = true
			continue
		}
		if !ok && rec.Account != bridge.Kind && !groupJobs[rec.Account] {
			d.log.Info("removing the device of an account no longer configured", "account", rec.Account, "device", rec.DeviceID)
			d.pub.RemoveDevice(rec.DeviceID)
			if err := d.store.DeleteDevice(ctx, rec.DeviceID); err != nil {
				return err
			}
			gone[rec.Account] = true
			continue
		}
		dev, err := hapublish.DecodeModel(rec.Model)
		if err != nil {
			d.log.Warn("stored device unreadable; it is rebuilt by the next poll", "device", rec.DeviceID, "err", err)
			continue
		}
		if err := d.pub.Restore(rec.Account, dev, rec.State); err != nil {
			d.log.Warn("stored device not restored", "device", rec.DeviceID, "err", err)
			continue
		}
		if acct != nil && !acct.IsEnabled() {
			d.pub.SetAccountAvailable(rec.Account, false)
		}
	}
	for account := range gone {
		if err := d.store.DeleteAccountData(ctx, account); err != nil {
			return err
		}
	}
	// Its session, poller state (a stale quarantine) and device records: should the account
	// come back to this instance, it starts afresh.
	for account := range moved {
		if err := d.store.DeleteAccountData(ctx, account); err != nil {
			return err
		}
	}
	return nil
}

// Poll diagnostics the daemon adds to the main device of every account: only the daemon
// sees failed polls (they produce no snapshot).
var pollEntities = []providers.Entity{
	{Key: "last_poll", Name: "Last successful poll", Component: providers.Sensor, DeviceClass: "timestamp",
		Category: providers.CategoryDiagnostic, Topic: PollTopic},
	{Key: "last_error", Name: "Last error", Component: providers.Sensor, Icon: "mdi:alert-circle-outline",
		Category: providers.CategoryDiagnostic},
}

// pollNames are the poll diagnostics' names by language.
var pollNames = map[string]providers.Names{
	"zh": {Entities: map[string]string{"last_poll": "最后成功轮询", "last_error": "最后错误"}},
}

// localize puts the devices of a job (an account, a group "@kind", or the bridge) in the
// configured language. Only names change: ids and entity keys never do.
func (d *Daemon) localize(job string, devs []providers.Device) []providers.Device {
	lang := d.cfg.Language
	if lang == "" || lang == "en" {
		return devs
	}
	var names providers.Names
	switch {
	case job == bridge.Kind:
		names = bridge.Names[lang]
	case strings.HasPrefix(job, "@"):
		if info, ok := providers.Lookup(job[1:]); ok {
			names = info.Names[lang]
		}
	default:
		if a, ok := d.accounts[job]; ok && a.Info != nil {
			names = a.Info.Names[lang]
		}
	}
	out := make([]providers.Device, len(devs))
	for i, dev := range devs {
		out[i] = pollNames[lang].Apply(names.Apply(dev))
	}
	return out
}

// PollTopic is the topic (under <base>/<device>/) of the values that change on every poll
// by nature: the time of the last successful poll, which the daemon adds to an account's
// main device, and a provider's own fetch time (telecom's "updated"). Their entities read
// them from there (providers.Entity.Topic), so the state is re-published only when a value
// really changed, and Home Assistant re-renders one template per poll instead of all of
// the device's. Payload: {"last_poll":"2026-11-21T18:00:00+08:00"}.
const PollTopic = providers.PollTopic

// withPollDiagnostics returns dev with the poll diagnostic entities and values.
func withPollDiagnostics(dev providers.Device, lastPoll time.Time, lastError string) providers.Device {
	dev.Entities = withPollEntities(dev.Entities)
	values := make(map[string]any, len(dev.Values)+2)
	for k, v := range dev.Values {
		values[k] = v
	}
	if !lastPoll.IsZero() {
		values["last_poll"] = lastPoll
	}
	values["last_error"] = lastError
	dev.Values = values
	return dev
}

// diagLists maps a provider's interned entity list (by its first element) to the same
// list with the poll diagnostics appended, interned: every poll of every account adds the
// same two entities to one of a few lists, so the combined list is built once per list
// rather than once per poll. Bounded like the interned lists themselves.
var diagLists struct {
	sync.Mutex
	m map[*providers.Entity][]providers.Entity
}

const maxDiagLists = 4096

// withPollEntities returns es followed by pollEntities (shared: not to be modified).
func withPollEntities(es []providers.Entity) []providers.Entity {
	base := providers.InternEntities(es)
	if len(base) == 0 {
		return append(slices.Clip(base), pollEntities...)
	}
	key := &base[0]
	diagLists.Lock()
	defer diagLists.Unlock()
	if l, ok := diagLists.m[key]; ok && len(l) == len(base)+len(pollEntities) {
		return l
	}
	l := providers.InternEntities(append(slices.Clip(base), pollEntities...))
	if diagLists.m == nil {
		diagLists.m = map[*providers.Entity][]providers.Entity{}
	}
	if len(diagLists.m) < maxDiagLists {
		diagLists.m[key] = l
	}
	return l
}

// Snapshot implements poller.Results: publish what changed and remember it.
func (d *Daemon) Snapshot(ctx context.Context, snap providers.Snapshot) {
	if snap.Account != bridge.Kind && len(snap.Devices) > 0 {
		if snap.Time.IsZero() {
			snap.Time = d.clock.Now()
		}
		devs := slices.Clone(snap.Devices)
		devs[0] = withPollDiagnostics(devs[0], snap.Time, "")
		snap.Devices = devs
	}
	snap.Devices = d.localize(snap.Account, snap.Devices)
	var fired []alert.Alert
	if snap.Account != bridge.Kind {
		// Observe before publishing, so the problem sensors published with this state are
		// current; dispatch after, so the event entity exists before its first event.
		fired = d.alerts.Observe(ctx, snap)
		published := make([]providers.Device, len(snap.Devices))
		d.mu.Lock()
		for i, dev := range snap.Devices {
			// Shared with every equal list: thousands of accounts keep one copy.
			dev.Entities = providers.InternEntities(dev.Entities)
			snap.Devices[i] = dev
			published[i] = d.alerts.Augment(dev)
		}
		if len(snap.Devices) > 0 {
			d.mainDev[snap.Account] = snap.Devices[0].ID
		}
		d.mu.Unlock()
		snap.Devices = published
	}
	changes, removed, err := d.pub.PublishSnapshot(snap)
	defer d.alerts.Dispatch(fired)
	if err != nil {
		d.log.Error("snapshot not fully published", "account", snap.Account, "err", err)
	}
	for _, ch := range changes {
		rec := store.DeviceRecord{Account: snap.Account, DeviceID: ch.DeviceID, Model: ch.Model, State: ch.State, Updated: snap.Time}
		if err := d.store.SaveDevice(ctx, rec); err != nil {
			d.log.Error("could not store the device; it is re-sent after a restart only once polled again", "device", ch.DeviceID, "err", err)
		}
	}
	for _, id := range removed {
		d.log.Info("device gone from its account; removed from Home Assistant", "account", snap.Account, "device", id)
		if err := d.store.DeleteDevice(ctx, id); err != nil {
			d.log.Error("could not delete the device record", "device", id, "err", err)
		}
	}
}

// statusMark is the part of an account's last poller.Status that Status compares the
// next one with. The whole status is the poller's (pollStatus), not kept twice: a copy
// per account cost 240 bytes each.
type statusMark struct {
	State, LastError string
	LastRun          time.Time
	Available        bool
}

// pollStatus is the poller's current status of account (or group job). It takes the
// poller's lock, also while d.mu is held (info, the web UI's account list): the poller
// never calls the daemon with its lock held, so the order is always d.mu, then the
// poller's.
func (d *Daemon) pollStatus(account string) (poller.Status, bool) {
	if d.poller == nil { // still being built
		return poller.Status{}, false
	}
	return d.poller.Status(account)
}

// Status implements poller.Results.
func (d *Daemon) Status(_ context.Context, st poller.Status) {
	if st.Account == bridge.Kind {
		return
	}
	d.mu.Lock()
	prev, had := d.marks[st.Account]
	d.marks[st.Account] = statusMark{State: st.State, LastError: st.LastError, LastRun: st.LastRun, Available: st.Available}
	_, isAccount := d.accounts[st.Account] // not a group's own job
	if isAccount {
		if had {
			d.byState[prev.State]--
		}
		d.byState[st.State]++
	}
	if !st.LastRun.IsZero() && st.LastRun != prev.LastRun {
		d.lastPoll = d.clock.Now()
		if isAccount {
			d.trackCycle(st)
		}
	}
	mainID := d.mainDev[st.Account]
	failed := mainID != "" && st.LastError != "" && st.LastError != prev.LastError && st.LastRun != st.LastOK
	d.mu.Unlock()
	if failed {
		// A failed poll: show the error on the account's main device, keeping its last values.
		msg := d.red.Redact(st.LastErrorKind + ": " + st.LastError)
		if _, err := d.pub.PatchState(st.Account, mainID, map[string]any{"last_error": msg}); err != nil {
			d.log.Warn("last error not published", "account", st.Account, "device", mainID, "err", err)
		}
	}
	if st.State != "pending" && (!had || prev.Available != st.Available || prev.State == "pending") {
		d.pub.SetAccountAvailable(st.Account, st.Available)
	}
	if !had || prev.State != st.State || prev.LastError != st.LastError || prev.Available != st.Available {
		d.bridgeLoop.Kick()
	}
	d.infoLoop.Kick()
}

// updateAlerts re-publishes the alert values (problem sensors) of one device of account;
// model is the device as published, without its values (pub.Model; Augment adds no
// entity twice). Its entities do not change between polls: only which alerts fire.
func (d *Daemon) updateAlerts(account string, model providers.Device) {
	aug := d.alerts.Augment(model) // its Values are the alert values alone
	if len(aug.Values) == 0 {
		return
	}
	if _, err := d.pub.PatchState(account, model.ID, aug.Values); err != nil {
		d.log.Warn("alert state not published", "account", account, "device", model.ID, "err", err)
	}
}

// trackCycle runs under d.mu.
func (d *Daemon) trackCycle(st poller.Status) {
	if len(d.cycle.done) == 0 || st.LastRun.Before(d.cycle.start) {
		if len(d.cycle.done) == 0 {
			d.cycle.start = st.LastRun
		}
	}
	d.cycle.done[st.Account] = true
	if len(d.cycle.done) >= len(d.accounts) {
		d.cycle.last = d.clock.Now().Sub(d.cycle.start)
		d.cycle.done = map[string]bool{}
	}
}

func (d *Daemon) bridgeStats() bridge.Stats {
	d.mu.Lock()
	defer d.mu.Unlock()
	// Counted as statuses arrive (Status): this runs after every state change of an
	// account, so it must not walk every account.
	return bridge.Stats{Version: version.String(), Started: d.started, AccountsTotal: len(d.accounts),
		LastCycle: d.cycle.last, MQTTReconnects: d.mqtt.Reconnects(),
		AccountsOK: d.byState[poller.StateOK], AccountsQuarantined: d.byState[poller.StateQuarantined],
		AccountsFailing: d.byState[poller.StateFailing], AlertsExpired: d.alerts.Expired(),
		Shard: d.cfg.Shard, Instance: d.self.ClientID + " " + d.self.RunID}
}

// publishBridge refreshes the bridge device between its own scheduled polls, so account
// counts change in HA as soon as an account changes state.
func (d *Daemon) publishBridge() {
	_, _, _ = d.pub.PublishSnapshot(providers.Snapshot{Account: bridge.Kind, Time: d.clock.Now(),
		Devices: d.localize(bridge.Kind, []providers.Device{bridge.Device(d.bridgeStats())})})
}

// setupAlerts builds the alert engine with the outputs the config asks for and loads its
// persisted state.
func (d *Daemon) setupAlerts(ctx context.Context) error {
	cfg := d.cfg.Alerts
	var notifiers []alert.Notifier
	if cfg.MQTTEnabled() {
		notifiers = append(notifiers, &mqttNotifier{d: d})
	}
	if cfg.HomeAssistantEnabled() {
		notifiers = append(notifiers, &mqttNotifier{d: d, events: true})
	}
	if cfg.Email != nil {
		notifiers = append(notifiers, alert.NewEmail(*cfg.Email))
	}
	if cfg.Webhook != nil {
		hook, err := alert.NewWebhook(*cfg.Webhook, d.log.With("component", "webhook"), d.red.Redact)
		if err != nil {
			return err
		}
		notifiers = append(notifiers, hook)
	}
	if d.history != nil {
		notifiers = append(notifiers, d.history)
	}
	d.alerts = alert.New(cfg, alert.Options{Store: d.store, Now: d.clock.Now, Logger: d.log.With("component", "alert"), Notifiers: notifiers})
	return d.alerts.Load(ctx)
}

// AlertTick is how often grace periods and reminders are checked between polls.
const AlertTick = 30 * time.Second

// alertTick fires alerts whose grace period ran out between two polls of their account.
func (d *Daemon) alertTick(ctx context.Context) {
	fired := d.alerts.Tick(ctx)
	if len(fired) == 0 {
		return
	}
	// Their problem sensors change: re-publish the devices concerned.
	seen := map[string]bool{}
	for _, a := range fired {
		if seen[a.Device] {
			continue
		}
		seen[a.Device] = true
		if model, ok := d.pub.Model(a.Device); ok {
			account, _ := d.pub.Owner(a.Device)
			d.updateAlerts(account, model)
		}
	}
	d.alerts.Dispatch(fired)
}

// mqttNotifier publishes alerts on <base>/alerts (Node-RED; output "mqtt") or as events
// of the device's HA event entity (output "homeassistant"). Each is its own outbox
// output, so each gets every alert once. It is Ready while the broker connection is up:
// alerts wait in the outbox meanwhile and go out as soon as it is back.
type mqttNotifier struct {
	d      *Daemon
	events bool
}

func (n *mqttNotifier) Name() string {
	if n.events {
		return "homeassistant"
	}
	return "mqtt"
}

func (n *mqttNotifier) Ready() bool { return n.d.mqtt.Connected() }

func (n *mqttNotifier) Notify(_ context.Context, a alert.Alert) error {
	if n.events {
		return n.d.publishEvent(providers.DeviceEvent{Device: a.Device, Type: a.EventType(), Attributes: map[string]any{
			"id": a.ID, "rule": a.Rule, "state": a.State, "entity": a.Entity, "message": a.Message, "since": a.Since,
			"reminder": a.Reminder}})
	}
	b, err := json.Marshal(a)
	if err != nil {
		return err
	}
	return n.d.mqtt.Publish(n.d.topics.BaseTopic+"/alerts", b, false)
}

// onCommand routes <base>/<device>/<key>/set to the provider that owns the device.
func (d *Daemon) onCommand(topic string, payload []byte) {
	device, key, ok := mqtt.CommandTopicParts(d.topics.BaseTopic, topic)
	if !ok {
		return
	}
	account, known := d.pub.Owner(device)
	a, configured := d.accounts[account]
	if !known || !configured {
		if !d.cfg.Shard.Single() {
			// Every instance of a fleet gets every command; the device's owner runs it.
			d.log.Debug("command for a device of another shard (or unknown) ignored", "topic", topic)
			return
		}
		d.log.Warn("command for an unknown device ignored", "topic", topic)
		return
	}
	cmd, ok := a.Provider.(providers.Commander)
	if !ok {
		d.log.Warn("command ignored: the provider takes no commands", "topic", topic, "provider", a.Config.Provider)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), a.Timeout)
	defer cancel()
	events, err := cmd.Command(ctx, device, key, payload)
	if err != nil {
		d.log.Warn("command failed", "account", account, "device", device, "entity", key, "err", err)
	} else {
		d.log.Info("command done", "account", account, "device", device, "entity", key, "events", len(events))
	}
	for _, ev := range events {
		d.PublishEvent(ev)
	}
}

// PublishEvent sends ev to its device's HA event entity: {"event_type": …, attributes…},
// never retained (HA discards replayed events anyway).
func (d *Daemon) PublishEvent(ev providers.DeviceEvent) {
	if err := d.publishEvent(ev); err != nil {
		d.log.Warn("event not published", "device", ev.Device, "type", ev.Type, "err", err)
	}
}

func (d *Daemon) publishEvent(ev providers.DeviceEvent) error {
	body := make(map[string]any, len(ev.Attributes)+1)
	for k, v := range ev.Attributes {
		body[k] = v
	}
	body["event_type"] = ev.Type
	b, err := json.Marshal(body)
	if err != nil {
		return fmt.Errorf("event not encoded: %w", err)
	}
	return d.mqtt.Publish(d.topics.EventTopic(ev.Device), []byte(d.red.Redact(string(b))), false)
}

// Info is the retained diagnostics document on <base>/bridge/info (<base>/bridge_<i>/info
// for shard i).
type Info struct {
	Version  string        `json:"version"`
	Started  time.Time     `json:"started"`
	Accounts []AccountInfo `json:"accounts"`
}

// AccountInfo is one account in Info.
type AccountInfo struct {
	ID                  string    `json:"id"`
	Provider            string    `json:"provider"`
	Name                string    `json:"name,omitempty"`
	Schedule            string    `json:"schedule"`
	State               string    `json:"state"`
	Available           bool      `json:"available"`
	ConsecutiveFailures int       `json:"consecutive_failures"`
	LastRun             time.Time `json:"last_run,omitzero"`
	LastOK              time.Time `json:"last_ok,omitzero"`
	NextRun             time.Time `json:"next_run,omitzero"`
	LastErrorKind       string    `json:"last_error_kind,omitempty"`
	LastError           string    `json:"last_error,omitempty"`
	Devices             []string  `json:"devices"`
}

// info is the bridge/info document; its accounts are those info yields.
func (d *Daemon) info() (Info, iter.Seq[*AccountInfo]) {
	in := Info{Version: version.String(), Started: d.started}
	d.mu.Lock()
	ids := slices.Sorted(maps.Keys(d.accounts))
	d.mu.Unlock()
	return in, func(yield func(*AccountInfo) bool) {
		// One account at a time, reusing one record and one device list: with thousands
		// of accounts a slice of them all was megabytes of garbage per document.
		var ai AccountInfo
		devices := make([]string, 0, 4) // never nil: an account without devices lists []
		for _, id := range ids {
			d.mu.Lock()
			a, ok := d.accounts[id]
			d.mu.Unlock()
			if !ok {
				continue // removed meanwhile
			}
			st, _ := d.pollStatus(id)
			devices = d.pub.AppendDevices(devices[:0], id)
			ai = AccountInfo{ID: id, Provider: a.Config.Provider, Name: a.Config.Name, Schedule: a.Spec,
				State: st.State, Available: st.Available, ConsecutiveFailures: st.ConsecutiveFailures,
				LastRun: st.LastRun, LastOK: st.LastOK, NextRun: st.NextRun,
				LastErrorKind: st.LastErrorKind, LastError: d.red.Redact(st.LastError), Devices: devices}
			if ai.State == "" {
				ai.State = "pending"
			}
			if !yield(&ai) {
				return
			}
		}
	}
}

// publishInfo publishes bridge/info and returns its size.
func (d *Daemon) publishInfo() int {
	in, accounts := d.info()
	b, err := encodeInfo(in, accounts, int(d.infoSize.Load()))
	if err != nil {
		d.log.Error("bridge info not encoded", "err", err)
		return 0
	}
	d.infoSize.Store(int64(len(b)))
	d.pub.SetRetained(d.topics.BaseTopic+"/"+d.topics.Bridge()+"/info", b)
	return len(b)
}

// encodeInfo is json.Marshal(in) with the accounts that accounts yields, encoded one by
// one into one buffer of about sizeHint bytes: with thousands of accounts the document
// is megabytes, and Marshal would grow a pooled buffer by doubling (and keep it in the
// pool) before copying it out.
func encodeInfo(in Info, accounts iter.Seq[*AccountInfo], sizeHint int) ([]byte, error) {
	in.Accounts = nil
	head, err := json.Marshal(in)
	if err != nil {
		return nil, err
	}
	// head ends in "accounts":null}: the accounts go where the null is.
	head, ok := bytes.CutSuffix(head, []byte("null}"))
	if !ok {
		return nil, errors.New("bridge info: unexpected encoding of the header")
	}
	var buf bytes.Buffer
	buf.Grow(max(sizeHint+sizeHint/16, len(head)+2))
	buf.Write(head)
	buf.WriteByte('[')
	enc := json.NewEncoder(&buf)
	first := true
	for a := range accounts {
		if !first {
			buf.WriteByte(',')
		}
		first = false
		if err := enc.Encode(a); err != nil {
			return nil, err
		}
		buf.Truncate(buf.Len() - 1) // Encode's newline
	}
	buf.WriteString("]}")
	return buf.Bytes(), nil
}

// InfoRate caps the bytes per second spent on bridge/info: with thousands of accounts the
// document is megabytes, and it changes with every poll (last and next run).
const InfoRate = 256 << 10

// infoInterval is the pause after publishing an info document of size bytes: a second,
// or longer for a large document, so that it takes at most InfoRate bytes per second.
func infoInterval(size int) time.Duration {
	return max(time.Second, time.Duration(size)*time.Second/InfoRate)
}

func (d *Daemon) prune(ctx context.Context) {
	n, err := d.store.PruneRuns(ctx, d.clock.Now().Add(-d.cfg.Store.RunRetention.D()))
	if err != nil {
		d.log.Warn("pruning poll runs failed", "err", err)
	} else if n > 0 {
		d.log.Debug("pruned poll runs", "count", n)
	}
}
