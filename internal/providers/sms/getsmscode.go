package sms

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/accountbridge/accountbridge/internal/logging"
)

// GetSMSCode (docs/sms.md, "Protocol: GetSMSCode"): username + token, action=…, pipe-delimited plain text. China numbers
// on do.php; other countries on vndo.php with cocode= (usdo.php for the US).

type getsmscode struct {
	h     httpc
	user  string
	token string
}

func (g *getsmscode) endpoint(country string) (string, url.Values) {
	switch strings.ToLower(country) {
	case "cn", "":
		return "/do.php", url.Values{}
	case "us":
		return "/usdo.php", url.Values{}
	}
	return "/vndo.php", url.Values{"cocode": {strings.ToLower(country)}}
}

func (g *getsmscode) call(ctx context.Context, country, action string, q url.Values) (string, error) {
	path, p := g.endpoint(country)
	p.Set("action", action)
	p.Set("username", g.user)
	p.Set("token", g.token)
	for k, v := range q {
		p[k] = v
	}
	status, body, err := g.h.get(ctx, path, p, nil)
	if err != nil {
		return "", err
	}
	body = scrub(body, g.token)
	text := strings.TrimSpace(string(body))
	lower := strings.ToLower(text)
	// Only whole-reply matches: an SMS text ("1|…") or a login line may hold any words.
	switch {
	case strings.HasPrefix(lower, "username is wrong"), strings.HasPrefix(lower, "token is wrong"):
		return "", newErr(ClassFatal, logging.CutBytes(text, 80), "GetSMSCode refused the username or token")
	case status != http.StatusOK:
		return "", httpStatusError(status, body)
	}
	return text, nil
}

func (g *getsmscode) balance(ctx context.Context) (float64, error) {
	text, err := g.call(ctx, "cn", "login", nil)
	if err != nil {
		return 0, err
	}
	parts := strings.Split(text, "|")
	if len(parts) < 2 {
		return 0, newErr(ClassTryNext, "", "unexpected GetSMSCode login answer")
	}
	v, err := strconv.ParseFloat(strings.TrimSpace(parts[1]), 64)
	if err != nil {
		return 0, newErr(ClassTryNext, "", "unexpected GetSMSCode balance %q", parts[1])
	}
	return v, nil
}

// quote: GetSMSCode publishes neither prices nor stock; the price comes from the
// account's `prices` setting.
func (g *getsmscode) quote(context.Context, string, string) (Quote, error) {
	return Quote{Price: -1}, nil
}

func (g *getsmscode) buy(ctx context.Context, pid, country string, _ float64) (Number, error) {
	text, err := g.call(ctx, country, "getmobile", url.Values{"pid": {pid}})
	if err != nil {
		return Number{}, err
	}
	if !isDigits(text) {
		// sms.md gives no getmobile error texts: these are guesses by keyword.
		lower := strings.ToLower(text)
		code := logging.CutBytes(text, 80)
		switch {
		case strings.Contains(lower, "balance"):
			return Number{}, newErr(ClassFunds, code, "not enough balance")
		case strings.Contains(lower, "no") && (strings.Contains(lower, "number") || strings.Contains(lower, "mobile")):
			return Number{}, newErr(ClassNoNumbers, code, "no numbers available")
		}
		return Number{}, newErr(ClassTryNext, code, "GetSMSCode sold no number")
	}
	phone := text
	if strings.EqualFold(country, "cn") || country == "" {
		phone = chinaE164(text)
	}
	return Number{ID: text, Phone: phone, Service: pid, Country: country}, nil
}

// check: "1|<text>" received; "Message|not receive" waiting; "Message|Please wait…" too fast.
func (g *getsmscode) check(ctx context.Context, n Number) (SMS, error) {
	text, err := g.call(ctx, n.Country, "getsms", url.Values{"pid": {n.Service}, "mobile": {n.ID}, "author": {g.user}})
	if err != nil {
		return SMS{}, err
	}
	head, rest, _ := strings.Cut(text, "|")
	switch {
	case head == "1":
		return SMS{State: StateCode, Code: extractCode(rest), Text: rest}, nil
	case strings.EqualFold(head, "Message"):
		return SMS{State: StateWaiting}, nil
	}
	return SMS{}, newErr(ClassTryNext, "", "unexpected GetSMSCode answer %q", logging.CutBytes(text, 80))
}

// finish: nothing to confirm.
func (g *getsmscode) finish(context.Context, Number) error { return nil }

// cancel releases the number by blacklisting it (addblack), the only release there is.
func (g *getsmscode) cancel(ctx context.Context, n Number) error {
	text, err := g.call(ctx, n.Country, "addblack", url.Values{"pid": {n.Service}, "mobile": {n.ID}})
	if err != nil {
		return err
	}
	if !strings.Contains(strings.ToLower(text), "black") {
		return newErr(ClassOrder, "", "GetSMSCode refused the release: %q", logging.CutBytes(text, 80))
	}
	return nil
}

// extractCode finds the verification code in an SMS text: the longest run of 4-8
// digits (the first when several are as long).
func extractCode(text string) string {
	best, cur := "", ""
	flush := func() {
		if len(cur) >= 4 && len(cur) <= 8 && len(cur) > len(best) {
			best = cur
		}
		cur = ""
	}
	for _, c := range text {
		if c >= '0' && c <= '9' {
			cur += string(c)
			continue
		}
		flush()
	}
	flush()
	return best
}
