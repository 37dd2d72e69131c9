package onecloud

import (
	"context"
	"errors"
	"github.com/accountbridge/accountbridge/internal/clock"
	"github.com/accountbridge/accountbridge/internal/config"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/accountbridge/accountbridge/internal/providers"
	"github.com/accountbridge/accountbridge/internal/providers/onecloud/fake"
	"github.com/accountbridge/accountbridge/internal/providers/wire"
	"github.com/accountbridge/accountbridge/internal/store"
)

type env struct {
	t          *testing.T
	fake       *fake.Server
	clock      *clock.Fake
	kv         providers.KV
	accountURL string
	controlURL string
}

// newEnv starts the fake (Default fixture, the test's clock) on loopback.
func newEnv(t *testing.T, mutate ...func(*fake.Options)) *env {
	t.Helper()
	c := clock.NewFake(time.Date(2026, 11, 18, 9, 30, 0, 0, wire.CST)) // a Wednesday
	o := fake.Default()
	o.Now = c.Now
	for _, m := range mutate {
		m(&o)
	}
	f := fake.New(o)
	a, ctl, stop := f.Start()
	t.Cleanup(stop)
	return &env{t: t, fake: f, clock: c, kv: &providers.MemoryKV{}, accountURL: a, controlURL: ctl}
}

// decoder decodes settings the way the daemon does: as an account of a config file,
// through the config package's strict decoder.
func decoder(settings map[string]any) func(any) error {
	return func(v any) error {
		acct := map[string]any{"id": "home", "provider": Kind}
		for k, val := range settings {
			acct[k] = val
		}
		b, err := yaml.Marshal(map[string]any{"accounts": []any{acct}})
		if err != nil {
			return err
		}
		cfg, err := config.Parse("config.yaml", b, config.LoadOptions{})
		if err != nil {
			return err
		}
		return cfg.Accounts[0].Decode(v)
	}
}

func (e *env) settings(over map[string]any) map[string]any {
	s := map[string]any{"phone": "13800138000", "password": "123456",
		"account_base_url": e.accountURL, "control_base_url": e.controlURL}
	for k, v := range over {
		if v == nil {
			delete(s, k)
		} else {
			s[k] = v
		}
	}
	return s
}

// provider builds a provider over e's KV (a "restart" is simply another call).
func (e *env) provider(over map[string]any) *Provider {
	e.t.Helper()
	p, err := New(providers.Account{ID: "home", Provider: Kind, Decode: decoder(e.settings(over))},
		providers.Deps{Logger: slog.New(slog.DiscardHandler), KV: e.kv, Now: e.clock.Now, Secret: func(string) {}})
	if err != nil {
		e.t.Fatal(err)
	}
	return p.(*Provider)
}

func mustPoll(t *testing.T, p *Provider) providers.Snapshot {
	t.Helper()
	snap, err := p.Poll(context.Background())
	if err != nil {
		t.Fatalf("poll: %v", err)
	}
	return snap
}

func device(t *testing.T, snap providers.Snapshot, id string) providers.Device {
	t.Helper()
	for _, d := range snap.Devices {
		if d.ID == id {
			return d
		}
	}
	t.Fatalf("no device %s in %v", id, deviceIDs(snap))
	return providers.Device{}
}

func deviceIDs(snap providers.Snapshot) []string {
	var ids []string
	for _, d := range snap.Devices {
		ids = append(ids, d.ID)
	}
	return ids
}

const (
	acctDev  = "onecloud_home"
	box1Dev  = "onecloud_home_ocpg121196469"
	box2Dev  = "onecloud_home_ocpg121190002"
	box1SN   = "OCPG121196469"
	box2SN   = "OCPG121190002"
	newBoxSN = "OCPG1299NEW01"
)

