package discovery

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/accountbridge/accountbridge/internal/providers"
	"github.com/accountbridge/accountbridge/internal/providers/bridge"
	"github.com/accountbridge/accountbridge/internal/shard"
)

var update = flag.Bool("update", false, "rewrite golden files")

var testOptions = Options{
	BaseTopic:       "accountbridge",
	DiscoveryPrefix: "homeassistant",
	QoS:             1,
	Origin:          Origin{Name: "accountbridge", SWVersion: "1.2.3", SupportURL: "https://github.com/accountbridge/accountbridge"},
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	var pretty bytes.Buffer
	if err := json.Indent(&pretty, got, "", "  "); err != nil {
		t.Fatalf("invalid JSON: %v\n%s", err, got)
	}
	pretty.WriteByte('\n')
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, pretty.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(pretty.Bytes(), want) {
		t.Errorf("%s differs from golden file:\n%s", name, pretty.Bytes())
	}
}

func bridgeDevice() providers.Device {
	return bridge.Device(bridge.Stats{
		Version: "1.2.3", Started: time.Date(2026, 11, 21, 8, 0, 0, 0, time.FixedZone("", 8*3600)),
		AccountsTotal: 3, AccountsOK: 2, AccountsFailing: 1, LastCycle: 1500 * time.Millisecond, MQTTReconnects: 4,
	})
}

func TestBridgeDeviceGolden(t *testing.T) {
	res, err := Build(testOptions, bridgeDevice(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Invalid) > 0 {
		t.Fatalf("invalid entities: %v", res.Invalid)
	}
	if res.Topic != "homeassistant/device/bridge/config" {
		t.Errorf("topic = %q", res.Topic)
	}
	golden(t, "bridge_discovery.json", res.Payload)
	state, err := State(bridgeDevice())
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "bridge_state.json", state)
}

func TestAccountDeviceUsesBothAvailabilityTopics(t *testing.T) {
	dev := providers.Device{ID: "telecom_main", Name: "China Telecom 189****5678",
		Entities: []providers.Entity{
			{Key: "balance", Name: "Balance", Component: providers.Sensor, DeviceClass: "monetary", StateClass: "total", Unit: "CNY"},
			{Key: "data_used", Name: "Data used", Component: providers.Sensor, DeviceClass: "data_size", StateClass: "total", Unit: "GiB", Attributes: true, Precision: providers.Precision(2)},
			{Key: "throttled", Name: "Throttled", Component: providers.BinarySensor, DeviceClass: "problem"},
			{Key: "refresh", Name: "Refresh", Component: providers.Button, Category: providers.CategoryConfig, Disabled: true},
			{Key: "alert", Name: "Alert", Component: providers.Event, EventTypes: []string{"offline", "online"}},
		}}
	res, err := Build(testOptions, dev, map[string]providers.Component{"old_key": providers.Sensor})
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "account_discovery.json", res.Payload)
	var p struct {
		Availability []struct{ Topic string } `json:"availability"`
		Mode         string                   `json:"availability_mode"`
		Device       struct {
			Via string `json:"via_device"`
		} `json:"device"`
		Cmps map[string]map[string]any `json:"cmps"`
	}
	if err := json.Unmarshal(res.Payload, &p); err != nil {
		t.Fatal(err)
	}
	if len(p.Availability) != 2 || p.Availability[0].Topic != "accountbridge/bridge/availability" ||
		p.Availability[1].Topic != "accountbridge/telecom_main/availability" || p.Mode != "all" {
		t.Errorf("availability = %+v mode %q", p.Availability, p.Mode)
	}
	if p.Device.Via != "accountbridge_bridge" {
		t.Errorf("via_device = %q", p.Device.Via)
	}
	if got := p.Cmps["old_key"]; len(got) != 1 || got["platform"] != "sensor" {
		t.Errorf("removed component = %v, want platform only", got)
	}
	if p.Cmps["balance"]["unique_id"] != "accountbridge_telecom_main_balance" ||
		p.Cmps["balance"]["default_entity_id"] != "sensor.telecom_main_balance" {
		t.Errorf("ids = %v", p.Cmps["balance"])
	}
	if p.Cmps["refresh"]["command_topic"] != "accountbridge/telecom_main/refresh/set" || p.Cmps["refresh"]["enabled_by_default"] != false {
		t.Errorf("button = %v", p.Cmps["refresh"])
	}
	if p.Cmps["alert"]["state_topic"] != "accountbridge/telecom_main/event" {
		t.Errorf("event = %v", p.Cmps["alert"])
	}
}

