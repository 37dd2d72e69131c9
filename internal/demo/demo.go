// Package demo runs `bridge demo`: every provider's fake upstream on loopback, an MQTT
// broker (embedded, or the one already listening, or the one given), a generated config
// with demo accounts of every provider on fast schedules, and the real daemon
// (daemon.New / Run, the same code path as `bridge run`). The fakes change over time so
// there is something to watch: data use grows, the gas meter moves on, a OneCloud box
// goes offline and comes back, and alerts fire and resolve.
package demo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/accountbridge/accountbridge/internal/config"
	"github.com/accountbridge/accountbridge/internal/daemon"
	"github.com/accountbridge/accountbridge/internal/logging"
	"github.com/accountbridge/accountbridge/internal/mqtt/broker"
	"github.com/accountbridge/accountbridge/internal/providers"
	_ "github.com/accountbridge/accountbridge/internal/providers/all" // every provider the demo runs
)

// DefaultBrokerAddr is where the demo looks for (or starts) its broker.
const DefaultBrokerAddr = "127.0.0.1:1883"

// The demo's identity on the broker, its own so that a demo pointed at a household's
// broker never answers that household's SMS orders (they go to accountbridge/sms/order),
// never claims its base topic (internal/instance) and never touches its Home Assistant
// devices (Namespace: unique ids accountbridge-demo_…, discovery topics
// homeassistant/device/accountbridge-demo_<device>/config). The discovery prefix is HA's
// default, so the demo devices appear in HA without settings.
const (
	BaseTopic       = "accountbridge_demo"
	ClientID        = "accountbridge_demo"
	Namespace       = "demo"
	DiscoveryPrefix = "homeassistant"
)

// The --fakes-only config is for `bridge run` processes, with a real daemon's layout.
const (
	fakesBaseTopic = "accountbridge"
	fakesClientID  = "accountbridge-demo"
)

// Options configure Run. The zero value runs the demo as `bridge demo` does.
type Options struct {
	// Broker is an MQTT broker URL to use; empty: start an embedded broker on BrokerAddr,
	// or use the broker already listening there.
	Broker string
	// BrokerAddr is the embedded broker's address; default DefaultBrokerAddr. Tests use
	// "127.0.0.1:0".
	BrokerAddr string
	// DataDir keeps the config and the store; empty: a temporary directory removed on exit.
	DataDir string
	// Every is the poll schedule of the demo accounts; default 10s.
	Every time.Duration
	// OfflineAfter is when the OneCloud box first goes offline; it then toggles every
	// OfflineAfter. Default 1m.
	OfflineAfter time.Duration
	// AlertFor is the grace of the offline and problem alerts; default 30s.
	AlertFor time.Duration
	// Out receives the start banner; default os.Stdout.
	Out io.Writer
	// Log receives the daemon log; default os.Stderr. LogLevel defaults to info.
	Log      io.Writer
	LogLevel string
	// Web is the web UI's address: "" or "127.0.0.1:0" a free loopback port, "off" none.
	Web string
	// Ready, when set, is called once everything runs, before the banner is printed.
	Ready func(Info)
	// FakesOnly starts only the fake upstreams and writes DataDir/config.yaml for them:
	// no broker, no daemon (`bridge demo --fakes-only`). Any number of `bridge run` or
	// `bridge once` processes can then use the fakes. The config names Broker, default
	// tcp://127.0.0.1:1883.
	FakesOnly bool
	// Accounts is how many accounts each provider gets (--accounts N); 0: the usual demo
	// (one each, three SMS platforms).
	Accounts int

	// startBroker starts the embedded broker; nil: broker.Start. The package's tests run it
	// in a child process (mochi v2.7.9 races on its retained messages, see
	// internal/mqtt/mqtttest), so the race detector watches only our code.
	startBroker func(addr string) (embeddedBroker, error)
}

// embeddedBroker is the demo's own broker.
type embeddedBroker interface {
	URL() string
	Close() error
}

func startEmbeddedBroker(addr string) (embeddedBroker, error) { return broker.Start(addr, nil) }

// Info describes a running demo.
type Info struct {
	BrokerURL  string
	Embedded   bool   // the broker is the demo's own
	ConfigPath string // the generated config
	DataDir    string
	Upstreams  []Upstream
	WebURL     string // the web UI ("" when off)
}

