package fake

import (
	"net/http"
	"strconv"
	"strings"
)

// SMSMan fakes SMS-Man's v2 API (docs/sms.md, "Protocol: SMS-Man"): GET /control/<method>?token=…, JSON replies,
// failures as {"success":false,"error_code","error_msg"} (HTTP 200, as usually seen),
// wait_sms while no code has arrived. Offers are keyed by SMS-Man's numeric ids
// (application_id, country_id); Apps and Countries are the catalog (id → code) served
// by /applications and /countries.
//
// sms.md lists no error for an unknown request_id; the fake answers it with
// wrong_request_id (a guess, flagged as such) — adapters must not depend on the token.
type SMSMan struct {
	*Market
	Token     string
	Apps      map[string]string // application_id → code ("3" → "tg")
	Countries map[string]string // country_id → code ("4" → "id")
	ErrStatus int               // HTTP status of error replies; default 200 (sms.md: sometimes 400)
}

// NewSMSMan returns an SMS-Man fake accepting token, with a balance of 100 and a small
// catalog (tg = 3, wa = 6; ru = 0, id = 4, us = 5).
func NewSMSMan(token string) *SMSMan {
	s := &SMSMan{Market: newMarket("1212555", 11), Token: token, ErrStatus: http.StatusOK,
		Apps:      map[string]string{"3": "tg", "6": "wa"},
		Countries: map[string]string{"0": "ru", "4": "id", "5": "us"}}
	s.balance = 100
	return s
}

func (s *SMSMan) fail(w http.ResponseWriter, code, msg string) {
	if st, ok := httpStatus(code); ok {
		text(w, st, "<html><body>"+http.StatusText(st)+"</body></html>")
		return
	}
	if msg == "" {
		msg = strings.ReplaceAll(code, "_", " ")
	}
	writeStatusJSON(w, s.ErrStatus, map[string]any{"success": false, "error_code": code, "error_msg": msg})
}

func (s *SMSMan) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	method, found := strings.CutPrefix(r.URL.Path, "/control/")
	op := map[string]string{"get-balance": OpBalance, "limits": OpPrices, "get-prices": OpPrices, "countries": OpCountries,
		"applications": OpCountries, "get-number": OpBuy, "get-sms": OpCheck}[method]
	if method == "set-status" {
		op = OpFinish
		if param(r, "status") == "reject" {
			op = OpCancel
		}
	}
	if !found || (op == "" && method != "set-status") {
		text(w, http.StatusNotFound, "Not Found")
		return
	}
	if tok, injected := s.begin(op); injected {
		s.fail(w, tok, "")
		return
	}
	if param(r, "token") != s.Token {
		s.fail(w, "wrong_token", "Wrong token!")
		return
	}
	switch method {
	case "get-balance":
		writeJSON(w, map[string]any{"balance": money(s.Balance())})
	case "limits":
		var rows []map[string]any
		for cty, offers := range s.offersOf() {
			for app, o := range offers {
				if c := param(r, "country_id"); c != "" && c != cty {
					continue
				}
				if a := param(r, "application_id"); a != "" && a != app {
					continue
				}
				rows = append(rows, map[string]any{"application_id": app, "country_id": cty, "numbers": strconv.Itoa(o.Count)})
			}
		}
		writeJSON(w, rows)
	case "get-prices":
		cty := param(r, "country_id")
		out := map[string]map[string]any{cty: {}}
		for app, o := range s.offersOf()[cty] {
			out[cty][app] = map[string]any{"cost": money(o.Price), "count": o.Count}
		}
		writeJSON(w, out)
	case "countries":
		out := map[string]any{}
		for id, code := range s.Countries {
			out[id] = map[string]any{"id": id, "title": "Country " + strings.ToUpper(code), "code": code}
		}
		writeJSON(w, out)
	case "applications":
		out := map[string]any{}
		for id, code := range s.Apps {
			out[id] = map[string]any{"id": id, "name": "App " + code, "code": code}
		}
		writeJSON(w, out)
	case "get-number":
		app, cty := param(r, "application_id"), param(r, "country_id")
		if _, ok := s.Apps[app]; !ok {
			s.fail(w, "wrong_application_id", "Wrong application ID!")
			return
		}
		o, res := s.buy(app, cty)
		switch res {
		case notOffered, noNumbers:
			s.fail(w, "no_numbers", "No numbers")
		case noBalance:
			s.fail(w, "balance", "Not enough balance")
		default:
			writeJSON(w, s.orderJSON(o))
		}
	case "get-sms":
		o, res := s.check(param(r, "request_id"))
		switch {
		case res == noOrder:
			s.fail(w, "wrong_request_id", "Wrong request ID!") // not in sms.md: see the type's comment
		case o.State == Waiting:
			m := s.orderJSON(o)
			m["error_code"], m["error_msg"] = "wait_sms", "Still waiting..."
			writeJSON(w, m)
		case o.State == Cancelled || o.State == Expired:
			s.fail(w, "expired", "The number has expired")
		default:
			m := s.orderJSON(o)
			m["sms_code"] = o.Code
			writeJSON(w, m)
		}
	case "set-status":
		id := param(r, "request_id")
		var res outcome
		switch param(r, "status") {
		case "close":
			_, res = s.finish(id)
		case "reject":
			_, res = s.cancel(id)
		default:
			res = badStatus
		}
		switch res {
		case noOrder:
			s.fail(w, "wrong_request_id", "Wrong request ID!")
		case badStatus, earlyCancel:
			s.fail(w, "wrong_status", "Wrong status")
		default:
			writeJSON(w, map[string]any{"request_id": atoi(id), "success": true})
		}
	}
}

func (s *SMSMan) orderJSON(o Order) map[string]any {
	return map[string]any{"request_id": atoi(o.ID), "country_id": atoi(o.Country), "application_id": atoi(o.Service), "number": o.Phone}
}
