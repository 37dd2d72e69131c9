package telecom

// Wire → model. Pure functions: no I/O, no clock (the caller passes the time).

import (
	"encoding/json"
	"errors"
	"math"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/accountbridge/accountbridge/internal/logging"
	"github.com/accountbridge/accountbridge/internal/providers"
	"github.com/accountbridge/accountbridge/internal/providers/wire"
)

// Wire types of qryImportantData (docs/telecom.md, "Protocol: queries"); only what is used.
type importantData struct {
	BalanceInfo  wire.Opt[balanceInfo]  `json:"balanceInfo"`
	FlowInfo     wire.Opt[flowInfo]     `json:"flowInfo"`
	VoiceInfo    wire.Opt[voiceInfo]    `json:"voiceInfo"`
	IntegralInfo wire.Opt[integralInfo] `json:"integralInfo"`
}

type balanceInfo struct {
	Index wire.Opt[struct {
		Balance wire.Text `json:"balance"`
		Arrear  wire.Text `json:"arrear"`
	}] `json:"indexBalanceDataInfo"`
	Bill wire.Opt[struct {
		SubTitleHh wire.Text `json:"subTitleHh"`
	}] `json:"phoneBillRegion"`
}

type amount struct {
	Total   wire.Text `json:"total"`
	Balance wire.Text `json:"balance"`
	Used    wire.Text `json:"used"`
	Over    wire.Text `json:"over"`
}

type flowInfo struct {
	TotalAmount   wire.Opt[amount]     `json:"totalAmount"`
	CommonFlow    wire.Opt[amount]     `json:"commonFlow"`
	SpecialAmount wire.Opt[amount]     `json:"specialAmount"`
	FlowList      wire.List[flowEntry] `json:"flowList"`
}

type flowEntry struct {
	Title         wire.Text `json:"title"`
	LeftTitle     wire.Text `json:"leftTitle"`
	LeftTitleHh   wire.Text `json:"leftTitleHh"`
	RightTitle    wire.Text `json:"rightTitle"`
	RightTitleHh  wire.Text `json:"rightTitleHh"`
	RightTitleEnd wire.Text `json:"rightTitleEnd"`
}

type voiceInfo struct {
	VoiceDataInfo wire.Opt[amount] `json:"voiceDataInfo"`
}

type integralInfo struct {
	Integral wire.Text `json:"integral"`
}

// Wire types of userFluxPackage (docs/telecom.md, "Protocol: queries").
type fluxPackageData struct {
	Main wire.Opt[struct {
		Name wire.Text `json:"productOFFName"`
	}] `json:"mainProductOFFInfo"`
	Ratable wire.Opt[struct {
		Groups wire.List[packageGroup] `json:"ratableResourcePackages"`
	}] `json:"productOFFRatable"`
}

type packageGroup struct {
	Title    wire.Text              `json:"title"`
	Products wire.List[productInfo] `json:"productInfos"`
}

type productInfo struct {
	Title            wire.Text `json:"title"`
	LeftTitle        wire.Text `json:"leftTitle"`
	LeftHighlight    wire.Text `json:"leftHighlight"`
	RightTitle       wire.Text `json:"rightTitle"`
	RightHighlight   wire.Text `json:"rightHighlight"`
	RightCommon      wire.Text `json:"rightCommon"`
	OutOfServiceTime wire.Text `json:"outOfServiceTime"`
	IsInvalid        wire.Text `json:"isInvalid"`
	IsInfiniteAmount wire.Text `json:"isInfiniteAmount"`
	InfiniteValue    wire.Text `json:"infiniteValue"`
	InfiniteUnit     wire.Text `json:"infiniteUnit"`
}

// Wire types of qryShareUsage (docs/telecom.md, "Protocol: queries").
type shareData struct {
	Phones wire.List[struct {
		SharePhoneNum wire.Text `json:"sharePhoneNum"`
	}] `json:"sharePhoneBeans"`
	Types wire.List[struct {
		ShareType wire.Text `json:"shareType"`
		Infos     wire.List[struct {
			Amounts wire.List[struct {
				PhoneNum    wire.Text `json:"phoneNum"`
				UsageAmount wire.Text `json:"usageAmount"`
			}] `json:"shareUsageAmounts"`
		}] `json:"shareUsageInfos"`
	}] `json:"shareTypeBeans"`
}

