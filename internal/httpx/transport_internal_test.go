package httpx

import (
	"crypto/tls"
	"log/slog"
	"net/http"
	"testing"
	"time"
)

// transportOf digs the *http.Transport out of the wrapper chain.
func transportOf(t *testing.T, c *http.Client) *http.Transport {
	t.Helper()
	tr, _ := chainOf(t, c)
	return tr
}

// timeoutOf is the request timeout in c's wrapper chain.
func timeoutOf(t *testing.T, c *http.Client) time.Duration {
	t.Helper()
	_, timeout := chainOf(t, c)
	return timeout
}

func chainOf(t *testing.T, c *http.Client) (*http.Transport, time.Duration) {
	t.Helper()
	rt := c.Transport
	var timeout time.Duration
	for {
		switch x := rt.(type) {
		case *debugTransport:
			rt = x.next
		case *requestTransport:
			rt, timeout = x.next, x.timeout
		case *http.Transport:
			return x, timeout
		default:
			t.Fatalf("unexpected transport %T", rt)
		}
	}
}

func TestTransportSettings(t *testing.T) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	c, err := New(Options{ConnectTimeout: 3 * time.Second, Timeout: 7 * time.Second, TLSConfig: cfg, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	tr := transportOf(t, c)
	if timeoutOf(t, c) != 7*time.Second || tr.ResponseHeaderTimeout != 7*time.Second {
		t.Errorf("timeouts: request %v, response header %v", timeoutOf(t, c), tr.ResponseHeaderTimeout)
	}
	if c.Timeout != 0 {
		t.Errorf("client timeout %v: the request transport bounds requests", c.Timeout)
	}
	if tr.TLSHandshakeTimeout != 3*time.Second {
		t.Errorf("TLS handshake timeout %v", tr.TLSHandshakeTimeout)
	}
	if tr.MaxIdleConnsPerHost != 2 || tr.IdleConnTimeout != 90*time.Second || !tr.ForceAttemptHTTP2 {
		t.Errorf("pool settings: %+v", tr)
	}
	if tr.TLSClientConfig == cfg || tr.TLSClientConfig.MinVersion != tls.VersionTLS12 {
		t.Error("TLS config not cloned")
	}
	if tr.Proxy == nil {
		t.Error("empty Proxy must fall back to the environment")
	}
	if c.Jar == nil {
		t.Error("no cookie jar")
	}

	d, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	dtr := transportOf(t, d)
	if timeoutOf(t, d) != DefaultTimeout || dtr.TLSHandshakeTimeout != DefaultConnectTimeout {
		t.Errorf("defaults: %v %v", timeoutOf(t, d), dtr.TLSHandshakeTimeout)
	}
	if _, ok := d.Transport.(*debugTransport); ok {
		t.Error("debug transport installed without a logger")
	}
}

// Clients without their own TLS config share the connection pool of their proxy and
// timeouts; cookies stay per client.
func TestTransportShared(t *testing.T) {
	a, _ := New(Options{Timeout: 11 * time.Second, IdleConnsPerHost: 16})
	b, _ := New(Options{Timeout: 11 * time.Second, IdleConnsPerHost: 16, Logger: slog.New(slog.DiscardHandler)})
	c, _ := New(Options{Timeout: 11 * time.Second, IdleConnsPerHost: 16, Proxy: "http://127.0.0.1:3128"})
	d, _ := New(Options{Timeout: 11 * time.Second, IdleConnsPerHost: 16, TLSConfig: &tls.Config{}})
	if transportOf(t, a) != transportOf(t, b) {
		t.Error("equal settings: transports not shared")
	}
	if transportOf(t, a) == transportOf(t, c) || transportOf(t, a) == transportOf(t, d) {
		t.Error("a proxy or a TLS config of its own must not share")
	}
	if tr := transportOf(t, a); tr.MaxIdleConnsPerHost != 16 {
		t.Errorf("idle per host %d", tr.MaxIdleConnsPerHost)
	}
	if a.Jar == b.Jar {
		t.Error("cookie jars shared")
	}
}
