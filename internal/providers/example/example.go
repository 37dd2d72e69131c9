// Package example is the provider to copy when adding one (docs/providers.md walks
// through it): a made-up service with a token and a balance, read from one JSON endpoint.
// It is compiled and tested like the real providers, but registered only by its tests
// (Info), so it never reaches the binary. A real provider registers itself in init and is
// linked by a blank import in internal/providers/all.
package example

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/accountbridge/accountbridge/internal/providers"
)

// Kind is the provider name used in the config (`provider: example`).
const Kind = "example"

// DefaultBaseURL is the upstream; every upstream knob has a production default, so tests
// point base_url at a fake and users never set it.
const DefaultBaseURL = "https://api.example.com"

// Info is what a real provider passes to providers.Register in its init.
func Info() providers.Info {
	return providers.Info{Kind: Kind, Description: "an example service (balance)", DefaultSchedule: "@every 1h",
		Factory: New, Settings: &Settings{}}
}

// Settings are the account's keys besides id, provider, name, schedule, timeout, proxy
// and enabled. `secret:"true"` registers the value with the log redactor; users may write
// token_file: /run/secrets/x for any of them.
type Settings struct {
	Token      string  `yaml:"token" secret:"true"`
	LowBalance float64 `yaml:"low_balance"` // the low-balance sensor turns on below it; 0: off
	BaseURL    string  `yaml:"base_url"`
}

// Provider polls one account.
type Provider struct {
	acct providers.Account
	set  Settings
	deps providers.Deps
}

// New validates the settings and builds the provider. It does no I/O.
func New(acct providers.Account, deps providers.Deps) (providers.Provider, error) {
	var s Settings
	// Decode's errors (unknown keys, wrong types, with file:line) and the checks below are
	// reported together, each at its key: a typo and a missing key come in one `check` run.
	errs := []error{acct.Decode(&s)}
	if s.Token == "" {
		errs = append(errs, providers.Settingf("token", "required: the API token from the service's account page"))
	}
	if s.LowBalance < 0 {
		errs = append(errs, providers.Settingf("low_balance", "must be 0 or more, got %g", s.LowBalance))
	}
	if s.BaseURL == "" {
		s.BaseURL = DefaultBaseURL
	}
	if u, err := url.Parse(s.BaseURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		errs = append(errs, providers.Settingf("base_url", "expected an http(s) URL such as %s", DefaultBaseURL))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	s.BaseURL = strings.TrimRight(s.BaseURL, "/")
	return &Provider{acct: acct, set: s, deps: deps.WithDefaults()}, nil
}

// Poll reads the balance once. Errors are classified for the poller: a refused token is
// permanent (nothing helps until the config changes), 429 is rate limiting, the rest is
// transient and retried with backoff.
func (p *Provider) Poll(ctx context.Context) (providers.Snapshot, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.set.BaseURL+"/v1/balance", nil)
	if err != nil {
		return providers.Snapshot{}, err
	}
	req.Header.Set("Authorization", "Bearer "+p.set.Token)
	resp, err := p.deps.HTTP.Do(req)
	if err != nil {
		return providers.Snapshot{}, fmt.Errorf("balance: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return providers.Snapshot{}, fmt.Errorf("balance: %w", err)
	}
	switch {
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		return providers.Snapshot{}, providers.Permanent("the service refused the token (HTTP %d): check `token`", resp.StatusCode)
	case resp.StatusCode == http.StatusTooManyRequests:
		return providers.Snapshot{}, fmt.Errorf("balance: HTTP 429: %w", providers.ErrRateLimited)
	case resp.StatusCode != http.StatusOK:
		return providers.Snapshot{}, fmt.Errorf("balance: HTTP %d", resp.StatusCode)
	}
	var r struct {
		Balance *float64 `json:"balance"`
	}
	if err := json.Unmarshal(body, &r); err != nil || r.Balance == nil {
		return providers.Snapshot{}, fmt.Errorf("balance: not the expected JSON (%d bytes)", len(body))
	}
	// The clock is deps.Now (a fake one in tests), never time.Now.
	return providers.Snapshot{Account: p.acct.ID, Time: p.deps.Now(), Devices: []providers.Device{device(p.acct, *r.Balance, p.set.LowBalance)}}, nil
}

// device is the pure conversion from what the upstream said to the HA device: keep it
// free of I/O so that it is table-tested (and fuzzed, for real protocols).
func device(acct providers.Account, balance, low float64) providers.Device {
	name := acct.Name
	if name == "" {
		name = "Example " + acct.ID
	}
	d := providers.Device{
		ID: providers.DeviceID(Kind, acct.ID), Name: name, Manufacturer: "Example",
		Entities: []providers.Entity{
			{Key: "balance", Name: "Balance", Component: providers.Sensor, DeviceClass: "monetary", StateClass: "total",
				Unit: "CNY", Precision: providers.Precision(2)},
			{Key: "low_balance", Name: "Low balance", Component: providers.BinarySensor, DeviceClass: "problem"},
		},
		Values: map[string]any{"balance": balance},
	}
	if low > 0 {
		d.Values["low_balance"] = balance < low // absent (unknown) when no threshold is set
	}
	return d
}
