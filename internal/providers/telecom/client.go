package telecom

// The China Telecom app protocol (docs/telecom.md, "Protocol notes"): the request envelope,
// the +2 shift, the RSA login cipher, login and the three queries, and the mapping of the
// upstream error codes onto the poller's error kinds.
//
// TLS: the servers are known to negotiate a finite-field DHE key exchange with a DH group
// that modern OpenSSL refuses (DH_KEY_TOO_SMALL). Go's crypto/tls implements no DHE at all
// (only ECDHE and RSA key exchange: see cipher_suites.go / key_agreement.go in GOROOT), so
// a Go client never offers a DHE suite and the server cannot pick one; the handshake uses
// ECDHE (or TLS 1.3) with normal certificate verification and needs no special settings.
// Should a server ever offer only RSA key exchange, Go (≥1.22) has those suites off by
// default: the handshake then fails with a handshake_failure alert and the error tells the
// user to start the bridge with GODEBUG=tlsrsakex=1 (see docs/telecom.md).

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	jsonv2 "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"

	"github.com/accountbridge/accountbridge/internal/providers"
	"github.com/accountbridge/accountbridge/internal/providers/wire"
)

// Production defaults (docs/telecom.md, "Protocol: transport and envelope"; docs/telecom.md, "Protocol: login").
const (
	DefaultLoginURL      = "https://appgologin.189.cn:9031"
	DefaultBaseURL       = "https://appfuwu.189.cn:9021"
	DefaultClientVersion = "12.2.0"
	// DefaultRSAPublicKey is the published login key every client uses (docs/telecom.md, "Protocol: login").
	DefaultRSAPublicKey = `-----BEGIN PUBLIC KEY-----
MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQDBkLT15ThVgz6/NOl6s8GNPofd
WzWbCkWnkaAm7O2LjkM1H7dMvzkiqdxU02jamGRHLX/ZNMCXHnPcW/sDhiFCBN18
qFvy8g6VYb9QtroI09e176s+ZCtiv7hbin2cCTj99iUpnEloZm19lwHyo69u5UMi
PMpq0/XKBO8lYhN/gwIDAQAB
-----END PUBLIC KEY-----`
)

// Wire constants.
const (
	PathLogin       = "/login/client/userLoginNormal"
	PathImportant   = "/query/qryImportantData"
	PathPackages    = "/query/userFluxPackage"
	PathShare       = "/query/qryShareUsage"
	ShopID          = "20002"
	SourceID        = "110003"
	SourcePassword  = "Sid98s"
	CipherModel     = "iPhone 14 " // 10 chars, trailing space is real
	SystemVersion   = "15.4.0"
	clientModel     = "iPhone 14 Pro"
	cipherTail      = "0$$$0." // sliding time "0$$$" + percentage "0."
	defaultProvince = "600101"
	defaultCity     = "8441900"
	maxBody         = 4 << 20
)

// Shift adds d to every character (docs/telecom.md, "Protocol: number shift"): Shift("189", 2) = ":;". Decoding uses -2.
func Shift(s string, d rune) string {
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s {
		b.WriteRune((r + d) & 0xFFFF)
	}
	return b.String()
}

// Timestamp is the wire timestamp, Beijing time with seconds forced to 00 (docs/telecom.md, "Protocol: transport and envelope").
func Timestamp(t time.Time) string { return t.In(wire.CST).Format("20060102150400") }

// ClientType is the headerInfos.clientType for an app version (docs/telecom.md, "Protocol: transport and envelope").
func ClientType(version string) string { return "#" + version + "#channel50#" + clientModel + "#" }

// LoginPlaintext is the fixed-width string encrypted into loginAuthCipherAsymmertric (docs/telecom.md, "Protocol: login"):
// model(10) + OS prefix(5) + device slot(12) + phone(11) + timestamp(14) + password(6) + "0$$$0.".
func LoginPlaintext(slot, phone, ts, password string) string {
	if len(slot) > 12 {
		slot = slot[:12]
	}
	return CipherModel + SystemVersion[:5] + slot + phone + ts + password + cipherTail
}

