package telecom

import (
	"bytes"
	"context"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/accountbridge/accountbridge/internal/clock"
	"github.com/accountbridge/accountbridge/internal/providers"
	"github.com/accountbridge/accountbridge/internal/providers/telecom/fake"
	"github.com/accountbridge/accountbridge/internal/store"
)

const (
	testPhone    = "18912345678"
	testPassword = "123456"
)

// rig is one fake upstream, one real store and a clock; newProvider builds a provider
// on them as the daemon would after a (re)start.
type rig struct {
	t       testing.TB
	fake    *fake.Server
	srv     *httptest.Server
	st      *store.Store
	clock   *clock.Fake
	secrets []string
	mu      sync.Mutex
	wrap    func(w http.ResponseWriter, req *http.Request, next http.Handler) // optional interceptor
}

func (r *rig) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	r.mu.Lock()
	wrap := r.wrap
	r.mu.Unlock()
	if wrap != nil {
		wrap(w, req, r.fake)
		return
	}
	r.fake.ServeHTTP(w, req)
}

func (r *rig) intercept(f func(w http.ResponseWriter, req *http.Request, next http.Handler)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.wrap = f
}

func newRig(t testing.TB, plan fake.Plan) *rig {
	t.Helper()
	f := fake.New()
	f.AddAccount(testPhone, testPassword, plan)
	r := &rig{t: t, fake: f, clock: clock.NewFake(time.Date(2025, 6, 15, 8, 30, 45, 0, time.UTC))}
	r.srv = httptest.NewServer(r)
	t.Cleanup(r.srv.Close)
	st, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "ab.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	r.st = st
	t.Cleanup(func() {
		if v := f.Violations(); len(v) > 0 {
			t.Errorf("protocol violations seen by the fake: %q", v)
		}
	})
	return r
}

func (r *rig) settings() Settings {
	return Settings{Phone: testPhone, Password: testPassword, BaseURL: r.srv.URL, LoginURL: r.srv.URL,
		RSAPublicKey: r.fake.PublicKeyPEM()}
}

func (r *rig) newProvider(s Settings) *Provider {
	r.t.Helper()
	p, err := New(providers.Account{ID: "main", Provider: Kind, Decode: func(v any) error {
		*v.(*Settings) = s
		return nil
	}}, providers.Deps{HTTP: r.srv.Client(), KV: r.st.KV("main"), Now: r.clock.Now,
		Secret: func(s string) { r.mu.Lock(); r.secrets = append(r.secrets, s); r.mu.Unlock() }})
	if err != nil {
		r.t.Fatal(err)
	}
	return p.(*Provider)
}

func mustPoll(t testing.TB, p *Provider) providers.Snapshot {
	t.Helper()
	snap, err := p.Poll(context.Background())
	if err != nil {
		t.Fatalf("Poll: %v", err)
	}
	return snap
}

// The login cipher decrypts (with the fake's private key) to exactly the layout of docs/telecom.md, "Protocol: login".
func TestLoginCipher(t *testing.T) {
	r := newRig(t, fake.PlanNormal)
	var mu sync.Mutex
	var bodies [][]byte
	r.intercept(func(w http.ResponseWriter, req *http.Request, next http.Handler) {
		b, _ := io.ReadAll(req.Body)
		if strings.HasSuffix(req.URL.Path, "userLoginNormal") {
			mu.Lock()
			bodies = append(bodies, b)
			mu.Unlock()
		}
		req.Body = io.NopCloser(bytes.NewReader(b))
		next.ServeHTTP(w, req)
	})
	p := r.newProvider(r.settings())
	mustPoll(t, p)
	if len(bodies) != 1 {
		t.Fatalf("%d logins, want 1", len(bodies))
	}
	var req Request[LoginFields]
	if err := json.Unmarshal(bodies[0], &req); err != nil {
		t.Fatal(err)
	}
	uid, _, _ := r.st.KV("main").Get(context.Background(), kvDevice)
	if len(uid) != 16 || req.Content.FieldData.DeviceUID != string(uid) {
		t.Fatalf("deviceUid %q, stored uid %q", req.Content.FieldData.DeviceUID, uid)
	}
	// 08:30:45 UTC = 16:30:45 in Beijing; seconds forced to 00.
	if req.HeaderInfos.Timestamp != "20250615163000" {
		t.Errorf("timestamp %q", req.HeaderInfos.Timestamp)
	}
	cipher := req.Content.FieldData.Cipher
	if len(cipher) != 172 || !strings.HasSuffix(cipher, "=") {
		t.Errorf("cipher is %d chars, want 172 ending in =", len(cipher))
	}
	ct, err := base64.StdEncoding.DecodeString(cipher)
	if err != nil {
		t.Fatal(err)
	}
	//lint:ignore SA1019 the server's login cipher is PKCS#1 v1.5
	plain, err := rsa.DecryptPKCS1v15(nil, r.fake.PrivateKey(), ct)
	if err != nil {
		t.Fatal(err)
	}
	want := "iPhone 14 " + "15.4." + string(uid[:12]) + "18912345678" + "20250615163000" + "123456" + "0$$$0."
	if string(plain) != want || len(plain) != 64 {
		t.Errorf("plaintext\n got %q\nwant %q", plain, want)
	}
	f := req.Content.FieldData
	if f.PhoneNum != "3:;3456789:" || req.HeaderInfos.UserLoginName != f.PhoneNum || f.Authentication != "345678" ||
		f.LoginType != "4" || f.SystemVersion != "15.4.0" || f.AndroidID != "" {
		t.Errorf("fieldData %+v", f)
	}
	if req.HeaderInfos.ClientType != "#12.2.0#channel50#iPhone 14 Pro#" || req.HeaderInfos.Token != "" {
		t.Errorf("header %+v", req.HeaderInfos)
	}
	// The password and the token were registered as secrets.
	r.mu.Lock()
	defer r.mu.Unlock()
	if !contains(r.secrets, testPassword) || len(r.secrets) < 2 {
		t.Errorf("secrets registered: %d", len(r.secrets))
	}
}

