package httpx

import (
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/accountbridge/accountbridge/internal/logging"
)

// debugTransport logs one DEBUG line per request: method, URL (sensitive
// query values masked, then Redact), status or error, time to response
// headers and Content-Length when known. Bodies and headers are never
// logged: they carry passwords, tokens and cookies.
type debugTransport struct {
	next   http.RoundTripper
	log    *slog.Logger
	redact func(string) string
}

func (t *debugTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	// One Enabled check per request keeps the non-debug path at a single
	// function call and no allocations.
	if !t.log.Enabled(ctx, slog.LevelDebug) {
		return t.next.RoundTrip(req)
	}
	start := time.Now()
	resp, err := t.next.RoundTrip(req)
	elapsed := time.Since(start)

	safe := SafeURL(req.URL)
	attrs := make([]slog.Attr, 0, 5)
	attrs = append(attrs,
		slog.String("method", req.Method),
		slog.String("url", t.redact(safe)),
		slog.Duration("duration", elapsed))
	if err != nil {
		msg := err.Error()
		// Transport errors may quote the URL; show the masked one instead.
		if req.URL != nil {
			msg = strings.ReplaceAll(msg, req.URL.String(), safe)
		}
		attrs = append(attrs, slog.String("error", t.redact(msg)))
		t.log.LogAttrs(ctx, slog.LevelDebug, "http request failed", attrs...)
		return resp, err
	}
	attrs = append(attrs, slog.Int("status", resp.StatusCode))
	if resp.ContentLength >= 0 {
		attrs = append(attrs, slog.Int64("content_length", resp.ContentLength))
	}
	t.log.LogAttrs(ctx, slog.LevelDebug, "http request", attrs...)
	return resp, nil
}

// SafeURL renders u for logs: values of query parameters whose names are
// sensitive (logging.SensitiveKey: token, password, sign, key, …) become
// "***", a userinfo password is hidden, and the fragment is dropped.
// Parameter order and encoding are otherwise kept as sent.
func SafeURL(u *url.URL) string {
	if u == nil {
		return ""
	}
	c := *u
	c.Fragment, c.RawFragment = "", ""
	if c.RawQuery != "" {
		c.RawQuery = maskQuery(c.RawQuery)
	}
	return c.Redacted()
}

func maskQuery(q string) string {
	var b strings.Builder // stays unallocated while nothing needs masking
	rest := q
	done := 0 // bytes of q already copied into b
	for pos := 0; rest != ""; {
		part := rest
		if i := strings.IndexByte(rest, '&'); i >= 0 {
			part, rest = rest[:i], rest[i+1:]
		} else {
			rest = ""
		}
		name, value, _ := strings.Cut(part, "=")
		if n, err := url.QueryUnescape(name); err == nil {
			name = n
		}
		if value != "" && logging.SensitiveKey(name) {
			valueStart := pos + len(part) - len(value)
			if b.Len() == 0 {
				b.Grow(len(q))
			}
			b.WriteString(q[done:valueStart])
			b.WriteString(logging.Mask)
			done = pos + len(part)
		}
		pos += len(part) + 1
	}
	if done == 0 {
		return q
	}
	b.WriteString(q[done:])
	return b.String()
}
