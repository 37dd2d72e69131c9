package config

import (
	"fmt"
	"reflect"
	"regexp"
	"slices"
	"time"
)

// Alerts configures the alert engine: built-in rules, threshold rules and where alerts go.
type Alerts struct {
	Language string      `yaml:"language"` // en (default) or zh
	Offline  BuiltinRule `yaml:"offline"`  // a connectivity sensor (e.g. a OneCloud box) reports offline
	Problem  BuiltinRule `yaml:"problem"`  // a problem sensor (e.g. a box in exception) reports on
	Rules    []AlertRule `yaml:"rules"`
	// Outputs. MQTT (<base>/alerts) and Home Assistant (event entity and problem sensors)
	// are on unless set to false; email and webhook are on when configured.
	MQTT          *bool    `yaml:"mqtt"`
	HomeAssistant *bool    `yaml:"homeassistant"`
	Email         *Email   `yaml:"email"`
	Webhook       *Webhook `yaml:"webhook"`
	// ExpireAfter is how long an alert waits in the outbox for an output that cannot take
	// it (broker or receiver down) before it is dropped unsent; default 7 days.
	ExpireAfter Duration `yaml:"expire_after"`
}

// DefaultAlertExpiry is the default of alerts.expire_after.
const DefaultAlertExpiry = 7 * 24 * time.Hour

// BuiltinRule tunes a rule that applies by itself to every matching entity.
type BuiltinRule struct {
	Enabled *bool    `yaml:"enabled"` // default true
	For     Duration `yaml:"for"`     // grace period before firing; default 10m
	Repeat  Duration `yaml:"repeat"`  // remind while firing; 0 = never
}

// IsEnabled reports whether the rule is on.
func (r BuiltinRule) IsEnabled() bool { return r.Enabled == nil || *r.Enabled }

// AlertRule is a threshold on one entity of any provider.
type AlertRule struct {
	Name    string   `yaml:"name"`    // [a-z0-9_]+; default <device>_<key>_below/_above
	Entity  string   `yaml:"entity"`  // <device id>.<entity key>, e.g. telecom_main.balance
	Below   *float64 `yaml:"below"`   // fires while the value is below this
	Above   *float64 `yaml:"above"`   // fires while the value is above this
	For     Duration `yaml:"for"`     // how long the condition must hold; default 0
	Repeat  Duration `yaml:"repeat"`  // remind while firing; 0 = never
	Message string   `yaml:"message"` // replaces the generated message
}

// Email sends alerts through SMTP.
type Email struct {
	Host     string   `yaml:"host"`
	Port     int      `yaml:"port"`     // default 587 (starttls), 465 (tls), 25 (none)
	Security string   `yaml:"security"` // starttls (default), tls or none
	Username string   `yaml:"username"`
	Password string   `yaml:"password" secret:"true"`
	From     string   `yaml:"from"`
	To       []string `yaml:"to"`
	Timeout  Duration `yaml:"timeout"` // default 30s
}

// Webhook POSTs every alert as JSON.
type Webhook struct {
	URL     string   `yaml:"url" secret:"true"`   // may carry a token
	Timeout Duration `yaml:"timeout"`             // per attempt, default 10s
	Retries int      `yaml:"retries"`             // further attempts after a failure, default 3
	Proxy   string   `yaml:"proxy" secret:"true"` // http, https or socks5 URL; default: HTTP(S)_PROXY
}

// MQTTEnabled and HomeAssistantEnabled report the two default-on outputs.
func (a Alerts) MQTTEnabled() bool          { return a.MQTT == nil || *a.MQTT }
func (a Alerts) HomeAssistantEnabled() bool { return a.HomeAssistant == nil || *a.HomeAssistant }

var (
	entityRef = regexp.MustCompile(`^[a-z0-9_]+\.[a-z0-9_]+$`)
	ruleName  = regexp.MustCompile(`^[a-z0-9_]+$`)
	emailAddr = regexp.MustCompile(`^[^@\s<>]+@[^@\s<>]+$`)
)

