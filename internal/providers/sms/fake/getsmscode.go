package fake

import "net/http"

// GetSMSCode fakes GetSMSCode (docs/sms.md, "Protocol: GetSMSCode"): /do.php (China), /vndo.php?cocode=… (other
// countries), /usdo.php (USA); username + token; action=login|getmobile|getsms|addblack;
// pipe-delimited plain text. Offers are keyed by (pid, country) with country "cn" on
// do.php, "us" on usdo.php and the cocode on vndo.php.
//
// sms.md documents the login, getsms and addblack replies and the two auth errors, but
// not what getmobile answers when it has no number or the balance is short ("else an
// error text"). NoNumbersText and NoBalanceText are those texts: placeholders, not
// captured replies — a test that passes with them proves only that the adapter does not
// mistake an unknown text for a number. sms.md does not say whether addblack refunds
// either; the fake refunds a number that received nothing (GetSMSCode charges per SMS).
type GetSMSCode struct {
	*Market
	Username, Token string
	NoNumbersText   string
	NoBalanceText   string
}

// NewGetSMSCode returns a GetSMSCode fake for one user, with a balance of 100.
func NewGetSMSCode(username, token string) *GetSMSCode {
	g := &GetSMSCode{Market: newMarket("138", 11), Username: username, Token: token,
		NoNumbersText: "Message|no number available now (placeholder)",
		NoBalanceText: "Message|balance is not enough (placeholder)"}
	g.balance = 100
	return g
}

func (g *GetSMSCode) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var country string
	switch r.URL.Path {
	case "/do.php":
		country = "cn"
	case "/usdo.php":
		country = "us"
	case "/vndo.php":
		country = param(r, "cocode")
	default:
		text(w, http.StatusNotFound, "Not Found")
		return
	}
	action := param(r, "action")
	op := map[string]string{"login": OpBalance, "getmobile": OpBuy, "getsms": OpCheck, "addblack": OpCancel}[action]
	if op == "" {
		text(w, http.StatusOK, "Message|unknown action")
		return
	}
	if tok, injected := g.begin(op); injected {
		if st, ok := httpStatus(tok); ok {
			text(w, st, http.StatusText(st))
			return
		}
		text(w, http.StatusOK, tok)
		return
	}
	switch {
	case param(r, "username") != g.Username:
		text(w, http.StatusOK, "username is wrong")
		return
	case param(r, "token") != g.Token:
		text(w, http.StatusOK, "token is wrong")
		return
	}
	pid, mobile := param(r, "pid"), param(r, "mobile")
	switch action {
	case "login":
		text(w, http.StatusOK, g.Username+"|"+money(g.Balance())+"|0|10|0")
	case "getmobile":
		o, res := g.buy(pid, country)
		switch res {
		case notOffered, noNumbers:
			text(w, http.StatusOK, g.NoNumbersText)
		case noBalance:
			text(w, http.StatusOK, g.NoBalanceText)
		default:
			text(w, http.StatusOK, o.Phone)
		}
	case "getsms":
		o, found := g.byMobile(pid, mobile)
		if found {
			o, _ = g.check(o.ID)
		}
		switch {
		case found && (o.State == Received || o.State == Finished):
			text(w, http.StatusOK, "1|"+o.Text)
		default: // an unknown or released number never receives anything
			text(w, http.StatusOK, "Message|not receive")
		}
	case "addblack":
		if o, found := g.byMobile(pid, mobile); found {
			if o.State == Waiting {
				g.cancel(o.ID)
			}
		}
		text(w, http.StatusOK, "Message|Had add black list")
	}
}

func (g *GetSMSCode) byMobile(pid, mobile string) (Order, bool) {
	for _, o := range g.Orders() {
		if o.Phone == mobile && o.Service == pid && o.State != Cancelled {
			return o, true
		}
	}
	return Order{}, false
}
