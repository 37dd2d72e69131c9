// Package config loads the accountbridge config file (YAML, or the Home Assistant app's
// options.json): strict decoding that reports every problem with file:line and key path,
// ${ENV} expansion, *_file secrets, defaults and validation.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/accountbridge/accountbridge/internal/shard"
	"gopkg.in/yaml.v3"
)

// OptionsPath is where the Home Assistant Supervisor writes the app's options.
const OptionsPath = "/data/options.json"

// DefaultPath is the config file used when no flag is given and there is no options file.
const DefaultPath = "config.yaml"

// Defaults for what the file leaves out.
const (
	DefaultBroker          = "tcp://127.0.0.1:1883"
	DefaultClientID        = "accountbridge"
	DefaultBaseTopic       = "accountbridge"
	DefaultDiscoveryPrefix = "homeassistant"
	DefaultStorePath       = "./data/accountbridge.db"
)

// MaxShards bounds shard.count: far more instances than anyone runs, small enough that a
// typo (an ordinal where the count belongs) is caught.
const MaxShards = 1024

// Config is a loaded config file, validated, with defaults applied.
type Config struct {
	File     string    `yaml:"-"`        // path it was loaded from
	Language string    `yaml:"language"` // en (default) or zh: entity, device and alert names
	MQTT     MQTT      `yaml:"mqtt"`
	Store    Store     `yaml:"store"`
	Log      Log       `yaml:"log"`
	Defaults Defaults  `yaml:"defaults"`
	Accounts []Account `yaml:"accounts"`
	Alerts   Alerts    `yaml:"alerts"`
	// Shard is this instance's share of the accounts when several instances share one
	// broker and base topic (docs/scaling.md); default 0 of 1: every account.
	Shard shard.Shard `yaml:"shard"`
	Web   Web         `yaml:"web"`
	// Sections are the top-level blocks owned by provider kinds (LoadOptions.Sections, e.g.
	// the SMS router's `sms:`), by kind; each is decoded by its owner.
	Sections map[string]Section `yaml:"-"`
	// Secrets is every secret value found, for the log redactor: no empty strings, no repeats.
	Secrets []string       `yaml:"-"`
	lines   map[string]int // line of every key path the file set (decoder.set)
}

// Errorf makes an Error at the line of path ("defaults.schedule", "alerts.rules[0]"),
// or of its closest enclosing key the file set, for validation done outside this package.
func (c *Config) Errorf(path, format string, args ...any) Error {
	return Error{File: c.File, Line: lineOf(c.lines, path), Path: path, Msg: fmt.Sprintf(format, args...)}
}

// lineOf is the line recorded for path, else for its closest parent ("a.b[2].c" → "a.b[2]"
// → "a.b" → "a"), else 0.
func lineOf(lines map[string]int, path string) int {
	for path != "" {
		if l, ok := lines[path]; ok {
			return l
		}
		i := strings.LastIndexAny(path, ".[")
		if i < 0 {
			break
		}
		path = path[:i]
	}
	return 0
}

// MQTT is the broker connection and topic layout.
type MQTT struct {
	Broker             string   `yaml:"broker"`
	Username           string   `yaml:"username"`
	Password           string   `yaml:"password" secret:"true"`
	CAFile             string   `yaml:"ca_file"`
	CertFile           string   `yaml:"cert_file"`
	KeyFile            string   `yaml:"key_file"`
	InsecureSkipVerify bool     `yaml:"insecure_skip_verify"`
	ClientID           string   `yaml:"client_id"`
	BaseTopic          string   `yaml:"base_topic"`
	DiscoveryPrefix    string   `yaml:"discovery_prefix"`
	StatusTopic        string   `yaml:"status_topic"` // HA's birth/will topic
	Discovery          *bool    `yaml:"discovery"`    // nil = true; see DiscoveryEnabled
	KeepAlive          Duration `yaml:"keepalive"`
	BirthDelay         Duration `yaml:"birth_delay"` // max random delay before re-publishing after HA's birth message
	// BrokerDefault is true when the file does not name a broker: inside the Home
	// Assistant app the Supervisor's broker is used then.
	BrokerDefault bool `yaml:"-"`
}

