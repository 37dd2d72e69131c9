package telecom

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/accountbridge/accountbridge/internal/discovery"
	"github.com/accountbridge/accountbridge/internal/providers"
	"github.com/accountbridge/accountbridge/internal/providers/telecom/fake"
	"github.com/accountbridge/accountbridge/internal/providers/wire"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

var testNow = time.Date(2025, 6, 15, 8, 30, 45, 0, time.UTC) // 16:30:45 in Beijing

func TestParseFen(t *testing.T) {
	for in, want := range map[string]int64{
		"0.29": 29, "19.99": 1999, "10.05": 1005, "383.40": 38340, "0.00": 0, "-3.5": -350,
		"1,234.5": 123450, "0.295": 30, "0.294": 29, "-0.295": -30, "7": 700, ".5": 50, "2.": 200,
	} {
		if got, ok := parseFen(wire.Text(in)); !ok || got != want {
			t.Errorf("parseFen(%q) = %d, %v; want %d", in, got, ok, want)
		}
	}
	for _, in := range []string{"", "abc", "1e5", "-", ".", "1.2.3", "元", "99999999999999999999"} {
		if got, ok := parseFen(wire.Text(in)); ok {
			t.Errorf("parseFen(%q) = %d, want absent", in, got)
		}
	}
}

func TestParseKB(t *testing.T) {
	for in, want := range map[string]int64{
		// Worked examples (exact decimal, fraction of a KB cut off like the original).
		"6.94GB": 7277117, "17.43GB": 18276679, "90.78MB": 92958, "205.20GB": 215167795,
		"2.04GB": 2139095, "76.93GB": 80666951, "0KB": 0, "0GB": 0, "40GB": 41943040, "1TB": 1073741824,
		"286.54MB": 293416, "19.72GB": 20677918, "1024": 1024, " 5.00GB ": 5242880, "3.25gb": 3407872,
	} {
		if got, ok := parseKB(in); !ok || got != want {
			t.Errorf("parseKB(%q) = %d, %v; want %d", in, got, ok, want)
		}
	}
	for _, in := range []string{"", "500B", "GB", "3条", "1.5PB", "abcKB"} {
		if got, ok := parseKB(in); ok {
			t.Errorf("parseKB(%q) = %d, want absent", in, got)
		}
	}
}

func parsePlan(t testing.TB, p fake.Plan) Input {
	t.Helper()
	d, err := parseImportantData(fake.ImportantResponse(p))
	if err != nil {
		t.Fatalf("%s: %v", p, err)
	}
	in := Input{DeviceID: "telecom_main", Phone: "18912345678", Now: testNow, Data: d, WithPlan: true, WithShr: true}
	in.Packages = new(fluxPackageData)
	if err := json.Unmarshal(fake.PackagesData(p), in.Packages); err != nil {
		t.Fatal(err)
	}
	in.Share = new(shareData)
	if err := json.Unmarshal(fake.ShareData(p), in.Share); err != nil {
		t.Fatal(err)
	}
	return in
}

