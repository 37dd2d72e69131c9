// Package fake is a faithful fake of the Kunlun/PetroChina gas upstream
// (bol.grs.petrochina.com.cn) as described in docs/gas.md, "Protocol notes": the open balance call, the
// AES password login, signed "close" calls with token expiry answered as HTTP 403, payments,
// the base64 monthly body, daily records newest first with the cumulative reading in gasFee,
// and the company list. A simulated meter grows day by day. Switches inject the quirks and
// faults; counters let tests assert how often each endpoint was called.
//
// Tests wrap it in httptest.NewServer; the demo serves it on loopback.
package fake

import (
	"bytes"
	"crypto/aes"
	"crypto/md5"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/accountbridge/accountbridge/internal/providers/fakeutil"
	"github.com/accountbridge/accountbridge/internal/providers/wire"
)

// Endpoint names for counters and switches.
const (
	OpenDebt  = "open_debt"
	Login     = "login"
	Debt      = "debt"
	Payments  = "payments"
	Monthly   = "monthly"
	Daily     = "daily"
	Companies = "companies"
)

var paths = map[string]string{
	"/api/v1/open/recharge/getUserDebtByUserCode":     OpenDebt,
	"/api/v1/open/user/passwordLogin":                 Login,
	"/api/v1/close/recharge/getUserDebt":              Debt,
	"/api/v1/close/recharge/getPaymentRecordList":     Payments,
	"/api/v1/close/recharge/getMonthlyTotalGasVolume": Monthly,
	"/api/v1/open/home/getGasCompanyList":             Companies,
}

const dailyPrefix = "/api/v1/close/recharge/smartMeterGasDaysRecords/"

// Defaults of Options.
const (
	DefaultUserCode   = "12345678"
	DefaultMobile     = "13800138000"
	DefaultPassword   = "secret-pass-1"
	DefaultAESKey     = "F9ce3yf0GPpbtal2YOE/Vg=="
	DefaultSignKey    = "d7b85f6e214abcda"
	DefaultMDMCode    = "9AH1"
	DefaultUserCodeID = 731024
)

// Tier is one row of the fake's tier table.
type Tier struct {
	Name       string
	Begin, End float64 // End of the last tier is sent as Switches.LastTierEnd
	Price      float64
}

// KunmingTiers is the Kunming ladder (CNY/m³ by the year's cumulative m³).
var KunmingTiers = []Tier{
	{"第一阶梯", 0, 360, 2.97},
	{"第二阶梯", 360, 540, 3.56},
	{"第三阶梯", 540, 9999999, 4.46},
}

// Options configure a fake. Zero values take the defaults.
type Options struct {
	UserCode   string
	CID        int64 // default 2
	MDMCode    string
	UserCodeID int64
	Mobile     string
	Password   string
	AESKey     string
	SignKey    string
	// LastDay is the newest day of the daily records; default yesterday (Beijing).
	LastDay time.Time
	// HistoryDays is how many days before LastDay the simulated meter has data; default 800.
	HistoryDays int
	// InitialReading is the meter reading (m³) before the first simulated day; default 1000.
	InitialReading float64
	// DailyVolume gives each day's use in m³ (rounded to 0.01); default 1.0–1.8 by a pattern.
	DailyVolume func(day time.Time) float64
	// DailyWindow is how many days the daily answer holds; default 31.
	DailyWindow int
	Balance     float64 // default 86.42
	Tiers       []Tier  // default KunmingTiers
	// TokenTTL expires tokens by Now; 0: tokens live until ExpireTokens.
	TokenTTL time.Duration
	Now      func() time.Time // default time.Now
}

