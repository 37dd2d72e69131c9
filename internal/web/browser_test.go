//go:build browser

// The web UI in a real browser: headless Chromium, driven over the DevTools protocol,
// against `bridge demo` (built from this tree), directly and behind an ingress-style
// reverse proxy. Run it with `make e2e-web` (scripts/e2e-web.sh installs Chromium when it
// is missing). WEB_SCREENSHOTS=DIR keeps PNGs of the main pages there.
package web_test

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/accountbridge/accountbridge/internal/mqtt/broker"
)

// demoAccounts are the accounts `bridge demo` configures.
var demoAccounts = []string{"mobile", "home", "miner", "activate", "fivesim", "selfhosted"}

func TestBrowser(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	dir := t.TempDir()

	b, err := broker.Start("127.0.0.1:0", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	demo := startDemo(ctx, t, dir, b.URL())
	proxy := ingressProxy(t, demo.url)
	br := startBrowser(ctx, t)
	shots := os.Getenv("WEB_SCREENSHOTS")
	shot := func(name string) {
		if shots == "" {
			return
		}
		if err := br.screenshot(filepath.Join(shots, name)); err != nil {
			t.Errorf("screenshot %s: %v", name, err)
		}
	}

	t.Run("accounts page lists every demo account with its status", func(t *testing.T) {
		br.open(t, demo.url+"#/accounts")
		br.wait(t, `document.querySelectorAll("#accounts tbody tr[data-account]").length === 6 &&
			[...document.querySelectorAll("#accounts tbody tr")].every(r => r.dataset.state === "ok")`)
		for _, id := range demoAccounts {
			status := br.str(t, fmt.Sprintf(`document.querySelector('tr[data-account=%q] .status .badge').textContent`, id))
			if status != "ok" {
				t.Errorf("account %s: status %q", id, status)
			}
		}
		shot("accounts.png")
	})

	t.Run("poll now changes the last-poll time", func(t *testing.T) {
		// The demo polls every hour: only the button can make a new poll happen now.
		before := br.str(t, `document.querySelector('tr[data-account="mobile"] .last-poll').dataset.time`)
		if before == "" {
			t.Fatal("no last poll before the click")
		}
		br.eval(t, `document.querySelector('tr[data-account="mobile"] button.poll').click()`)
		after := br.wait(t, fmt.Sprintf(`(() => { const v = document.querySelector('tr[data-account="mobile"] .last-poll').dataset.time;
			return v !== %q && v; })()`, before))
		if !(after > before) {
			t.Fatalf("last poll %s, was %s", after, before)
		}
	})

	t.Run("device view shows entities with states and units", func(t *testing.T) {
		br.open(t, demo.url+"#/device/telecom_mobile")
		unit := br.wait(t, `(() => { const r = document.querySelector('#entities tr[data-key="balance"]');
			return r && r.children[2].textContent !== "unknown" && r.children[3].textContent; })()`)
		if unit != "CNY" {
			t.Fatalf("balance unit %q", unit)
		}
		shot("device.png")
	})

	t.Run("an order placed from the form reaches the fake platform and its code shows", func(t *testing.T) {
		br.open(t, demo.url+"#/sms")
		br.wait(t, `document.querySelectorAll("#platforms tbody tr").length === 3`)
		br.eval(t, `(() => { const f = document.getElementById("order-form");
			f.service.value = "tg"; f.country.value = "us"; f.strategy.value = "price"; f.max_price.value = "50";
			f.querySelector("button[type=submit]").click(); })()`)
		// 5SIM is the one with stock; the fake sends the code ~15 s after the purchase.
		code := br.wait(t, `(() => { const r = document.querySelector("#orders-done tr[data-order^='web-'][data-state='done']");
			return r && r.querySelector(".sms-code").textContent; })()`)
		if !regexp.MustCompile(`^\d{4,8}$`).MatchString(code) {
			t.Fatalf("code %q", code)
		}
		platform := br.str(t, `document.querySelector("#orders-done tr[data-order^='web-'] td:nth-child(4)").textContent`)
		if platform != "fivesim" {
			t.Fatalf("bought at %q, want fivesim (the cheapest with stock)", platform)
		}
		shot("sms.png")
	})

	t.Run("alerts page", func(t *testing.T) {
		br.open(t, demo.url+"#/alerts")
		br.wait(t, `document.querySelectorAll("#alerts-active tr[data-alert]").length > 0`)
		shot("alerts.png")
	})

	t.Run("a config with a mistake shows the error at its line and is not saved", func(t *testing.T) {
		saved, err := os.ReadFile(demo.config)
		if err != nil {
			t.Fatal(err)
		}
		br.open(t, demo.url+"#/config")
		br.wait(t, `document.getElementById("config-text") && document.getElementById("config-text").value.includes("provider: telecom")`)
		line := br.num(t, `document.getElementById("config-text").value.split("\n").findIndex(l => l.includes("provider: telecom")) + 1`)
		if line < 2 {
			t.Fatalf("line %d", line)
		}
		br.eval(t, `(() => { const ta = document.getElementById("config-text");
			ta.value = ta.value.replace("provider: telecom", "provider: telecon");
			ta.dispatchEvent(new Event("input")); document.getElementById("config-save").click(); })()`)
		msg := br.wait(t, fmt.Sprintf(`(() => { const li = document.querySelector('#config-problems li[data-line="%d"]'); return li && li.textContent; })()`, line))
		if !strings.Contains(msg, "telecon") || !strings.Contains(msg, `did you mean "telecom"`) {
			t.Fatalf("problem at line %d: %q", line, msg)
		}
		if bad := br.str(t, `[...document.querySelectorAll("#gutter .bad")].map(e => e.dataset.line).join(",")`); bad != strconv.Itoa(line) {
			t.Fatalf("gutter marks lines %q, want %d", bad, line)
		}
		br.eval(t, `document.querySelector("#config-problems a.goto").click(); window.scrollTo(0, 0)`)
		shot("config.png")
		now, _ := os.ReadFile(demo.config)
		if string(now) != string(saved) {
			t.Fatalf("the config with a mistake was written:\n%s", now)
		}
		if _, err := os.Stat(demo.config + ".bak"); err == nil {
			t.Fatal("a backup was made for a config that was not saved")
		}
	})

	t.Run("the page works under an ingress path prefix", func(t *testing.T) {
		br.open(t, proxy.url+"/")
		br.wait(t, `document.querySelectorAll("#accounts tbody tr[data-account]").length === 6`)
		if base := br.str(t, `document.baseURI`); base != proxy.url+"/" {
			t.Fatalf("base %q, want %q", base, proxy.url+"/")
		}
		// The stylesheet and script came through the prefix, and the live stream runs.
		br.wait(t, `getComputedStyle(document.querySelector("header")).position === "sticky" && document.getElementById("live").classList.contains("on")`)
		before := br.str(t, `document.querySelector('tr[data-account="home"] .last-poll').dataset.time`)
		br.eval(t, `document.querySelector('tr[data-account="home"] button.poll').click()`)
		br.wait(t, fmt.Sprintf(`document.querySelector('tr[data-account="home"] .last-poll').dataset.time !== %q`, before))
		br.open(t, proxy.url+"/#/sms")
		br.wait(t, `document.querySelectorAll("#platforms tbody tr").length === 3`)
		if n := proxy.outside(); n > 0 {
			t.Fatalf("%d requests escaped the prefix", n)
		}
	})
}

// demoRun is a running `bridge demo`.
type demoRun struct {
	url    string // the web UI, ending in /
	config string
}

func startDemo(ctx context.Context, t *testing.T, dir, brokerURL string) demoRun {
	t.Helper()
	bin := os.Getenv("BRIDGE_BIN")
	if bin == "" {
		bin = filepath.Join(dir, "bridge")
		out, err := exec.CommandContext(ctx, "go", "build", "-o", bin, "github.com/accountbridge/accountbridge/cmd/bridge").CombinedOutput()
		if err != nil {
			t.Fatalf("go build: %v\n%s", err, out)
		}
	}
	data := filepath.Join(dir, "demo")
	cmd := exec.CommandContext(ctx, bin, "demo", "--broker", brokerURL, "--data", data, "--every", "1h", "--web", "127.0.0.1:0")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var logs syncBuf
	cmd.Stderr = &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			_ = cmd.Process.Kill()
		}
		if t.Failed() {
			t.Logf("demo log:\n%s", logs.String())
		}
	})
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if u, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), "web UI"); ok {
				found <- strings.TrimSpace(u)
			}
		}
	}()
	select {
	case u := <-found:
		return demoRun{url: u, config: filepath.Join(data, "config.yaml")}
	case <-time.After(60 * time.Second):
		t.Fatalf("the demo printed no web UI address; log:\n%s", logs.String())
	}
	return demoRun{}
}

