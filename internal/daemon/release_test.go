package daemon_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/accountbridge/accountbridge/internal/daemon"
	"github.com/accountbridge/accountbridge/internal/providers"
)

var keptDecode func(any) error

func init() {
	// "testkeeper" keeps its providers.Account, Decode included, as some providers do.
	providers.Register(providers.Info{Kind: "testkeeper", DefaultSchedule: "@every 1h",
		Factory: func(a providers.Account, d providers.Deps) (providers.Provider, error) {
			var s fakeSettings
			if err := a.Decode(&s); err != nil {
				return nil, err
			}
			keptDecode = a.Decode
			return &fakeProvider{id: a.ID, set: s, log: d.Logger}, nil
		}})
}

// A provider may keep its Account, but its Decode works only while the provider is built:
// it must not keep the config account (with its YAML nodes) alive.
func TestDecodeOnlyWhileBuilding(t *testing.T) {
	e := newEnv(t)
	cfg := e.config("  - id: k1\n    provider: testkeeper\n    balance: 2\n")
	if _, err := daemon.BuildAccounts(cfg, daemon.BuildOptions{}); err != nil {
		t.Fatal(err)
	}
	var s fakeSettings
	if err := keptDecode(&s); err == nil || !strings.Contains(err.Error(), "only while the provider is built") {
		t.Errorf("Decode after the factory returned: %v", err)
	}
	// The config itself is untouched: it builds again.
	if _, err := daemon.BuildAccounts(cfg, daemon.BuildOptions{}); err != nil {
		t.Errorf("second build: %v", err)
	}
}

// daemon.New keeps a released copy of the config and leaves the caller's intact: the
// same *config.Config starts the daemon again after a stop.
func TestSameConfigStartsTwice(t *testing.T) {
	e := newEnv(t)
	id := "r" + strings.TrimPrefix(e.base, "ab_")
	cfg := e.config(fmt.Sprintf("  - id: %s\n    provider: testfake\n    balance: 4\n", id))
	fp := cfg.Accounts[0].Fingerprint()
	for range 2 {
		w := e.watch()
		stop := e.start(cfg)
		w.WaitAll(map[string]string{e.base + "/testfake_" + id + "/state": `~"balance":4,`})
		stop()
	}
	if _, err := cfg.Masked(); err != nil {
		t.Errorf("the caller's config was released: %v", err)
	}
	if got := cfg.Accounts[0].Fingerprint(); got != fp {
		t.Errorf("fingerprint changed: %s, was %s", got, fp)
	}
}
