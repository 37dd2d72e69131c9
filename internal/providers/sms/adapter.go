package sms

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/accountbridge/accountbridge/internal/logging"
)

// adapter speaks one protocol family (docs/sms.md, "Protocol: families and order life"). service and country are already in the
// platform's own vocabulary (see vocab).
type adapter interface {
	balance(ctx context.Context) (float64, error)
	quote(ctx context.Context, service, country string) (Quote, error)
	buy(ctx context.Context, service, country string, maxPrice float64) (Number, error)
	check(ctx context.Context, n Number) (SMS, error)
	finish(ctx context.Context, n Number) error
	cancel(ctx context.Context, n Number) error
}

// countryLister is implemented by adapters whose platform lists the countries it serves
// (cached countries_ttl): a watched country missing from the list is not served.
type countryLister interface {
	countries(ctx context.Context) (map[string]bool, error)
}

// Quote is a platform's price and stock for one (service, country).
type Quote struct {
	Price      float64 `json:"price"`
	Count      int     `json:"count"`
	CountKnown bool    `json:"count_known"` // false: the platform does not publish its stock
}

// InStock reports whether buying may succeed.
func (q Quote) InStock() bool { return !q.CountKnown || q.Count > 0 }

// Number is a bought phone number (an activation / order).
type Number struct {
	ID      string  `json:"id"`
	Phone   string  `json:"phone"` // E.164 digits, no +
	Price   float64 `json:"price"` // 0: the buy reply has none (the quote is used)
	Service string  `json:"service"`
	Country string  `json:"country"`
	// Extra is protocol state needed later (smsapi: the project id).
	Extra string `json:"extra,omitempty"`
}

// State of a bought number.
type State string

const (
	StateWaiting   State = "waiting"
	StateCode      State = "code"
	StateCancelled State = "cancelled"
	StateExpired   State = "expired"
)

// SMS is the result of polling a number.
type SMS struct {
	State State
	Code  string
	Text  string
}

// httpc is the transport of one platform.
type httpc struct {
	hc   *http.Client
	base string
}

const maxBody = 4 << 20

// get sends a GET and returns the status and body. A transport failure is try-next.
func (h *httpc) get(ctx context.Context, path string, q url.Values, hdr http.Header) (int, []byte, error) {
	u := h.base + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		// The parse error quotes the URL, and with it the api key.
		return 0, nil, newErr(ClassTryNext, "", "building the request: %s", stripURL(err))
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	resp, err := h.hc.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return 0, nil, ctx.Err()
		}
		return 0, nil, newErr(ClassTryNext, "", "request failed: %v", stripURL(err))
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return resp.StatusCode, nil, newErr(ClassTryNext, "", "reading the answer: %v", err)
	}
	return resp.StatusCode, body, nil
}

// stripURL drops the URL (it carries api keys in its query) from a transport error.
func stripURL(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Op + ": " + ue.Err.Error()
	}
	return err.Error()
}

// scrub blanks secrets (plain and query-escaped) out of an upstream answer before any
// part of it can reach an error message: broken upstreams and proxies echo the request
// URL, api key included, and a truncated snippet would leak part of it.
func scrub(body []byte, secrets ...string) []byte {
	for _, s := range secrets {
		if len(s) < 6 { // too short to be a key; blanking would mangle the answer
			continue
		}
		for _, form := range []string{s, url.QueryEscape(s), url.PathEscape(s)} {
			body = bytes.ReplaceAll(body, []byte(form), []byte("***"))
		}
	}
	return body
}

// httpStatusError classifies an HTTP status that no protocol rule explained.
func httpStatusError(status int, body []byte) *Error {
	snippet := logging.CutBytes(strings.TrimSpace(string(body)), 120)
	code := "HTTP " + strconv.Itoa(status)
	switch {
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		return newErr(ClassFatal, code, "access refused: %s", snippet)
	case status == http.StatusTooManyRequests:
		return newErr(ClassRateLimited, code, "too many requests")
	case status >= 500:
		return newErr(ClassTryNext, code, "server error: %s", snippet)
	default:
		return newErr(ClassTryNext, code, "unexpected answer: %s", snippet)
	}
}

// digits keeps the digits of a phone number.
func digits(s string) string {
	var b strings.Builder
	for _, c := range s {
		if c >= '0' && c <= '9' {
			b.WriteRune(c)
		}
	}
	return b.String()
}

// MaskPhone masks a bought number for logs by the bridge's one rule
// (logging.MaskPhoneNumber). The order reply carries the full number: it is the product.
func MaskPhone(p string) string { return logging.MaskPhoneNumber(p) }

// since is a latency in milliseconds.
func since(t0 time.Time) float64 {
	return float64(time.Since(t0).Microseconds()) / 1000
}