// DiscoveryEnabled reports whether Home Assistant discovery messages are published.
func (m MQTT) DiscoveryEnabled() bool { return m.Discovery == nil || *m.Discovery }

// Web is the web UI the daemon serves (internal/web); off when Listen is empty.
type Web struct {
	Listen string `yaml:"listen"`              // host:port, e.g. 127.0.0.1:8099
	Token  string `yaml:"token" secret:"true"` // required on a non-loopback address; token_file works
}

// Store is the SQLite state file.
type Store struct {
	Path         string   `yaml:"path"`
	RunRetention Duration `yaml:"run_retention"` // how long poll-run history is kept
}

// Log is the daemon's logging.
type Log struct {
	Level  string `yaml:"level"`  // debug, info, warn or error ("warning" is read as warn)
	Format string `yaml:"format"` // auto, text or json
}

// Defaults are the polling settings accounts inherit.
type Defaults struct {
	Schedule         string    `yaml:"schedule"`          // "" = each provider's own default; the poller validates cron specs
	Timeout          Duration  `yaml:"timeout"`           // per poll
	Jitter           *Duration `yaml:"jitter"`            // max start jitter; nil = automatic, 0 = none; see EffectiveJitter
	BackoffMax       Duration  `yaml:"backoff_max"`       // cap of the exponential backoff after failures
	Concurrency      int       `yaml:"concurrency"`       // polls running at once
	UnavailableAfter int       `yaml:"unavailable_after"` // consecutive failures before an account's devices go unavailable
	ShutdownTimeout  Duration  `yaml:"shutdown_timeout"`  // how long to wait for in-flight polls at shutdown
}

// EffectiveJitter is the maximum start jitter for a job run every interval: the configured
// value, or by default 10% of the interval, at most 5 minutes.
func (d Defaults) EffectiveJitter(interval time.Duration) time.Duration {
	if d.Jitter != nil {
		return d.Jitter.D()
	}
	return min(interval/10, 5*time.Minute)
}

// LoadOptions are what Load and Parse need from outside the file.
type LoadOptions struct {
	Providers []string // known provider kinds, for validation and suggestions; empty = not checked
	// Sections are the provider kinds that own a top-level block of the same name (a
	// provider's group settings, e.g. `sms:`); any other unknown top-level key is an error.
	Sections  []string
	LookupEnv func(string) (string, bool)  // default os.LookupEnv
	ReadFile  func(string) ([]byte, error) // default os.ReadFile (used for *_file secrets)
	// OnSecret receives the values of provider fields tagged secret:"true" that
	// Account.Decode finds (Account.DecodeWith takes its own callback instead).
	OnSecret func(value string)
}

// AppConfigPath is a full config file the Home Assistant app's user may put in the app's
// config folder, for what its options cannot express (threshold rules, the SMS watch list).
const AppConfigPath = "/config/accountbridge.yaml"

// ResolvePath picks the config file: flagPath if given; else the first of candidates
// (AppConfigPath, OptionsPath in production) that exists; else DefaultPath.
func ResolvePath(flagPath string, candidates ...string) string {
	if flagPath != "" {
		return flagPath
	}
	for _, c := range candidates {
		if c == "" {
			continue
		}
		if fi, err := os.Stat(c); err == nil && !fi.IsDir() {
			return c
		}
	}
	return DefaultPath
}

// Load reads and parses the file at path. A file that cannot be read gives the wrapped
// os error; invalid content gives Errors.
func Load(path string, opts LoadOptions) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	return Parse(path, data, opts)
}

// Parse decodes data (YAML or JSON) named file in errors. On invalid content it returns
// Errors listing every problem, sorted by line. An empty file is a valid config.
func Parse(file string, data []byte, opts LoadOptions) (*Config, error) {
	cfg, err := Inspect(file, data, opts)
	if err != nil {
		return nil, err
	}
	return cfg, nil
}

