package demo

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/accountbridge/accountbridge/internal/config"
	"github.com/accountbridge/accountbridge/internal/daemon"
	"github.com/accountbridge/accountbridge/internal/logging"
	"github.com/accountbridge/accountbridge/internal/mqtt/mqtttest"
	"github.com/accountbridge/accountbridge/internal/providers"
)

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// childBroker starts the demo's embedded broker in a child process of the test binary
// (mqtttest.Embedded): mochi v2.7.9 has a data race of its own on retained messages, and
// in the test process the race detector would fail the test for it.
func childBroker(t *testing.T) func(string) (embeddedBroker, error) {
	return func(string) (embeddedBroker, error) {
		addr, stop := mqtttest.Embedded(t)
		return childEmbedded{addr: addr, stop: stop}, nil
	}
}

type childEmbedded struct {
	addr string
	stop func()
}

func (c childEmbedded) URL() string  { return "tcp://" + c.addr }
func (c childEmbedded) Close() error { c.stop(); return nil }

// TestDemo runs the demo for real (its own embedded broker on a free port) and watches
// discovery and states of every provider's device arrive, then stops it cleanly.
func TestDemo(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out, logs syncBuffer
	ready := make(chan Info, 1)
	done := make(chan error, 1)
	go func() {
		// Fast: polls every 2s, the OneCloud box offline after 7s with a 1s alert grace.
		// The alert needs two offline polls at least the grace apart. Polls start on whole
		// seconds and the box toggles from when the fakes started, so the phase between
		// them is fixed for a run: a 3s window held two polls or one depending on it (a
		// loaded CI machine failed that way). A 7s window holds three.
		done <- Run(ctx, Options{BrokerAddr: "127.0.0.1:0", startBroker: childBroker(t), Out: &out, Log: &logs, LogLevel: "debug",
			Every: 2 * time.Second, OfflineAfter: 7 * time.Second, AlertFor: time.Second,
			Ready: func(i Info) { ready <- i }})
	}()
	defer func() {
		if t.Failed() {
			t.Logf("banner:\n%s\ndaemon log:\n%s", out.String(), logs.String())
		}
	}()

	var info Info
	select {
	case info = <-ready:
	case err := <-done:
		t.Fatalf("demo ended before it was ready: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("demo not ready after 30s")
	}
	if !info.Embedded || !strings.HasPrefix(info.BrokerURL, "tcp://127.0.0.1:") {
		t.Fatalf("broker = %q (embedded %v), want an embedded broker on loopback", info.BrokerURL, info.Embedded)
	}

	msgs := make(chan paho.Message, 1024)
	c := paho.NewClient(paho.NewClientOptions().AddBroker(info.BrokerURL).SetClientID("demo-test-watcher").
		SetOrderMatters(true).SetDefaultPublishHandler(func(_ paho.Client, m paho.Message) { msgs <- m }))
	if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("watcher connect: %v", tok.Error())
	}
	defer c.Disconnect(100)
	if tok := c.SubscribeMultiple(map[string]byte{BaseTopic + "/#": 1, DiscoveryPrefix + "/#": 1}, nil); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("subscribe: %v", tok.Error())
	}

	// Every provider's main device: discovery, a state and availability online; an SMS
	// order bought from 5SIM (SMS-Activate is cheaper but out of stock); the OneCloud box's
	// offline alert.
	want := map[string]bool{}
	for _, dev := range []string{"telecom_mobile", "gas_home", "onecloud_miner",
		"sms_activate", "sms_fivesim", "sms_selfhosted", "sms_router"} {
		want[DiscoveryPrefix+"/device/accountbridge-demo_"+dev+"/config"] = true
		want[BaseTopic+"/"+dev+"/state"] = true
		want[BaseTopic+"/"+dev+"/availability"] = true
	}
	if len(info.Upstreams) != len(providersInDemo) {
		t.Errorf("upstreams = %+v, want one per provider", info.Upstreams)
	}
	order := BaseTopic + "/sms/order/demo-test"
	want[order] = true
	alerts := BaseTopic + "/alerts"
	want[alerts] = true
	ordered := false
	deadline := time.After(90 * time.Second)
	for len(want) > 0 {
		select {
		case m := <-msgs:
			if m.Topic() == BaseTopic+"/sms_router/state" && !ordered {
				// The router is up: order a number.
				ordered = true
				c.Publish(BaseTopic+"/sms/order", 1, false, `{"request_id":"demo-test","service":"tg","country":"us","strategy":"price"}`)
			}
			if strings.HasPrefix(m.Topic(), DiscoveryPrefix+"/device/") {
				// The demo's Home Assistant identity is its own (discovery.Options.Namespace).
				p := string(m.Payload())
				if !strings.HasPrefix(m.Topic(), DiscoveryPrefix+"/device/accountbridge-demo_") ||
					strings.Contains(p, `"unique_id":"accountbridge_`) || strings.Contains(p, `"accountbridge_bridge"`) ||
					len(p) > 0 && !strings.Contains(p, `"identifiers":["accountbridge-demo_`) {
					t.Errorf("discovery outside the demo's namespace: %s %.300s", m.Topic(), p)
				}
			}
			if !want[m.Topic()] || len(m.Payload()) == 0 {
				continue
			}
			if m.Topic() == order && !strings.Contains(string(m.Payload()), `"platform":"fivesim"`) {
				if strings.Contains(string(m.Payload()), `"failed"`) {
					t.Errorf("order failed: %s", m.Payload())
				}
				continue
			}
			if m.Topic() == alerts && !(strings.Contains(string(m.Payload()), `"state":"firing"`) &&
				strings.Contains(string(m.Payload()), "onecloud_miner")) {
				continue
			}
			if strings.HasSuffix(m.Topic(), "/availability") && string(m.Payload()) != "online" {
				continue
			}
			delete(want, m.Topic())
		case <-deadline:
			t.Fatalf("still missing after 90s: %v", want)
		}
	}
	// The web UI on a free loopback port, named in the banner, lists every demo account.
	if !strings.HasPrefix(info.WebURL, "http://127.0.0.1:") || !strings.Contains(out.String(), "web UI    "+info.WebURL) {
		t.Errorf("web UI %q not in the banner:\n%s", info.WebURL, out.String())
	} else if res, err := http.Get(info.WebURL + "api/accounts"); err != nil {
		t.Error(err)
	} else {
		var accounts []struct{ ID, State string }
		err := json.NewDecoder(res.Body).Decode(&accounts)
		res.Body.Close()
		var ids []string
		for _, a := range accounts {
			ids = append(ids, a.ID)
		}
		for _, u := range info.Upstreams {
			for _, id := range u.Accounts {
				if !slices.Contains(ids, id) {
					t.Errorf("web UI accounts %v lack %s (%v)", ids, id, err)
				}
			}
		}
	}
	for _, s := range []string{"mosquitto_sub -h 127.0.0.1 -p ", "'accountbridge_demo/#'", "homeassistant/#", "accountbridge_demo/sms/order", "MQTT"} {
		if !strings.Contains(out.String(), s) {
			t.Errorf("banner lacks %q:\n%s", s, out.String())
		}
	}

	// Ctrl-C: the daemon says offline, Run returns without error, the temp dir is gone.
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("demo did not stop within 30s")
	}
	sawOffline := false
	for len(msgs) > 0 && !sawOffline {
		m := <-msgs
		sawOffline = m.Topic() == BaseTopic+"/bridge/availability" && string(m.Payload()) == "offline"
	}
	if !sawOffline {
		t.Error("no offline on bridge/availability before the broker stopped")
	}
	if _, err := os.Stat(info.DataDir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("temporary data dir %s still there (err %v)", info.DataDir, err)
	}
	if !strings.Contains(logs.String(), `"msg":"stopped"`) {
		t.Error("daemon log lacks its clean stop")
	}
}

