// Package fake is a faithful fake of the China Telecom app API (docs/telecom.md,
// "Protocol: the fake upstream"): login with its own RSA key pair (the client takes the public key from config), the
// three queries, token expiry and "logged in elsewhere", every documented login error code
// on demand, and several plans per phone number. Tests, the demo and benchmarks share it.
//
// One handler serves both hosts (paths /login/client/userLoginNormal and /query/...), so a
// single httptest server can be both login_url and base_url.
package fake

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"embed"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/accountbridge/accountbridge/internal/providers/fakeutil"
)

// Plan names a canned account state.
type Plan string

// The plans the fake serves (docs/telecom.md, "Protocol: the fake upstream").
const (
	PlanNormal      Plan = "normal"      // a full plan, packages, a 2-member shared plan
	PlanOverQuota   Plan = "overquota"   // common data over quota, voice over quota, balance "0.29"
	PlanCapped      Plan = "capped"      // unlimited, speed-capped ("40GB后降速") and beyond the cap
	PlanUnlimited   Plan = "unlimited"   // unlimited "畅享": used only, empty totals
	PlanSparse      Plan = "sparse"      // missing objects, "" and null values, a JSON number
	PlanBalanceOnly Plan = "balanceonly" // no flowInfo / voiceInfo; balance "0.00" with arrears
)

// Plans lists every plan.
func Plans() []Plan {
	return []Plan{PlanNormal, PlanOverQuota, PlanCapped, PlanUnlimited, PlanSparse, PlanBalanceOnly}
}

//go:embed plans/*.json
var planFiles embed.FS

type planData struct {
	Important json.RawMessage `json:"important"`
	Packages  json.RawMessage `json:"packages"`
	Share     json.RawMessage `json:"share"`
}

var planCache sync.Map // Plan → planData

func loadPlan(p Plan) planData {
	if d, ok := planCache.Load(p); ok {
		return d.(planData)
	}
	b, err := planFiles.ReadFile("plans/" + string(p) + ".json")
	if err != nil {
		panic("fake: unknown plan " + string(p))
	}
	var d planData
	if err := json.Unmarshal(b, &d); err != nil {
		panic("fake: plan " + string(p) + ": " + err.Error())
	}
	planCache.Store(p, d)
	return d
}

// ImportantData returns the qryImportantData "data" object of a plan.
func ImportantData(p Plan) []byte { return loadPlan(p).Important }

// ImportantResponse returns a whole successful qryImportantData response for a plan.
func ImportantResponse(p Plan) []byte { return okResponse(loadPlan(p).Important) }

// PackagesData and ShareData return the other two queries' "data" objects.
func PackagesData(p Plan) []byte { return loadPlan(p).Packages }
func ShareData(p Plan) []byte    { return loadPlan(p).Share }

func okResponse(data json.RawMessage) []byte {
	var b strings.Builder
	b.WriteString(`{"headerInfos":{"code":"0000","reason":"操作成功"},"responseData":{"resultCode":"0000","resultDesc":"","attach":"test","data":`)
	b.Write(data)
	b.WriteString(`}}`)
	return []byte(b.String())
}

// Login error codes the fake can be switched to (docs/telecom.md, "Errors and what to do").
const (
	CodeWrongPasswordType = "1000"
	CodeWrongPassword     = "3001"
	CodeCaptcha           = "3005"
	CodeNewDevice         = "3006"
	CodeOldVersion        = "X10401"
)

type account struct {
	password string
	plan     Plan
	extraKB  int64  // data used beyond the plan's (AddDataUse), in KB
	token    string // the one valid token: a later login invalidates the previous one
	fails    int
	trusted  []string
}

// Server is the fake upstream; use it as an http.Handler.
type Server struct {
	key *rsa.PrivateKey

	mu         sync.Mutex
	accounts   map[string]*account
	tokens     map[string]string // token → phone
	loginCode  string
	queryCode  string
	minVersion int
	logins     int
	loginOK    int
	ep         fakeutil.Endpoints // query counters (by operation) and latency
	violations []string
	lastPlain  string
}

// New returns a fake with a fresh 1024-bit RSA key pair and no accounts.
func New() *Server {
	key, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		panic("fake: " + err.Error())
	}
	return NewWithKey(key)
}