// Inspect is Parse for `bridge check`: on invalid content it returns the Errors and also
// the config as far as it could be decoded (nil only for a YAML syntax error), so that
// the caller can go on to validate what those errors leave (every account's provider
// settings) and report everything in one run. Such a config must never be run.
func Inspect(file string, data []byte, opts LoadOptions) (*Config, error) {
	if opts.LookupEnv == nil {
		opts.LookupEnv = os.LookupEnv
	}
	if opts.ReadFile == nil {
		opts.ReadFile = os.ReadFile
	}
	root, errs := parseDocument(file, data)
	if errs != nil {
		return nil, errs
	}
	cfg := &Config{File: file}
	d := newDecoder(file, opts.LookupEnv, opts.ReadFile, func(s string) { cfg.Secrets = append(cfg.Secrets, s) })
	if root != nil {
		d.prepare(root, "")
		if root.Kind != yaml.MappingNode {
			d.errorf(root.Line, "", "expected a mapping of settings at the top level, got %s", describe(root))
		} else {
			d.decodeStruct(root, reflect.ValueOf(cfg).Elem(), "", opts.Sections, func(p pair) bool {
				if !slices.Contains(opts.Sections, p.key.Value) {
					return false
				}
				if s, ok := d.section(p.value, p.key.Value); ok {
					if cfg.Sections == nil {
						cfg.Sections = map[string]Section{}
					}
					cfg.Sections[p.key.Value] = s
				}
				return true
			})
		}
	}
	for i := range cfg.Accounts {
		cfg.Accounts[i].onSecret = opts.OnSecret
	}
	cfg.applyDefaults(d.set)
	cfg.validate(d, opts.Providers)
	cfg.lines = d.set
	cfg.Secrets = dedupe(cfg.Secrets)
	if len(d.errs) > 0 {
		return cfg, d.errs.sorted()
	}
	return cfg, nil
}

// parseDocument returns the top node of the single document in data, nil for an empty file.
func parseDocument(file string, data []byte) (*yaml.Node, Errors) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, nil
		}
		return nil, Errors{syntaxError(file, data, err)}
	}
	var next yaml.Node
	if err := dec.Decode(&next); !errors.Is(err, io.EOF) {
		if err != nil {
			return nil, Errors{syntaxError(file, data, err)}
		}
		return nil, Errors{{File: file, Line: next.Line, Msg: "only one YAML document is allowed (found another after ---)"}}
	}
	if len(doc.Content) == 0 || isNull(doc.Content[0]) {
		return nil, nil
	}
	return doc.Content[0], nil
}

// tabIndented reports whether the given 1-based line starts with a tab in its indentation.
func tabIndented(data []byte, line int) bool {
	lines := bytes.Split(data, []byte("\n"))
	if line < 1 || line > len(lines) {
		return false
	}
	indent := bytes.TrimLeft(lines[line-1], " ")
	return len(indent) > 0 && indent[0] == '\t'
}

var yamlLineRe = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// syntaxError turns yaml's "yaml: line 3: msg" into an Error at that line.
func syntaxError(file string, data []byte, err error) Error {
	msg := err.Error()
	if m := yamlLineRe.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		e := Error{File: file, Line: line, Msg: m[2]}
		if e.Msg == "found character that cannot start any token" && tabIndented(data, line) {
			e.Msg += " (tabs cannot indent YAML; use spaces)"
		}
		return e
	}
	return Error{File: file, Msg: strings.TrimPrefix(msg, "yaml: ")}
}

// setDefault gives *p the value v when the file did not set path.
func setDefault[T any](set map[string]int, path string, p *T, v T) {
	if _, ok := set[path]; !ok {
		*p = v
	}
}

func orDefault(p *string, v string) {
	if *p == "" {
		*p = v
	}
}

