package daemon_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/accountbridge/accountbridge/internal/config"
	"github.com/accountbridge/accountbridge/internal/daemon"
	"github.com/accountbridge/accountbridge/internal/daemon/daemontest"
	"github.com/accountbridge/accountbridge/internal/mqtt/mqtttest"
	"github.com/accountbridge/accountbridge/internal/providers"
)

// fakeProvider is registered as provider "testfake". Its behaviour per account is set by
// the test through the behaviours map.
type behaviour struct {
	gate     chan struct{} // when non-nil, Poll waits for it
	err      error
	polled   chan struct{} // when non-nil, told after each poll
	polls    atomic.Int64
	commands atomic.Int64
}

var (
	behavioursMu sync.Mutex
	behaviours   = map[string]*behaviour{}
)

func behaviourOf(id string) *behaviour {
	behavioursMu.Lock()
	defer behavioursMu.Unlock()
	b, ok := behaviours[id]
	if !ok {
		b = &behaviour{}
		behaviours[id] = b
	}
	return b
}

type fakeSettings struct {
	Balance  float64 `yaml:"balance"`
	Password string  `yaml:"password" secret:"true"`
}

type fakeProvider struct {
	id  string
	set fakeSettings
	log *slog.Logger
}

func init() {
	providers.Register(providers.Info{Kind: "testfake", DefaultSchedule: "@every 1h",
		Factory: func(a providers.Account, d providers.Deps) (providers.Provider, error) {
			p := &fakeProvider{id: a.ID, log: d.Logger}
			if err := a.Decode(&p.set); err != nil {
				return nil, err
			}
			return p, nil
		}})
}

func (p *fakeProvider) Poll(ctx context.Context) (providers.Snapshot, error) {
	b := behaviourOf(p.id)
	b.polls.Add(1)
	if b.gate != nil {
		select {
		case <-b.gate:
		case <-ctx.Done():
			return providers.Snapshot{}, ctx.Err()
		}
	}
	if b.polled != nil {
		defer func() { b.polled <- struct{}{} }()
	}
	p.log.Info("polled", "password", p.set.Password, "note", "login with "+p.set.Password)
	if b.err != nil {
		return providers.Snapshot{}, b.err
	}
	return providers.Snapshot{Account: p.id, Devices: []providers.Device{{
		ID: "testfake_" + p.id, Name: "Fake " + p.id,
		Entities: []providers.Entity{{Key: "balance", Name: "Balance", Component: providers.Sensor,
			DeviceClass: "monetary", StateClass: "total", Unit: "CNY"},
			{Key: "withdraw", Name: "Withdraw", Component: providers.Button},
			{Key: "events", Name: "Events", Component: providers.Event, EventTypes: []string{"withdrawn", "refused"}}},
		Values: map[string]any{"balance": p.set.Balance},
	}}}, nil
}

// Command implements providers.Commander: a press of "withdraw" reports an event.
func (p *fakeProvider) Command(_ context.Context, device, key string, payload []byte) ([]providers.DeviceEvent, error) {
	b := behaviourOf(p.id)
	b.commands.Add(1)
	if key != "withdraw" || string(payload) != "PRESS" {
		return nil, fmt.Errorf("unknown command %s=%s", key, payload)
	}
	return []providers.DeviceEvent{{Device: device, Type: "withdrawn", Attributes: map[string]any{"amount": 1.5}}}, nil
}

type env struct {
	*daemontest.Env
	t      *testing.T
	b      *mqtttest.Broker
	base   string
	prefix string
}

func newEnv(t *testing.T) *env {
	e := daemontest.New(t)
	return &env{Env: e, t: t, b: e.Broker, base: e.Base, prefix: e.Prefix}
}

func (e *env) config(accounts string) *config.Config { return e.Config(accounts) }
func (e *env) start(cfg *config.Config) func()       { return e.Start(cfg) }
func (e *env) watch() *mqtttest.Watcher              { return e.Watch() }
func (e *env) logText() string                       { return e.Logs() }

