package daemon_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/accountbridge/accountbridge/internal/providers"
)

// webClient talks to the daemon's web UI as the page does: the CSRF token from the page,
// actions as POSTs.
type webClient struct {
	t    *testing.T
	base string
	csrf string
}

func newWebClient(t *testing.T, addr string) *webClient {
	t.Helper()
	c := &webClient{t: t, base: "http://" + addr + "/"}
	page := c.get("")
	m := regexp.MustCompile(`name="csrf-token" content="([0-9a-f]+)"`).FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no CSRF token in the page:\n%s", page)
	}
	c.csrf = m[1]
	return c
}

func (c *webClient) get(path string) string {
	c.t.Helper()
	res, err := http.Get(c.base + path)
	if err != nil {
		c.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode != 200 {
		c.t.Fatalf("GET %s: %d %s", path, res.StatusCode, b)
	}
	return string(b)
}

func (c *webClient) post(path string) (int, string) {
	c.t.Helper()
	req, _ := http.NewRequest("POST", c.base+path, nil)
	req.Header.Set("X-CSRF-Token", c.csrf)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

func (c *webClient) account(id string) map[string]any {
	c.t.Helper()
	var list []map[string]any
	if err := json.Unmarshal([]byte(c.get("api/accounts")), &list); err != nil {
		c.t.Fatal(err)
	}
	for _, a := range list {
		if a["id"] == id {
			return a
		}
	}
	c.t.Fatalf("account %s not listed: %v", id, list)
	return nil
}

// TestWebUI: the daemon's web UI shows a quarantined account with its error, lifts the
// quarantine live (no restart), polls on demand, pauses and resumes an account, shows a
// device's published states, and never shows a secret.
func TestWebUI(t *testing.T) {
	e := newEnv(t)
	id := "w" + strings.TrimPrefix(e.base, "ab_")
	other := id + "_b"
	acct := fmt.Sprintf("  - id: %s\n    provider: testfake\n    balance: 12.5\n    password: hunter2secret\n  - id: %s\n    provider: testfake\n", id, other)
	b := behaviourOf(id)
	b.err = providers.Permanent("confirm the new device in the app")
	ob := behaviourOf(other)
	ob.polled = make(chan struct{}, 4)

	w := e.watch()
	d, _ := e.StartDaemon(e.Config(acct, "web:\n  listen: 127.0.0.1:0\n"))
	w.WaitAll(map[string]string{e.base + "/bridge/info": `~"state":"quarantined"`})
	<-ob.polled
	c := newWebClient(t, d.WebAddr())

	a := c.account(id)
	if a["state"] != "quarantined" || a["last_error_kind"] != "permanent" || !strings.Contains(fmt.Sprint(a["last_error"]), "confirm the new device") {
		t.Fatalf("quarantined account: %v", a)
	}
	if status, body := c.post("api/accounts/" + id + "/poll"); status != http.StatusBadRequest {
		t.Fatalf("poll now on a quarantined account: %d %s", status, body)
	}

	// The user confirmed the device: lift the quarantine, and the account polls at once.
	b.err = nil
	if status, body := c.post("api/accounts/" + id + "/reset"); status != 200 {
		t.Fatalf("reset: %d %s", status, body)
	}
	w.WaitAll(map[string]string{e.base + "/testfake_" + id + "/state": `~"balance":12.5`,
		e.base + "/bridge/state": `~"accounts_quarantined":0`})
	if a := c.account(id); a["state"] != "ok" {
		t.Fatalf("after reset: %v", a)
	}

	// Poll now.
	if status, body := c.post("api/accounts/" + other + "/poll"); status != 200 {
		t.Fatalf("poll now: %d %s", status, body)
	}
	<-ob.polled

	// Disable: listed as disabled, not polled on demand; enable polls it again.
	if status, body := c.post("api/accounts/" + other + "/disable"); status != 200 {
		t.Fatalf("disable: %d %s", status, body)
	}
	if a := c.account(other); a["state"] != "disabled" || a["enabled"] != false {
		t.Fatalf("disabled account: %v", a)
	}
	if status, _ := c.post("api/accounts/" + other + "/poll"); status != http.StatusBadRequest {
		t.Fatalf("poll now on a disabled account: %d", status)
	}
	if status, body := c.post("api/accounts/" + other + "/enable"); status != 200 {
		t.Fatalf("enable: %d %s", status, body)
	}
	<-ob.polled

	// The device as published.
	dev := c.get("api/devices/testfake_" + id)
	if !strings.Contains(dev, `"key":"balance","name":"Balance","component":"sensor","device_class":"monetary","unit":"CNY","state":12.5`) {
		t.Fatalf("device: %s", dev)
	}
	for _, path := range []string{"api/accounts", "api/config", "api/devices/testfake_" + id, "api/alerts"} {
		if body := c.get(path); strings.Contains(body, "hunter2secret") {
			t.Errorf("%s sends a secret to the browser: %s", path, body)
		}
	}
	if status, _ := c.post("api/accounts/nope/poll"); status != http.StatusNotFound {
		t.Fatalf("unknown account: %d", status)
	}
}

// TestWebDeviceAfterRestart: before its account's first poll after a restart, a device
// is shown as restored, each alert entity once (the stored model already holds them).
func TestWebDeviceAfterRestart(t *testing.T) {
	e := newEnv(t)
	id := "r" + strings.TrimPrefix(e.base, "ab_")
	dev := "testfake_" + id
	cfg := func() string {
		return fmt.Sprintf("web:\n  listen: 127.0.0.1:0\nalerts:\n  rules:\n    - entity: %s.balance\n      below: 10\n", dev)
	}
	acct := fmt.Sprintf("  - id: %s\n    provider: testfake\n    balance: 12.5\n", id)

	w := e.watch()
	_, stop := e.StartDaemon(e.Config(acct, cfg()))
	w.WaitAll(map[string]string{e.base + "/" + dev + "/state": `~"balance":12.5`})
	stop()

	b := behaviourOf(id)
	b.gate = make(chan struct{})
	defer func() { b.gate = nil }()
	d, stop := e.StartDaemon(e.Config(acct, cfg()))
	defer stop()
	defer close(b.gate) // before stop: the held poll must end
	var got struct {
		Entities []struct {
			Key   string `json:"key"`
			State any    `json:"state"`
		} `json:"entities"`
	}
	if err := json.Unmarshal([]byte(newWebClient(t, d.WebAddr()).get("api/devices/"+dev)), &got); err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	for _, ent := range got.Entities {
		seen[ent.Key]++
	}
	for key, n := range seen {
		if n != 1 {
			t.Errorf("entity %s listed %d times: %+v", key, n, got.Entities)
		}
	}
	for _, key := range []string{"balance", "alerts", "alert_" + dev + "_balance_below"} {
		if seen[key] == 0 {
			t.Errorf("entity %s missing: %+v", key, got.Entities)
		}
	}
}