// TestFakesOnly runs `bridge demo --fakes-only --accounts 2`: the fakes alone, and a
// config for them that polls every account successfully, twice (the second poll reuses
// the stored sessions); no broker is started.
func TestFakesOnly(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	dir := t.TempDir()
	var out syncBuffer
	ready := make(chan Info, 1)
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, Options{FakesOnly: true, Accounts: 2, DataDir: dir, Broker: "tcp://127.0.0.1:1",
			Out: &out, Ready: func(i Info) { ready <- i }})
	}()
	var info Info
	select {
	case info = <-ready:
	case err := <-done:
		t.Fatalf("fakes ended before they were ready: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("fakes not ready after 30s")
	}
	if info.Embedded || info.BrokerURL != "tcp://127.0.0.1:1" {
		t.Errorf("broker = %q (embedded %v), want the given URL and no broker of its own", info.BrokerURL, info.Embedded)
	}
	if info.ConfigPath != filepath.Join(dir, "config.yaml") {
		t.Errorf("config = %s, want it in the data dir %s", info.ConfigPath, dir)
	}
	cfg, err := config.Load(info.ConfigPath, config.LoadOptions{Providers: providers.Kinds(), Sections: providers.SectionKinds()})
	if err != nil {
		t.Fatal(err)
	}
	perKind := map[string]int{}
	for _, a := range cfg.Accounts {
		perKind[a.Provider]++
	}
	if want := map[string]int{"telecom": 2, "gas": 2, "onecloud": 2, "sms": 2}; !maps.Equal(perKind, want) {
		t.Errorf("accounts per provider = %v, want %v", perKind, want)
	}
	if cfg.MQTT.Broker != "tcp://127.0.0.1:1" {
		t.Errorf("config broker = %q", cfg.MQTT.Broker)
	}

	var logs syncBuffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	for round := 1; round <= 2; round++ {
		snaps, err := daemon.PollOnce(ctx, cfg, log, logging.NewRedactor(), "")
		if err != nil {
			t.Fatalf("poll %d: %v", round, err)
		}
		if len(snaps) != len(cfg.Accounts) {
			t.Fatalf("poll %d: %d snapshots, want %d", round, len(snaps), len(cfg.Accounts))
		}
		if round == 1 {
			if n := strings.Count(logs.String(), "logged in"); n != 6 {
				t.Errorf("first poll: %d logins, want one per telecom, gas and onecloud account (6):\n%s", n, logs.String())
			}
			logs = syncBuffer{}
			log = slog.New(slog.NewTextHandler(&logs, nil))
		} else if strings.Contains(logs.String(), "logged in") {
			t.Errorf("second poll logged in again instead of reusing the stored session:\n%s", logs.String())
		}
	}
	if !strings.HasSuffix(out.String(), "ready\n") {
		t.Errorf("banner does not end with ready:\n%s", out.String())
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("fakes did not stop within 30s")
	}
	if _, err := os.Stat(info.ConfigPath); err != nil {
		t.Errorf("config in the kept data dir: %v", err)
	}
}