func TestDaemonPublishesRestoresAndRemoves(t *testing.T) {
	e := newEnv(t)
	id := "a" + strings.TrimPrefix(e.base, "ab_")
	acct := fmt.Sprintf("  - id: %s\n    provider: testfake\n    balance: 12.5\n    password: hunter2secret\n", id)
	dev := "testfake_" + id
	disc, state, avail := e.prefix+"/device/"+dev+"/config", e.base+"/"+dev+"/state", e.base+"/"+dev+"/availability"

	// First run: discovery, state, availability, bridge device and info. The info is
	// watched apart: it may say "ok" before the state is out, and before it lists the
	// device (it reads the poller's status, updated as the poll ends, before the snapshot
	// is published; the devices from the publisher, as it publishes them). The status that
	// follows the snapshot asks for another info document, which lists both.
	w, wi := e.watch(), e.watch()
	stop := e.start(e.config(acct))
	w.WaitAll(map[string]string{
		e.base + "/bridge/availability":    "online",
		e.prefix + "/device/bridge/config": "*",
		disc:                               "*",
		state:                              `~"balance":12.5`,
		avail:                              "online",
	})
	info := wi.Next(func(m mqtttest.Message) bool {
		return m.Topic == e.base+"/bridge/info" && strings.Contains(m.Payload, `"state":"ok"`) &&
			strings.Contains(m.Payload, `"devices":["`+dev+`"]`)
	})
	var in daemon.Info
	if err := json.Unmarshal([]byte(info.Payload), &in); err != nil || len(in.Accounts) != 1 || in.Accounts[0].Devices[0] != dev {
		t.Fatalf("bridge info = %s (%v)", info.Payload, err)
	}
	stop()
	w.WaitFor(e.base+"/bridge/availability", "offline")

	// The broker restarts and loses its retained messages; the daemon starts again with the
	// poll held back: the stored device and its last state are published before any poll ends.
	e.b.Restart()
	b := behaviourOf(id)
	b.gate = make(chan struct{})
	b.polled = make(chan struct{}, 1)
	w = e.watch()
	stop = e.start(e.config(acct))
	// The account was fine when the daemon stopped, so its restored device is shown
	// available with its last values while the first poll is still running.
	w.WaitAll(map[string]string{disc: "*", state: `~"balance":12.5`, avail: "online"})
	// A command for the restored device reaches its provider before that poll ends: the
	// device's account is known from its stored record.
	w.Publish(e.base+"/"+dev+"/withdraw/set", "PRESS", false)
	w.WaitFor(e.base+"/"+dev+"/event", "*")
	if n := b.commands.Load(); n != 1 {
		t.Errorf("commands = %d, want 1", n)
	}
	close(b.gate) // only now can the second poll finish
	<-b.polled
	stop()
	b.gate, b.polled = nil, nil
	if n := b.polls.Load(); n != 2 {
		t.Errorf("polls = %d, want 2", n)
	}

	// The account leaves the config: its device is removed from Home Assistant.
	w = e.watch()
	stop = e.start(e.config("  []\n"))
	w.WaitAll(map[string]string{disc: "", state: ""})
	stop()

	if logs := e.logText(); strings.Contains(logs, "hunter2secret") || !strings.Contains(logs, "polled") {
		t.Errorf("the password leaked into the logs or nothing was logged:\n%s", logs)
	}
}

func TestQuarantineSurvivesRestart(t *testing.T) {
	e := newEnv(t)
	id := "q" + strings.TrimPrefix(e.base, "ab_")
	acct := fmt.Sprintf("  - id: %s\n    provider: testfake\n", id)
	b := behaviourOf(id)
	b.err = providers.Permanent("wrong password: check `password`")

	w := e.watch()
	stop := e.start(e.config(acct))
	w.WaitAll(map[string]string{
		e.base + "/bridge/info":         "~wrong password: check `password`",
		e.base + "/bridge/state":        `~"accounts_quarantined":1`,
		e.base + "/bridge/availability": "online",
	})
	stop()
	if n := b.polls.Load(); n != 1 {
		t.Fatalf("polls = %d, want 1", n)
	}
	if logs := e.logText(); !strings.Contains(logs, "wrong password") {
		t.Error("the permanent error was not logged")
	}

	// Same config: still quarantined, not polled again.
	w = e.watch()
	stop = e.start(e.config(acct))
	w.WaitFor(e.base+"/bridge/info", `*`)
	info := w.Next(func(m mqtttest.Message) bool {
		return m.Topic == e.base+"/bridge/info" && strings.Contains(m.Payload, `"state":"quarantined"`)
	})
	if !strings.Contains(info.Payload, `"devices":[]`) { // none, not null
		t.Errorf("bridge info of an account without devices: %s", info.Payload)
	}
	stop()
	if n := b.polls.Load(); n != 1 {
		t.Errorf("polls after restart = %d, want 1 (quarantine must survive a restart)", n)
	}

	// `bridge reset` lifts it without a config change (a captcha solved in the app).
	cfg := e.config(acct)
	if prev, err := daemon.ResetAccount(context.Background(), cfg, id); err != nil || !strings.Contains(prev.QuarantineReason, "wrong password") {
		t.Fatalf("reset: %v, previous state %+v", err, prev)
	}
	b.err = nil
	w = e.watch()
	stop = e.start(cfg)
	w.WaitAll(map[string]string{e.base + "/testfake_" + id + "/state": `~"last_error":""`})
	stop()
	if n := b.polls.Load(); n != 2 {
		t.Errorf("polls after reset = %d, want 2", n)
	}

	// Quarantined again with the same config…
	b.err = providers.Permanent("wrong password: check `password`")
	w = e.watch()
	stop = e.start(e.config(acct))
	w.WaitAll(map[string]string{e.base + "/bridge/state": `~"accounts_quarantined":1`})
	stop()
	// …and a changed config lifts the quarantine.
	b.err = nil
	w = e.watch()
	stop = e.start(e.config(acct + "    balance: 1\n"))
	w.WaitAll(map[string]string{e.base + "/testfake_" + id + "/state": `~"balance":1,`})
	stop()
}