// ParsePublicKey reads an RSA public key as PEM ("PUBLIC KEY" or "RSA PUBLIC KEY") or as
// the bare Base64 DER body of one.
func ParsePublicKey(s string) (*rsa.PublicKey, error) {
	s = strings.TrimSpace(s)
	var der []byte
	if blk, _ := pem.Decode([]byte(s)); blk != nil {
		der = blk.Bytes
	} else {
		var err error
		der, err = base64.StdEncoding.DecodeString(strings.Join(strings.Fields(s), ""))
		if err != nil {
			return nil, errors.New("neither PEM nor Base64")
		}
	}
	if k, err := x509.ParsePKIXPublicKey(der); err == nil {
		if rk, ok := k.(*rsa.PublicKey); ok {
			return rk, nil
		}
		return nil, errors.New("not an RSA key")
	}
	k, err := x509.ParsePKCS1PublicKey(der)
	if err != nil {
		return nil, errors.New("not an RSA public key")
	}
	return k, nil
}

// EncryptLogin is RSA PKCS#1 v1.5 + standard Base64, as the app does. PKCS#1 v1.5
// encryption is deprecated in Go for good reasons, but it is what the server decrypts.
func EncryptLogin(pub *rsa.PublicKey, plaintext string) (string, error) {
	//lint:ignore SA1019 the server decrypts nothing else (see above)
	ct, err := rsa.EncryptPKCS1v15(rand.Reader, pub, []byte(plaintext))
	if err != nil {
		return "", err
	}
	return base64.StdEncoding.EncodeToString(ct), nil
}

// Header is the request headerInfos (docs/telecom.md, "Protocol: transport and envelope").
type Header struct {
	Code           string `json:"code"`
	ClientType     string `json:"clientType"`
	Timestamp      string `json:"timestamp"`
	ShopID         string `json:"shopId"`
	Source         string `json:"source"`
	SourcePassword string `json:"sourcePassword"`
	UserLoginName  string `json:"userLoginName"`
	Token          string `json:"token"`
}

// Request is the envelope of every call.
type Request[F any] struct {
	HeaderInfos Header `json:"headerInfos"`
	Content     struct {
		Attach    string `json:"attach"`
		FieldData F      `json:"fieldData"`
	} `json:"content"`
}

// LoginFields is content.fieldData of userLoginNormal (docs/telecom.md, "Protocol: login").
type LoginFields struct {
	AccountType    string `json:"accountType"`
	Authentication string `json:"authentication"`
	DeviceUID      string `json:"deviceUid"`
	IsChinatelecom string `json:"isChinatelecom"`
	Cipher         string `json:"loginAuthCipherAsymmertric"`
	LoginType      string `json:"loginType"`
	PhoneNum       string `json:"phoneNum"`
	SystemVersion  string `json:"systemVersion"`
	AndroidID      string `json:"androidId,omitempty"`
}

// ImportantFields is content.fieldData of qryImportantData (docs/telecom.md, "Protocol: queries").
type ImportantFields struct {
	ProvinceCode   string `json:"provinceCode"`
	CityCode       string `json:"cityCode"`
	ShopID         string `json:"shopId"`
	IsChinatelecom string `json:"isChinatelecom"`
	Account        string `json:"account"`
}

// PackageFields is content.fieldData of userFluxPackage (docs/telecom.md, "Protocol: queries").
type PackageFields struct {
	QueryFlag  string `json:"queryFlag"`
	AccessAuth string `json:"accessAuth"`
	Account    string `json:"account"`
}

// ShareFields is content.fieldData of qryShareUsage (docs/telecom.md, "Protocol: queries").
type ShareFields struct {
	BillingCycle string `json:"billingCycle"`
	Account      string `json:"account"`
}

// session is what a login yields and what is kept in the KV between polls and restarts.
type session struct {
	Phone        string    `json:"phone"`
	Token        string    `json:"token"`
	UserID       string    `json:"userId,omitempty"`
	ProvinceCode string    `json:"provinceCode,omitempty"`
	CityCode     string    `json:"cityCode,omitempty"`
	LoginTime    time.Time `json:"loginTime"`
}

// device is what identifies "this phone" to the login (docs/telecom.md, "Protocol: login").
type device struct {
	Slot      string // the 12-char cipher slot
	UID       string // fieldData.deviceUid
	AndroidID string // plain; sent +2-shifted, only with a configured device_id
}

