package onecloud

import (
	"bytes"
	"context"
	"crypto/md5"
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
	"github.com/accountbridge/accountbridge/internal/providers/wire"
)

// PasswordHash is the "pwd" login field (docs/onecloud.md, "Protocol: password hash"): md5 of the password, characters
// 2↔8 and 17↔27 of the hex digest swapped, md5 again.
func PasswordHash(password string) string {
	s := []byte(md5Hex(password))
	s[2], s[8] = s[8], s[2]
	s[17], s[27] = s[27], s[17]
	return md5Hex(string(s))
}

// Sign is the "sign" parameter (docs/onecloud.md, "Protocol: sign"): the name=value pairs (values not
// URL-encoded) sorted bytewise, each followed by "&", then "key=" and the key, md5 hex.
func Sign(params map[string]string, key string) string {
	items := make([]string, 0, len(params))
	for k, v := range params {
		if k == "sign" {
			continue
		}
		items = append(items, k+"="+v)
	}
	sort.Strings(items)
	var b strings.Builder
	for _, it := range items {
		b.WriteString(it)
		b.WriteByte('&')
	}
	b.WriteString("key=")
	b.WriteString(key)
	return md5Hex(b.String())
}

func md5Hex(s string) string {
	sum := md5.Sum([]byte(s))
	return hex.EncodeToString(sum[:])
}

// Production defaults of the upstream knobs.
const (
	DefaultAccountBaseURL = "https://account.onethingpcs.com"
	DefaultControlBaseURL = "https://control.onethingpcs.com"
	DefaultAppVersion     = "1.6.2"
)

// Error codes. The session-expiry and sign-error codes were never captured from the real
// service (docs/onecloud.md, "Errors and what to do"); these are the ones the fake answers, and the client also
// treats a message mentioning the login or the session as an expired session.
const (
	codeLoginParam      = -100 // login: bad/missing parameters or sign
	codeCaptchaWrong    = -121 // login: img_code wrong
	codeCaptchaRequired = -122 // login: captcha required
	codeWrongPassword   = -129 // login: account or password wrong
	codeNotLogin        = -1   // account host: session invalid (invented)
	codeAlreadyDrawn    = 99   // wkb/draw: already withdrawn this week
	rtnSessionInvalid   = 11   // control host: session invalid (invented)
	rtnSignError        = 12   // control host: sign mismatch (invented)
)

// session is what a login yields; stored in the account's KV and reused until rejected.
type session struct {
	SessionID string    `json:"sessionid"`
	UserID    string    `json:"userid"`
	Created   time.Time `json:"created"`
}

// sessionLife is the cookies' Max-Age (604800 s): an older session is not even tried.
const sessionLife = 7 * 24 * time.Hour

type client struct {
	http        *http.Client
	accountBase string
	controlBase string
	appVersion  string
	userAgent   string
}

// credentials of a login: exactly one of phone and email, and the hashed password.
type credentials struct {
	phone, email, pwd string
}

func (c credentials) username() string {
	if c.phone != "" {
		return c.phone
	}
	return c.email
}

// maxBody bounds what is read from the upstream.
const maxBody = 4 << 20

func (c *client) do(req *http.Request, what string) ([]byte, error) {
	req.Header.Set("User-Agent", c.userAgent)
	req.Header.Set("Cache-Control", "no-cache")
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return nil, fmt.Errorf("%s: reading the answer: %w", what, err)
	}
	switch {
	case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable:
		return nil, fmt.Errorf("%s: HTTP %d: %w", what, resp.StatusCode, providers.ErrRateLimited)
	case resp.StatusCode < 200 || resp.StatusCode > 299:
		return nil, fmt.Errorf("%s: HTTP %d", what, resp.StatusCode)
	}
	return body, nil
}

func addSessionCookies(req *http.Request, s session, origin string) {
	req.AddCookie(&http.Cookie{Name: "sessionid", Value: s.SessionID})
	req.AddCookie(&http.Cookie{Name: "userid", Value: s.UserID})
	if origin != "" {
		req.AddCookie(&http.Cookie{Name: "origin", Value: origin})
	}
}

// accountEnvelope is the account host's answer.
type accountEnvelope struct {
	IRet *int            `json:"iRet"`
	SMsg string          `json:"sMsg"`
	Data json.RawMessage `json:"data"`
}

