package alert

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/accountbridge/accountbridge/internal/config"
)

// syncClock is a test clock the workers may read while the test advances it.
type syncClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *syncClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *syncClock) advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// gated records what it is given while its "connection" is up, like the MQTT outputs.
type gated struct {
	name  string
	up    atomic.Bool
	fail  atomic.Bool // connected, but publishing fails
	mu    sync.Mutex
	got   []Alert
	notes chan struct{}
}

func newGated(name string, up bool) *gated {
	g := &gated{name: name, notes: make(chan struct{}, 64)}
	g.up.Store(up)
	return g
}

func (g *gated) Name() string { return g.name }
func (g *gated) Ready() bool  { return g.up.Load() }
func (g *gated) Notify(_ context.Context, a Alert) error {
	if !g.up.Load() {
		return errors.New("not connected")
	}
	if g.fail.Load() {
		return errors.New("no acknowledgement")
	}
	g.mu.Lock()
	g.got = append(g.got, a)
	g.mu.Unlock()
	g.notes <- struct{}{}
	return nil
}

func (g *gated) received() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	var out []string
	for _, a := range g.got {
		out = append(out, a.State+" "+a.ID)
	}
	return out
}

func (g *gated) wait(t *testing.T, n int) {
	t.Helper()
	for range n {
		select {
		case <-g.notes:
		case <-time.After(10 * time.Second):
			t.Fatalf("%s: got %v, want %d alerts", g.name, g.received(), n)
		}
	}
}

const twoBoxesCfg = "alerts:\n  offline:\n    for: 0s\n"

// boxes observes two boxes and returns the alerts in the order they were raised.
func flapBoxes(ctx context.Context, e *Engine, c *syncClock) []Alert {
	var out []Alert
	for _, online := range []bool{false, true, false, true} {
		c.advance(time.Minute)
		out = append(out, e.Observe(ctx, box(online))...)
	}
	return out
}

func TestOutboxDeliversInOrderAfterAnOutage(t *testing.T) {
	ctx := context.Background()
	c := &syncClock{now: t0}
	mq, ha := newGated("mqtt", false), newGated("homeassistant", false)
	e := New(alertsConfig(t, twoBoxesCfg), Options{Store: openStore(t, filepath.Join(t.TempDir(), "s.db")), Now: c.Now,
		RetryDelay: time.Millisecond, ReadyPoll: time.Millisecond, Notifiers: []Notifier{mq, ha}})
	if err := e.Load(ctx); err != nil {
		t.Fatal(err)
	}
	e.Start()
	defer e.Stop(ctx)
	// The broker is down while the box goes offline, recovers, goes offline, recovers.
	e.Dispatch(flapBoxes(ctx, e, c))
	if got := mq.received(); len(got) != 0 {
		t.Fatalf("delivered while disconnected: %v", got)
	}
	mq.up.Store(true)
	ha.up.Store(true)
	mq.wait(t, 4)
	ha.wait(t, 4)
	want := "firing offline:onecloud_home_ocp1.online,resolved offline:onecloud_home_ocp1.online," +
		"firing offline:onecloud_home_ocp1.online,resolved offline:onecloud_home_ocp1.online"
	for _, g := range []*gated{mq, ha} {
		if got := strings.Join(g.received(), ","); got != want {
			t.Errorf("%s got %s", g.name, got)
		}
	}
}

func TestOutboxSurvivesRestartAndDeliversOnce(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "s.db")
	c := &syncClock{now: t0}

	// First run: connected, but every publish fails (no acknowledgement); then it stops.
	st1 := openStore(t, path)
	down := newGated("mqtt", true)
	down.fail.Store(true)
	e1 := New(alertsConfig(t, twoBoxesCfg), Options{Store: st1, Now: c.Now, RetryDelay: time.Millisecond, Notifiers: []Notifier{down}})
	if err := e1.Load(ctx); err != nil {
		t.Fatal(err)
	}
	e1.Start()
	c.advance(time.Minute)
	e1.Dispatch(e1.Observe(ctx, box(false)))
	e1.Stop(ctx)
	st1.Close()

	// Second run: the firing alert of the first run arrives, once, then its recovery.
	for run, want := range []string{"firing offline:onecloud_home_ocp1.online", ""} {
		st := openStore(t, path)
		up := newGated("mqtt", true)
		e := New(alertsConfig(t, twoBoxesCfg), Options{Store: st, Now: c.Now, RetryDelay: time.Millisecond, Notifiers: []Notifier{up}})
		if err := e.Load(ctx); err != nil {
			t.Fatal(err)
		}
		e.Start()
		if want != "" {
			up.wait(t, 1)
		}
		c.advance(time.Minute)
		fired := e.Observe(ctx, box(true)) // the first restart sees it recover; the second, nothing new
		e.Dispatch(fired)
		if run == 0 {
			up.wait(t, 1)
		}
		e.Stop(ctx)
		got := strings.Join(up.received(), ",")
		if run == 0 {
			want += ",resolved offline:onecloud_home_ocp1.online"
		}
		if got != want {
			t.Errorf("run %d: got %q, want %q", run+2, got, want)
		}
		if pending, _, _, err := st.OutboxStats(ctx); err != nil || pending != 0 {
			t.Errorf("run %d: %d entries left (%v)", run+2, pending, err)
		}
		st.Close()
	}
}

