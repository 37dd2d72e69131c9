package gas

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/accountbridge/accountbridge/internal/logging"
	"github.com/accountbridge/accountbridge/internal/providers"
	"github.com/accountbridge/accountbridge/internal/providers/wire"
)

// maxNum bounds believable gas numbers (m³, CNY), tighter than wire.MaxNum.
const maxNum = 1e12

// ---------------------------------------------------------------------------------------
// Wire types (docs/gas.md, "Protocol: responses and quirks").

// Debt is the data of getUserDebtByUserCode (open) and getUserDebt (close).
type Debt struct {
	AccountID         wire.Text     `json:"accountId"`
	UserCode          wire.Text     `json:"userCode"`
	CustomerName      wire.Text     `json:"customerName"`
	Address           wire.Text     `json:"address"`
	Balance           wire.Num      `json:"remoteMeterBalance"`
	EndBalance        wire.Num      `json:"endBalance"` // the H5 API's name for the balance
	MeterType         wire.Text     `json:"meterType"`
	MDMCode           wire.Text     `json:"mdmCode"`
	ReadingLastTime   wire.Text     `json:"readingLastTime"` // a reading ("1215.90") or a time
	LastCommunication wire.Text     `json:"remoteMeterLastCommunicationTime"`
	OweAmount         wire.Num      `json:"oweAmount"`
	UserCodeList      []UserCodeRef `json:"userCodeList"` // close call only
}

// UserCodeRef links the logged-in user to one 户号; ID is the userCodeId of payments.
type UserCodeRef struct {
	ID       wire.Text `json:"id"`
	UserCode wire.Text `json:"userCode"`
}

// Payments is the data of getPaymentRecordList; records are newest first.
type Payments struct {
	CustomerName wire.Text `json:"customerName"`
	RecordsCount wire.Num  `json:"recordsCount"`
	Records      []Payment `json:"recordsInfoList"`
}

// Payment is one payment record.
type Payment struct {
	Date      wire.Text `json:"operationDate"`
	Time      wire.Text `json:"operationTime"`
	Amount    wire.Num  `json:"payAmount"`
	Org       wire.Text `json:"payOrgDesc"`
	Source    wire.Text `json:"paySourceDesc"`
	Status    wire.Text `json:"payStatusDesc"`
	ItemType  wire.Text `json:"payItemType"`
	OweAmount wire.Num  `json:"oweAmount"`
}

// Monthly is the (base64-wrapped) data of getMonthlyTotalGasVolume.
type Monthly struct {
	Address        wire.Text   `json:"address"`
	CustomerName   wire.Text   `json:"customerName"`
	BadgeNumber    wire.Text   `json:"badgeNumber"`
	Tiers          []TierWire  `json:"rateItemInfo"`
	Records        []MonthWire `json:"recordsInfo"` // oldest first
	TotalGasVolume wire.Num    `json:"totalGasVolume"`
}

// TierWire is one row of the tier table; the last End may be non-numeric.
type TierWire struct {
	Begin wire.Num  `json:"beginVolume"`
	End   wire.Num  `json:"endVolume"`
	Price wire.Num  `json:"price"`
	Name  wire.Text `json:"rateName"`
}

// MonthWire is one monthly row: GasYear "2025年08月", GasVolume m³.
type MonthWire struct {
	GasYear   wire.Text `json:"gasYear"`
	GasVolume wire.Num  `json:"gasVolume"`
	GasFee    wire.Num  `json:"gasFee"` // doubtful meaning (probably a reading); not used
}

// Daily is the data of smartMeterGasDaysRecords; records are newest first.
type Daily struct {
	Records []DayWire `json:"recordsInfo"`
}

// DayWire is one daily row: GasYear is the date "2026/02/14", GasFee the cumulative meter
// reading in m³ (not money).
type DayWire struct {
	GasYear   wire.Text `json:"gasYear"`
	GasVolume wire.Num  `json:"gasVolume"`
	GasFee    wire.Num  `json:"gasFee"`
}

// Login is the data of passwordLogin.
type Login struct {
	Token        wire.Text       `json:"token"`
	RefreshToken wire.Text       `json:"refreshToken"`
	Company      json.RawMessage `json:"company"` // a JSON string holding an object, or an object
}

// Company is the login's company block.
type Company struct {
	ID      wire.Text `json:"id"`
	Name    wire.Text `json:"name"`
	MDMCode wire.Text `json:"mdmCode"`
}

// ---------------------------------------------------------------------------------------
// Envelope.

// UpstreamError is a JSON answer with success false.
type UpstreamError struct {
	Code    string
	Message string
}

