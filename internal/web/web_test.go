package web

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeBackend records actions and serves fixed data.
type fakeBackend struct {
	mu       sync.Mutex
	accounts []Account
	polled   []string
	orders   []OrderRequest
	check    func(data []byte) []Problem
}

func (f *fakeBackend) Accounts() []Account {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]Account(nil), f.accounts...)
}

func (f *fakeBackend) PollNow(id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := range f.accounts {
		if f.accounts[i].ID == id {
			f.polled = append(f.polled, id)
			f.accounts[i].LastRun = f.accounts[i].LastRun.Add(time.Minute)
			return nil
		}
	}
	return fmt.Errorf("account %q: %w", id, ErrNotFound)
}
func (f *fakeBackend) Reset(context.Context, string) error            { return nil }
func (f *fakeBackend) SetEnabled(context.Context, string, bool) error { return nil }
func (f *fakeBackend) Device(_ context.Context, id string) (Device, bool, error) {
	if id != "telecom_mobile" {
		return Device{}, false, nil
	}
	return Device{ID: id, Name: "Phone", Entities: []Entity{{Key: "balance", Name: "Balance", Component: "sensor", Unit: "CNY", State: 12.5}}}, true, nil
}
func (f *fakeBackend) Alerts(context.Context) (Alerts, error) {
	return Alerts{Active: []Alert{}, History: []Alert{}}, nil
}
func (f *fakeBackend) SMS() *SMS {
	return &SMS{Currency: "RUB", Strategies: []string{"price"}, Platforms: []SMSPlatform{}, Watch: []SMSWatch{}, Orders: []SMSOrder{}}
}
func (f *fakeBackend) PlaceOrder(_ context.Context, req OrderRequest) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.orders = append(f.orders, req)
	return nil
}
func (f *fakeBackend) CancelOrder(context.Context, string) error { return nil }
func (f *fakeBackend) ConfigMasked() ([]byte, error) {
	return []byte("mqtt:\n  password: '***'\n"), nil
}
func (f *fakeBackend) CheckConfig(data []byte) []Problem {
	if f.check != nil {
		return f.check(data)
	}
	return nil
}

const secretPW = "s3cret-Passw0rd"

const sampleConfig = `# my config
mqtt:
  broker: tcp://user:brokerpw99@10.0.0.2:1883
  password: "` + secretPW + `"   # keep me
web:
  listen: 127.0.0.1:8099
accounts:
  - id: mobile
    provider: telecom
    password: ${TELECOM_PASSWORD}
  - id: gas
    provider: gas
    password: 'gas''pw'
    user_code: "123"
`

type harness struct {
	t    *testing.T
	srv  *Server
	ts   *httptest.Server
	be   *fakeBackend
	path string
}

func newHarness(t *testing.T, mod func(*Options)) *harness {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "accountbridge.yaml")
	if err := os.WriteFile(path, []byte(sampleConfig), 0o600); err != nil {
		t.Fatal(err)
	}
	be := &fakeBackend{accounts: []Account{{ID: "mobile", Provider: "telecom", State: "ok", Enabled: true,
		LastRun: time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)}}}
	opts := Options{Listen: "127.0.0.1:0", Backend: be, ConfigPath: path, Interval: 10 * time.Millisecond,
		Secrets: func() []string { return []string{secretPW, "brokerpw99", "gas'pw"} }}
	if mod != nil {
		mod(&opts)
	}
	s, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(s)
	t.Cleanup(ts.Close)
	return &harness{t: t, srv: s, ts: ts, be: be, path: path}
}

func (h *harness) do(method, path string, body any, hdr map[string]string) (*http.Response, string) {
	h.t.Helper()
	var r io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		r = strings.NewReader(string(b))
	}
	req, _ := http.NewRequest(method, h.ts.URL+path, r)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := c.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res, string(b)
}

func (h *harness) post(path string, body any) (*http.Response, string) {
	return h.do("POST", path, body, map[string]string{csrfHeader: h.srv.csrf})
}

func TestNonLoopbackNeedsToken(t *testing.T) {
	_, err := New(Options{Listen: "0.0.0.0:8099", Backend: &fakeBackend{}})
	if err == nil {
		t.Fatal("New accepted a non-loopback address without a token")
	}
	for _, ok := range []Options{
		{Listen: "127.0.0.1:8099", Backend: &fakeBackend{}},
		{Listen: "[::1]:8099", Backend: &fakeBackend{}},
		{Listen: "0.0.0.0:8099", Token: "t", Backend: &fakeBackend{}},
		{Listen: ":8099", IngressOnly: true, Backend: &fakeBackend{}},
	} {
		if _, err := New(ok); err != nil {
			t.Errorf("%+v: %v", ok.Listen, err)
		}
	}
}