// TestDemoBesideHousehold points the demo at a broker where a household's daemon (the
// defaults: base topic accountbridge, client id accountbridge) already runs. Both keep
// running (the instance claims are on different base topics), the demo publishes its
// devices only under its own names, and an SMS order sent to the household's topic is
// not the demo's to answer.
func TestDemoBesideHousehold(t *testing.T) {
	b, err := childBroker(t)("")
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	msgs := make(chan paho.Message, 4096)
	c := paho.NewClient(paho.NewClientOptions().AddBroker(b.URL()).SetClientID("household-watcher").
		SetOrderMatters(true).SetDefaultPublishHandler(func(_ paho.Client, m paho.Message) { msgs <- m }))
	if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("watcher connect: %v", tok.Error())
	}
	defer c.Disconnect(100)
	if tok := c.SubscribeMultiple(map[string]byte{"accountbridge/#": 1, BaseTopic + "/#": 1, DiscoveryPrefix + "/#": 1}, nil); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("subscribe: %v", tok.Error())
	}
	// next waits for a message matching pred; every message it passes by is checked.
	var householdOffline, strayReply, routerUp bool
	next := func(what string, pred func(paho.Message) bool) paho.Message {
		t.Helper()
		deadline := time.After(60 * time.Second)
		for {
			select {
			case m := <-msgs:
				householdOffline = householdOffline || m.Topic() == "accountbridge/bridge/availability" && string(m.Payload()) == "offline"
				strayReply = strayReply || strings.HasPrefix(m.Topic(), "accountbridge/sms/order/household-1")
				routerUp = routerUp || m.Topic() == BaseTopic+"/sms_router/state"
				if d, ok := strings.CutPrefix(m.Topic(), DiscoveryPrefix+"/device/"); ok && !strings.HasPrefix(d, "accountbridge-demo_") && d != "bridge/config" {
					t.Errorf("discovery on a household's topic: %s", m.Topic())
				}
				if pred(m) {
					return m
				}
			case <-deadline:
				t.Fatalf("no %s within 60s", what)
				return nil
			}
		}
	}

	// The household: the production defaults, no accounts.
	dir := t.TempDir()
	path := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(path, []byte("mqtt:\n  broker: "+b.URL()+"\nstore:\n  path: "+filepath.Join(dir, "h.db")+"\naccounts: []\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(path, config.LoadOptions{Providers: providers.Kinds(), Sections: providers.SectionKinds()})
	if err != nil {
		t.Fatal(err)
	}
	hctx, hstop := context.WithCancel(context.Background())
	defer hstop()
	h, err := daemon.New(hctx, daemon.Options{Config: cfg})
	if err != nil {
		t.Fatal(err)
	}
	hdone := make(chan error, 1)
	go func() { hdone <- h.Run(hctx) }()
	next("household online", func(m paho.Message) bool {
		return m.Topic() == "accountbridge/bridge/availability" && string(m.Payload()) == "online"
	})

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out, logs syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, Options{Broker: b.URL(), Out: &out, Log: &logs, LogLevel: "debug", Web: "off", Every: 2 * time.Second})
	}()
	defer func() {
		if t.Failed() {
			t.Logf("banner:\n%s\ndemo log:\n%s", out.String(), logs.String())
		}
	}()
	disc := next("the demo's telecom discovery", func(m paho.Message) bool {
		return m.Topic() == DiscoveryPrefix+"/device/accountbridge-demo_telecom_mobile/config" && len(m.Payload()) > 0
	})
	for _, s := range []string{`"identifiers":["accountbridge-demo_telecom_mobile"]`, `"via_device":"accountbridge-demo_bridge"`,
		`"unique_id":"accountbridge-demo_telecom_mobile_balance"`, `"default_entity_id":"sensor.demo_telecom_mobile_balance"`,
		`"state_topic":"accountbridge_demo/telecom_mobile/state"`} {
		if !strings.Contains(string(disc.Payload()), s) {
			t.Errorf("demo discovery lacks %s: %s", s, disc.Payload())
		}
	}
	// An order on the household's topic, then one on the demo's: the demo answers only its own.
	if !routerUp {
		next("the demo's SMS router", func(paho.Message) bool { return routerUp })
	}
	c.Publish("accountbridge/sms/order", 1, false, `{"request_id":"household-1","service":"tg","country":"us","strategy":"price"}`).Wait()
	c.Publish(BaseTopic+"/sms/order", 1, false, `{"request_id":"demo-1","service":"tg","country":"us","strategy":"price"}`).Wait()
	next("the demo's order bought", func(m paho.Message) bool {
		return m.Topic() == BaseTopic+"/sms/order/demo-1" && strings.Contains(string(m.Payload()), `"status":"number"`)
	})

	cancel()
	if err := <-done; err != nil {
		t.Errorf("demo Run: %v", err)
	}
	select {
	case err := <-hdone:
		t.Fatalf("the household daemon stopped beside the demo: %v", err)
	default:
	}
	if householdOffline || strayReply {
		t.Errorf("household disturbed: offline %v, its order answered %v", householdOffline, strayReply)
	}
	hstop()
	if err := <-hdone; err != nil {
		t.Errorf("household Run: %v", err)
	}
}