func (e *UpstreamError) Error() string {
	msg := e.Message
	if msg == "" {
		msg = "success:false without a message"
	}
	if e.Code != "" {
		return fmt.Sprintf("upstream said %q (code %s)", msg, e.Code)
	}
	return fmt.Sprintf("upstream said %q", msg)
}

type envelope struct {
	Code            wire.Text       `json:"code"`
	Success         *bool           `json:"success"`
	SuccessWithData *bool           `json:"successWithData"`
	Message         wire.Text       `json:"message"`
	Msg             wire.Text       `json:"msg"`
	Data            json.RawMessage `json:"data"`
}

// maxBody bounds what is read from (and decoded out of) one response.
const maxBody = 8 << 20

// DecodeEnvelope returns the data of a response body. A body that does not start with '{'
// is base64 of the whole JSON envelope (getMonthlyTotalGasVolume, sometimes the login).
// success:false comes back as *UpstreamError.
func DecodeEnvelope(body []byte) (json.RawMessage, error) {
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 {
		return nil, errors.New("empty response body")
	}
	if trimmed[0] != '{' {
		dec, err := decodeBase64(trimmed)
		if err != nil {
			return nil, fmt.Errorf("response is neither JSON nor base64: %w", err)
		}
		trimmed = bytes.TrimSpace(dec)
		if len(trimmed) == 0 || trimmed[0] != '{' {
			return nil, errors.New("base64 response does not hold a JSON object")
		}
	}
	var env envelope
	if err := json.Unmarshal(trimmed, &env); err != nil {
		return nil, fmt.Errorf("response is not valid JSON: %w", err)
	}
	ok := (env.Success != nil && *env.Success) || (env.SuccessWithData != nil && *env.SuccessWithData)
	if !ok {
		msg := string(env.Message)
		if msg == "" {
			msg = string(env.Msg)
		}
		return nil, &UpstreamError{Code: string(env.Code), Message: logging.CutRunes(msg, 200)}
	}
	if len(env.Data) == 0 || string(env.Data) == "null" {
		return nil, errors.New("response has no data")
	}
	return env.Data, nil
}

func decodeBase64(b []byte) ([]byte, error) {
	// Python's b64decode skips newlines; so do we (and any other whitespace).
	clean := bytes.Map(func(r rune) rune {
		switch r {
		case '\n', '\r', ' ', '\t':
			return -1
		}
		return r
	}, b)
	if len(clean) > maxBody {
		return nil, errors.New("too large")
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if out, err := enc.DecodeString(string(clean)); err == nil {
			return out, nil
		}
	}
	return nil, errors.New("invalid base64")
}

func parseData[T any](body []byte, what string) (T, error) {
	var v T
	data, err := DecodeEnvelope(body)
	if err != nil {
		return v, err
	}
	if err := json.Unmarshal(data, &v); err != nil {
		return v, fmt.Errorf("%s: unexpected data: %w", what, err)
	}
	return v, nil
}

// ParseDebt, ParsePayments, ParseMonthly, ParseDaily and ParseLogin decode one response
// body each. They never panic, whatever the input.
func ParseDebt(body []byte) (Debt, error)         { return parseData[Debt](body, "balance") }
func ParsePayments(body []byte) (Payments, error) { return parseData[Payments](body, "payments") }
func ParseMonthly(body []byte) (Monthly, error)   { return parseData[Monthly](body, "monthly") }
func ParseDaily(body []byte) (Daily, error)       { return parseData[Daily](body, "daily") }
func ParseLogin(body []byte) (Login, error)       { return parseData[Login](body, "login") }

// CompanyOf reads the login's company, which is a JSON string holding an object or an object.
func (l Login) CompanyOf() Company {
	var c Company
	raw := bytes.TrimSpace(l.Company)
	if len(raw) > 0 && raw[0] == '"' {
		var s string
		if json.Unmarshal(raw, &s) != nil {
			return c
		}
		raw = []byte(s)
	}
	_ = json.Unmarshal(raw, &c)
	return c
}

// ---------------------------------------------------------------------------------------
// Dates and times.

var timeLayouts = []string{
	"2006-01-02 15:04:05",
	"2006-01-02 15:04:05.999999999",
	"2006-01-02 15:04",
	"2006/01/02 15:04:05",
	"2006/01/02 15:04",
	"2006-01-02T15:04:05",
	"2006-01-02T15:04:05.999999999",
	"2006年1月2日 15:04:05",
	"2006年1月2日 15:04",
	"2006年1月2日15:04",
	"2006-01-02",
	"2006/01/02",
}

