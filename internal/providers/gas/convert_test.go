package gas

import (
	"encoding/base64"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

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

func cst(y int, m time.Month, d, h, min int) time.Time {
	return time.Date(y, m, d, h, min, 0, 0, wire.CST)
}

// must fails the test (by panicking, which the test runner reports) on an error.
func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func near(a, b float64) bool { return math.Abs(a-b) < 1e-6 }

func wantValues(t *testing.T, got map[string]any, want map[string]any) {
	t.Helper()
	for k, w := range want {
		g, ok := got[k]
		switch {
		case w == nil:
			if ok {
				t.Errorf("%s = %v, want absent", k, g)
			}
		case !ok:
			t.Errorf("%s absent, want %v", k, w)
		default:
			gf, gok := g.(float64)
			wf, wok := w.(float64)
			if gok && wok {
				if !near(gf, wf) {
					t.Errorf("%s = %v, want %v", k, g, w)
				}
			} else if g != w {
				t.Errorf("%s = %#v, want %#v", k, g, w)
			}
		}
	}
}

// Quirk: every number is a string, some are empty, some are real numbers; none fails a response.
func TestQuirkNumbersAsStringsAndEmptyStrings(t *testing.T) {
	var v struct {
		A, B, C, D, E, F, G wire.Num
	}
	err := json.Unmarshal([]byte(`{"A":"50.0","B":"","C":100.5,"D":null,"E":"  1,215.90 ","F":"无","G":{"x":1}}`), &v)
	if err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]struct {
		got wire.Num
		ok  bool
		v   float64
	}{"A": {v.A, true, 50}, "B": {v.B, false, 0}, "C": {v.C, true, 100.5}, "D": {v.D, false, 0},
		"E": {v.E, true, 1215.9}, "F": {v.F, false, 0}, "G": {v.G, false, 0}} {
		if c.got.OK != c.ok || !near(c.got.V, c.v) {
			t.Errorf("%s = %+v, want ok=%v v=%v", name, c.got, c.ok, c.v)
		}
	}
	if v.F.Raw != "无" {
		t.Errorf("unparseable raw text kept for the warning: %q", v.F.Raw)
	}
	// An empty balance is unknown, never 0.
	d := must(ParseDebt([]byte(`{"success":true,"code":1,"data":{"remoteMeterBalance":"","userCode":12345678}}`)))
	dev, _ := Convert(Input{Now: cst(2026, 2, 15, 9, 0), UserCode: "12345678", Debt: &d})
	if _, ok := dev.Values["balance"]; ok {
		t.Errorf("empty balance published as %v", dev.Values["balance"])
	}
	if d.UserCode != "12345678" {
		t.Errorf("numeric userCode read as %q", d.UserCode)
	}
	// A numeric balance is read as well as a string one.
	d = must(ParseDebt([]byte(`{"success":true,"data":{"remoteMeterBalance":100.50}}`)))
	dev, _ = Convert(Input{Now: cst(2026, 2, 15, 9, 0), UserCode: "12345678", Debt: &d})
	wantValues(t, dev.Values, map[string]any{"balance": 100.5})
}

