// Package fake is a faithful fake of the two Xunlei OneCloud hosts the onecloud provider
// talks to (docs/onecloud.md, "Protocol: hosts and conventions"): the account host (login, income and
// outcome history, account info, withdraw) and the control host (listPeer, getUSBInfo).
//
// It checks what the real service checks: the two-step password hash, the login sign
// (empty key), the sign of every control GET (key = sessionid), the session cookies and
// their 7-day life. Tests and the demo change the boxes (SetStatus, AddBox, RemoveBox,
// Toggle), inject faults (SetLoginError, RequireCaptcha, ExpireSessions, SetHTTPStatus,
// SetDrawRet) and read per-endpoint counters (Count).
//
// Codes the real service was never seen to send are inventions of this fake, as the
// protocol notes allow: an invalid session is iRet -1 "not login" on the account host
// and rtn 11 "session invalid" on the control host; a bad control sign is rtn 12; a
// getUSBInfo for an offline or unknown box is rtn 10.
package fake

import (
	"crypto/md5"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/accountbridge/accountbridge/internal/providers/fakeutil"
	"github.com/accountbridge/accountbridge/internal/providers/wire"
)

// Box is one OneCloud box bound to the fake account.
type Box struct {
	SN               string // device_sn, the provider's stable box id
	DeviceID         string // device_id, used by getUSBInfo
	PeerID           string
	Name             string // device_name
	HardwareModel    string // e.g. WS1608
	SystemVersion    string // firmware, e.g. V1.7.2
	Status           string // online, offline or exception
	ExceptionName    string
	ExceptionMessage string
	IP, LanIP        string
	ConnectTime      time.Time
	DisconnectTime   time.Time
	Upgradeable      bool
	Partitions       []Partition // answered by getUSBInfo; empty = no disk
}

// Partition is one disk partition of a box; sizes in bytes.
type Partition struct {
	Label, Path    string
	Capacity, Used int64
}

// Options are the fixture of the fake account.
type Options struct {
	Phone    string // login by phone (account_type 4)
	Email    string // login by e-mail (account_type 5)
	Password string // the plain password; the fake checks the hashed form
	UserID   string
	// Now is the fake's clock (session life, income dates, the weekly withdraw limit).
	Now        func() time.Time
	SessionTTL time.Duration // default 7 days (the cookies' Max-Age)
	Boxes      []Box
	// Income holds the daily yields, newest first: Income[0] is yesterday's.
	Income            []float64
	TotalIncomeBefore float64 // produced before the days in Income
	Balance           float64 // withdrawable
}

// Default returns the usual fixture: phone 13800138000, password 123456, user 5458114,
// box OCPG121196469 online with a 931 GiB disk, box OCPG121190002 offline, 14 days of
// income and a balance of 6.1728395.
func Default() Options {
	now := time.Now
	t0 := time.Unix(1546440118, 0)
	return Options{
		Phone: "13800138000", Email: "miner@example.com", Password: "123456", UserID: "5458114", Now: now,
		Boxes: []Box{
			{SN: "OCPG121196469", DeviceID: "TgjNiUqA6469", PeerID: "00226D5A5A74889X0030", Name: "eastmoon6469",
				HardwareModel: "WS1608", SystemVersion: "V1.7.2", Status: "online", IP: "203.0.113.7", LanIP: "192.168.31.213",
				ConnectTime: t0, DisconnectTime: t0.Add(-11 * time.Second),
				Partitions: []Partition{{Label: "/dev/sda1", Path: "/media/sda1", Capacity: 999659470848, Used: 1479147520}}},
			{SN: "OCPG121190002", DeviceID: "TgjNiUqA0002", PeerID: "00226D5A5A740002X0030", Name: "study",
				HardwareModel: "WS1608", SystemVersion: "V1.6.9", Status: "offline", IP: "203.0.113.8", LanIP: "192.168.31.214",
				ConnectTime: t0.Add(-48 * time.Hour), DisconnectTime: t0.Add(-24 * time.Hour), Upgradeable: true},
		},
		Income:            []float64{1.09098742, 1.68708031, 1.28912181, 1.1, 0.9, 1.3, 1.25, 1.05, 0.98, 1.2, 1.11, 1.07, 0.99, 1.01},
		TotalIncomeBefore: 100,
		Balance:           6.1728395,
	}
}