func TestTokenRequired(t *testing.T) {
	h := newHarness(t, func(o *Options) { o.Listen, o.Token = "0.0.0.0:0", "tok-123" })
	tests := []struct {
		name   string
		path   string
		hdr    map[string]string
		status int
	}{
		{"no token, page", "/", nil, 401},
		{"no token, api", "/api/accounts", nil, 401},
		{"no token, events", "/api/events", nil, 401},
		{"wrong bearer", "/api/accounts", map[string]string{"Authorization": "Bearer nope"}, 401},
		{"bearer", "/api/accounts", map[string]string{"Authorization": "Bearer tok-123"}, 200},
		{"cookie", "/api/accounts", map[string]string{"Cookie": tokenCookie + "=tok-123"}, 200},
		{"wrong token in url", "/?token=nope", nil, 401},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res, body := h.do("GET", tc.path, nil, tc.hdr)
			if res.StatusCode != tc.status {
				t.Fatalf("status %d, want %d (%s)", res.StatusCode, tc.status, body)
			}
			if tc.status == 401 && strings.Contains(body, "mobile") {
				t.Fatalf("refused request still got data: %s", body)
			}
		})
	}
	// ?token= trades the token for a cookie and drops it from the address.
	res, _ := h.do("GET", "/?token=tok-123", nil, map[string]string{"X-Ingress-Path": "/api/hassio_ingress/abc"})
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/api/hassio_ingress/abc/" {
		t.Fatalf("token login: %d %q", res.StatusCode, res.Header.Get("Location"))
	}
	if c := res.Cookies(); len(c) != 1 || c[0].Value != "tok-123" || !c[0].HttpOnly {
		t.Fatalf("cookie: %+v", c)
	}
}

func TestIngressOnlyPeer(t *testing.T) {
	h := newHarness(t, func(o *Options) { o.IngressOnly, o.AllowedPeers = true, []string{"192.0.2.1"} })
	if res, _ := h.do("GET", "/api/accounts", nil, nil); res.StatusCode != http.StatusForbidden {
		t.Fatalf("request from 127.0.0.1 to an ingress-only server: %d, want 403", res.StatusCode)
	}
	h2 := newHarness(t, func(o *Options) { o.IngressOnly, o.AllowedPeers = true, []string{"127.0.0.1"} })
	if res, body := h2.do("GET", "/api/accounts", nil, nil); res.StatusCode != 200 {
		t.Fatalf("request from the allowed peer: %d %s", res.StatusCode, body)
	}
}

func TestActionsNeedPOSTAndCSRF(t *testing.T) {
	h := newHarness(t, nil)
	tests := []struct {
		name   string
		method string
		hdr    map[string]string
		status int
	}{
		{"GET", "GET", nil, 405},
		{"POST without CSRF token", "POST", nil, 403},
		{"POST with a wrong CSRF token", "POST", map[string]string{csrfHeader: "x"}, 403},
		{"POST from another origin", "POST", map[string]string{csrfHeader: h.srv.csrf, "Origin": "http://evil.example"}, 403},
		{"POST cross-site", "POST", map[string]string{csrfHeader: h.srv.csrf, "Sec-Fetch-Site": "cross-site"}, 403},
		{"PUT", "PUT", map[string]string{csrfHeader: h.srv.csrf}, 405},
		{"POST same origin", "POST", map[string]string{csrfHeader: h.srv.csrf, "Origin": h.ts.URL}, 200},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := len(h.be.polled)
			res, body := h.do(tc.method, "/api/accounts/mobile/poll", nil, tc.hdr)
			if res.StatusCode != tc.status {
				t.Fatalf("status %d, want %d (%s)", res.StatusCode, tc.status, body)
			}
			if polled := len(h.be.polled) - before; (tc.status == 200) != (polled == 1) {
				t.Fatalf("polled %d times with status %d", polled, res.StatusCode)
			}
		})
	}
	if res, body := h.post("/api/accounts/nope/poll", nil); res.StatusCode != 404 {
		t.Fatalf("unknown account: %d %s", res.StatusCode, body)
	}
}