// ParseTime reads an upstream time: naive Beijing time gets +08:00; a time with an explicit
// offset (or Z) keeps it and is shown in Beijing time.
func ParseTime(s string) (time.Time, bool) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, false
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t.In(wire.CST), true
	}
	for _, l := range timeLayouts {
		if t, err := time.ParseInLocation(l, s, wire.CST); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}

var (
	dayRe   = regexp.MustCompile(`^\s*(\d{4})[/\-.年](\d{1,2})[/\-.月](\d{1,2})`)
	monthRe = regexp.MustCompile(`^\s*(\d{4})\s*[/\-.年]\s*(\d{1,2})\s*月?\s*$`)
)

func date(y, m, d int) (time.Time, bool) {
	t := time.Date(y, time.Month(m), d, 0, 0, 0, 0, wire.CST)
	if t.Year() != y || int(t.Month()) != m || t.Day() != d || y < 1990 || y > 2200 {
		return time.Time{}, false
	}
	return t, true
}

// ParseDay reads a daily gasYear such as "2026/02/14" (a time part may follow).
func ParseDay(s string) (time.Time, bool) {
	m := dayRe.FindStringSubmatch(s)
	if m == nil {
		return time.Time{}, false
	}
	y, _ := strconv.Atoi(m[1])
	mo, _ := strconv.Atoi(m[2])
	d, _ := strconv.Atoi(m[3])
	return date(y, mo, d)
}

// ParseMonth reads a monthly gasYear such as "2025年08月" as the first day of that month.
func ParseMonth(s string) (time.Time, bool) {
	m := monthRe.FindStringSubmatch(s)
	if m == nil {
		return time.Time{}, false
	}
	y, _ := strconv.Atoi(m[1])
	mo, _ := strconv.Atoi(m[2])
	return date(y, mo, 1)
}

func dayOf(t time.Time) time.Time {
	t = t.In(wire.CST)
	return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, wire.CST)
}

const dayKey = "2006-01-02"

// MonthDay is the day the yearly tier volume resets (tier_year_start, "MM-DD").
type MonthDay struct {
	Month time.Month
	Day   int
}

// ParseMonthDay reads "MM-DD"; 02-29 is refused (it does not exist every year).
func ParseMonthDay(s string) (MonthDay, error) {
	t, err := time.Parse("01-02", strings.TrimSpace(s))
	if err != nil || (t.Month() == time.February && t.Day() == 29) {
		return MonthDay{}, fmt.Errorf("%q is not a month-day like 01-01 (02-29 is not allowed)", s)
	}
	return MonthDay{t.Month(), t.Day()}, nil
}

func (md MonthDay) String() string { return fmt.Sprintf("%02d-%02d", int(md.Month), md.Day) }

// YearStart is the first day of the tier year that contains day.
func (md MonthDay) YearStart(day time.Time) time.Time {
	day = dayOf(day)
	s := time.Date(day.Year(), md.Month, md.Day, 0, 0, 0, 0, wire.CST)
	if s.After(day) {
		s = s.AddDate(-1, 0, 0)
	}
	return s
}

// ---------------------------------------------------------------------------------------
// Tier pricing.

// unboundedAbove: an end at or above this is a "no limit" sentinel such as 9999999.
const unboundedAbove = 1e6

// Tier is one price step of the yearly ladder. Volumes are the year's cumulative m³.
type Tier struct {
	Name      string
	Begin     float64
	End       float64 // math.Inf(1) when unbounded
	Price     float64 // CNY/m³
	Unbounded bool
}

// Ladder is the tier table, ascending; tier i covers (End[i-1], End[i]].
type Ladder []Tier

// ParseLadder normalises rateItemInfo: sorted by begin, each tier starting where the
// previous one ends, the last one unbounded whatever its printed end. It returns nil
// when the table cannot be priced (no rows, a missing price, a missing inner boundary).
func ParseLadder(rows []TierWire) (Ladder, []string) {
	if len(rows) == 0 {
		return nil, []string{"the tier table (rateItemInfo) is empty"}
	}
	rows = slices.Clone(rows)
	sort.SliceStable(rows, func(i, j int) bool {
		a, b := rows[i].Begin, rows[j].Begin
		if a.OK != b.OK {
			return a.OK
		}
		return a.V < b.V
	})
	var warn []string
	l := make(Ladder, 0, len(rows))
	prev := 0.0
	for i, r := range rows {
		if !r.Price.OK || r.Price.V < 0 {
			return nil, []string{fmt.Sprintf("tier %d has no usable price (%q)", i+1, r.Price.Raw)}
		}
		t := Tier{Name: string(r.Name), Begin: prev, Price: r.Price.V}
		last := i == len(rows)-1
		switch {
		case last:
			// The last tier is open-ended whatever its printed end: APIs print placeholders
			// (9999, 99999999, "") there, and no tariff stops pricing gas at some volume.
			t.End, t.Unbounded = math.Inf(1), true
			if !r.End.OK && r.End.Raw != "" {
				warn = append(warn, fmt.Sprintf("last tier end %q read as unbounded", r.End.Raw))
			}
		case r.End.OK && r.End.V < unboundedAbove:
			if r.End.V <= prev {
				return nil, []string{fmt.Sprintf("tier %d ends at %g, not after %g", i+1, r.End.V, prev)}
			}
			t.End = r.End.V
		case i+1 < len(rows) && rows[i+1].Begin.OK && rows[i+1].Begin.V > prev:
			t.End = rows[i+1].Begin.V
		default:
			return nil, []string{fmt.Sprintf("tier %d has no usable end (%q)", i+1, r.End.Raw)}
		}
		l = append(l, t)
		prev = t.End
	}
	return l, warn
}