// Quirk: the monthly call's whole body is base64 of the JSON envelope (with line breaks).
func TestQuirkBase64MonthlyBody(t *testing.T) {
	body := readTestdata(t, "monthly.b64")
	if !strings.Contains(string(body), "\n") {
		t.Fatal("the testdata should be wrapped to exercise line breaks")
	}
	m := must(ParseMonthly(body))
	plain := must(ParseMonthly(readTestdata(t, "monthly.decoded.json")))
	if len(m.Records) != 3 || len(m.Tiers) != 3 || !m.TotalGasVolume.OK || m.TotalGasVolume.V != 27.6 {
		t.Fatalf("monthly = %+v", m)
	}
	if a, b := must(json.Marshal(m)), must(json.Marshal(plain)); string(a) != string(b) {
		t.Errorf("base64 and plain bodies differ:\n%s\n%s", a, b)
	}
	// success:false inside base64 is still an error with its message.
	bad := base64.StdEncoding.EncodeToString([]byte(`{"success":false,"code":"504","message":"请求超时，请稍后重试"}`))
	_, err := ParseMonthly([]byte(bad))
	var ue *UpstreamError
	if err == nil || !strings.Contains(err.Error(), "请求超时") {
		t.Fatalf("err = %v", err)
	} else if ue, _ = err.(*UpstreamError); ue == nil || ue.Code != "504" {
		t.Errorf("err = %#v, want *UpstreamError code 504", err)
	}
	// Neither JSON nor base64.
	if _, err := ParseMonthly([]byte("<html>502 Bad Gateway</html>")); err == nil {
		t.Error("garbage accepted")
	}
}

// Quirk: monthly rows come oldest first with gasYear like "2025年08月"; the newest is this month.
func TestQuirkMonthlyOrderAndGasYear(t *testing.T) {
	for in, want := range map[string]string{"2025年08月": "2025-08-01", "2026年1月": "2026-01-01",
		"2025-12": "2025-12-01", "2025/7": "2025-07-01", "2025年13月": "", "八月": "", "": ""} {
		got, ok := ParseMonth(in)
		if (want == "") == ok || (ok && got.Format(dayKey) != want) {
			t.Errorf("ParseMonth(%q) = %v, %v; want %q", in, got, ok, want)
		}
	}
	m := must(ParseMonthly(readTestdata(t, "monthly.b64")))
	// A monthly answer read on 2026-02-15 without daily data.
	dev, _ := Convert(Input{Now: cst(2026, 2, 15, 9, 0), UserCode: "12345678", YearStart: MonthDay{1, 1},
		LoggedIn: true, Monthly: &m, History: History{}})
	wantValues(t, dev.Values, map[string]any{
		"month_volume": 9.4, "month_cost": 27.92, "last_month_volume": 18.2, "last_month_cost": 54.05,
		"year_volume": 27.6, "year_cost": 81.97, "tier": "1", "unit_price": 2.97, "tier_remaining": 332.4,
		"meter_reading": nil, // no real reading without daily data
	})
	// The same rows in the opposite order would make "this month" December; order is by gasYear.
	rev := m
	rev.Records = []MonthWire{m.Records[2], m.Records[1], m.Records[0]}
	dev2, _ := Convert(Input{Now: cst(2026, 2, 15, 9, 0), UserCode: "12345678", YearStart: MonthDay{1, 1},
		LoggedIn: true, Monthly: &rev, History: History{}})
	wantValues(t, dev2.Values, map[string]any{"month_volume": 9.4, "last_month_volume": 18.2})
}

// Quirk: daily rows are newest first and gasFee is the cumulative meter reading, not money.
func TestQuirkDailyNewestFirstGasFeeIsReading(t *testing.T) {
	d := must(ParseDaily(readTestdata(t, "daily.json")))
	m := must(ParseMonthly(readTestdata(t, "monthly.b64")))
	h := History{}
	if changed, warn := h.Merge(d.Records); !changed || len(warn) > 0 {
		t.Fatalf("merge: %v %v", changed, warn)
	}
	dev, warn := Convert(Input{Now: cst(2026, 2, 15, 9, 0), UserCode: "12345678", YearStart: MonthDay{1, 1},
		LoggedIn: true, Monthly: &m, History: h})
	wantValues(t, dev.Values, map[string]any{
		"meter_reading":   1215.9, // gasFee of the newest (first) row
		"last_day_volume": 0.62,
		"last_day_cost":   1.84, // 0.62 m³ at 2.97, not the gasFee "1215.90" as money
		"year_volume":     27.6, // 1215.9 − (end of December: 1215.9 − 18.2 − 9.4)
		"year_cost":       81.97,
	})
	if got := dev.Attributes["last_day_volume"]["date"]; got != "2026-02-14" {
		t.Errorf("last day date = %v (warnings %v)", got, warn)
	}
	if got := dev.Values["last_reading_time"]; got != cst(2026, 2, 14, 0, 0) {
		t.Errorf("last_reading_time = %v", got)
	}
	// A row whose volume is an empty string gets it from the readings.
	h2 := History{}
	h2.Merge([]DayWire{{GasYear: "2026/02/14 01:00:00", GasVolume: wire.Num{}, GasFee: wire.Num{V: 1215.9, OK: true}},
		{GasYear: "2026/02/13", GasVolume: wire.Num{V: 0.55, OK: true}, GasFee: wire.Num{V: 1215.28, OK: true}}})
	dev, _ = Convert(Input{Now: cst(2026, 2, 15, 9, 0), UserCode: "12345678", YearStart: MonthDay{1, 1},
		LoggedIn: true, History: h2})
	wantValues(t, dev.Values, map[string]any{"last_day_volume": 0.62, "meter_reading": 1215.9})
}