// ingress is a reverse proxy that serves the UI under a path prefix, as Home Assistant's
// ingress does: the prefix is stripped and sent as X-Ingress-Path.
type ingress struct {
	url string
	mu  sync.Mutex
	bad int
}

func (i *ingress) outside() int {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.bad
}

func ingressProxy(t *testing.T, target string) *ingress {
	const prefix = "/api/hassio_ingress/e2e-Tok3n"
	u, _ := url.Parse(target)
	rp := httputil.NewSingleHostReverseProxy(u)
	in := &ingress{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rest, ok := strings.CutPrefix(r.URL.Path, prefix)
		if !ok {
			in.mu.Lock()
			in.bad++
			in.mu.Unlock()
			http.NotFound(w, r)
			return
		}
		if rest == "" {
			rest = "/"
		}
		r.URL.Path, r.URL.RawPath = rest, ""
		r.Header.Set("X-Ingress-Path", prefix)
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	in.url = srv.URL + prefix
	return in
}

// browser is one headless Chromium page driven over the DevTools protocol.
type browser struct {
	conn    *websocket.Conn
	wmu     sync.Mutex
	mu      sync.Mutex
	next    int
	pending map[int]chan cdpReply
}

type cdpReply struct {
	Result json.RawMessage `json:"result"`
	Error  *struct {
		Message string `json:"message"`
	} `json:"error"`
}

func startBrowser(ctx context.Context, t *testing.T) *browser {
	t.Helper()
	// The profile lives outside t.TempDir: Chromium's helper processes may still be
	// writing it when the test ends, and TempDir's cleanup fails on a directory that is
	// not empty (seen in CI). It is removed below once the whole process group is gone.
	profile, err := os.MkdirTemp("", "accountbridge-chromium-")
	if err != nil {
		t.Fatal(err)
	}
	bin := os.Getenv("CHROMIUM")
	if bin == "" {
		bin = "chromium"
	}
	cmd := exec.CommandContext(ctx, bin, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
		"--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--user-data-dir="+profile, "--remote-debugging-port=0", "--window-size=1200,760",
		"--hide-scrollbars", "--lang=en-US", "about:blank")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // its helpers too: one group to stop
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v (scripts/e2e-web.sh installs it)", bin, err)
	}
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) // the group this test started
		_ = cmd.Wait()
		// A helper that left the group may still hold the profile for a moment.
		for i := 0; ; i++ {
			err := os.RemoveAll(profile)
			if err == nil || i == 50 {
				if err != nil {
					t.Logf("chromium profile %s not removed: %v", profile, err)
				}
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
	})
	wsURL := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if u, ok := strings.CutPrefix(sc.Text(), "DevTools listening on "); ok {
				wsURL <- u
			}
		}
	}()
	var browserWS string
	select {
	case browserWS = <-wsURL:
	case <-time.After(60 * time.Second):
		t.Fatal("chromium did not start its DevTools endpoint")
	}
	bu, _ := url.Parse(browserWS)
	res, err := http.Get("http://" + bu.Host + "/json/list")
	if err != nil {
		t.Fatal(err)
	}
	var targets []struct{ Type, WebSocketDebuggerURL string }
	err = json.NewDecoder(res.Body).Decode(&targets)
	res.Body.Close()
	page := ""
	for _, tg := range targets {
		if tg.Type == "page" {
			page = tg.WebSocketDebuggerURL
		}
	}
	if err != nil || page == "" {
		t.Fatalf("no page target (%v): %+v", err, targets)
	}
	conn, _, err := websocket.DefaultDialer.DialContext(ctx, page, nil)
	if err != nil {
		t.Fatal(err)
	}
	br := &browser{conn: conn, pending: map[int]chan cdpReply{}}
	go br.read()
	t.Cleanup(func() { conn.Close() })
	if _, err := br.call("Emulation.setDeviceMetricsOverride", map[string]any{"width": 1200, "height": 760, "deviceScaleFactor": 1, "mobile": false}); err != nil {
		t.Fatal(err)
	}
	return br
}

