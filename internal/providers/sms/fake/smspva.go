package fake

import (
	"net/http"
	"strings"
)

// SMSPVA fakes SMSPVA's classic API (docs/sms.md, "Protocol: SMSPVA"): GET /priemnik.php?apikey=…&metod=…, JSON with
// a string `response`, numbers without their country prefix plus CountryCode, and the
// fatal plain-text replies "API KEY NOT FOUND!" / "Service NOT FOUND!". Offers are keyed
// by (optNN service, upper-case country): ("opt29", "RU").
//
// sms.md is thin here; what the fake assumes, and tests must not over-trust:
//   - get_number without stock answers {"response":"2"} (SMSPVA's "numbers are taken,
//     retry later"); sms.md documents no reply for an empty balance, so the fake answers
//     that the same way;
//   - denial answers {"response":"1"} (BAS requires "1" of every checked call) and
//     {"response":"2"} when the number cannot be cancelled any more;
//   - get_count_new sends `online` (documented) and, with CountPrice, a `price` field
//     (not documented: "other fields vary");
//   - ban and get_clearsms are not served (the adapter does not use them).
type SMSPVA struct {
	*Market
	Key        string
	CountPrice bool              // get_count_new also sends the price
	DialCodes  map[string]string // country → CountryCode ("RU" → "+7")
}

// NewSMSPVA returns an SMSPVA fake accepting key, with a balance of 100.
func NewSMSPVA(key string) *SMSPVA {
	s := &SMSPVA{Market: newMarket("900", 10), Key: key,
		DialCodes: map[string]string{"RU": "+7", "UA": "+380", "UK": "+44", "US": "+1", "ID": "+62", "ES": "+34", "KZ": "+7"}}
	s.balance = 100
	return s
}

func (s *SMSPVA) fail(w http.ResponseWriter, tok string) {
	if st, ok := httpStatus(tok); ok {
		text(w, st, "<html><body>"+http.StatusText(st)+"</body></html>")
		return
	}
	if strings.HasPrefix(tok, "{") || strings.HasSuffix(tok, "!") || tok == "" {
		text(w, http.StatusOK, tok) // raw JSON or a plain-text reply
		return
	}
	writeJSON(w, map[string]any{"response": tok})
}

func (s *SMSPVA) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/priemnik.php" {
		text(w, http.StatusNotFound, "Not Found")
		return
	}
	metod := param(r, "metod")
	op := map[string]string{"get_balance": OpBalance, "get_count_new": OpPrices, "get_number": OpBuy, "get_sms": OpCheck,
		"denial": OpCancel}[metod]
	if op == "" {
		text(w, http.StatusBadRequest, "unknown metod")
		return
	}
	if tok, injected := s.begin(op); injected {
		s.fail(w, tok)
		return
	}
	if param(r, "apikey") != s.Key {
		text(w, http.StatusOK, "API KEY NOT FOUND!")
		return
	}
	svc, cty := param(r, "service"), param(r, "country")
	switch metod {
	case "get_balance":
		writeJSON(w, map[string]any{"response": "1", "balance": money(s.Balance())})
	case "get_count_new":
		of, offered := s.offer(svc, cty)
		if !offered {
			text(w, http.StatusOK, "Service NOT FOUND!")
			return
		}
		m := map[string]any{"service": svc, "country": cty, "online": of.Count}
		if s.CountPrice {
			m["price"] = of.Price
		}
		writeJSON(w, m)
	case "get_number":
		o, res := s.buy(svc, cty)
		switch res {
		case notOffered:
			text(w, http.StatusOK, "Service NOT FOUND!")
		case noNumbers, noBalance:
			writeJSON(w, map[string]any{"response": "2", "number": nil, "id": nil})
		default:
			writeJSON(w, map[string]any{"response": "1", "number": o.Phone, "id": atoi(o.ID), "CountryCode": s.DialCodes[cty],
				"again": 0, "text": nil, "extra": nil, "karma": 0, "pass": nil, "sms": nil})
		}
	case "get_sms":
		o, res := s.check(param(r, "id"))
		switch {
		case res == noOrder:
			writeJSON(w, map[string]any{"response": "3", "sms": nil}) // an id the platform no longer holds
		case o.State == Waiting:
			writeJSON(w, map[string]any{"response": "2", "sms": nil})
		case o.State == Received || o.State == Finished:
			writeJSON(w, map[string]any{"response": "1", "number": o.Phone, "sms": o.Code})
		default:
			writeJSON(w, map[string]any{"response": "3", "sms": nil})
		}
	case "denial":
		_, res := s.cancel(param(r, "id"))
		if res != ok {
			writeJSON(w, map[string]any{"response": "2"})
			return
		}
		writeJSON(w, map[string]any{"response": "1"})
	}
}