// Switches inject quirks and faults; change them with Set.
type Switches struct {
	FailWith              map[string]string // endpoint → success:false with this message (HTTP 200)
	HTTPStatus            map[string]int    // endpoint → answer with this HTTP status
	EmptyLists            bool              // payments, monthly rows and daily rows come back empty
	EmptyMonthly          bool              // only the monthly rows come back empty
	EmptyNumbers          bool              // some numbers come back as "" (balance, newest day's volume, …)
	LastTierEnd           string            // endVolume of the last tier; default "9999999"
	NumericBalance        bool              // remoteMeterBalance as a JSON number instead of a string
	ReadingLastTimeAsTime bool              // readingLastTime as a time instead of the reading
	LoginBase64           bool              // the login answer is base64 of the envelope
	DailyLag              int               // the daily answer ends this many days before LastDay
	DayPerPoll            bool              // every daily call first adds a day to the meter
	SkipSignature         bool              // do not verify close-call signatures
	// Latency delays every answer (of the endpoints in LatencyOn; empty: of every
	// endpoint), as a distant upstream would. The delay ends early when the client gives up.
	Latency   time.Duration
	LatencyOn []string
}

type payment struct {
	when   time.Time
	amount float64
}

// Server is the fake upstream; it is an http.Handler.
type Server struct {
	mu       sync.Mutex
	o        Options
	sw       Switches
	start    time.Time // first simulated day
	lastDay  time.Time
	cum      []int64 // cumulative use in 0.01 m³ at the end of start+i
	tokens   map[string]time.Time
	ep       fakeutil.Endpoints // request counters
	balance  float64
	payments []payment // newest first
	badSigs  int
}

// New returns a fake with o's settings.
func New(o Options) *Server {
	if o.UserCode == "" {
		o.UserCode = DefaultUserCode
	}
	if o.CID == 0 {
		o.CID = 2
	}
	if o.MDMCode == "" {
		o.MDMCode = DefaultMDMCode
	}
	if o.UserCodeID == 0 {
		o.UserCodeID = DefaultUserCodeID
	}
	if o.Mobile == "" {
		o.Mobile = DefaultMobile
	}
	if o.Password == "" {
		o.Password = DefaultPassword
	}
	if o.AESKey == "" {
		o.AESKey = DefaultAESKey
	}
	if o.SignKey == "" {
		o.SignKey = DefaultSignKey
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.LastDay.IsZero() {
		o.LastDay = o.Now().In(wire.CST).AddDate(0, 0, -1)
	}
	if o.HistoryDays <= 0 {
		o.HistoryDays = 800
	}
	if o.InitialReading == 0 {
		o.InitialReading = 1000
	}
	if o.DailyVolume == nil {
		o.DailyVolume = DefaultDailyVolume
	}
	if o.DailyWindow <= 0 {
		o.DailyWindow = 31
	}
	if o.Balance == 0 {
		o.Balance = 86.42
	}
	if o.Tiers == nil {
		o.Tiers = KunmingTiers
	}
	s := &Server{o: o, tokens: map[string]time.Time{}, balance: o.Balance}
	s.lastDay = day(o.LastDay)
	s.start = s.lastDay.AddDate(0, 0, -o.HistoryDays)
	for d := s.start; !d.After(s.lastDay); d = d.AddDate(0, 0, 1) {
		s.appendDay(d)
	}
	s.payments = []payment{
		{s.lastDay.AddDate(0, 0, -10).Add(17*time.Hour + 23*time.Minute), 50},
		{s.lastDay.AddDate(0, 0, -45).Add(9*time.Hour + 5*time.Minute + 12*time.Second), 100},
	}
	return s
}

// DefaultDailyVolume is 1.0 to 1.8 m³ a day by a fixed pattern (about 510 m³ a year, so a
// year crosses the first Kunming tier boundary in the autumn).
func DefaultDailyVolume(d time.Time) float64 {
	n := d.Unix() / 86400
	return 1.0 + 0.1*float64((n*37%9+9)%9)
}

func day(t time.Time) time.Time {
	t = t.In(wire.CST)
	return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, wire.CST)
}

