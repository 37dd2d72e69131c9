// Package web is the UI the daemon serves: accounts and their polls, a device's entities,
// alerts, SMS platforms and orders, and the config, with actions and live updates
// (server-sent events). Everything is embedded (go:embed) and works offline; behind Home
// Assistant ingress the pages honour the X-Ingress-Path prefix.
//
// The daemon implements Backend; this package owns HTTP, security and the config editor.
// Security rules (see Server.ServeHTTP): a token on a non-loopback address, only the
// Supervisor's ingress proxy in the app, POST + a per-process CSRF token + an Origin
// check for every action, and no secret ever sent to the browser.
package web

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"sync"
	"time"
)

// IngressPeer is the address the Home Assistant Supervisor's ingress proxy connects from.
const IngressPeer = "172.30.32.2"

// Account is one account as the accounts page shows it.
type Account struct {
	ID       string `json:"id"`
	Provider string `json:"provider"`
	Name     string `json:"name,omitempty"`
	Schedule string `json:"schedule,omitempty"`
	// State is ok, failing, quarantined, disabled or pending (never polled yet).
	State               string    `json:"state"`
	Enabled             bool      `json:"enabled"`
	DisabledInConfig    bool      `json:"disabled_in_config,omitempty"`
	ConsecutiveFailures int       `json:"consecutive_failures"`
	LastRun             time.Time `json:"last_run,omitzero"`
	LastOK              time.Time `json:"last_ok,omitzero"`
	NextRun             time.Time `json:"next_run,omitzero"`
	BackoffUntil        time.Time `json:"backoff_until,omitzero"`
	LastErrorKind       string    `json:"last_error_kind,omitempty"`
	LastError           string    `json:"last_error,omitempty"` // redacted
	Devices             []string  `json:"devices"`
}

// Device is one device with its entities and their states as published.
type Device struct {
	ID       string   `json:"id"`
	Name     string   `json:"name"`
	Account  string   `json:"account"`
	Model    string   `json:"model,omitempty"`
	Updated  string   `json:"updated,omitempty"`
	Entities []Entity `json:"entities"`
}

// Entity is one entity of a Device.
type Entity struct {
	Key         string `json:"key"`
	Name        string `json:"name"`
	Component   string `json:"component"`
	DeviceClass string `json:"device_class,omitempty"`
	Unit        string `json:"unit,omitempty"`
	Category    string `json:"category,omitempty"`
	State       any    `json:"state"` // nil: unknown
}

// Alert is one alert, firing or from the history.
type Alert struct {
	ID         string    `json:"id"`
	Rule       string    `json:"rule"`
	Kind       string    `json:"kind,omitempty"`
	Device     string    `json:"device"`
	DeviceName string    `json:"device_name,omitempty"`
	Entity     string    `json:"entity,omitempty"`
	State      string    `json:"state"` // pending, firing, resolved
	Since      time.Time `json:"since,omitzero"`
	At         time.Time `json:"at,omitzero"`
	Value      any       `json:"value,omitempty"`
	Unit       string    `json:"unit,omitempty"`
	Message    string    `json:"message,omitempty"`
}

// Alerts are the alerts page's two lists.
type Alerts struct {
	Active  []Alert `json:"active"`
	History []Alert `json:"history"`
}

// SMS is the SMS page: the router's platforms, watch list and orders.
type SMS struct {
	Currency   string         `json:"currency"`
	SpendToday float64        `json:"spend_today"`
	Strategies []string       `json:"strategies"`
	Default    string         `json:"default_strategy"`
	Platforms  []SMSPlatform  `json:"platforms"`
	Watch      []SMSWatch     `json:"watch"`
	Orders     []SMSOrder     `json:"orders"`
	Extra      map[string]any `json:"extra,omitempty"`
}

// SMSPlatform is one platform account.
type SMSPlatform struct {
	ID          string    `json:"id"`
	Family      string    `json:"family"`
	Currency    string    `json:"currency"`
	Balance     *float64  `json:"balance,omitempty"`
	Healthy     bool      `json:"healthy"`
	Problem     string    `json:"problem,omitempty"`
	LatencyMs   float64   `json:"latency_ms"`
	Checked     time.Time `json:"checked,omitzero"`
	SuccessRate *float64  `json:"success_rate,omitempty"`
	Orders      int       `json:"orders"`
}

// SMSWatch is one watched service/country pair with every platform's offer.
type SMSWatch struct {
	Service string     `json:"service"`
	Country string     `json:"country"`
	Offers  []SMSOffer `json:"offers"`
}

// SMSOffer is one platform's price and stock for a pair.
type SMSOffer struct {
	Platform    string  `json:"platform"`
	Price       float64 `json:"price"`
	Currency    string  `json:"currency"`
	RouterPrice float64 `json:"router_price"`
	Count       *int    `json:"count,omitempty"`
	Healthy     bool    `json:"healthy"`
	InStock     bool    `json:"in_stock"`
}

// SMSOrder is one order, in flight or finished.
type SMSOrder struct {
	RequestID string    `json:"request_id"`
	Service   string    `json:"service"`
	Country   string    `json:"country"`
	Strategy  string    `json:"strategy,omitempty"`
	State     string    `json:"state"`
	Active    bool      `json:"active"`
	Platform  string    `json:"platform,omitempty"`
	Phone     string    `json:"phone,omitempty"`
	Code      string    `json:"code,omitempty"`
	Price     *float64  `json:"price,omitempty"`
	Currency  string    `json:"currency,omitempty"`
	Created   time.Time `json:"created"`
	Ended     time.Time `json:"ended,omitzero"`
	Reason    string    `json:"reason,omitempty"`
	Message   string    `json:"message,omitempty"`
}