func TestIndexHonoursIngressPath(t *testing.T) {
	h := newHarness(t, nil)
	tests := []struct{ prefix, base string }{
		{"", `<base href="/">`},
		{"/api/hassio_ingress/XyZ_1-2", `<base href="/api/hassio_ingress/XyZ_1-2/">`},
		{`/x"><script>`, `<base href="/">`},
		{"/a/../b", `<base href="/">`},
	}
	for _, tc := range tests {
		res, body := h.do("GET", "/", nil, map[string]string{"X-Ingress-Path": tc.prefix})
		if res.StatusCode != 200 || !strings.Contains(body, tc.base) {
			t.Errorf("prefix %q: %d, want %s in\n%s", tc.prefix, res.StatusCode, tc.base, body)
		}
		if !strings.Contains(body, h.srv.csrf) {
			t.Errorf("page without the CSRF token")
		}
	}
	// Assets are relative to the base, so they load under any prefix the proxy strips.
	for _, p := range []string{"/static/app.js", "/static/style.css", "/static/icon.svg"} {
		if res, _ := h.do("GET", p, nil, nil); res.StatusCode != 200 {
			t.Errorf("%s: %d", p, res.StatusCode)
		}
	}
	res, body := h.do("GET", "/", nil, nil)
	if csp := res.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") {
		t.Errorf("CSP %q", csp)
	}
	if regexp.MustCompile(`(src|href)="(https?:)?//`).MatchString(body) {
		t.Errorf("page loads an external resource:\n%s", body)
	}
}

func TestConfigNeverSendsSecrets(t *testing.T) {
	h := newHarness(t, nil)
	res, body := h.do("GET", "/api/config", nil, nil)
	if res.StatusCode != 200 {
		t.Fatal(res.StatusCode, body)
	}
	for _, s := range []string{secretPW, "brokerpw99", "gas''pw", "gas'pw"} {
		if strings.Contains(body, s) {
			t.Errorf("secret %q sent to the browser:\n%s", s, body)
		}
	}
	var v configView
	if err := json.Unmarshal([]byte(body), &v); err != nil || v.Editor == nil {
		t.Fatalf("%v %+v", err, v)
	}
	for _, want := range []string{`password: "***"   # keep me`, `broker: "***"`, `password: ${TELECOM_PASSWORD}`, `password: "***"` + "\n    user_code", "# my config"} {
		if !strings.Contains(v.Editor.Text, want) {
			t.Errorf("editor text lacks %q:\n%s", want, v.Editor.Text)
		}
	}
}

func TestConfigEditor(t *testing.T) {
	h := newHarness(t, nil)
	var checked []string
	h.be.check = func(data []byte) []Problem {
		checked = append(checked, string(data))
		if strings.Contains(string(data), "provider: telecon") {
			return []Problem{{Line: 9, Path: "accounts[0].provider", Msg: `unknown provider "telecon" (did you mean "telecom"?)`}}
		}
		return nil
	}
	_, body := h.do("GET", "/api/config", nil, nil)
	var v configView
	_ = json.Unmarshal([]byte(body), &v)
	text := v.Editor.Text

	// A mistake: reported at its line, the file untouched.
	bad := strings.Replace(text, "provider: telecom", "provider: telecon", 1)
	res, body := h.post("/api/config/save", configEdit{Text: bad, Base: v.Editor.Base})
	var r checkResult
	_ = json.Unmarshal([]byte(body), &r)
	if res.StatusCode != 200 || r.OK || r.Saved || len(r.Problems) != 1 || r.Problems[0].Line != 9 {
		t.Fatalf("bad config: %d %s", res.StatusCode, body)
	}
	if got, _ := os.ReadFile(h.path); string(got) != sampleConfig {
		t.Fatalf("a config with a mistake was written:\n%s", got)
	}
	// The check saw the real secrets in place of "***".
	if last := checked[len(checked)-1]; !strings.Contains(last, secretPW) || !strings.Contains(last, "'gas''pw'") || !strings.Contains(last, "user:brokerpw99@") {
		t.Fatalf("secrets not restored for the check:\n%s", last)
	}

	// "***" where the saved file has no secret.
	res, body = h.post("/api/config/check", configEdit{Text: text + "\nalerts:\n  email:\n    password: \"***\"\n"})
	_ = json.Unmarshal([]byte(body), &r)
	if r.OK || len(r.Problems) != 1 || r.Problems[0].Path != "alerts.email.password" || r.Problems[0].Line != 18 {
		t.Fatalf("*** without a saved secret: %d %s", res.StatusCode, body)
	}

	// A good edit: saved with the secrets kept, the old file as .bak.
	good := strings.Replace(text, "# my config", "# my edited config", 1)
	res, body = h.post("/api/config/save", configEdit{Text: good, Base: v.Editor.Base})
	_ = json.Unmarshal([]byte(body), &r)
	if res.StatusCode != 200 || !r.OK || !r.Saved {
		t.Fatalf("good config: %d %s", res.StatusCode, body)
	}
	want := strings.Replace(sampleConfig, "# my config", "# my edited config", 1)
	if got, _ := os.ReadFile(h.path); string(got) != want {
		t.Fatalf("saved file:\n%s\nwant:\n%s", got, want)
	}
	if bak, _ := os.ReadFile(h.path + ".bak"); string(bak) != sampleConfig {
		t.Fatalf("backup:\n%s", bak)
	}
	// Saving over a file changed since it was loaded is refused.
	res, _ = h.post("/api/config/save", configEdit{Text: good, Base: v.Editor.Base})
	if res.StatusCode != http.StatusConflict {
		t.Fatalf("stale save: %d", res.StatusCode)
	}
}