// applyDefaults fills what the file left out. Empty strings take the default too, so
// "${VAR:-}" can mean "use the default"; numbers and durations given explicitly are kept
// for validate to judge.
func (c *Config) applyDefaults(set map[string]int) {
	m := &c.MQTT
	m.BrokerDefault = m.Broker == ""
	orDefault(&m.Broker, DefaultBroker)
	orDefault(&m.ClientID, DefaultClientID)
	orDefault(&m.BaseTopic, DefaultBaseTopic)
	orDefault(&m.DiscoveryPrefix, DefaultDiscoveryPrefix)
	orDefault(&m.StatusTopic, m.DiscoveryPrefix+"/status")
	setDefault(set, "mqtt.keepalive", &m.KeepAlive, Duration(30*time.Second))
	setDefault(set, "mqtt.birth_delay", &m.BirthDelay, Duration(5*time.Second))

	orDefault(&c.Language, "en")
	c.applyAlertDefaults(set)
	if c.File == OptionsPath || c.File == AppConfigPath {
		orDefault(&c.Store.Path, "/data/accountbridge.db") // the Home Assistant app's persistent volume
	}
	orDefault(&c.Store.Path, DefaultStorePath)
	setDefault(set, "store.run_retention", &c.Store.RunRetention, Duration(720*time.Hour))

	c.Log.Level = strings.ToLower(c.Log.Level)
	if c.Log.Level == "warning" {
		c.Log.Level = "warn"
	}
	orDefault(&c.Log.Level, "info")
	c.Log.Format = strings.ToLower(c.Log.Format)
	orDefault(&c.Log.Format, "auto")

	setDefault(set, "shard.count", &c.Shard.Count, 1)

	df := &c.Defaults
	setDefault(set, "defaults.timeout", &df.Timeout, Duration(60*time.Second))
	setDefault(set, "defaults.backoff_max", &df.BackoffMax, Duration(6*time.Hour))
	setDefault(set, "defaults.concurrency", &df.Concurrency, 8)
	setDefault(set, "defaults.unavailable_after", &df.UnavailableAfter, 2)
	setDefault(set, "defaults.shutdown_timeout", &df.ShutdownTimeout, Duration(10*time.Second))
}

var (
	idRe          = regexp.MustCompile(`^[a-z0-9_]+$`)
	brokerSchemes = []string{"tcp", "ssl", "tls", "mqtt", "mqtts", "ws", "wss"}
	proxySchemes  = []string{"http", "https", "socks5"}
)