func (s *Server) appendDay(d time.Time) {
	v := int64(math.Round(s.o.DailyVolume(d) * 100))
	if v < 0 {
		v = 0
	}
	prev := int64(0)
	if n := len(s.cum); n > 0 {
		prev = s.cum[n-1]
	}
	s.cum = append(s.cum, prev+v)
}

// Set changes the switches.
func (s *Server) Set(f func(*Switches)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f(&s.sw)
}

// Count is how many requests an endpoint received.
func (s *Server) Count(endpoint string) int { return s.ep.Count(endpoint) }

// Logins is how many login requests arrived (successful or not).
func (s *Server) Logins() int { return s.Count(Login) }

// BadSignatures is how many close calls were refused for their signature.
func (s *Server) BadSignatures() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.badSigs
}

// ExpireTokens makes every issued token invalid: the next close call gets HTTP 403.
func (s *Server) ExpireTokens() {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.tokens)
}

// AddDay moves the meter on by one day (the new day's use is DailyVolume).
func (s *Server) AddDay() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.addDay()
}

func (s *Server) addDay() {
	s.lastDay = s.lastDay.AddDate(0, 0, 1)
	s.appendDay(s.lastDay)
}

// LastDay is the newest day with a record.
func (s *Server) LastDay() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lastDay
}

// SetBalance sets the meter-side balance.
func (s *Server) SetBalance(v float64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.balance = v
}

// AddPayment records a payment (it becomes the newest) and raises the balance.
func (s *Server) AddPayment(when time.Time, amount float64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.payments = append([]payment{{when.In(wire.CST), amount}}, s.payments...)
	s.balance += amount
}

func (s *Server) index(d time.Time) int {
	return int(math.Round(day(d).Sub(s.start).Hours() / 24))
}

// centi is the cumulative use at the end of d in 0.01 m³ (0 before the first day).
func (s *Server) centi(d time.Time) int64 {
	i := s.index(d)
	switch {
	case i < 0:
		return 0
	case i >= len(s.cum):
		return s.cum[len(s.cum)-1]
	}
	return s.cum[i]
}

// ReadingAt is the meter reading (m³) at the end of day d.
func (s *Server) ReadingAt(d time.Time) float64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.readingAt(d)
}

func (s *Server) readingAt(d time.Time) float64 {
	return s.o.InitialReading + float64(s.centi(d))/100
}

// Volume is the use (m³) from the start of day from to the end of day to.
func (s *Server) Volume(from, to time.Time) float64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return float64(s.centi(to)-s.centi(from.AddDate(0, 0, -1))) / 100
}

// ---------------------------------------------------------------------------------------

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ep, ok := paths[r.URL.Path]
	var dailyArgs []string
	if !ok && strings.HasPrefix(r.URL.Path, dailyPrefix) {
		ep, ok = Daily, true
		dailyArgs = strings.Split(strings.TrimPrefix(r.URL.Path, dailyPrefix), "/")
	}
	if !ok {
		http.NotFound(w, r)
		return
	}
	s.delay(r, ep)
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	raw, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		http.Error(w, "bad body", http.StatusBadRequest)
		return
	}
	body := map[string]any{}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&body); err != nil {
		writeJSON(w, http.StatusOK, fail("400", "请求参数格式错误"))
		return
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	s.ep.Hit(ep) // faults come from Switches: they answer in the upstream's envelope
	if code := s.sw.HTTPStatus[ep]; code != 0 {
		writeJSON(w, code, fail(strconv.Itoa(code), http.StatusText(code)))
		return
	}
	if strings.Contains(r.URL.Path, "/close/") {
		if !s.authorised(r.Header.Get("token")) {
			writeJSON(w, http.StatusForbidden, map[string]any{"code": 403, "success": false, "message": "登录已失效"})
			return
		}
		if !s.sw.SkipSignature && !s.signatureOK(r, body) {
			s.badSigs++
			writeJSON(w, http.StatusOK, fail("500", "签名校验失败"))
			return
		}
	}
	if msg, ok := s.sw.FailWith[ep]; ok {
		writeJSON(w, http.StatusOK, fail("500", msg))
		return
	}
	switch ep {
	case OpenDebt, Debt:
		s.debt(w, body, ep == Debt)
	case Login:
		s.login(w, body)
	case Payments:
		s.paymentList(w, body)
	case Monthly:
		s.monthly(w, body)
	case Daily:
		s.daily(w, dailyArgs)
	case Companies:
		writeJSON(w, http.StatusOK, ok1([]any{map[string]any{"area": map[string]any{"name": "云南"},
			"companyList": map[string]any{
				"K": []any{map[string]any{"id": 2, "name": "云南中石油昆仑燃气有限公司昆明分公司", "mdmCode": "9AH1"}},
				"H": []any{map[string]any{"id": int64(5000000883), "name": "红河中石油昆仑燃气有限公司", "mdmCode": "9AHA"}},
			}}}))
	}
}