// Every plan variant: exact values; absent stays absent; never negative remaining.
func TestConvertPlans(t *testing.T) {
	g := gib
	type vals = map[string]any
	for _, tc := range []struct {
		plan   fake.Plan
		want   vals
		absent []string
	}{
		{plan: fake.PlanNormal, want: vals{
			"balance": 10.05, "arrears": 0.0, "month_spend": 43.93, "points": int64(1234),
			"voice_used": int64(39), "voice_remaining": int64(2211), "voice_total": int64(2250),
			"data_used": g(7366923), "data_remaining": g(233448803), "data_total": g(240815726), "data_over": 0.0,
			"data_used_percent": 3.1,
			"common_used":       g(7273962), "common_remaining": g(18276484), "common_total": g(25550446),
			"special_used": g(92961), "special_remaining": g(215172319), "special_total": g(215265280),
			"throttled": false, "plan": "天翼畅享40GB(199元)套餐", "share_members": 2,
		}},
		{plan: fake.PlanOverQuota, want: vals{
			"balance": 0.29, "arrears": 0.0, "month_spend": 219.99, "points": int64(88),
			// voice over quota: remaining 0, total is the quota
			"voice_used": int64(120), "voice_remaining": int64(0), "voice_total": int64(100),
			"data_used": g(83854622), "data_remaining": 9.0, "data_total": g(91152711), "data_over": g(2139095),
			"data_used_percent": 92.0,
			"common_used":       g(82806046), "common_remaining": 0.0, "common_total": g(80666951),
			"special_used": 1.0, "special_remaining": 9.0, "special_total": 10.0,
			"throttled": false, "plan": "天翼云卡(19元)套餐", "share_members": 0,
		}},
		{plan: fake.PlanCapped, want: vals{
			"balance": 120.0, "month_spend": 129.0, "points": int64(0),
			"voice_used": int64(100), "voice_remaining": int64(900), "voice_total": int64(1000),
			"data_used": 45.0, "data_over": 0.0, "common_used": 45.0, "throttled": true,
		}, absent: []string{"data_total", "data_remaining", "data_used_percent", "common_total", "common_remaining",
			"special_used", "special_total", "special_remaining"}},
		{plan: fake.PlanUnlimited, want: vals{
			"balance": 56.78, "data_used": 0.0, "common_used": 0.0, "throttled": false,
			"voice_remaining": int64(500), "plan": "畅享不限量套餐",
		}, absent: []string{"data_total", "data_remaining", "data_used_percent", "points"}},
		{plan: fake.PlanSparse, want: vals{
			"voice_used": int64(12), "data_used": 1.0 / 1024, "throttled": false, "share_members": 0,
		}, absent: []string{"balance", "arrears", "month_spend", "points", "voice_remaining", "voice_total",
			"data_remaining", "data_total", "data_over", "data_used_percent", "common_used", "common_total",
			"special_used", "plan"}},
		{plan: fake.PlanBalanceOnly, want: vals{"balance": 0.0, "arrears": 25.5, "month_spend": 25.5},
			absent: []string{"voice_used", "data_used", "data_total", "throttled", "common_used"}},
	} {
		t.Run(string(tc.plan), func(t *testing.T) {
			dev := Convert(parsePlan(t, tc.plan))
			for k, w := range tc.want {
				got, ok := dev.Values[k]
				if f, isF := w.(float64); isF {
					if gf, ok2 := got.(float64); !ok2 || math.Abs(gf-f) > 1e-9 {
						t.Errorf("%s = %#v, want %v", k, got, w)
					}
					continue
				}
				if !ok || !reflect.DeepEqual(got, w) {
					t.Errorf("%s = %#v, want %#v", k, got, w)
				}
			}
			for _, k := range tc.absent {
				if v, ok := dev.Values[k]; ok {
					t.Errorf("%s = %#v, want absent", k, v)
				}
			}
			checkDevice(t, dev)
		})
	}
}

// checkDevice: every value belongs to a declared entity, numbers are finite and
// remaining/total/used never negative, the device has the right identity.
func checkDevice(t *testing.T, dev providers.Device) {
	t.Helper()
	if dev.ID != "telecom_main" || dev.Name != "China Telecom 189****5678" {
		t.Errorf("device %q %q", dev.ID, dev.Name)
	}
	keys := map[string]providers.Entity{}
	for _, e := range dev.Entities {
		keys[e.Key] = e
	}
	for k, v := range dev.Values {
		e, ok := keys[k]
		if !ok {
			t.Errorf("value %s has no entity", k)
			continue
		}
		switch x := v.(type) {
		case float64:
			if math.IsNaN(x) || math.IsInf(x, 0) {
				t.Errorf("%s = %v", k, x)
			}
			if x < 0 && k != "balance" {
				t.Errorf("%s = %v is negative", k, x)
			}
		case int64:
			if x < 0 {
				t.Errorf("%s = %v is negative", k, x)
			}
		case int:
		case bool:
			if e.Component != providers.BinarySensor {
				t.Errorf("%s: bool on a %s", k, e.Component)
			}
		case string:
			if e.StateClass != "" || e.Unit != "" || e.DeviceClass != "" {
				t.Errorf("%s: text %q on a numeric sensor", k, x)
			}
		case time.Time:
			if _, off := x.Zone(); off != 8*3600 || e.DeviceClass != "timestamp" {
				t.Errorf("%s: time %v (offset %d)", k, x, off)
			}
		default:
			t.Errorf("%s: unexpected type %T", k, v)
		}
	}
	for k := range dev.Attributes {
		if !keys[k].Attributes {
			t.Errorf("attributes for %s, which does not read attributes", k)
		}
	}
}