// Quirk: times are naive Beijing time; they are published with +08:00.
func TestQuirkNaiveTimesGetBeijingOffset(t *testing.T) {
	for in, want := range map[string]string{
		"2026-02-14 01:28:00":     "2026-02-14T01:28:00+08:00",
		"2026-02-14 01:28:00.123": "2026-02-14T01:28:00+08:00",
		"2026-02-14 01:28":        "2026-02-14T01:28:00+08:00",
		"2026/02/14 01:28:00":     "2026-02-14T01:28:00+08:00",
		"2026-02-14T01:28:00":     "2026-02-14T01:28:00+08:00",
		"2026年2月14日 01:28":        "2026-02-14T01:28:00+08:00",
		"2026-02-14":              "2026-02-14T00:00:00+08:00",
		"2026-02-13T17:28:00Z":    "2026-02-14T01:28:00+08:00", // an explicit zone is kept
		"1215.90":                 "",
		"":                        "",
	} {
		got, ok := ParseTime(in)
		if want == "" {
			if ok {
				t.Errorf("ParseTime(%q) = %v, want not a time", in, got)
			}
			continue
		}
		if !ok || got.Format(time.RFC3339) != want {
			t.Errorf("ParseTime(%q) = %v %v, want %s", in, got.Format(time.RFC3339), ok, want)
		}
	}
	d := must(ParseDebt(readTestdata(t, "debt.json")))
	p := must(ParsePayments(readTestdata(t, "payments.json")))
	dev, _ := Convert(Input{Now: cst(2026, 2, 15, 9, 0), UserCode: "12345678", YearStart: MonthDay{1, 1},
		LoggedIn: true, Debt: &d, Payments: &p, History: History{}})
	for key, want := range map[string]string{"last_communication": "2026-02-14T01:28:00+08:00",
		"last_payment_time": "2026-01-02T17:23:00+08:00"} {
		tm, ok := dev.Values[key].(time.Time)
		if !ok || tm.Format(time.RFC3339) != want {
			t.Errorf("%s = %v, want %s", key, dev.Values[key], want)
		}
	}
	// readingLastTime holding a reading is a reading, holding a time is the reading time.
	wantValues(t, dev.Values, map[string]any{"meter_reading": 1215.9, "last_payment": 50.0})
	d.ReadingLastTime = "2026-02-13 14:30:00"
	dev, _ = Convert(Input{Now: cst(2026, 2, 15, 9, 0), UserCode: "12345678", Debt: &d})
	if tm, _ := dev.Values["last_reading_time"].(time.Time); tm.Format(time.RFC3339) != "2026-02-13T14:30:00+08:00" {
		t.Errorf("last_reading_time = %v", dev.Values["last_reading_time"])
	}
}

