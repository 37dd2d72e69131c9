package logging_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/accountbridge/accountbridge/internal/logging"
)

// syncBuffer lets concurrent log calls write while the test reads at the end.
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

func newJSONLogger(t *testing.T, level string, r *logging.Redactor) (*slog.Logger, *syncBuffer) {
	t.Helper()
	var buf syncBuffer
	log, err := logging.New(&buf, logging.Options{Level: level, Format: "json", Redactor: r})
	if err != nil {
		t.Fatal(err)
	}
	return log, &buf
}

// lines parses JSON log output, one object per line.
func lines(t *testing.T, out string) []map[string]any {
	t.Helper()
	var res []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		if l == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("bad JSON log line %q: %v", l, err)
		}
		res = append(res, m)
	}
	return res
}

func only(t *testing.T, out string) map[string]any {
	t.Helper()
	ls := lines(t, out)
	if len(ls) != 1 {
		t.Fatalf("want 1 log line, got %d: %s", len(ls), out)
	}
	return ls[0]
}

func TestPasswordAttrRedacted(t *testing.T) {
	log, buf := newJSONLogger(t, "info", nil)
	log.Info("login", "user", "alice", "password", "hunter22", "empty_token", "")
	m := only(t, buf.String())
	if m["password"] != "***" {
		t.Errorf("password = %v, want ***", m["password"])
	}
	if m["user"] != "alice" {
		t.Errorf("user = %v, want alice", m["user"])
	}
	if m["empty_token"] != "" {
		t.Errorf("empty sensitive value should stay empty, got %v", m["empty_token"])
	}
	if strings.Contains(buf.String(), "hunter22") {
		t.Errorf("secret leaked: %s", buf.String())
	}
}

func TestNestedGroupToken(t *testing.T) {
	log, buf := newJSONLogger(t, "info", nil)
	log.Info("session",
		slog.Group("auth", slog.String("user", "bob"),
			slog.Group("oauth", slog.String("accessToken", "tok-123456"), slog.Int("ttl", 60))))
	m := only(t, buf.String())
	oauth := m["auth"].(map[string]any)["oauth"].(map[string]any)
	if oauth["accessToken"] != "***" {
		t.Errorf("accessToken = %v", oauth["accessToken"])
	}
	if oauth["ttl"] != float64(60) {
		t.Errorf("ttl = %v, want 60 (other kinds untouched)", oauth["ttl"])
	}
	if m["auth"].(map[string]any)["user"] != "bob" {
		t.Errorf("user = %v", m["auth"])
	}
	if strings.Contains(buf.String(), "tok-123456") {
		t.Errorf("secret leaked: %s", buf.String())
	}
}

func TestErrorAttrRedacted(t *testing.T) {
	r := logging.NewRedactor()
	r.AddSecret("s3cr3t-pass")
	log, buf := newJSONLogger(t, "info", r)
	err := fmt.Errorf("login: %w", errors.New("server rejected password s3cr3t-pass for 18912345678"))
	log.Error("poll failed", "err", err)
	m := only(t, buf.String())
	want := "login: server rejected password *** for 189****5678"
	if m["err"] != want {
		t.Errorf("err = %v, want %q", m["err"], want)
	}
	if strings.Contains(buf.String(), "s3cr3t-pass") {
		t.Errorf("secret leaked: %s", buf.String())
	}
}

func TestMessageRedacted(t *testing.T) {
	r := logging.NewRedactor()
	r.AddSecret("tok_ABCDEFGH")
	log, buf := newJSONLogger(t, "info", r)
	log.Info("using token tok_ABCDEFGH for 18912345678")
	m := only(t, buf.String())
	if m["msg"] != "using token *** for 189****5678" {
		t.Errorf("msg = %v", m["msg"])
	}
}

type stringer struct{ s string }

func (s stringer) String() string { return s.s }

type valuer struct{ v string }

func (v valuer) LogValue() slog.Value { return slog.StringValue(v.v) }

type badStringer struct{ p *int }

func (b *badStringer) String() string { return fmt.Sprint(*b.p) }

func TestStringerLogValuerAndURL(t *testing.T) {
	r := logging.NewRedactor()
	r.AddSecret("hidden-value")
	log, buf := newJSONLogger(t, "info", r)
	u, _ := url.Parse("https://user:pw1234@example.com/x")
	var nilStringer *badStringer
	log.Info("m",
		"s", stringer{"is hidden-value"},
		"v", valuer{"hidden-value!"},
		"secret", valuer{"whatever"}, // sensitive key, value known only after resolving
		"u", u,
		"n", nilStringer, // must not panic
		"i", 42)
	m := only(t, buf.String())
	if m["s"] != "is ***" || m["v"] != "***!" || m["secret"] != "***" {
		t.Errorf("got %v", m)
	}
	if strings.Contains(buf.String(), "pw1234") {
		t.Errorf("URL password leaked: %s", buf.String())
	}
	if m["i"] != float64(42) {
		t.Errorf("i = %v", m["i"])
	}
}

func TestWithAttrsRedacted(t *testing.T) {
	r := logging.NewRedactor()
	log, buf := newJSONLogger(t, "info", r)
	acct := log.With("account", "home", "token", "abcdef", "phone", "18912345678").WithGroup("g").With("cookie", "c=1")
	// Registered after With: attributes attached earlier must still be hidden.
	r.AddSecret("home-secret")
	acct2 := log.With("note", "home-secret here")
	acct.Info("polled", "n", 1)
	acct2.Info("polled")
	ls := lines(t, buf.String())
	if len(ls) != 2 {
		t.Fatalf("got %d lines", len(ls))
	}
	m := ls[0]
	if m["token"] != "***" || m["phone"] != "189****5678" || m["account"] != "home" {
		t.Errorf("got %v", m)
	}
	g := m["g"].(map[string]any)
	if g["cookie"] != "***" || g["n"] != float64(1) {
		t.Errorf("group = %v", g)
	}
	if ls[1]["note"] != "*** here" {
		t.Errorf("note = %v", ls[1]["note"])
	}
}

