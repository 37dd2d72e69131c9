// Package daemontest runs the real daemon against a test broker, for end-to-end tests of
// the daemon and of every provider (fake upstream → poller → store → MQTT).
package daemontest

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/accountbridge/accountbridge/internal/config"
	"github.com/accountbridge/accountbridge/internal/daemon"
	"github.com/accountbridge/accountbridge/internal/logging"
	"github.com/accountbridge/accountbridge/internal/mqtt/mqtttest"
	"github.com/accountbridge/accountbridge/internal/providers"
)

// Env is one test's broker, topic prefixes, data directory and captured daemon log.
type Env struct {
	T      testing.TB
	Broker *mqtttest.Broker
	Dir    string // holds config.yaml and data/ (the store survives between Start calls)
	Base   string // MQTT base topic, unique to this test
	Prefix string // discovery prefix, unique to this test

	logMu sync.Mutex
	logs  bytes.Buffer
}

// New prepares an environment; the daemon log is printed when the test fails.
func New(t testing.TB) *Env {
	t.Helper()
	b := mqtttest.Start(t)
	e := &Env{T: t, Broker: b, Dir: t.TempDir(), Base: b.Prefix("ab"), Prefix: b.Prefix("ha")}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("daemon log:\n%s", e.Logs())
		}
	})
	return e
}

// Config writes and loads a config whose accounts section is accountsYAML (a YAML list
// indented by two spaces, or "  []"). extra is appended at the top level (e.g. "defaults:\n  timeout: 5s\n").
func (e *Env) Config(accountsYAML string, extra ...string) *config.Config {
	e.T.Helper()
	text := fmt.Sprintf(`mqtt:
  broker: %s
  base_topic: %s
  discovery_prefix: %s
  client_id: %s
  birth_delay: 0s
store:
  path: %s
log:
  level: debug
  format: json
accounts:
%s
`, e.Broker.URL(), e.Base, e.Prefix, e.Base, filepath.Join(e.Dir, "data", "ab.db"), accountsYAML)
	for _, x := range extra {
		text += x
	}
	path := filepath.Join(e.Dir, "config.yaml")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		e.T.Fatal(err)
	}
	cfg, err := config.Load(path, config.LoadOptions{Providers: providers.Kinds(), Sections: providers.SectionKinds()})
	if err != nil {
		e.T.Fatalf("config:\n%s\n%v", text, err)
	}
	return cfg
}

type logWriter struct{ e *Env }

func (w logWriter) Write(p []byte) (int, error) {
	w.e.logMu.Lock()
	defer w.e.logMu.Unlock()
	return w.e.logs.Write(p)
}

// Start runs the daemon with cfg until stop is called (also at the end of the test).
func (e *Env) Start(cfg *config.Config) (stop func()) {
	e.T.Helper()
	_, stop = e.StartDaemon(cfg)
	return stop
}

// StartDaemon is Start that also returns the daemon (for its web UI's address).
func (e *Env) StartDaemon(cfg *config.Config) (_ *daemon.Daemon, stop func()) {
	e.T.Helper()
	red := logging.NewRedactor()
	for _, s := range cfg.Secrets {
		red.AddSecret(s)
	}
	log, err := logging.New(logWriter{e}, logging.Options{Level: cfg.Log.Level, Format: "json", Redactor: red})
	if err != nil {
		e.T.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	d, err := daemon.New(ctx, daemon.Options{Config: cfg, Logger: log, Redactor: red})
	if err != nil {
		cancel()
		e.T.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				e.T.Errorf("daemon Run: %v", err)
			}
		})
	}
	e.T.Cleanup(stop)
	return d, stop
}

// Watch subscribes an observer to everything under the test's base topic and discovery prefix.
func (e *Env) Watch() *mqtttest.Watcher {
	return e.Broker.Watch(e.T, e.Base+"/#", e.Prefix+"/#")
}

// StateTopic, DiscoveryTopic and AvailabilityTopic of a device in this environment.
func (e *Env) StateTopic(device string) string        { return e.Base + "/" + device + "/state" }
func (e *Env) AvailabilityTopic(device string) string { return e.Base + "/" + device + "/availability" }
func (e *Env) DiscoveryTopic(device string) string {
	return e.Prefix + "/device/" + device + "/config"
}

// Logs is everything the daemon logged so far (JSON lines, already redacted).
func (e *Env) Logs() string {
	e.logMu.Lock()
	defer e.logMu.Unlock()
	return e.logs.String()
}
