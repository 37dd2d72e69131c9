package fake

import (
	"encoding/json"
	"net/http"
)

// Activate fakes the SMS-Activate handler_api.php protocol (docs/sms.md, "Protocol: activate family"): HTTP 200 text/plain,
// bare error tokens, JSON for catalog actions. Country ids and service codes are the
// platform's (e.g. service "tg", country "187").
type Activate struct {
	*Market
	Key          string
	Path         string // "/stubs/handler_api.php"; cheapsms: "/handler/index"; "" = any path
	CancelStatus string // "8"; getsms.online: "10"
	TextOnly     bool   // tiger-sms: no getCountries / getNumbersStatus
	StringNums   bool   // cost and count as strings ("12.50", "43"), as some builds send
	Tiger        bool   // getStatus answers ACCESS_CANCEL for a cancelled activation
	JSONErrors   bool   // hero-sms: errors as HTTP 400 + {"title": TOKEN}
}

// NewActivate returns an SMS-Activate fake accepting key, with a balance of 100.
func NewActivate(key string) *Activate {
	a := &Activate{Market: newMarket("7900", 11), Key: key, Path: "/stubs/handler_api.php", CancelStatus: "8"}
	a.balance = 100
	return a
}

func (a *Activate) fail(w http.ResponseWriter, token string) {
	if st, ok := httpStatus(token); ok {
		text(w, st, "error")
		return
	}
	if a.JSONErrors {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		_ = json.NewEncoder(w).Encode(map[string]any{"title": token})
		return
	}
	text(w, http.StatusOK, token)
}

func (a *Activate) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if a.Path != "" && r.URL.Path != a.Path {
		// A clone's path quirk missed: the web server's own 404, not the protocol.
		text(w, http.StatusNotFound, "404 page not found")
		return
	}
	action := param(r, "action")
	op := map[string]string{"getBalance": OpBalance, "getBalanceAndCashBack": OpBalance, "getPrices": OpPrices,
		"getCountries": OpCountries, "getNumbersStatus": OpPrices, "getNumber": OpBuy, "getStatus": OpCheck,
		"getFullSms": OpCheck}[action]
	if action == "setStatus" {
		op = OpFinish
		if param(r, "status") == a.CancelStatus {
			op = OpCancel
		}
	}
	if op == "" {
		op = action
	}
	if tok, injected := a.begin(op); injected {
		a.fail(w, tok)
		return
	}
	switch key := param(r, "api_key"); {
	case key == "":
		a.fail(w, "NO_KEY")
		return
	case key != a.Key:
		a.fail(w, "BAD_KEY")
		return
	}
	num := func(v float64) any {
		if a.StringNums {
			return money(v)
		}
		return v
	}
	switch action {
	case "getBalance", "getBalanceAndCashBack":
		text(w, 200, "ACCESS_BALANCE:"+money(a.Balance()))
	case "getPrices":
		out := map[string]map[string]map[string]any{}
		svc, cty := param(r, "service"), param(r, "country")
		for c, offers := range a.offersOf() {
			if cty != "" && c != cty {
				continue
			}
			for s, o := range offers {
				if svc != "" && s != svc {
					continue
				}
				if out[c] == nil {
					out[c] = map[string]map[string]any{}
				}
				out[c][s] = map[string]any{"cost": num(o.Price), "count": num(float64(o.Count))}
			}
		}
		writeJSON(w, out)
	case "getNumbersStatus":
		if a.TextOnly {
			a.fail(w, "BAD_ACTION")
			return
		}
		out := map[string]any{}
		for s, o := range a.offersOf()[param(r, "country")] {
			out[s+"_0"] = num(float64(o.Count))
		}
		writeJSON(w, out)
	case "getCountries":
		if a.TextOnly {
			a.fail(w, "BAD_ACTION")
			return
		}
		out := map[string]any{}
		for _, c := range sortedCountries(a.offersOf()) {
			out[c] = map[string]any{"id": c, "eng": "Country " + c, "visible": 1}
		}
		writeJSON(w, out)
	case "getNumber":
		o, res := a.buy(param(r, "service"), param(r, "country"))
		switch res {
		case notOffered:
			a.fail(w, "BAD_SERVICE")
		case noNumbers:
			a.fail(w, "NO_NUMBERS")
		case noBalance:
			a.fail(w, "NO_BALANCE")
		default:
			text(w, 200, "ACCESS_NUMBER:"+o.ID+":"+o.Phone)
		}
	case "getStatus", "getFullSms":
		o, res := a.check(param(r, "id"))
		if res == noOrder {
			a.fail(w, "NO_ACTIVATION")
			return
		}
		switch o.State {
		case Waiting:
			text(w, 200, "STATUS_WAIT_CODE")
		case Cancelled, Expired:
			if a.Tiger && action == "getStatus" {
				text(w, 200, "ACCESS_CANCEL")
			} else {
				text(w, 200, "STATUS_CANCEL")
			}
		default:
			if action == "getFullSms" {
				text(w, 200, "FULL_SMS:"+o.Text)
			} else {
				text(w, 200, "STATUS_OK:"+o.Code)
			}
		}
	case "setStatus":
		id, status := param(r, "id"), param(r, "status")
		var res outcome
		reply := ""
		switch status {
		case "6":
			_, res = a.finish(id)
			reply = "ACCESS_ACTIVATION"
		case a.CancelStatus:
			_, res = a.cancel(id)
			reply = "ACCESS_CANCEL"
		case "1":
			_, res = a.check(id)
			reply = "ACCESS_READY"
		case "3":
			_, res = a.check(id)
			reply = "ACCESS_RETRY_GET"
		default:
			res = badStatus
		}
		switch res {
		case noOrder:
			a.fail(w, "NO_ACTIVATION")
		case badStatus:
			a.fail(w, "BAD_STATUS")
		case earlyCancel:
			a.fail(w, "EARLY_CANCEL_DENIED")
		default:
			text(w, 200, reply)
		}
	default:
		a.fail(w, "BAD_ACTION")
	}
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}
