package sms

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/accountbridge/accountbridge/internal/providers/wire"
)

// SMS-Man v2 (docs/sms.md, "Protocol: SMS-Man"): token query parameter, JSON, error_code family. Service codes (tg)
// and ISO countries (id) are resolved to SMS-Man's numeric ids through its catalog.

type smsman struct {
	h     httpc
	token string

	mu      sync.Mutex
	catalog time.Time
	apps    map[string]string // code → application_id
	ctrs    map[string]string // code → country_id
}

type smsmanReply struct {
	Success   *bool     `json:"success"`
	ErrorCode string    `json:"error_code"`
	ErrorMsg  string    `json:"error_msg"`
	Balance   wire.Num  `json:"balance"`
	RequestID wire.Text `json:"request_id"`
	Number    wire.Text `json:"number"`
	SMSCode   wire.Text `json:"sms_code"`
}

func smsmanError(code, msg string) *Error {
	switch code {
	case "wrong_token":
		return newErr(ClassFatal, code, "SMS-Man refused the token")
	case "balance":
		return newErr(ClassFunds, code, "not enough balance")
	case "no_numbers":
		return newErr(ClassNoNumbers, code, "no numbers available")
	case "wrong_status", "expired", "no_sms":
		return newErr(ClassOrder, code, "SMS-Man refused the operation on this order: %s", msg)
	}
	return newErr(ClassTryNext, code, "SMS-Man refused the request: %s", msg)
}

// call returns the raw body of a successful call, or the classified error.
func (s *smsman) call(ctx context.Context, method string, q url.Values) ([]byte, smsmanReply, error) {
	p := url.Values{"token": {s.token}}
	for k, v := range q {
		p[k] = v
	}
	status, body, err := s.h.get(ctx, "/control/"+method, p, nil)
	if err != nil {
		return nil, smsmanReply{}, err
	}
	body = scrub(body, s.token)
	var r smsmanReply
	if strings.HasPrefix(strings.TrimSpace(string(body)), "{") {
		_ = json.Unmarshal(body, &r)
	}
	if r.ErrorCode != "" && r.ErrorCode != "wait_sms" {
		return body, r, smsmanError(r.ErrorCode, r.ErrorMsg)
	}
	if status != http.StatusOK {
		return body, r, httpStatusError(status, body)
	}
	return body, r, nil
}

func (s *smsman) balance(ctx context.Context) (float64, error) {
	_, r, err := s.call(ctx, "get-balance", nil)
	if err != nil {
		return 0, err
	}
	if !r.Balance.OK {
		return 0, newErr(ClassTryNext, "", "SMS-Man answer without a balance")
	}
	return r.Balance.V, nil
}

// resolve maps a service code and a country code to SMS-Man ids (numbers pass as they are).
func (s *smsman) resolve(ctx context.Context, service, country string) (string, string, error) {
	if isDigits(service) && isDigits(country) {
		return service, country, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.apps == nil || time.Since(s.catalog) > DefaultCountriesTTL {
		type entry struct {
			ID   wire.Text `json:"id"`
			Code string    `json:"code"`
		}
		load := func(method string) (map[string]string, error) {
			body, _, err := s.call(ctx, method, nil)
			if err != nil {
				return nil, err
			}
			out := map[string]string{}
			var obj map[string]entry
			var list []entry
			switch {
			case json.Unmarshal(body, &obj) == nil:
				for _, e := range obj {
					out[strings.ToLower(e.Code)] = string(e.ID)
				}
			case json.Unmarshal(body, &list) == nil:
				for _, e := range list {
					out[strings.ToLower(e.Code)] = string(e.ID)
				}
			default:
				return nil, newErr(ClassTryNext, "", "unexpected SMS-Man %s list", method)
			}
			return out, nil
		}
		apps, err := load("applications")
		if err != nil {
			return "", "", err
		}
		ctrs, err := load("countries")
		if err != nil {
			return "", "", err
		}
		s.apps, s.ctrs, s.catalog = apps, ctrs, time.Now()
	}
	app, cty := service, country
	if !isDigits(app) {
		if app = s.apps[strings.ToLower(service)]; app == "" {
			return "", "", newErr(ClassNoNumbers, "", "SMS-Man has no application %q", service)
		}
	}
	if !isDigits(cty) {
		if cty = s.ctrs[strings.ToLower(country)]; cty == "" {
			return "", "", newErr(ClassNoNumbers, "", "SMS-Man has no country %q", country)
		}
	}
	return app, cty, nil
}

func (s *smsman) quote(ctx context.Context, service, country string) (Quote, error) {
	app, cty, err := s.resolve(ctx, service, country)
	if err != nil {
		return Quote{}, err
	}
	body, _, err := s.call(ctx, "get-prices", url.Values{"country_id": {cty}})
	if err != nil {
		return Quote{}, err
	}
	var m map[string]map[string]activatePrice
	if json.Unmarshal(body, &m) != nil {
		return Quote{}, newErr(ClassTryNext, "", "unexpected SMS-Man prices")
	}
	p, ok := m[cty][app]
	if !ok || !p.Cost.OK {
		return Quote{}, newErr(ClassNoNumbers, "", "SMS-Man has no price for %s in %s", service, country)
	}
	return Quote{Price: p.Cost.V, Count: int(p.Count.V), CountKnown: p.Count.OK}, nil
}

func (s *smsman) buy(ctx context.Context, service, country string, _ float64) (Number, error) {
	app, cty, err := s.resolve(ctx, service, country)
	if err != nil {
		return Number{}, err
	}
	_, r, err := s.call(ctx, "get-number", url.Values{"country_id": {cty}, "application_id": {app}})
	if err != nil {
		return Number{}, err
	}
	if r.RequestID == "" || digits(string(r.Number)) == "" {
		return Number{}, newErr(ClassTryNext, "", "SMS-Man answer without request_id or number")
	}
	return Number{ID: string(r.RequestID), Phone: digits(string(r.Number)), Service: service, Country: country}, nil
}

func (s *smsman) check(ctx context.Context, n Number) (SMS, error) {
	_, r, err := s.call(ctx, "get-sms", url.Values{"request_id": {n.ID}})
	if err != nil {
		if CodeOf(err) == "expired" {
			return SMS{State: StateExpired}, nil
		}
		if CodeOf(err) == "no_sms" {
			return SMS{State: StateWaiting}, nil
		}
		return SMS{}, err
	}
	if r.SMSCode != "" {
		return SMS{State: StateCode, Code: string(r.SMSCode)}, nil
	}
	return SMS{State: StateWaiting}, nil
}

func (s *smsman) setStatus(ctx context.Context, n Number, status string) error {
	_, r, err := s.call(ctx, "set-status", url.Values{"request_id": {n.ID}, "status": {status}})
	if err != nil {
		return err
	}
	if r.Success != nil && !*r.Success {
		return newErr(ClassOrder, "", "SMS-Man refused status %s", status)
	}
	return nil
}

func (s *smsman) finish(ctx context.Context, n Number) error { return s.setStatus(ctx, n, "close") }
func (s *smsman) cancel(ctx context.Context, n Number) error { return s.setStatus(ctx, n, "reject") }