func TestFactoryValidatesWithoutIO(t *testing.T) {
	e := newEnv(t)
	for _, tt := range []struct {
		over map[string]any
		want string
	}{
		{map[string]any{"phone": nil}, "set `phone`"},
		{map[string]any{"email": "a@example.com"}, "only one of `phone` and `email`"},
		{map[string]any{"phone": "12345"}, "11-digit"},
		{map[string]any{"password": nil}, "set `password`"},
		{map[string]any{"account_base_url": "ftp://x"}, "account_base_url: expected an http(s) URL"},
		{map[string]any{"control_base_url": "not a url"}, "control_base_url: expected an http(s) URL"},
		{map[string]any{"app_version": "latest"}, "`app_version`"},
		{map[string]any{"remove_after": "a week"}, `accounts[0].remove_after: expected a duration like 30s or 1h, got "a week"`},
		{map[string]any{"remove_after": "-1h"}, "`remove_after` must not be negative"},
	} {
		_, err := New(providers.Account{ID: "home", Provider: Kind, Decode: decoder(e.settings(tt.over))}, providers.Deps{})
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%v: err = %v, want %q", tt.over, err, tt.want)
		}
	}
	p := e.provider(map[string]any{"phone": "+86 138 0013 8000", "remove_after": "1d12h"})
	if p.removeAfter != 36*time.Hour || p.cred.phone != "13800138000" {
		t.Errorf("removeAfter %v phone %q", p.removeAfter, p.cred.phone)
	}
	if p2 := e.provider(nil); p2.removeAfter != DefaultRemoveAfter || p2.c.appVersion != DefaultAppVersion {
		t.Errorf("defaults: %v %q", p2.removeAfter, p2.c.appVersion)
	}
	if n := len(e.fake.Counts()); n != 0 {
		t.Errorf("the factory made requests: %v", e.fake.Counts())
	}
}

func TestPollSnapshot(t *testing.T) {
	e := newEnv(t)
	snap := mustPoll(t, e.provider(nil))
	if ids := strings.Join(deviceIDs(snap), ","); ids != acctDev+","+box2Dev+","+box1Dev {
		t.Fatalf("devices = %s (the account first, boxes by id)", ids)
	}
	a := device(t, snap, acctDev)
	for k, v := range map[string]any{"balance": 6.1728395, "yesterday_income": 1.09098742, "boxes": 2, "boxes_online": 1,
		"total_withdrawn": 0.0, "total_income": 116.02718954, "income_7d": 8.61718954} {
		if a.Values[k] != v {
			t.Errorf("account %s = %#v, want %#v", k, a.Values[k], v)
		}
	}
	b1 := device(t, snap, box1Dev)
	if b1.Values["online"] != true || b1.Values["disk_total"] != 931.01 || b1.Values["ip"] != "203.0.113.7" {
		t.Errorf("box 1 = %v", b1.Values)
	}
	b2 := device(t, snap, box2Dev)
	if b2.Values["online"] != false || b2.Values["status"] != "offline" || b2.Values["update_available"] != true {
		t.Errorf("box 2 = %v", b2.Values)
	}
	if _, ok := b2.Values["disk_total"]; ok {
		t.Errorf("offline box never seen with a disk has disk values: %v", b2.Values)
	}
	// Disks are asked of the boxes that can answer.
	if n := e.fake.Count("/getUSBInfo"); n != 1 {
		t.Errorf("getUSBInfo calls = %d, want 1 (the online box)", n)
	}
}

func TestSessionReusedAcrossRestarts(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "ab.db")
	for restart := range 4 {
		st, err := store.Open(ctx, path, store.Options{})
		if err != nil {
			t.Fatal(err)
		}
		e.kv = st.KV("home")
		p := e.provider(nil)
		for range 25 {
			e.clock.Advance(10 * time.Minute)
			mustPoll(t, p)
		}
		if err := st.Close(); err != nil {
			t.Fatal(err)
		}
		t.Logf("after restart %d: %v", restart, e.fake.Counts())
	}
	if n := e.fake.Count("/user/login"); n != 1 {
		t.Errorf("logins for 100 polls over 4 runs = %d, want 1", n)
	}
	if n := e.fake.Count("/listPeer"); n != 100 {
		t.Errorf("listPeer = %d", n)
	}
}

