// Package httpx is the one place HTTP clients are made, so every provider
// gets the same timeouts, User-Agent, proxy handling, per-account cookies
// and a debug log that never shows secrets.
package httpx

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/accountbridge/accountbridge/internal/version"
)

// Defaults for zero Options fields.
const (
	DefaultConnectTimeout = 10 * time.Second
	DefaultTimeout        = 30 * time.Second
)

// Options configures New. The zero value is usable.
type Options struct {
	Provider       string              // e.g. "telecom"; named in the default User-Agent
	UserAgent      string              // overrides the default (upstreams that want an app-like UA)
	Proxy          string              // "", or an http://, https://, socks5:// (socks5h://) URL, optionally with user:pass
	ConnectTimeout time.Duration       // dial + TLS handshake; <= 0 means DefaultConnectTimeout
	Timeout        time.Duration       // each request incl. reading its body; <= 0 means DefaultTimeout
	TLSConfig      *tls.Config         // optional, for servers that need special settings; cloned
	Logger         *slog.Logger        // nil = no logging
	Redact         func(string) string // applied to logged URLs and errors; nil = identity
	// IdleConnsPerHost is how many idle connections a shared transport keeps per host
	// (see New); the daemon passes its poll concurrency. <= 0 means 2.
	IdleConnsPerHost int
}

// transportKey identifies the transports New shares.
type transportKey struct {
	proxy            string
	connect, timeout time.Duration
	idlePerHost      int
}

// shared holds the transports of clients without a TLS config of their own.
var shared struct {
	sync.Mutex
	m map[transportKey]*http.Transport
}

// New returns a client with its own cookie jar (one client per account keeps
// accounts' sessions apart). It fails only on an unusable proxy setting.
//
// Clients without a TLS config of their own share their transport (the connection
// pool) with every client of the same proxy and timeouts: the accounts of a provider talk
// to the same few hosts, and a pool per account would keep idle connections (two
// goroutines and 8 KiB of buffers each) for every account. Cookies stay per client.
func New(opts Options) (*http.Client, error) {
	proxy, err := proxyFunc(opts.Proxy)
	if err != nil {
		return nil, err
	}
	connectTimeout := opts.ConnectTimeout
	if connectTimeout <= 0 {
		connectTimeout = DefaultConnectTimeout
	}
	timeout := opts.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	newTransport := func(idlePerHost int) *http.Transport {
		dialer := &net.Dialer{Timeout: connectTimeout, KeepAlive: 30 * time.Second}
		return &http.Transport{
			Proxy:       proxy,
			DialContext: dialer.DialContext,
			// A custom dialer or TLS config turns HTTP/2 off unless forced.
			ForceAttemptHTTP2:     true,
			MaxIdleConns:          max(10, 4*idlePerHost),
			MaxIdleConnsPerHost:   idlePerHost,
			IdleConnTimeout:       90 * time.Second,
			TLSHandshakeTimeout:   connectTimeout,
			ResponseHeaderTimeout: timeout,
			ExpectContinueTimeout: time.Second,
		}
	}
	var tr *http.Transport
	if opts.TLSConfig != nil {
		tr = newTransport(2)                        // one account polls one upstream, rarely in parallel
		tr.TLSClientConfig = opts.TLSConfig.Clone() // the transport may modify it (NextProtos)
	} else {
		key := transportKey{proxy: strings.TrimSpace(opts.Proxy), connect: connectTimeout, timeout: timeout,
			idlePerHost: opts.IdleConnsPerHost}
		if key.idlePerHost <= 0 {
			key.idlePerHost = 2
		}
		shared.Lock()
		tr = shared.m[key]
		if tr == nil {
			tr = newTransport(key.idlePerHost)
			if shared.m == nil {
				shared.m = map[transportKey]*http.Transport{}
			}
			shared.m[key] = tr
		}
		shared.Unlock()
	}
	// A nil PublicSuffixList is fine: each jar only ever sees one provider's hosts.
	jar, err := cookiejar.New(nil)
	if err != nil {
		return nil, fmt.Errorf("httpx: cookie jar: %w", err)
	}

	ua := opts.UserAgent
	if ua == "" {
		ua = defaultUserAgent(opts.Provider)
	}
	var rt http.RoundTripper = &requestTransport{next: tr, ua: ua, timeout: timeout}
	if opts.Logger != nil {
		redact := opts.Redact
		if redact == nil {
			redact = func(s string) string { return s }
		}
		rt = &debugTransport{next: rt, log: opts.Logger, redact: redact}
	}
	return &http.Client{Transport: rt, Jar: jar}, nil
}