// validate checks ranges and cross-field rules. Only values the file set can be wrong, so
// every error has the line recorded while decoding.
func (c *Config) validate(d *decoder, providers []string) {
	check := func(path string, ok bool, format string, args ...any) {
		if !ok && !d.failed[path] {
			d.errorf(lineOf(d.set, path), path, format, args...)
		}
	}
	m := &c.MQTT
	if msg, pw := checkURL(m.Broker, brokerSchemes, "tcp://host:1883"); msg != "" {
		check("mqtt.broker", false, "%s", msg)
	} else {
		d.secret(pw)
	}
	check("mqtt.cert_file", m.CertFile == "" || m.KeyFile != "", "key_file is required with cert_file")
	check("mqtt.key_file", m.KeyFile == "" || m.CertFile != "", "cert_file is required with key_file")
	for _, t := range []struct{ path, topic string }{
		{"mqtt.base_topic", m.BaseTopic},
		{"mqtt.discovery_prefix", m.DiscoveryPrefix},
	} {
		check(t.path, !strings.ContainsAny(t.topic, "+#"), "%q must not contain '+' or '#'", t.topic)
		check(t.path, !strings.HasPrefix(t.topic, "/") && !strings.HasSuffix(t.topic, "/"),
			"%q must not start or end with '/'", t.topic)
	}
	check("mqtt.keepalive", m.KeepAlive.D() >= time.Second, "must be at least 1s, got %s", m.KeepAlive)
	check("mqtt.birth_delay", m.BirthDelay >= 0, "must not be negative, got %s", m.BirthDelay)

	if c.Web.Listen != "" {
		host, _, err := net.SplitHostPort(c.Web.Listen)
		check("web.listen", err == nil, "expected host:port, e.g. 127.0.0.1:8099")
		check("web.listen", err != nil || c.Web.Token != "" || isLoopback(host),
			"a token is required when web.listen is not a loopback address (anyone on the network could use the UI)")
	}
	check("language", c.Language == "en" || c.Language == "zh", "expected en or zh, got %q", c.Language)
	c.validateAlerts(d.set, check)
	check("store.run_retention", c.Store.RunRetention > 0, "must be greater than 0, got %s", c.Store.RunRetention)

	check("log.level", slices.Contains([]string{"debug", "info", "warn", "error"}, c.Log.Level),
		"expected one of debug, info, warn, error, got %q", c.Log.Level)
	check("log.format", slices.Contains([]string{"auto", "text", "json"}, c.Log.Format),
		"expected one of auto, text, json, got %q", c.Log.Format)

	check("shard.count", c.Shard.Count >= 1 && c.Shard.Count <= MaxShards,
		"must be between 1 and %d, got %d", MaxShards, c.Shard.Count)
	if !d.failed["shard.count"] {
		check("shard.index", c.Shard.Index >= 0 && c.Shard.Index < c.Shard.Count,
			"must be between 0 and shard.count - 1 (%d), got %d", c.Shard.Count-1, c.Shard.Index)
	}

	df := &c.Defaults
	check("defaults.timeout", df.Timeout > 0, "must be greater than 0, got %s", df.Timeout)
	check("defaults.jitter", df.Jitter == nil || *df.Jitter >= 0, "must not be negative (0 disables jitter)")
	check("defaults.backoff_max", df.BackoffMax > 0, "must be greater than 0, got %s", df.BackoffMax)
	check("defaults.concurrency", df.Concurrency >= 1 && df.Concurrency <= 1024,
		"must be between 1 and 1024, got %d", df.Concurrency)
	check("defaults.unavailable_after", df.UnavailableAfter >= 1, "must be at least 1, got %d", df.UnavailableAfter)
	check("defaults.shutdown_timeout", df.ShutdownTimeout >= 0, "must not be negative, got %s", df.ShutdownTimeout)

	firstID := map[string]int{}
	for i := range c.Accounts {
		a := &c.Accounts[i]
		if a.state == nil {
			continue // not a mapping; already reported
		}
		add := func(key, format string, args ...any) {
			if e := a.Errorf(key, format, args...); !d.failed[e.Path] {
				d.errs = append(d.errs, e)
			}
		}
		required := func(key, v string) bool {
			if v != "" {
				return true
			}
			if _, ok := a.keyLines[key]; ok {
				add(key, "must not be empty")
			} else {
				d.errs = append(d.errs, Error{File: a.file, Line: a.line, Path: a.path, Msg: fmt.Sprintf("missing required key %q", key)})
			}
			return false
		}
		if required("id", a.ID) {
			if !idRe.MatchString(a.ID) {
				add("id", "%q must match [a-z0-9_]+", a.ID)
			} else if line, dup := firstID[a.ID]; dup {
				add("id", "duplicate id %q (first at line %d)", a.ID, line)
			} else {
				firstID[a.ID] = a.keyLines["id"]
			}
		}
		if required("provider", a.Provider) && len(providers) > 0 && !slices.Contains(providers, a.Provider) {
			if s, ok := suggest(a.Provider, providers); ok {
				add("provider", "unknown provider %q (did you mean %q?)", a.Provider, s)
			} else {
				add("provider", "unknown provider %q (known: %s)", a.Provider, strings.Join(providers, ", "))
			}
		}
		if a.Proxy != "" {
			if msg, pw := checkURL(a.Proxy, proxySchemes, "socks5://host:1080"); msg != "" {
				add("proxy", "%s", msg)
			} else {
				d.secret(pw)
			}
		}
		if a.Timeout < 0 {
			add("timeout", "must not be negative, got %s", a.Timeout)
		}
	}
}

// isLoopback: "localhost" or a loopback IP; "" and 0.0.0.0 listen on every interface.
func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// checkURL validates a broker or proxy URL and returns its password, if any, so it can
// be redacted. Messages never repeat the URL, which may hold that password.
func checkURL(s string, schemes []string, example string) (msg, password string) {
	u, err := url.Parse(s)
	if err != nil || !strings.Contains(s, "://") {
		return "expected a URL like " + example, ""
	}
	if !slices.Contains(schemes, strings.ToLower(u.Scheme)) {
		last := len(schemes) - 1
		return fmt.Sprintf("unsupported scheme %q (use %s or %s)", u.Scheme, strings.Join(schemes[:last], ", "), schemes[last]), ""
	}
	if u.Hostname() == "" {
		return "missing host (expected a URL like " + example + ")", ""
	}
	password, _ = u.User.Password()
	return "", password
}

// dedupe drops empty and repeated strings, keeping the first of each.
func dedupe(ss []string) []string {
	seen := make(map[string]bool, len(ss))
	out := ss[:0]
	for _, s := range ss {
		if s != "" && !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

// Section returns the top-level settings block of a provider kind; absent: the zero Section.
func (c *Config) Section(kind string) Section { return c.Sections[kind] }