func contains(xs []string, s string) bool {
	for _, x := range xs {
		if x == s {
			return true
		}
	}
	return false
}

func TestShiftExample(t *testing.T) {
	if got := Shift("17608164052", 2); got != "3982:386274" {
		t.Errorf("Shift = %q (the shift example)", got)
	}
	if got := Shift("3982:386274", -2); got != "17608164052" {
		t.Errorf("unshift = %q", got)
	}
}

func TestPublishedKeyParses(t *testing.T) {
	k, err := ParsePublicKey(DefaultRSAPublicKey)
	if err != nil || k.N.BitLen() != 1024 || k.E != 65537 || !strings.HasPrefix(k.N.Text(16), "c190b4f5") {
		t.Fatalf("published key: %v", err)
	}
	body := strings.Join(strings.Split(DefaultRSAPublicKey, "\n")[1:5], "")
	if _, err := ParsePublicKey(body); err != nil {
		t.Errorf("bare Base64: %v", err)
	}
}

// A hundred polls make one login; so does a restart (new provider, same store).
func TestTokenReuse(t *testing.T) {
	r := newRig(t, fake.PlanNormal)
	p := r.newProvider(r.settings())
	for range 100 {
		mustPoll(t, p)
		r.clock.Advance(time.Hour)
	}
	if n := r.fake.Logins(); n != 1 {
		t.Fatalf("logins per 100 polls = %d, want 1", n)
	}
	t.Logf("logins per 100 polls: %d", r.fake.Logins())
	if n := r.fake.Queries("qryImportantData"); n != 100 {
		t.Errorf("queries = %d", n)
	}
	// Restart: a new provider over the same store.
	p2 := r.newProvider(r.settings())
	for range 10 {
		mustPoll(t, p2)
	}
	if n := r.fake.Logins(); n != 1 {
		t.Fatalf("logins after a restart = %d, want still 1", n)
	}
	tok := tokenOf(t, r)
	r.mu.Lock()
	defer r.mu.Unlock()
	if !contains(r.secrets, tok) {
		t.Error("the stored token was not registered as a secret after the restart")
	}
}

func tokenOf(t *testing.T, r *rig) string {
	raw, ok, err := r.st.KV("main").Get(context.Background(), kvSession)
	if err != nil || !ok {
		t.Fatalf("no stored session: %v", err)
	}
	var s session
	if err := json.Unmarshal(raw, &s); err != nil {
		t.Fatal(err)
	}
	if s.UserID != "123456789012" || s.ProvinceCode != "600101" || s.CityCode != "8441900" {
		t.Errorf("stored login result %+v", s)
	}
	return s.Token
}

// pollAsPoller does what the poller does: one retry, only after ErrAuth.
func pollAsPoller(p *Provider) (providers.Snapshot, int, error) {
	snap, err := p.Poll(context.Background())
	if errors.Is(err, providers.ErrAuth) {
		snap, err = p.Poll(context.Background())
		return snap, 2, err
	}
	return snap, 1, err
}