// DefaultUserAgent is the User-Agent sent when Options.UserAgent is empty.
func DefaultUserAgent(provider string) string {
	if provider == "" {
		return "accountbridge/" + version.String() + " (+https://github.com/accountbridge/accountbridge)"
	}
	return "accountbridge/" + version.String() + " (+https://github.com/accountbridge/accountbridge; " + provider + ")"
}

// defaultUserAgents holds one DefaultUserAgent string per provider, shared by its clients
// (one per account: thousands of equal copies otherwise).
var defaultUserAgents sync.Map

func defaultUserAgent(provider string) string {
	if ua, ok := defaultUserAgents.Load(provider); ok {
		return ua.(string)
	}
	ua, _ := defaultUserAgents.LoadOrStore(provider, DefaultUserAgent(provider))
	return ua.(string)
}

// proxyFunc turns Options.Proxy into a Transport.Proxy. An empty setting
// inherits HTTP_PROXY/HTTPS_PROXY/NO_PROXY from the environment, because that
// is how users configure proxies in Docker and expect them to apply.
// Errors never include the URL itself: it may carry a proxy password.
func proxyFunc(raw string) (func(*http.Request) (*url.URL, error), error) {
	raw = strings.TrimSpace(raw)
	if raw == "" {
		return http.ProxyFromEnvironment, nil
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, errors.New("httpx: invalid proxy URL (want scheme://[user:pass@]host:port)")
	}
	switch strings.ToLower(u.Scheme) {
	case "http", "https", "socks5", "socks5h":
	case "":
		return nil, errors.New("httpx: invalid proxy URL: missing scheme (want http://, https:// or socks5://)")
	default:
		return nil, fmt.Errorf("httpx: proxy scheme %q not supported (want http, https or socks5)", u.Scheme)
	}
	if u.Host == "" || u.Hostname() == "" {
		return nil, errors.New("httpx: invalid proxy URL: missing host")
	}
	return http.ProxyURL(u), nil
}

// requestTransport sets the User-Agent (unless the request has one) and bounds each
// request, the reading of its answer included, by timeout. The bound is here and not in
// http.Client.Timeout: for a transport it does not know (this one), the client enforces
// its Timeout with a goroutine, a timer and channels per request. Unlike Client.Timeout
// the bound is per request of a redirect chain; the upstreams do not redirect.
type requestTransport struct {
	next    http.RoundTripper
	ua      string
	timeout time.Duration
}

func (t *requestTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx, cancel := context.WithTimeout(req.Context(), t.timeout)
	// RoundTrippers must not modify the caller's request: a shallow copy, and fresh
	// headers when the User-Agent is added.
	r2 := req.WithContext(ctx)
	// A present but empty header is the caller asking for no User-Agent.
	if _, ok := req.Header["User-Agent"]; !ok {
		r2.Header = req.Header.Clone()
		if r2.Header == nil {
			r2.Header = make(http.Header)
		}
		r2.Header.Set("User-Agent", t.ua)
	}
	resp, err := t.next.RoundTrip(r2)
	if err != nil {
		err = t.named(r2.Context(), req.Context(), err)
		cancel()
		return nil, err
	}
	resp.Body = &cancelOnClose{ReadCloser: resp.Body, cancel: cancel, t: t, ctx: ctx, parent: req.Context()}
	return resp, nil
}

// named says so when err ended the request because of this transport's own bound (ctx's
// deadline passed while the caller's context, parent, still runs): the bare context error
// would not tell which deadline it was.
func (t *requestTransport) named(ctx, parent context.Context, err error) error {
	if ctx.Err() != context.DeadlineExceeded || parent.Err() != nil {
		return err
	}
	return &requestTimeoutError{timeout: t.timeout, err: err}
}

// requestTimeoutError is a request ended by requestTransport's timeout. It stays a
// timeout (net.Error, errors.Is context.DeadlineExceeded) for callers that classify it.
type requestTimeoutError struct {
	timeout time.Duration
	err     error
}

func (e *requestTimeoutError) Error() string {
	return fmt.Sprintf("no answer within the request timeout of %s: %v", e.timeout, e.err)
}
func (e *requestTimeoutError) Timeout() bool { return true }
func (e *requestTimeoutError) Unwrap() error { return e.err }

// cancelOnClose releases the request's timeout when its body is closed, and names that
// timeout when it ends the reading.
type cancelOnClose struct {
	io.ReadCloser
	cancel      context.CancelFunc
	t           *requestTransport
	ctx, parent context.Context
}

func (b *cancelOnClose) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err != nil && err != io.EOF {
		err = b.t.named(b.ctx, b.parent, err)
	}
	return n, err
}

func (b *cancelOnClose) Close() error {
	err := b.ReadCloser.Close()
	b.cancel()
	return err
}