// ---- number parsing -------------------------------------------------------------------

var errNumber = errors.New("not a number")

// decimal parses "[-]123.456" (commas allowed as thousands separators) into its integer
// part and up to 9 fraction digits, exactly.
func decimal(s string) (neg bool, whole int64, frac int64, scale int64, err error) {
	s = strings.TrimSpace(s)
	if strings.IndexByte(s, ',') >= 0 {
		s = strings.ReplaceAll(s, ",", "")
	}
	if s == "" {
		return false, 0, 0, 1, errNumber
	}
	if s[0] == '-' || s[0] == '+' {
		neg = s[0] == '-'
		s = s[1:]
	}
	ip, fp, _ := strings.Cut(s, ".")
	if ip == "" && fp == "" {
		return false, 0, 0, 1, errNumber
	}
	scale = 1
	for i := 0; i < len(ip); i++ {
		c := ip[i]
		if c < '0' || c > '9' || whole > (math.MaxInt64-9)/10 {
			return false, 0, 0, 1, errNumber
		}
		whole = whole*10 + int64(c-'0')
	}
	for i := 0; i < len(fp); i++ {
		c := fp[i]
		if c < '0' || c > '9' {
			return false, 0, 0, 1, errNumber
		}
		if i < 9 {
			frac = frac*10 + int64(c-'0')
			scale *= 10
		}
	}
	return neg, whole, frac, scale, nil
}

// scaled returns floor(|v| * mult) with the sign of v, exactly, for mult ≤ 2^30.
func scaled(s string, mult int64) (int64, bool) {
	neg, whole, frac, scale, err := decimal(s)
	if err != nil || whole > math.MaxInt64/mult {
		return 0, false
	}
	v := whole*mult + frac*mult/scale
	if neg {
		v = -v
	}
	return v, true
}

// parseInt parses an integer field (KB, minutes, points); a fraction is cut off. "" is absent.
func parseInt(s wire.Text) (int64, bool) { return scaled(string(s), 1) }

// parseFen parses yuan ("0.29", "19.99", "-3.5") into fen, exactly; a third decimal rounds
// half away from zero.
func parseFen(s wire.Text) (int64, bool) {
	neg, whole, frac, scale, err := decimal(string(s))
	if err != nil || whole > math.MaxInt64/100-1 {
		return 0, false
	}
	f := whole * 100
	switch {
	case scale <= 100:
		f += frac * (100 / scale)
	default:
		d := scale / 100
		f += frac / d
		if frac%d*2 >= d {
			f++
		}
	}
	if neg {
		f = -f
	}
	return f, true
}

var unitKB = map[string]int64{"KB": 1, "MB": 1 << 10, "GB": 1 << 20, "TB": 1 << 30}

// parseKB parses "286.54MB", "19.72GB", "0KB", "2TB" (1024-based) into whole KB, exactly
// (floor of the fraction, like the original's int()). A bare number is KB already.
func parseKB(s string) (int64, bool) {
	s = strings.TrimSpace(s)
	if len(s) >= 2 {
		if m, ok := unitKB[strings.ToUpper(s[len(s)-2:])]; ok {
			return scaled(s[:len(s)-2], m)
		}
	}
	return scaled(s, 1)
}

// volumeRe finds "<number><unit>" in a throttle text. The optional suffix tells a speed
// ("1Mbps", "512Kb/s", "1MB/s", "2Mbit/s", "1M每秒") from a volume ("40GB").
var volumeRe = regexp.MustCompile(`(?i)(\d+(?:\.\d+)?)\s*([KMGT]B)(ps|/s|/秒|每秒|it)?`)

// capVolume returns the first volume named in a throttle text such as "40GB后降速" or
// "降速至1Mbps(超40GB后)", in KB. A speed is never a volume: it is skipped, and a text
// that names only a speed has no cap.
func capVolume(s string) (int64, bool) {
	for _, m := range volumeRe.FindAllStringSubmatch(s, -1) {
		if m[3] != "" {
			continue // a speed
		}
		return parseKB(m[1] + m[2])
	}
	return 0, false
}