func TestExpiredSessionLogsInOnceAndRetries(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	p := e.provider(nil)
	mustPoll(t, p)
	e.fake.ExpireSessions()
	e.clock.Advance(10 * time.Minute)

	// What the poller does: the poll fails with ErrAuth, the session is forgotten, and
	// the one retry logs in again.
	_, err := p.Poll(ctx)
	if !errors.Is(err, providers.ErrAuth) {
		t.Fatalf("err = %v, want ErrAuth", err)
	}
	if _, ok, _ := e.kv.Get(ctx, kvSession); ok {
		t.Error("the rejected session is still stored")
	}
	mustPoll(t, p)
	if n := e.fake.Count("/user/login"); n != 2 {
		t.Errorf("logins = %d, want 2", n)
	}
	if n := e.fake.Count("/listPeer"); n != 3 {
		t.Errorf("listPeer = %d, want 3", n)
	}

	// A session rejected right after a login does not loop: the guard refuses the next
	// login until its interval passed.
	e.fake.ExpireSessions()
	if _, err := p.Poll(ctx); !errors.Is(err, providers.ErrAuth) {
		t.Fatalf("err = %v", err)
	}
	if _, err := p.Poll(ctx); !errors.Is(err, providers.ErrRateLimited) {
		t.Fatalf("err = %v, want rate limited by the login guard", err)
	}
	if n := e.fake.Count("/user/login"); n != 2 {
		t.Errorf("logins = %d, want still 2", n)
	}
}

func TestSessionPastItsLifeIsRenewed(t *testing.T) {
	e := newEnv(t)
	p := e.provider(nil)
	mustPoll(t, p)
	e.clock.Advance(7*24*time.Hour + time.Minute)
	mustPoll(t, p) // no ErrAuth round trip: the 7-day-old session is not even tried
	if n, l := e.fake.Count("/user/login"), e.fake.Count("/listPeer"); n != 2 || l != 2 {
		t.Errorf("logins %d listPeer %d, want 2 and 2", n, l)
	}
}

func TestEmailLogin(t *testing.T) {
	e := newEnv(t)
	mustPoll(t, e.provider(map[string]any{"phone": nil, "email": "miner@example.com"}))
}