func (b *browser) read() {
	for {
		_, data, err := b.conn.ReadMessage()
		if err != nil {
			b.mu.Lock()
			for id, ch := range b.pending {
				ch <- cdpReply{Error: &struct {
					Message string `json:"message"`
				}{"connection closed: " + err.Error()}}
				delete(b.pending, id)
			}
			b.mu.Unlock()
			return
		}
		var msg struct {
			ID int `json:"id"`
			cdpReply
		}
		if json.Unmarshal(data, &msg) != nil || msg.ID == 0 {
			continue // an event
		}
		b.mu.Lock()
		ch := b.pending[msg.ID]
		delete(b.pending, msg.ID)
		b.mu.Unlock()
		if ch != nil {
			ch <- msg.cdpReply
		}
	}
}

func (b *browser) call(method string, params any) (json.RawMessage, error) {
	b.mu.Lock()
	b.next++
	id := b.next
	ch := make(chan cdpReply, 1)
	b.pending[id] = ch
	b.mu.Unlock()
	b.wmu.Lock()
	err := b.conn.WriteJSON(map[string]any{"id": id, "method": method, "params": params})
	b.wmu.Unlock()
	if err != nil {
		return nil, err
	}
	select {
	case r := <-ch:
		if r.Error != nil {
			return nil, fmt.Errorf("%s: %s", method, r.Error.Message)
		}
		return r.Result, nil
	case <-time.After(3 * time.Minute):
		return nil, fmt.Errorf("%s: no answer", method)
	}
}

