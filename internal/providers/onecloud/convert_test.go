package onecloud

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/accountbridge/accountbridge/internal/discovery"
	"github.com/accountbridge/accountbridge/internal/providers"
	"github.com/accountbridge/accountbridge/internal/providers/wire"
)

func readTestdata(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func mustPeers(t testing.TB, name string) []peer {
	t.Helper()
	peers, _, err := parseListPeer(readTestdata(t, name))
	if err != nil {
		t.Fatal(err)
	}
	return peers
}

func usbPayload(t testing.TB, name string) *usbInfo {
	t.Helper()
	payload, err := parseControl("/getUSBInfo", readTestdata(t, name))
	if err != nil {
		t.Fatal(err)
	}
	u, err := parseUSB(payload)
	if err != nil {
		t.Fatal(err)
	}
	return &u
}

func TestConvertCapturedBox(t *testing.T) {
	peers := mustPeers(t, "listpeer_jk.json")
	if len(peers) != 1 || peers[0].Key != "ocpg121196469" {
		t.Fatalf("peers = %+v", peers)
	}
	d, warns := boxDevice("home", boxInput{Key: peers[0].Key, Wire: peers[0].Wire, USB: usbPayload(t, "usbinfo.json"), Listed: true})
	if len(warns) > 0 {
		t.Errorf("warnings: %v", warns)
	}
	if d.ID != "onecloud_home_ocpg121196469" || d.Name != "eastmoon6469" || d.Model != "OneCloud WS1608" || d.SWVersion != "V1.7.2" {
		t.Errorf("device = %+v", d)
	}
	want := map[string]any{
		"online": true, "status": "online", "exception": "",
		"last_connect":    time.Date(2019, 1, 2, 22, 41, 58, 0, wire.CST),
		"last_disconnect": time.Date(2019, 1, 2, 22, 41, 47, 0, wire.CST),
		"ip":              "203.0.113.7", "lan_ip": "192.168.31.213", "firmware": "V1.7.2", "model": "WS1608",
		"update_available": false,
		"disk_total":       931.01, "disk_used": 1.38, "disk_free": 929.63,
	}
	if len(d.Values) != len(want) {
		t.Errorf("values = %v", d.Values)
	}
	for k, v := range want {
		got := d.Values[k]
		if tv, ok := v.(time.Time); ok {
			if g, ok := got.(time.Time); !ok || !g.Equal(tv) || g.Format(time.RFC3339) != tv.Format(time.RFC3339) {
				t.Errorf("%s = %v, want %v", k, got, tv)
			}
			continue
		}
		if got != v {
			t.Errorf("%s = %#v, want %#v", k, got, v)
		}
	}
	if ts := d.Values["last_connect"].(time.Time).Format(time.RFC3339); ts != "2019-01-02T22:41:58+08:00" {
		t.Errorf("last_connect published as %s", ts)
	}
	parts := d.Attributes["disk_total"]["partitions"].([]map[string]any)
	if len(parts) != 1 || parts[0]["label"] != "/dev/sda1" || parts[0]["capacity_gib"] != 931.01 {
		t.Errorf("partitions = %v", parts)
	}
}

func TestConvertBoxTable(t *testing.T) {
	peers := mustPeers(t, "listpeer_mixed.json")
	byKey := map[string]peer{}
	var keys []string
	for _, p := range peers {
		byKey[p.Key] = p
		keys = append(keys, p.Key)
	}
	// Duplicate serials keep the first, objects without ids and non-objects are skipped.
	if strings.Join(keys, ",") != "ocp_a1,ocp_b2,ocp_c3,idd4" {
		t.Fatalf("keys = %v", keys)
	}
	noDisk := &usbInfo{Partitions: []wirePartition{}}
	badDisk := &usbInfo{}
	_ = json.Unmarshal([]byte(`{"partitions":[{"used":"x","capacity":"100"}]}`), badDisk)
	for _, tt := range []struct {
		name    string
		key     string
		usb     *usbInfo
		listed  bool
		want    map[string]any // exact values, except timestamps compared as RFC 3339
		absent  []string
		warning string
	}{
		{name: "online", key: "ocp_a1", listed: true,
			want: map[string]any{"online": true, "status": "online", "exception": "", "ip": "203.0.113.9", "lan_ip": "192.168.1.10",
				"firmware": "V1.7.2", "model": "WS1608", "update_available": true,
				"last_connect": "2023-11-15T06:13:20+08:00", "last_disconnect": "2023-11-15T03:26:40+08:00"}},
		{name: "offline, times as strings, missing fields stay absent", key: "ocp_b2", listed: true,
			want: map[string]any{"online": false, "status": "offline",
				"last_connect": "2023-11-03T16:26:40+08:00", "last_disconnect": "2023-11-09T11:20:00+08:00"},
			absent: []string{"exception", "ip", "lan_ip", "firmware", "model", "update_available", "disk_total"}},
		{name: "exception", key: "ocp_c3", listed: true,
			want: map[string]any{"online": false, "status": "exception", "exception": "硬盘异常"}},
		{name: "unknown status is not online and not an option", key: "idd4", listed: true,
			want: map[string]any{"online": false}, absent: []string{"status", "last_connect"}, warning: `unknown status "rebooting"`},
		{name: "vanished box is reported offline with its values", key: "ocp_a1", listed: false,
			want: map[string]any{"online": false, "status": "offline", "ip": "203.0.113.9"}},
		{name: "no disk", key: "ocp_a1", listed: true, usb: noDisk,
			want: map[string]any{"disk_total": 0.0, "disk_used": 0.0, "disk_free": 0.0}},
		{name: "unreadable partition size", key: "ocp_a1", listed: true, usb: badDisk,
			absent: []string{"disk_total", "disk_used", "disk_free"}, warning: "without a readable size"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p := byKey[tt.key]
			d, warns := boxDevice("home", boxInput{Key: p.Key, Wire: p.Wire, USB: tt.usb, Listed: tt.listed})
			for k, v := range tt.want {
				got := d.Values[k]
				if ts, ok := got.(time.Time); ok {
					got = ts.Format(time.RFC3339)
				}
				if got != v {
					t.Errorf("%s = %#v, want %#v", k, got, v)
				}
			}
			for _, k := range tt.absent {
				if v, ok := d.Values[k]; ok {
					t.Errorf("%s = %#v, want absent", k, v)
				}
			}
			if tt.warning != "" && !strings.Contains(strings.Join(warns, "\n"), tt.warning) {
				t.Errorf("warnings %v lack %q", warns, tt.warning)
			}
			if tt.key == "idd4" && d.Name != "OneCloud idd4" {
				t.Errorf("name = %q", d.Name)
			}
		})
	}
}

