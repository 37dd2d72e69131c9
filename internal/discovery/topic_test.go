package discovery

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/accountbridge/accountbridge/internal/providers"
)

// An entity with a Topic reads its value from <base>/<device>/<topic>; its value is left
// out of the state and encoded by ValueTopics.
func TestEntityTopic(t *testing.T) {
	at := time.Date(2026, 11, 21, 18, 0, 0, 0, time.FixedZone("", 8*3600))
	dev := providers.Device{ID: "demo_a", Name: "Demo",
		Entities: []providers.Entity{
			{Key: "balance", Name: "Balance", Component: providers.Sensor},
			{Key: "last_poll", Name: "Last poll", Component: providers.Sensor, DeviceClass: "timestamp",
				Category: providers.CategoryDiagnostic, Topic: providers.PollTopic},
		},
		Values: map[string]any{"balance": 2.5, "last_poll": at}}
	res, err := Build(testOptions, dev, nil)
	if err != nil || len(res.Invalid) > 0 {
		t.Fatalf("build: %v %v", err, res.Invalid)
	}
	var p struct {
		Cmps map[string]map[string]any `json:"cmps"`
	}
	if err := json.Unmarshal(res.Payload, &p); err != nil {
		t.Fatal(err)
	}
	if got := p.Cmps["last_poll"]["state_topic"]; got != "accountbridge/demo_a/poll" {
		t.Errorf("last_poll state_topic = %v", got)
	}
	if got := p.Cmps["balance"]["state_topic"]; got != "accountbridge/demo_a/state" {
		t.Errorf("balance state_topic = %v", got)
	}
	state, err := State(dev)
	if err != nil || string(state) != `{"balance":2.5}` {
		t.Errorf("state = %s (%v)", state, err)
	}
	topics, err := ValueTopics(dev)
	if err != nil || len(topics) != 1 || string(topics["poll"]) != `{"last_poll":"2026-11-21T18:00:00+08:00"}` {
		t.Errorf("value topics = %q (%v)", topics, err)
	}
	if topics, err := ValueTopics(providers.Device{ID: "x", Entities: dev.Entities[:1], Values: dev.Values}); err != nil || topics != nil {
		t.Errorf("no topic entities: %q (%v)", topics, err)
	}
	for _, bad := range []providers.Entity{
		{Key: "x", Component: providers.Sensor, Topic: "state"},
		{Key: "x", Component: providers.Sensor, Topic: "Poll"},
		{Key: "x", Component: providers.Button, Topic: "poll"},
	} {
		if err := ValidateEntity(bad); err == nil || !strings.Contains(err.Error(), "topic") && !strings.Contains(err.Error(), "read from") {
			t.Errorf("%+v: err = %v", bad, err)
		}
	}
}

// PatchState makes the bytes State makes for the merged values.
func TestPatchState(t *testing.T) {
	at := time.Date(2026, 11, 21, 18, 0, 0, 0, time.FixedZone("", 8*3600))
	dev := providers.Device{ID: "demo_a",
		Values:     map[string]any{"balance": 2.5, "count": 3, "ok": true, "last_error": "", "at": at, "name": "a<b&c"},
		Attributes: map[string]map[string]any{"balance": {"items": []any{1.5, "x"}, "big": 1e21}}}
	state, err := State(dev)
	if err != nil {
		t.Fatal(err)
	}
	patch := map[string]any{"last_error": "auth: token <expired>", "balance": 3.25, "alert_low": true}
	got, err := PatchState(state, patch)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range patch {
		dev.Values[k] = v
	}
	want, _ := State(dev)
	if string(got) != string(want) {
		t.Errorf("patched\n got %s\nwant %s", got, want)
	}
	if _, err := PatchState(state, map[string]any{"attributes": 1}); err == nil {
		t.Error("attributes patched")
	}
	if _, err := PatchState(state, map[string]any{"x": nil}); err == nil {
		t.Error("nil value accepted")
	}
}