func TestInvalidEntityIsLeftOutNotTheDevice(t *testing.T) {
	dev := providers.Device{ID: "gas_home", Name: "Gas", Entities: []providers.Entity{
		{Key: "meter", Component: providers.Sensor, DeviceClass: "gas", StateClass: "total_increasing", Unit: "m3"},
		{Key: "balance", Component: providers.Sensor, DeviceClass: "monetary", StateClass: "total", Unit: "CNY"},
	}}
	res, err := Build(testOptions, dev, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Invalid) != 1 || !strings.Contains(res.Invalid[0].Error(), `unit "m3" is not valid with device class gas`) {
		t.Errorf("invalid = %v", res.Invalid)
	}
	if _, ok := res.Components["balance"]; !ok || len(res.Components) != 1 {
		t.Errorf("components = %v", res.Components)
	}
}

func TestValidateEntity(t *testing.T) {
	p := providers.Precision
	tests := []struct {
		name string
		e    providers.Entity
		want string // "" = valid
	}{
		{"monetary total", providers.Entity{Key: "b", Component: "sensor", DeviceClass: "monetary", StateClass: "total", Unit: "CNY"}, ""},
		{"monetary measurement", providers.Entity{Key: "b", Component: "sensor", DeviceClass: "monetary", StateClass: "measurement", Unit: "CNY"}, `state class "measurement" is not valid with device class monetary`},
		{"monetary lowercase", providers.Entity{Key: "b", Component: "sensor", DeviceClass: "monetary", Unit: "yuan"}, "not an ISO 4217 code"},
		{"data GiB", providers.Entity{Key: "d", Component: "sensor", DeviceClass: "data_size", StateClass: "total", Unit: "GiB", Precision: p(2)}, ""},
		{"data GB typo", providers.Entity{Key: "d", Component: "sensor", DeviceClass: "data_size", Unit: "Gb"}, `unit "Gb" is not valid`},
		{"duration min", providers.Entity{Key: "v", Component: "sensor", DeviceClass: "duration", StateClass: "total", Unit: "min"}, ""},
		{"duration minutes", providers.Entity{Key: "v", Component: "sensor", DeviceClass: "duration", Unit: "minutes"}, `unit "minutes" is not valid`},
		{"gas m³", providers.Entity{Key: "g", Component: "sensor", DeviceClass: "gas", StateClass: "total_increasing", Unit: "m³"}, ""},
		{"gas measurement", providers.Entity{Key: "g", Component: "sensor", DeviceClass: "gas", StateClass: "measurement", Unit: "m³"}, "not valid with device class gas"},
		{"timestamp with unit", providers.Entity{Key: "t", Component: "sensor", DeviceClass: "timestamp", Unit: "s"}, "takes no unit"},
		{"enum without options", providers.Entity{Key: "e", Component: "sensor", DeviceClass: "enum"}, "needs options"},
		{"options without enum", providers.Entity{Key: "e", Component: "sensor", Options: []string{"a"}}, "need device class enum"},
		{"plain counter", providers.Entity{Key: "n", Component: "sensor", StateClass: "measurement"}, ""},
		{"unknown class", providers.Entity{Key: "n", Component: "sensor", DeviceClass: "money"}, "unknown sensor device class"},
		{"sensor config category", providers.Entity{Key: "n", Component: "sensor", Category: "config"}, "cannot have entity category config"},
		{"binary connectivity", providers.Entity{Key: "o", Component: "binary_sensor", DeviceClass: "connectivity", Category: "diagnostic"}, ""},
		{"binary with unit", providers.Entity{Key: "o", Component: "binary_sensor", Unit: "%"}, "takes no unit"},
		{"binary bad class", providers.Entity{Key: "o", Component: "binary_sensor", DeviceClass: "offline"}, "is not one of"},
		{"button config", providers.Entity{Key: "w", Component: "button", Category: "config"}, ""},
		{"event without types", providers.Entity{Key: "a", Component: "event"}, "needs event types"},
		{"bad key", providers.Entity{Key: "Data Used", Component: "sensor"}, "must match"},
		{"reserved key", providers.Entity{Key: "attributes", Component: "sensor"}, "reserved"},
		{"bad category", providers.Entity{Key: "x", Component: "sensor", Category: "hidden"}, "neither diagnostic nor config"},
		{"unknown component", providers.Entity{Key: "x", Component: "switch"}, "unsupported component"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := ValidateEntity(tt.e)
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("unexpected error: %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("error = %v, want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestState(t *testing.T) {
	dev := providers.Device{ID: "x", Values: map[string]any{
		"balance": 12.5, "count": 3, "ok": true, "name": "a",
		"at":    time.Date(2026, 1, 2, 3, 4, 5, 0, time.FixedZone("", 8*3600)),
		"small": 1.0 / 3,
	}, Attributes: map[string]map[string]any{"balance": {"items": []string{"a"}}}}
	got, err := State(dev)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"at":"2026-01-02T03:04:05+08:00","attributes":{"balance":{"items":["a"]}},"balance":12.5,"count":3,"name":"a","ok":true,"small":0.3333333333333333}`
	if string(got) != want {
		t.Errorf("state = %s\nwant    %s", got, want)
	}
	again, _ := State(dev)
	if !bytes.Equal(got, again) {
		t.Error("state encoding is not deterministic")
	}
	for _, bad := range []any{nil, struct{}{}, mathNaN()} {
		if _, err := State(providers.Device{ID: "x", Values: map[string]any{"v": bad}}); err == nil {
			t.Errorf("value %v: expected an error", bad)
		}
	}
}

func TestLongStringStateIsTruncated(t *testing.T) {
	long := strings.Repeat("错", 300)
	got, err := State(providers.Device{ID: "x", Values: map[string]any{"e": long}})
	if err != nil {
		t.Fatal(err)
	}
	var v map[string]string
	json.Unmarshal(got, &v)
	if n := len([]rune(v["e"])); n != MaxStateLength || !strings.HasSuffix(v["e"], "…") {
		t.Errorf("length %d", n)
	}
}

func mathNaN() float64 { zero := 0.0; return zero / zero }

func TestViaDevice(t *testing.T) {
	dev := providers.Device{ID: "onecloud_home_ocp1", Name: "Box", ViaDevice: "onecloud_home",
		Entities: []providers.Entity{{Key: "online", Component: providers.BinarySensor, DeviceClass: "connectivity"}}}
	res, err := Build(testOptions, dev, nil)
	if err != nil || !strings.Contains(string(res.Payload), `"via_device":"accountbridge_onecloud_home"`) {
		t.Errorf("payload %s, err %v", res.Payload, err)
	}
}

func TestBuildRejectsBadDeviceID(t *testing.T) {
	if _, err := Build(testOptions, providers.Device{ID: "Telecom-Main"}, nil); err == nil {
		t.Error("expected an error for an invalid device id")
	}
}

// A shard's devices depend on its own diagnostics device and last will, and keep the
// device ids and unique ids they have with any other number of shards.
func TestShardBridge(t *testing.T) {
	sh := shard.Shard{Index: 2, Count: 3}
	o := testOptions
	o.BridgeID = sh.BridgeID()
	if got := o.BridgeAvailabilityTopic(); got != "accountbridge/bridge_2/availability" {
		t.Errorf("bridge availability = %q", got)
	}
	type parsed struct {
		Availability []struct{ Topic string } `json:"availability"`
		Device       struct {
			IDs  []string `json:"identifiers"`
			Name string   `json:"name"`
			Via  string   `json:"via_device"`
		} `json:"device"`
		Cmps map[string]map[string]any `json:"cmps"`
	}
	build := func(dev providers.Device) (string, parsed) {
		t.Helper()
		res, err := Build(o, dev, nil)
		if err != nil {
			t.Fatal(err)
		}
		var p parsed
		if err := json.Unmarshal(res.Payload, &p); err != nil {
			t.Fatal(err)
		}
		return res.Topic, p
	}

	topic, p := build(bridge.Device(bridge.Stats{Version: "1", Shard: sh}))
	if topic != "homeassistant/device/bridge_2/config" || p.Device.IDs[0] != "accountbridge_bridge_2" ||
		p.Device.Name != "accountbridge 2/3" || p.Device.Via != "" {
		t.Errorf("bridge device: topic %q, device %+v", topic, p.Device)
	}
	if len(p.Availability) != 1 || p.Availability[0].Topic != "accountbridge/bridge_2/availability" {
		t.Errorf("bridge availability = %+v", p.Availability)
	}
	if c := p.Cmps["version"]; c["unique_id"] != "accountbridge_bridge_2_version" ||
		c["default_entity_id"] != "sensor.accountbridge_2_version" || c["state_topic"] != "accountbridge/bridge_2/state" {
		t.Errorf("bridge version entity = %v", c)
	}

	dev := providers.Device{ID: "telecom_main", Name: "Phone", Entities: []providers.Entity{
		{Key: "balance", Name: "Balance", Component: providers.Sensor, DeviceClass: "monetary", StateClass: "total", Unit: "CNY"}}}
	topic, p = build(dev)
	if topic != "homeassistant/device/telecom_main/config" || p.Device.IDs[0] != "accountbridge_telecom_main" ||
		p.Device.Via != "accountbridge_bridge_2" {
		t.Errorf("account device: topic %q, device %+v", topic, p.Device)
	}
	if len(p.Availability) != 2 || p.Availability[0].Topic != "accountbridge/bridge_2/availability" ||
		p.Availability[1].Topic != "accountbridge/telecom_main/availability" {
		t.Errorf("account availability = %+v", p.Availability)
	}
	if c := p.Cmps["balance"]; c["unique_id"] != "accountbridge_telecom_main_balance" ||
		c["default_entity_id"] != "sensor.telecom_main_balance" {
		t.Errorf("account entity = %v", c)
	}
}

// Namespace (bridge demo) moves every Home Assistant identity of a device out of the
// released layout: the discovery topic, identifiers, via_device, unique ids and suggested
// entity ids; none of them equals the default's. Without it nothing changes (the golden files).
func TestNamespace(t *testing.T) {
	dev := providers.Device{ID: "telecom_main", Name: "Main", ViaDevice: "telecom_acct",
		Entities: []providers.Entity{{Key: "balance", Name: "Balance", Component: providers.Sensor}}}
	type ids struct{ topic, identifier, via, uniqueID, entityID string }
	read := func(o Options, dev providers.Device) ids {
		t.Helper()
		res, err := Build(o, dev, nil)
		if err != nil {
			t.Fatal(err)
		}
		var p payload
		if err := json.Unmarshal(res.Payload, &p); err != nil {
			t.Fatal(err)
		}
		c := p.Components["balance"]
		return ids{res.Topic, p.Device.Identifiers[0], p.Device.ViaDevice, c.UniqueID, c.DefaultEntityID}
	}
	demo := testOptions
	demo.Namespace = "demo"
	for _, tt := range []struct {
		name string
		o    Options
		dev  providers.Device
		want ids
	}{
		{"default", testOptions, dev, ids{"homeassistant/device/telecom_main/config", "accountbridge_telecom_main",
			"accountbridge_telecom_acct", "accountbridge_telecom_main_balance", "sensor.telecom_main_balance"}},
		{"demo", demo, dev, ids{"homeassistant/device/accountbridge-demo_telecom_main/config", "accountbridge-demo_telecom_main",
			"accountbridge-demo_telecom_acct", "accountbridge-demo_telecom_main_balance", "sensor.demo_telecom_main_balance"}},
		{"demo bridge", demo, providers.Device{ID: "bridge", Entities: dev.Entities}, ids{"homeassistant/device/accountbridge-demo_bridge/config",
			"accountbridge-demo_bridge", "", "accountbridge-demo_bridge_balance", "sensor.demo_accountbridge_balance"}},
	} {
		if got := read(tt.o, tt.dev); got != tt.want {
			t.Errorf("%s:\n got %+v\nwant %+v", tt.name, got, tt.want)
		}
	}
	bad := testOptions
	bad.Namespace = "Demo-1"
	if _, err := Build(bad, dev, nil); err == nil {
		t.Error("namespace Demo-1 accepted")
	}
}
