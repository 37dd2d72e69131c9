package httpx_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/accountbridge/accountbridge/internal/httpx"
	"github.com/accountbridge/accountbridge/internal/version"
)

func newClient(t *testing.T, opts httpx.Options) *http.Client {
	t.Helper()
	c, err := httpx.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func get(t *testing.T, c *http.Client, u string, hdr http.Header) string {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestUserAgent(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, r.UserAgent())
	}))
	defer srv.Close()

	def := newClient(t, httpx.Options{Provider: "telecom"})
	want := "accountbridge/" + version.String() + " (+https://github.com/accountbridge/accountbridge; telecom)"
	if got := get(t, def, srv.URL, nil); got != want {
		t.Errorf("default UA = %q, want %q", got, want)
	}

	over := newClient(t, httpx.Options{Provider: "telecom", UserAgent: "CtClient;11.3.0;Android;13"})
	if got := get(t, over, srv.URL, nil); got != "CtClient;11.3.0;Android;13" {
		t.Errorf("override UA = %q", got)
	}

	// A request that sets its own User-Agent keeps it.
	if got := get(t, def, srv.URL, http.Header{"User-Agent": {"per-request/1.0"}}); got != "per-request/1.0" {
		t.Errorf("per-request UA = %q", got)
	}
}

func TestUserAgentDoesNotModifyRequest(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	defer srv.Close()
	c := newClient(t, httpx.Options{})
	req, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if _, ok := req.Header["User-Agent"]; ok {
		t.Error("caller's request was modified")
	}
}

func TestCookiesPerClient(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/login" {
			http.SetCookie(w, &http.Cookie{Name: "sid", Value: r.URL.Query().Get("who"), Path: "/"})
			return
		}
		if c, err := r.Cookie("sid"); err == nil {
			io.WriteString(w, c.Value)
		}
	}))
	defer srv.Close()

	a := newClient(t, httpx.Options{})
	b := newClient(t, httpx.Options{})
	get(t, a, srv.URL+"/login?who=alice", nil)
	if got := get(t, a, srv.URL+"/me", nil); got != "alice" {
		t.Errorf("client a cookie = %q, want alice", got)
	}
	if got := get(t, b, srv.URL+"/me", nil); got != "" {
		t.Errorf("client b sees a's cookie: %q", got)
	}
	get(t, b, srv.URL+"/login?who=bob", nil)
	if got := get(t, a, srv.URL+"/me", nil); got != "alice" {
		t.Errorf("client a cookie after b logged in = %q", got)
	}
}

func TestWholeRequestTimeout(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select { // block until the client gives up (or the test ends)
		case <-r.Context().Done():
		case <-release:
		}
	}))
	defer srv.Close()
	defer close(release) // runs first: lets the handler return so Close does not wait

	c := newClient(t, httpx.Options{Timeout: 50 * time.Millisecond})
	resp, err := c.Get(srv.URL)
	if err == nil {
		resp.Body.Close()
		t.Fatal("request did not time out")
	}
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("error is not a timeout: %v", err)
	}
	// The transport's wait for headers has the same bound and may end it first.
	if !errors.Is(err, context.DeadlineExceeded) ||
		(!strings.Contains(err.Error(), "request timeout of 50ms") && !strings.Contains(err.Error(), "timeout awaiting response headers")) {
		t.Fatalf("error does not name the timeout: %v", err)
	}
}

// The caller's own deadline, earlier than the request timeout, is not reported as the
// request timeout.
func TestCallerDeadlineIsNotTheRequestTimeout(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	defer srv.Close()
	defer close(release)

	c := newClient(t, httpx.Options{Timeout: time.Minute})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := c.Do(req)
	if err == nil {
		resp.Body.Close()
		t.Fatal("request outlived its context")
	}
	if !errors.Is(err, context.DeadlineExceeded) || strings.Contains(err.Error(), "request timeout") {
		t.Fatalf("error = %v, want the caller's deadline, not the request timeout", err)
	}
}

// The timeout also bounds reading the answer: headers in time, a body that stalls.
func TestTimeoutWhileReadingBody(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "100")
		_, _ = w.Write([]byte("partial"))
		w.(http.Flusher).Flush()
		select { // stall mid-body until the client gives up (or the test ends)
		case <-r.Context().Done():
		case <-release:
		}
	}))
	defer srv.Close()
	defer close(release)

	c := newClient(t, httpx.Options{Timeout: 100 * time.Millisecond})
	resp, err := c.Get(srv.URL)
	if err != nil {
		t.Fatalf("headers did not arrive: %v", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("reading the stalled body: %q, %v; want a timeout", body, err)
	}
	if !strings.Contains(err.Error(), "request timeout of 100ms") {
		t.Fatalf("reading the stalled body: %v; want it to name the request timeout", err)
	}
}

func TestHTTPProxy(t *testing.T) {
	var mu sync.Mutex
	var seenURI, seenAuth string
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seenURI, seenAuth = r.RequestURI, r.Header.Get("Proxy-Authorization")
		mu.Unlock()
		io.WriteString(w, "via proxy")
	}))
	defer proxy.Close()

	pu, _ := url.Parse(proxy.URL)
	pu.User = url.UserPassword("puser", "ppass")
	c := newClient(t, httpx.Options{Proxy: pu.String()})
	// The target name does not resolve: only the proxy can answer.
	if got := get(t, c, "http://upstream.accountbridge.invalid/api/x?a=1", nil); got != "via proxy" {
		t.Fatalf("body = %q", got)
	}
	mu.Lock()
	defer mu.Unlock()
	if seenURI != "http://upstream.accountbridge.invalid/api/x?a=1" {
		t.Errorf("proxy saw request-URI %q, want the absolute URL", seenURI)
	}
	if !strings.HasPrefix(seenAuth, "Basic ") {
		t.Errorf("proxy credentials not sent: %q", seenAuth)
	}
}

