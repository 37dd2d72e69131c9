// Package daemon wires the parts together: config → providers → poller → store and MQTT.
// It holds no protocol logic; cmd/bridge only parses flags and calls it.
package daemon

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/accountbridge/accountbridge/internal/config"
	"github.com/accountbridge/accountbridge/internal/httpx"
	"github.com/accountbridge/accountbridge/internal/logging"
	"github.com/accountbridge/accountbridge/internal/poller"
	"github.com/accountbridge/accountbridge/internal/providers"
	"github.com/accountbridge/accountbridge/internal/providers/bridge"
	"github.com/robfig/cron/v3"
)

// Account is one configured account, ready to poll.
type Account struct {
	Config   *config.Account
	Info     *providers.Info // shared by the accounts of a kind
	Provider providers.Provider
	Schedule cron.Schedule
	Spec     string
	Timeout  time.Duration
}

// BuildOptions is what building accounts and groups needs besides the config. The zero
// value validates only: nothing logged, in-memory KV, no publishing.
type BuildOptions struct {
	Logger   *slog.Logger      // default: discard
	Redactor *logging.Redactor // learns the secrets the providers declare; default: a new one
	// KV gives an account (by id) or a group (by job name, "@<kind>") its store; nil:
	// in-memory (validation only).
	KV  func(name string) providers.KV
	Now func() time.Time // default time.Now
	// Publish lets a group publish under the base topic; nil when validating.
	Publish func(topic string, payload []byte, retained bool) error
}

func (o BuildOptions) withDefaults() BuildOptions {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Redactor == nil {
		o.Redactor = logging.NewRedactor()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.KV == nil {
		o.KV = func(string) providers.KV { return &providers.MemoryKV{} }
	}
	if o.Publish == nil {
		o.Publish = func(string, []byte, bool) error { return errors.New("not publishing while validating") }
	}
	return o
}

// BuildAccounts builds the provider and schedule of every enabled account. Factories do
// no I/O. All problems are returned at once as config.Errors, together with the accounts
// that did build (for `check` to go on to the groups).
func BuildAccounts(cfg *config.Config, opts BuildOptions) ([]Account, error) {
	opts = opts.withDefaults()
	log, red := opts.Logger, opts.Redactor
	var errs config.Errors
	var out []Account
	// One Info per kind and one parsed schedule per spec, shared by the accounts (both
	// are only read): thousands of accounts would otherwise hold a copy each.
	infos := map[string]*providers.Info{}
	scheds := map[string]cron.Schedule{}
	// defaults.schedule is checked once, at its own line, even without accounts.
	defaultSpecBad := false
	if cfg.Defaults.Schedule != "" {
		if _, err := poller.ParseSchedule(cfg.Defaults.Schedule); err != nil {
			errs = append(errs, cfg.Errorf("defaults.schedule", "%v", err))
			defaultSpecBad = true
		}
	}
	for i := range cfg.Accounts {
		a := &cfg.Accounts[i]
		if !a.IsEnabled() || a.Provider == "" {
			continue // no provider: the config reported it
		}
		info, ok := infos[a.Provider]
		if !ok {
			i, known := providers.Lookup(a.Provider)
			if !known {
				errs = append(errs, a.Errorf("provider", "unknown provider %q", a.Provider))
				continue
			}
			info = &i
			infos[a.Provider] = info
		}
		spec := a.Schedule
		if spec == "" {
			spec = cfg.Defaults.Schedule
		}
		if spec == "" {
			spec = info.DefaultSchedule
		}
		if spec == "" {
			spec = "@every 1h"
		}
		sched, ok := scheds[spec]
		if !ok {
			var err error
			sched, err = poller.ParseSchedule(spec)
			if err != nil && (a.Schedule != "" || !defaultSpecBad) {
				errs = append(errs, a.Errorf("schedule", "%v", err))
			}
			if err == nil {
				scheds[spec] = sched
			}
		}
		timeout := a.Timeout.D()
		if timeout == 0 {
			timeout = cfg.Defaults.Timeout.D()
		}
		alog := log.With("account", a.ID, "provider", a.Provider)
		client, err := httpx.New(httpx.Options{
			Provider: a.Provider, Proxy: a.Proxy, Timeout: timeout, Logger: alog, Redact: red.Redact,
			IdleConnsPerHost: cfg.Defaults.Concurrency,
		})
		if err != nil {
			// The settings are still checked, for `check` to report everything at once.
			errs = append(errs, a.Errorf("proxy", "%v", err))
			client = nil
		}
		// Decode is for the factory: a provider that keeps its providers.Account must not
		// keep the config account (and its YAML nodes) alive with it.
		from, id := a, a.ID
		decode := func(v any) error {
			if from == nil {
				return fmt.Errorf("account %s: settings are decoded only while the provider is built", id)
			}
			return from.DecodeWith(v, red.AddSecret)
		}
		p, err := info.Factory(providers.Account{
			ID: a.ID, Provider: a.Provider, Name: a.Name, Proxy: a.Proxy, Decode: decode,
		}, providers.Deps{Logger: alog, HTTP: client, KV: opts.KV(a.ID), Now: opts.Now, Secret: red.AddSecret})
		from = nil
		if err != nil {
			errs = append(errs, settingErrors(err, func(key, msg string) config.Error { return a.Errorf(key, "%s", msg) }, "provider")...)
			continue
		}
		if !a.DecodeCalled() {
			errs = append(errs, a.UnknownExtra()...)
		}
		if sched == nil || client == nil {
			continue
		}
		out = append(out, Account{Config: a, Info: info, Provider: p, Schedule: sched, Spec: spec, Timeout: timeout})
	}
	if len(errs) > 0 {
		return out, errs
	}
	return out, nil
}

// Logger builds the daemon's logger from the config, with every config secret registered.
func Logger(cfg *config.Config, red *logging.Redactor) (*slog.Logger, error) {
	for _, s := range cfg.Secrets {
		red.AddSecret(s)
	}
	return logging.New(os.Stderr, logging.Options{Level: cfg.Log.Level, Format: cfg.Log.Format, Redactor: red})
}

// TLSConfig builds the broker TLS settings; nil when the config sets none.
func TLSConfig(m config.MQTT) (*tls.Config, error) {
	if m.CAFile == "" && m.CertFile == "" && !m.InsecureSkipVerify {
		return nil, nil
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: m.InsecureSkipVerify} //nolint:gosec // user opt-in
	if m.CAFile != "" {
		pem, err := os.ReadFile(m.CAFile)
		if err != nil {
			return nil, fmt.Errorf("mqtt.ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("mqtt.ca_file: %s holds no PEM certificate", m.CAFile)
		}
		tc.RootCAs = pool
	}
	if m.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(m.CertFile, m.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("mqtt.cert_file/key_file: %w", err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}

// BridgeJob is the poller job of the daemon's own diagnostics device.
func bridgeJob(stats func() bridge.Stats, now func() time.Time) poller.Job {
	sched, _ := poller.ParseSchedule("@every 1m")
	return poller.Job{Account: bridge.Kind, Provider: bridge.New(stats, now), Schedule: sched, Jitter: 0}
}
