package gas

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/accountbridge/accountbridge/internal/clock"
	"github.com/accountbridge/accountbridge/internal/discovery"
	"github.com/accountbridge/accountbridge/internal/providers"
	"github.com/accountbridge/accountbridge/internal/providers/gas/fake"
	"github.com/accountbridge/accountbridge/internal/providers/wire"
	"github.com/accountbridge/accountbridge/internal/store"
)

// env is a fake upstream on loopback, a clock and a real store that can be "restarted".
type env struct {
	t       *testing.T
	srv     *fake.Server
	url     string
	clock   *clock.Fake
	db      string
	st      *store.Store
	mu      sync.Mutex
	secrets []string
}

func newEnv(t *testing.T, fo fake.Options) *env {
	t.Helper()
	e := &env{t: t, clock: clock.NewFake(cst(2026, 2, 15, 9, 0)), db: filepath.Join(t.TempDir(), "ab.db")}
	if fo.LastDay.IsZero() {
		fo.LastDay = cst(2026, 2, 14, 0, 0)
	}
	fo.Now = e.clock.Now
	e.srv = fake.New(fo)
	ts := httptest.NewServer(e.srv)
	t.Cleanup(ts.Close)
	e.url = ts.URL
	e.open()
	t.Cleanup(func() { e.st.Close() })
	return e
}

func (e *env) open() {
	st, err := store.Open(context.Background(), e.db, store.Options{Now: e.clock.Now})
	if err != nil {
		e.t.Fatal(err)
	}
	e.st = st
}

// restart closes and reopens the store, as a daemon restart does.
func (e *env) restart() {
	e.t.Helper()
	if err := e.st.Close(); err != nil {
		e.t.Fatal(err)
	}
	e.open()
}

func loginSettings() Settings {
	return Settings{UserCode: fake.DefaultUserCode, Mobile: fake.DefaultMobile, Password: fake.DefaultPassword}
}

func testAccount(id string, s Settings) providers.Account {
	return providers.Account{ID: id, Provider: Kind, Decode: func(v any) error {
		*v.(*Settings) = s
		return nil
	}}
}