func (c *Config) applyAlertDefaults(set map[string]int) {
	a := &c.Alerts
	// An empty block (the HA app writes `email: {}` when nothing is filled in) is no output.
	if e := a.Email; e != nil && len(e.To) == 0 {
		probe := *e
		probe.To = nil
		if reflect.ValueOf(probe).IsZero() {
			a.Email = nil
		}
	}
	if a.Webhook != nil && *a.Webhook == (Webhook{}) {
		a.Webhook = nil
	}
	orDefault(&a.Language, c.Language) // alerts speak the config's language unless told otherwise
	setDefault(set, "alerts.offline.for", &a.Offline.For, Duration(10*time.Minute))
	setDefault(set, "alerts.problem.for", &a.Problem.For, Duration(10*time.Minute))
	setDefault(set, "alerts.expire_after", &a.ExpireAfter, Duration(DefaultAlertExpiry))
	for i := range a.Rules {
		r := &a.Rules[i]
		if r.Name == "" && entityRef.MatchString(r.Entity) {
			dev, key, _ := cutDot(r.Entity)
			switch {
			case r.Below != nil && r.Above == nil:
				r.Name = dev + "_" + key + "_below"
			case r.Above != nil && r.Below == nil:
				r.Name = dev + "_" + key + "_above"
			default:
				r.Name = dev + "_" + key + "_range"
			}
		}
	}
	if e := a.Email; e != nil {
		orDefault(&e.Security, "starttls")
		if _, ok := set["alerts.email.port"]; !ok {
			e.Port = map[string]int{"starttls": 587, "tls": 465, "none": 25}[e.Security]
		}
		setDefault(set, "alerts.email.timeout", &e.Timeout, Duration(30*time.Second))
	}
	if w := a.Webhook; w != nil {
		setDefault(set, "alerts.webhook.timeout", &w.Timeout, Duration(10*time.Second))
		setDefault(set, "alerts.webhook.retries", &w.Retries, 3)
	}
}

func cutDot(s string) (string, string, bool) {
	for i := len(s) - 1; i >= 0; i-- {
		if s[i] == '.' {
			return s[:i], s[i+1:], true
		}
	}
	return s, "", false
}

func (c *Config) validateAlerts(set map[string]int, check func(path string, ok bool, format string, args ...any)) {
	a := &c.Alerts
	// Left out, it is the top-level language: a wrong one is reported there, once.
	if _, ok := set["alerts.language"]; ok {
		check("alerts.language", a.Language == "en" || a.Language == "zh", "expected en or zh, got %q", a.Language)
	}
	for _, r := range []struct {
		path string
		rule BuiltinRule
	}{{"alerts.offline", a.Offline}, {"alerts.problem", a.Problem}} {
		check(r.path+".for", r.rule.For >= 0, "must not be negative, got %s", r.rule.For)
		check(r.path+".repeat", r.rule.Repeat >= 0, "must not be negative, got %s", r.rule.Repeat)
	}
	check("alerts.expire_after", a.ExpireAfter > 0, "must be greater than 0, got %s", a.ExpireAfter)
	names := map[string]int{}
	for i, r := range a.Rules {
		p := fmt.Sprintf("alerts.rules[%d]", i)
		check(p+".entity", entityRef.MatchString(r.Entity),
			"expected <device id>.<entity key> like telecom_main.balance, got %q", r.Entity)
		check(p+".below", r.Below != nil || r.Above != nil, "a rule needs below, above or both")
		if r.Below != nil && r.Above != nil {
			check(p+".above", *r.Above < *r.Below || *r.Above > *r.Below,
				"above and below are equal (%v): the rule could never be ok", *r.Above)
		}
		if _, named := set[p+".name"]; named || r.Name != "" {
			// A rule without name and with a wrong entity has no name to judge.
			check(p+".name", ruleName.MatchString(r.Name), "%q must match [a-z0-9_]+", r.Name)
		}
		if first, dup := names[r.Name]; dup {
			check(p+".name", false, "duplicate rule name %q (rule %d has it too; set name:)", r.Name, first)
		} else {
			names[r.Name] = i
		}
		check(p+".for", r.For >= 0, "must not be negative, got %s", r.For)
		check(p+".repeat", r.Repeat >= 0, "must not be negative, got %s", r.Repeat)
	}
	if e := a.Email; e != nil {
		check("alerts.email.host", e.Host != "", "an SMTP host is required")
		check("alerts.email.security", slices.Contains([]string{"starttls", "tls", "none"}, e.Security),
			"expected starttls, tls or none, got %q", e.Security)
		check("alerts.email.port", e.Port > 0 && e.Port < 65536, "must be a TCP port, got %d", e.Port)
		check("alerts.email.from", emailAddr.MatchString(e.From), "expected an address like bridge@example.com, got %q", e.From)
		check("alerts.email.to", len(e.To) > 0, "at least one recipient is required")
		for _, to := range e.To {
			check("alerts.email.to", emailAddr.MatchString(to), "expected addresses like me@example.com, got %q", to)
		}
		check("alerts.email.password", e.Password == "" || e.Username != "", "a password needs a username")
		check("alerts.email.timeout", e.Timeout > 0, "must be greater than 0, got %s", e.Timeout)
	}
	if w := a.Webhook; w != nil {
		msg, pw := checkURL(w.URL, []string{"http", "https"}, "https://host/path")
		check("alerts.webhook.url", msg == "", "%s", msg)
		_ = pw
		check("alerts.webhook.timeout", w.Timeout > 0, "must be greater than 0, got %s", w.Timeout)
		check("alerts.webhook.retries", w.Retries >= 0 && w.Retries <= 10, "must be between 0 and 10, got %d", w.Retries)
		if w.Proxy != "" {
			msg, _ := checkURL(w.Proxy, proxySchemes, "socks5://host:1080")
			check("alerts.webhook.proxy", msg == "", "%s", msg)
		}
	}
}