// X201 (expired, or logged in elsewhere): exactly one re-login and one retry.
func TestX201ReloginOnce(t *testing.T) {
	for _, tc := range []struct {
		name string
		kill func(f *fake.Server)
	}{
		{"expired", func(f *fake.Server) { f.ExpireTokens() }},
		{"logged in elsewhere", func(f *fake.Server) { f.LoginElsewhere(testPhone) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t, fake.PlanNormal)
			p := r.newProvider(r.settings())
			mustPoll(t, p)
			r.clock.Advance(time.Hour)
			tc.kill(r.fake)

			_, err := p.Poll(context.Background())
			if !errors.Is(err, providers.ErrAuth) || providers.Kind(err) != "auth" {
				t.Fatalf("first poll after X201: %v, want ErrAuth", err)
			}
			if !strings.Contains(err.Error(), "X201") || strings.Contains(err.Error(), testPhone) {
				t.Errorf("message %q", err)
			}
			if _, ok, _ := r.st.KV("main").Get(context.Background(), kvSession); ok {
				t.Error("the dead session was not forgotten")
			}
			before := r.fake.Queries("qryImportantData")
			snap := mustPoll(t, p) // the poller's single retry
			if n := r.fake.Logins(); n != 2 {
				t.Errorf("logins = %d, want 2 (one re-login)", n)
			}
			if n := r.fake.Queries("qryImportantData") - before; n != 1 {
				t.Errorf("retry queried %d times, want 1", n)
			}
			if snap.Devices[0].Values["balance"] != 10.05 {
				t.Errorf("balance after the retry = %v", snap.Devices[0].Values["balance"])
			}
		})
	}
}

// X201 right after a login must not loop: the login guard (min_login_interval) refuses
// another login and says "rate limited"; the poller backs off.
func TestX201RespectsMinLoginInterval(t *testing.T) {
	r := newRig(t, fake.PlanNormal)
	p := r.newProvider(r.settings())
	mustPoll(t, p)
	r.clock.Advance(time.Minute)
	r.fake.ExpireTokens()
	_, polls, err := pollAsPoller(p)
	if polls != 2 || !errors.Is(err, providers.ErrRateLimited) {
		t.Fatalf("err = %v after %d polls, want rate limited after 2", err, polls)
	}
	if n := r.fake.Logins(); n != 1 {
		t.Errorf("logins = %d, want 1", n)
	}
	r.clock.Advance(10 * time.Minute)
	if _, _, err := pollAsPoller(p); err != nil {
		t.Fatal(err)
	}
	if n := r.fake.Logins(); n != 2 {
		t.Errorf("logins = %d, want 2", n)
	}
}

// A fresh token that is rejected again fails the retry without a third login.
func TestX201NeverLoops(t *testing.T) {
	r := newRig(t, fake.PlanNormal)
	p := r.newProvider(r.settings())
	mustPoll(t, p)
	r.clock.Advance(time.Hour)
	r.fake.SetQueryCode("X201")
	_, polls, err := pollAsPoller(p)
	if polls != 2 || !errors.Is(err, providers.ErrAuth) {
		t.Fatalf("err = %v after %d polls", err, polls)
	}
	if n := r.fake.Logins(); n != 2 {
		t.Errorf("logins = %d, want 2", n)
	}
}