func TestPlaceOrder(t *testing.T) {
	h := newHarness(t, nil)
	mp := 20.5
	res, body := h.post("/api/sms/orders", OrderRequest{Service: "tg", Country: "us", Strategy: "price", MaxPrice: &mp})
	if res.StatusCode != 200 {
		t.Fatal(res.StatusCode, body)
	}
	var out map[string]string
	_ = json.Unmarshal([]byte(body), &out)
	if len(h.be.orders) != 1 || h.be.orders[0].RequestID != out["request_id"] || !requestIDRe.MatchString(out["request_id"]) ||
		*h.be.orders[0].MaxPrice != 20.5 || h.be.orders[0].Strategy != "price" {
		t.Fatalf("order %+v, answer %s", h.be.orders, body)
	}
	if res, _ := h.post("/api/sms/orders", map[string]any{"service": "tg", "bogus": 1}); res.StatusCode != 400 {
		t.Fatalf("unknown field: %d", res.StatusCode)
	}
	if res, _ := h.post("/api/sms/orders", OrderRequest{RequestID: "a/b", Service: "tg", Country: "us"}); res.StatusCode != 400 {
		t.Fatalf("request id with a slash: %d", res.StatusCode)
	}
}

func TestDevice(t *testing.T) {
	h := newHarness(t, nil)
	res, body := h.do("GET", "/api/devices/telecom_mobile", nil, nil)
	if res.StatusCode != 200 || !strings.Contains(body, `"unit":"CNY"`) || !strings.Contains(body, `"state":12.5`) {
		t.Fatal(res.StatusCode, body)
	}
	if res, _ := h.do("GET", "/api/devices/nope", nil, nil); res.StatusCode != 404 {
		t.Fatal(res.StatusCode)
	}
}

// TestEventsPushChanges: the stream starts with the current state and pushes an account
// when it changes.
func TestEventsPushChanges(t *testing.T) {
	h := newHarness(t, nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", h.ts.URL+"/api/events", nil)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if ct := res.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("content type %q", ct)
	}
	events := make(chan [2]string, 16)
	go func() {
		sc := bufio.NewScanner(res.Body)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		var name string
		for sc.Scan() {
			line := sc.Text()
			if n, ok := strings.CutPrefix(line, "event: "); ok {
				name = n
			} else if d, ok := strings.CutPrefix(line, "data: "); ok {
				events <- [2]string{name, d}
			}
		}
		close(events)
	}()
	next := func(want string) string {
		for ev := range events {
			if ev[0] == want {
				return ev[1]
			}
		}
		t.Fatalf("stream ended before a %s event", want)
		return ""
	}
	first := next("accounts")
	if !strings.Contains(first, "2026-12-01T10:00:00Z") {
		t.Fatalf("first accounts event: %s", first)
	}
	if err := h.be.PollNow("mobile"); err != nil {
		t.Fatal(err)
	}
	if second := next("accounts"); !strings.Contains(second, "2026-12-01T10:01:00Z") {
		t.Fatalf("accounts event after the change: %s", second)
	}
}