// NewWithKey returns a fake that decrypts logins with key (to keep one key across runs).
func NewWithKey(key *rsa.PrivateKey) *Server {
	return &Server{key: key, accounts: map[string]*account{}, tokens: map[string]string{},
		minVersion: 12}
}

// PublicKeyPEM is what the client's rsa_public_key must be set to.
func (s *Server) PublicKeyPEM() string {
	der, _ := x509.MarshalPKIXPublicKey(&s.key.PublicKey)
	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
}

// PrivateKey lets tests decrypt a login cipher themselves.
func (s *Server) PrivateKey() *rsa.PrivateKey { return s.key }

// AddAccount adds (or replaces) a phone number with its service password and plan.
func (s *Server) AddAccount(phone, password string, plan Plan) {
	loadPlan(plan) // fail early on a typo
	s.mu.Lock()
	defer s.mu.Unlock()
	s.accounts[phone] = &account{password: password, plan: plan}
}

// SetPlan switches a number's plan.
func (s *Server) SetPlan(phone string, plan Plan) {
	loadPlan(plan)
	s.mu.Lock()
	defer s.mu.Unlock()
	if a := s.accounts[phone]; a != nil {
		a.plan = plan
	}
}

// RequireTrustedDevice makes logins of phone answer 3006 unless the cipher's device slot
// or androidId is one of ids (first 12 characters compared for the slot). No ids: any.
func (s *Server) RequireTrustedDevice(phone string, ids ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if a := s.accounts[phone]; a != nil {
		a.trusted = ids
	}
}

// SetLoginCode makes every later login answer code (one of the Code constants, or any
// other code as a generic failure); "" restores normal logins.
func (s *Server) SetLoginCode(code string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.loginCode = code
}

// SetQueryCode makes every later query answer headerInfos.code = code; "" restores.
func (s *Server) SetQueryCode(code string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.queryCode = code
}

// SetMinVersion sets the lowest clientType major version that may log in (default 12).
func (s *Server) SetMinVersion(major int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.minVersion = major
}

// ExpireTokens invalidates every token (queries answer X201 "token 过期").
func (s *Server) ExpireTokens() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tokens = map[string]string{}
	for _, a := range s.accounts {
		a.token = ""
	}
}

// LoginElsewhere emulates the phone app logging in: the number's token is replaced.
func (s *Server) LoginElsewhere(phone string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if a := s.accounts[phone]; a != nil {
		delete(s.tokens, a.token)
		a.token = newToken()
		s.tokens[a.token] = phone
	}
}

// The operations SetLatency can name.
const (
	OpLogin         = "login"
	OpImportantData = "qryImportantData"
	OpFluxPackage   = "userFluxPackage"
	OpShareUsage    = "qryShareUsage"
	loginPath       = "/login/client/userLoginNormal"
	queryPathPrefix = "/query/"
)

// SetLatency delays every answer of the named operations (OpLogin, OpImportantData, …;
// none: every request) by d, as a distant upstream would; 0 turns it off. The delay ends
// early when the client gives up.
func (s *Server) SetLatency(d time.Duration, ops ...string) { s.ep.SetLatency(d, ops...) }

func (s *Server) delay(r *http.Request) {
	op := OpLogin
	if r.URL.Path != loginPath {
		op = strings.TrimPrefix(r.URL.Path, queryPathPrefix)
	}
	s.ep.Delay(r.Context(), op)
}

// AddDataUse makes a number's data use grow by kib KB (1024 bytes) beyond its plan: the
// common and total data lines report that much more used and less remaining (for the
// demo). It is safe to call while requests are served; it reports whether the number
// exists.
func (s *Server) AddDataUse(phone string, kib int64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.accounts[phone]
	if a == nil {
		return false
	}
	a.extraKB += kib
	return true
}