func TestProxyValidation(t *testing.T) {
	for _, ok := range []string{
		"", "http://127.0.0.1:3128", "https://proxy.example:443",
		"socks5://user:pass@127.0.0.1:1080", "socks5h://proxy.example:1080", "HTTP://proxy.example:8080",
	} {
		if _, err := httpx.New(httpx.Options{Proxy: ok}); err != nil {
			t.Errorf("proxy %q rejected: %v", ok, err)
		}
	}
	for _, bad := range []string{
		"ftp://proxy.example:21",
		"socks4://proxy.example:1080",
		"proxy.example:8080",
		"http://",
		"http://user:topsecret@proxy.example:port",
		"http://user:topsecret@[::1",
		"://missing-scheme",
		"http://us er:topsecret@%zz",
	} {
		_, err := httpx.New(httpx.Options{Proxy: bad})
		if err == nil {
			t.Errorf("proxy %q accepted", bad)
			continue
		}
		if strings.Contains(err.Error(), "topsecret") {
			t.Errorf("proxy error leaks the password: %v", err)
		}
	}
}

// logBuffer collects JSON log lines.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func (l *logBuffer) lines(t *testing.T) []map[string]any {
	t.Helper()
	var res []map[string]any
	for _, s := range strings.Split(strings.TrimSpace(l.String()), "\n") {
		if s == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(s), &m); err != nil {
			t.Fatalf("bad log line %q: %v", s, err)
		}
		res = append(res, m)
	}
	return res
}

func TestDebugTransportLogs(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.ReadAll(r.Body)
		http.SetCookie(w, &http.Cookie{Name: "sid", Value: "cookie-secret-1"})
		w.Header().Set("Content-Length", "16")
		io.WriteString(w, "resp-secret-body")
	}))
	defer srv.Close()

	var buf logBuffer
	log := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	c := newClient(t, httpx.Options{
		Logger: log,
		Redact: func(s string) string { return strings.ReplaceAll(s, "18912345678", "189****5678") },
	})
	req, _ := http.NewRequest(http.MethodPost,
		srv.URL+"/login?phone=18912345678&token=abc&appKey=k123&page=2",
		strings.NewReader("password=hunter22"))
	req.Header.Set("Authorization", "Bearer hdr-secret-2")
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.ReadAll(resp.Body)
	resp.Body.Close()

	out := buf.String()
	for _, secret := range []string{"token=abc", "k123", "hunter22", "resp-secret-body", "cookie-secret-1", "hdr-secret-2", "18912345678"} {
		if strings.Contains(out, secret) {
			t.Errorf("log contains %q: %s", secret, out)
		}
	}
	ls := buf.lines(t)
	if len(ls) != 1 {
		t.Fatalf("want 1 line, got %d: %s", len(ls), out)
	}
	m := ls[0]
	wantURL := srv.URL + "/login?phone=189****5678&token=***&appKey=***&page=2"
	if m["method"] != "POST" || m["url"] != wantURL || m["status"] != float64(200) {
		t.Errorf("got %v, want url %q", m, wantURL)
	}
	if m["content_length"] != float64(16) {
		t.Errorf("content_length = %v", m["content_length"])
	}
	if _, ok := m["duration"]; !ok {
		t.Errorf("no duration: %v", m)
	}
}

func TestDebugTransportError(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	addr := srv.URL
	srv.Close() // nothing listens there any more: the dial fails

	var buf logBuffer
	log := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	c := newClient(t, httpx.Options{Logger: log})
	resp, err := c.Get(addr + "/x?sign=deadbeef")
	if err == nil {
		resp.Body.Close()
		t.Fatal("want an error")
	}
	ls := buf.lines(t)
	if len(ls) != 1 {
		t.Fatalf("want 1 line, got %d", len(ls))
	}
	m := ls[0]
	if m["url"] != addr+"/x?sign=***" || m["error"] == nil || m["status"] != nil {
		t.Errorf("got %v", m)
	}
	if strings.Contains(buf.String(), "deadbeef") {
		t.Errorf("sign leaked: %s", buf.String())
	}
}

func TestDebugTransportSilentAboveDebug(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	defer srv.Close()
	var buf logBuffer
	log := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo}))
	c := newClient(t, httpx.Options{Logger: log})
	get(t, c, srv.URL, nil)
	if buf.String() != "" {
		t.Errorf("logged at info level: %s", buf.String())
	}
}

func TestSafeURL(t *testing.T) {
	tests := []struct{ in, want string }{
		{"https://h/p", "https://h/p"},
		{"https://h/p?a=1&b=2", "https://h/p?a=1&b=2"},
		{"https://h/p?access_token=x&a=1", "https://h/p?access_token=***&a=1"},
		{"https://h/p?a=1&Password=p%40ss", "https://h/p?a=1&Password=***"},
		{"https://h/p?pass%77ord=x", "https://h/p?pass%77ord=***"}, // escaped name
		{"https://h/p?token=&flag", "https://h/p?token=&flag"},
		{"https://h/p?monkey=1&sign=abc#frag", "https://h/p?monkey=1&sign=***"},
		{"https://u:pw@h/p", "https://u:xxxxx@h/p"},
	}
	for _, tt := range tests {
		u, err := url.Parse(tt.in)
		if err != nil {
			t.Fatal(err)
		}
		if got := httpx.SafeURL(u); got != tt.want {
			t.Errorf("SafeURL(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