// Server is the fake. It is safe for concurrent use.
type Server struct {
	mu       sync.Mutex
	o        Options
	sessions map[string]time.Time
	boxes    []Box
	ep       fakeutil.Endpoints // counters, latency, HTTP statuses by path

	loginErr     int
	loginErrMsg  string
	captcha      bool
	drawRet      int
	drawMsg      string
	lastDraw     time.Time
	totalOutcome float64
	outcomes     []map[string]any

	once             sync.Once
	account, control http.Handler
}

// Captcha is the img_code the fake accepts while RequireCaptcha is on.
const Captcha = "K7PX"

// New returns a fake serving opts.
func New(o Options) *Server {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.SessionTTL <= 0 {
		o.SessionTTL = 7 * 24 * time.Hour
	}
	return &Server{o: o, sessions: map[string]time.Time{}, boxes: append([]Box(nil), o.Boxes...)}
}

// Start serves both hosts on loopback (plain http); stop closes them.
func (s *Server) Start() (accountURL, controlURL string, stop func()) {
	a := httptest.NewServer(s.AccountHandler())
	c := httptest.NewServer(s.ControlHandler())
	return a.URL, c.URL, func() { a.Close(); c.Close() }
}

// ---- switches and observations ----

// Count reports how many requests reached endpoint, e.g. "/user/login", "/listPeer",
// "/getUSBInfo", "/wkb/income-history", "/wkb/outcome-history", "/wkb/account-info",
// "/wkb/draw".
func (s *Server) Count(endpoint string) int { return s.ep.Count(endpoint) }

// Counts is a copy of every counter.
func (s *Server) Counts() map[string]int { return s.ep.Counts() }

// SetLoginError makes every login answer iRet code with msg (e.g. -129, -122, -100);
// 0 restores normal logins.
func (s *Server) SetLoginError(code int, msg string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.loginErr, s.loginErrMsg = code, msg
}

// RequireCaptcha makes logins without img_code answer -122 and with a wrong one -121.
func (s *Server) RequireCaptcha(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.captcha = on
}

// ExpireSessions invalidates every session, as a password change or the 7-day life would.
func (s *Server) ExpireSessions() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sessions = map[string]time.Time{}
}

// Sessions reports how many sessions are valid.
func (s *Server) Sessions() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, created := range s.sessions {
		if s.o.Now().Sub(created) < s.o.SessionTTL {
			n++
		}
	}
	return n
}

// SetHTTPStatus makes endpoint answer with HTTP status code (e.g. 503); 0 clears it.
func (s *Server) SetHTTPStatus(endpoint string, code int) { s.ep.SetHTTPStatus(endpoint, code) }

// SetLatency delays every answer of the named endpoints ("/listPeer", "/user/login", …;
// none: every endpoint) by d, as a distant upstream would; 0 turns it off. The delay ends
// early when the client gives up.
func (s *Server) SetLatency(d time.Duration, endpoints ...string) {
	s.ep.SetLatency(d, endpoints...)
}

// SetDrawRet makes wkb/draw answer data.drawRet code with msg; 0 restores success.
func (s *Server) SetDrawRet(code int, msg string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.drawRet, s.drawMsg = code, msg
}

// SetBalance sets the withdrawable balance.
func (s *Server) SetBalance(v float64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.o.Balance = v
}

// SetStatus changes a box's status ("online", "offline" or "exception", with an
// exception message for the latter) and stamps its connect or disconnect time. It
// reports whether the box exists.
func (s *Server) SetStatus(sn, status, exception string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range s.boxes {
		b := &s.boxes[i]
		if b.SN != sn {
			continue
		}
		now := s.o.Now()
		switch {
		case status == "online" && b.Status != "online":
			b.ConnectTime = now
		case status != "online" && b.Status == "online":
			b.DisconnectTime = now
		}
		b.Status = status
		b.ExceptionName, b.ExceptionMessage = "", ""
		if status == "exception" {
			b.ExceptionName, b.ExceptionMessage = "disk_error", exception
		}
		return true
	}
	return false
}

