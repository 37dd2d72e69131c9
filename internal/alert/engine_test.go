package alert

import (
	"bytes"
	"context"
	"encoding/json"
	"github.com/accountbridge/accountbridge/internal/alert/alerttest"
	"github.com/accountbridge/accountbridge/internal/clock"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/accountbridge/accountbridge/internal/config"
	"github.com/accountbridge/accountbridge/internal/discovery"
	"github.com/accountbridge/accountbridge/internal/providers"
	"github.com/accountbridge/accountbridge/internal/providers/wire"
	"github.com/accountbridge/accountbridge/internal/store"
)

var t0 = time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC) // 18:00 in Shanghai

func openStore(t *testing.T, path string) *store.Store {
	t.Helper()
	st, err := store.Open(context.Background(), path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func alertsConfig(t *testing.T, yamlText string) config.Alerts {
	t.Helper()
	cfg, err := config.Parse("config.yaml", []byte(yamlText), config.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return cfg.Alerts
}

func newEngine(t *testing.T, st Store, c *clock.Fake, cfgText string) *Engine {
	t.Helper()
	e := New(alertsConfig(t, cfgText), Options{Store: st, Now: c.Now})
	if err := e.Load(context.Background()); err != nil {
		t.Fatal(err)
	}
	return e
}

// box is a OneCloud-shaped device: a connectivity sensor.
func box(online bool) providers.Snapshot {
	return providers.Snapshot{Account: "home", Devices: []providers.Device{{
		ID: "onecloud_home_ocp1", Name: "OneCloud living room",
		Entities: []providers.Entity{{Key: "online", Name: "Online", Component: providers.BinarySensor, DeviceClass: "connectivity"}},
		Values:   map[string]any{"online": online},
	}}}
}

func balanceDevice(id, name string, balance float64) providers.Snapshot {
	return providers.Snapshot{Account: "x", Devices: []providers.Device{{
		ID: id, Name: name,
		Entities: []providers.Entity{{Key: "balance", Name: "Balance", Component: providers.Sensor,
			DeviceClass: "monetary", StateClass: "total", Unit: "CNY"}},
		Values: map[string]any{"balance": balance},
	}}}
}

const offlineCfg = "alerts:\n  offline:\n    for: 10m\n"

func TestOfflineShorterThanGraceIsSilent(t *testing.T) {
	ctx := context.Background()
	c := clock.NewFake(t0)
	e := newEngine(t, openStore(t, filepath.Join(t.TempDir(), "s.db")), c, offlineCfg)
	if got := e.Observe(ctx, box(true)); len(got) != 0 {
		t.Fatalf("online box alerted: %v", got)
	}
	if got := e.Observe(ctx, box(false)); len(got) != 0 {
		t.Fatalf("alert before the grace period: %v", got)
	}
	c.Advance(9 * time.Minute)
	if got := e.Tick(ctx); len(got) != 0 {
		t.Fatalf("alert at 9m: %v", got)
	}
	if got := e.Observe(ctx, box(true)); len(got) != 0 {
		t.Fatalf("a reboot produced %v", got)
	}
	c.Advance(time.Hour)
	if got := e.Tick(ctx); len(got) != 0 {
		t.Fatalf("late alert: %v", got)
	}
}

func TestOfflineLongerThanGraceAlertsOnceThenRecoversOnce(t *testing.T) {
	ctx := context.Background()
	c := clock.NewFake(t0)
	e := newEngine(t, openStore(t, filepath.Join(t.TempDir(), "s.db")), c, offlineCfg)
	e.Observe(ctx, box(true))
	c.Advance(time.Minute)
	e.Observe(ctx, box(false))
	c.Advance(10 * time.Minute)
	fired := e.Tick(ctx)
	if len(fired) != 1 || fired[0].State != Firing || fired[0].EventType() != "offline" || fired[0].ID != "offline:onecloud_home_ocp1.online" {
		t.Fatalf("fired = %+v", fired)
	}
	if want := "OneCloud living room is offline for 10m (last seen online 2026-11-21 18:00 +08:00)"; fired[0].Message != want {
		t.Errorf("message = %q, want %q", fired[0].Message, want)
	}
	// Still offline: no second alert, from Tick or from new observations.
	c.Advance(10 * time.Minute)
	if got := append(e.Tick(ctx), e.Observe(ctx, box(false))...); len(got) != 0 {
		t.Fatalf("repeated: %v", got)
	}
	c.Advance(5 * time.Minute)
	rec := e.Observe(ctx, box(true))
	if len(rec) != 1 || rec[0].State != Resolved || rec[0].EventType() != "online" ||
		rec[0].Message != "OneCloud living room is back online after 25m offline" {
		t.Fatalf("recovery = %+v", rec)
	}
	if got := e.Observe(ctx, box(true)); len(got) != 0 {
		t.Fatalf("second recovery: %v", got)
	}
}

func TestFlappingIsSuppressed(t *testing.T) {
	ctx := context.Background()
	c := clock.NewFake(t0)
	e := newEngine(t, openStore(t, filepath.Join(t.TempDir(), "s.db")), c, offlineCfg)
	var got []Alert
	for i := 0; i < 30; i++ {
		got = append(got, e.Observe(ctx, box(i%2 == 0))...)
		c.Advance(2 * time.Minute)
		got = append(got, e.Tick(ctx)...)
	}
	if len(got) != 0 {
		t.Errorf("flapping box alerted %d times: %v", len(got), got)
	}
}

func TestRestartWhileFiring(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "s.db")
	c := clock.NewFake(t0)
	st := openStore(t, path)
	e := newEngine(t, st, c, offlineCfg)
	e.Observe(ctx, box(false))
	c.Advance(11 * time.Minute)
	if fired := e.Tick(ctx); len(fired) != 1 {
		t.Fatalf("fired = %v", fired)
	}
	st.Close()

	// A new process: the alert is not sent again, and its recovery still is.
	c.Advance(time.Minute)
	e2 := newEngine(t, openStore(t, path), c, offlineCfg)
	if got := append(e2.Observe(ctx, box(false)), e2.Tick(ctx)...); len(got) != 0 {
		t.Fatalf("duplicate after restart: %v", got)
	}
	rec := e2.Observe(ctx, box(true))
	if len(rec) != 1 || rec[0].State != Resolved || !rec[0].Since.Equal(t0) {
		t.Fatalf("recovery after restart = %+v", rec)
	}
}

func TestThresholdRules(t *testing.T) {
	ctx := context.Background()
	c := clock.NewFake(t0)
	e := newEngine(t, openStore(t, filepath.Join(t.TempDir(), "s.db")), c, `alerts:
  rules:
    - entity: telecom_main.balance
      below: 10
      for: 1h
      repeat: 24h
    - entity: gas_home.balance
      below: 30
`)
	telecom := func(v float64) providers.Snapshot {
		return balanceDevice("telecom_main", "China Telecom 189****5678", v)
	}
	gas := func(v float64) providers.Snapshot { return balanceDevice("gas_home", "PetroChina Gas 12345678", v) }

	// Gas: no grace period, fires on the first low reading.
	fired := e.Observe(ctx, gas(20.5))
	if len(fired) != 1 || fired[0].Message != "PetroChina Gas 12345678 Balance is 20.5 CNY, below 30 CNY" || fired[0].EventType() != "threshold" {
		t.Fatalf("gas = %+v", fired)
	}
	// Telecom: pending for an hour.
	if got := e.Observe(ctx, telecom(8.5)); len(got) != 0 {
		t.Fatalf("telecom fired early: %v", got)
	}
	c.Advance(30 * time.Minute)
	e.Observe(ctx, telecom(7))
	c.Advance(30 * time.Minute)
	fired = e.Tick(ctx)
	if len(fired) != 1 || fired[0].Value != 7.0 || fired[0].Message != "China Telecom 189****5678 Balance is 7 CNY, below 10 CNY" {
		t.Fatalf("telecom = %+v", fired)
	}
	// Reminder after 24h, once.
	c.Advance(24 * time.Hour)
	rem := e.Tick(ctx)
	if len(rem) != 1 || !rem[0].Reminder || rem[0].State != Firing {
		t.Fatalf("reminder = %+v", rem)
	}
	if again := e.Tick(ctx); len(again) != 0 {
		t.Fatalf("second reminder at once: %v", again)
	}
	// Topped up.
	rec := e.Observe(ctx, telecom(50))
	if len(rec) != 1 || rec[0].State != Resolved || rec[0].Message != "China Telecom 189****5678 Balance is back to 50 CNY" || rec[0].EventType() != "recovered" {
		t.Fatalf("recovery = %+v", rec)
	}
	// An absent value is no evidence either way.
	empty := gas(0)
	delete(empty.Devices[0].Values, "balance")
	if got := e.Observe(ctx, empty); len(got) != 0 {
		t.Fatalf("absent value judged: %v", got)
	}
}

func TestChineseMessages(t *testing.T) {
	ctx := context.Background()
	c := clock.NewFake(t0)
	e := newEngine(t, openStore(t, filepath.Join(t.TempDir(), "s.db")), c, "alerts:\n  language: zh\n  offline:\n    for: 0s\n")
	e.Observe(ctx, box(true))
	c.Advance(90 * time.Minute)
	fired := e.Observe(ctx, box(false))
	c.Advance(2 * time.Hour)
	rec := e.Observe(ctx, box(true))
	if len(fired) != 1 || fired[0].Message != "OneCloud living room 已离线 0秒（最后在线 2026-11-21 18:00 +08:00）" {
		t.Errorf("fired = %+v", fired)
	}
	if len(rec) != 1 || rec[0].Message != "OneCloud living room 已恢复在线（离线 2小时0分钟）" {
		t.Errorf("recovered = %+v", rec)
	}
}

func TestAugmentAddsValidEntities(t *testing.T) {
	ctx := context.Background()
	c := clock.NewFake(t0)
	e := newEngine(t, openStore(t, filepath.Join(t.TempDir(), "s.db")), c,
		"alerts:\n  offline:\n    for: 0s\n  rules:\n    - entity: onecloud_home_ocp1.online\n      below: 1\n")
	dev := e.Augment(box(true).Devices[0])
	if dev.Values["alert_offline_online"] != false {
		t.Errorf("values = %v", dev.Values)
	}
	e.Observe(ctx, box(false))
	dev = e.Augment(box(false).Devices[0])
	if dev.Values["alert_offline_online"] != true {
		t.Errorf("firing not shown: %v", dev.Values)
	}
	res, err := discovery.Build(discovery.Options{BaseTopic: "ab", DiscoveryPrefix: "ha"}, dev, nil)
	if err != nil || len(res.Invalid) != 0 {
		t.Fatalf("discovery: %v %v", err, res.Invalid)
	}
	for _, key := range []string{"alerts", "alert_offline_online", "alert_onecloud_home_ocp1_online_below", "online"} {
		if _, ok := res.Components[key]; !ok {
			t.Errorf("component %s missing: %v", key, res.Components)
		}
	}
	// A model stored augmented (read back before its account's first poll after a
	// restart) gets no second copy of its alert entities.
	again := e.Augment(dev)
	if len(again.Entities) != len(dev.Entities) {
		t.Errorf("augmented twice: %d entities, once: %d", len(again.Entities), len(dev.Entities))
	}
	if again.Values["alert_offline_online"] != true {
		t.Errorf("augmented twice: values = %v", again.Values)
	}
	// A device no rule applies to is untouched.
	plain := balanceDevice("gas_home", "Gas", 1).Devices[0]
	if got := e.Augment(plain); len(got.Entities) != 1 {
		t.Errorf("unrelated device changed: %v", got.Entities)
	}
}

type recorder struct {
	got chan Alert
}

func (r *recorder) Name() string                            { return "recorder" }
func (r *recorder) Notify(_ context.Context, a Alert) error { r.got <- a; return nil }

func TestEmailAndWebhookNotifiers(t *testing.T) {
	smtpSrv := alerttest.StartSMTP(t)
	host, port := smtpSrv.Host, smtpSrv.Port

	var hookMu sync.Mutex
	var hookBodies []Alert
	calls := 0
	delivered := make(chan struct{}, 1)
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hookMu.Lock()
		defer hookMu.Unlock()
		calls++
		if calls == 1 {
			w.WriteHeader(http.StatusBadGateway) // the first attempt fails: retried
			return
		}
		var a Alert
		if r.Header.Get("Content-Type") != "application/json" || json.NewDecoder(r.Body).Decode(&a) != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		hookBodies = append(hookBodies, a)
		select {
		case delivered <- struct{}{}:
		default:
		}
	}))
	defer hook.Close()

	cfg := alertsConfig(t, `alerts:
  offline:
    for: 0s
  email:
    host: `+host+`
    port: `+port+`
    security: none
    from: bridge@example.com
    to: [me@example.com, you@example.com]
  webhook:
    url: `+hook.URL+`/alert?token=s3cret
    retries: 2
`)
	done := &recorder{got: make(chan Alert, 4)}
	c := clock.NewFake(t0)
	var debug bytes.Buffer
	hookN, err := NewWebhook(*cfg.Webhook, slog.New(slog.NewTextHandler(&debug, &slog.HandlerOptions{Level: slog.LevelDebug})),
		func(s string) string { return strings.ReplaceAll(s, "s3cret", "***") })
	if err != nil {
		t.Fatal(err)
	}
	hookN.FirstRetry = time.Millisecond
	e := New(cfg, Options{Store: openStore(t, filepath.Join(t.TempDir(), "s.db")), Now: c.Now, RetryDelay: time.Millisecond,
		Notifiers: []Notifier{NewEmail(*cfg.Email), hookN, done}})
	e.Start()
	e.Dispatch(e.Observe(context.Background(), box(false)))
	<-done.got
	// Stop makes a worker try once more and return, so the webhook's retry after its first
	// failure may not have happened yet: wait for it (the mail goes in one attempt).
	<-delivered
	e.Stop(context.Background()) // waits for the email to be delivered

	msgs := smtpSrv.Messages()
	if len(msgs) != 1 {
		t.Fatalf("mails = %d", len(msgs))
	}
	for _, want := range []string{"From: bridge@example.com", "To: me@example.com, you@example.com",
		"Subject: [accountbridge] FIRING: OneCloud living room is offline for 0s",
		"Content-Type: text/plain; charset=utf-8", "Device: OneCloud living room (onecloud_home_ocp1)", "Rule:   offline"} {
		if !strings.Contains(msgs[0], want) {
			t.Errorf("mail lacks %q:\n%s", want, msgs[0])
		}
	}
	hookMu.Lock()
	defer hookMu.Unlock()
	if calls != 2 || len(hookBodies) != 1 || hookBodies[0].ID != "offline:onecloud_home_ocp1.online" ||
		hookBodies[0].State != Firing || hookBodies[0].Device != "onecloud_home_ocp1" || hookBodies[0].Message == "" {
		t.Errorf("webhook calls %d, bodies %+v", calls, hookBodies)
	}
	// The webhook goes through httpx: its debug log shows both requests, without the token.
	if log := debug.String(); strings.Count(log, "/alert") != 2 || strings.Contains(log, "s3cret") {
		t.Errorf("webhook debug log:\n%s", log)
	}
}

