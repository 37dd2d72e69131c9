package sms

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/accountbridge/accountbridge/internal/logging"
	"github.com/accountbridge/accountbridge/internal/providers/wire"
)

// The SMS-Activate handler_api.php text protocol and its clones (docs/sms.md, "Protocol: activate family").

// Preset is a known SMS-Activate clone: its host, path and quirks.
type Preset struct {
	BaseURL      string // "" = base_url is required
	Path         string
	CancelStatus string // setStatus value that cancels (refunds) an activation
	Currency     string
	TextOnly     bool // no getCountries / getNumbersStatus / getNumberV2
}

const activatePath = "/stubs/handler_api.php"

// Presets of the activate family (same section). Country ids and service codes are broadly
// SMS-Activate's; currencies differ.
var Presets = map[string]Preset{
	"sms-activate":            {BaseURL: "https://api.sms-activate.org", Path: activatePath, CancelStatus: "8", Currency: "RUB"},
	"smshub":                  {BaseURL: "https://smshub.org", Path: activatePath, CancelStatus: "8", Currency: "RUB"},
	"sms-man":                 {BaseURL: "https://api.sms-man.ru", Path: activatePath, CancelStatus: "8", Currency: "RUB"},
	"5sim-api1":               {BaseURL: "http://api1.5sim.net", Path: activatePath, CancelStatus: "8", Currency: "RUB"},
	"365sms":                  {BaseURL: "https://365sms.ru", Path: activatePath, CancelStatus: "8", Currency: "RUB"},
	"getsms-online":           {BaseURL: "https://smsactivateapi.getsms.online", Path: activatePath, CancelStatus: "10", Currency: "RUB"},
	"cheapsms":                {BaseURL: "https://cheapsms.pro", Path: "/handler/index", CancelStatus: "8", Currency: "RUB"},
	"smsvk":                   {BaseURL: "https://smsvk.net", Path: activatePath, CancelStatus: "8", Currency: "RUB"},
	"kopeechka":               {BaseURL: "https://sms.kopeechka.store", Path: activatePath, CancelStatus: "8", Currency: "RUB"},
	"grizzlysms":              {BaseURL: "https://api.grizzlysms.com", Path: activatePath, CancelStatus: "8", Currency: "RUB"},
	"tiger-sms":               {BaseURL: "https://api.tiger-sms.com", Path: activatePath, CancelStatus: "8", Currency: "RUB", TextOnly: true},
	"sms-online-pro":          {BaseURL: "https://sms-online.pro", Path: activatePath, CancelStatus: "8", Currency: "RUB"},
	"sms-verification-number": {BaseURL: "https://sms-verification-number.com", Path: "/stubs/handler_api", CancelStatus: "8", Currency: "USD"},
	// Hosts not given by the protocol notes: base_url is required.
	"hero-sms": {Path: activatePath, CancelStatus: "8", Currency: "USD"},
	"smsbower": {Path: activatePath, CancelStatus: "8", Currency: "USD"},
}