func (e *env) provider(s Settings) *Provider {
	e.t.Helper()
	if s.BaseURL == "" {
		s.BaseURL = e.url
	}
	p, err := New(testAccount("home", s), providers.Deps{
		HTTP: &httpClient, KV: e.st.KV("home"), Now: e.clock.Now,
		Secret: func(v string) { e.mu.Lock(); e.secrets = append(e.secrets, v); e.mu.Unlock() },
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return p.(*Provider)
}

func (e *env) poll(p *Provider) providers.Device {
	e.t.Helper()
	snap, err := p.Poll(context.Background())
	if err != nil {
		e.t.Fatalf("poll: %v", err)
	}
	if len(snap.Devices) != 1 || snap.Account != "home" {
		e.t.Fatalf("snapshot = %+v", snap)
	}
	return snap.Devices[0]
}

func TestLoginAndTokenReuseAcrossRestart(t *testing.T) {
	e := newEnv(t, fake.Options{})
	p := e.provider(loginSettings())
	for i := range 50 {
		if i%24 == 23 {
			e.srv.AddDay()
		}
		e.poll(p)
		e.clock.Advance(time.Hour)
	}
	e.restart()
	p = e.provider(loginSettings())
	for range 50 {
		e.poll(p)
		e.clock.Advance(time.Hour)
	}
	if n := e.srv.Logins(); n != 1 {
		t.Errorf("%d logins for 100 polls across a restart, want 1", n)
	}
	t.Logf("logins per 100 polls: %d", e.srv.Logins())
	if n := e.srv.Count(fake.Debt); n != 100 {
		t.Errorf("getUserDebt called %d times, want 100", n)
	}
	if n := e.srv.Count(fake.OpenDebt); n != 0 {
		t.Errorf("the open call was used %d times while logged in", n)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if !slices.Contains(e.secrets, fake.DefaultPassword) || len(e.secrets) < 3 {
		t.Errorf("secrets registered: %d (password and both tokens expected)", len(e.secrets))
	}
}

// HTTP 403 → the token is forgotten and ErrAuth returned; the poller's one retry logs in
// once and succeeds.
func TestExpiredTokenOneReloginOneRetry(t *testing.T) {
	e := newEnv(t, fake.Options{})
	p := e.provider(loginSettings())
	e.poll(p)
	e.clock.Advance(time.Hour)
	e.srv.ExpireTokens()

	_, err := p.Poll(context.Background())
	if !errors.Is(err, providers.ErrAuth) || !strings.Contains(err.Error(), "403") {
		t.Fatalf("poll with an expired token: %v, want ErrAuth mentioning 403", err)
	}
	if _, ok, _ := e.st.KV("home").Get(context.Background(), kvSession); ok {
		t.Error("the expired session is still stored")
	}
	// What the poller does: retry exactly once.
	e.poll(p)
	if n := e.srv.Logins(); n != 2 {
		t.Errorf("logins = %d, want 2 (the first and one re-login)", n)
	}
	if n := e.srv.Count(fake.Debt); n != 3 {
		t.Errorf("getUserDebt calls = %d, want 3 (ok, 403, retry)", n)
	}
	// The token expiring by age behaves the same way.
	e2 := newEnv(t, fake.Options{TokenTTL: 2 * time.Hour})
	p2 := e2.provider(loginSettings())
	e2.poll(p2)
	e2.clock.Advance(3 * time.Hour)
	if _, err := p2.Poll(context.Background()); !errors.Is(err, providers.ErrAuth) {
		t.Fatalf("aged token: %v", err)
	}
	e2.poll(p2)
	if n := e2.srv.Logins(); n != 2 {
		t.Errorf("aged token: logins = %d, want 2", n)
	}
}

func TestWrongPasswordIsPermanentAndNotRetriedAfterRestart(t *testing.T) {
	e := newEnv(t, fake.Options{})
	s := loginSettings()
	s.Password = "wrong-password"
	p := e.provider(s)
	_, err := p.Poll(context.Background())
	if !errors.Is(err, providers.ErrPermanent) {
		t.Fatalf("wrong password: %v, want permanent", err)
	}
	for _, want := range []string{"用户名或密码错误", "`password`", "138****8000"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	if strings.Contains(err.Error(), "wrong-password") || strings.Contains(err.Error(), fake.DefaultMobile) {
		t.Errorf("error leaks a secret or the full number: %q", err)
	}
	e.restart()
	p = e.provider(s)
	e.clock.Advance(24 * time.Hour)
	if _, err := p.Poll(context.Background()); !errors.Is(err, providers.ErrPermanent) {
		t.Fatalf("after a restart: %v, want the same permanent error", err)
	}
	if n := e.srv.Logins(); n != 1 {
		t.Errorf("logins = %d, want 1: a refused password is not tried again", n)
	}
	// The user fixes the password: it logs in again.
	e.poll(e.provider(loginSettings()))
	if n := e.srv.Logins(); n != 2 {
		t.Errorf("after fixing the password: logins = %d, want 2", n)
	}
}

func TestSuccessFalseIsAnErrorWithTheUpstreamMessage(t *testing.T) {
	for _, ep := range []string{fake.Debt, fake.Payments, fake.Monthly, fake.Daily} {
		t.Run(ep, func(t *testing.T) {
			e := newEnv(t, fake.Options{})
			p := e.provider(loginSettings())
			e.poll(p)
			e.srv.Set(func(s *fake.Switches) { s.FailWith = map[string]string{ep: "系统维护中"} })
			_, err := p.Poll(context.Background())
			if err == nil || !strings.Contains(err.Error(), "系统维护中") {
				t.Fatalf("err = %v, want the upstream message", err)
			}
			if providers.Kind(err) != "transient" {
				t.Errorf("kind = %s", providers.Kind(err))
			}
		})
	}
	// The balance-only call too; a busy upstream is a rate limit.
	e := newEnv(t, fake.Options{})
	p := e.provider(Settings{UserCode: fake.DefaultUserCode})
	e.srv.Set(func(s *fake.Switches) {
		s.FailWith = map[string]string{fake.OpenDebt: "请求过于频繁，请稍后再试"}
	})
	if _, err := p.Poll(context.Background()); !errors.Is(err, providers.ErrRateLimited) || !strings.Contains(err.Error(), "频繁") {
		t.Errorf("busy: %v", err)
	}
	// An unknown 户号 is permanent with an instruction.
	e.srv.Set(func(s *fake.Switches) { s.FailWith = nil })
	p = e.provider(Settings{UserCode: "87654321"})
	if _, err := p.Poll(context.Background()); !errors.Is(err, providers.ErrPermanent) || !strings.Contains(err.Error(), "user_code") {
		t.Errorf("unknown user code: %v", err)
	}
	// HTTP 500 is transient.
	e.srv.Set(func(s *fake.Switches) { s.FailWith = nil; s.HTTPStatus = map[string]int{fake.OpenDebt: 502} })
	p = e.provider(Settings{UserCode: fake.DefaultUserCode})
	if _, err := p.Poll(context.Background()); err == nil || providers.Kind(err) != "transient" || !strings.Contains(err.Error(), "502") {
		t.Errorf("HTTP 502: %v", err)
	}
}

func TestSignatureIsVerified(t *testing.T) {
	e := newEnv(t, fake.Options{})
	s := loginSettings()
	s.SignKey = "0000000000000000"
	_, err := e.provider(s).Poll(context.Background())
	if err == nil || !strings.Contains(err.Error(), "签名校验失败") || e.srv.BadSignatures() != 1 {
		t.Errorf("wrong salt: %v (bad signatures %d)", err, e.srv.BadSignatures())
	}
	e.poll(e.provider(loginSettings()))
	if e.srv.BadSignatures() != 1 {
		t.Errorf("the right salt was refused")
	}
	// A wrong AES key makes the server fail to decrypt: refused, permanent, with its message.
	s = loginSettings()
	s.AESKey = "0123456789abcdef01234567"
	e2 := newEnv(t, fake.Options{})
	if _, err := e2.provider(s).Poll(context.Background()); !errors.Is(err, providers.ErrPermanent) || !strings.Contains(err.Error(), "解密") {
		t.Errorf("wrong AES key: %v", err)
	}
}

// Values match the fake's meter and tier table, with costs by tier crossing.
func TestValuesMatchTheFakeMeter(t *testing.T) {
	// 1.4 m³ a day: on 2026-09-30 the year (273 days) holds 382.2 m³; September's 42 m³
	// sit at [340.2, 382.2], across the 360 boundary.
	e := newEnv(t, fake.Options{LastDay: cst(2026, 9, 30, 0, 0), DailyVolume: func(time.Time) float64 { return 1.4 }})
	e.clock.Advance(cst(2026, 10, 1, 8, 0).Sub(e.clock.Now())) // to that time
	e.srv.Set(func(s *fake.Switches) { s.LoginBase64 = true; s.LastTierEnd = "无上限" })
	dev := e.provider(loginSettings()).poll(t)
	last := e.srv.LastDay()
	ytd := e.srv.Volume(cst(2026, 1, 1, 0, 0), last)
	if !near(ytd, 382.2) {
		t.Fatalf("fake year volume %v", ytd)
	}
	wantValues(t, dev.Values, map[string]any{
		"meter_reading":     wire.Round(e.srv.ReadingAt(last), 3),
		"balance":           86.42,
		"last_payment":      50.0,
		"last_day_volume":   1.4,
		"last_day_cost":     wire.Round(1.4*3.56, 2),
		"year_volume":       ytd,
		"year_cost":         wire.Round(kunming.Cost(0, ytd), 2),
		"tier":              "2",
		"unit_price":        3.56,
		"tier_remaining":    wire.Round(540-ytd, 3),
		"month_volume":      0.0, // October has no record yet
		"last_month_volume": 42.0,
		"last_month_cost":   wire.Round(19.8*2.97+22.2*3.56, 2), // crosses 360
	})
	if got := dev.Attributes["last_payment"]["payments"].([]map[string]any); len(got) != 2 {
		t.Errorf("payments attribute = %v", got)
	}
	if dev.ID != "gas_home" || dev.Name != "PetroChina Gas 12345678" {
		t.Errorf("device %q %q", dev.ID, dev.Name)
	}
}

func (p *Provider) poll(t *testing.T) providers.Device {
	t.Helper()
	snap, err := p.Poll(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return snap.Devices[0]
}

// A day seen once is never lost: after it leaves the upstream's 31-day window and the
// daemon restarts, the year's volume still counts from it.
func TestDailyHistoryPersistsAcrossRestart(t *testing.T) {
	e := newEnv(t, fake.Options{LastDay: cst(2026, 1, 20, 0, 0)})
	e.clock.Advance(cst(2026, 1, 21, 9, 0).Sub(e.clock.Now()))  // to that time
	e.srv.Set(func(s *fake.Switches) { s.EmptyMonthly = true }) // only the daily records can tell
	p := e.provider(loginSettings())
	dev := e.poll(p)
	want := e.srv.Volume(cst(2026, 1, 1, 0, 0), cst(2026, 1, 20, 0, 0))
	wantValues(t, dev.Values, map[string]any{"year_volume": wire.Round(want, 3)})

	for range 40 {
		e.srv.AddDay()
	}
	e.clock.Advance(cst(2026, 3, 2, 9, 0).Sub(e.clock.Now())) // to that time
	e.restart()
	dev = e.poll(e.provider(loginSettings()))
	want = e.srv.Volume(cst(2026, 1, 1, 0, 0), e.srv.LastDay())
	wantValues(t, dev.Values, map[string]any{"year_volume": wire.Round(want, 3), "year_cost": wire.Round(kunming.Cost(0, want), 2)})
	if src := dev.Attributes["year_volume"]["source"]; src != "history" {
		t.Errorf("year volume source = %v, want history", src)
	}
	h, err := HistoryOf(context.Background(), e.st.KV("home"))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := h["2025-12-31"]; !ok || len(h) != 31+31 {
		t.Errorf("stored days = %d (2025-12-31 kept: %v)", len(h), ok)
	}
}

func TestBalanceOnlyWithoutCredentials(t *testing.T) {
	e := newEnv(t, fake.Options{})
	p := e.provider(Settings{UserCode: fake.DefaultUserCode})
	dev := e.poll(p)
	if e.srv.Logins() != 0 || e.srv.Count(fake.OpenDebt) != 1 {
		t.Errorf("logins %d, open calls %d", e.srv.Logins(), e.srv.Count(fake.OpenDebt))
	}
	for _, ep := range []string{fake.Debt, fake.Payments, fake.Monthly, fake.Daily} {
		if n := e.srv.Count(ep); n != 0 {
			t.Errorf("%s called %d times without credentials", ep, n)
		}
	}
	var keys []string
	for _, en := range dev.Entities {
		keys = append(keys, en.Key)
	}
	if want := []string{"balance", "amount_owed", "meter_reading", "last_reading_time", "last_communication", "account"}; !slices.Equal(keys, want) {
		t.Errorf("entities = %v, want %v", keys, want)
	}
	wantValues(t, dev.Values, map[string]any{"balance": 86.42, "amount_owed": 0.0,
		"meter_reading": wire.Round(e.srv.ReadingAt(e.srv.LastDay()), 3), "account": "12345678"})
	if got := dev.Attributes["account"]["customer_name"]; got != "张*" {
		t.Errorf("customer name attribute = %v", got)
	}
}

func TestQuirksThroughTheFake(t *testing.T) {
	e := newEnv(t, fake.Options{})
	e.srv.Set(func(s *fake.Switches) { s.EmptyNumbers = true; s.ReadingLastTimeAsTime = true })
	dev := e.poll(e.provider(loginSettings()))
	wantValues(t, dev.Values, map[string]any{
		"balance":         nil, // "" is unknown, not 0
		"last_day_volume": wire.Round(e.srv.Volume(e.srv.LastDay(), e.srv.LastDay()), 3),
		"meter_reading":   wire.Round(e.srv.ReadingAt(e.srv.LastDay()), 3),
	})
	if tm, ok := dev.Values["last_reading_time"].(time.Time); !ok || tm.Format(time.RFC3339) != "2026-02-14T23:30:00+08:00" {
		t.Errorf("last_reading_time = %v", dev.Values["last_reading_time"])
	}
	e.srv.Set(func(s *fake.Switches) { *s = fake.Switches{NumericBalance: true, EmptyLists: true} })
	dev = e.poll(e.provider(loginSettings()))
	wantValues(t, dev.Values, map[string]any{"balance": 86.42, "last_payment": nil})
	if got := dev.Attributes["last_payment"]["payments"].([]map[string]any); len(got) != 0 {
		t.Errorf("payments = %v", got)
	}
}

// total_increasing is honest: a stale answer never lowers the meter reading.
func TestMeterReadingNeverDecreasesAcrossPolls(t *testing.T) {
	e := newEnv(t, fake.Options{})
	p := e.provider(loginSettings())
	prev := 0.0
	for i := range 30 {
		switch i % 5 {
		case 0, 1:
			e.srv.AddDay()
			e.srv.Set(func(s *fake.Switches) { s.DailyLag = 0 })
		case 2:
			e.srv.Set(func(s *fake.Switches) { s.DailyLag = 3 }) // an older window
		case 3:
			e.srv.Set(func(s *fake.Switches) { s.EmptyLists = true })
		case 4:
			e.srv.Set(func(s *fake.Switches) { s.EmptyLists = false })
		}
		e.clock.Advance(12 * time.Hour)
		m, ok := e.poll(p).Values["meter_reading"].(float64)
		if !ok || m < prev {
			t.Fatalf("poll %d: meter %v after %v", i, m, prev)
		}
		prev = m
	}
	if want := wire.Round(e.srv.ReadingAt(e.srv.LastDay()), 3); prev != want {
		t.Errorf("final reading %v, want %v", prev, want)
	}
}

func TestEveryEntityIsValidForHomeAssistant(t *testing.T) {
	e := newEnv(t, fake.Options{})
	for _, s := range []Settings{loginSettings(), {UserCode: fake.DefaultUserCode}} {
		dev := e.poll(e.provider(s))
		for _, en := range dev.Entities {
			if err := discovery.ValidateEntity(en); err != nil {
				t.Errorf("%s: %v", en.Key, err)
			}
			if strings.HasPrefix(en.Name, dev.Name) {
				t.Errorf("%s: name %q repeats the device name", en.Key, en.Name)
			}
		}
		res, err := discovery.Build(discovery.Options{BaseTopic: "ab", DiscoveryPrefix: "homeassistant"}, dev, nil)
		if err != nil || len(res.Invalid) > 0 {
			t.Errorf("discovery: %v %v", err, res.Invalid)
		}
		if _, err := discovery.State(dev); err != nil {
			t.Errorf("state: %v", err)
		}
		for k := range dev.Values {
			if !slices.ContainsFunc(dev.Entities, func(en providers.Entity) bool { return en.Key == k }) {
				t.Errorf("value %s has no entity", k)
			}
		}
	}
	// Every entity that can exist, with a long tier table.
	for _, en := range Entities(true, 5) {
		if err := discovery.ValidateEntity(en); err != nil {
			t.Errorf("%s: %v", en.Key, err)
		}
		switch en.Key {
		case "meter_reading": // the Energy dashboard's gas meter
			if en.DeviceClass != "gas" || en.Unit != "m³" || en.StateClass != "total_increasing" {
				t.Errorf("meter_reading = %+v", en)
			}
		case "unit_price": // the Energy dashboard's price entity
			if en.Unit != "CNY/m³" || en.DeviceClass != "" {
				t.Errorf("unit_price = %+v", en)
			}
		}
		if en.DeviceClass == "monetary" && (en.Unit != "CNY" || en.StateClass != "total") {
			t.Errorf("%s: money must be monetary/total/CNY: %+v", en.Key, en)
		}
	}
}

func TestSettingsValidation(t *testing.T) {
	kv := &memKV{}
	for _, c := range []struct {
		s    Settings
		want string
	}{
		{Settings{}, "user_code: required"},
		{Settings{UserCode: "12-34"}, "user_code"},
		{Settings{UserCode: "12345678", Mobile: "13800138000"}, "password: required with mobile"},
		{Settings{UserCode: "12345678", Password: "x"}, "mobile: required with password"},
		{Settings{UserCode: "12345678", Mobile: "phone", Password: "x"}, "not a phone number"},
		{Settings{UserCode: "12345678", TierYearStart: "02-29"}, "tier_year_start"},
		{Settings{UserCode: "12345678", LowBalance: -1}, "low_balance"},
		{Settings{UserCode: "12345678", BaseURL: "ftp://x"}, "base_url"},
		{Settings{UserCode: "12345678", AESKey: "short"}, "aes_key"},
		{Settings{UserCode: "12345678", MinLoginInterval: func() *time.Duration { d := -time.Minute; return &d }()}, "min_login_interval"},
		{Settings{UserCode: "12345678", CID: -2}, "cid"},
	} {
		_, err := New(testAccount("a", c.s), providers.Deps{KV: kv})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: err = %v, want %q", c.s, err, c.want)
		}
	}
	p, err := New(testAccount("a", Settings{UserCode: "12345678", LowBalance: 30}), providers.Deps{KV: kv})
	if err != nil {
		t.Fatal(err)
	}
	s := p.(*Provider).Settings()
	if s.CID != 2 || s.BaseURL != DefaultBaseURL || s.AESKey != DefaultAESKey || s.SignKey != DefaultSignKey ||
		s.TierYearStart != "01-01" || s.LowBalance != 30 {
		t.Errorf("defaults = %+v", s)
	}
	if info, ok := providers.Lookup(Kind); !ok || info.DefaultSchedule != "@every 1h" {
		t.Errorf("registration = %+v", info)
	}
	if len(kv.m) != 0 {
		t.Error("the factory did I/O")
	}
}

type memKV struct {
	mu sync.Mutex
	m  map[string][]byte
}

func (k *memKV) Get(_ context.Context, key string) ([]byte, bool, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	v, ok := k.m[key]
	return v, ok, nil
}
func (k *memKV) Set(_ context.Context, key string, v []byte) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.m == nil {
		k.m = map[string][]byte{}
	}
	k.m[key] = v
	return nil
}
func (k *memKV) Delete(_ context.Context, key string) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	delete(k.m, key)
	return nil
}

var httpClient = http.Client{Timeout: 30 * time.Second}