// The detail attributes of the normal plan (packages, shared members).
func TestConvertAttributes(t *testing.T) {
	dev := Convert(parsePlan(t, fake.PlanNormal))
	members := dev.Attributes["share_members"]["members"].([]any)
	want := []any{
		map[string]any{"number": "190****3456", "data_used_gib": 6.937, "voice_used_min": int64(39)},
		map[string]any{"number": "133****9998", "data_used_gib": 1.0, "voice_used_min": int64(12)},
	}
	if !reflect.DeepEqual(members, want) {
		t.Errorf("members = %#v", members)
	}
	pk := dev.Attributes["data_used"]["packages"].([]any)
	if len(pk) != 3 { // the expired package (isInvalid "1") is left out
		t.Fatalf("packages = %#v", pk)
	}
	if p := pk[1].(map[string]any); p["used_gib"] != 0.586 || p["remaining_gib"] != 3.25 || p["total_gib"] != 3.83 ||
		p["expires"] != "2025-06-30T23:59:59+08:00" {
		t.Errorf("add-on package = %#v", p)
	}
	if p := pk[0].(map[string]any); p["unlimited"] != true || p["used_gib"] != 6.35 {
		t.Errorf("main package = %#v", p)
	}
	capped := Convert(parsePlan(t, fake.PlanCapped))
	if c := capped.Attributes["throttled"]["speed_cap_gib"]; c != 40.0 {
		t.Errorf("speed cap = %v", c)
	}
}

// /summary (docs/telecom.md, "Protocol: the /summary rules") of the normal plan, exactly.
func TestSummaryWorkedExample(t *testing.T) {
	s := BuildSummary("18912345678", parsePlan(t, fake.PlanNormal).Data, testNow)
	want := Summary{PhoneNum: "18912345678", Balance: 1005, VoiceUsage: 39, VoiceBalance: 2211, VoiceTotal: 2250,
		FlowUse: 7366923, FlowTotal: 240815726, FlowOver: 0, CommonUse: 7273962, CommonTotal: 25550446, CommonOver: 0,
		SpecialUse: 92961, SpecialTotal: 215265280, CreateTime: "2025-06-15 16:30:45",
		FlowItems: []SummaryItem{
			{Name: "国内通用流量(非畅享)", Use: 7277117, Balance: 18276679, Total: 25553796},
			{Name: "专用流量", Use: 92958, Balance: 215167795, Total: 215260753},
		}}
	if !reflect.DeepEqual(s, want) {
		t.Errorf("summary\n got %+v\nwant %+v", s, want)
	}
	over := BuildSummary("x", parsePlan(t, fake.PlanOverQuota).Data, testNow)
	if over.Balance != 29 { // "0.29" yuan: the original's float truncation gave 28
		t.Errorf("balance = %d fen, want 29", over.Balance)
	}
	if it := over.FlowItems[0]; it != (SummaryItem{Name: "国内通用流量", Use: 82806046, Balance: -2139095, Total: 80666951}) {
		t.Errorf("over-quota item = %+v (over-quota example)", it)
	}
	// The field order is the original's.
	b := SummaryJSON("18912345678", parsePlan(t, fake.PlanNormal).Data, testNow)
	order := []string{"phonenum", "balance", "voiceUsage", "voiceBalance", "voiceTotal", "flowUse", "flowTotal",
		"flowOver", "commonUse", "commonTotal", "commonOver", "specialUse", "specialTotal", "createTime", "flowItems"}
	last := -1
	for _, k := range order {
		i := bytes.Index(b, []byte(`"`+k+`":`))
		if i <= last {
			t.Fatalf("key %s out of order in %s", k, b)
		}
		last = i
	}
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	got = append(bytes.TrimSpace(got), '\n')
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file:\n got %s\nwant %s", name, got, want)
	}
}

