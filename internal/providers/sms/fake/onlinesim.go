package fake

import (
	"net/http"
	"strings"
)

// OnlineSim fakes OnlineSIM (docs/sms.md, "Protocol: OnlineSIM"): GET /api/<method>.php?apikey=…, JSON whose `response`
// carries success ("1") or an error token, tzid operations, and getState answering an
// array. Offers are keyed by (service slug, dial code): ("telegram", "7").
//
// setOperationOk both finishes and cancels (docs/sms.md, "Protocol: families and order life"): on an operation still waiting for
// its SMS the fake treats it as a cancel and refunds the price (sms.md does not say
// whether OnlineSIM refunds; the fake assumes it does). A cancelled operation then reads
// TZ_OVER_EMPTY, a finished one TZ_OVER_OK with its msg.
type OnlineSim struct {
	*Market
	Key string
}

// NewOnlineSim returns an OnlineSIM fake accepting key, with a balance of 100.
func NewOnlineSim(key string) *OnlineSim {
	o := &OnlineSim{Market: newMarket("+7900", 12), Key: key}
	o.balance = 100
	return o
}

func (f *OnlineSim) fail(w http.ResponseWriter, tok string) {
	if st, ok := httpStatus(tok); ok {
		text(w, st, "<html><body>"+http.StatusText(st)+"</body></html>")
		return
	}
	writeJSON(w, map[string]any{"response": tok})
}

func (f *OnlineSim) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	method := strings.TrimSuffix(strings.TrimPrefix(r.URL.Path, "/api/"), ".php")
	op := map[string]string{"getBalance": OpBalance, "getNumbersStats": OpPrices, "getNum": OpBuy, "getState": OpCheck,
		"setOperationOk": OpFinish}[method]
	if op == "" {
		text(w, http.StatusNotFound, "Not Found")
		return
	}
	if method == "setOperationOk" {
		if o, ok := f.Order(param(r, "tzid")); ok && o.State == Waiting {
			op = OpCancel
		}
	}
	if tok, injected := f.begin(op); injected {
		f.fail(w, tok)
		return
	}
	switch key := param(r, "apikey"); {
	case key == "":
		f.fail(w, "ERROR_NO_KEY")
		return
	case key != f.Key:
		f.fail(w, "ERROR_WRONG_KEY")
		return
	}
	switch method {
	case "getBalance":
		writeJSON(w, map[string]any{"response": "1", "balance": money(f.Balance()), "zbalance": 0})
	case "getNumbersStats":
		cty := param(r, "country")
		offers, ok := f.offersOf()[cty]
		if !ok {
			f.fail(w, "UNDEFINED_COUNTRY")
			return
		}
		services := map[string]any{}
		id := 1
		for slug, o := range offers {
			services["service_"+slug] = map[string]any{"count": o.Count, "popular": true, "code": atoi(cty), "price": o.Price,
				"id": id, "service": strings.ToUpper(slug[:1]) + slug[1:], "slug": slug}
			id++
		}
		writeJSON(w, map[string]any{"name": "Country " + cty, "position": 1, "code": atoi(cty), "services": services})
	case "getNum":
		o, res := f.buy(param(r, "service"), param(r, "country"))
		switch res {
		case notOffered:
			f.fail(w, "ERROR_NO_SERVICE")
		case noNumbers:
			f.fail(w, "NO_NUMBER")
		case noBalance:
			f.fail(w, "WARNING_LOW_BALANCE")
		default:
			writeJSON(w, map[string]any{"response": 1, "tzid": atoi(o.ID), "number": o.Phone})
		}
	case "getState":
		o, res := f.check(param(r, "tzid"))
		if res == noOrder {
			f.fail(w, "ERROR_NO_OPERATIONS")
			return
		}
		st := map[string]any{"tzid": atoi(o.ID), "number": o.Phone, "service": o.Service, "time": 1140, "country": atoi(o.Country)}
		msg := o.Text
		if param(r, "message_to_code") == "1" {
			msg = o.Code
		}
		switch o.State {
		case Waiting:
			st["response"] = "TZ_NUM_WAIT"
		case Received:
			st["response"], st["msg"] = "TZ_NUM_ANSWER", msg
		case Finished:
			st["response"], st["msg"] = "TZ_OVER_OK", msg
		default:
			st["response"] = "TZ_OVER_EMPTY"
		}
		writeJSON(w, []any{st})
	case "setOperationOk":
		id := param(r, "tzid")
		o, res := f.check(id)
		if res == ok && o.State == Waiting {
			_, res = f.cancel(id)
		} else if res == ok {
			_, res = f.finish(id)
		}
		switch res {
		case noOrder:
			f.fail(w, "ERROR_WRONG_TZID")
		case badStatus:
			f.fail(w, "NO_COMPLETE_TZID")
		case earlyCancel:
			f.fail(w, "TRY_AGAIN_LATER") // sms.md gives no early-cancel token; the closest documented one
		default:
			writeJSON(w, map[string]any{"response": "1", "tzid": atoi(id)})
		}
	}
}