// Cost prices the volume between two positions of the year's cumulative volume: each m³
// at the price of the tier it falls in. Volume beyond a bounded last tier is priced at the
// last tier's price.
func (l Ladder) Cost(from, to float64) float64 {
	from = max(from, 0)
	if len(l) == 0 || to <= from {
		return 0
	}
	cost := 0.0
	for i, t := range l {
		end := t.End
		if i == len(l)-1 {
			end = math.Inf(1)
		}
		lo, hi := max(from, t.Begin), min(to, end)
		if hi > lo {
			cost += (hi - lo) * t.Price
		}
	}
	return cost
}

// TierAt is the index of the tier a year volume sits in; a boundary stays in the lower
// tier (360 → tier 1), and 0 is tier 1.
func (l Ladder) TierAt(pos float64) int {
	for i, t := range l {
		if pos <= t.End+eps {
			return i
		}
	}
	return len(l) - 1
}

const eps = 1e-6

// ---------------------------------------------------------------------------------------
// Daily history: day → cumulative meter reading (and that day's volume). Kept in the KV
// so that a day seen once is never lost and the year's volume does not depend on the
// upstream's 31-day window.

// DayRecord is one stored day.
type DayRecord struct {
	Reading float64  `json:"r"`
	Volume  *float64 `json:"v,omitempty"`
}

// History maps "2006-01-02" to the day's record.
type History map[string]DayRecord

// HistoryDays bounds the stored history: enough for this and last tier year's baselines.
const HistoryDays = 800

// Merge adds daily rows (any order). A day already known keeps the higher reading (so a
// stale answer never lowers the meter). Rows without a date or a reading are skipped.
// It reports whether anything changed, and warnings for unreadable rows.
func (h History) Merge(rows []DayWire) (changed bool, warn []string) {
	for _, r := range rows {
		day, ok := ParseDay(string(r.GasYear))
		if !ok {
			warn = append(warn, fmt.Sprintf("daily row with unreadable date %q skipped", logging.CutRunes(string(r.GasYear), 30)))
			continue
		}
		if !r.GasFee.OK || r.GasFee.V < 0 {
			warn = append(warn, fmt.Sprintf("daily row %s has no meter reading (gasFee %q)", day.Format(dayKey), r.GasFee.Raw))
			continue
		}
		k := day.Format(dayKey)
		old, had := h[k]
		rec := DayRecord{Reading: r.GasFee.V}
		if r.GasVolume.OK && r.GasVolume.V >= 0 {
			v := r.GasVolume.V
			rec.Volume = &v
		}
		if had {
			if old.Reading > rec.Reading {
				rec.Reading = old.Reading
			}
			if rec.Volume == nil {
				rec.Volume = old.Volume
			}
			if rec.Reading == old.Reading && ptrEq(rec.Volume, old.Volume) {
				continue
			}
		}
		h[k] = rec
		changed = true
	}
	return changed, warn
}

func ptrEq(a, b *float64) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}

// Prune drops days more than HistoryDays before the newest one.
func (h History) Prune() bool {
	newest := ""
	for k := range h {
		newest = max(newest, k)
	}
	if newest == "" {
		return false
	}
	t, err := time.ParseInLocation(dayKey, newest, wire.CST)
	if err != nil {
		return false
	}
	cut := t.AddDate(0, 0, -HistoryDays).Format(dayKey)
	pruned := false
	for k := range h {
		if k < cut {
			delete(h, k)
			pruned = true
		}
	}
	return pruned
}

type dayRec struct {
	day     time.Time
	reading float64
	volume  float64
	hasVol  bool
}