// Upstream is one provider's fake as the demo runs it.
type Upstream struct {
	Provider string
	URL      string   // where the fake listens
	Accounts []string // demo account ids
	Alive    string   // what changes over time, for the banner
	Try      []string // commands to try, {pub} and {sub} standing for mosquitto_pub/sub with -h/-p
}

// A provider joins the demo with one entry in providersInDemo and one start function
// (see telecom.go): start serves its fake on loopback (env.Serve), starts whatever makes
// it change over time (env.Tick, env.Go), and returns its demo accounts as YAML list
// items (indented by two spaces, with env.Schedule) plus alert rules for it (same
// indentation, may be empty).
type provider struct {
	kind  string
	start func(env *Env) (Setup, error)
}

// Setup is what one provider contributes to the demo.
type Setup struct {
	URL        string
	Accounts   []string // ids
	AccountsYA string   // YAML list items for `accounts:`
	RulesYAML  string   // YAML list items for `alerts.rules:`
	// SectionsYAML holds top-level sections of the provider's kind (e.g. `sms:`).
	SectionsYAML string
	Alive        string
	Try          []string // see Upstream.Try
}

var providersInDemo = []provider{
	{"telecom", startTelecom},
	{"gas", startGas},
	{"onecloud", startOneCloud},
	{"sms", startSMS},
}

// Env is what a provider's start function gets.
type Env struct {
	ctx          context.Context
	Schedule     string        // e.g. "@every 10s"
	Every        time.Duration // the poll interval
	OfflineAfter time.Duration
	AlertFor     time.Duration
	accounts     int // Options.Accounts

	mu      sync.Mutex
	servers []*http.Server
	wg      sync.WaitGroup
}

// count is how many accounts a provider runs: Options.Accounts, else its usual def.
func (e *Env) count(def int) int {
	if e.accounts > 0 {
		return e.accounts
	}
	return def
}

// Serve serves h on a free loopback port until the demo ends and returns its base URL.
func (e *Env) Serve(h http.Handler) (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	e.mu.Lock()
	e.servers = append(e.servers, srv)
	e.mu.Unlock()
	go func() { _ = srv.Serve(ln) }()
	return "http://" + ln.Addr().String(), nil
}

// Go runs fn on its own goroutine; ctx ends when the demo stops, and the demo waits for fn.
func (e *Env) Go(fn func(ctx context.Context)) {
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		fn(e.ctx)
	}()
}

// Tick calls fn every d until the demo stops.
func (e *Env) Tick(d time.Duration, fn func()) {
	e.Go(func(ctx context.Context) {
		t := time.NewTicker(d)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				fn()
			}
		}
	})
}

func (e *Env) close() {
	e.mu.Lock()
	servers := e.servers
	e.mu.Unlock()
	for _, s := range servers {
		_ = s.Close()
	}
	e.wg.Wait()
}