func TestWithAttrsSecretAddedLater(t *testing.T) {
	r := logging.NewRedactor()
	log, buf := newJSONLogger(t, "info", r)
	l := log.With("session", "sess-XYZ-987").WithGroup("poll")
	l.Info("first")
	r.AddSecret("sess-XYZ-987")
	l.Info("second", "k", "v")
	ls := lines(t, buf.String())
	if ls[0]["session"] != "sess-XYZ-987" {
		t.Errorf("before AddSecret: %v", ls[0]["session"])
	}
	if ls[1]["session"] != "***" {
		t.Errorf("after AddSecret: %v", ls[1]["session"])
	}
	if ls[1]["poll"].(map[string]any)["k"] != "v" {
		t.Errorf("group lost: %v", ls[1])
	}
}

func TestLevelFiltering(t *testing.T) {
	log, buf := newJSONLogger(t, "warn", nil)
	log.Debug("d")
	log.Info("i")
	log.Warn("w")
	log.Error("e")
	ls := lines(t, buf.String())
	if len(ls) != 2 || ls[0]["msg"] != "w" || ls[1]["msg"] != "e" {
		t.Errorf("got %v", ls)
	}
	if log.Enabled(context.Background(), slog.LevelInfo) {
		t.Error("info enabled at warn level")
	}

	dlog, dbuf := newJSONLogger(t, "DEBUG", nil)
	dlog.Debug("d")
	if len(lines(t, dbuf.String())) != 1 {
		t.Error("debug line missing")
	}
}

func TestOptionsErrors(t *testing.T) {
	for _, lvl := range []string{"", "debug", "info", "warn", "warning", "error", "Info"} {
		if _, err := logging.New(io.Discard, logging.Options{Level: lvl}); err != nil {
			t.Errorf("level %q: %v", lvl, err)
		}
	}
	if _, err := logging.New(io.Discard, logging.Options{Level: "verbose"}); err == nil {
		t.Error("unknown level accepted")
	}
	if _, err := logging.New(io.Discard, logging.Options{Format: "xml"}); err == nil {
		t.Error("unknown format accepted")
	}
}

func TestTextFormat(t *testing.T) {
	var buf bytes.Buffer
	log, err := logging.New(&buf, logging.Options{Format: "text"})
	if err != nil {
		t.Fatal(err)
	}
	log.Info("hello", "password", "hunter22", "phone", "18912345678")
	out := buf.String()
	if strings.Contains(out, "\x1b[") {
		t.Errorf("colour codes on a non-terminal: %q", out)
	}
	if strings.Contains(out, "hunter22") || strings.Contains(out, "18912345678") {
		t.Errorf("leak in text output: %q", out)
	}
	if !strings.Contains(out, "hello") || !strings.Contains(out, "189****5678") {
		t.Errorf("unexpected text output: %q", out)
	}

	// auto on a non-terminal writer is JSON.
	buf.Reset()
	log, _ = logging.New(&buf, logging.Options{})
	log.Info("hi")
	if only(t, buf.String())["msg"] != "hi" {
		t.Errorf("auto format: %q", buf.String())
	}
}

func TestConcurrentAddSecretAndLogging(t *testing.T) {
	r := logging.NewRedactor()
	log, buf := newJSONLogger(t, "info", r)
	base := log.With("acct", "x")
	const n = 50
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(2)
		secret := fmt.Sprintf("secret-%03d", i)
		go func() {
			defer wg.Done()
			r.AddSecret(secret)
		}()
		go func() {
			defer wg.Done()
			base.With("i", i).Info("tick", "v", "value")
		}()
	}
	wg.Wait()
	// Every secret is registered now, so these lines must all be hidden.
	for i := range n {
		log.Info(fmt.Sprintf("msg secret-%03d", i))
	}
	ls := lines(t, buf.String())
	if len(ls) != 2*n {
		t.Fatalf("got %d lines", len(ls))
	}
	for _, m := range ls[n:] {
		if m["msg"] != "msg ***" {
			t.Errorf("msg = %v", m["msg"])
		}
	}
}

func TestHandleNoAllocOverheadWhenClean(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts differ under -race")
	}
	r := logging.NewRedactor()
	r.AddSecret("hunter22")
	plain := slog.New(slog.NewJSONHandler(io.Discard, nil))
	wrapped := slog.New(logging.NewHandler(slog.NewJSONHandler(io.Discard, nil), r))
	logLine := func(l *slog.Logger) func() {
		return func() { l.Info("poll finished", "account", "home", "entities", 3) }
	}
	base := testing.AllocsPerRun(100, logLine(plain))
	got := testing.AllocsPerRun(100, logLine(wrapped))
	if got > base {
		t.Errorf("redacting handler adds allocations on a clean line: %v > %v", got, base)
	}
}

func BenchmarkHandlerClean(b *testing.B) {
	r := logging.NewRedactor()
	r.AddSecret("hunter22")
	log := slog.New(logging.NewHandler(slog.NewJSONHandler(io.Discard, nil), r)).With("account", "home")
	b.ReportAllocs()
	for b.Loop() {
		log.Info("poll finished", "account", "home", "entities", 3, "phone", "n/a")
	}
}