// grow returns a qryImportantData "data" object with extraKB more used on the common
// and total data lines (remaining never below 0, the rest counted as over quota).
func grow(data json.RawMessage, extraKB int64) json.RawMessage {
	var m map[string]any
	dec := json.NewDecoder(strings.NewReader(string(data)))
	dec.UseNumber()
	if err := dec.Decode(&m); err != nil {
		return data
	}
	flow, _ := m["flowInfo"].(map[string]any)
	if flow == nil {
		return data
	}
	num := func(v any) int64 {
		var n int64
		switch x := v.(type) {
		case string:
			n, _ = strconv.ParseInt(x, 10, 64)
		case json.Number:
			n, _ = x.Int64()
		}
		return n
	}
	for _, key := range []string{"commonFlow", "totalAmount"} {
		line, _ := flow[key].(map[string]any)
		if line == nil {
			continue
		}
		used, bal, over := num(line["used"]), num(line["balance"]), num(line["over"])
		used += extraKB
		if extraKB > bal {
			over += extraKB - bal
			bal = 0
		} else {
			bal -= extraKB
		}
		line["used"], line["balance"], line["over"] = strconv.FormatInt(used, 10), strconv.FormatInt(bal, 10), strconv.FormatInt(over, 10)
	}
	b, err := json.Marshal(m)
	if err != nil {
		return data
	}
	return b
}

// Logins counts login requests (successful or not); LoginSuccesses only the good ones.
func (s *Server) Logins() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.logins
}

// LoginSuccesses counts logins that issued a token.
func (s *Server) LoginSuccesses() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.loginOK
}

// Queries counts requests of one query ("qryImportantData", "userFluxPackage", "qryShareUsage").
func (s *Server) Queries(op string) int {
	return s.ep.Count(op)
}

// Violations lists protocol mistakes the fake saw (bad cipher layout, wrong shift, …).
func (s *Server) Violations() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.violations)
}

// LastLoginPlaintext is the decrypted cipher of the last login.
func (s *Server) LastLoginPlaintext() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lastPlain
}

func newToken() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func unshift(v string) string {
	var b strings.Builder
	for _, r := range v {
		b.WriteRune((r - 2) & 0xFFFF)
	}
	return b.String()
}

type request struct {
	HeaderInfos struct {
		Code           string `json:"code"`
		ClientType     string `json:"clientType"`
		Timestamp      string `json:"timestamp"`
		ShopID         string `json:"shopId"`
		Source         string `json:"source"`
		SourcePassword string `json:"sourcePassword"`
		UserLoginName  string `json:"userLoginName"`
		Token          string `json:"token"`
	} `json:"headerInfos"`
	Content struct {
		FieldData map[string]any `json:"fieldData"`
	} `json:"content"`
}

func (r *request) field(k string) string {
	v, _ := r.Content.FieldData[k].(string)
	return v
}

var (
	clientTypeRe = regexp.MustCompile(`^#([0-9]+)\.[0-9.]+#channel50#[^#]+#$`)
	phoneRe      = regexp.MustCompile(`^1[0-9]{10}$`)
	tsRe         = regexp.MustCompile(`^20[0-9]{12}$`)
	osRe         = regexp.MustCompile(`^[0-9]{2}\.[0-9]\.$`)
)

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	var req request
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(&req); err != nil {
		s.violation("%s: body is not the JSON envelope: %v", r.URL.Path, err)
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	if !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		s.violation("%s: Content-Type %q", r.URL.Path, r.Header.Get("Content-Type"))
	}
	s.delay(r)
	h := req.HeaderInfos
	if h.ShopID != "20002" || h.Source != "110003" || h.SourcePassword != "Sid98s" {
		s.violation("%s: shopId/source/sourcePassword = %q/%q/%q", r.URL.Path, h.ShopID, h.Source, h.SourcePassword)
	}
	if !tsRe.MatchString(h.Timestamp) {
		s.violation("%s: timestamp %q is not yyyyMMddHHmmss", r.URL.Path, h.Timestamp)
	} else if _, err := time.Parse("20060102150405", h.Timestamp); err != nil {
		s.violation("%s: timestamp %q is not a valid time", r.URL.Path, h.Timestamp)
	}
	switch r.URL.Path {
	case loginPath:
		s.login(w, &req)
	case "/query/qryImportantData":
		s.query(w, &req, "qryImportantData", func(p planData) json.RawMessage { return p.Important })
	case "/query/userFluxPackage":
		s.query(w, &req, "userFluxPackage", func(p planData) json.RawMessage { return p.Packages })
	case "/query/qryShareUsage":
		s.query(w, &req, "qryShareUsage", func(p planData) json.RawMessage { return p.Share })
	default:
		http.NotFound(w, r)
	}
}

func (s *Server) violation(format string, args ...any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.violations = append(s.violations, fmt.Sprintf(format, args...))
}