func decodeData[T any](t testing.TB, name string) *T {
	t.Helper()
	var env accountEnvelope
	if err := json.Unmarshal(readTestdata(t, name), &env); err != nil {
		t.Fatal(err)
	}
	v := new(T)
	if err := json.Unmarshal(env.Data, v); err != nil {
		t.Fatal(err)
	}
	return v
}

func TestConvertAccount(t *testing.T) {
	m0 := decodeData[wireIncome](t, "income_month.json")
	m1 := decodeData[wireIncome](t, "income_prev.json")
	out := decodeData[wireOutcome](t, "outcome.json")
	info := decodeData[wireAccountInfo](t, "account_info.json")
	boxes := []providers.Device{{Values: map[string]any{"online": true}}, {Values: map[string]any{"online": false}}, {Values: map[string]any{}}}

	var empty wireIncome
	_ = json.Unmarshal([]byte(`{"totalIncome":5,"month":"","incomeArr":[]}`), &empty)
	var fresh wireOutcome
	_ = json.Unmarshal([]byte(`{"totalOutcome":"","outcomeArr":[]}`), &fresh)
	var garbled wireOutcome
	_ = json.Unmarshal([]byte(`{"totalOutcome":"n/a","outcomeArr":[{}]}`), &garbled)

	for _, tt := range []struct {
		name   string
		in     accountInput
		want   map[string]any
		absent []string
		series bool // check the dates of the 7-day series
	}{
		{name: "full, 7 days spanning two months", in: accountInput{Month: m0, PrevMonth: m1, Outcome: out, Info: info, Boxes: boxes},
			want: map[string]any{"balance": 6.1728395, "total_income": 123.45678901, "month_income": 4.06718954,
				"yesterday_income": 1.09098742, "income_7d": 8.61718954, "total_withdrawn": 12.34, "boxes": 3, "boxes_online": 1},
			series: true},
		{name: "first of the month: yesterday from the previous month", in: accountInput{Month: &empty, PrevMonth: m1},
			want:   map[string]any{"month_income": 0.0, "yesterday_income": 1.1, "total_income": 5.0, "boxes": 0, "boxes_online": 0},
			absent: []string{"balance", "total_withdrawn"}},
		{name: "no income at all", in: accountInput{Month: &empty, Outcome: &fresh},
			want:   map[string]any{"month_income": 0.0, "total_withdrawn": 0.0},
			absent: []string{"yesterday_income", "income_7d"}},
		{name: "failed calls leave values out", in: accountInput{Outcome: &garbled},
			absent: []string{"balance", "total_income", "month_income", "yesterday_income", "income_7d", "total_withdrawn"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			d, _ := accountDevice("home", "", tt.in)
			if d.ID != "onecloud_home" || d.Name != "OneCloud home" {
				t.Errorf("device %s %q", d.ID, d.Name)
			}
			for k, v := range tt.want {
				if got := d.Values[k]; got != v {
					t.Errorf("%s = %#v, want %#v", k, got, v)
				}
			}
			for _, k := range tt.absent {
				if v, ok := d.Values[k]; ok {
					t.Errorf("%s = %#v, want absent", k, v)
				}
			}
			if tt.series {
				var dates []string
				for _, x := range d.Attributes["income_7d"]["daily"].([]map[string]any) {
					dates = append(dates, x["date"].(string))
				}
				// 3 days this month + the newest 4 of the previous one.
				want := []string{"2018-12-28", "2018-12-29", "2018-12-30", "2018-12-31", "2019-01-03", "2019-01-04", "2019-01-05"}
				if !reflect.DeepEqual(dates, want) {
					t.Errorf("series = %v, want %v", dates, want)
				}
			}
		})
	}
}