func TestOutboxExpiryDropsWithOneLogLineAndCounts(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "s.db")
	c := &syncClock{now: t0}
	var logs bytes.Buffer
	var logMu sync.Mutex
	logger := slog.New(slog.NewTextHandler(&lockedWriter{w: &logs, mu: &logMu}, nil))
	cfg := alertsConfig(t, twoBoxesCfg+"  expire_after: 1h\n")
	if cfg.ExpireAfter.D() != time.Hour {
		t.Fatalf("expire_after = %s", cfg.ExpireAfter)
	}
	st := openStore(t, path)
	mq := newGated("mqtt", false)
	e := New(cfg, Options{Store: st, Now: c.Now, Logger: logger, ReadyPoll: time.Millisecond, Notifiers: []Notifier{mq}})
	if err := e.Load(ctx); err != nil {
		t.Fatal(err)
	}
	e.Start()
	c.advance(time.Minute)
	e.Dispatch(e.Observe(ctx, box(false)))
	c.advance(59 * time.Minute) // not yet expired
	c.advance(time.Minute + time.Second)
	// The worker sees the expired entry on its next readiness check.
	deadline := time.Now().Add(10 * time.Second)
	for e.Expired() == 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	mq.up.Store(true)
	e.Stop(ctx)
	if e.Expired() != 1 {
		t.Fatalf("expired = %d", e.Expired())
	}
	if got := mq.received(); len(got) != 0 {
		t.Errorf("an expired alert was delivered: %v", got)
	}
	logMu.Lock()
	if n := strings.Count(logs.String(), "alert dropped undelivered"); n != 1 {
		t.Errorf("%d drop lines:\n%s", n, logs.String())
	}
	logMu.Unlock()
	// The count is kept by the store: a restart still shows it.
	e2 := New(cfg, Options{Store: st, Now: c.Now, Notifiers: []Notifier{mq}})
	if err := e2.Load(ctx); err != nil {
		t.Fatal(err)
	}
	if e2.Expired() != 1 {
		t.Errorf("expired after restart = %d", e2.Expired())
	}
}

type lockedWriter struct {
	w  *bytes.Buffer
	mu *sync.Mutex
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func TestOutboxOfARemovedOutputIsDeleted(t *testing.T) {
	ctx := context.Background()
	c := &syncClock{now: t0}
	st := openStore(t, filepath.Join(t.TempDir(), "s.db"))
	e := New(alertsConfig(t, twoBoxesCfg), Options{Store: st, Now: c.Now, Notifiers: []Notifier{newGated("email", false), newGated("mqtt", false)}})
	if err := e.Load(ctx); err != nil {
		t.Fatal(err)
	}
	e.Observe(ctx, box(false))
	e2 := New(alertsConfig(t, twoBoxesCfg), Options{Store: st, Now: c.Now, Notifiers: []Notifier{newGated("mqtt", false)}})
	if err := e2.Load(ctx); err != nil {
		t.Fatal(err)
	}
	if pending, _, _, _ := st.OutboxStats(ctx); pending != 1 {
		t.Errorf("pending = %d, want the mqtt entry alone", pending)
	}
}

func TestWebhookRetries(t *testing.T) {
	tests := []struct {
		name      string
		statuses  []int
		retries   int
		wantCalls int
		wantErr   string
	}{
		{"5xx then ok", []int{502, 503, 200}, 3, 3, ""},
		{"429 with Retry-After then ok", []int{429, 204}, 3, 2, ""},
		{"retries exhausted", []int{500, 500, 500}, 2, 3, "HTTP 500"},
		{"4xx is not retried", []int{401, 200}, 3, 1, "HTTP 401"},
		{"408 is retried", []int{408, 200}, 1, 2, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var calls atomic.Int32
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				n := int(calls.Add(1))
				code := tt.statuses[min(n, len(tt.statuses))-1]
				if code == 429 {
					w.Header().Set("Retry-After", "1")
				}
				w.WriteHeader(code)
			}))
			defer srv.Close()
			w, err := NewWebhook(config.Webhook{URL: srv.URL + "/h?token=abc", Retries: tt.retries, Timeout: config.Duration(5 * time.Second)}, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			w.FirstRetry = time.Millisecond
			err = w.Notify(context.Background(), Alert{ID: "x"})
			if got := int(calls.Load()); got != tt.wantCalls {
				t.Errorf("calls = %d, want %d", got, tt.wantCalls)
			}
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("err = %v", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Errorf("err = %v, want %q", err, tt.wantErr)
			case err != nil && strings.Contains(err.Error(), "abc"):
				t.Errorf("error shows the token: %v", err)
			}
		})
	}
}

func TestWebhookNetworkErrorHidesToken(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close() // nothing listens there now
	w, err := NewWebhook(config.Webhook{URL: url + "/h?token=abc", Timeout: config.Duration(time.Second)}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = w.Notify(context.Background(), Alert{ID: "x"})
	if err == nil || strings.Contains(err.Error(), "abc") {
		t.Errorf("err = %v", err)
	}
}

// Dispatch wakes the workers only when it releases something new: most polls fire
// nothing, and a wake-up costs each worker an outbox read.
func TestDispatchKicksOnlyForNewAlerts(t *testing.T) {
	e := New(config.Alerts{}, Options{})
	kick := make(chan struct{}, 1)
	e.kicks = []chan struct{}{kick}
	e.released.Store(5)
	for _, alerts := range [][]Alert{nil, {}, {{ID: "old", Seq: 5}}, {{ID: "older", Seq: 3}}} {
		e.Dispatch(alerts)
		if len(kick) != 0 {
			t.Fatalf("Dispatch(%v) woke the workers with nothing new released", alerts)
		}
	}
	e.Dispatch([]Alert{{ID: "new", Seq: 6}})
	if len(kick) != 1 {
		t.Fatal("Dispatch of a new alert did not wake the workers")
	}
	if got := e.released.Load(); got != 6 {
		t.Fatalf("released = %d, want 6", got)
	}
}