func TestPollDiagnosticsOnMainDevice(t *testing.T) {
	e := newEnv(t)
	id := "d" + strings.TrimPrefix(e.base, "ab_")
	acct := fmt.Sprintf("  - id: %s\n    provider: testfake\n    balance: 3\n", id)
	state := e.base + "/testfake_" + id + "/state"
	poll := e.base + "/testfake_" + id + "/poll"
	w := e.watch()
	stop := e.start(e.config(acct))
	w.WaitAll(map[string]string{
		e.prefix + "/device/testfake_" + id + "/config": `~"last_poll":{"platform":"sensor"`,
		state: `~"last_error":""`,
		poll:  `~{"last_poll":"`,
	})
	m := e.b.Watch(t, state).WaitFor(state, "*")
	var v map[string]any
	if err := json.Unmarshal([]byte(m.Payload), &v); err != nil {
		t.Fatal(err)
	}
	// The poll time changes on every poll: it has its own topic, so that an unchanged poll
	// re-publishes no state.
	if v["balance"] != 3.0 || v["last_error"] != "" || v["last_poll"] != nil {
		t.Errorf("state = %s", m.Payload)
	}
	m = e.b.Watch(t, poll).WaitFor(poll, "*")
	var p map[string]string
	if err := json.Unmarshal([]byte(m.Payload), &p); err != nil {
		t.Fatal(err)
	}
	if _, err := time.Parse(time.RFC3339, p["last_poll"]); err != nil || len(p) != 1 {
		t.Errorf("poll = %s (%v)", m.Payload, err)
	}
	cfg := e.b.Watch(t, e.prefix+"/device/testfake_"+id+"/config").WaitFor(e.prefix+"/device/testfake_"+id+"/config", "*")
	if !strings.Contains(cfg.Payload, `"state_topic":"`+poll+`"`) {
		t.Errorf("last_poll does not read %s: %s", poll, cfg.Payload)
	}
	stop()
}

func TestButtonCommandPublishesEvent(t *testing.T) {
	e := newEnv(t)
	id := "c" + strings.TrimPrefix(e.base, "ab_")
	dev := "testfake_" + id
	w := e.watch()
	stop := e.start(e.config(fmt.Sprintf("  - id: %s\n    provider: testfake\n", id)))
	w.WaitAll(map[string]string{e.AvailabilityTopic(dev): "online",
		e.DiscoveryTopic(dev): `~"command_topic":"` + e.base + "/" + dev + `/withdraw/set"`})
	w.Publish(e.base+"/"+dev+"/withdraw/set", "PRESS", false)
	m := w.WaitFor(e.base+"/"+dev+"/event", "*")
	if m.Payload != `{"amount":1.5,"event_type":"withdrawn"}` || m.Retained {
		t.Errorf("event = %+v", m)
	}
	if n := behaviourOf(id).commands.Load(); n != 1 {
		t.Errorf("commands = %d, want 1", n)
	}
	stop()
}