// delay waits out the configured latency of endpoint ep (outside the lock).
func (s *Server) delay(r *http.Request, ep string) {
	s.mu.Lock()
	d := s.sw.Latency
	if len(s.sw.LatencyOn) > 0 && !slices.Contains(s.sw.LatencyOn, ep) {
		d = 0
	}
	s.mu.Unlock()
	fakeutil.Sleep(r.Context(), d)
}

func ok1(data any) map[string]any { return map[string]any{"code": 1, "success": true, "data": data} }

func fail(code, msg string) map[string]any {
	return map[string]any{"code": code, "success": false, "message": msg}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json;charset=UTF-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeBase64(w http.ResponseWriter, v any) {
	raw, _ := json.Marshal(v)
	w.Header().Set("Content-Type", "text/plain;charset=UTF-8")
	_, _ = io.WriteString(w, base64.StdEncoding.EncodeToString(raw))
}

func (s *Server) authorised(tok string) bool {
	issued, ok := s.tokens[tok]
	if !ok {
		return false
	}
	return s.o.TokenTTL <= 0 || s.o.Now().Sub(issued) < s.o.TokenTTL
}

// Signature renders the close-call signature the way the server checks it: body fields
// plus timestamp and token, sorted, k=v joined by &, the salt appended, MD5 hex.
func Signature(body map[string]any, timestamp, token, salt string) string {
	fields := map[string]string{"timestamp": timestamp, "token": token}
	for k, v := range body {
		fields[k] = pyStr(v)
	}
	keys := make([]string, 0, len(fields))
	for k := range fields {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + fields[k]
	}
	sum := md5.Sum([]byte(strings.Join(parts, "&") + salt))
	return hex.EncodeToString(sum[:])
}

func pyStr(v any) string {
	switch x := v.(type) {
	case nil:
		return "None"
	case bool:
		if x {
			return "True"
		}
		return "False"
	case string:
		return x
	case json.Number:
		return x.String()
	default:
		b, _ := json.Marshal(x)
		return string(b)
	}
}

func (s *Server) signatureOK(r *http.Request, body map[string]any) bool {
	ts := r.Header.Get("timestamp")
	if _, err := strconv.ParseInt(ts, 10, 64); err != nil {
		return false
	}
	return r.Header.Get("signature") == Signature(body, ts, r.Header.Get("token"), s.o.SignKey)
}

func str(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case json.Number:
		return x.String()
	}
	return ""
}

func (s *Server) decrypt(b64 string) (string, bool) {
	ct, err := base64.StdEncoding.DecodeString(b64)
	block, kerr := aes.NewCipher([]byte(s.o.AESKey))
	if err != nil || kerr != nil || len(ct) == 0 || len(ct)%block.BlockSize() != 0 {
		return "", false
	}
	pt := make([]byte, len(ct))
	for i := 0; i < len(ct); i += block.BlockSize() {
		block.Decrypt(pt[i:i+block.BlockSize()], ct[i:i+block.BlockSize()])
	}
	pad := int(pt[len(pt)-1])
	if pad == 0 || pad > block.BlockSize() || pad > len(pt) {
		return "", false
	}
	for _, c := range pt[len(pt)-pad:] {
		if int(c) != pad {
			return "", false
		}
	}
	return string(pt[:len(pt)-pad]), true
}