// Quirk: the last tier's end may be non-numeric (or a sentinel): it is unbounded.
func TestQuirkNonNumericLastTierEnd(t *testing.T) {
	// Printed numeric ends of the last tier are placeholders too (before, "9999" made tier 3
	// end at 9999 m³ and tier_remaining showed 9399 m³ there).
	for _, end := range []string{`""`, `"无上限"`, `null`, `"9999999"`, `"以上"`, `"9999"`, `9999`, `"99999"`, `"1000"`, `"540"`} {
		var rows []TierWire
		raw := `[{"beginVolume":"0.0","endVolume":"360","price":"2.97"},{"beginVolume":"360","endVolume":"540","price":"3.56"},` +
			`{"beginVolume":"540","endVolume":` + end + `,"price":"4.46"}]`
		if err := json.Unmarshal([]byte(raw), &rows); err != nil {
			t.Fatal(err)
		}
		l, _ := ParseLadder(rows)
		if len(l) != 3 || !l[2].Unbounded || !math.IsInf(l[2].End, 1) {
			t.Fatalf("end %s: ladder %+v", end, l)
		}
		if got := wire.Round(l.Cost(0, 600), 2); got != 1977.6 {
			t.Errorf("end %s: cost(600) = %v, want 1977.60", end, got)
		}
		if i := l.TierAt(1e7); i != 2 {
			t.Errorf("end %s: tier of 1e7 = %d", end, i+1)
		}
	}
	// An inner tier without an end takes the next tier's begin; a missing price is refused.
	var rows []TierWire
	_ = json.Unmarshal([]byte(`[{"beginVolume":"0","endVolume":"","price":"2.97"},{"beginVolume":"360","endVolume":"x","price":"3.56"}]`), &rows)
	if l, _ := ParseLadder(rows); len(l) != 2 || l[0].End != 360 || !l[1].Unbounded {
		t.Errorf("ladder = %+v", l)
	}
	_ = json.Unmarshal([]byte(`[{"beginVolume":"0","endVolume":"360","price":""}]`), &rows)
	if l, warn := ParseLadder(rows); l != nil || len(warn) == 0 {
		t.Errorf("a tier without price gave %+v", l)
	}
}

var kunming = Ladder{{"1", 0, 360, 2.97, false}, {"2", 360, 540, 3.56, false}, {"3", 540, math.Inf(1), 4.46, true}}

func TestLadderCostAndTier(t *testing.T) {
	for _, c := range []struct {
		from, to float64
		cost     float64
		tierAtTo int
	}{
		{0, 0, 0, 1},
		{0, 27.6, 81.972, 1},
		{0, 360, 1069.2, 1}, // the boundary stays in tier 1
		{0, 400, 1211.60, 2},
		{0, 600, 1977.60, 3},
		{350, 370, 65.30, 2},  // a month crossing 360: 10 m³ at 2.97 + 10 at 3.56
		{530, 560, 124.8, 3},  // crossing 540: 10 at 3.56 + 20 at 4.46
		{300, 600, 1086.6, 3}, // crossing both: 60×2.97 + 180×3.56 + 60×4.46
		{700, 710, 44.6, 3},   // far into tier 3
		{-5, 10, 29.7, 1},     // never below 0
		{100, 90, 0, 1},       // an empty span
		{359.99, 360.01, 0.0653, 2},
	} {
		if got := wire.Round(kunming.Cost(c.from, c.to), 4); !near(got, wire.Round(c.cost, 4)) {
			t.Errorf("Cost(%g, %g) = %v, want %v", c.from, c.to, got, c.cost)
		}
		if got := kunming.TierAt(c.to) + 1; got != c.tierAtTo {
			t.Errorf("TierAt(%g) = %d, want %d", c.to, got, c.tierAtTo)
		}
	}
}