// sorted returns the history oldest first, deriving a missing volume from the previous
// day's reading.
func (h History) sorted() []dayRec {
	out := make([]dayRec, 0, len(h))
	for k, r := range h {
		d, err := time.ParseInLocation(dayKey, k, wire.CST)
		if err != nil {
			continue
		}
		rec := dayRec{day: d, reading: r.Reading}
		if r.Volume != nil {
			rec.volume, rec.hasVol = *r.Volume, true
		}
		out = append(out, rec)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].day.Before(out[j].day) })
	for i := 1; i < len(out); i++ {
		if !out[i].hasVol && out[i-1].day.AddDate(0, 0, 1).Equal(out[i].day) && out[i].reading >= out[i-1].reading {
			out[i].volume, out[i].hasVol = out[i].reading-out[i-1].reading, true
		}
	}
	return out
}

// ---------------------------------------------------------------------------------------
// Computation: everything is done in "meter reading space". Each period is a span of
// readings [r0, r1]; the tier year's baseline B is the reading when the year started, so
// a reading r sits at position r−B of the year's cumulative volume, and a span is priced
// by Ladder.Cost(r0−B, r1−B). A span that begins before the year started is split at B
// and its earlier part priced in the previous tier year (baseline B').

// Input is everything Convert needs; it does no I/O.
type Input struct {
	Now       time.Time
	UserCode  string
	YearStart MonthDay
	LoggedIn  bool
	BaseURL   string
	Debt      *Debt     // nil: the balance call failed or was not made
	Payments  *Payments // logged in only
	Monthly   *Monthly  // logged in only
	History   History   // merged daily records (logged in only)
	// LastMeter is the meter reading published last time; the published reading never
	// goes below it (total_increasing must be honest) unless the meter was evidently
	// replaced (a drop to less than half).
	LastMeter *float64
}

type calc struct {
	in         Input
	today      time.Time
	hist       []dayRec
	byDay      map[time.Time]dayRec
	months     map[time.Time]float64
	latest     float64 // the newest reading (synthetic 0 when only monthly data exists)
	latestDay  time.Time
	haveLatest bool
	realLatest bool
	monthsOK   bool // monthly rows are anchored at latestDay's month
	ladder     Ladder
	warn       []string
}

func newCalc(in Input) *calc {
	c := &calc{in: in, today: dayOf(in.Now), byDay: map[time.Time]dayRec{}, months: map[time.Time]float64{}}
	c.hist = in.History.sorted()
	for _, r := range c.hist {
		c.byDay[r.day] = r
	}
	var newestMonth time.Time
	if in.Monthly != nil {
		var w []string
		c.ladder, w = ParseLadder(in.Monthly.Tiers)
		c.warn = append(c.warn, w...)
		for _, r := range in.Monthly.Records {
			m, ok := ParseMonth(string(r.GasYear))
			if !ok {
				c.warn = append(c.warn, fmt.Sprintf("monthly row with unreadable month %q skipped", logging.CutRunes(string(r.GasYear), 30)))
				continue
			}
			if m.After(newestMonth) {
				newestMonth = m
			}
			if !r.GasVolume.OK {
				c.warn = append(c.warn, fmt.Sprintf("monthly row %s has no volume (%q)", m.Format("2006-01"), r.GasVolume.Raw))
				continue
			}
			c.months[m] = r.GasVolume.V
		}
	}
	switch {
	case len(c.hist) > 0:
		last := c.hist[len(c.hist)-1]
		c.latest, c.latestDay, c.haveLatest, c.realLatest = last.reading, last.day, true, true
		c.monthsOK = !newestMonth.IsZero() && newestMonth.Equal(monthOf(last.day))
	case !newestMonth.IsZero():
		// No daily data: anchor a synthetic reading of 0 at the end of the newest month.
		end := newestMonth.AddDate(0, 1, -1)
		if end.After(c.today) {
			end = c.today
		}
		c.latest, c.latestDay, c.haveLatest, c.monthsOK = 0, end, true, true
	}
	return c
}

func monthOf(d time.Time) time.Time { return time.Date(d.Year(), d.Month(), 1, 0, 0, 0, 0, wire.CST) }

// readingAt is the meter reading at the end of day, and how it is known.
func (c *calc) readingAt(day time.Time) (float64, string, bool) {
	if !c.haveLatest {
		return 0, "", false
	}
	if !day.Before(c.latestDay) {
		return c.latest, "history", true
	}
	if r, ok := c.byDay[day]; ok {
		return r.reading, "history", true
	}
	if r, ok := c.byDay[day.AddDate(0, 0, 1)]; ok && r.hasVol {
		return r.reading - r.volume, "history", true
	}
	next := day.AddDate(0, 0, 1)
	if next.Day() == 1 && c.monthsOK {
		sum := 0.0
		for m := next; !m.After(c.latestDay); m = m.AddDate(0, 1, 0) {
			v, ok := c.months[m]
			if !ok {
				return 0, "", false
			}
			sum += v
		}
		return c.latest - sum, "monthly", true
	}
	return 0, "", false
}

