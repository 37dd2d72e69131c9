package sms

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/accountbridge/accountbridge/internal/providers/wire"
)

// 5SIM's native REST API (docs/sms.md, "Protocol: 5SIM"): bearer token, GET everywhere, plain-text errors.

type fivesim struct {
	h        httpc
	token    string
	operator string // "any" by default
}

// fivesimError classifies a plain-text error body.
func fivesimError(status int, body []byte) *Error {
	text := strings.ToLower(strings.TrimSpace(string(body)))
	switch {
	case status == http.StatusUnauthorized:
		return newErr(ClassFatal, "HTTP 401", "the 5SIM token was refused")
	case strings.Contains(text, "not enough user balance"):
		return newErr(ClassFunds, text, "not enough balance")
	case strings.Contains(text, "no free phones"):
		return newErr(ClassNoNumbers, text, "no numbers available")
	case strings.Contains(text, "order not found"), strings.Contains(text, "reuse not possible"),
		strings.Contains(text, "reuse expired"), strings.Contains(text, "order expired"),
		strings.Contains(text, "order has sms"), strings.Contains(text, "hosting order"):
		return newErr(ClassOrder, text, "5SIM refused the operation on this order")
	case strings.Contains(text, "not enough rating"):
		return newErr(ClassRateLimited, text, "5SIM rating too low: ordering is blocked for a while")
	case status == http.StatusTooManyRequests || status == http.StatusServiceUnavailable:
		return newErr(ClassRateLimited, "HTTP "+strconv.Itoa(status), "5SIM asks to slow down")
	case strings.Contains(text, "select country"), strings.Contains(text, "select operator"),
		strings.Contains(text, "bad country"), strings.Contains(text, "bad operator"),
		strings.Contains(text, "no product"), strings.Contains(text, "server offline"):
		return newErr(ClassTryNext, text, "5SIM refused the request")
	}
	return httpStatusError(status, body)
}

func (f *fivesim) call(ctx context.Context, path string, q url.Values, auth bool, into any) error {
	hdr := http.Header{"Accept": {"application/json"}}
	if auth {
		hdr.Set("Authorization", "Bearer "+f.token)
	}
	status, body, err := f.h.get(ctx, path, q, hdr)
	if err != nil {
		return err
	}
	body = scrub(body, f.token)
	trim := strings.TrimSpace(string(body))
	if status != http.StatusOK || !(strings.HasPrefix(trim, "{") || strings.HasPrefix(trim, "[")) {
		if status == http.StatusOK && trim == "" {
			return newErr(ClassTryNext, "", "empty answer from 5SIM")
		}
		return fivesimError(status, body)
	}
	if err := json.Unmarshal(body, into); err != nil {
		return newErr(ClassTryNext, "", "unexpected answer from 5SIM: %v", err)
	}
	return nil
}

func (f *fivesim) balance(ctx context.Context) (float64, error) {
	var p struct {
		Balance wire.Num `json:"balance"`
	}
	if err := f.call(ctx, "/v1/user/profile", nil, true, &p); err != nil {
		return 0, err
	}
	if !p.Balance.OK {
		return 0, newErr(ClassTryNext, "", "5SIM profile without a balance")
	}
	return p.Balance.V, nil
}

type fivesimPrice struct {
	Cost  wire.Num `json:"cost"`
	Count wire.Num `json:"count"`
}

func (f *fivesim) quote(ctx context.Context, product, country string) (Quote, error) {
	// With both parameters the nesting is country → product → operator.
	var m map[string]map[string]map[string]fivesimPrice
	if err := f.call(ctx, "/v1/guest/prices", url.Values{"country": {country}, "product": {product}}, false, &m); err != nil {
		return Quote{}, err
	}
	ops := m[country][product]
	if len(ops) == 0 {
		return Quote{}, newErr(ClassNoNumbers, "", "5SIM offers no %s numbers in %s", product, country)
	}
	if f.operator != "any" {
		p, ok := ops[f.operator]
		if !ok || !p.Cost.OK {
			return Quote{}, newErr(ClassNoNumbers, "", "5SIM operator %s offers no %s numbers in %s", f.operator, product, country)
		}
		return Quote{Price: p.Cost.V, Count: int(p.Count.V), CountKnown: p.Count.OK}, nil
	}
	// "any" operator: the cheapest operator with stock (or the cheapest at all), and the
	// stock of every operator.
	q := Quote{CountKnown: true}
	best, bestInStock := -1.0, false
	for _, p := range ops {
		if !p.Cost.OK {
			continue
		}
		q.Count += int(p.Count.V)
		in := p.Count.V > 0
		if best < 0 || (in && !bestInStock) || (in == bestInStock && p.Cost.V < best) {
			best, bestInStock = p.Cost.V, in
		}
	}
	if best < 0 {
		return Quote{}, newErr(ClassNoNumbers, "", "5SIM has no price for %s in %s", product, country)
	}
	q.Price = best
	return q, nil
}