func newToken(kind string) string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return "eyJhbGciOiJIUzI1NiJ9." + kind + "." + hex.EncodeToString(b)
}

func (s *Server) login(w http.ResponseWriter, body map[string]any) {
	mobile, ok1m := s.decrypt(str(body["mobile"]))
	password, ok2 := s.decrypt(str(body["password"]))
	if !ok1m || !ok2 {
		writeJSON(w, http.StatusOK, fail("500", "解密字符串时遇到异常"))
		return
	}
	if mobile != s.o.Mobile || password != s.o.Password {
		writeJSON(w, http.StatusOK, fail("500", "用户名或密码错误"))
		return
	}
	access, refresh := newToken("access"), newToken("refresh")
	now := s.o.Now()
	s.tokens[access], s.tokens[refresh] = now, now
	company, _ := json.Marshal(map[string]any{"id": s.o.CID, "name": "云南中石油昆仑燃气有限公司昆明分公司", "mdmCode": s.o.MDMCode})
	resp := ok1(map[string]any{"token": access, "refreshToken": refresh, "company": string(company)})
	if s.sw.LoginBase64 {
		writeBase64(w, resp)
		return
	}
	writeJSON(w, http.StatusOK, resp)
}

func (s *Server) num(v float64, empty bool) any {
	if empty {
		return ""
	}
	return strconv.FormatFloat(v, 'f', 2, 64)
}

func (s *Server) debt(w http.ResponseWriter, body map[string]any, closeCall bool) {
	if str(body["userCode"]) != s.o.UserCode || str(body["cid"]) != strconv.FormatInt(s.o.CID, 10) {
		writeJSON(w, http.StatusOK, fail("404", "账户不存在"))
		return
	}
	var balance any = s.num(s.balance, s.sw.EmptyNumbers)
	if s.sw.NumericBalance {
		balance = math.Round(s.balance*100) / 100
	}
	reading := fmt.Sprintf("%.2f", s.readingAt(s.lastDay))
	if s.sw.ReadingLastTimeAsTime {
		reading = s.lastDay.Add(23*time.Hour + 30*time.Minute).Format("2006-01-02 15:04:05")
	}
	data := map[string]any{
		"accountId": "8800012345", "userCode": s.o.UserCode, "customerName": "张*",
		"address": "云南省昆明市**区***路**号", "remoteMeterBalance": balance, "meterType": "物联网表",
		"mdmCode": s.o.MDMCode, "readingLastTime": reading,
		"remoteMeterLastCommunicationTime": s.lastDay.AddDate(0, 0, 1).Add(time.Hour + 28*time.Minute).Format("2006-01-02 15:04:05"),
		"oweAmount":                        "0.00",
	}
	if closeCall {
		data["userCodeList"] = []any{map[string]any{"id": s.o.UserCodeID, "userCode": s.o.UserCode}}
	}
	writeJSON(w, http.StatusOK, ok1(data))
}

func (s *Server) paymentList(w http.ResponseWriter, body map[string]any) {
	if str(body["userCodeId"]) != strconv.FormatInt(s.o.UserCodeID, 10) {
		writeJSON(w, http.StatusOK, fail("500", "用户编号不存在"))
		return
	}
	size := 10
	if n, err := strconv.Atoi(str(body["pageSize"])); err == nil && n > 0 {
		size = n
	}
	list := []any{}
	for i, p := range s.payments {
		if s.sw.EmptyLists || i >= size {
			break
		}
		list = append(list, map[string]any{
			"operationDate": p.when.Format("2006-01-02"), "operationTime": p.when.Format("15:04:05"),
			"payAmount": s.num(p.amount, s.sw.EmptyNumbers && i == 1), "payOrgDesc": "昆明公司APP",
			"paySourceDesc": "移动APP", "payStatusDesc": "完成", "payItemType": "第三方代收实时",
		})
	}
	writeJSON(w, http.StatusOK, ok1(map[string]any{"customerName": "张*",
		"recordsCount": strconv.Itoa(len(list)), "recordsInfoList": list}))
}