type client struct {
	http          *http.Client
	loginURL      string
	baseURL       string
	clientVersion string
	pub           *rsa.PublicKey
	phone         string
	password      string
}

// apiError is a non-success answer of the upstream.
type apiError struct {
	Op     string
	Code   string
	Reason string
}

func (e *apiError) Error() string {
	if e.Reason == "" {
		return fmt.Sprintf("%s: China Telecom answered code %s", e.Op, e.Code)
	}
	return fmt.Sprintf("%s: China Telecom answered code %s (%s)", e.Op, e.Code, e.Reason)
}

// loginError is a refused login; the provider turns it into the right outcome.
type loginError struct {
	Code      string
	Desc      string
	FailCount string // loginFailResult.loginFailTime: a counter for 3001, a datetime for 3006
}

func (e *loginError) Error() string {
	if e.Desc == "" {
		return "login refused with code " + e.Code
	}
	return "login refused with code " + e.Code + " (" + e.Desc + ")"
}

// authExpired lists the codes that mean "the token is dead, log in again" (docs/telecom.md, "Protocol: tokens and error codes"): X201
// everywhere, X110 on the XML gateway and 0200 in one script. 1001/2001/9999 (unconfirmed,
// no samples) are deliberately not here: treating a generic code as expiry would log in on
// every poll and keep kicking the phone app out.
func authExpired(code string) bool { return code == "X201" || code == "X110" || code == "0200" }

// envelope is the decoded response envelope (docs/telecom.md, "Protocol: transport and envelope").
type envelope struct {
	HeaderCode   string
	HeaderReason string
	HasResponse  bool
	ResultCode   string
	ResultDesc   string
	Data         json.RawMessage // nil when absent or null
}

func decodeEnvelope(op string, body []byte) (envelope, error) {
	var raw struct {
		HeaderInfos *struct {
			Code   wire.Text `json:"code"`
			Reason wire.Text `json:"reason"`
		} `json:"headerInfos"`
		ResponseData *struct {
			ResultCode wire.Text       `json:"resultCode"`
			ResultDesc wire.Text       `json:"resultDesc"`
			Data       json.RawMessage `json:"data"`
		} `json:"responseData"`
	}
	if err := json.Unmarshal(body, &raw); err != nil {
		// Never quote the body: it may carry a token.
		return envelope{}, fmt.Errorf("%s: unreadable response (%d bytes): %v", op, len(body), jsonErrText(err))
	}
	if raw.HeaderInfos == nil {
		return envelope{}, fmt.Errorf("%s: response without headerInfos", op)
	}
	e := envelope{HeaderCode: string(raw.HeaderInfos.Code), HeaderReason: string(raw.HeaderInfos.Reason)}
	if rd := raw.ResponseData; rd != nil {
		e.HasResponse = true
		e.ResultCode, e.ResultDesc = string(rd.ResultCode), string(rd.ResultDesc)
		if d := bytes.TrimSpace(rd.Data); len(d) > 0 && !bytes.Equal(d, []byte("null")) {
			e.Data = d
		}
	}
	return e, nil
}

// jsonErrText keeps JSON errors short and free of payload excerpts.
func jsonErrText(err error) string {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Sprintf("invalid JSON at byte %d", se.Offset)
	}
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return fmt.Sprintf("unexpected %s for %s", te.Value, te.Field)
	}
	return "invalid JSON"
}

// answer is a query response decoded in one pass, its data included (issue 15: decoding
// the envelope, then its data, scanned every byte twice).
type answer[D any] struct {
	HeaderInfos *struct {
		Code   wire.Text `json:"code"`
		Reason wire.Text `json:"reason"`
	} `json:"headerInfos"`
	ResponseData *struct {
		ResultCode wire.Text  `json:"resultCode"`
		ResultDesc wire.Text  `json:"resultDesc"`
		Data       payload[D] `json:"data"`
	} `json:"responseData"`
}

// payload is the data of an answer: V is nil when it is absent or null. A repeated data
// replaces the earlier one, as the json.RawMessage of decodeEnvelope does.
type payload[D any] struct{ V *D }