// monthlyOf builds monthly data from month → volume with the Kunming ladder.
func monthlyOf(rows map[string]float64, total string) *Monthly {
	m := &Monthly{TotalGasVolume: wire.Num{}}
	_ = json.Unmarshal([]byte(`[{"beginVolume":"0.0","endVolume":"360","price":"2.97"},{"beginVolume":"360","endVolume":"540","price":"3.56"},{"beginVolume":"540","endVolume":"9999999","price":"4.46"}]`), &m.Tiers)
	var keys []string
	for k := range rows {
		keys = append(keys, k)
	}
	// oldest first, as upstream
	for i := range keys {
		for j := i + 1; j < len(keys); j++ {
			if keys[j] < keys[i] {
				keys[i], keys[j] = keys[j], keys[i]
			}
		}
	}
	for _, k := range keys {
		m.Records = append(m.Records, MonthWire{GasYear: wire.Text(k[:4] + "年" + k[5:7] + "月"), GasVolume: wire.Num{V: rows[k], OK: true}})
	}
	if total != "" {
		_ = json.Unmarshal([]byte(`"`+total+`"`), &m.TotalGasVolume)
	}
	return m
}

// Tier pricing by the year's cumulative volume, not per month from 0.
func TestTierCostTable(t *testing.T) {
	cases := []struct {
		name  string
		now   time.Time
		start MonthDay
		rows  map[string]float64
		hist  History
		want  map[string]any
	}{
		{
			name: "a month crossing 360 is priced partly at tier 1 and partly at tier 2",
			now:  cst(2025, 10, 20, 9, 0), start: MonthDay{1, 1},
			rows: map[string]float64{"2025-01": 40, "2025-02": 40, "2025-03": 40, "2025-04": 40, "2025-05": 40,
				"2025-06": 40, "2025-07": 40, "2025-08": 40, "2025-09": 30, "2025-10": 20},
			// before October: 350 m³; October [350, 370]
			want: map[string]any{"month_volume": 20.0, "month_cost": 65.30, // HAOS: 20 × 2.97 = 59.40
				"last_month_volume": 30.0, "last_month_cost": 89.10, // [320, 350] all tier 1
				"year_volume": 370.0, "year_cost": 1104.80, "tier": "2", "unit_price": 3.56, "tier_remaining": 170.0},
		},
		{
			name: "year rollover: December is priced where it sat in last year's volume, January from 0",
			now:  cst(2026, 1, 10, 9, 0), start: MonthDay{1, 1},
			rows: map[string]float64{"2025-01": 30, "2025-02": 30, "2025-03": 30, "2025-04": 30, "2025-05": 30,
				"2025-06": 30, "2025-07": 30, "2025-08": 30, "2025-09": 30, "2025-10": 30, "2025-11": 30,
				"2025-12": 40, "2026-01": 12},
			// 2025 before December: 330; December [330, 370] of 2025's ladder
			want: map[string]any{"last_month_volume": 40.0, "last_month_cost": 124.70,
				"month_volume": 12.0, "month_cost": 35.64, "year_volume": 12.0, "year_cost": 35.64, "tier": "1",
				"unit_price": 2.97},
		},
		{
			name: "a year that has just started is tier 1 at the tier 1 price, not 0",
			now:  cst(2026, 1, 1, 0, 30), start: MonthDay{1, 1},
			rows: map[string]float64{"2025-11": 50, "2025-12": 60},
			want: map[string]any{"year_volume": 0.0, "year_cost": 0.0, "tier": "1", "unit_price": 2.97,
				"month_volume": 0.0, "month_cost": 0.0, "last_month_volume": 60.0},
		},
		{
			name: "tier_year_start 07-01 from monthly rows",
			now:  cst(2025, 9, 5, 9, 0), start: MonthDay{7, 1},
			rows: map[string]float64{"2025-05": 100, "2025-06": 100, "2025-07": 200, "2025-08": 170, "2025-09": 10},
			// year: July 200 + August 170 + September 10 = 380; August [200, 370]
			want: map[string]any{"year_volume": 380.0, "tier": "2", "last_month_volume": 170.0,
				"last_month_cost": wire.Round(160*2.97+10*3.56, 2), "month_cost": 35.6},
		},
		{
			name: "tier_year_start 03-15: March is split between last tier year and this one",
			now:  cst(2026, 4, 2, 9, 0), start: MonthDay{3, 15},
			hist: constantHistory(cst(2025, 1, 1, 0, 0), cst(2026, 4, 1, 0, 0), 5, 1000),
			// last tier year 2025-03-15..2026-03-14: 365 days × 5 = 1825; March 1–14 sits at [1755, 1825]
			// (tier 3), March 15–31 at [0, 85] of the new year (tier 1).
			want: map[string]any{"last_month_volume": 155.0, "last_month_cost": wire.Round(70*4.46+85*2.97, 2),
				"year_volume": 90.0, "month_volume": 5.0, "month_cost": wire.Round(5*2.97, 2), "tier": "1"},
		},
		{
			name: "without history, monthly rows or the upstream total the year is unknown",
			now:  cst(2026, 4, 2, 9, 0), start: MonthDay{3, 15},
			rows: map[string]float64{"2026-04": 3},
			want: map[string]any{"year_volume": nil, "year_cost": nil, "tier": nil, "month_volume": 3.0,
				"month_cost": nil},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			in := Input{Now: c.now, UserCode: "12345678", YearStart: c.start, LoggedIn: true, History: c.hist}
			if in.History == nil {
				in.History = History{}
			}
			if c.rows != nil {
				in.Monthly = monthlyOf(c.rows, "")
			} else {
				in.Monthly = monthlyOf(map[string]float64{}, "")
			}
			dev, warn := Convert(in)
			wantValues(t, dev.Values, c.want)
			if t.Failed() {
				t.Logf("values %v\nattributes %v\nwarnings %v", dev.Values, dev.Attributes, warn)
			}
		})
	}
}