// ---- conversion -----------------------------------------------------------------------

// unlimitedKB: a total above 100 TiB is an "unlimited" plan's placeholder, not a quota.
const unlimitedKB = 100 << 30

const kbPerGiB = 1 << 20

func gib(kb int64) float64 { return float64(kb) / kbPerGiB }

// usage is one amount block made consistent: used, remaining and quota, each possibly absent.
type usage struct {
	used, remaining, total, over    int64
	hasUsed, hasRem, hasTot, hasOve bool
	unlimited                       bool
}

// usageOf applies the rules of docs/telecom.md, "Protocol: queries": totals are used + balance (minus the overage, which
// is counted in used when over quota); remaining is never negative; a total above 100 TiB
// means unlimited (no total, no remaining).
// Voice (preferTotal) has no overage field: its quota is the total field when present.
func usageOf(a *amount, preferTotal bool) usage {
	var u usage
	if a == nil {
		return u
	}
	u.used, u.hasUsed = parseInt(a.Used)
	bal, hasBal := parseInt(a.Balance)
	u.over, u.hasOve = parseInt(a.Over)
	tot, hasTot := parseInt(a.Total)
	if u.hasOve && u.over < 0 {
		u.over = 0
	}
	switch {
	case preferTotal && hasTot:
		u.total, u.hasTot = max(tot, 0), true
	case u.hasUsed && hasBal:
		u.total, u.hasTot = max(u.used+max(bal, 0)-u.over, 0), true
	case hasTot:
		u.total, u.hasTot = max(tot, 0), true
	}
	switch {
	case hasBal:
		u.remaining, u.hasRem = max(bal, 0), true
	case u.hasTot && u.hasUsed:
		u.remaining, u.hasRem = max(u.total-u.used, 0), true
	}
	if u.hasTot && u.total > unlimitedKB || hasTot && tot > unlimitedKB || hasBal && bal > unlimitedKB {
		u.unlimited = true
		u.hasTot, u.hasRem = false, false
	}
	return u
}

// Input is everything one poll fetched.
type Input struct {
	DeviceID string
	Phone    string
	Now      time.Time
	Data     *importantData
	Packages *fluxPackageData // nil: not fetched
	Share    *shareData       // nil: not fetched
	WithPlan bool             // packages enabled: the plan entity exists
	WithShr  bool             // share_usage enabled: the members entity exists
}

func sensor(key, name, class, state, unit string, prec int, icon string) providers.Entity {
	e := providers.Entity{Key: key, Name: name, Component: providers.Sensor, DeviceClass: class,
		StateClass: state, Unit: unit, Icon: icon}
	if prec >= 0 {
		e.Precision = providers.Precision(prec)
	}
	return e
}

func money(key, name, icon string) providers.Entity {
	return sensor(key, name, "monetary", "total", "CNY", 2, icon)
}

func data(key, name, state string) providers.Entity {
	return sensor(key, name, "data_size", state, "GiB", 2, "")
}

func voice(key, name, state string) providers.Entity {
	return sensor(key, name, "duration", state, "min", 0, "mdi:phone")
}

// Entities lists every entity of a telecom device for the given options. Keys are part
// of Home Assistant's unique ids: never change them.
//
// The four lists are built once and shared (providers.InternEntities): the result must not
// be modified; append to slices.Clip(result).
func Entities(withPlan, withShare bool) []providers.Entity {
	return entityLists()[b2i(withPlan)][b2i(withShare)]
}

var entityLists = sync.OnceValue(func() (l [2][2][]providers.Entity) {
	for _, plan := range []bool{false, true} {
		for _, share := range []bool{false, true} {
			l[b2i(plan)][b2i(share)] = providers.InternEntities(buildEntities(plan, share))
		}
	}
	return l
})

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