// UnmarshalJSONFrom implements the v2 json.UnmarshalerFrom.
func (p *payload[D]) UnmarshalJSONFrom(dec *jsontext.Decoder) error {
	p.V = nil
	if dec.PeekKind() == 'n' {
		_, err := dec.ReadToken()
		return err
	}
	v := new(D)
	if err := jsonv2.UnmarshalDecode(dec, v); err != nil {
		return err
	}
	p.V = v
	return nil
}

// parseQuery checks a query response and decodes its data. A response the one-pass decoding
// cannot read (invalid JSON, data that is not an object, ...) is decoded again by
// parseQuerySlow, so every failure reads exactly as it always has.
func parseQuery[D any](op string, body []byte) (*D, error) {
	var a answer[D]
	if wire.Decode(body, &a) != nil {
		return parseQuerySlow[D](op, body)
	}
	if a.HeaderInfos == nil {
		return nil, fmt.Errorf("%s: response without headerInfos", op)
	}
	e := envelope{HeaderCode: string(a.HeaderInfos.Code), HeaderReason: string(a.HeaderInfos.Reason)}
	var data *D
	if rd := a.ResponseData; rd != nil {
		e.HasResponse = true
		e.ResultCode, e.ResultDesc = string(rd.ResultCode), string(rd.ResultDesc)
		data = rd.Data.V
	}
	if err := checkQuery(op, e); err != nil {
		return nil, err
	}
	if data == nil {
		return nil, fmt.Errorf("%s: response without data", op)
	}
	return data, nil
}

// parseQuerySlow is parseQuery with encoding/json: the envelope, then its data.
func parseQuerySlow[D any](op string, body []byte) (*D, error) {
	e, err := decodeEnvelope(op, body)
	if err != nil {
		return nil, err
	}
	if err := checkQuery(op, e); err != nil {
		return nil, err
	}
	if e.Data == nil {
		return nil, fmt.Errorf("%s: response without data", op)
	}
	out := new(D)
	if err := json.Unmarshal(e.Data, out); err != nil {
		return nil, fmt.Errorf("%s: unexpected data: %s", op, jsonErrText(err))
	}
	return out, nil
}

// checkQuery maps the codes of a query response onto errors.
func checkQuery(op string, e envelope) error {
	if authExpired(e.HeaderCode) || authExpired(e.ResultCode) {
		code, reason := e.HeaderCode, e.HeaderReason
		if !authExpired(code) {
			code, reason = e.ResultCode, e.ResultDesc
		}
		return fmt.Errorf("%w: %w", &apiError{Op: op, Code: code, Reason: reason}, providers.ErrAuth)
	}
	if e.HeaderCode != "0000" {
		return &apiError{Op: op, Code: e.HeaderCode, Reason: e.HeaderReason}
	}
	if !e.HasResponse {
		return fmt.Errorf("%s: response without responseData", op)
	}
	if e.ResultCode != "0000" {
		return &apiError{Op: op, Code: e.ResultCode, Reason: e.ResultDesc}
	}
	return nil
}

// parseImportantData decodes a qryImportantData response (fuzzed: never panics).
func parseImportantData(body []byte) (*importantData, error) {
	return parseQuery[importantData]("qryImportantData", body)
}

// parseLogin decodes a userLoginNormal response into a session or a *loginError.
func parseLogin(body []byte, phone string, now time.Time) (session, error) {
	e, err := decodeEnvelope("login", body)
	if err != nil {
		return session{}, err
	}
	if e.HeaderCode != "0000" {
		return session{}, &apiError{Op: "login", Code: e.HeaderCode, Reason: e.HeaderReason}
	}
	if !e.HasResponse {
		return session{}, errors.New("login: response without responseData")
	}
	var d struct {
		Success *struct {
			Token        wire.Text `json:"token"`
			UserID       wire.Text `json:"userId"`
			ProvinceCode wire.Text `json:"provinceCode"`
			CityCode     wire.Text `json:"cityCode"`
		} `json:"loginSuccessResult"`
		Fail *struct {
			LoginFailTime wire.Text `json:"loginFailTime"`
		} `json:"loginFailResult"`
	}
	if e.Data != nil {
		if err := json.Unmarshal(e.Data, &d); err != nil {
			return session{}, fmt.Errorf("login: unexpected data: %s", jsonErrText(err))
		}
	}
	if e.ResultCode != "0000" {
		le := &loginError{Code: e.ResultCode, Desc: e.ResultDesc}
		if d.Fail != nil {
			le.FailCount = string(d.Fail.LoginFailTime)
		}
		return session{}, le
	}
	if d.Success == nil || d.Success.Token == "" {
		return session{}, errors.New("login: success without a token")
	}
	return session{
		Phone: phone, Token: string(d.Success.Token), UserID: string(d.Success.UserID),
		ProvinceCode: string(d.Success.ProvinceCode), CityCode: string(d.Success.CityCode),
		LoginTime: now.UTC(),
	}, nil
}