// constantHistory is v m³ a day from first to last, starting at reading r0.
func constantHistory(first, last time.Time, v, r0 float64) History {
	h := History{}
	r := r0
	for d := first; !d.After(last); d = d.AddDate(0, 0, 1) {
		r += v
		vol := v
		h[d.Format(dayKey)] = DayRecord{Reading: r, Volume: &vol}
	}
	return h
}

func TestMonthDay(t *testing.T) {
	for _, bad := range []string{"", "1-1", "13-01", "02-29", "02-30", "x"} {
		if _, err := ParseMonthDay(bad); err == nil && bad != "1-1" {
			t.Errorf("ParseMonthDay(%q) accepted", bad)
		}
	}
	md := must(ParseMonthDay("03-15"))
	for now, want := range map[time.Time]string{cst(2026, 3, 15, 0, 0): "2026-03-15",
		cst(2026, 3, 14, 23, 59): "2025-03-15", cst(2026, 12, 31, 0, 0): "2026-03-15"} {
		if got := md.YearStart(now).Format(dayKey); got != want {
			t.Errorf("YearStart(%v) = %s, want %s", now, got, want)
		}
	}
}

func TestHistoryMergeKeepsHigherReadingAndPrunes(t *testing.T) {
	h := History{}
	h.Merge([]DayWire{{GasYear: "2026/02/14", GasVolume: wire.Num{V: 0.62, OK: true}, GasFee: wire.Num{V: 1215.9, OK: true}}})
	changed, _ := h.Merge([]DayWire{{GasYear: "2026/02/14", GasVolume: wire.Num{V: 0.1, OK: true}, GasFee: wire.Num{V: 1215.3, OK: true}}})
	if !changed || h["2026-02-14"].Reading != 1215.9 {
		t.Errorf("a lower reading replaced a higher one: %+v", h["2026-02-14"])
	}
	if changed, warn := h.Merge([]DayWire{{GasYear: "yesterday", GasFee: wire.Num{V: 1, OK: true}}, {GasYear: "2026/02/15"}}); changed || len(warn) != 2 {
		t.Errorf("bad rows: changed %v warnings %v", changed, warn)
	}
	big := constantHistory(cst(2020, 1, 1, 0, 0), cst(2026, 1, 1, 0, 0), 1, 0)
	if !big.Prune() || len(big) != HistoryDays+1 {
		t.Errorf("pruned to %d days", len(big))
	}
}