func buildEntities(withPlan, withShare bool) []providers.Entity {
	es := []providers.Entity{
		money("balance", "Balance", "mdi:cash"),
		money("arrears", "Arrears", "mdi:cash-minus"),
		money("month_spend", "Spending this month", "mdi:cash-clock"),
		voice("voice_used", "Voice used", "total_increasing"),
		voice("voice_remaining", "Voice remaining", "measurement"),
		voice("voice_total", "Voice total", "measurement"),
		data("data_used", "Data used", "total_increasing"),
		data("data_remaining", "Data remaining", "measurement"),
		data("data_total", "Data total", "measurement"),
		data("data_over", "Data over quota", "total_increasing"),
		sensor("data_used_percent", "Data used percent", "", "measurement", "%", 1, "mdi:percent"),
		data("common_used", "Common data used", "total_increasing"),
		data("common_remaining", "Common data remaining", "measurement"),
		data("common_total", "Common data total", "measurement"),
		data("special_used", "Special data used", "total_increasing"),
		data("special_remaining", "Special data remaining", "measurement"),
		data("special_total", "Special data total", "measurement"),
		{Key: "throttled", Name: "Throttled", Component: providers.BinarySensor, Icon: "mdi:speedometer-slow", Attributes: true},
		sensor("points", "Points", "", "measurement", "", 0, "mdi:trophy"),
	}
	es[6].Attributes = true // data_used carries the per-item / per-package detail
	if withPlan {
		es = append(es, sensor("plan", "Plan", "", "", "", -1, "mdi:sim"))
	}
	if withShare {
		m := sensor("share_members", "Shared plan members", "", "measurement", "", 0, "mdi:account-multiple")
		m.Attributes = true
		es = append(es, m)
	}
	upd := sensor("updated", "Data updated", "timestamp", "", "", -1, "mdi:clock-check")
	upd.Category = providers.CategoryDiagnostic
	upd.Topic = providers.PollTopic // the fetch time changes on every poll: not in the state
	return append(es, upd)
}

// Convert builds the telecom device of one poll. Absent upstream values stay absent.
func Convert(in Input) providers.Device {
	entities := Entities(in.WithPlan, in.WithShr)
	dev := providers.Device{
		ID:           in.DeviceID,
		Name:         "China Telecom " + logging.MaskPhoneNumber(in.Phone),
		Manufacturer: "China Telecom",
		Model:        "Mobile plan",
		Entities:     entities,
		// At most a value per entity: sized once instead of grown twice on every poll.
		Values:     make(map[string]any, len(entities)),
		Attributes: make(map[string]map[string]any, 2),
	}
	v := dev.Values
	v["updated"] = in.Now.In(wire.CST).Truncate(time.Second)
	d := in.Data
	if d == nil {
		d = &importantData{}
	}
	if bi := d.BalanceInfo.V; bi != nil {
		if idx := bi.Index.V; idx != nil {
			if f, ok := parseFen(idx.Balance); ok {
				v["balance"] = float64(f) / 100
			}
			if f, ok := parseFen(idx.Arrear); ok {
				v["arrears"] = float64(f) / 100
			}
		}
		if bill := bi.Bill.V; bill != nil {
			if f, ok := parseFen(wire.Text(strings.TrimSuffix(strings.TrimSpace(string(bill.SubTitleHh)), "元"))); ok {
				v["month_spend"] = float64(f) / 100
			}
		}
	}
	if ii := d.IntegralInfo.V; ii != nil {
		if n, ok := parseInt(ii.Integral); ok {
			v["points"] = n
		}
	}
	if vi := d.VoiceInfo.V; vi != nil {
		u := usageOf(vi.VoiceDataInfo.V, true)
		setUsage(v, "voice", u, func(n int64) any { return n })
	}
	if fi := d.FlowInfo.V; fi != nil {
		total := usageOf(fi.TotalAmount.V, false)
		setUsage(v, "data", total, func(n int64) any { return gib(n) })
		if total.hasOve {
			v["data_over"] = gib(total.over)
		}
		if total.hasUsed && total.hasTot && total.total > 0 {
			v["data_used_percent"] = math.Round(float64(total.used)/float64(total.total)*1000) / 10
		}
		setUsage(v, "common", usageOf(fi.CommonFlow.V, false), func(n int64) any { return gib(n) })
		setUsage(v, "special", usageOf(fi.SpecialAmount.V, false), func(n int64) any { return gib(n) })

		attrs := map[string]any{}
		if total.unlimited {
			attrs["unlimited"] = true
		}
		items := make([]any, 0, len(fi.FlowList))
		throttled, capKB, hasCap := false, int64(0), false
		for _, it := range fi.FlowList {
			fl, ok := flowItemOf(it)
			if !ok {
				continue
			}
			m := map[string]any{"name": fl.name}
			if fl.hasUsed {
				m["used_gib"] = wire.Round(gib(fl.used), 3)
			}
			if fl.hasRem {
				m["remaining_gib"] = wire.Round(gib(fl.remaining), 3)
			}
			if fl.hasTot {
				m["total_gib"] = wire.Round(gib(fl.total), 3)
			}
			if fl.over > 0 {
				m["over_gib"] = wire.Round(gib(fl.over), 3)
			}
			if fl.speedCap {
				m["speed_cap_gib"] = wire.Round(gib(fl.total), 3)
				hasCap, capKB = true, max(capKB, fl.total)
				if fl.hasUsed && fl.used >= fl.total {
					throttled = true
				}
			}
			if fl.unlimited {
				m["unlimited"] = true
			}
			items = append(items, m)
		}
		attrs["items"] = items
		if in.Packages != nil {
			attrs["packages"] = packagesOf(in.Packages)
		}
		dev.Attributes["data_used"] = attrs
		v["throttled"] = throttled
		if hasCap {
			dev.Attributes["throttled"] = map[string]any{"speed_cap_gib": wire.Round(gib(capKB), 3)}
		}
	}
	if in.WithPlan && in.Packages != nil {
		if m := in.Packages.Main.V; m != nil && m.Name != "" {
			v["plan"] = string(m.Name)
		}
	}
	if in.WithShr && in.Share != nil {
		members := membersOf(in.Share)
		v["share_members"] = len(members)
		dev.Attributes["share_members"] = map[string]any{"members": members}
	}
	return dev
}