func (c *client) header(code, ts, token string) Header {
	return Header{
		Code: code, ClientType: ClientType(c.clientVersion), Timestamp: ts,
		ShopID: ShopID, Source: SourceID, SourcePassword: SourcePassword,
		UserLoginName: Shift(c.phone, 2), Token: token,
	}
}

// login performs userLoginNormal (docs/telecom.md, "Protocol: login").
func (c *client) login(ctx context.Context, dev device, now time.Time) (session, error) {
	ts := Timestamp(now)
	cipher, err := EncryptLogin(c.pub, LoginPlaintext(dev.Slot, c.phone, ts, c.password))
	if err != nil {
		return session{}, fmt.Errorf("login: encrypting the login cipher: %v (check rsa_public_key)", err)
	}
	var req Request[LoginFields]
	req.HeaderInfos = c.header("userLoginNormal", ts, "")
	req.Content.Attach = "iPhone"
	req.Content.FieldData = LoginFields{
		Authentication: Shift(c.password, 2), DeviceUID: dev.UID, IsChinatelecom: "0",
		Cipher: cipher, LoginType: "4", PhoneNum: Shift(c.phone, 2), SystemVersion: SystemVersion,
	}
	if dev.AndroidID != "" {
		req.Content.FieldData.AndroidID = Shift(dev.AndroidID, 2)
	}
	var sess session
	err = c.post(ctx, "login", c.loginURL+PathLogin, req, func(body []byte) (err error) {
		sess, err = parseLogin(body, c.phone, now)
		return err
	})
	return sess, err
}

// importantData performs qryImportantData (docs/telecom.md, "Protocol: queries").
func (c *client) importantData(ctx context.Context, s session, now time.Time) (*importantData, error) {
	var req Request[ImportantFields]
	req.HeaderInfos = c.header("qryImportantData", Timestamp(now), s.Token)
	req.Content.Attach = "test"
	req.Content.FieldData = ImportantFields{
		ProvinceCode: or(s.ProvinceCode, defaultProvince), CityCode: or(s.CityCode, defaultCity),
		ShopID: ShopID, IsChinatelecom: "0", Account: Shift(c.phone, 2),
	}
	var d *importantData
	err := c.post(ctx, "qryImportantData", c.baseURL+PathImportant, req, func(body []byte) (err error) {
		d, err = parseImportantData(body)
		return err
	})
	return d, err
}

// packages performs userFluxPackage (docs/telecom.md, "Protocol: queries").
func (c *client) packages(ctx context.Context, s session, now time.Time) (*fluxPackageData, error) {
	var req Request[PackageFields]
	req.HeaderInfos = c.header("userFluxPackage", Timestamp(now), s.Token)
	req.Content.Attach = "test"
	req.Content.FieldData = PackageFields{QueryFlag: "0", AccessAuth: "1", Account: Shift(c.phone, 2)}
	var d *fluxPackageData
	err := c.post(ctx, "userFluxPackage", c.baseURL+PathPackages, req, func(body []byte) (err error) {
		d, err = parseQuery[fluxPackageData]("userFluxPackage", body)
		return err
	})
	return d, err
}

// share performs qryShareUsage for the current billing month (docs/telecom.md, "Protocol: queries").
func (c *client) share(ctx context.Context, s session, now time.Time) (*shareData, error) {
	var req Request[ShareFields]
	req.HeaderInfos = c.header("qryShareUsage", Timestamp(now), s.Token)
	req.Content.Attach = "test"
	req.Content.FieldData = ShareFields{BillingCycle: now.In(wire.CST).Format("200601"), Account: Shift(c.phone, 2)}
	var d *shareData
	err := c.post(ctx, "qryShareUsage", c.baseURL+PathShare, req, func(body []byte) (err error) {
		d, err = parseQuery[shareData]("qryShareUsage", body)
		return err
	})
	return d, err
}

