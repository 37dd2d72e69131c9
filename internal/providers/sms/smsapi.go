package sms

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"

	"github.com/accountbridge/accountbridge/internal/providers"
	"github.com/accountbridge/accountbridge/internal/providers/wire"
)

// The self-hosted sms_api service of seed 002 (laozig/sms__api, docs/sms.md, "Protocol: sms_api"): login for a token,
// every call a GET with query parameters, two response families.

const kvSMSAPIToken = "smsapi.token"

type smsapi struct {
	h      httpc
	user   string
	pass   string
	kv     providers.KV
	guard  providers.LoginGuard
	secret func(string)

	mu    sync.Mutex
	token string
}

// smsapiReply holds both envelope families.
type smsapiReply struct {
	Success *bool           `json:"success"`
	Stat    *bool           `json:"stat"`
	Message string          `json:"message"`
	Error   string          `json:"error"`
	Code    json.RawMessage `json:"code"`
	Data    json.RawMessage `json:"data"`
	Balance wire.Num        `json:"balance"`
	User    *struct {
		Token   string   `json:"token"`
		Balance wire.Num `json:"balance"`
	} `json:"user"`
	Projects []struct {
		ProjectID wire.Text `json:"project_id"`
		Name      string    `json:"name"`
		Amount    wire.Num  `json:"amount"`
	} `json:"projects"`
}

// intCode is the number family's code when it is an integer (errors, get_phone).
func (r smsapiReply) intCode() (int, bool) {
	n, err := strconv.Atoi(strings.TrimSpace(string(r.Code)))
	return n, err == nil
}

func (r smsapiReply) msg() string {
	if r.Message != "" {
		return r.Message
	}
	return r.Error
}

func (s *smsapi) raw(ctx context.Context, endpoint string, q url.Values) (int, smsapiReply, error) {
	status, body, err := s.h.get(ctx, "/"+endpoint, q, nil)
	if err != nil {
		return 0, smsapiReply{}, err
	}
	secrets := []string{q.Get("token")}
	if q.Has("password") { // only login sends it; a short password could match real data
		secrets = append(secrets, s.pass)
	}
	body = scrub(body, secrets...)
	var r smsapiReply
	if json.Unmarshal(body, &r) != nil {
		return status, r, httpStatusError(status, body)
	}
	return status, r, nil
}

// login gets a new token (under the login guard) and stores it.
func (s *smsapi) login(ctx context.Context) (string, error) {
	if err := s.guard.Begin(ctx); err != nil {
		if errors.Is(err, providers.ErrPermanent) {
			return "", newErr(ClassFatal, "", "%v", err)
		}
		return "", newErr(ClassRateLimited, "", "%v", err)
	}
	status, r, err := s.raw(ctx, "login", url.Values{"username": {s.user}, "password": {s.pass}})
	if err == nil && (status != http.StatusOK || r.User == nil || r.User.Token == "") {
		switch status {
		case http.StatusUnauthorized, http.StatusBadRequest:
			err = newErr(ClassFatal, "HTTP "+strconv.Itoa(status), "login refused: %s: check username and password", r.msg())
		default:
			err = newErr(ClassTryNext, "HTTP "+strconv.Itoa(status), "login failed: %s", r.msg())
		}
	}
	_ = s.guard.End(ctx, err)
	if err != nil {
		return "", err
	}
	s.secret(r.User.Token)
	_ = s.kv.Set(ctx, kvSMSAPIToken, []byte(r.User.Token))
	return r.User.Token, nil
}

func (s *smsapi) currentToken(ctx context.Context) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.token == "" {
		if raw, ok, err := s.kv.Get(ctx, kvSMSAPIToken); err == nil && ok && len(raw) > 0 {
			s.token = string(raw)
			s.secret(s.token)
		}
	}
	if s.token != "" {
		return s.token, nil
	}
	t, err := s.login(ctx)
	if err != nil {
		return "", err
	}
	s.token = t
	return t, nil
}

func (s *smsapi) forget(ctx context.Context, tok string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.token == tok {
		s.token = ""
		_ = s.kv.Delete(ctx, kvSMSAPIToken)
	}
}

// call runs a token call, logging in again once when the token is refused.
func (s *smsapi) call(ctx context.Context, endpoint string, q url.Values) (int, smsapiReply, error) {
	for attempt := 0; ; attempt++ {
		tok, err := s.currentToken(ctx)
		if err != nil {
			return 0, smsapiReply{}, err
		}
		p := url.Values{"token": {tok}}
		for k, v := range q {
			p[k] = v
		}
		status, r, err := s.raw(ctx, endpoint, p)
		if err != nil {
			return status, r, err
		}
		if status == http.StatusUnauthorized && strings.Contains(r.msg(), "token") {
			s.forget(ctx, tok)
			if attempt == 0 {
				continue
			}
			return status, r, newErr(ClassFatal, "HTTP 401", "token refused right after login: %s", r.msg())
		}
		return status, r, nil
	}
}