// AddBox binds a box to the account (replacing one with the same serial).
func (s *Server) AddBox(b Box) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range s.boxes {
		if s.boxes[i].SN == b.SN {
			s.boxes[i] = b
			return
		}
	}
	s.boxes = append(s.boxes, b)
}

// RemoveBox unbinds a box; it reports whether it existed.
func (s *Server) RemoveBox(sn string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range s.boxes {
		if s.boxes[i].SN == sn {
			s.boxes = append(s.boxes[:i], s.boxes[i+1:]...)
			return true
		}
	}
	return false
}

// SetPartitions replaces a box's partitions (nil or empty: the disk dropped).
func (s *Server) SetPartitions(sn string, parts []Partition) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range s.boxes {
		if s.boxes[i].SN == sn {
			s.boxes[i].Partitions = append([]Partition(nil), parts...)
			return true
		}
	}
	return false
}

// Box returns a copy of a box.
func (s *Server) Box(sn string) (Box, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, b := range s.boxes {
		if b.SN == sn {
			return b, true
		}
	}
	return Box{}, false
}

// Toggle switches a box between online and offline (the demo calls it on a timer, so
// that alerting is visible) and reports the new status; "" for an unknown box.
func (s *Server) Toggle(sn string) string {
	b, ok := s.Box(sn)
	if !ok {
		return ""
	}
	next := "offline"
	if b.Status != "online" {
		next = "online"
	}
	s.SetStatus(sn, next, "")
	return next
}

// ---- protocol ----

func md5Hex(s string) string {
	h := md5.Sum([]byte(s))
	return hex.EncodeToString(h[:])
}

// pwdHash is the protocol's two-step hash, written as the protocol notes spell it
// (Python slicing), independently of the provider's implementation.
func pwdHash(password string) string {
	s := md5Hex(password)
	s = s[0:2] + s[8:9] + s[3:8] + s[2:3] + s[9:17] + s[27:28] + s[18:27] + s[17:18] + s[28:]
	return md5Hex(s)
}

// sign over url.Values minus "sign": sorted name=value pairs, each followed by "&",
// then key=K.
func sign(v url.Values, key string) string {
	var items []string
	for k, vals := range v {
		if k == "sign" {
			continue
		}
		for _, x := range vals {
			items = append(items, k+"="+x)
		}
	}
	sort.Strings(items)
	text := "key=" + key
	if len(items) > 0 {
		text = strings.Join(items, "&") + "&" + text
	}
	return md5Hex(text)
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json;charset=UTF-8")
	_ = json.NewEncoder(w).Encode(v)
}

// AccountHandler serves the account host.
func (s *Server) AccountHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/user/login", s.login)
	mux.HandleFunc("/user/check-session", s.authed(func(w http.ResponseWriter, r *http.Request, _ string) {
		writeJSON(w, map[string]any{"iRet": 0, "sMsg": "ok"})
	}))
	mux.HandleFunc("/wkb/income-history", s.authed(s.income))
	mux.HandleFunc("/wkb/outcome-history", s.authed(s.outcome))
	mux.HandleFunc("/wkb/account-info", s.authed(s.accountInfo))
	mux.HandleFunc("/wkb/draw", s.authed(s.draw))
	return s.counted(mux)
}

// ControlHandler serves the control host.
func (s *Server) ControlHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/listPeer", s.signed(s.listPeer))
	mux.HandleFunc("/getUSBInfo", s.signed(s.usbInfo))
	return s.counted(mux)
}

// ServeHTTP serves both hosts on one listener (their paths do not overlap).
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.once.Do(func() { s.account, s.control = s.AccountHandler(), s.ControlHandler() })
	switch r.URL.Path {
	case "/listPeer", "/getUSBInfo":
		s.control.ServeHTTP(w, r)
	default:
		s.account.ServeHTTP(w, r)
	}
}