// The /summary compat JSON and the state JSON of every plan, against golden files.
func TestGolden(t *testing.T) {
	for _, p := range fake.Plans() {
		in := parsePlan(t, p)
		golden(t, "summary_"+string(p)+".json", SummaryJSON(in.Phone, in.Data, in.Now))
		dev := Convert(in)
		state, err := discovery.State(dev)
		if err != nil {
			t.Fatal(err)
		}
		golden(t, "state_"+string(p)+".json", state)
		// The fetch time changes on every poll: it is on the poll topic, not in the state.
		topics, err := discovery.ValueTopics(dev)
		want := `{"updated":"` + in.Now.In(wire.CST).Truncate(time.Second).Format(time.RFC3339) + `"}`
		if err != nil || len(topics) != 1 || string(topics[providers.PollTopic]) != want {
			t.Errorf("%s: value topics %q (%v), want poll %s", p, topics, err, want)
		}
	}
}

// Every entity the provider can produce is valid for Home Assistant, and discovery of the
// device builds with nothing left out.
func TestDiscoveryValid(t *testing.T) {
	opts := discovery.Options{BaseTopic: "accountbridge", DiscoveryPrefix: "homeassistant", Origin: discovery.Origin{Name: "accountbridge"}}
	for _, withPlan := range []bool{false, true} {
		for _, withShare := range []bool{false, true} {
			seen := map[string]bool{}
			for _, e := range Entities(withPlan, withShare) {
				if err := discovery.ValidateEntity(e); err != nil {
					t.Errorf("%s: %v", e.Key, err)
				}
				if seen[e.Key] {
					t.Errorf("duplicate key %s", e.Key)
				}
				seen[e.Key] = true
				if strings.Contains(strings.ToLower(e.Name), "telecom") {
					t.Errorf("%s: name %q repeats the device name", e.Key, e.Name)
				}
			}
		}
	}
	for _, p := range fake.Plans() {
		dev := Convert(parsePlan(t, p))
		res, err := discovery.Build(opts, dev, nil)
		if err != nil || len(res.Invalid) > 0 {
			t.Errorf("%s: Build: %v, invalid %v", p, err, res.Invalid)
		}
		if len(res.Components) != len(dev.Entities) {
			t.Errorf("%s: %d components for %d entities", p, len(res.Components), len(dev.Entities))
		}
	}
}