func TestLoginFailuresArePermanentWithInstructions(t *testing.T) {
	for _, tt := range []struct {
		name  string
		over  map[string]any
		fault func(*fake.Server)
		want  []string
	}{
		{"wrong password", map[string]any{"password": "654321"}, nil, []string{"-129", "`phone` and `password`"}},
		{"wrong e-mail", map[string]any{"phone": nil, "email": "nobody@example.com"}, nil, []string{"-129", "`email` and `password`"}},
		{"captcha required", nil, func(f *fake.Server) { f.RequireCaptcha(true) }, []string{"-122", "captcha", "log in once in the OneCloud app", "`proxy`"}},
		{"captcha wrong", nil, func(f *fake.Server) { f.SetLoginError(-121, "验证码错误") }, []string{"-121", "captcha"}},
		{"request refused", nil, func(f *fake.Server) { f.SetLoginError(-100, "Parameter error") }, []string{"-100", "`app_version`"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			if tt.fault != nil {
				tt.fault(e.fake)
			}
			_, err := e.provider(tt.over).Poll(context.Background())
			if !errors.Is(err, providers.ErrPermanent) {
				t.Fatalf("err = %v, want permanent", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("message %q lacks %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "123456") || strings.Contains(err.Error(), "13800138000") {
				t.Errorf("message leaks a secret: %v", err)
			}
			if n := e.fake.Count("/user/login"); n != 1 {
				t.Errorf("logins = %d", n)
			}
		})
	}
}

func TestUpstreamTrouble(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	p := e.provider(nil)
	mustPoll(t, p)
	// A failing statistic keeps its last value; the boxes are still reported.
	e.fake.SetHTTPStatus("/wkb/account-info", 500)
	e.fake.SetStatus(box1SN, "exception", "disk failure")
	snap := mustPoll(t, p)
	if v := device(t, snap, acctDev).Values["balance"]; v != 6.1728395 {
		t.Errorf("balance = %v, want the last value", v)
	}
	b1 := device(t, snap, box1Dev)
	if b1.Values["status"] != "exception" || b1.Values["exception"] != "disk failure" || b1.Values["online"] != false {
		t.Errorf("box 1 = %v", b1.Values)
	}
	// The device list answering 503: rate limited; 500: a plain (transient) error.
	e.fake.SetHTTPStatus("/listPeer", 503)
	if _, err := p.Poll(ctx); !errors.Is(err, providers.ErrRateLimited) {
		t.Errorf("err = %v, want rate limited", err)
	}
	e.fake.SetHTTPStatus("/listPeer", 500)
	if _, err := p.Poll(ctx); err == nil || providers.Kind(err) != "transient" {
		t.Errorf("err = %v, want transient", err)
	}
}

func TestBoxesAppearAndVanish(t *testing.T) {
	e := newEnv(t)
	over := map[string]any{"remove_after": "1h"}
	p := e.provider(over)
	if n := len(mustPoll(t, p).Devices); n != 3 {
		t.Fatalf("devices = %d", n)
	}
	// A box bound later appears.
	e.fake.AddBox(fake.Box{SN: newBoxSN, DeviceID: "TgjNEW", PeerID: "P-NEW", Name: "garage", Status: "online",
		Partitions: []fake.Partition{{Label: "/dev/sda1", Path: "/media/sda1", Capacity: 2 << 30, Used: 1 << 30}}})
	e.clock.Advance(time.Minute)
	snap := mustPoll(t, p)
	newDev := "onecloud_home_ocpg1299new01"
	if d := device(t, snap, newDev); d.Values["online"] != true || d.Values["disk_used"] != 1.0 || d.Name != "garage" {
		t.Errorf("new box = %v", d.Values)
	}
	if v := device(t, snap, acctDev).Values["boxes"]; v != 3 {
		t.Errorf("boxes = %v", v)
	}

	// Box 1 vanishes from the list: it stays, offline, with its last values …
	e.fake.RemoveBox(box1SN)
	e.clock.Advance(time.Minute)
	snap = mustPoll(t, p)
	b1 := device(t, snap, box1Dev)
	if b1.Values["online"] != false || b1.Values["status"] != "offline" || b1.Values["disk_total"] != 931.01 || b1.Values["ip"] != "203.0.113.7" {
		t.Errorf("vanished box = %v", b1.Values)
	}
	// … across a restart too (the bookkeeping is in the KV) …
	p = e.provider(over)
	e.clock.Advance(59 * time.Minute) // last seen one minute before it vanished: 60 min ago now
	snap = mustPoll(t, p)
	device(t, snap, box1Dev)
	if len(snap.Devices) != 4 {
		t.Errorf("devices = %v", deviceIDs(snap))
	}
	// … until remove_after has passed since it was last seen.
	e.clock.Advance(2 * time.Minute)
	snap = mustPoll(t, p)
	if strings.Contains(strings.Join(deviceIDs(snap), ","), box1Dev) {
		t.Errorf("box 1 still reported after remove_after: %v", deviceIDs(snap))
	}
	if v := device(t, snap, acctDev).Values["boxes"]; v != 2 {
		t.Errorf("boxes = %v", v)
	}
	// Coming back later makes it a new discovery.
	e.fake.AddBox(fake.Box{SN: box1SN, DeviceID: "TgjNiUqA6469", Name: "eastmoon6469", Status: "online"})
	snap = mustPoll(t, p)
	device(t, snap, box1Dev)
}

func TestOfflineBoxKeepsItsDisk(t *testing.T) {
	e := newEnv(t)
	p := e.provider(nil)
	mustPoll(t, p)
	e.fake.SetStatus(box1SN, "offline", "")
	e.clock.Advance(time.Minute)
	snap := mustPoll(t, p)
	b1 := device(t, snap, box1Dev)
	if b1.Values["online"] != false || b1.Values["disk_total"] != 931.01 {
		t.Errorf("box 1 = %v", b1.Values)
	}
	if got := b1.Values["last_disconnect"].(time.Time); !got.Equal(e.clock.Now().Add(-time.Minute)) {
		t.Errorf("last_disconnect = %v", got)
	}
	if n := e.fake.Count("/getUSBInfo"); n != 1 {
		t.Errorf("getUSBInfo = %d, want 1 (not asked of the offline box)", n)
	}
	// The disk dropping out is reported as 0, not as unknown.
	e.fake.SetStatus(box1SN, "online", "")
	e.fake.SetPartitions(box1SN, nil)
	snap = mustPoll(t, p)
	if v := device(t, snap, box1Dev).Values["disk_total"]; v != 0.0 {
		t.Errorf("disk_total = %v, want 0", v)
	}
}

func press(t *testing.T, p *Provider, payload string) ([]providers.DeviceEvent, error) {
	t.Helper()
	return p.Command(context.Background(), acctDev, "withdraw", []byte(payload))
}

func TestWithdraw(t *testing.T) {
	e := newEnv(t)
	p := e.provider(nil)
	mustPoll(t, p)

	evs, err := press(t, p, "PRESS")
	if err != nil || len(evs) != 1 || evs[0].Type != "withdrawn" || evs[0].Device != acctDev ||
		evs[0].Attributes["amount"] != 6.1728395 || evs[0].Attributes["gas_cost"] != 0.01 ||
		evs[0].Attributes["time"] != "2026-11-18T09:30:00+08:00" {
		t.Fatalf("events %+v err %v", evs, err)
	}
	if n := e.fake.Count("/wkb/draw"); n != 1 {
		t.Errorf("draw calls = %d", n)
	}
	snap := mustPoll(t, p)
	if v := device(t, snap, acctDev).Values; v["balance"] != 0.0 || v["total_withdrawn"] != 6.1728395 {
		t.Errorf("after the withdraw: %v", v)
	}

	// Again in the same week: reported, not an error.
	evs, err = press(t, p, "PRESS")
	if err != nil || len(evs) != 1 || evs[0].Type != "already_withdrawn" || !strings.Contains(evs[0].Attributes["message"].(string), "本周") {
		t.Fatalf("events %+v err %v", evs, err)
	}
	if n := e.fake.Count("/wkb/draw"); n != 2 {
		t.Errorf("draw calls = %d, want one per press", n)
	}

	// Anything but a press, or another entity, calls nothing.
	if _, err := press(t, p, "ON"); err == nil {
		t.Error("payload ON accepted")
	}
	if _, err := p.Command(context.Background(), box1Dev, "withdraw", []byte("PRESS")); err == nil {
		t.Error("command on a box accepted")
	}
	if n := e.fake.Count("/wkb/draw"); n != 2 {
		t.Errorf("draw calls = %d", n)
	}
	if n := e.fake.Count("/user/login"); n != 1 {
		t.Errorf("logins = %d", n)
	}
}

func TestWithdrawRefusedAndExpiredSession(t *testing.T) {
	e := newEnv(t)
	p := e.provider(nil)
	mustPoll(t, p)
	e.fake.SetDrawRet(3, "钱包未绑定")
	evs, err := press(t, p, "PRESS")
	if err != nil || len(evs) != 1 || evs[0].Type != "withdraw_failed" || evs[0].Attributes["message"] != "钱包未绑定" {
		t.Fatalf("events %+v err %v", evs, err)
	}
	// An expired session is renewed before the one draw call.
	e.fake.SetDrawRet(0, "")
	e.fake.ExpireSessions()
	e.clock.Advance(10 * time.Minute)
	evs, err = press(t, p, "PRESS")
	if err != nil || len(evs) != 1 || evs[0].Type != "withdrawn" {
		t.Fatalf("events %+v err %v", evs, err)
	}
	if d, l := e.fake.Count("/wkb/draw"), e.fake.Count("/user/login"); d != 2 || l != 2 {
		t.Errorf("draw %d login %d, want 2 and 2", d, l)
	}
	// No answer at all: reported and returned as an error.
	e.fake.SetHTTPStatus("/wkb/draw", 502)
	e.clock.Advance(7 * 24 * time.Hour)
	evs, err = press(t, p, "PRESS")
	if err == nil || len(evs) != 1 || evs[0].Type != "withdraw_failed" {
		t.Fatalf("events %+v err %v", evs, err)
	}
}