func (s *Server) counted(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		status, _, _ := s.ep.Hit(r.URL.Path)
		s.ep.Delay(r.Context(), r.URL.Path)
		if status != 0 {
			http.Error(w, http.StatusText(status), status)
			return
		}
		next.ServeHTTP(w, r)
	})
}

func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		http.Error(w, "POST only", http.StatusMethodNotAllowed)
		return
	}
	if err := r.ParseForm(); err != nil {
		writeJSON(w, map[string]any{"iRet": -100, "sMsg": "Parameter error"})
		return
	}
	f := r.PostForm
	if f.Get("sign") == "" || f.Get("sign") != sign(f, "") || f.Get("pwd") == "" || f.Get("deviceid") == "" {
		writeJSON(w, map[string]any{"iRet": -100, "sMsg": "Parameter error"})
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.loginErr != 0 {
		writeJSON(w, map[string]any{"iRet": s.loginErr, "sMsg": s.loginErrMsg})
		return
	}
	if s.captcha {
		switch code := f.Get("img_code"); {
		case code == "":
			writeJSON(w, map[string]any{"iRet": -122, "sMsg": "http://account.onethingpcs.com/user/captcha.jpg"})
			return
		case code != Captcha:
			writeJSON(w, map[string]any{"iRet": -121, "sMsg": "验证码错误"})
			return
		}
	}
	var who bool
	switch f.Get("account_type") {
	case "4":
		who = s.o.Phone != "" && f.Get("phone") == s.o.Phone
	case "5":
		who = s.o.Email != "" && f.Get("mail") == s.o.Email && f.Get("phone_area") == "Email"
	}
	if !who || f.Get("pwd") != pwdHash(s.o.Password) {
		writeJSON(w, map[string]any{"iRet": -129, "sMsg": "账号或密码不正确"})
		return
	}
	var b [16]byte
	_, _ = rand.Read(b[:])
	sid := hex.EncodeToString(b[:])
	s.sessions[sid] = s.o.Now()
	for _, c := range []*http.Cookie{{Name: "sessionid", Value: sid}, {Name: "userid", Value: s.o.UserID}} {
		c.MaxAge, c.Path = 604800, "/"
		http.SetCookie(w, c)
	}
	writeJSON(w, map[string]any{"iRet": 0, "sMsg": "ok", "data": map[string]any{
		"userid": s.o.UserID, "phone": s.o.Phone, "account_type": f.Get("account_type"), "bind_pwd": 1, "nickname": "miner",
		"pop_frame": map[string]any{"code": 0, "title": "", "body": "", "button1": "", "button2": ""}}})
}

// validSession checks the cookies; the caller holds s.mu.
func (s *Server) validSession(r *http.Request) (string, bool) {
	sid, err := r.Cookie("sessionid")
	if err != nil {
		return "", false
	}
	uid, err := r.Cookie("userid")
	if err != nil || uid.Value != s.o.UserID {
		return "", false
	}
	created, ok := s.sessions[sid.Value]
	if !ok || s.o.Now().Sub(created) >= s.o.SessionTTL {
		delete(s.sessions, sid.Value)
		return "", false
	}
	return sid.Value, true
}

// authed guards an account-host POST: cookies required, sign not verified (the real
// server was lax about POST signs).
func (s *Server) authed(h func(http.ResponseWriter, *http.Request, string)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			http.Error(w, "POST only", http.StatusMethodNotAllowed)
			return
		}
		_ = r.ParseForm()
		s.mu.Lock()
		sid, ok := s.validSession(r)
		s.mu.Unlock()
		if !ok {
			writeJSON(w, map[string]any{"iRet": -1, "sMsg": "not login"})
			return
		}
		h(w, r, sid)
	}
}

// signed guards a control-host GET: cookies and sign (key = sessionid) required.
func (s *Server) signed(h func(http.ResponseWriter, *http.Request)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet {
			http.Error(w, "GET only", http.StatusMethodNotAllowed)
			return
		}
		s.mu.Lock()
		sid, ok := s.validSession(r)
		s.mu.Unlock()
		if !ok {
			writeJSON(w, map[string]any{"rtn": 11, "msg": "session invalid"})
			return
		}
		q := r.URL.Query()
		if q.Get("sign") == "" || q.Get("sign") != sign(q, sid) {
			writeJSON(w, map[string]any{"rtn": 12, "msg": "sign error"})
			return
		}
		h(w, r)
	}
}

