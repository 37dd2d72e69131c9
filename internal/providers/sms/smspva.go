package sms

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"

	"github.com/accountbridge/accountbridge/internal/logging"
	"github.com/accountbridge/accountbridge/internal/providers/wire"
)

// SMSPVA's classic API (docs/sms.md, "Protocol: SMSPVA"): priemnik.php, apikey, `metod=`, optNN service ids, upper-case
// country codes; JSON with a string `response`.

type smspva struct {
	h   httpc
	key string
}

type smspvaReply struct {
	Response    wire.Text `json:"response"`
	Balance     wire.Num  `json:"balance"`
	Online      wire.Num  `json:"online"`
	Price       wire.Num  `json:"price"`
	Number      wire.Text `json:"number"`
	ID          wire.Text `json:"id"`
	CountryCode string    `json:"CountryCode"`
	SMS         wire.Text `json:"sms"`
}

func (s *smspva) call(ctx context.Context, metod string, q url.Values) (smspvaReply, error) {
	p := url.Values{"apikey": {s.key}, "metod": {metod}}
	for k, v := range q {
		p[k] = v
	}
	status, body, err := s.h.get(ctx, "/priemnik.php", p, nil)
	if err != nil {
		return smspvaReply{}, err
	}
	body = scrub(body, s.key)
	trim := strings.TrimSpace(string(body))
	var r smspvaReply
	if !strings.HasPrefix(trim, "{") {
		// Whole-reply matches only: an HTML error page may say anything.
		up := strings.ToUpper(trim)
		switch {
		case strings.HasPrefix(up, "API KEY NOT FOUND"):
			return r, newErr(ClassFatal, logging.CutBytes(trim, 40), "SMSPVA refused the API key")
		case strings.HasPrefix(up, "SERVICE NOT FOUND"):
			return r, newErr(ClassTryNext, logging.CutBytes(trim, 40), "SMSPVA does not know the service")
		case metod == "get_number" && len(trim) < 64 && !strings.HasPrefix(trim, "<") && strings.Contains(up, "BALANCE"):
			// Not in sms.md: a short plain-text balance complaint to a purchase, by keyword.
			return r, newErr(ClassFunds, trim, "not enough balance")
		}
		return r, httpStatusError(status, body)
	}
	if json.Unmarshal(body, &r) != nil {
		return r, newErr(ClassTryNext, "", "unexpected SMSPVA answer")
	}
	switch r.Response {
	case "5":
		return r, newErr(ClassRateLimited, "response 5", "SMSPVA asks to pause (60 s)")
	case "6":
		return r, newErr(ClassRateLimited, "response 6", "SMSPVA paused the account (600 s)")
	}
	if status != http.StatusOK {
		return r, httpStatusError(status, body)
	}
	return r, nil
}

func (s *smspva) balance(ctx context.Context) (float64, error) {
	r, err := s.call(ctx, "get_balance", nil)
	if err != nil {
		return 0, err
	}
	if r.Response != "1" || !r.Balance.OK {
		return 0, newErr(ClassTryNext, "response "+string(r.Response), "SMSPVA answer without a balance")
	}
	return r.Balance.V, nil
}

// quote: get_count_new gives the stock; the price comes from its `price` field when the
// platform sends one, else from the account's `prices` setting (-1 = unknown here).
func (s *smspva) quote(ctx context.Context, service, country string) (Quote, error) {
	r, err := s.call(ctx, "get_count_new", url.Values{"service": {service}, "country": {country}})
	if err != nil {
		return Quote{}, err
	}
	q := Quote{Price: -1, Count: int(r.Online.V), CountKnown: r.Online.OK}
	if r.Price.OK {
		q.Price = r.Price.V
	}
	return q, nil
}

func (s *smspva) buy(ctx context.Context, service, country string, _ float64) (Number, error) {
	r, err := s.call(ctx, "get_number", url.Values{"service": {service}, "country": {country}})
	if err != nil {
		return Number{}, err
	}
	if r.Response != "1" || r.ID == "" || digits(string(r.Number)) == "" {
		if r.Response == "2" || r.Response == "0" {
			return Number{}, newErr(ClassNoNumbers, "response "+string(r.Response), "no numbers available")
		}
		return Number{}, newErr(ClassTryNext, "response "+string(r.Response), "SMSPVA sold no number")
	}
	return Number{ID: string(r.ID), Phone: digits(r.CountryCode) + digits(string(r.Number)), Service: service, Country: country}, nil
}

func (s *smspva) check(ctx context.Context, n Number) (SMS, error) {
	r, err := s.call(ctx, "get_sms", url.Values{"id": {n.ID}, "service": {n.Service}, "country": {n.Country}})
	if err != nil {
		return SMS{}, err
	}
	switch r.Response {
	case "1":
		if r.SMS != "" {
			return SMS{State: StateCode, Code: string(r.SMS)}, nil
		}
		return SMS{State: StateWaiting}, nil
	case "2":
		return SMS{State: StateWaiting}, nil
	case "3":
		return SMS{State: StateExpired}, nil
	}
	return SMS{}, newErr(ClassOrder, "response "+string(r.Response), "SMSPVA refused the check")
}

// finish: SMSPVA has nothing to confirm (docs/sms.md, "Protocol: families and order life").
func (s *smspva) finish(context.Context, Number) error { return nil }

func (s *smspva) cancel(ctx context.Context, n Number) error {
	r, err := s.call(ctx, "denial", url.Values{"id": {n.ID}, "service": {n.Service}, "country": {n.Country}})
	if err != nil {
		return err
	}
	if r.Response != "1" {
		return newErr(ClassOrder, "response "+string(r.Response), "SMSPVA refused the cancel")
	}
	return nil
}

// smspvaCountry: SMSPVA uses upper-case codes, UK for Great Britain.
func smspvaCountry(cc string) (string, bool) {
	if len(cc) != 2 {
		return "", false
	}
	if strings.EqualFold(cc, "gb") {
		return "UK", true
	}
	return strings.ToUpper(cc), true
}