func (s *Server) monthly(w http.ResponseWriter, body map[string]any) {
	if str(body["userCode"]) != s.o.UserCode {
		writeJSON(w, http.StatusOK, fail("404", "账户不存在"))
		return
	}
	size := 7
	if n, err := strconv.Atoi(str(body["pageSize"])); err == nil && n > 0 && n <= 60 {
		size = n
	}
	tiers := []any{}
	lastEnd := s.sw.LastTierEnd
	if lastEnd == "" {
		lastEnd = "9999999"
	}
	for i, t := range s.o.Tiers {
		end := strconv.FormatFloat(t.End, 'f', -1, 64)
		if i == len(s.o.Tiers)-1 {
			end = lastEnd
		}
		tiers = append(tiers, map[string]any{"beginVolume": strconv.FormatFloat(t.Begin, 'f', 1, 64),
			"endVolume": end, "price": strconv.FormatFloat(t.Price, 'f', 2, 64), "rateName": t.Name})
	}
	rows := []any{}
	newest := time.Date(s.lastDay.Year(), s.lastDay.Month(), 1, 0, 0, 0, 0, wire.CST)
	for i := size - 1; i >= 0 && !s.sw.EmptyLists && !s.sw.EmptyMonthly; i-- { // oldest first
		m := newest.AddDate(0, -i, 0)
		end := m.AddDate(0, 1, -1)
		if end.After(s.lastDay) {
			end = s.lastDay
		}
		if end.Before(s.start) {
			continue
		}
		vol := float64(s.centi(end)-s.centi(m.AddDate(0, 0, -1))) / 100
		rows = append(rows, map[string]any{"gasYear": m.Format("2006年01月"),
			"gasVolume": s.num(vol, s.sw.EmptyNumbers && len(rows) == 0), "gasFee": s.num(s.readingAt(end), false)})
	}
	jan1 := time.Date(s.lastDay.Year(), 1, 1, 0, 0, 0, 0, wire.CST)
	total := float64(s.centi(s.lastDay)-s.centi(jan1.AddDate(0, 0, -1))) / 100
	writeBase64(w, ok1(map[string]any{
		"address": "云南省昆明市**区***路**号", "badgeNumber": "0000000000000001", "customerName": "张*",
		"rateItemInfo": tiers, "recordsInfo": rows, "totalGasVolume": s.num(total, false),
	}))
}

func (s *Server) daily(w http.ResponseWriter, args []string) {
	if len(args) != 2 || args[0] != s.o.MDMCode || args[1] != s.o.UserCode {
		writeJSON(w, http.StatusOK, fail("500", "未查询到该户号的表具信息"))
		return
	}
	if s.sw.DayPerPoll {
		s.addDay()
	}
	rows := []any{}
	newest := s.lastDay.AddDate(0, 0, -s.sw.DailyLag)
	for i := 0; i < s.o.DailyWindow && !s.sw.EmptyLists; i++ { // newest first
		d := newest.AddDate(0, 0, -i)
		if d.Before(s.start) {
			break
		}
		vol := float64(s.centi(d)-s.centi(d.AddDate(0, 0, -1))) / 100
		rows = append(rows, map[string]any{"gasYear": d.Format("2006/01/02"),
			"gasVolume": s.num(vol, s.sw.EmptyNumbers && i == 0), "gasFee": s.num(s.readingAt(d), false)})
	}
	writeJSON(w, http.StatusOK, ok1(map[string]any{"recordsInfo": rows}))
}