func setUsage(v map[string]any, prefix string, u usage, conv func(int64) any) {
	if u.hasUsed {
		v[prefix+"_used"] = conv(u.used)
	}
	if u.hasRem {
		v[prefix+"_remaining"] = conv(u.remaining)
	}
	if u.hasTot {
		v[prefix+"_total"] = conv(u.total)
	}
}

// flowItem is one flowList entry read for the entities (never negative).
type flowItem struct {
	name                                string
	used, remaining, total, over        int64
	hasUsed, hasRem, hasTot, speedCap   bool
	unlimited                           bool
	compatUse, compatBalance, compatTot int64 // the /summary numbers
	compat                              bool
}

// flowItemOf reads one flowList line (docs/telecom.md, "Protocol: data amounts in flowList"), with exact number parsing.
func flowItemOf(it flowEntry) (flowItem, bool) {
	title := string(it.Title)
	if !strings.Contains(title, "流量") {
		return flowItem{}, false
	}
	fl := flowItem{name: title}
	left, right := string(it.LeftTitle), string(it.RightTitle)
	switch {
	case strings.Contains(left, "已用") && strings.Contains(right, "剩余"):
		fl.used, fl.hasUsed = parseKB(string(it.LeftTitleHh))
		fl.remaining, fl.hasRem = parseKB(string(it.RightTitleHh))
		if fl.hasUsed && fl.hasRem {
			fl.remaining = max(fl.remaining, 0)
			fl.total, fl.hasTot = fl.used+fl.remaining, true
			fl.compat, fl.compatUse, fl.compatBalance, fl.compatTot = true, fl.used, fl.remaining, fl.total
		}
	case strings.Contains(left, "超出") && strings.Contains(string(it.RightTitleEnd), "/"):
		over, okO := parseKB(string(it.LeftTitleHh))
		_, after, _ := strings.Cut(string(it.RightTitleEnd), "/")
		quota, okQ := parseKB(after)
		if okO && okQ {
			over = max(over, 0)
			fl.over, fl.total, fl.hasTot = over, quota, true
			fl.used, fl.hasUsed = quota+over, true
			fl.remaining, fl.hasRem = 0, true
			fl.compat, fl.compatBalance, fl.compatUse = true, -over, quota+over
			fl.compatTot = fl.compatUse + fl.compatBalance
		}
	case strings.Contains(left, "已用") && strings.Contains(right, "降速"):
		capKB, okC := capVolume(right)
		fl.used, fl.hasUsed = parseKB(string(it.LeftTitleHh))
		if okC {
			fl.speedCap, fl.total, fl.hasTot = true, capKB, true
			if fl.hasUsed {
				fl.remaining, fl.hasRem = max(capKB-fl.used, 0), true
				fl.compat, fl.compatTot, fl.compatUse, fl.compatBalance = true, capKB, fl.used, capKB-fl.used
			}
		}
	case strings.Contains(left, "已用"):
		// Unlimited "畅享": only the used side; no total, no remaining.
		fl.used, fl.hasUsed = parseKB(string(it.LeftTitleHh))
		fl.unlimited = right == "" && string(it.RightTitleHh) == ""
	}
	if !fl.hasUsed && !fl.hasTot {
		return flowItem{}, false
	}
	return fl, true
}