// PresetNames lists the presets, sorted.
func PresetNames() []string {
	names := make([]string, 0, len(Presets))
	for n := range Presets {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Reply is one parsed handler_api.php answer.
type Reply struct {
	JSON   bool     // the body is JSON (catalog actions, V2 actions, hero-sms errors)
	Status string   // ACCESS_BALANCE, STATUS_OK, NO_NUMBERS, BANNED…; the JSON error title
	Args   []string // what follows the status, split on ':' where the status has fields
	Raw    string
}

// ParseReply parses a text-protocol answer: "STATUS", "STATUS:payload" (the payload of
// FULL_SMS, STATUS_OK, BANNED… may itself hold colons) or JSON. A JSON object with a
// "title" (hero-sms style errors) yields that title as Status.
func ParseReply(body []byte) Reply {
	s := strings.TrimSpace(strings.TrimPrefix(string(body), "\ufeff"))
	r := Reply{Raw: s}
	if strings.HasPrefix(s, "{") || strings.HasPrefix(s, "[") {
		r.JSON = true
		var e struct {
			Title string `json:"title"`
			Info  struct {
				Min wire.Num `json:"min"`
			} `json:"info"`
		}
		if json.Unmarshal([]byte(s), &e) == nil && e.Title != "" && !strings.ContainsAny(e.Title, " \t") {
			r.Status = e.Title
			if e.Info.Min.OK {
				r.Args = []string{strconv.FormatFloat(e.Info.Min.V, 'f', -1, 64)}
			}
		}
		return r
	}
	status, rest, has := strings.Cut(s, ":")
	r.Status = strings.TrimSpace(status)
	if !has {
		return r
	}
	if r.Status == "ACCESS_NUMBER" {
		r.Args = strings.SplitN(rest, ":", 2)
		return r
	}
	r.Args = []string{rest}
	return r
}

// Arg returns the i-th argument or "".
func (r Reply) Arg(i int) string {
	if i < len(r.Args) {
		return r.Args[i]
	}
	return ""
}

// activateError classifies an error token (docs/sms.md, "How platforms are picked, and failover"); ok is false when status is
// not an error token of the protocol.
func activateError(r Reply) (*Error, bool) {
	tok := r.Status
	switch tok {
	case "BAD_KEY", "NO_KEY", "ACCOUNT_INACTIVE":
		return newErr(ClassFatal, tok, "the platform refused the API key"), true
	case "BANNED":
		return newErr(ClassFatal, tok, "the platform account is banned until %s", strings.Trim(r.Arg(0), "'")), true
	case "NO_BALANCE", "NO_MEANS", "NO_BALANCE_FORWARD":
		return newErr(ClassFunds, tok, "not enough balance"), true
	case "NO_NUMBERS", "NO_NUMBER":
		return newErr(ClassNoNumbers, tok, "no numbers available"), true
	case "WRONG_MAX_PRICE":
		return newErr(ClassTryNext, tok, "price above max_price (platform minimum %s)", r.Arg(0)), true
	case "BAD_ACTION", "BAD_SERVICE", "WRONG_SERVICE", "BAD_COUNTRY", "WRONG_COUNTRY_ID",
		"BAD_OPERATOR", "WRONG_OPERATOR", "BAD_FORWARD", "NOT_AVAILABLE":
		return newErr(ClassTryNext, tok, "the platform refused the request"), true
	case "NO_ACTIVATION", "BAD_STATUS", "WRONG_ACTIVATION_ID", "EARLY_CANCEL_DENIED",
		"ORDER_ALREADY_EXISTS", "WRONG_EXCEPTION_PHONE", "WRONG_SECURITY",
		"NO_ID_RENT", "INVALID_PHONE", "CANT_CANCEL", "ALREADY_FINISH", "ALREADY_CANCEL",
		"RENT_DIE", "INVALID_TIME", "INCORECT_STATUS":
		return newErr(ClassOrder, tok, "the platform refused the operation on this order"), true
	}
	if strings.Contains(tok, "SQL") {
		return newErr(ClassTryNext, tok, "platform server error"), true
	}
	return nil, false
}

type activate struct {
	h            httpc
	path         string
	key          string
	cancelStatus string
	textOnly     bool
}

func (a *activate) call(ctx context.Context, action string, params url.Values) (Reply, error) {
	q := url.Values{"api_key": {a.key}, "action": {action}}
	for k, v := range params {
		q[k] = v
	}
	status, body, err := a.h.get(ctx, a.path, q, nil)
	if err != nil {
		return Reply{}, err
	}
	body = scrub(body, a.key)
	r := ParseReply(body)
	if e, ok := activateError(r); ok {
		return r, e
	}
	if status != http.StatusOK {
		return r, httpStatusError(status, body)
	}
	if r.Status == "" && !r.JSON {
		return r, newErr(ClassTryNext, "", "empty answer to %s", action)
	}
	return r, nil
}

func unexpected(action string, r Reply) error {
	raw := logging.CutBytes(r.Raw, 80)
	// Garbage has no token: the whole first line would otherwise become the code.
	code := r.Status
	if !tokenRe.MatchString(code) {
		code = ""
	}
	return newErr(ClassTryNext, code, "unexpected answer to %s: %q", action, raw)
}

var tokenRe = regexp.MustCompile(`^[A-Z][A-Z0-9_]{0,39}$`)

func (a *activate) balance(ctx context.Context) (float64, error) {
	r, err := a.call(ctx, "getBalance", nil)
	if err != nil {
		return 0, err
	}
	if r.Status != "ACCESS_BALANCE" {
		return 0, unexpected("getBalance", r)
	}
	v, err := strconv.ParseFloat(strings.TrimSpace(r.Arg(0)), 64)
	if err != nil {
		return 0, unexpected("getBalance", r)
	}
	return v, nil
}

type activatePrice struct {
	Cost  wire.Num `json:"cost"`
	Count wire.Num `json:"count"`
	Quant wire.Num `json:"quant"` // old builds
}

func (a *activate) quote(ctx context.Context, service, country string) (Quote, error) {
	r, err := a.call(ctx, "getPrices", url.Values{"service": {service}, "country": {country}})
	if err != nil {
		return Quote{}, err
	}
	// Decoded per country: PHP encodes an empty table as [] (at the top or for one
	// country), which means nothing offered, and must not spoil the other countries.
	var top map[string]json.RawMessage
	if !r.JSON || json.Unmarshal([]byte(r.Raw), &top) != nil {
		if r.JSON && emptyArray(json.RawMessage(r.Raw)) {
			return Quote{}, newErr(ClassNoNumbers, "", "no price for %s in country %s", service, country)
		}
		return Quote{}, unexpected("getPrices", r)
	}
	var m map[string]activatePrice
	if entry := top[country]; entry != nil && !emptyArray(entry) && json.Unmarshal(entry, &m) != nil {
		return Quote{}, unexpected("getPrices", r)
	}
	p, ok := m[service]
	if !ok || !p.Cost.OK {
		return Quote{}, newErr(ClassNoNumbers, "", "no price for %s in country %s", service, country)
	}
	q := Quote{Price: p.Cost.V, CountKnown: true}
	switch {
	case p.Count.OK:
		q.Count = int(p.Count.V)
	case p.Quant.OK:
		q.Count = int(p.Quant.V)
	default:
		q.CountKnown = false
	}
	return q, nil
}

// emptyArray reports whether raw is the JSON [].
func emptyArray(raw json.RawMessage) bool {
	var list []json.RawMessage
	return raw != nil && json.Unmarshal(raw, &list) == nil && len(list) == 0
}

func (a *activate) countries(ctx context.Context) (map[string]bool, error) {
	if a.textOnly {
		return nil, nil
	}
	r, err := a.call(ctx, "getCountries", nil)
	if err != nil {
		return nil, err
	}
	var m map[string]json.RawMessage
	if !r.JSON || json.Unmarshal([]byte(r.Raw), &m) != nil {
		return nil, unexpected("getCountries", r)
	}
	out := make(map[string]bool, len(m))
	for k := range m {
		out[k] = true
	}
	return out, nil
}

func (a *activate) buy(ctx context.Context, service, country string, maxPrice float64) (Number, error) {
	q := url.Values{"service": {service}, "country": {country}}
	if maxPrice > 0 {
		q.Set("maxPrice", strconv.FormatFloat(maxPrice, 'f', -1, 64))
	}
	r, err := a.call(ctx, "getNumber", q)
	if err != nil {
		return Number{}, err
	}
	if r.Status != "ACCESS_NUMBER" || r.Arg(0) == "" || digits(r.Arg(1)) == "" {
		return Number{}, unexpected("getNumber", r)
	}
	return Number{ID: strings.TrimSpace(r.Arg(0)), Phone: digits(r.Arg(1)), Service: service, Country: country}, nil
}

func (a *activate) check(ctx context.Context, n Number) (SMS, error) {
	r, err := a.call(ctx, "getStatus", url.Values{"id": {n.ID}})
	if err != nil {
		return SMS{}, err
	}
	switch r.Status {
	case "STATUS_WAIT_CODE", "STATUS_WAIT_RETRY", "STATUS_WAIT_RESEND":
		return SMS{State: StateWaiting}, nil
	case "STATUS_CANCEL", "ACCESS_CANCEL":
		return SMS{State: StateCancelled}, nil
	case "STATUS_OK":
		s := SMS{State: StateCode, Code: strings.TrimSpace(r.Arg(0))}
		// The whole text is a courtesy: a failure leaves only the code.
		if fr, err := a.call(ctx, "getFullSms", url.Values{"id": {n.ID}}); err == nil && fr.Status == "FULL_SMS" {
			s.Text = fr.Arg(0)
		}
		return s, nil
	}
	return SMS{}, unexpected("getStatus", r)
}

func (a *activate) setStatus(ctx context.Context, id, status string) error {
	r, err := a.call(ctx, "setStatus", url.Values{"id": {id}, "status": {status}})
	if err != nil {
		return err
	}
	if !strings.HasPrefix(r.Status, "ACCESS_") {
		return unexpected("setStatus", r)
	}
	return nil
}

func (a *activate) finish(ctx context.Context, n Number) error { return a.setStatus(ctx, n.ID, "6") }
func (a *activate) cancel(ctx context.Context, n Number) error {
	return a.setStatus(ctx, n.ID, a.cancelStatus)
}

// activateCountries maps ISO 3166 codes to SMS-Activate country ids (the common ones;
// clones may differ: set `countries:` in the account).
var activateCountries = map[string]string{
	"ru": "0", "ua": "1", "kz": "2", "cn": "3", "ph": "4", "mm": "5", "id": "6", "my": "7",
	"ke": "8", "tz": "9", "vn": "10", "kg": "11", "il": "13", "hk": "14", "pl": "15", "gb": "16",
	"ng": "19", "eg": "21", "in": "22", "za": "31", "ro": "32", "co": "33", "ca": "36",
	"de": "43", "nl": "48", "th": "52", "mx": "54", "es": "56", "tr": "62", "br": "73",
	"fr": "78", "us": "187",
}