type failing struct {
	mu    sync.Mutex
	calls int
	ok    chan struct{}
}

func (f *failing) Name() string { return "flaky" }
func (f *failing) Notify(context.Context, Alert) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if f.calls < 3 {
		return io.ErrUnexpectedEOF
	}
	close(f.ok)
	return nil
}

func TestFailingNotifierIsRetriedWithoutBlocking(t *testing.T) {
	f := &failing{ok: make(chan struct{})}
	c := clock.NewFake(t0)
	e := New(alertsConfig(t, "alerts:\n  offline:\n    for: 0s\n"), Options{Store: openStore(t, filepath.Join(t.TempDir(), "s.db")),
		Now: c.Now, RetryDelay: time.Millisecond, Notifiers: []Notifier{f}})
	e.Start()
	e.Dispatch(e.Observe(context.Background(), box(false))) // returns at once
	<-f.ok
	e.Stop(context.Background())
	if f.calls != 3 {
		t.Errorf("calls = %d, want 3", f.calls)
	}
}

// Messages show values as the entity does (its display precision), never a float's 17
// digits, and times with their zone.
func TestMessageValuesRoundedToDisplayPrecision(t *testing.T) {
	for _, tt := range []struct {
		name      string
		value     any
		precision *int
		unit      string
		want      string
	}{
		{"precision 2", 7.6506452560424805, providers.Precision(2), "GiB", "Data used is 7.65 GiB, above 5 GiB"},
		{"precision 0", 7.6506452560424805, providers.Precision(0), "GiB", "Data used is 8 GiB, above 5 GiB"},
		{"precision 2 keeps zeros", 7.5, providers.Precision(2), "GiB", "Data used is 7.50 GiB, above 5 GiB"},
		{"no precision: at most 3 decimals", 7.6506452560424805, nil, "GiB", "Data used is 7.651 GiB, above 5 GiB"},
		{"an integer", int64(12), providers.Precision(0), "min", "Data used is 12 min, above 5 min"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := clock.NewFake(t0)
			e := newEngine(t, openStore(t, filepath.Join(t.TempDir(), "s.db")), c, "alerts:\n  rules:\n    - entity: telecom_main.data_used\n      above: 5\n")
			fired := e.Observe(context.Background(), providers.Snapshot{Account: "x", Devices: []providers.Device{{
				ID: "telecom_main", Name: "China Telecom 189****5678",
				Entities: []providers.Entity{{Key: "data_used", Name: "Data used", Component: providers.Sensor,
					Unit: tt.unit, Precision: tt.precision}},
				Values: map[string]any{"data_used": tt.value},
			}}})
			if want := "China Telecom 189****5678 " + tt.want; len(fired) != 1 || fired[0].Message != want {
				t.Fatalf("fired = %+v, want message %q", fired, want)
			}
		})
	}
	at := time.Date(2026, 1, 2, 3, 4, 0, 0, wire.CST)
	if got := formatValue(at, ""); got != "2026-01-02 03:04 +08:00" {
		t.Errorf("time value = %q", got)
	}
}

// A number in a device name (a gas 户号 shaped like a mobile number) is masked in the
// alert by the same rule as on the event topic and in logs.
func TestAlertMasksPhoneNumbersInNames(t *testing.T) {
	c := clock.NewFake(t0)
	e := newEngine(t, openStore(t, filepath.Join(t.TempDir(), "s.db")), c, "alerts:\n  rules:\n    - entity: gas_home.balance\n      below: 30\n")
	fired := e.Observe(context.Background(), balanceDevice("gas_home", "PetroChina Gas 13912345678", 20))
	if len(fired) != 1 {
		t.Fatalf("fired = %+v", fired)
	}
	b, _ := json.Marshal(fired[0])
	if strings.Contains(string(b), "13912345678") || fired[0].DeviceName != "PetroChina Gas 139****5678" ||
		fired[0].Message != "PetroChina Gas 139****5678 Balance is 20 CNY, below 30 CNY" {
		t.Errorf("alert = %s", b)
	}
}