// Run runs the demo until ctx ends, then stops the daemon (offline published, store
// closed), the fakes and the broker, and removes the temporary data directory.
func Run(ctx context.Context, o Options) (err error) {
	if o.BrokerAddr == "" {
		o.BrokerAddr = DefaultBrokerAddr
	}
	if o.Every <= 0 {
		o.Every = 10 * time.Second
	}
	if o.OfflineAfter <= 0 {
		o.OfflineAfter = time.Minute
	}
	if o.AlertFor <= 0 {
		o.AlertFor = 30 * time.Second
	}
	if o.Out == nil {
		o.Out = os.Stdout
	}
	if o.Log == nil {
		o.Log = os.Stderr
	}
	if o.LogLevel == "" {
		o.LogLevel = "info"
	}

	info := Info{DataDir: o.DataDir}
	if info.DataDir == "" {
		dir, err := os.MkdirTemp("", "accountbridge-demo-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		info.DataDir = dir
	} else if err := os.MkdirAll(info.DataDir, 0o700); err != nil {
		return err
	}

	// The broker.
	info.BrokerURL = o.Broker
	if info.BrokerURL == "" && o.FakesOnly {
		info.BrokerURL = "tcp://" + DefaultBrokerAddr
	}
	if info.BrokerURL == "" {
		start := o.startBroker
		if start == nil {
			start = startEmbeddedBroker
		}
		b, berr := start(o.BrokerAddr)
		switch {
		case berr == nil:
			defer b.Close()
			info.BrokerURL, info.Embedded = b.URL(), true
		case errors.Is(berr, syscall.EADDRINUSE):
			url := "tcp://" + o.BrokerAddr
			if perr := probe(url); perr != nil {
				return fmt.Errorf("%s is taken by something that does not speak MQTT (%v); stop it or pass --broker URL", o.BrokerAddr, perr)
			}
			info.BrokerURL = url
		default:
			return fmt.Errorf("cannot start the embedded broker: %w", berr)
		}
	}

	// The fakes.
	fctx, stopFakes := context.WithCancel(context.Background())
	env := &Env{ctx: fctx, Schedule: "@every " + o.Every.String(), Every: o.Every, OfflineAfter: o.OfflineAfter, AlertFor: o.AlertFor, accounts: o.Accounts}
	defer func() {
		stopFakes()
		env.close()
	}()
	var accounts, rules, sections strings.Builder
	for _, p := range providersInDemo {
		s, err := p.start(env)
		if err != nil {
			return fmt.Errorf("demo: %s fake: %w", p.kind, err)
		}
		accounts.WriteString(s.AccountsYA)
		rules.WriteString(s.RulesYAML)
		sections.WriteString(s.SectionsYAML)
		info.Upstreams = append(info.Upstreams, Upstream{Provider: p.kind, URL: s.URL, Accounts: s.Accounts, Alive: s.Alive, Try: s.Try})
	}

	// The config, written where the user can read it, and loaded like any other.
	info.ConfigPath = filepath.Join(info.DataDir, "config.yaml")
	base, client := BaseTopic, ClientID
	if o.FakesOnly {
		base, client = fakesBaseTopic, fakesClientID
	}
	text := Config(info.BrokerURL, base, client, filepath.Join(info.DataDir, "accountbridge.db"), o.LogLevel, o.AlertFor, accounts.String(), rules.String(), sections.String())
	// Written whole (temporary file, then rename): other processes wait for it to appear.
	tmp := info.ConfigPath + ".tmp"
	if err := os.WriteFile(tmp, []byte(text), 0o600); err != nil {
		return err
	}
	if err := os.Rename(tmp, info.ConfigPath); err != nil {
		return err
	}
	cfg, err := config.Load(info.ConfigPath, config.LoadOptions{Providers: providers.Kinds(), Sections: providers.SectionKinds()})
	if err != nil {
		return fmt.Errorf("demo config: %w", err)
	}
	if o.FakesOnly {
		if o.Ready != nil {
			o.Ready(info)
		}
		printFakesBanner(o.Out, info, o)
		<-ctx.Done()
		return nil
	}
	red := logging.NewRedactor()
	for _, s := range cfg.Secrets {
		red.AddSecret(s)
	}
	log, err := logging.New(o.Log, logging.Options{Level: cfg.Log.Level, Format: cfg.Log.Format, Redactor: red})
	if err != nil {
		return err
	}
	web := o.Web
	switch web {
	case "":
		web = "127.0.0.1:0"
	case "off":
		web = ""
	}
	d, err := daemon.New(ctx, daemon.Options{Config: cfg, Logger: log, Redactor: red, WebListen: web, Namespace: Namespace})
	if err != nil {
		return err
	}
	if addr := d.WebAddr(); addr != "" {
		info.WebURL = "http://" + addr + "/"
	}
	if o.Ready != nil {
		o.Ready(info)
	}
	printBanner(o.Out, info, o)
	return d.Run(ctx)
}

// Config renders the demo config.
func Config(brokerURL, baseTopic, clientID, storePath, level string, alertFor time.Duration, accountsYAML, rulesYAML, sectionsYAML string) string {
	if rulesYAML == "" {
		rulesYAML = "    []\n"
	}
	return fmt.Sprintf(`# Generated by bridge demo: every account points at a fake upstream on 127.0.0.1.
mqtt:
  broker: %s
  client_id: %s
  base_topic: %s
  discovery_prefix: %s
  birth_delay: 1s
store:
  path: %s
log:
  level: %s
defaults:
  timeout: 20s
alerts:
  offline:
    for: %s
  problem:
    for: %s
  rules:
%s%saccounts:
%s`, brokerURL, clientID, baseTopic, DiscoveryPrefix, storePath, level, alertFor, alertFor, rulesYAML, sectionsYAML, accountsYAML)
}

// probe reports whether an MQTT broker accepts a connection at url.
func probe(url string) error {
	c := paho.NewClient(paho.NewClientOptions().AddBroker(url).
		SetClientID(fmt.Sprintf("accountbridge-demo-probe-%d", os.Getpid())).
		SetConnectTimeout(3 * time.Second).SetAutoReconnect(false))
	t := c.Connect()
	if !t.WaitTimeout(4 * time.Second) {
		return errors.New("no MQTT answer")
	}
	if err := t.Error(); err != nil {
		return err
	}
	c.Disconnect(100)
	return nil
}

func printBanner(w io.Writer, info Info, o Options) {
	brokerNote := "embedded"
	if !info.Embedded {
		brokerNote = "external"
	}
	store := info.DataDir + " (removed on exit; --data DIR keeps it)"
	if o.DataDir != "" {
		store = info.DataDir + " (kept)"
	}
	fmt.Fprintf(w, "accountbridge demo: the real daemon, fake upstreams on 127.0.0.1, every account polled every %s\n", o.Every)
	fmt.Fprintf(w, "  broker    %s (%s)\n", info.BrokerURL, brokerNote)
	for _, u := range info.Upstreams {
		fmt.Fprintf(w, "  %-9s %s, accounts %s: %s\n", u.Provider, u.URL, strings.Join(u.Accounts, ", "), u.Alive)
	}
	fmt.Fprintf(w, "  config    %s\n  data      %s\n", info.ConfigPath, store)
	if info.WebURL != "" {
		fmt.Fprintf(w, "  web UI    %s\n", info.WebURL)
	}
	host := strings.TrimPrefix(info.BrokerURL, "tcp://")
	sub, pub := "mosquitto_sub", "mosquitto_pub"
	if host != DefaultBrokerAddr {
		hp := " -h " + hostOf(host) + " -p " + portOf(host)
		sub, pub = sub+hp, pub+hp
	}
	fmt.Fprintf(w, "Watch it:   %s -v -t '%s/#' -t '%s/#'\n", sub, BaseTopic, DiscoveryPrefix)
	fmt.Fprintf(w, "Alerts:     %s -v -t '%s/alerts'\n", sub, BaseTopic)
	for _, u := range info.Upstreams {
		for _, t := range u.Try {
			fmt.Fprintf(w, "%s\n", strings.NewReplacer("{pub}", pub, "{sub}", sub).Replace(t))
		}
	}
	fmt.Fprintf(w, "Home Assistant: Settings → Devices & services → Add integration → MQTT, broker %s;\n", host)
	fmt.Fprintf(w, "  the demo devices appear under MQTT. For an HA on another machine, run the demo with\n")
	fmt.Fprintf(w, "  --broker tcp://<the broker HA uses>:1883 (the embedded broker listens on 127.0.0.1 only).\n")
	fmt.Fprintf(w, "Ctrl-C stops it.\n")
}

// printFakesBanner tells what --fakes-only serves; its last line, "ready", is what
// scripts wait for.
func printFakesBanner(w io.Writer, info Info, o Options) {
	store := info.DataDir + " (removed on exit; --data DIR keeps it)"
	if o.DataDir != "" {
		store = info.DataDir + " (kept)"
	}
	n := 0
	fmt.Fprintf(w, "accountbridge demo --fakes-only: fake upstreams on 127.0.0.1, no broker, no daemon\n")
	for _, u := range info.Upstreams {
		n += len(u.Accounts)
		fmt.Fprintf(w, "  %-9s %s, %d accounts\n", u.Provider, u.URL, len(u.Accounts))
	}
	fmt.Fprintf(w, "  config    %s (%d accounts, broker %s, store in the data directory)\n  data      %s\n", info.ConfigPath, n, info.BrokerURL, store)
	fmt.Fprintf(w, "Use it:     bridge once -c %s   or   bridge run -c %s\n", info.ConfigPath, info.ConfigPath)
	fmt.Fprintf(w, "Ctrl-C stops the fakes.\nready\n")
}

func hostOf(hostport string) string {
	h, _, err := net.SplitHostPort(hostport)
	if err != nil {
		return hostport
	}
	return h
}

func portOf(hostport string) string {
	_, p, err := net.SplitHostPort(hostport)
	if err != nil {
		return "1883"
	}
	return p
}