func packagesOf(p *fluxPackageData) []any {
	out := []any{}
	r := p.Ratable.V
	if r == nil {
		return out
	}
	for _, g := range r.Groups {
		for _, pi := range g.Products {
			if pi.IsInvalid == "1" || pi.Title == "" {
				continue
			}
			m := map[string]any{"name": string(pi.Title)}
			if g.Title != "" {
				m["group"] = string(g.Title)
			}
			if pi.IsInfiniteAmount == "1" {
				m["unlimited"] = true
				if kb, ok := parseKB(string(pi.InfiniteValue) + strings.ToUpper(string(pi.InfiniteUnit))); ok && pi.InfiniteValue != "" {
					m["used_gib"] = wire.Round(gib(kb), 3)
				}
			} else {
				used, okU := parseKB(string(pi.LeftHighlight))
				rem, okR := parseKB(string(pi.RightHighlight))
				tc := strings.TrimLeft(strings.TrimSpace(string(pi.RightCommon)), "/共")
				tot, okT := parseKB(tc)
				if okU && strings.Contains(string(pi.LeftTitle), "已用") {
					m["used_gib"] = wire.Round(gib(max(used, 0)), 3)
				}
				if okR {
					m["remaining_gib"] = wire.Round(gib(max(rem, 0)), 3)
				}
				if okT {
					m["total_gib"] = wire.Round(gib(max(tot, 0)), 3)
				}
			}
			if exp := string(pi.OutOfServiceTime); exp != "" {
				if _, after, ok := strings.Cut(exp, "："); ok {
					exp = after
				}
				if t, err := time.ParseInLocation("2006-01-02 15:04:05", strings.TrimSpace(exp), wire.CST); err == nil {
					m["expires"] = t.Format(time.RFC3339)
				}
			}
			out = append(out, m)
		}
	}
	return out
}

func membersOf(s *shareData) []any {
	type acc struct {
		data, voice       int64
		hasData, hasVoice bool
	}
	order := []string{}
	seen := map[string]*acc{}
	add := func(p string) *acc {
		if a, ok := seen[p]; ok {
			return a
		}
		a := &acc{}
		seen[p] = a
		order = append(order, p)
		return a
	}
	for _, b := range s.Phones {
		if p := Shift(string(b.SharePhoneNum), -2); p != "" {
			add(p)
		}
	}
	for _, t := range s.Types {
		for _, info := range t.Infos {
			for _, am := range info.Amounts {
				p := Shift(string(am.PhoneNum), -2)
				n, ok := parseInt(am.UsageAmount)
				if p == "" || !ok {
					continue
				}
				a := add(p)
				switch {
				case strings.Contains(string(t.ShareType), "流量"):
					a.data, a.hasData = a.data+max(n, 0), true
				case strings.Contains(string(t.ShareType), "语音"):
					a.voice, a.hasVoice = a.voice+max(n, 0), true
				}
			}
		}
	}
	out := make([]any, 0, len(order))
	for _, p := range order {
		a := seen[p]
		m := map[string]any{"number": logging.MaskPhoneNumber(p)}
		if a.hasData {
			m["data_used_gib"] = wire.Round(gib(a.data), 3)
		}
		if a.hasVoice {
			m["voice_used_min"] = a.voice
		}
		out = append(out, m)
	}
	return out
}

