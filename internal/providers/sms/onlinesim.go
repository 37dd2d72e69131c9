package sms

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"

	"github.com/accountbridge/accountbridge/internal/providers/wire"
)

// OnlineSIM (docs/sms.md, "Protocol: OnlineSIM"): apikey parameter, JSON with the status in `response` (1 = OK, else a
// token), tzid operations; getState answers an array.

type onlinesim struct {
	h   httpc
	key string
}

func onlinesimError(tok string) *Error {
	switch tok {
	case "ERROR_WRONG_KEY", "ERROR_NO_KEY", "ACCOUNT_BLOCKED", "API_ACCESS_DISABLED", "API_ACCESS_IP",
		"ACCOUNT_IDENTIFICATION_REQUIRED", "ERROR_KEY_NEED_CHANGE":
		return newErr(ClassFatal, tok, "OnlineSIM refused the account")
	case "WARNING_LOW_BALANCE":
		return newErr(ClassFunds, tok, "not enough balance")
	case "NO_NUMBER", "WARNING_NO_NUMS":
		return newErr(ClassNoNumbers, tok, "no numbers available")
	case "EXCEEDED_CONCURRENT_OPERATIONS", "INTERVAL_CONCURRENT_REQUESTS_ERROR", "TRY_AGAIN_LATER", "WARNING_WAIT15MIN":
		return newErr(ClassRateLimited, tok, "OnlineSIM asks to slow down")
	case "REQUEST_NOT_FOUND", "ERROR_NO_TZID", "ERROR_WRONG_TZID", "ERROR_NO_OPERATIONS", "NO_COMPLETE_TZID", "DUPLICATE_OPERATION":
		return newErr(ClassOrder, tok, "OnlineSIM refused the operation on this order")
	}
	return newErr(ClassTryNext, tok, "OnlineSIM refused the request")
}

type onlinesimReply struct {
	Response wire.Text `json:"response"`
	Balance  wire.Num  `json:"balance"`
	TZID     wire.Text `json:"tzid"`
	Number   wire.Text `json:"number"`
	Services map[string]struct {
		Count wire.Num `json:"count"`
		Price wire.Num `json:"price"`
		Slug  string   `json:"slug"`
	} `json:"services"`
}

func (o *onlinesim) call(ctx context.Context, method string, q url.Values) ([]byte, onlinesimReply, error) {
	p := url.Values{"apikey": {o.key}}
	for k, v := range q {
		p[k] = v
	}
	status, body, err := o.h.get(ctx, "/api/"+method+".php", p, nil)
	if err != nil {
		return nil, onlinesimReply{}, err
	}
	body = scrub(body, o.key)
	var r onlinesimReply
	trim := strings.TrimSpace(string(body))
	if strings.HasPrefix(trim, "{") {
		if json.Unmarshal(body, &r) != nil {
			return body, r, newErr(ClassTryNext, "", "unexpected OnlineSIM answer")
		}
		if r.Response != "" && r.Response != "1" {
			return body, r, onlinesimError(string(r.Response))
		}
	}
	if status != http.StatusOK {
		return body, r, httpStatusError(status, body)
	}
	return body, r, nil
}

func (o *onlinesim) balance(ctx context.Context) (float64, error) {
	_, r, err := o.call(ctx, "getBalance", nil)
	if err != nil {
		return 0, err
	}
	if !r.Balance.OK {
		return 0, newErr(ClassTryNext, "", "OnlineSIM answer without a balance")
	}
	return r.Balance.V, nil
}

func (o *onlinesim) quote(ctx context.Context, service, country string) (Quote, error) {
	_, r, err := o.call(ctx, "getNumbersStats", url.Values{"country": {country}})
	if err != nil {
		return Quote{}, err
	}
	for key, s := range r.Services {
		if (s.Slug == service || key == "service_"+service) && s.Price.OK {
			return Quote{Price: s.Price.V, Count: int(s.Count.V), CountKnown: s.Count.OK}, nil
		}
	}
	return Quote{}, newErr(ClassNoNumbers, "", "OnlineSIM has no %s numbers in country %s", service, country)
}

func (o *onlinesim) buy(ctx context.Context, service, country string, _ float64) (Number, error) {
	_, r, err := o.call(ctx, "getNum", url.Values{"service": {service}, "country": {country}, "number": {"true"}})
	if err != nil {
		return Number{}, err
	}
	if r.TZID == "" || digits(string(r.Number)) == "" {
		return Number{}, newErr(ClassTryNext, "", "OnlineSIM answer without tzid or number")
	}
	return Number{ID: string(r.TZID), Phone: digits(string(r.Number)), Service: service, Country: country}, nil
}

func (o *onlinesim) check(ctx context.Context, n Number) (SMS, error) {
	body, _, err := o.call(ctx, "getState", url.Values{"tzid": {n.ID}, "message_to_code": {"1"}})
	if err != nil {
		return SMS{}, err
	}
	var states []struct {
		TZID     wire.Text `json:"tzid"`
		Response string    `json:"response"`
		Msg      wire.Text `json:"msg"`
	}
	if json.Unmarshal(body, &states) != nil {
		return SMS{}, newErr(ClassTryNext, "", "unexpected OnlineSIM state")
	}
	for _, s := range states {
		if string(s.TZID) != n.ID && len(states) > 1 {
			continue
		}
		switch s.Response {
		case "TZ_NUM_ANSWER":
			return SMS{State: StateCode, Code: string(s.Msg)}, nil
		case "TZ_OVER_OK":
			if s.Msg != "" {
				return SMS{State: StateCode, Code: string(s.Msg)}, nil
			}
			return SMS{State: StateCancelled}, nil
		case "TZ_OVER_EMPTY", "TZ_OVER_NR", "TZ_DELETED":
			return SMS{State: StateExpired}, nil
		case "TZ_INPOOL", "TZ_NUM_PREPARE", "TZ_NUM_WAIT":
			return SMS{State: StateWaiting}, nil
		default:
			return SMS{}, onlinesimError(s.Response)
		}
	}
	return SMS{}, newErr(ClassOrder, "ERROR_NO_OPERATIONS", "OnlineSIM does not know operation %s", n.ID)
}

// Both finishing and cancelling are setOperationOk (docs/sms.md, "Protocol: families and order life").
func (o *onlinesim) finish(ctx context.Context, n Number) error {
	_, _, err := o.call(ctx, "setOperationOk", url.Values{"tzid": {n.ID}})
	return err
}

func (o *onlinesim) cancel(ctx context.Context, n Number) error { return o.finish(ctx, n) }

var (
	onlinesimServices = map[string]string{
		"tg": "telegram", "wa": "whatsapp", "go": "google", "fb": "facebook", "ig": "instagram",
		"tw": "twitter", "ds": "discord",
	}
	// dialCodes maps ISO countries to their calling codes (OnlineSIM's country parameter).
	dialCodes = map[string]string{
		"ru": "7", "ua": "380", "us": "1", "gb": "44", "cn": "86", "id": "62", "ph": "63", "my": "60",
		"vn": "84", "in": "91", "de": "49", "fr": "33", "pl": "48", "nl": "31", "es": "34", "br": "55",
		"th": "66", "tr": "90", "ke": "254", "ng": "234", "za": "27", "mx": "52", "kg": "996",
		"il": "972", "hk": "852",
	}
)