type baselines struct {
	cur, prev         float64
	curOK, prevOK     bool
	source            string // history, monthly, upstream_total, partial
	yearStart, prevYS time.Time
}

func (c *calc) baselines() baselines {
	var b baselines
	b.yearStart = c.in.YearStart.YearStart(c.today)
	b.prevYS = b.yearStart.AddDate(-1, 0, 0)
	b.cur, b.source, b.curOK = c.readingAt(b.yearStart.AddDate(0, 0, -1))
	if !b.curOK && c.haveLatest {
		tv := c.in.Monthly
		if c.in.YearStart == (MonthDay{time.January, 1}) && tv != nil && tv.TotalGasVolume.OK && c.latestDay.Year() == b.yearStart.Year() {
			b.cur, b.source, b.curOK = c.latest-tv.TotalGasVolume.V, "upstream_total", true
		} else {
			for _, r := range c.hist {
				if !r.day.Before(b.yearStart) {
					b.cur, b.source, b.curOK = r.reading, "partial", true
					if r.hasVol {
						b.cur -= r.volume
					}
					break
				}
			}
		}
	}
	b.prev, _, b.prevOK = c.readingAt(b.prevYS.AddDate(0, 0, -1))
	return b
}

// cost prices the readings span [r0, r1].
func (c *calc) cost(b baselines, r0, r1 float64) (float64, bool) {
	if len(c.ladder) == 0 || !b.curOK || r1 < r0-eps {
		return 0, false
	}
	total := 0.0
	if r1 > b.cur+eps {
		total += c.ladder.Cost(max(r0, b.cur)-b.cur, r1-b.cur)
	}
	if r0 < b.cur-eps {
		if !b.prevOK || r0 < b.prev-eps {
			return 0, false
		}
		total += c.ladder.Cost(r0-b.prev, min(r1, b.cur)-b.prev)
	}
	return wire.Round(total, 2), true
}

// ---------------------------------------------------------------------------------------
// Entities.

const (
	unitCNY      = "CNY"
	unitM3       = "m³"
	unitPrice    = "CNY/m³"
	classMoney   = "monetary"
	classGas     = "gas"
	classTime    = "timestamp"
	stateTotal   = "total"
	stateTotalIn = "total_increasing"
)

func money(key, name, icon string) providers.Entity {
	return providers.Entity{Key: key, Name: name, Component: providers.Sensor, DeviceClass: classMoney,
		StateClass: stateTotal, Unit: unitCNY, Precision: providers.Precision(2), Icon: icon}
}

// volume sensors of a period have no state class on purpose: they reset, and only the
// meter reading is meant for long-term statistics and the Energy dashboard.
func volume(key, name string) providers.Entity {
	return providers.Entity{Key: key, Name: name, Component: providers.Sensor, DeviceClass: classGas,
		Unit: unitM3, Precision: providers.Precision(2)}
}

func stamp(key, name, category string) providers.Entity {
	return providers.Entity{Key: key, Name: name, Component: providers.Sensor, DeviceClass: classTime, Category: category}
}

// TierOptions are the enum options of the tier sensor for a ladder of n tiers.
func TierOptions(n int) []string {
	n = max(n, 3)
	out := make([]string, n)
	for i := range out {
		out[i] = strconv.Itoa(i + 1)
	}
	return out
}