func write(w http.ResponseWriter, body string) {
	w.Header().Set("Content-Type", "application/json;charset=UTF-8")
	_, _ = w.Write([]byte(body))
}

func loginFail(code, desc, data string) string {
	return `{"headerInfos":{"code":"0000","reason":"操作成功"},"responseData":{"resultCode":"` + code +
		`","resultDesc":"` + desc + `","attach":"","data":` + data + `}}`
}

const genericFail = `{"headerInfos":{"code":"0000","reason":"操作成功"},"responseData":{"resultCode":"1000","resultDesc":"请求失败","attach":"","data":null}}`

func failCountData(count string) string {
	return `{"loginSuccessResult":null,"loginFailResult":{"loginFailTime":"` + count + `","imsiPhoneNum":null,"nativeNet":null,"verifyCode":null}}`
}

const newDeviceData = `{"loginSuccessResult":null,"loginFailResult":{"loginFailTime":"2026-07-11 15:49:54","imsiPhoneNum":null,"nativeNet":null,"verifyCode":"Zm9yIGEgZmFrZSBzZXJ2ZXIgb25seSwgbm90IHJlYWwhIQ==","deviceLockInterceptPrompt":null}}`

// login checks everything docs/telecom.md, "Protocol: login" describes and answers like the real server.
func (s *Server) login(w http.ResponseWriter, req *request) {
	s.mu.Lock()
	s.logins++
	forced, minVersion := s.loginCode, s.minVersion
	s.mu.Unlock()

	h := req.HeaderInfos
	m := clientTypeRe.FindStringSubmatch(h.ClientType)
	if m == nil {
		s.violation("login: clientType %q is not #<version>#channel50#<model>#", h.ClientType)
		write(w, genericFail)
		return
	}
	if major, _ := strconv.Atoi(m[1]); major < minVersion || forced == CodeOldVersion {
		write(w, loginFail("X10401", "为保护您的账户安全，当前版本不支持密码登录，请升级至最新版本或使用其他方式登录", "null"))
		return
	}
	phone := unshift(req.field("phoneNum"))
	password := unshift(req.field("authentication"))
	bad := func(format string, args ...any) {
		s.violation("login: "+format, args...)
		write(w, genericFail)
	}
	switch {
	case !phoneRe.MatchString(phone):
		bad("phoneNum %q is not a +2-shifted mobile number", req.field("phoneNum"))
		return
	case h.UserLoginName != req.field("phoneNum"):
		bad("userLoginName %q differs from phoneNum", h.UserLoginName)
		return
	case req.field("loginType") != "4":
		bad("loginType %q, want 4 (service password)", req.field("loginType"))
		return
	case req.field("deviceUid") == "":
		bad("deviceUid missing")
		return
	case h.Token != "":
		bad("login sent a token")
		return
	}
	cipher := req.field("loginAuthCipherAsymmertric")
	ct, err := base64.StdEncoding.DecodeString(cipher)
	if err != nil || len(ct) != 128 || len(cipher) != 172 {
		bad("loginAuthCipherAsymmertric is not standard Base64 of 128 bytes")
		return
	}
	//lint:ignore SA1019 the real server's login cipher is PKCS#1 v1.5
	plainB, err := rsa.DecryptPKCS1v15(nil, s.key, ct)
	if err != nil {
		bad("loginAuthCipherAsymmertric does not decrypt with the login key")
		return
	}
	plain := string(plainB)
	s.mu.Lock()
	s.lastPlain = plain
	s.mu.Unlock()
	// model(10) os(5) slot(≤12) phone(11) ts(14) password(6) "0$$$0."
	const tail = "0$$$0."
	if len(plain) < 15+1+11+14+6+len(tail) || len(plain) > 15+12+11+14+6+len(tail) ||
		!strings.HasPrefix(plain, "iPhone 14 ") || !strings.HasSuffix(plain, tail) {
		bad("cipher plaintext layout wrong (length %d)", len(plain))
		return
	}
	body := plain[:len(plain)-len(tail)]
	cPwd := body[len(body)-6:]
	cTS := body[len(body)-20 : len(body)-6]
	cPhone := body[len(body)-31 : len(body)-20]
	slot := body[15 : len(body)-31]
	switch {
	case !osRe.MatchString(plain[10:15]):
		bad("cipher OS version prefix %q", plain[10:15])
		return
	case cTS != h.Timestamp:
		bad("cipher timestamp %q differs from headerInfos.timestamp %q", cTS, h.Timestamp)
		return
	case cPhone != phone:
		bad("cipher phone differs from phoneNum")
		return
	case cPwd != password:
		bad("cipher password differs from authentication")
		return
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.accounts[phone]
	switch forced {
	case CodeWrongPasswordType:
		write(w, genericFail)
		return
	case CodeWrongPassword:
		if a != nil {
			a.fails++
		}
		write(w, loginFail("3001", "手机号或密码有误，请重新输入", failCountData("1")))
		return
	case CodeCaptcha:
		write(w, loginFail("3005", "请输入验证码", failCountData("0")))
		return
	case CodeNewDevice:
		write(w, loginFail("3006", "", newDeviceData))
		return
	case "":
	default:
		write(w, loginFail(forced, "系统繁忙", "null"))
		return
	}
	if a == nil || a.password != password {
		n := 1
		if a != nil {
			a.fails++
			n = a.fails
		}
		write(w, loginFail("3001", "手机号或密码有误，请重新输入", failCountData(strconv.Itoa(n))))
		return
	}
	if len(a.trusted) > 0 {
		android := unshift(req.field("androidId"))
		ok := false
		for _, id := range a.trusted {
			if id == android || (len(id) >= 12 && id[:12] == slot) || id == slot {
				ok = true
			}
		}
		if !ok {
			write(w, loginFail("3006", "", newDeviceData))
			return
		}
	}
	a.fails = 0
	delete(s.tokens, a.token) // one session per number: the previous token dies
	a.token = newToken()
	s.tokens[a.token] = phone
	s.loginOK++
	write(w, `{"headerInfos":{"code":"0000","reason":"操作成功"},"responseData":{"resultCode":"0000","resultDesc":"成功","attach":"",`+
		`"data":{"loginSuccessResult":{"phoneNbr":"`+phone+`","token":"`+a.token+`","userId":"123456789012","userType":"1",`+
		`"isDirectCon":"0","phoneType":"0","provinceCode":"600101","cityCode":"8441900","provinceName":"广东","cityName":"东莞",`+
		`"areaCode":"0769","nativeNet":"1","netType":"","accessToken":null,"memberType":"","operator":"","isNewUser":"0"},"loginFailResult":null}}}`)
}

// query answers one of the three queries for the token's number.
func (s *Server) query(w http.ResponseWriter, req *request, op string, pick func(planData) json.RawMessage) {
	s.ep.Hit(op)
	s.mu.Lock()
	phone, ok := s.tokens[req.HeaderInfos.Token]
	forced := s.queryCode
	var plan Plan
	var extraKB int64
	if a := s.accounts[phone]; ok && a != nil {
		plan, extraKB = a.plan, a.extraKB
	}
	s.mu.Unlock()

	if req.HeaderInfos.Code == "" {
		s.violation("%s: headerInfos.code missing", op)
	}
	if forced != "" {
		write(w, `{"headerInfos":{"code":"`+forced+`","reason":"fake: forced code"},"responseData":null}`)
		return
	}
	if !ok || req.HeaderInfos.Token == "" {
		write(w, `{"headerInfos":{"code":"X201","reason":"token 过期"},"responseData":null}`)
		return
	}
	if acct := unshift(req.field("account")); acct != phone {
		s.violation("%s: fieldData.account is not the +2-shifted number of the token", op)
	}
	if req.HeaderInfos.UserLoginName != "" && unshift(req.HeaderInfos.UserLoginName) != phone {
		s.violation("%s: userLoginName is not the +2-shifted number of the token", op)
	}
	switch op {
	case "qryImportantData":
		if req.field("provinceCode") == "" || req.field("cityCode") == "" {
			s.violation("%s: provinceCode/cityCode missing", op)
		}
	case "qryShareUsage":
		if _, err := time.Parse("200601", req.field("billingCycle")); err != nil {
			s.violation("%s: billingCycle %q is not YYYYMM", op, req.field("billingCycle"))
		}
	}
	data := pick(loadPlan(plan))
	if op == OpImportantData && extraKB > 0 {
		data = grow(data, extraKB)
	}
	write(w, string(okResponse(data)))
}
