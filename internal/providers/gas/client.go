package gas

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/md5"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/accountbridge/accountbridge/internal/providers"
)

// Upstream paths (docs/gas.md, "Protocol: calls and login").
const (
	PathOpenDebt  = "/api/v1/open/recharge/getUserDebtByUserCode"
	PathLogin     = "/api/v1/open/user/passwordLogin"
	PathDebt      = "/api/v1/close/recharge/getUserDebt"
	PathPayments  = "/api/v1/close/recharge/getPaymentRecordList"
	PathMonthly   = "/api/v1/close/recharge/getMonthlyTotalGasVolume"
	PathDaily     = "/api/v1/close/recharge/smartMeterGasDaysRecords/" // + {mdmCode}/{userCode}
	PathCompanies = "/api/v1/open/home/getGasCompanyList"
)

// terminalType is always 7 (the client channel; never explained upstream).
const terminalType = 7

// EncryptCredential is AES-ECB with PKCS#7 padding under key (24 ASCII bytes by default:
// AES-192), then standard base64: how the web client sends the mobile and the password.
func EncryptCredential(key []byte, plain string) (string, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return "", fmt.Errorf("aes_key: %w", err)
	}
	bs := block.BlockSize()
	pad := bs - len(plain)%bs
	buf := append([]byte(plain), bytes.Repeat([]byte{byte(pad)}, pad)...)
	for i := 0; i < len(buf); i += bs {
		block.Encrypt(buf[i:i+bs], buf[i:i+bs])
	}
	return base64.StdEncoding.EncodeToString(buf), nil
}

// pyText renders a body value the way Python's str() does, as the signature expects.
func pyText(v any) string {
	switch x := v.(type) {
	case nil:
		return "None"
	case string:
		return x
	case bool:
		if x {
			return "True"
		}
		return "False"
	case int:
		return strconv.Itoa(x)
	case int64:
		return strconv.FormatInt(x, 10)
	case float64:
		if x == float64(int64(x)) {
			return strconv.FormatFloat(x, 'f', 1, 64) // Python prints 2.0
		}
		return strconv.FormatFloat(x, 'g', -1, 64)
	case json.Number:
		return x.String()
	default:
		return fmt.Sprint(x)
	}
}

// Sign is the close-call signature: every top-level body field plus timestamp and token,
// sorted by key, joined as k=v&k=v, the salt appended directly, MD5 in lower-case hex.
func Sign(body map[string]any, timestamp int64, token, salt string) string {
	fields := make(map[string]string, len(body)+2)
	for k, v := range body {
		fields[k] = pyText(v)
	}
	fields["timestamp"] = strconv.FormatInt(timestamp, 10)
	fields["token"] = token
	keys := make([]string, 0, len(fields))
	for k := range fields {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(k)
		b.WriteByte('=')
		b.WriteString(fields[k])
	}
	b.WriteString(salt)
	sum := md5.Sum([]byte(b.String()))
	return hex.EncodeToString(sum[:])
}

// session is what a login yields; it is kept in the KV.
type session struct {
	Token        string `json:"token"`
	RefreshToken string `json:"refresh_token"`
	MDMCode      string `json:"mdm_code,omitempty"`
}

// headerToken is what close calls send in the token header: the refresh token when there
// is one (the fork found it is what the server checks), else the access token.
func (s session) headerToken() string {
	if s.RefreshToken != "" {
		return s.RefreshToken
	}
	return s.Token
}

type client struct {
	http     *http.Client
	base     string
	ua       string
	aesKey   []byte
	signKey  string
	cid      int64
	userCode string
	now      func() time.Time
}

// errExpired is a close call answered with HTTP 401/403 or a JSON auth failure.
var errExpired = errors.New("session expired")

// post sends one JSON POST and returns the body of a 2xx answer.
func (c *client) post(ctx context.Context, path, what string, body map[string]any, sess *session) ([]byte, error) {
	raw, err := json.Marshal(body)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+path, bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	req.Header.Set("Content-Type", "application/json;charset=UTF-8")
	req.Header.Set("Accept", "application/json, text/plain, */*")
	if c.ua != "" {
		req.Header.Set("User-Agent", c.ua)
	}
	if sess != nil {
		ts := c.now().UnixMilli()
		tok := sess.headerToken()
		req.Header.Set("token", tok)
		req.Header.Set("timestamp", strconv.FormatInt(ts, 10))
		req.Header.Set("signature", Sign(body, ts, tok, c.signKey))
		req.Header.Set("X-Requested-With", "XMLHttpRequest")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("%s: %w", what, ctx.Err())
		}
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
	if err != nil {
		return nil, fmt.Errorf("%s: reading the answer: %w", what, err)
	}
	if len(data) > maxBody {
		return nil, fmt.Errorf("%s: answer larger than %d bytes", what, maxBody)
	}
	switch {
	case resp.StatusCode == http.StatusForbidden || resp.StatusCode == http.StatusUnauthorized:
		if sess != nil {
			return nil, fmt.Errorf("%s: HTTP %d: %w", what, resp.StatusCode, errExpired)
		}
		return nil, fmt.Errorf("%s: HTTP %d (refused)", what, resp.StatusCode)
	case resp.StatusCode == http.StatusTooManyRequests:
		return nil, fmt.Errorf("%s: HTTP 429: %w", what, providers.ErrRateLimited)
	case resp.StatusCode < 200 || resp.StatusCode > 299:
		return nil, fmt.Errorf("%s: HTTP %d", what, resp.StatusCode)
	}
	return data, nil
}