// Entities lists the entities of a gas device: the balance-side ones always, the others
// only when the account logs in (mobile and password set).
func Entities(loggedIn bool, tiers int) []providers.Entity {
	es := []providers.Entity{
		money("balance", "Balance", "mdi:cash"),
		money("amount_owed", "Amount owed", "mdi:cash-minus"),
		{Key: "meter_reading", Name: "Meter reading", Component: providers.Sensor, DeviceClass: classGas,
			StateClass: stateTotalIn, Unit: unitM3, Precision: providers.Precision(2), Icon: "mdi:meter-gas"},
		stamp("last_reading_time", "Last reading", ""),
		stamp("last_communication", "Last meter communication", providers.CategoryDiagnostic),
		{Key: "account", Name: "Account", Component: providers.Sensor, Icon: "mdi:card-account-details-outline",
			Category: providers.CategoryDiagnostic, Attributes: true},
	}
	if !loggedIn {
		return es
	}
	lp := money("last_payment", "Last payment", "mdi:cash-plus")
	lp.Attributes = true
	ld := volume("last_day_volume", "Last day volume")
	ld.Attributes = true
	yv := volume("year_volume", "Year-to-date volume")
	yv.Attributes = true
	return append(es,
		lp,
		stamp("last_payment_time", "Last payment time", ""),
		ld,
		money("last_day_cost", "Last day cost", "mdi:cash"),
		volume("month_volume", "This month volume"),
		money("month_cost", "This month cost", "mdi:cash"),
		volume("last_month_volume", "Last month volume"),
		money("last_month_cost", "Last month cost", "mdi:cash"),
		yv,
		money("year_cost", "Year-to-date cost", "mdi:cash"),
		providers.Entity{Key: "tier", Name: "Price tier", Component: providers.Sensor, DeviceClass: "enum",
			Options: TierOptions(tiers), Icon: "mdi:stairs", Attributes: true},
		providers.Entity{Key: "unit_price", Name: "Unit price", Component: providers.Sensor,
			StateClass: "measurement", Unit: unitPrice, Precision: providers.Precision(2), Icon: "mdi:currency-cny"},
		volume("tier_remaining", "Volume left in tier"),
	)
}

// Convert turns what one poll read into the account's device. It never fails: values that
// are absent or unreadable are left out (unknown in HA) and described in the warnings.
func Convert(in Input) (providers.Device, []string) {
	c := newCalc(in)
	dev := providers.Device{
		ID:           "", // set by the caller
		Name:         "PetroChina Gas " + in.UserCode,
		Manufacturer: "PetroChina Kunlun Gas",
		Model:        "Gas account",
		Values:       map[string]any{},
		Attributes:   map[string]map[string]any{},
	}
	if strings.HasPrefix(in.BaseURL, "https://") {
		dev.ConfigurationURL = in.BaseURL
	}
	v, attrs := dev.Values, dev.Attributes
	warnNum := func(what string, n wire.Num) {
		if !n.OK && n.Raw != "" {
			c.warn = append(c.warn, fmt.Sprintf("%s is not a number: %q", what, n.Raw))
		}
	}

	account := map[string]any{"user_code": in.UserCode}
	v["account"] = in.UserCode
	var meter *float64
	if d := in.Debt; d != nil {
		if mt := string(d.MeterType); mt != "" {
			dev.Model = mt
			account["meter_type"] = mt
		}
		switch {
		case d.Balance.OK:
			v["balance"] = wire.Round(d.Balance.V, 2)
		case d.EndBalance.OK:
			v["balance"] = wire.Round(d.EndBalance.V, 2)
		default:
			warnNum("balance (remoteMeterBalance)", d.Balance)
		}
		if d.OweAmount.OK {
			v["amount_owed"] = wire.Round(d.OweAmount.V, 2)
		}
		if t, ok := ParseTime(string(d.LastCommunication)); ok {
			v["last_communication"] = t
		}
		// readingLastTime is ambiguous: a time, or (as two clients read it) the reading.
		rlt := string(d.ReadingLastTime)
		if t, ok := ParseTime(rlt); ok {
			v["last_reading_time"] = t
		} else if f, err := strconv.ParseFloat(strings.TrimSpace(rlt), 64); err == nil && f >= 0 && f <= maxNum {
			meter = &f
		}
		for k, s := range map[string]wire.Text{"customer_name": d.CustomerName, "address": d.Address,
			"account_id": d.AccountID, "mdm_code": d.MDMCode} {
			if s != "" {
				account[k] = string(s)
			}
		}
	}
	if m := in.Monthly; m != nil {
		if m.BadgeNumber != "" {
			account["badge_number"] = string(m.BadgeNumber)
		}
		if _, ok := account["customer_name"]; !ok && m.CustomerName != "" {
			account["customer_name"] = string(m.CustomerName)
		}
		if _, ok := account["address"]; !ok && m.Address != "" {
			account["address"] = string(m.Address)
		}
	}
	attrs["account"] = account

	tiers := 3
	if in.LoggedIn {
		tiers = len(c.ladder)
		loggedInValues(c, v, attrs, &meter)
	}
	if meter != nil {
		m := *meter
		if in.LastMeter != nil && m < *in.LastMeter && m > *in.LastMeter/2 {
			c.warn = append(c.warn, fmt.Sprintf("meter reading went down from %g to %g; keeping %g", *in.LastMeter, m, *in.LastMeter))
			m = *in.LastMeter
		}
		v["meter_reading"] = wire.Round(m, 3)
	}
	dev.Entities = Entities(in.LoggedIn, tiers)
	return dev, c.warn
}