// login posts user/login (docs/onecloud.md, "Protocol: login") and returns the new session.
func (c *client) login(ctx context.Context, cred credentials) (session, error) {
	user := cred.username()
	id := strings.ToUpper(md5Hex(user))
	form := map[string]string{
		"deviceid": id[:16],
		"imeiid":   id[:15],
		"pwd":      cred.pwd,
	}
	if cred.phone != "" {
		form["phone"] = cred.phone
		form["account_type"] = "4"
	} else {
		form["mail"] = cred.email
		form["phone_area"] = "Email"
		form["account_type"] = "5"
	}
	form["sign"] = Sign(form, "")
	vals := url.Values{}
	for k, v := range form {
		vals.Set(k, v)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost,
		c.accountBase+"/user/login?appversion="+url.QueryEscape(c.appVersion), strings.NewReader(vals.Encode()))
	if err != nil {
		return session{}, fmt.Errorf("login: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("User-Agent", c.userAgent)
	resp, err := c.http.Do(req)
	if err != nil {
		return session{}, fmt.Errorf("login: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return session{}, fmt.Errorf("login: reading the answer: %w", err)
	}
	if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable {
		return session{}, fmt.Errorf("login: HTTP %d: %w", resp.StatusCode, providers.ErrRateLimited)
	}
	if resp.StatusCode != http.StatusOK {
		return session{}, fmt.Errorf("login: HTTP %d", resp.StatusCode)
	}
	var env accountEnvelope
	if err := json.Unmarshal(body, &env); err != nil || env.IRet == nil {
		return session{}, fmt.Errorf("login: unexpected answer (%s)", snippet(body))
	}
	switch code := *env.IRet; code {
	case 0:
	case codeWrongPassword:
		return session{}, providers.Permanent("OneCloud refused the login (iRet -129, wrong account or password): check `%s` and `password` (the OneCloud app's password), then change the account's settings to resume polling", loginKey(cred))
	case codeCaptchaRequired:
		return session{}, providers.Permanent("OneCloud asks for a captcha before it accepts this login (iRet -122): log in once in the OneCloud app, or route this account through another IP with `proxy`, then change the account's settings to resume polling")
	case codeCaptchaWrong:
		return session{}, providers.Permanent("OneCloud refused the login because of its captcha (iRet -121): log in once in the OneCloud app, or route this account through another IP with `proxy`, then change the account's settings to resume polling")
	case codeLoginParam:
		return session{}, providers.Permanent("OneCloud refused the login request as malformed (iRet -100: %s): set `app_version` to a version the service accepts (default %s), then the polling resumes", env.SMsg, DefaultAppVersion)
	default:
		return session{}, fmt.Errorf("login refused (iRet %d: %s)", code, env.SMsg)
	}
	s := session{}
	for _, ck := range resp.Cookies() {
		switch ck.Name {
		case "sessionid":
			s.SessionID = ck.Value
		case "userid":
			s.UserID = ck.Value
		}
	}
	if s.SessionID == "" || s.UserID == "" { // 2021 variant: also in the body
		var d struct {
			SessionID wire.Text `json:"sessionid"`
			UserID    wire.Text `json:"userid"`
		}
		_ = json.Unmarshal(env.Data, &d)
		if s.SessionID == "" {
			s.SessionID = string(d.SessionID)
		}
		if s.UserID == "" {
			s.UserID = string(d.UserID)
		}
	}
	if s.SessionID == "" || s.UserID == "" {
		return session{}, errors.New("login: accepted, but the answer carries no sessionid/userid")
	}
	return s, nil
}

func loginKey(c credentials) string {
	if c.phone != "" {
		return "phone"
	}
	return "email"
}

// accountPost posts form to an authenticated account-host endpoint and returns data.
// An answer with iRet ≠ 0 comes back as *apiError (ErrAuth for an expired session).
func (c *client) accountPost(ctx context.Context, s session, path string, form map[string]string, origin string, extra ...*http.Cookie) (json.RawMessage, error) {
	vals := url.Values{}
	for k, v := range form {
		vals.Set(k, v)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.accountBase+path, strings.NewReader(vals.Encode()))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	addSessionCookies(req, s, origin)
	for _, ck := range extra {
		req.AddCookie(ck)
	}
	body, err := c.do(req, path)
	if err != nil {
		return nil, err
	}
	var env accountEnvelope
	if err := json.Unmarshal(body, &env); err != nil || env.IRet == nil {
		return nil, fmt.Errorf("%s: unexpected answer (%s)", path, snippet(body))
	}
	if *env.IRet != 0 {
		return env.Data, &apiError{Path: path, Code: *env.IRet, Msg: env.SMsg, auth: isAuthMessage(*env.IRet == codeNotLogin, env.SMsg)}
	}
	return env.Data, nil
}

// apiError is a non-zero iRet / rtn on an authenticated call.
type apiError struct {
	Path string
	Code int
	Msg  string
	auth bool
}

func (e *apiError) Error() string {
	if e.auth {
		return fmt.Sprintf("%s: session rejected (%d: %s): %v", e.Path, e.Code, e.Msg, providers.ErrAuth)
	}
	return fmt.Sprintf("%s: refused (%d: %s)", e.Path, e.Code, e.Msg)
}

// Is makes errors.Is(err, providers.ErrAuth) true for an expired session.
func (e *apiError) Is(target error) bool { return e.auth && target == providers.ErrAuth }

func isAuthMessage(byCode bool, msg string) bool {
	if byCode {
		return true
	}
	m := strings.ToLower(msg)
	return strings.Contains(m, "not login") || strings.Contains(m, "session") || strings.Contains(msg, "登录")
}

// controlEnvelope is the control host's answer: result[0] is 0, result[1] the payload.
type controlEnvelope struct {
	Rtn    *int              `json:"rtn"`
	Msg    string            `json:"msg"`
	Result []json.RawMessage `json:"result"`
}

// parseControl checks a control-host answer and returns its payload.
func parseControl(path string, body []byte) (json.RawMessage, error) {
	var env controlEnvelope
	if err := json.Unmarshal(body, &env); err != nil || env.Rtn == nil {
		return nil, fmt.Errorf("%s: unexpected answer (%s)", path, snippet(body))
	}
	if *env.Rtn != 0 {
		return nil, &apiError{Path: path, Code: *env.Rtn, Msg: env.Msg, auth: isAuthMessage(*env.Rtn == rtnSessionInvalid, env.Msg)}
	}
	if len(env.Result) < 2 {
		return nil, fmt.Errorf("%s: answer without a result payload (%s)", path, snippet(body))
	}
	return env.Result[1], nil
}

// controlGet sends a signed GET to the control host (docs/onecloud.md, "Protocol: sign").
func (c *client) controlGet(ctx context.Context, s session, path string, params map[string]string) (json.RawMessage, error) {
	params["sign"] = Sign(params, s.SessionID)
	vals := url.Values{}
	for k, v := range params {
		vals.Set(k, v)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.controlBase+path+"?"+vals.Encode(), nil)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	addSessionCookies(req, s, "2")
	req.AddCookie(&http.Cookie{Name: "ct", Value: "2"})
	body, err := c.do(req, path)
	if err != nil {
		return nil, err
	}
	return parseControl(path, body)
}

func (c *client) listPeer(ctx context.Context, s session) (json.RawMessage, error) {
	return c.controlGet(ctx, s, "/listPeer", map[string]string{
		"X-LICENCE-PUB": "1", "appversion": c.appVersion, "ct": "2", "userid": s.UserID, "v": "3",
	})
}

func (c *client) usbInfo(ctx context.Context, s session, deviceID string) (json.RawMessage, error) {
	return c.controlGet(ctx, s, "/getUSBInfo", map[string]string{
		"appversion": c.appVersion, "ct": "2", "deviceid": deviceID, "v": "1",
	})
}

// income posts the by-month form of wkb/income-history: month "0" is the current month.
func (c *client) income(ctx context.Context, s session, month string) (json.RawMessage, error) {
	form := map[string]string{"appversion": c.appVersion, "last_month": month}
	form["sign"] = Sign(form, "")
	return c.accountPost(ctx, s, "/wkb/income-history?appversion="+url.QueryEscape(c.appVersion), form, "2")
}

func (c *client) outcome(ctx context.Context, s session) (json.RawMessage, error) {
	return c.accountPost(ctx, s, "/wkb/outcome-history?page=0", nil, "1")
}

func (c *client) accountInfo(ctx context.Context, s session) (json.RawMessage, error) {
	return c.accountPost(ctx, s, "/wkb/account-info", map[string]string{"appversion": c.appVersion}, "1")
}

// draw posts wkb/draw (docs/onecloud.md, "Protocol: withdraw") with normal gas. The caller interprets the answer:
// the returned data and *apiError are both meaningful (iRet 99 = already this week).
func (c *client) draw(ctx context.Context, s session, amount, peerID string) (json.RawMessage, error) {
	form := map[string]string{"gasType": "2", "appversion": c.appVersion, "drawWkb": amount}
	form["sign"] = Sign(form, "")
	var extra []*http.Cookie
	if peerID != "" {
		extra = append(extra, &http.Cookie{Name: "peerid", Value: peerID})
	}
	return c.accountPost(ctx, s, "/wkb/draw?appversion="+url.QueryEscape(c.appVersion), form, "2", extra...)
}

// snippet is a short, printable excerpt of an unexpected answer for an error message.
func snippet(b []byte) string {
	b = bytes.TrimSpace(b)
	if len(b) > 120 {
		return strconv.Quote(string(b[:120])) + "…"
	}
	if len(b) == 0 {
		return "empty"
	}
	return strconv.Quote(string(b))
}