// upstreamErr classifies a success:false answer of a call.
func upstreamErr(what string, err error, closeCall bool) error {
	var ue *UpstreamError
	if !errors.As(err, &ue) {
		return fmt.Errorf("%s: %w", what, err)
	}
	switch {
	case closeCall && (ue.Code == "401" || ue.Code == "403" || strings.Contains(ue.Message, "认证失败") ||
		strings.Contains(ue.Message, "登录已失效") || strings.Contains(ue.Message, "重新登录")):
		return fmt.Errorf("%s: %v: %w", what, ue, errExpired)
	case strings.Contains(ue.Message, "频繁") || strings.Contains(ue.Message, "稍后"):
		return fmt.Errorf("%s: %v: %w", what, ue, providers.ErrRateLimited)
	}
	return fmt.Errorf("%s: %w", what, ue)
}

func (c *client) debtBody() map[string]any {
	return map[string]any{"cid": c.cid, "userCode": c.userCode, "terminalType": terminalType}
}

// OpenDebt is the no-login balance call.
func (c *client) openDebt(ctx context.Context) (Debt, error) {
	const what = "balance (getUserDebtByUserCode)"
	body, err := c.post(ctx, PathOpenDebt, what, c.debtBody(), nil)
	if err != nil {
		return Debt{}, err
	}
	d, err := ParseDebt(body)
	if err != nil {
		var ue *UpstreamError
		if errors.As(err, &ue) && (ue.Code == "404" || strings.Contains(ue.Message, "不存在")) {
			return Debt{}, providers.Permanent("the gas company (cid %d) does not know user code %s (%s): check `user_code` and `cid`", c.cid, c.userCode, ue.Message)
		}
		return Debt{}, upstreamErr(what, err, false)
	}
	return d, nil
}

// login runs the password login: both credentials AES-encrypted and base64-encoded.
// A success:false answer is returned as *UpstreamError (wrapped).
func (c *client) login(ctx context.Context, mobile, password string) (session, error) {
	const what = "login (passwordLogin)"
	m, err := EncryptCredential(c.aesKey, mobile)
	if err != nil {
		return session{}, err
	}
	p, err := EncryptCredential(c.aesKey, password)
	if err != nil {
		return session{}, err
	}
	body, err := c.post(ctx, PathLogin, what, map[string]any{"mobile": m, "password": p}, nil)
	if err != nil {
		return session{}, err
	}
	l, err := ParseLogin(body)
	if err != nil {
		return session{}, fmt.Errorf("%s: %w", what, err)
	}
	s := session{Token: string(l.Token), RefreshToken: string(l.RefreshToken), MDMCode: string(l.CompanyOf().MDMCode)}
	if s.Token == "" && s.RefreshToken == "" {
		return session{}, fmt.Errorf("%s: the answer holds no token", what)
	}
	return s, nil
}

func (c *client) closeCall(ctx context.Context, sess session, path, what string, body map[string]any) ([]byte, error) {
	return c.post(ctx, path, what, body, &sess)
}

func closeParse[T any](c *client, ctx context.Context, sess session, path, what string, body map[string]any, parse func([]byte) (T, error)) (T, error) {
	var zero T
	raw, err := c.closeCall(ctx, sess, path, what, body)
	if err != nil {
		return zero, err
	}
	v, err := parse(raw)
	if err != nil {
		return zero, upstreamErr(what, err, true)
	}
	return v, nil
}

func (c *client) debt(ctx context.Context, s session) (Debt, error) {
	return closeParse(c, ctx, s, PathDebt, "balance (getUserDebt)", c.debtBody(), ParseDebt)
}

func (c *client) payments(ctx context.Context, s session, userCodeID string) (Payments, error) {
	return closeParse(c, ctx, s, PathPayments, "payments (getPaymentRecordList)",
		map[string]any{"cid": c.cid, "pageNumber": 1, "pageSize": 10, "userCodeId": userCodeID}, ParsePayments)
}

// monthlyPages covers a whole tier year plus the month before it.
const monthlyPages = 14

func (c *client) monthly(ctx context.Context, s session) (Monthly, error) {
	return closeParse(c, ctx, s, PathMonthly, "monthly use (getMonthlyTotalGasVolume)",
		map[string]any{"cid": c.cid, "userCode": c.userCode, "page": 1, "pageSize": monthlyPages, "lengthTimeYqqs": "2"}, ParseMonthly)
}

func (c *client) daily(ctx context.Context, s session, mdm string) (Daily, error) {
	return closeParse(c, ctx, s, PathDaily+url.PathEscape(mdm)+"/"+url.PathEscape(c.userCode), "daily use (smartMeterGasDaysRecords)",
		map[string]any{}, ParseDaily)
}