// The published meter reading never goes below the last one (total_increasing is honest),
// except when the meter was evidently replaced.
func TestMeterReadingNeverGoesDown(t *testing.T) {
	d := Debt{ReadingLastTime: "1200.00"}
	last := 1215.9
	dev, warn := Convert(Input{Now: cst(2026, 2, 15, 9, 0), UserCode: "12345678", Debt: &d, LastMeter: &last})
	if dev.Values["meter_reading"] != 1215.9 || len(warn) == 0 {
		t.Errorf("meter = %v (warnings %v)", dev.Values["meter_reading"], warn)
	}
	d.ReadingLastTime = "3.5" // a new meter
	dev, _ = Convert(Input{Now: cst(2026, 2, 15, 9, 0), UserCode: "12345678", Debt: &d, LastMeter: &last})
	if dev.Values["meter_reading"] != 3.5 {
		t.Errorf("replaced meter = %v", dev.Values["meter_reading"])
	}
}

func TestLoginCompany(t *testing.T) {
	l := must(ParseLogin(readTestdata(t, "login.json")))
	if l.CompanyOf().MDMCode != "9AH1" || l.RefreshToken != "eyJ.refresh" {
		t.Errorf("login = %+v company %+v", l, l.CompanyOf())
	}
	l = must(ParseLogin([]byte(`{"success":true,"data":{"token":"a","company":{"mdmCode":"9AHA"}}}`)))
	if l.CompanyOf().MDMCode != "9AHA" {
		t.Errorf("object company = %+v", l.CompanyOf())
	}
	b64 := base64.StdEncoding.EncodeToString(readTestdata(t, "login.json"))
	if l = must(ParseLogin([]byte(b64))); l.Token != "eyJ.access" {
		t.Errorf("base64 login = %+v", l)
	}
}

// The last tier has no volume left to count down, whatever end the API prints there.
func TestLastTierHasNoRemaining(t *testing.T) {
	for _, end := range []string{"9999", "99999999", "1000", ""} {
		t.Run(end, func(t *testing.T) {
			m := monthlyOf(map[string]float64{"2025-01": 300, "2025-02": 300}, "")
			if err := json.Unmarshal([]byte(`[{"beginVolume":"0","endVolume":"360","price":"2.97"},`+
				`{"beginVolume":"360","endVolume":"540","price":"3.56"},{"beginVolume":"540","endVolume":"`+end+`","price":"4.46"}]`), &m.Tiers); err != nil {
				t.Fatal(err)
			}
			dev, _ := Convert(Input{Now: cst(2025, 2, 20, 9, 0), UserCode: "12345678", YearStart: MonthDay{1, 1},
				LoggedIn: true, History: History{}, Monthly: m})
			wantValues(t, dev.Values, map[string]any{"year_volume": 600.0, "tier": "3", "unit_price": 4.46, "tier_remaining": nil})
			table := dev.Attributes["tier"]["tiers"].([]map[string]any)
			if e := table[2]["end"]; e != nil {
				t.Errorf("last tier end = %v, want null", e)
			}
		})
	}
	// An inner tier still counts down.
	dev, _ := Convert(Input{Now: cst(2025, 2, 20, 9, 0), UserCode: "12345678", YearStart: MonthDay{1, 1},
		LoggedIn: true, History: History{}, Monthly: monthlyOf(map[string]float64{"2025-01": 200, "2025-02": 200}, "")})
	wantValues(t, dev.Values, map[string]any{"tier": "2", "tier_remaining": 140.0})
}