func loggedInValues(c *calc, v map[string]any, attrs map[string]map[string]any, meter **float64) {
	in := c.in
	if p := in.Payments; p != nil {
		var list []map[string]any
		for i, r := range p.Records {
			if i >= 10 {
				break
			}
			e := map[string]any{"date": string(r.Date)}
			when, ok := ParseTime(strings.TrimSpace(string(r.Date) + " " + string(r.Time)))
			if ok {
				e["time"] = when.Format(time.RFC3339)
			}
			if r.Amount.OK {
				e["amount"] = wire.Round(r.Amount.V, 2)
			}
			for k, s := range map[string]wire.Text{"org": r.Org, "source": r.Source, "status": r.Status, "type": r.ItemType} {
				if s != "" {
					e[k] = string(s)
				}
			}
			list = append(list, e)
			if i == 0 {
				if r.Amount.OK {
					v["last_payment"] = wire.Round(r.Amount.V, 2)
				} else if r.Amount.Raw != "" {
					c.warn = append(c.warn, fmt.Sprintf("last payment amount is not a number: %q", r.Amount.Raw))
				}
				if ok {
					v["last_payment_time"] = when
				}
				if _, has := v["amount_owed"]; !has && r.OweAmount.OK {
					v["amount_owed"] = wire.Round(r.OweAmount.V, 2)
				}
			}
		}
		if list == nil {
			list = []map[string]any{}
		}
		attrs["last_payment"] = map[string]any{"payments": list}
	}

	if c.realLatest {
		r := c.latest
		*meter = &r // the daily history beats readingLastTime
		last := c.hist[len(c.hist)-1]
		if _, ok := v["last_reading_time"]; !ok {
			v["last_reading_time"] = last.day
		}
	}
	b := c.baselines()

	// The newest day.
	if n := len(c.hist); n > 0 && c.hist[n-1].hasVol {
		d := c.hist[n-1]
		v["last_day_volume"] = wire.Round(d.volume, 3)
		attrs["last_day_volume"] = map[string]any{"date": d.day.Format(dayKey)}
		if cost, ok := c.cost(b, d.reading-d.volume, d.reading); ok {
			v["last_day_cost"] = cost
		}
	}
	// This month and last month, by calendar month in Beijing.
	thisMonth := monthOf(c.today)
	prevMonth := thisMonth.AddDate(0, -1, 0)
	endPrev, _, okEndPrev := c.readingAt(thisMonth.AddDate(0, 0, -1))
	endPrev2, _, okEndPrev2 := c.readingAt(prevMonth.AddDate(0, 0, -1))
	if okEndPrev && c.haveLatest {
		v["month_volume"] = wire.Round(c.latest-endPrev, 3)
		if cost, ok := c.cost(b, endPrev, c.latest); ok {
			v["month_cost"] = cost
		}
	}
	if okEndPrev && okEndPrev2 {
		v["last_month_volume"] = wire.Round(endPrev-endPrev2, 3)
		if cost, ok := c.cost(b, endPrev2, endPrev); ok {
			v["last_month_cost"] = cost
		}
	}
	// The tier year.
	if !b.curOK {
		if c.in.Monthly != nil {
			c.warn = append(c.warn, "the year-to-date volume is unknown (no daily history or monthly rows reach back to the tier year start)")
		}
		return
	}
	ytd := max(c.latest-b.cur, 0)
	v["year_volume"] = wire.Round(ytd, 3)
	attrs["year_volume"] = map[string]any{"tier_year_start": b.yearStart.Format(dayKey), "source": b.source}
	if len(c.ladder) == 0 {
		return
	}
	v["year_cost"] = wire.Round(c.ladder.Cost(0, ytd), 2)
	i := c.ladder.TierAt(ytd)
	t := c.ladder[i]
	v["tier"] = strconv.Itoa(i + 1)
	v["unit_price"] = t.Price
	if !t.Unbounded {
		v["tier_remaining"] = wire.Round(max(t.End-ytd, 0), 3)
	}
	table := make([]map[string]any, len(c.ladder))
	for j, t := range c.ladder {
		row := map[string]any{"tier": j + 1, "name": t.Name, "begin": t.Begin, "price": t.Price}
		if t.Unbounded {
			row["end"] = nil
		} else {
			row["end"] = t.End
		}
		table[j] = row
	}
	attrs["tier"] = map[string]any{"tiers": table, "year_volume": wire.Round(ytd, 3),
		"tier_year_start": b.yearStart.Format(dayKey)}
}