// evalValue runs js (a promise is awaited) and returns its JSON value.
func (b *browser) evalValue(js string) (json.RawMessage, error) {
	raw, err := b.call("Runtime.evaluate", map[string]any{"expression": js, "awaitPromise": true, "returnByValue": true})
	if err != nil {
		return nil, err
	}
	var r struct {
		Result struct {
			Value json.RawMessage `json:"value"`
		} `json:"result"`
		ExceptionDetails *struct {
			Text      string `json:"text"`
			Exception struct {
				Description string `json:"description"`
			} `json:"exception"`
		} `json:"exceptionDetails"`
	}
	if err := json.Unmarshal(raw, &r); err != nil {
		return nil, err
	}
	if e := r.ExceptionDetails; e != nil {
		return nil, fmt.Errorf("%s %s", e.Text, e.Exception.Description)
	}
	return r.Result.Value, nil
}

func (b *browser) eval(t *testing.T, js string) json.RawMessage {
	t.Helper()
	v, err := b.evalValue(js)
	if err != nil {
		t.Fatalf("%v\nin: %s", err, js)
	}
	return v
}

func (b *browser) str(t *testing.T, js string) string {
	t.Helper()
	var s string
	if err := json.Unmarshal(b.eval(t, js), &s); err != nil {
		t.Fatalf("%s: not a string: %v", js, err)
	}
	return s
}

func (b *browser) num(t *testing.T, js string) int {
	t.Helper()
	var n int
	if err := json.Unmarshal(b.eval(t, js), &n); err != nil {
		t.Fatalf("%s: not a number: %v", js, err)
	}
	return n
}

// wait awaits, in the page, until cond is truthy (checked every 50 ms), and
// returns its value as text. The page's own clock bounds it at 90 s.
func (b *browser) wait(t *testing.T, cond string) string {
	t.Helper()
	js := `new Promise((resolve, reject) => {
		const t0 = performance.now();
		const check = () => {
			let v;
			try { v = (` + cond + `); } catch (e) {}
			if (v) return resolve(typeof v === "string" ? v : JSON.stringify(v));
			if (performance.now() - t0 > 90000) return reject(new Error("timed out waiting for the page"));
			setTimeout(check, 50);
		};
		check();
	})`
	v, err := b.evalValue(js)
	if err != nil {
		body, _ := b.evalValue(`document.body.innerText`)
		t.Fatalf("%v\nwaiting for: %s\npage text:\n%s", err, cond, body)
	}
	var s string
	_ = json.Unmarshal(v, &s)
	return s
}

// open navigates (a fresh load even when only the hash differs) and awaits the app.
func (b *browser) open(t *testing.T, u string) {
	t.Helper()
	if _, err := b.call("Page.navigate", map[string]any{"url": "about:blank"}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.call("Page.navigate", map[string]any{"url": u}); err != nil {
		t.Fatal(err)
	}
	b.wait(t, `location.href === `+strconv.Quote(u)+` && document.readyState === "complete" && document.querySelector("main") && !document.querySelector("main > p.muted:only-child")`)
}

func (b *browser) screenshot(path string) error {
	raw, err := b.call("Page.captureScreenshot", map[string]any{"format": "png"})
	if err != nil {
		return err
	}
	var r struct {
		Data string `json:"data"`
	}
	if err := json.Unmarshal(raw, &r); err != nil {
		return err
	}
	png, err := base64.StdEncoding.DecodeString(r.Data)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, png, 0o644)
}

type syncBuf struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