// bodies are the buffers responses are read into: a poll reads three answers of several
// KB each, and io.ReadAll would grow a new buffer for each (doubling from 512 bytes).
var bodies = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// maxPooled: a buffer that grew larger than this (a rare, huge answer) is not kept.
const maxPooled = 256 << 10

// post sends payload and hands the answer's body to parse. The body is only valid during
// parse (its buffer is reused): parse must copy what it keeps, as encoding/json does.
func (c *client) post(ctx context.Context, op, url string, payload any, parse func(body []byte) error) error {
	buf, err := json.Marshal(payload)
	if err != nil {
		return fmt.Errorf("%s: %v", op, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(buf))
	if err != nil {
		return fmt.Errorf("%s: %v (check base_url / login_url)", op, err)
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("Content-Type", "application/json; charset=UTF-8")
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("%s: %w%s", op, err, tlsHint(err))
	}
	defer resp.Body.Close()
	bb := bodies.Get().(*bytes.Buffer)
	bb.Reset()
	defer func() {
		if bb.Cap() <= maxPooled {
			bodies.Put(bb)
		}
	}()
	if _, err := bb.ReadFrom(io.LimitReader(resp.Body, maxBody+1)); err != nil {
		return fmt.Errorf("%s: reading the response: %w", op, err)
	}
	if bb.Len() > maxBody {
		return fmt.Errorf("%s: response larger than %d bytes", op, maxBody)
	}
	if resp.StatusCode == http.StatusTooManyRequests {
		return fmt.Errorf("%s: HTTP %d: %w", op, resp.StatusCode, providers.ErrRateLimited)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: HTTP %d from China Telecom", op, resp.StatusCode)
	}
	return parse(bb.Bytes())
}

// tlsHint explains a handshake the server refused: with Go's defaults that can only be a
// server that offers neither ECDHE nor TLS 1.3 (see the comment at the top).
func tlsHint(err error) string {
	var alert tls.AlertError
	if errors.As(err, &alert) && alert == 40 { // handshake_failure
		return " (TLS handshake refused: if this persists, the server offers only RSA key exchange; start the bridge with GODEBUG=tlsrsakex=1, see docs/telecom.md)"
	}
	return ""
}

// loginOutcome turns a refused login into the error the poller acts on. left is how many
// login attempts the login guard still allows today (-1: no limit).
func loginOutcome(le *loginError, left int, version string) error {
	switch le.Code {
	case "3001":
		tries := ""
		if left >= 0 {
			tries = fmt.Sprintf("; %d login attempt(s) left today", left)
		}
		count := ""
		if le.FailCount != "" {
			count = fmt.Sprintf(", failed attempts counted by China Telecom: %s", le.FailCount)
		}
		return providers.Permanent("wrong phone number or service password (China Telecom code 3001%s): check `phone` and `password` (the 6-digit service password, 服务密码); polling stops until this account's config changes%s", count, tries)
	case "1000":
		return providers.Permanent("login refused (China Telecom code 1000, 请求失败): use the 6-digit service password (服务密码) in `password`, not the 天翼账号/web password; polling stops until this account's config changes")
	case "3005":
		return providers.Permanent("China Telecom demands a captcha / second verification for this number (code 3005): log in once with the password in the official 中国电信 app on your phone, then change this account's config (e.g. set `device_id`) so the bridge tries again")
	case "3006":
		return providers.Permanent("China Telecom does not trust this device (new-device check, code 3006): set `device_id` to the DeviceId of a device that already passed the SMS verification (see docs/telecom.md), then the bridge tries again; polling stops until this account's config changes")
	case "X10401":
		return providers.Permanent("China Telecom refuses password login from this client version (code X10401, 当前版本不支持密码登录): raise `client_version` (now %s; the default is %s) to the version of the current 中国电信 app", version, DefaultClientVersion)
	}
	return fmt.Errorf("login: %w", le)
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
