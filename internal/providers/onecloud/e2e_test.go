package onecloud_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/accountbridge/accountbridge/internal/daemon/daemontest"
	"github.com/accountbridge/accountbridge/internal/mqtt/mqtttest"
	"github.com/accountbridge/accountbridge/internal/providers/onecloud"
	"github.com/accountbridge/accountbridge/internal/providers/onecloud/fake"
)

const (
	acctDev  = "onecloud_home"
	box1Dev  = "onecloud_home_ocpg121196469"
	box2Dev  = "onecloud_home_ocpg121190002"
	password = "s3cret-Pw!"
)

// start runs the daemon with one onecloud account against a fresh fake.
func start(t *testing.T) (*daemontest.Env, *mqtttest.Watcher, *fake.Server) {
	t.Helper()
	o := fake.Default()
	o.Password = password
	f := fake.New(o)
	a, c, stop := f.Start()
	t.Cleanup(stop)
	e := daemontest.New(t)
	w := e.Watch()
	e.Start(e.Config(fmt.Sprintf(`  - id: home
    provider: onecloud
    name: Home
    phone: "13800138000"
    password: %q
    account_base_url: %s
    control_base_url: %s
`, password, a, c)))
	return e, w, f
}

// collect waits for a non-empty message on every topic in want and returns the last
// payload seen on each (one pass over the watcher, so order does not matter).
func collect(w *mqtttest.Watcher, topics ...string) map[string]map[string]any {
	got := map[string]map[string]any{}
	w.Next(func(m mqtttest.Message) bool {
		for _, tp := range topics {
			if m.Topic == tp && m.Payload != "" {
				var v map[string]any
				if json.Unmarshal([]byte(m.Payload), &v) == nil {
					got[tp] = v
				}
			}
		}
		return len(got) == len(topics)
	})
	return got
}

func cmp(t *testing.T, disc map[string]any, key string) map[string]any {
	t.Helper()
	c, ok := disc["cmps"].(map[string]any)[key].(map[string]any)
	if !ok {
		t.Fatalf("no component %s in %v", key, disc["cmps"])
	}
	return c
}

func TestEndToEndPollPublishesAccountAndBoxes(t *testing.T) {
	e, w, f := start(t)
	got := collect(w, e.DiscoveryTopic(acctDev), e.DiscoveryTopic(box1Dev), e.DiscoveryTopic(box2Dev),
		e.StateTopic(acctDev), e.StateTopic(box1Dev), e.StateTopic(box2Dev))

	acct := got[e.DiscoveryTopic(acctDev)]
	if name := acct["device"].(map[string]any)["name"]; name != "OneCloud Home" {
		t.Errorf("account device name = %v", name)
	}
	if c := cmp(t, acct, "withdraw"); c["platform"] != "button" || c["enabled_by_default"] != false ||
		c["command_topic"] != e.Base+"/"+acctDev+"/withdraw/set" {
		t.Errorf("withdraw = %v", c)
	}
	if c := cmp(t, acct, "withdrawal"); c["platform"] != "event" || fmt.Sprint(c["event_types"]) != "[withdrawn already_withdrawn withdraw_failed]" {
		t.Errorf("withdrawal = %v", c)
	}
	if c := cmp(t, acct, "balance"); c["unit_of_measurement"] != "WKB" || c["state_class"] != "total" {
		t.Errorf("balance = %v", c)
	}
	cmp(t, acct, "last_poll") // the daemon's diagnostics land on the first device
	box := got[e.DiscoveryTopic(box1Dev)]
	if c := cmp(t, box, "online"); c["platform"] != "binary_sensor" || c["device_class"] != "connectivity" {
		t.Errorf("online = %v", c)
	}
	if c := cmp(t, box, "disk_total"); c["unit_of_measurement"] != "GiB" || c["device_class"] != "data_size" || c["json_attributes_topic"] == nil {
		t.Errorf("disk_total = %v", c)
	}
	if d := box["device"].(map[string]any); d["name"] != "eastmoon6469" || d["model"] != "OneCloud WS1608" || d["sw_version"] != "V1.7.2" {
		t.Errorf("box device = %v", d)
	}

	as := got[e.StateTopic(acctDev)]
	if as["balance"] != 6.1728395 || as["yesterday_income"] != 1.09098742 || as["boxes_online"] != 1.0 || as["total_withdrawn"] != 0.0 {
		t.Errorf("account state = %v", as)
	}
	if daily := as["attributes"].(map[string]any)["income_7d"].(map[string]any)["daily"].([]any); len(daily) != 7 {
		t.Errorf("7-day series = %v", daily)
	}
	b1 := got[e.StateTopic(box1Dev)]
	if b1["online"] != true || b1["status"] != "online" || b1["disk_total"] != 931.01 || b1["last_connect"] != "2019-01-02T22:41:58+08:00" {
		t.Errorf("box 1 state = %v", b1)
	}
	b2 := got[e.StateTopic(box2Dev)]
	if b2["online"] != false || b2["status"] != "offline" {
		t.Errorf("box 2 state = %v", b2)
	}
	if n := f.Count("/user/login"); n != 1 {
		t.Errorf("logins = %d", n)
	}
	if logs := e.Logs(); strings.Contains(logs, password) || strings.Contains(logs, onecloud.PasswordHash(password)) {
		t.Error("the password or its hash reached the log")
	}
}

func TestWithdrawButtonEndToEnd(t *testing.T) {
	e, w, f := start(t)
	w.WaitAll(map[string]string{
		e.AvailabilityTopic(acctDev): "online",
		e.DiscoveryTopic(acctDev):    `~"command_topic":"` + e.Base + "/" + acctDev + `/withdraw/set"`,
	})
	event := e.Base + "/" + acctDev + "/event"

	w.Publish(e.Base+"/"+acctDev+"/withdraw/set", "PRESS", false)
	m := w.WaitFor(event, "*")
	var ev map[string]any
	if err := json.Unmarshal([]byte(m.Payload), &ev); err != nil || m.Retained ||
		ev["event_type"] != "withdrawn" || ev["amount"] != 6.1728395 {
		t.Fatalf("event = %+v", m)
	}
	if n := f.Count("/wkb/draw"); n != 1 {
		t.Errorf("draw calls after one press = %d", n)
	}

	w.Publish(e.Base+"/"+acctDev+"/withdraw/set", "PRESS", false)
	m = w.WaitFor(event, "*")
	if !strings.Contains(m.Payload, `"event_type":"already_withdrawn"`) {
		t.Fatalf("second event = %+v", m)
	}
	if n := f.Count("/wkb/draw"); n != 2 {
		t.Errorf("draw calls after two presses = %d", n)
	}
	if n := f.Count("/user/login"); n != 1 {
		t.Errorf("logins = %d", n)
	}
}