// Each permanent login error: the right instruction, quarantine (ErrPermanent), and no
// further login attempt, not even after a restart; a settings change lifts it.
func TestPermanentLoginErrors(t *testing.T) {
	for _, tc := range []struct {
		code   string
		set    func(s *Settings, f *fake.Server)
		wantIn []string
	}{
		{code: "3001", set: func(s *Settings, f *fake.Server) { s.Password = "654321" },
			wantIn: []string{"3001", "`password`", "service password", "4 login attempt(s) left today", "counted by China Telecom: 1"}},
		{code: "1000", set: func(s *Settings, f *fake.Server) { f.SetLoginCode(fake.CodeWrongPasswordType) },
			wantIn: []string{"1000", "6-digit service password", "not the 天翼账号/web password"}},
		{code: "3005", set: func(s *Settings, f *fake.Server) { f.SetLoginCode(fake.CodeCaptcha) },
			wantIn: []string{"3005", "captcha", "中国电信 app"}},
		{code: "3006", set: func(s *Settings, f *fake.Server) { f.RequireTrustedDevice(testPhone, "A1B2C3D4E5F6G7H8") },
			wantIn: []string{"3006", "`device_id`", "SMS verification"}},
		{code: "X10401", set: func(s *Settings, f *fake.Server) { s.ClientVersion = "9.7.0" },
			wantIn: []string{"X10401", "raise `client_version`", "now 9.7.0"}},
	} {
		t.Run(tc.code, func(t *testing.T) {
			r := newRig(t, fake.PlanNormal)
			s := r.settings()
			tc.set(&s, r.fake)
			p := r.newProvider(s)
			_, _, err := pollAsPoller(p)
			if !errors.Is(err, providers.ErrPermanent) {
				t.Fatalf("err = %v, want permanent", err)
			}
			for _, w := range tc.wantIn {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("message %q lacks %q", err, w)
				}
			}
			if strings.Contains(err.Error(), testPhone) || strings.Contains(err.Error(), s.Password) {
				t.Errorf("message leaks the number or password: %q", err)
			}
			msg := err.Error()
			r.clock.Advance(24 * time.Hour) // even long after, and after a restart:
			for _, q := range []*Provider{p, r.newProvider(s)} {
				_, err := q.Poll(context.Background())
				if !errors.Is(err, providers.ErrPermanent) || err.Error() != msg {
					t.Errorf("poll after the refusal: %v", err)
				}
			}
			if n := r.fake.Logins(); n != 1 {
				t.Errorf("login attempts = %d, want 1", n)
			}

			// The user fixes the config: the block lifts and the next login works.
			r.fake.SetLoginCode("")
			fixed := r.settings()
			if tc.code == "3006" {
				fixed.DeviceID = "A1B2C3D4E5F6G7H8"
			}
			if tc.code == "1000" || tc.code == "3005" {
				fixed.MinLoginInterval = durationPtr(5 * time.Minute) // any change of the account's settings retries
			}
			snap := mustPoll(t, r.newProvider(fixed))
			if snap.Devices[0].Values["balance"] != 10.05 {
				t.Errorf("poll after the fix: %v", snap.Devices[0].Values)
			}
		})
	}
}

// The device_id option: slot, androidId and deviceUid as HA 1.1.6 sends them.
func TestDeviceIDOption(t *testing.T) {
	r := newRig(t, fake.PlanNormal)
	r.fake.RequireTrustedDevice(testPhone, "A1B2C3D4E5F6G7H8")
	s := r.settings()
	s.DeviceID = "A1B2C3D4E5F6G7H8"
	mustPoll(t, r.newProvider(s))
	want := "iPhone 14 15.4.A1B2C3D4E5F6" + testPhone
	if got := r.fake.LastLoginPlaintext(); !strings.HasPrefix(got, want) {
		t.Errorf("plaintext %q, want prefix %q", got, want)
	}
}

// The login guard's daily failure limit is persisted: a restart cannot bypass it.
func TestLoginFailuresPerDayPersist(t *testing.T) {
	r := newRig(t, fake.PlanNormal)
	r.fake.SetLoginCode("9999") // generic, transient failure
	s := r.settings()
	s.MinLoginInterval = durationPtr(0)
	two := 2
	s.MaxLoginFailuresPerDay = &two
	for i := range 2 {
		_, err := r.newProvider(s).Poll(context.Background())
		if err == nil || providers.Kind(err) != "transient" || !strings.Contains(err.Error(), "9999") {
			t.Fatalf("attempt %d: %v", i, err)
		}
	}
	_, err := r.newProvider(s).Poll(context.Background())
	if !errors.Is(err, providers.ErrPermanent) {
		t.Fatalf("third attempt: %v, want the guard's permanent error", err)
	}
	if n := r.fake.Logins(); n != 2 {
		t.Errorf("logins = %d, want 2", n)
	}
}

// Optional queries failing (not X201) leave their entities out but keep the poll.
func TestOptionalQueryFailureKeepsPoll(t *testing.T) {
	r := newRig(t, fake.PlanNormal)
	p := r.newProvider(r.settings())
	mustPoll(t, p)
	r.intercept(func(w http.ResponseWriter, req *http.Request, next http.Handler) {
		if strings.HasSuffix(req.URL.Path, "userFluxPackage") {
			http.Error(w, "boom", http.StatusBadGateway)
			return
		}
		next.ServeHTTP(w, req)
	})
	snap := mustPoll(t, p)
	d := snap.Devices[0]
	if _, ok := d.Values["plan"]; ok {
		t.Error("plan present although userFluxPackage failed")
	}
	if d.Values["balance"] != 10.05 {
		t.Errorf("balance = %v", d.Values["balance"])
	}
}