func money(v float64) string { return strconv.FormatFloat(v, 'f', 8, 64) }

type day struct {
	date string // YYYYMMDD
	num  float64
}

// days lays Income out on the calendar: Income[0] is yesterday (Beijing time).
func (s *Server) days() []day {
	today := s.o.Now().In(wire.CST)
	out := make([]day, len(s.o.Income))
	for i, v := range s.o.Income {
		out[i] = day{today.AddDate(0, 0, -(i + 1)).Format("20060102"), v}
	}
	return out
}

func (s *Server) income(w http.ResponseWriter, r *http.Request, _ string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	days := s.days()
	total := s.o.TotalIncomeBefore
	for _, d := range days {
		total += d.num
	}
	data := map[string]any{"totalIncome": total, "nextPage": -1}
	month := r.PostForm.Get("last_month")
	pick := func(pred func(day) bool) []map[string]any {
		arr := []map[string]any{}
		for _, d := range days {
			if pred(d) {
				arr = append(arr, map[string]any{"date": d.date, "num": money(d.num)})
			}
		}
		return arr
	}
	if month == "" { // page form: everything, newest first
		data["incomeArr"] = pick(func(day) bool { return true })
		writeJSON(w, map[string]any{"iRet": 0, "sMsg": "", "data": data})
		return
	}
	if month == "0" {
		month = s.o.Now().In(wire.CST).Format("200601")
	}
	data["incomeArr"] = pick(func(d day) bool { return strings.HasPrefix(d.date, month) })
	// month: the token of the previous month, "" when nothing older exists.
	prev := ""
	if t, err := time.Parse("200601", month); err == nil {
		p := t.AddDate(0, -1, 0).Format("200601")
		for _, d := range days {
			if d.date[:6] <= p {
				prev = p
				break
			}
		}
	}
	data["month"] = prev
	writeJSON(w, map[string]any{"iRet": 0, "sMsg": "", "data": data})
}

func (s *Server) outcome(w http.ResponseWriter, _ *http.Request, _ string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	total := "" // a fresh account answers "" (docs/onecloud.md, "Protocol: statistics")
	if len(s.outcomes) > 0 {
		total = money(s.totalOutcome)
	}
	writeJSON(w, map[string]any{"iRet": 0, "sMsg": "", "data": map[string]any{
		"totalOutcome": total, "nextPage": -1, "outcomeArr": append([]map[string]any{}, s.outcomes...)}})
}

func (s *Server) accountInfo(w http.ResponseWriter, _ *http.Request, _ string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	writeJSON(w, map[string]any{"iRet": 0, "sMsg": "", "data": map[string]any{
		"fronzen_time": 0, "bind_time": 1513127124, "balance": money(s.o.Balance), "isBindAddr": 1,
		"addr":    "0x00000000000000000000000000000000c0ffee01",
		"gasInfo": map[string]any{"fastGas": "0.5", "normalGas": "0.01", "isFree": 0}}})
}