// Protocol examples: X201, the login failures and a constructed success.
func TestParseProtocolExamples(t *testing.T) {
	read := func(name string) []byte {
		b, err := os.ReadFile(filepath.Join("testdata", "protocol", name))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	d, err := parseImportantData(read("qryImportantData_normal.json"))
	if err != nil {
		t.Fatal(err)
	}
	if v := Convert(Input{DeviceID: "telecom_main", Phone: "18912345678", Now: testNow, Data: d}).Values; v["balance"] != 10.05 {
		t.Errorf("normal plan balance = %v", v["balance"])
	}
	if _, err := parseImportantData(read("x201.json")); !errors.Is(err, providers.ErrAuth) {
		t.Errorf("X201: %v, want ErrAuth", err)
	}
	s, err := parseLogin(read("login_ok.json"), "18900001234", testNow)
	if err != nil || s.Token != "0a1b2c3d4e5f60718293a4b5c6d7e8f9" || s.ProvinceCode != "600101" || s.CityCode != "8441900" || s.UserID != "123456789012" {
		t.Errorf("login success: %+v %v", s, err)
	}
	for file, code := range map[string]string{"login_3001.json": "3001", "login_x10401.json": "X10401",
		"login_3006.json": "3006", "login_1000.json": "1000"} {
		_, err := parseLogin(read(file), "x", testNow)
		var le *loginError
		if !errors.As(err, &le) || le.Code != code {
			t.Errorf("%s: %v", file, err)
			continue
		}
		out := loginOutcome(le, 3, DefaultClientVersion)
		if !errors.Is(out, providers.ErrPermanent) {
			t.Errorf("%s: %v is not permanent", file, out)
		}
		if code == "3001" && (le.FailCount != "1" || !strings.Contains(out.Error(), "3 login attempt(s) left today")) {
			t.Errorf("3001: %v", out)
		}
	}
	for body, kind := range map[string]string{
		`{"headerInfos":{"code":"X201","reason":"token 过期"}}`:                              "auth",
		`{"headerInfos":{"code":"0000"},"responseData":{"resultCode":"X201","data":null}}`: "auth",
		`{"headerInfos":{"code":"0000"},"responseData":{"resultCode":"0000","data":null}}`: "transient",
		`{"headerInfos":{"code":"9999","reason":"系统繁忙"},"responseData":null}`:              "transient",
		`<html>502</html>`:     "transient",
		`{"headerInfos":null}`: "transient",
		`{"headerInfos":{"code":"0000"},"responseData":{"resultCode":"1001","resultDesc":"x"}}`:       "transient",
		`{"headerInfos":{"code":"0000"},"responseData":{"resultCode":"0000","data":{"flowInfo":""}}}`: "",
	} {
		_, err := parseImportantData([]byte(body))
		if got := providers.Kind(err); got != kind {
			t.Errorf("%s: kind %q (%v), want %q", body, got, err, kind)
		}
	}
}

func FuzzParseImportantData(f *testing.F) {
	for _, p := range fake.Plans() {
		f.Add(fake.ImportantResponse(p))
	}
	f.Add([]byte(`{"headerInfos":{"code":"X201","reason":"token 过期"},"responseData":null}`))
	f.Add([]byte(`{"headerInfos":{"code":"0000"},"responseData":{"resultCode":"0000","data":{"flowInfo":{"flowList":[{"title":"流量","leftTitle":"超出","leftTitleHh":"9999999999TB","rightTitleEnd":"/-1GB"}]}}}}`))
	f.Add([]byte(`{"headerInfos":{"code":"0000"},"responseData":{"resultCode":"0000","data":{"balanceInfo":{"indexBalanceDataInfo":{"balance":1e400}}}}}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		d, err := parseImportantData(body)
		if err != nil {
			return
		}
		dev := Convert(Input{DeviceID: "telecom_main", Phone: "18912345678", Now: testNow, Data: d, WithPlan: true, WithShr: true})
		for k, v := range dev.Values {
			if strings.HasSuffix(k, "_remaining") || strings.HasSuffix(k, "_total") {
				switch x := v.(type) {
				case float64:
					if x < 0 || math.IsNaN(x) {
						t.Fatalf("%s = %v", k, x)
					}
				case int64:
					if x < 0 {
						t.Fatalf("%s = %v", k, x)
					}
				}
			}
		}
		if _, err := discovery.State(dev); err != nil {
			t.Fatalf("state: %v", err)
		}
		_ = SummaryJSON("18912345678", d, testNow)
	})
}

// BenchmarkParseConvert measures the CPU cost of one poll's processing: parse a realistic
// qryImportantData response, convert it and build the /summary JSON.
func BenchmarkParseConvert(b *testing.B) {
	body := fake.ImportantResponse(fake.PlanNormal)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		d, err := parseImportantData(body)
		if err != nil {
			b.Fatal(err)
		}
		dev := Convert(Input{DeviceID: "telecom_main", Phone: "18912345678", Now: testNow, Data: d})
		if len(dev.Values) == 0 || len(SummaryJSON("18912345678", d, testNow)) == 0 {
			b.Fatal("empty")
		}
	}
}

// Throttle texts name a cap volume and often a speed, in either order; a speed is never a
// volume (before, "降速至1Mbps(超40GB后)" read as a 1 MB cap and turned throttled on).
func TestThrottleCapIgnoresSpeeds(t *testing.T) {
	for _, tt := range []struct {
		right   string
		used    string
		capKB   int64 // 0: no cap read
		limited bool  // used >= cap
	}{
		{"40GB后降速", "10.00GB", 40 << 20, false},
		{"降速至1Mbps(超40GB后)", "10.00GB", 40 << 20, false},
		{"降速至1Mbps(超40GB后)", "41.20GB", 40 << 20, true},
		{"超出40GB后降速至1Mbps", "12.5GB", 40 << 20, false},
		{"降速至 128 Kbps，达到 100GB 后", "3.00GB", 100 << 20, false},
		{"达量降速:3Mb/s(上限60GB)", "60.00GB", 60 << 20, true},
		{"降速1MB/s(超20.5GB)", "1.00GB", 20<<20 + 512<<10, false},
		{"2Mbit/s降速，30GB", "1.00GB", 30 << 20, false},
		{"降速至1Mbps", "10.00GB", 0, false},           // a speed only: no cap
		{"降速至1M每秒(超 5GB)", "6.00GB", 5 << 20, true}, // "1M" has no byte unit
	} {
		fl, ok := flowItemOf(flowEntry{Title: "国内通用流量(达量降速)", LeftTitle: "已用", LeftTitleHh: wire.Text(tt.used), RightTitle: wire.Text(tt.right)})
		if !ok {
			t.Errorf("%q: item dropped", tt.right)
			continue
		}
		if tt.capKB == 0 {
			if fl.speedCap || fl.hasTot {
				t.Errorf("%q: cap %d KB read from a speed", tt.right, fl.total)
			}
			continue
		}
		if !fl.speedCap || fl.total != tt.capKB {
			t.Errorf("%q: cap %d KB (speedCap %v), want %d", tt.right, fl.total, fl.speedCap, tt.capKB)
		}
		if got := fl.used >= fl.total; got != tt.limited {
			t.Errorf("%q: throttled %v, want %v", tt.right, got, tt.limited)
		}
	}
}

// A cap read from any throttle text is a volume the text names, never one followed by a
// speed unit, and never negative.
func FuzzCapVolume(f *testing.F) {
	for _, s := range []string{"40GB后降速", "降速至1Mbps(超40GB后)", "降速1MB/s(超20.5GB)", "2Mbit/s降速，30GB", "1.5.5GB", "9999999999999999TB"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		kb, ok := capVolume(s)
		if !ok {
			return
		}
		if kb < 0 {
			t.Fatalf("%q: negative cap %d", s, kb)
		}
		for _, m := range volumeRe.FindAllStringSubmatch(s, -1) {
			if m[3] != "" {
				continue
			}
			if v, _ := parseKB(m[1] + m[2]); v == kb {
				return // the first volume named
			}
			t.Fatalf("%q: cap %d KB is not its first volume %q", s, kb, m[0])
		}
		t.Fatalf("%q: cap %d KB without a volume in the text", s, kb)
	})
}

// The entity lists are built once and shared: every call gives the same list, equal to a
// fresh build.
func TestEntitiesShared(t *testing.T) {
	for _, plan := range []bool{false, true} {
		for _, share := range []bool{false, true} {
			a, b := Entities(plan, share), Entities(plan, share)
			if &a[0] != &b[0] {
				t.Errorf("Entities(%v, %v) built anew", plan, share)
			}
			if !providers.EntitiesEqual(a, buildEntities(plan, share)) {
				t.Errorf("Entities(%v, %v) differs from a fresh build", plan, share)
			}
			if cap(a) != len(a) {
				t.Errorf("Entities(%v, %v) has room to append into", plan, share)
			}
		}
	}
}