func (s *smsapi) balance(ctx context.Context) (float64, error) {
	status, r, err := s.call(ctx, "balance", nil)
	if err != nil {
		return 0, err
	}
	if status != http.StatusOK || r.Success == nil || !*r.Success || !r.Balance.OK {
		return 0, s.numberError(status, r)
	}
	return r.Balance.V, nil
}

func (s *smsapi) quote(ctx context.Context, project, _ string) (Quote, error) {
	status, r, err := s.call(ctx, "search_projects", url.Values{"project_id": {project}})
	if err != nil {
		return Quote{}, err
	}
	if status != http.StatusOK {
		return Quote{}, s.numberError(status, r)
	}
	for _, p := range r.Projects {
		if string(p.ProjectID) == project && p.Amount.OK {
			return Quote{Price: p.Amount.V}, nil // the service publishes no stock
		}
	}
	return Quote{}, newErr(ClassNoNumbers, "", "project %s not found", project)
}

// numberError classifies a number-family (or account-family) failure.
func (s *smsapi) numberError(status int, r smsapiReply) *Error {
	code, _ := r.intCode()
	msg := r.msg()
	tok := "HTTP " + strconv.Itoa(status)
	if status == http.StatusOK && code < 0 {
		tok = "code " + strconv.Itoa(code)
	}
	switch {
	case status == http.StatusOK && code == -2, strings.Contains(msg, "余额不足"):
		return newErr(ClassFunds, tok, "not enough balance: %s", msg)
	case status == http.StatusOK && code == -3, strings.Contains(msg, "没有可用号码"):
		return newErr(ClassNoNumbers, tok, "no numbers available: %s", msg)
	case status == http.StatusUnauthorized:
		return newErr(ClassFatal, tok, "access refused: %s", msg)
	case status == http.StatusNotFound && strings.Contains(msg, "项目"):
		return newErr(ClassTryNext, tok, "unknown project: %s", msg)
	case status == http.StatusNotFound && r.Error != "" && r.Message == "":
		// The app's own 404 ("资源未找到"): an unknown route, most likely a base_url
		// without /api — not something the order did.
		return newErr(ClassTryNext, tok, "unknown endpoint (check base_url ends in /api): %s", msg)
	case status == http.StatusNotFound, status == http.StatusConflict,
		status == http.StatusBadRequest && strings.Contains(msg, "不匹配"),
		status == http.StatusOK && code == -1:
		return newErr(ClassOrder, tok, "refused: %s", msg)
	case status == http.StatusTooManyRequests:
		return newErr(ClassRateLimited, tok, "too many requests: %s", msg)
	}
	return newErr(ClassTryNext, tok, "failed: %s", msg)
}

func (s *smsapi) buy(ctx context.Context, project, country string, _ float64) (Number, error) {
	status, r, err := s.call(ctx, "get_phone", url.Values{"project_id": {project}, "carrier_type": {"0"}, "number_type": {"0"}})
	if err != nil {
		return Number{}, err
	}
	var phone string
	if status != http.StatusOK || r.Stat == nil || !*r.Stat || json.Unmarshal(r.Data, &phone) != nil || digits(phone) == "" {
		return Number{}, s.numberError(status, r)
	}
	return Number{ID: digits(phone), Phone: chinaE164(phone), Service: project, Country: country}, nil
}

// chinaE164 adds +86 to an 11-digit mainland number.
func chinaE164(p string) string {
	d := digits(p)
	if len(d) == 11 && d[0] == '1' {
		return "86" + d
	}
	return d
}

func (s *smsapi) check(ctx context.Context, n Number) (SMS, error) {
	status, r, err := s.call(ctx, "get_sms_code", url.Values{"project_id": {n.Service}, "phone": {n.ID}})
	if err != nil {
		return SMS{}, err
	}
	if status != http.StatusOK || r.Stat == nil || !*r.Stat {
		return SMS{}, s.numberError(status, r)
	}
	var code string
	if json.Unmarshal(r.Code, &code) != nil || code == "" {
		return SMS{State: StateWaiting}, nil
	}
	var msgs []struct {
		Modle string `json:"modle"` // sic
	}
	_ = json.Unmarshal(r.Data, &msgs)
	s2 := SMS{State: StateCode, Code: code}
	if len(msgs) > 0 {
		s2.Text = msgs[0].Modle
	}
	return s2, nil
}

// finish: the debit becomes final when the code arrives; nothing to call.
func (s *smsapi) finish(context.Context, Number) error { return nil }

func (s *smsapi) cancel(ctx context.Context, n Number) error {
	status, r, err := s.call(ctx, "release_phone", url.Values{"project_id": {n.Service}, "phone": {n.ID}})
	if err != nil {
		return err
	}
	if status != http.StatusOK || r.msg() != "ok" {
		return s.numberError(status, r)
	}
	return nil
}
