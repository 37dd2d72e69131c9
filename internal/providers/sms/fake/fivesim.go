package fake

import (
	"net/http"
	"strings"
	"time"
)

// FiveSim fakes 5SIM's REST API (docs/sms.md, "Protocol: 5SIM"): Bearer token (401 otherwise), plain-text 400
// errors, order objects moving PENDING → RECEIVED with sms[0].code, and the prices
// nesting that flips when only ?product= is given. Products and countries are 5SIM's
// words ("telegram", "usa"); every offer is sold by Operator.
type FiveSim struct {
	*Market
	Token    string
	Operator string // default "virtual21"
}

// NewFiveSim returns a 5SIM fake accepting token, with a balance of 100.
func NewFiveSim(token string) *FiveSim {
	f := &FiveSim{Market: newMarket("+1555", 12), Token: token, Operator: "virtual21"}
	f.balance = 100
	return f
}

func (f *FiveSim) orderJSON(o Order) map[string]any {
	status := map[string]string{Waiting: "PENDING", Received: "RECEIVED", Finished: "FINISHED", Cancelled: "CANCELED", Expired: "TIMEOUT"}[o.State]
	var sms any
	if o.State == Received || o.State == Finished {
		sms = []map[string]any{{"id": 987654, "created_at": o.Created.UTC().Format(time.RFC3339), "sender": "Telegram", "text": o.Text, "code": o.Code}}
	}
	return map[string]any{"id": atoi(o.ID), "phone": o.Phone, "operator": f.Operator, "product": o.Service, "price": o.Price,
		"status": status, "expires": o.Created.Add(15 * time.Minute).UTC().Format(time.RFC3339), "sms": sms,
		"created_at": o.Created.UTC().Format(time.RFC3339), "forwarding": false, "forwarding_number": "", "country": o.Country}
}

func atoi(s string) int {
	n := 0
	for _, c := range s {
		n = n*10 + int(c-'0')
	}
	return n
}

func (f *FiveSim) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	path := r.URL.Path
	op := ""
	switch {
	case path == "/v1/user/profile":
		op = OpBalance
	case path == "/v1/guest/prices":
		op = OpPrices
	case path == "/v1/guest/countries":
		op = OpCountries
	case strings.HasPrefix(path, "/v1/user/buy/activation/"):
		op = OpBuy
	case strings.HasPrefix(path, "/v1/user/check/"):
		op = OpCheck
	case strings.HasPrefix(path, "/v1/user/finish/"):
		op = OpFinish
	case strings.HasPrefix(path, "/v1/user/cancel/"), strings.HasPrefix(path, "/v1/user/ban/"):
		op = OpCancel
	}
	if tok, injected := f.begin(op); injected {
		if st, ok := httpStatus(tok); ok {
			text(w, st, strings.ToLower(http.StatusText(st)))
			return
		}
		text(w, http.StatusBadRequest, tok)
		return
	}
	if strings.HasPrefix(path, "/v1/user/") && r.Header.Get("Authorization") != "Bearer "+f.Token {
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	switch op {
	case OpBalance:
		writeJSON(w, map[string]any{"id": 1, "email": "user@example.com", "balance": f.Balance(), "rating": 96, "frozen_balance": 0,
			"default_country": map[string]any{"name": "england", "iso": "gb", "prefix": "+44"}, "default_operator": map[string]any{"name": ""}})
	case OpPrices:
		country, product := r.URL.Query().Get("country"), r.URL.Query().Get("product")
		out := map[string]map[string]map[string]any{}
		for c, offers := range f.offersOf() {
			if country != "" && c != country {
				continue
			}
			for p, o := range offers {
				if product != "" && p != product {
					continue
				}
				outer, inner := c, p
				if product != "" && country == "" {
					outer, inner = p, c // only ?product=: product → country → operator
				}
				if out[outer] == nil {
					out[outer] = map[string]map[string]any{}
				}
				out[outer][inner] = map[string]any{f.Operator: map[string]any{"cost": o.Price, "count": o.Count, "rate": 92.6}}
			}
		}
		writeJSON(w, out)
	case OpCountries:
		out := map[string]any{}
		for c := range f.offersOf() {
			iso := c // a made-up code: 5SIM's real table is not needed by the adapter
			if len(iso) > 2 {
				iso = iso[:2]
			}
			out[c] = map[string]any{"iso": map[string]int{iso: 1}, "text_en": c, f.Operator: map[string]int{"activation": 1}}
		}
		writeJSON(w, out)
	case OpBuy:
		parts := strings.Split(strings.TrimPrefix(path, "/v1/user/buy/activation/"), "/")
		if len(parts) != 3 {
			text(w, http.StatusBadRequest, "no product")
			return
		}
		if parts[1] != "any" && parts[1] != f.Operator {
			text(w, http.StatusBadRequest, "bad operator")
			return
		}
		o, res := f.buy(parts[2], parts[0])
		switch res {
		case notOffered:
			text(w, http.StatusBadRequest, "no product")
		case noNumbers:
			text(w, http.StatusOK, "no free phones")
		case noBalance:
			text(w, http.StatusBadRequest, "not enough user balance")
		default:
			writeJSON(w, f.orderJSON(o))
		}
	case OpCheck, OpFinish, OpCancel:
		id := path[strings.LastIndex(path, "/")+1:]
		var o Order
		var res outcome
		switch op {
		case OpCheck:
			o, res = f.check(id)
		case OpFinish:
			o, res = f.finish(id)
		default:
			o, res = f.cancel(id)
		}
		switch res {
		case noOrder:
			text(w, http.StatusNotFound, "order not found")
		case badStatus, earlyCancel:
			text(w, http.StatusBadRequest, "order has sms")
		default:
			writeJSON(w, f.orderJSON(o))
		}
	default:
		text(w, http.StatusNotFound, "not found")
	}
}
