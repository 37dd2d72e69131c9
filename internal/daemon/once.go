package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/accountbridge/accountbridge/internal/config"
	"github.com/accountbridge/accountbridge/internal/discovery"
	"github.com/accountbridge/accountbridge/internal/logging"
	"github.com/accountbridge/accountbridge/internal/providers"
	"github.com/accountbridge/accountbridge/internal/store"
)

// ErrNoSuchAccount: `bridge once ID` names no enabled account (a usage error).
var ErrNoSuchAccount = errors.New("no enabled account")

// PollOnce polls every enabled account (or only the one named) once, without MQTT. It
// uses the store for sessions, so tokens are reused exactly as the daemon would.
func PollOnce(ctx context.Context, cfg *config.Config, log *slog.Logger, red *logging.Redactor, only string) ([]providers.Snapshot, error) {
	st, err := store.Open(ctx, cfg.Store.Path, store.Options{})
	if err != nil {
		return nil, err
	}
	defer st.Close()
	opts := BuildOptions{Logger: log, Redactor: red, KV: func(id string) providers.KV { return st.KV(id) }}
	accounts, err := BuildAccounts(cfg, opts)
	if err != nil {
		return nil, err
	}
	// The groups are built, not run: building hands the group's settings to its members
	// (the SMS watch list reaches the platforms through the router), so that a poll here
	// reads what the daemon's would.
	if _, err := BuildGroups(cfg, accounts, opts); err != nil {
		return nil, err
	}
	if only != "" {
		var ids []string
		accounts = slices.DeleteFunc(accounts, func(a Account) bool {
			ids = append(ids, a.Config.ID)
			return a.Config.ID != only
		})
		if len(accounts) == 0 {
			return nil, fmt.Errorf("%w %q (enabled: %v)", ErrNoSuchAccount, only, ids)
		}
	}
	var snaps []providers.Snapshot
	var errs []error
	for _, a := range accounts {
		snap, err := pollWithAuthRetry(ctx, a)
		if err != nil {
			errs = append(errs, fmt.Errorf("account %s: %s: %s", a.Config.ID, providers.Kind(err), red.Redact(err.Error())))
			continue
		}
		snaps = append(snaps, snap)
	}
	return snaps, errors.Join(errs...)
}

// pollWithAuthRetry is the poller's rule in small: an expired session is retried once.
func pollWithAuthRetry(ctx context.Context, a Account) (providers.Snapshot, error) {
	for attempt := 0; ; attempt++ {
		pctx, cancel := context.WithTimeout(ctx, a.Timeout)
		snap, err := a.Provider.Poll(pctx)
		cancel()
		if err == nil || !errors.Is(err, providers.ErrAuth) || attempt == 1 {
			return snap, err
		}
	}
}

// ResetAccount lifts an account's quarantine and backoff in the store, for permanent
// errors the user fixed outside the config (a captcha solved or a new device confirmed in
// the app). Sessions are kept. The running daemon picks it up at its next start.
func ResetAccount(ctx context.Context, cfg *config.Config, id string) (store.AccountState, error) {
	known := false
	for _, a := range cfg.Accounts {
		known = known || a.ID == id
	}
	if !known {
		return store.AccountState{}, fmt.Errorf("no account %q in %s", id, cfg.File)
	}
	st, err := store.Open(ctx, cfg.Store.Path, store.Options{})
	if err != nil {
		return store.AccountState{}, err
	}
	defer st.Close()
	prev, _, err := st.AccountState(ctx, id)
	if err != nil {
		return prev, err
	}
	next := prev
	next.Account = id
	next.ConsecutiveFailures = 0
	next.BackoffUntil = time.Time{}
	next.QuarantineFingerprint, next.QuarantineReason = "", ""
	return prev, st.SaveAccountState(ctx, next)
}

// OnceDevice is how `bridge once` shows a device: its state exactly as it would be
// published, and its extra topics.
type OnceDevice struct {
	ID     string                     `json:"id"`
	Name   string                     `json:"name"`
	State  json.RawMessage            `json:"state"`
	Topics map[string]json.RawMessage `json:"topics,omitempty"`
}

// OnceResult is one account's result in `bridge once`.
type OnceResult struct {
	Account string       `json:"account"`
	Time    time.Time    `json:"time"`
	Devices []OnceDevice `json:"devices"`
}

// Present turns a snapshot into what `bridge once` prints.
func Present(snap providers.Snapshot) (OnceResult, error) {
	out := OnceResult{Account: snap.Account, Time: snap.Time, Devices: []OnceDevice{}}
	for _, dev := range snap.Devices {
		state, err := discovery.State(dev)
		if err != nil {
			return out, err
		}
		od := OnceDevice{ID: dev.ID, Name: dev.Name, State: state}
		for name, payload := range dev.Topics {
			if od.Topics == nil {
				od.Topics = map[string]json.RawMessage{}
			}
			if json.Valid(payload) {
				od.Topics[name] = payload
			} else {
				od.Topics[name], _ = json.Marshal(string(payload))
			}
		}
		out.Devices = append(out.Devices, od)
	}
	return out, nil
}