func (f *fivesim) countries(ctx context.Context) (map[string]bool, error) {
	var m map[string]json.RawMessage
	if err := f.call(ctx, "/v1/guest/countries", nil, false, &m); err != nil {
		return nil, err
	}
	out := make(map[string]bool, len(m))
	for k := range m {
		out[k] = true
	}
	return out, nil
}

type fivesimOrder struct {
	ID     wire.Text `json:"id"`
	Phone  string    `json:"phone"`
	Price  wire.Num  `json:"price"`
	Status string    `json:"status"`
	SMS    []struct {
		Text string    `json:"text"`
		Code wire.Text `json:"code"`
	} `json:"sms"`
}

func (f *fivesim) buy(ctx context.Context, product, country string, maxPrice float64) (Number, error) {
	q := url.Values{}
	if maxPrice > 0 {
		q.Set("maxPrice", strconv.FormatFloat(maxPrice, 'f', -1, 64))
	}
	var o fivesimOrder
	path := "/v1/user/buy/activation/" + url.PathEscape(country) + "/" + url.PathEscape(f.operator) + "/" + url.PathEscape(product)
	if err := f.call(ctx, path, q, true, &o); err != nil {
		return Number{}, err
	}
	if o.ID == "" || digits(o.Phone) == "" {
		return Number{}, newErr(ClassTryNext, "", "5SIM order without id or phone")
	}
	if o.Price.Raw != "" { // as before the shared lenient types: an unreadable price is an unexpected answer
		return Number{}, newErr(ClassTryNext, "", "unexpected answer from 5SIM: price %q", o.Price.Raw)
	}
	return Number{ID: string(o.ID), Phone: digits(o.Phone), Price: o.Price.V, Service: product, Country: country}, nil
}

func (f *fivesim) check(ctx context.Context, n Number) (SMS, error) {
	var o fivesimOrder
	if err := f.call(ctx, "/v1/user/check/"+url.PathEscape(n.ID), nil, true, &o); err != nil {
		return SMS{}, err
	}
	if len(o.SMS) > 0 && (o.SMS[0].Code != "" || o.SMS[0].Text != "") {
		return SMS{State: StateCode, Code: string(o.SMS[0].Code), Text: o.SMS[0].Text}, nil
	}
	switch o.Status {
	case "PENDING", "RECEIVED", "":
		return SMS{State: StateWaiting}, nil
	case "TIMEOUT":
		return SMS{State: StateExpired}, nil
	case "CANCELED", "BANNED", "FINISHED":
		return SMS{State: StateCancelled}, nil
	}
	return SMS{State: StateWaiting}, nil
}

func (f *fivesim) finish(ctx context.Context, n Number) error {
	var o fivesimOrder
	return f.call(ctx, "/v1/user/finish/"+url.PathEscape(n.ID), nil, true, &o)
}

func (f *fivesim) cancel(ctx context.Context, n Number) error {
	var o fivesimOrder
	return f.call(ctx, "/v1/user/cancel/"+url.PathEscape(n.ID), nil, true, &o)
}

// 5SIM names products and countries in words.
var (
	fivesimServices = map[string]string{
		"tg": "telegram", "wa": "whatsapp", "vk": "vkontakte", "go": "google", "fb": "facebook",
		"ig": "instagram", "tw": "twitter", "ds": "discord", "ok": "odnoklassniki", "mm": "microsoft",
		"wb": "wechat", "am": "amazon", "oi": "tinder", "lf": "tiktok", "ya": "yandex", "av": "avito",
	}
	fivesimCountries = map[string]string{
		"ru": "russia", "ua": "ukraine", "kz": "kazakhstan", "cn": "china", "ph": "philippines",
		"id": "indonesia", "my": "malaysia", "vn": "vietnam", "us": "usa", "gb": "england",
		"in": "india", "de": "germany", "fr": "france", "ca": "canada", "pl": "poland",
		"nl": "netherlands", "es": "spain", "br": "brazil", "th": "thailand", "tr": "turkey",
		"ke": "kenya", "ng": "nigeria", "za": "southafrica", "mx": "mexico", "kg": "kyrgyzstan",
	}
)