func TestFactoryValidation(t *testing.T) {
	for _, tc := range []struct {
		s    Settings
		want string
	}{
		{Settings{Password: "123456"}, "phone: required"},
		{Settings{Phone: "1891234567", Password: "123456"}, "11-digit"},
		{Settings{Phone: testPhone}, "password: required"},
		{Settings{Phone: testPhone, Password: "hunter2"}, "6-digit service password"},
		{Settings{Phone: testPhone, Password: "123456", BaseURL: "ftp://x"}, "base_url"},
		{Settings{Phone: testPhone, Password: "123456", RSAPublicKey: "nope"}, "rsa_public_key"},
		{Settings{Phone: testPhone, Password: "123456", MinLoginInterval: durationPtr(-time.Minute)}, "min_login_interval"},
		{Settings{Phone: testPhone, Password: "123456", ClientVersion: "latest"}, "client_version"},
		{Settings{Phone: testPhone, Password: "123456", DeviceID: "has space"}, "device_id"},
	} {
		_, err := New(providers.Account{ID: "x", Decode: func(v any) error { *v.(*Settings) = tc.s; return nil }},
			providers.Deps{KV: nopKV{}})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: err = %v, want %q", tc.s, err, tc.want)
		}
	}
	info, ok := providers.Lookup(Kind)
	if !ok || info.DefaultSchedule != "@every 1h" {
		t.Errorf("registration: %+v", info)
	}
}

type nopKV struct{}

func (nopKV) Get(context.Context, string) ([]byte, bool, error) { return nil, false, nil }
func (nopKV) Set(context.Context, string, []byte) error         { return nil }
func (nopKV) Delete(context.Context, string) error              { return nil }

func durationPtr(d time.Duration) *time.Duration { return &d }

// The retained /summary carries the masked number, like every other payload; the full
// number only when the account opts in with summary_full_number.
func TestSummaryNumberMaskedUnlessOptedIn(t *testing.T) {
	for _, tt := range []struct {
		full bool
		want string
	}{{false, `"phonenum":"189****5678"`}, {true, `"phonenum":"18912345678"`}} {
		r := newRig(t, fake.PlanNormal)
		s := r.settings()
		s.SummaryFullNumber = tt.full
		snap := mustPoll(t, r.newProvider(s))
		sum := string(snap.Devices[0].Topics["summary"])
		if !strings.Contains(sum, tt.want) {
			t.Errorf("summary_full_number %v: summary %s, want %s", tt.full, sum, tt.want)
		}
		if got := snap.Devices[0].Name; got != "China Telecom 189****5678" {
			t.Errorf("device name %q", got)
		}
		if b, _ := json.Marshal(snap.Devices[0].Values); strings.Contains(string(b), testPhone) {
			t.Errorf("the full number in the states: %s", b)
		}
	}
}

// /summary keeps its payload, createTime included, while its content does not change, so
// an unchanged account re-publishes nothing; a change brings a new createTime.
func TestSummaryUnchangedKeepsPayload(t *testing.T) {
	r := newRig(t, fake.PlanNormal)
	p := r.newProvider(r.settings())
	first := string(mustPoll(t, p).Devices[0].Topics["summary"])
	if !strings.Contains(first, `"createTime":"2025-06-15 16:30:45"`) {
		t.Fatalf("first summary %s: want createTime 2025-06-15 16:30:45 (Beijing)", first)
	}
	r.clock.Advance(time.Hour)
	if got := string(mustPoll(t, p).Devices[0].Topics["summary"]); got != first {
		t.Errorf("unchanged content, summary\n%s\nwant the previous one\n%s", got, first)
	}
	r.clock.Advance(time.Hour)
	r.fake.AddDataUse(testPhone, 1024)
	got := string(mustPoll(t, p).Devices[0].Topics["summary"])
	if got == first || !strings.Contains(got, `"createTime":"2025-06-15 18:30:45"`) {
		t.Errorf("changed content, summary %s: want new values and createTime 2025-06-15 18:30:45", got)
	}
	r.clock.Advance(time.Hour)
	if again := string(mustPoll(t, p).Devices[0].Topics["summary"]); again != got {
		t.Errorf("unchanged after the change, summary\n%s\nwant\n%s", again, got)
	}
}

// One poll of a logged-in account with the full plan (the three queries through a local
// HTTP server, parse, convert, /summary): the hot path of a telecom account.
func BenchmarkPoll(b *testing.B) {
	r := newRig(b, fake.PlanNormal)
	s := r.settings()
	p := r.newProvider(s)
	mustPoll(b, p) // logs in
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		mustPoll(b, p)
	}
}