func (s *Server) draw(w http.ResponseWriter, r *http.Request, _ string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.o.Now().In(wire.CST)
	y1, w1 := now.ISOWeek()
	if !s.lastDraw.IsZero() {
		if y0, w0 := s.lastDraw.ISOWeek(); y0 == y1 && w0 == w1 {
			writeJSON(w, map[string]any{"iRet": 99, "sMsg": "本周已提现，每周只能提现一次"})
			return
		}
	}
	if r.PostForm.Get("gasType") == "" {
		writeJSON(w, map[string]any{"iRet": -100, "sMsg": "Parameter error"})
		return
	}
	amount := s.o.Balance
	if v := r.PostForm.Get("drawWkb"); v != "" {
		a, err := strconv.ParseFloat(v, 64)
		if err != nil || a < 0 {
			writeJSON(w, map[string]any{"iRet": -100, "sMsg": "Parameter error"})
			return
		}
		amount = a
	}
	fail := func(code int, msg string) {
		writeJSON(w, map[string]any{"iRet": 0, "sMsg": "", "data": map[string]any{"drawRet": code, "drawMsg": msg}})
	}
	switch {
	case s.drawRet != 0:
		fail(s.drawRet, s.drawMsg)
		return
	case amount <= 0 || amount > s.o.Balance+1e-9:
		fail(1, "余额不足")
		return
	}
	const gas = 0.01
	stamp := now.Format("2006-01-02 15:04:05")
	s.lastDraw = now
	origin := s.o.Balance
	s.o.Balance -= amount
	s.totalOutcome += amount
	s.outcomes = append([]map[string]any{{"date": stamp, "originBalance": amount, "gasCost": gas, "status": 2, "gasType": 0,
		"updateTime": stamp, "addr": "0x00000000000000000000000000000000c0ffee01"}}, s.outcomes...)
	writeJSON(w, map[string]any{"iRet": 0, "sMsg": "", "data": map[string]any{
		"addr": "0x00000000000000000000000000000000c0ffee01", "drawMsg": "", "drawRet": 0, "drawTime": stamp,
		"gasCost": fmt.Sprintf("%.2f", gas), "gasType": 2, "originBalance": money(amount), "balanceBefore": money(origin)}})
}

func unix(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.Unix()
}

func (s *Server) listPeer(w http.ResponseWriter, _ *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	devs := make([]map[string]any, 0, len(s.boxes))
	for _, b := range s.boxes {
		devs = append(devs, map[string]any{
			"device_id": b.DeviceID, "device_sn": b.SN, "peerid": b.PeerID, "device_name": b.Name,
			"device_type": "OneCloud", "hardware_model": b.HardwareModel, "product_id": 412,
			"system_name": "挖矿固件", "system_version": b.SystemVersion, "upgradeable": b.Upgradeable,
			"status": b.Status, "exception_name": b.ExceptionName, "exception_message": b.ExceptionMessage,
			"ip": b.IP, "lan_ip": b.LanIP, "mac_address": "00:22:6D:5A:xx:xx",
			"ip_info":      map[string]any{"country": "中国", "province": "浙江省", "city": "杭州市", "isp": "电信"},
			"connect_time": unix(b.ConnectTime), "disconnect_time": unix(b.DisconnectTime), "bind_time": 1526904745,
			"imported": "20180519", "coturn_online": 1, "area_code": "CN",
			"features":     map[string]any{"miner": 0, "onecloud_coin": 1526904760},
			"account_type": "miu", "account_id": s.o.UserID, "account_name": "", "broker_id": 226568,
			"is_exp": false, "type": 0, "paused": false, "hibernated": false, "disk_quota": int64(10995116277760),
			"dcdn_clients": []any{}, "schedule_hours": []any{map[string]any{"from": 0, "to": 24, "params": map[string]any{}, "type": "automatic"}},
		})
	}
	writeJSON(w, map[string]any{"rtn": 0, "result": []any{0, map[string]any{"global_appearance": 1, "devices": devs}}})
}

func (s *Server) usbInfo(w http.ResponseWriter, r *http.Request) {
	id := r.URL.Query().Get("deviceid")
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, b := range s.boxes {
		if b.DeviceID != id {
			continue
		}
		if b.Status == "offline" {
			writeJSON(w, map[string]any{"rtn": 10, "msg": "device offline"})
			return
		}
		parts := make([]map[string]any, 0, len(b.Partitions))
		for i, p := range b.Partitions {
			parts = append(parts, map[string]any{"used": strconv.FormatInt(p.Used, 10), "capacity": strconv.FormatInt(p.Capacity, 10),
				"disk_id": 0, "label": p.Label, "path": p.Path, "unique": 23 + i, "id": i + 1})
		}
		writeJSON(w, map[string]any{"msg": "success", "rtn": 0, "result": []any{0, map[string]any{"partitions": parts}}})
		return
	}
	writeJSON(w, map[string]any{"rtn": 10, "msg": "device not found"})
}