// allDevices is every device shape the converter produces.
func allDevices(t testing.TB) []providers.Device {
	var out []providers.Device
	acct, _ := accountDevice("home", "Home", accountInput{
		Month: decodeData[wireIncome](t, "income_month.json"), PrevMonth: decodeData[wireIncome](t, "income_prev.json"),
		Outcome: decodeData[wireOutcome](t, "outcome.json"), Info: decodeData[wireAccountInfo](t, "account_info.json")})
	out = append(out, acct)
	usb := usbPayload(t, "usbinfo.json")
	for _, name := range []string{"listpeer_jk.json", "listpeer_mixed.json"} {
		for _, p := range mustPeers(t, name) {
			for _, listed := range []bool{true, false} {
				d, _ := boxDevice("home", boxInput{Key: p.Key, Wire: p.Wire, USB: usb, Listed: listed})
				out = append(out, d)
			}
		}
	}
	return out
}

func TestEveryEntityIsValidDiscovery(t *testing.T) {
	for _, es := range [][]providers.Entity{accountEntities, boxEntities} {
		for _, e := range es {
			if err := discovery.ValidateEntity(e); err != nil {
				t.Errorf("%v", err)
			}
		}
	}
	opts := discovery.Options{BaseTopic: "ab", DiscoveryPrefix: "homeassistant", Origin: discovery.Origin{Name: "accountbridge"}}
	for _, d := range allDevices(t) {
		res, err := discovery.Build(opts, d, nil)
		if err != nil || len(res.Invalid) > 0 {
			t.Errorf("%s: err %v, invalid %v", d.ID, err, res.Invalid)
		}
		if len(res.Components) != len(d.Entities) {
			t.Errorf("%s: %d of %d entities published", d.ID, len(res.Components), len(d.Entities))
		}
		if _, err := discovery.State(d); err != nil {
			t.Errorf("%s: state: %v", d.ID, err)
		}
		for k := range d.Values {
			if !hasEntity(d, k) {
				t.Errorf("%s: value %s has no entity", d.ID, k)
			}
		}
	}
	// The button is disabled by default; the event entity lists what Command reports.
	var button, event providers.Entity
	for _, e := range accountEntities {
		switch e.Component {
		case providers.Button:
			button = e
		case providers.Event:
			event = e
		}
	}
	if !button.Disabled || button.Key != "withdraw" {
		t.Errorf("button = %+v", button)
	}
	if !reflect.DeepEqual(event.EventTypes, []string{"withdrawn", "already_withdrawn", "withdraw_failed"}) {
		t.Errorf("event types = %v", event.EventTypes)
	}
}