func TestUnmaskKeepsSecretsWithTheirAccount(t *testing.T) {
	masked, err := maskConfig([]byte(sampleConfig), nil)
	if err != nil {
		t.Fatal(err)
	}
	// Swap the two accounts: each "***" must get its own account's secret back.
	s := string(masked)
	i := strings.Index(s, "  - id: mobile")
	j := strings.Index(s, "  - id: gas")
	swapped := s[:i] + s[j:] + s[i:j]
	out, problems := unmaskConfig([]byte(swapped), []byte(sampleConfig), nil)
	if len(problems) > 0 {
		t.Fatal(problems)
	}
	want := sampleConfig[:strings.Index(sampleConfig, "  - id: mobile")] + sampleConfig[strings.Index(sampleConfig, "  - id: gas"):] +
		sampleConfig[strings.Index(sampleConfig, "  - id: mobile"):strings.Index(sampleConfig, "  - id: gas")]
	if string(out) != want {
		t.Fatalf("got:\n%s\nwant:\n%s", out, want)
	}
}

func TestMaskRefusesMultilineSecret(t *testing.T) {
	_, err := maskConfig([]byte("mqtt:\n  password: |\n    abc\n    def\n"), nil)
	if err == nil {
		t.Fatal("a block-scalar secret was not refused")
	}

}

// TestLanguage: the page follows `language`; anything but zh is English.
func TestLanguage(t *testing.T) {
	for lang, want := range map[string]string{"zh": `content="zh"`, "en": `content="en"`, "fr": `content="en"`} {
		h := newHarness(t, func(o *Options) { o.Language = lang })
		_, body := h.do("GET", "/", nil, nil)
		if !strings.Contains(body, `<meta name="ab-lang" `+want) {
			t.Errorf("language %s: page lacks %s", lang, want)
		}
	}
	_, js := newHarness(t, nil).do("GET", "/static/app.js", nil, nil)
	for _, s := range []string{`"nav.accounts": "账号"`, `poll_now: "立即轮询"`, `lift: "解除隔离"`} {
		if !strings.Contains(js, s) {
			t.Errorf("app.js lacks the Chinese %s", s)
		}
	}
}

// TestServeOnAllInterfacesRefusesWithoutToken: the real listener on 0.0.0.0 (what a user
// sets to reach the UI from the network) answers 401 without the token, 200 with it.
func TestServeOnAllInterfacesRefusesWithoutToken(t *testing.T) {
	s, err := New(Options{Listen: "0.0.0.0:0", Token: "net-tok", Backend: &fakeBackend{}})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	_, port, err := net.SplitHostPort(s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		path, auth string
		status     int
	}{
		{"/", "", 401},
		{"/api/accounts", "", 401},
		{"/api/events", "", 401},
		{"/api/accounts", "Bearer net-tok", 200},
	} {
		req, _ := http.NewRequest("GET", "http://127.0.0.1:"+port+tc.path, nil)
		if tc.auth != "" {
			req.Header.Set("Authorization", tc.auth)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != tc.status {
			t.Errorf("%s (auth %q): %d, want %d", tc.path, tc.auth, res.StatusCode, tc.status)
		}
	}
	res, err := http.Post("http://127.0.0.1:"+port+"/api/accounts/mobile/poll", "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 401 {
		t.Errorf("action without token: %d", res.StatusCode)
	}
}

// The page shell has every placeholder filled, each value escaped for the attribute or
// text it lands in.
func TestRenderIndex(t *testing.T) {
	tests := []struct {
		name string
		d    pageData
		want []string
	}{
		{"plain", pageData{Base: "/", CSRF: "c0ffee", Lang: "zh-Hans", Version: "0.1.0"},
			[]string{`<html lang="zh-Hans">`, `<base href="/">`, `content="c0ffee"`, `<meta name="ab-editor" content="off">`, `<small>0.1.0</small>`}},
		{"editor", pageData{Base: "/p/", Editor: true},
			[]string{`<base href="/p/">`, `<meta name="ab-editor" content="on">`}},
		{"escaped", pageData{Base: `/"x`, CSRF: `a&b`, Lang: `en"><script>`, Version: `<b>1</b>`},
			[]string{`href="/&#34;x"`, `content="a&amp;b"`, `lang="en&#34;&gt;&lt;script&gt;"`, `<small>&lt;b&gt;1&lt;/b&gt;</small>`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			page := renderIndex(tc.d)
			if strings.Contains(page, "{{") || strings.Contains(page, "<script>") {
				t.Errorf("unfilled placeholder or unescaped value:\n%s", page)
			}
			for _, w := range tc.want {
				if !strings.Contains(page, w) {
					t.Errorf("want %s in\n%s", w, page)
				}
			}
		})
	}
}