// OrderRequest is the order form. It becomes the same JSON an MQTT order carries.
type OrderRequest struct {
	RequestID string   `json:"request_id"`
	Service   string   `json:"service"`
	Country   string   `json:"country"`
	Strategy  string   `json:"strategy,omitempty"`
	Platform  string   `json:"platform,omitempty"`
	MaxPrice  *float64 `json:"max_price,omitempty"`
}

// Problem is one config error, at its line (0: the file as a whole).
type Problem struct {
	Line int    `json:"line"`
	Path string `json:"path,omitempty"`
	Msg  string `json:"msg"`
}

// Backend is what the UI needs from the daemon. Every method must be safe for concurrent
// use and must never return a secret (errors are redacted by the daemon).
type Backend interface {
	Accounts() []Account
	PollNow(id string) error
	// Reset lifts the account's quarantine and backoff now (what `bridge reset` does, live).
	Reset(ctx context.Context, id string) error
	// SetEnabled pauses or resumes polling of the account.
	SetEnabled(ctx context.Context, id string, enabled bool) error
	Device(ctx context.Context, id string) (Device, bool, error)
	Alerts(ctx context.Context) (Alerts, error)
	// SMS is nil without SMS platform accounts.
	SMS() *SMS
	// PlaceOrder hands the order to the router exactly as an MQTT order on <base>/sms/order.
	PlaceOrder(ctx context.Context, req OrderRequest) error
	CancelOrder(ctx context.Context, requestID string) error
	// ConfigMasked is the config in use, as `bridge check` prints it (secrets as ***).
	ConfigMasked() ([]byte, error)
	// CheckConfig validates a config file's content as `bridge check` does.
	CheckConfig(data []byte) []Problem
}

// ErrNotFound is returned by Backend methods for an unknown account or order.
var ErrNotFound = errors.New("not found")

// Options configure a Server.
type Options struct {
	// Listen is host:port; "127.0.0.1:0" picks a free port.
	Listen string
	// Token, when set, is required from every client (Authorization: Bearer, or the
	// cookie set by opening /?token=…). It must be set on a non-loopback address unless
	// IngressOnly.
	Token string
	// IngressOnly accepts only the Supervisor's ingress proxy (the Home Assistant app):
	// Home Assistant has authenticated the user, so no token is asked.
	IngressOnly bool
	// AllowedPeers overrides the ingress peer (tests).
	AllowedPeers []string
	Language     string // en or zh
	Version      string
	// ConfigPath is the YAML file the config editor edits; empty: no editor.
	ConfigPath string
	// Secrets lists the secret values in use (the log redactor's), hidden in the editor
	// wherever they appear.
	Secrets func() []string
	Backend Backend
	Logger  *slog.Logger
	// Interval between checks for changes pushed as server-sent events; default 1s.
	Interval time.Duration
}

// Server is the web UI.
type Server struct {
	opts    Options
	log     *slog.Logger
	csrf    string
	mux     *http.ServeMux
	peers   []string
	srv     *http.Server
	ln      net.Listener
	editMu  sync.Mutex // one config save at a time
	stopped chan struct{}
}

// New checks the options and builds the server; it does not listen yet.
func New(opts Options) (*Server, error) {
	if opts.Backend == nil {
		return nil, errors.New("web: Options.Backend is required")
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Interval <= 0 {
		opts.Interval = time.Second
	}
	if opts.Language != "zh" {
		opts.Language = "en"
	}
	if opts.Listen != "" && opts.Token == "" && !opts.IngressOnly && !LoopbackAddr(opts.Listen) {
		return nil, fmt.Errorf("web: listening on %s (not loopback) needs web.token", opts.Listen)
	}
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return nil, err
	}
	s := &Server{opts: opts, log: opts.Logger, csrf: hex.EncodeToString(b), stopped: make(chan struct{})}
	if opts.IngressOnly {
		s.peers = []string{IngressPeer}
		if opts.AllowedPeers != nil {
			s.peers = slices.Clone(opts.AllowedPeers)
		}
	}
	s.routes()
	return s, nil
}

// LoopbackAddr reports whether host:port listens on loopback only.
func LoopbackAddr(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Listen opens the listening socket, so the address is known (and taken) before Serve.
func (s *Server) Listen() error {
	ln, err := net.Listen("tcp", s.opts.Listen)
	if err != nil {
		return fmt.Errorf("web: listen on %s: %w", s.opts.Listen, err)
	}
	s.ln = ln
	return nil
}

// Addr is the address listened on (after Listen).
func (s *Server) Addr() string {
	if s.ln == nil {
		return ""
	}
	return s.ln.Addr().String()
}

// Serve serves until ctx ends, then closes open connections (event streams included).
func (s *Server) Serve(ctx context.Context) error {
	if s.ln == nil {
		if err := s.Listen(); err != nil {
			return err
		}
	}
	s.srv = &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second, BaseContext: func(net.Listener) context.Context { return ctx }}
	errc := make(chan error, 1)
	go func() { errc <- s.srv.Serve(s.ln) }()
	select {
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = s.srv.Shutdown(sctx)
		_ = s.srv.Close()
		<-errc
		return nil
	case err := <-errc:
		if errors.Is(err, http.ErrServerClosed) {
			return nil
		}
		return err
	}
}