// ---- the legacy /summary JSON (docs/telecom.md, "Protocol: the /summary rules") -------

// Summary has exactly the fields, order and units of the original /summary: balance in
// fen, voice in minutes, flows in KB. Numbers are computed exactly (no float truncation).
type Summary struct {
	PhoneNum     string        `json:"phonenum"`
	Balance      int64         `json:"balance"`
	VoiceUsage   int64         `json:"voiceUsage"`
	VoiceBalance int64         `json:"voiceBalance"`
	VoiceTotal   int64         `json:"voiceTotal"`
	FlowUse      int64         `json:"flowUse"`
	FlowTotal    int64         `json:"flowTotal"`
	FlowOver     int64         `json:"flowOver"`
	CommonUse    int64         `json:"commonUse"`
	CommonTotal  int64         `json:"commonTotal"`
	CommonOver   int64         `json:"commonOver"`
	SpecialUse   int64         `json:"specialUse"`
	SpecialTotal int64         `json:"specialTotal"`
	CreateTime   string        `json:"createTime"`
	FlowItems    []SummaryItem `json:"flowItems"`
}

// summaryTimeLayout is createTime's format, fixed-width: the provider patches it in place.
const summaryTimeLayout = "2006-01-02 15:04:05"

// SummaryItem is one flowItems entry; balance is negative when over quota, as in the original.
type SummaryItem struct {
	Name    string `json:"name"`
	Use     int64  `json:"use"`
	Balance int64  `json:"balance"`
	Total   int64  `json:"total"`
}

// intOr0 is the original's int(x or 0), exact.
func intOr0(s wire.Text) int64 {
	v, _ := parseInt(s)
	return v
}

// BuildSummary computes the /summary object (docs/telecom.md, "Protocol: the /summary rules") from qryImportantData.
func BuildSummary(phone string, d *importantData, now time.Time) Summary {
	s := Summary{PhoneNum: phone, CreateTime: now.In(wire.CST).Format(summaryTimeLayout), FlowItems: []SummaryItem{}}
	if d == nil {
		return s
	}
	if bi := d.BalanceInfo.V; bi != nil && bi.Index.V != nil {
		s.Balance, _ = parseFen(bi.Index.V.Balance)
	}
	if vi := d.VoiceInfo.V; vi != nil && vi.VoiceDataInfo.V != nil {
		a := vi.VoiceDataInfo.V
		s.VoiceUsage, s.VoiceBalance, s.VoiceTotal = intOr0(a.Used), intOr0(a.Balance), intOr0(a.Total)
	}
	fi := d.FlowInfo.V
	if fi == nil {
		return s
	}
	if a := fi.TotalAmount.V; a != nil {
		s.FlowUse, s.FlowTotal, s.FlowOver = intOr0(a.Used), intOr0(a.Used)+intOr0(a.Balance), intOr0(a.Over)
	}
	if a := fi.CommonFlow.V; a != nil {
		s.CommonUse, s.CommonTotal, s.CommonOver = intOr0(a.Used), intOr0(a.Used)+intOr0(a.Balance), intOr0(a.Over)
	}
	if a := fi.SpecialAmount.V; a != nil {
		s.SpecialUse, s.SpecialTotal = intOr0(a.Used), intOr0(a.Used)+intOr0(a.Balance)
	}
	for _, it := range fi.FlowList {
		fl, ok := flowItemOf(it)
		if !ok || !fl.compat {
			continue
		}
		s.FlowItems = append(s.FlowItems, SummaryItem{Name: fl.name, Use: fl.compatUse, Balance: fl.compatBalance, Total: fl.compatTot})
	}
	return s
}

// SummaryJSON is the payload of <base>/<device>/summary.
func SummaryJSON(phone string, d *importantData, now time.Time) []byte {
	b, _ := json.Marshal(BuildSummary(phone, d, now)) // cannot fail: plain types
	return b
}