func TestThresholdAlertEndToEnd(t *testing.T) {
	e := newEnv(t)
	id := "t" + strings.TrimPrefix(e.base, "ab_")
	dev := "testfake_" + id
	account := func(balance string) *config.Config {
		return e.Config(fmt.Sprintf("  - id: %s\n    provider: testfake\n    balance: %s\n", id, balance),
			fmt.Sprintf("alerts:\n  rules:\n    - entity: %s.balance\n      below: 10\n", dev))
	}
	alerts := e.base + "/alerts"

	w := e.watch()
	stop := e.start(account("5"))
	w.WaitAll(map[string]string{
		alerts:                        `~"state":"firing"`,
		e.base + "/" + dev + "/event": `~"event_type":"threshold"`,
		e.StateTopic(dev):             `~"alert_` + dev + `_balance_below":true`,
		e.DiscoveryTopic(dev):         `~"alert_` + dev + `_balance_below":{"platform":"binary_sensor"`,
	})
	stop()

	// Restarted while firing: no second alert. A marker published after the daemon's first
	// poll proves nothing alert-shaped came before it.
	w = e.watch()
	stop = e.start(account("4")) // still below: polled, published, not alerted again
	w.WaitAll(map[string]string{e.StateTopic(dev): `~"balance":4,`})
	stop() // drains the notifier queues
	w.Publish(e.base+"/marker", "m", false)
	for _, m := range w.Until(e.base + "/marker") {
		if m.Topic == alerts {
			t.Errorf("alert repeated after restart: %s", m.Payload)
		}
	}

	// Topped up: resolved once.
	w = e.watch()
	stop = e.start(account("50"))
	w.WaitAll(map[string]string{
		alerts:                        `~"state":"resolved"`,
		e.base + "/" + dev + "/event": `~"event_type":"recovered"`,
		e.StateTopic(dev):             `~"alert_` + dev + `_balance_below":false`,
	})
	stop()
}

func discard() *slog.Logger { return slog.New(slog.DiscardHandler) }

// A failed poll shows its error on the main device's state, which keeps the last values;
// the poll time stays that of the last successful poll.
func TestFailedPollPatchesLastError(t *testing.T) {
	e := newEnv(t)
	id := "f" + strings.TrimPrefix(e.base, "ab_")
	b := behaviourOf(id)
	b.gate = make(chan struct{})
	b.polled = make(chan struct{}, 4)
	acct := fmt.Sprintf("  - id: %s\n    provider: testfake\n    schedule: \"@every 1s\"\n    balance: 4\n", id)
	state := e.base + "/testfake_" + id + "/state"
	poll := e.base + "/testfake_" + id + "/poll"
	w := e.watch()
	stop := e.start(e.config(acct))
	b.gate <- struct{}{}
	<-b.polled
	w.WaitAll(map[string]string{state: `{"balance":4,"last_error":""}`, poll: `~{"last_poll":"`})
	lastPoll := e.b.Watch(t, poll).WaitFor(poll, "*").Payload

	b.err = errors.New("upstream down for maintenance") // read by the next poll, after the gate
	b.gate <- struct{}{}
	<-b.polled
	// Wait for the patched state itself: the first state matches `"last_error":"` too.
	w.WaitAll(map[string]string{state: `~upstream down for maintenance`})
	m := e.b.Watch(t, state).WaitFor(state, "*")
	var v map[string]any
	if err := json.Unmarshal([]byte(m.Payload), &v); err != nil {
		t.Fatal(err)
	}
	if v["balance"] != 4.0 || !strings.Contains(fmt.Sprint(v["last_error"]), "upstream down for maintenance") {
		t.Errorf("state after a failed poll = %s", m.Payload)
	}
	if got := e.b.Watch(t, poll).WaitFor(poll, "*").Payload; got != lastPoll {
		t.Errorf("poll time changed by a failed poll: %s, was %s", got, lastPoll)
	}
	stop()
}

// An alert raised while the broker is unreachable waits in the outbox and arrives once,
// on <base>/alerts and as an HA event, when the broker is back.
func TestAlertRaisedDuringBrokerOutageArrivesOnce(t *testing.T) {
	e := newEnv(t)
	id := "o" + strings.TrimPrefix(e.base, "ab_")
	dev := "testfake_" + id
	b := behaviourOf(id)
	b.polled = make(chan struct{}, 1)
	cfg := e.Config(fmt.Sprintf("  - id: %s\n    provider: testfake\n    balance: 5\n", id),
		fmt.Sprintf("alerts:\n  rules:\n    - entity: %s.balance\n      below: 10\n", dev))
	alerts, events := e.base+"/alerts", e.base+"/"+dev+"/event"

	w := e.watch()
	e.b.Down()
	stop := e.start(cfg)
	defer stop()
	select {
	case <-b.polled: // polled and alerted while the broker refuses connections
	case <-time.After(mqtttest.Wait):
		t.Fatal("not polled")
	}
	e.b.Up()
	counts := map[string]int{}
	for counts[alerts] == 0 || counts[events] == 0 {
		m := w.Next(func(m mqtttest.Message) bool { return m.Topic == alerts || m.Topic == events })
		counts[m.Topic]++
	}
	stop()
	w.Publish(e.base+"/marker", "m", false)
	for _, m := range w.Until(e.base + "/marker") {
		counts[m.Topic]++
	}
	if counts[alerts] != 1 || counts[events] != 1 {
		t.Errorf("alerts %d, events %d; want each once", counts[alerts], counts[events])
	}
}