func hasEntity(d providers.Device, key string) bool {
	for _, e := range d.Entities {
		if e.Key == key {
			return true
		}
	}
	return false
}

// FuzzParseListPeer: any answer either fails cleanly or converts into devices whose
// discovery and state are publishable.
func FuzzParseListPeer(f *testing.F) {
	for _, name := range []string{"listpeer_jk.json", "listpeer_mixed.json", "usbinfo.json"} {
		f.Add(readTestdata(f, name))
	}
	f.Add([]byte(`{"rtn":0,"result":[0,{"devices":[{"device_sn":"x","connect_time":1e300,"status":"online"}]}]}`))
	f.Add([]byte(`{"rtn":0,"result":[0,{"devices":null}]}`))
	f.Add([]byte(`{"rtn":11,"msg":"session invalid"}`))
	opts := discovery.Options{BaseTopic: "ab", DiscoveryPrefix: "homeassistant"}
	f.Fuzz(func(t *testing.T, body []byte) {
		peers, _, err := parseListPeer(body)
		if err != nil {
			return
		}
		var usb *usbInfo
		if payload, err := parseControl("/getUSBInfo", body); err == nil {
			if u, err := parseUSB(payload); err == nil {
				usb = &u
			}
		}
		for _, p := range peers {
			if !providers.ValidID(p.Key) {
				t.Fatalf("box key %q", p.Key)
			}
			d, _ := boxDevice("home", boxInput{Key: p.Key, Wire: p.Wire, USB: usb, Listed: true})
			if _, err := discovery.State(d); err != nil {
				t.Fatalf("state: %v", err)
			}
			if res, err := discovery.Build(opts, d, nil); err != nil || len(res.Invalid) > 0 {
				t.Fatalf("discovery: %v %v", err, res.Invalid)
			}
			if s, ok := d.Values["status"]; ok && s != "online" && s != "offline" && s != "exception" {
				t.Fatalf("status %v", s)
			}
		}
	})
}

// BenchmarkParseConvert: one listPeer and one getUSBInfo answer to devices.
func BenchmarkParseConvert(b *testing.B) {
	list := readTestdata(b, "listpeer_jk.json")
	usbBody := readTestdata(b, "usbinfo.json")
	b.ReportAllocs()
	for b.Loop() {
		peers, _, err := parseListPeer(list)
		if err != nil {
			b.Fatal(err)
		}
		payload, err := parseControl("/getUSBInfo", usbBody)
		if err != nil {
			b.Fatal(err)
		}
		u, err := parseUSB(payload)
		if err != nil {
			b.Fatal(err)
		}
		for _, p := range peers {
			boxDevice("home", boxInput{Key: p.Key, Wire: p.Wire, USB: &u, Listed: true})
		}
	}
}
