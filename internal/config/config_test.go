package config

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

func mustParse(t *testing.T, src string, opts LoadOptions) *Config {
	t.Helper()
	if opts.LookupEnv == nil {
		opts.LookupEnv = noEnv
	}
	cfg, err := Parse("config.yaml", []byte(src), opts)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return cfg
}

func TestDefaults(t *testing.T) {
	for _, src := range []string{"", "# nothing yet\n", "mqtt:\nstore:\ndefaults: {}\naccounts: []\n", "{}"} {
		cfg := mustParse(t, src, LoadOptions{})
		m := cfg.MQTT
		checks := []struct {
			name      string
			got, want any
		}{
			{"broker", m.Broker, "tcp://127.0.0.1:1883"},
			{"client_id", m.ClientID, "accountbridge"},
			{"base_topic", m.BaseTopic, "accountbridge"},
			{"discovery_prefix", m.DiscoveryPrefix, "homeassistant"},
			{"status_topic", m.StatusTopic, "homeassistant/status"},
			{"discovery", m.DiscoveryEnabled(), true},
			{"discovery unset", m.Discovery == nil, true},
			{"keepalive", m.KeepAlive.D(), 30 * time.Second},
			{"birth_delay", m.BirthDelay.D(), 5 * time.Second},
			{"store.path", cfg.Store.Path, "./data/accountbridge.db"},
			{"run_retention", cfg.Store.RunRetention.D(), 720 * time.Hour},
			{"log.level", cfg.Log.Level, "info"},
			{"log.format", cfg.Log.Format, "auto"},
			{"schedule", cfg.Defaults.Schedule, ""},
			{"timeout", cfg.Defaults.Timeout.D(), 60 * time.Second},
			{"jitter unset", cfg.Defaults.Jitter == nil, true},
			{"backoff_max", cfg.Defaults.BackoffMax.D(), 6 * time.Hour},
			{"concurrency", cfg.Defaults.Concurrency, 8},
			{"unavailable_after", cfg.Defaults.UnavailableAfter, 2},
			{"shutdown_timeout", cfg.Defaults.ShutdownTimeout.D(), 10 * time.Second},
			{"accounts", len(cfg.Accounts), 0},
			{"secrets", len(cfg.Secrets), 0},
		}
		for _, c := range checks {
			if c.got != c.want {
				t.Errorf("%q: %s = %v, want %v", src, c.name, c.got, c.want)
			}
		}
	}
}

func TestExplicitValuesKept(t *testing.T) {
	cfg := mustParse(t, `
mqtt:
  discovery_prefix: ha
  discovery: false
  birth_delay: 0s
  keepalive: 1m
log:
  level: WARNING
  format: json
defaults:
  schedule: "*/30 * * * *"
  timeout: 2m
  jitter: 0
  concurrency: 1
accounts:
  - id: phone
    provider: telecom
    enabled: false
    timeout: 90s
  - id: meter
    provider: gas
    schedule: "@hourly"
`, LoadOptions{})
	if cfg.MQTT.StatusTopic != "ha/status" {
		t.Errorf("status_topic = %q, want it derived from discovery_prefix", cfg.MQTT.StatusTopic)
	}
	if cfg.MQTT.DiscoveryEnabled() || cfg.MQTT.BirthDelay != 0 || cfg.MQTT.KeepAlive.D() != time.Minute {
		t.Errorf("mqtt = %+v", cfg.MQTT)
	}
	if cfg.Log.Level != "warn" || cfg.Log.Format != "json" {
		t.Errorf("log = %+v", cfg.Log)
	}
	df := cfg.Defaults
	if df.Jitter == nil || *df.Jitter != 0 || df.EffectiveJitter(time.Hour) != 0 {
		t.Errorf("jitter = %v, want explicit 0", df.Jitter)
	}
	phone, meter := cfg.Accounts[0], cfg.Accounts[1]
	if phone.IsEnabled() || !meter.IsEnabled() {
		t.Errorf("enabled: phone %v, meter %v", phone.IsEnabled(), meter.IsEnabled())
	}
	if got := phone.EffectiveTimeout(df); got != 90*time.Second {
		t.Errorf("phone timeout = %v", got)
	}
	if got := meter.EffectiveTimeout(df); got != 2*time.Minute {
		t.Errorf("meter timeout = %v", got)
	}
	if got := phone.EffectiveSchedule(df, "@daily"); got != "*/30 * * * *" {
		t.Errorf("phone schedule = %q", got)
	}
	if got := meter.EffectiveSchedule(df, "@daily"); got != "@hourly" {
		t.Errorf("meter schedule = %q", got)
	}
	if got := meter.EffectiveSchedule(Defaults{}, "@daily"); got != "@hourly" {
		t.Errorf("meter schedule without defaults = %q", got)
	}
	if got := (Account{}).EffectiveSchedule(Defaults{}, "@daily"); got != "@daily" {
		t.Errorf("provider default schedule = %q", got)
	}
}

func TestEffectiveJitter(t *testing.T) {
	auto := Defaults{}
	if got := auto.EffectiveJitter(10 * time.Minute); got != time.Minute {
		t.Errorf("auto jitter of 10m = %v, want 1m", got)
	}
	if got := auto.EffectiveJitter(24 * time.Hour); got != 5*time.Minute {
		t.Errorf("auto jitter of 24h = %v, want the 5m cap", got)
	}
	d := Duration(7 * time.Second)
	if got := (Defaults{Jitter: &d}).EffectiveJitter(time.Hour); got != 7*time.Second {
		t.Errorf("explicit jitter = %v", got)
	}
}

func TestDuration(t *testing.T) {
	good := []struct {
		in   string
		want time.Duration
	}{
		{"90s", 90 * time.Second},
		{"1h30m", 90 * time.Minute},
		{"7d", 7 * 24 * time.Hour},
		{"1d12h", 36 * time.Hour},
		{"1.5d", 36 * time.Hour},
		{"-2d", -48 * time.Hour},
		{"0", 0},
		{"250ms", 250 * time.Millisecond},
	}
	for _, tt := range good {
		got, err := parseDuration(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("parseDuration(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
	for _, in := range []string{"30", "1.5", "soon", "d", "1d-2h", "1e3d", "", "5 m"} {
		if got, err := parseDuration(in); err == nil {
			t.Errorf("parseDuration(%q) = %v, want an error", in, got)
		}
	}
	if _, err := parseDuration("30"); !errors.Is(err, errNoUnit) {
		t.Errorf("bare number error = %v, want errNoUnit", err)
	}

	strs := []struct {
		d    time.Duration
		want string
	}{
		{30 * time.Second, "30s"},
		{90 * time.Minute, "1h30m"},
		{2 * time.Hour, "2h"},
		{10 * time.Minute, "10m"},
		{720 * time.Hour, "30d"},
		{36 * time.Hour, "36h"},
		{0, "0s"},
		{1500 * time.Millisecond, "1.5s"},
	}
	for _, tt := range strs {
		s := Duration(tt.d).String()
		if s != tt.want {
			t.Errorf("Duration(%v).String() = %q, want %q", tt.d, s, tt.want)
		}
		back, err := parseDuration(s)
		if err != nil || back != tt.d {
			t.Errorf("%q does not parse back: %v, %v", s, back, err)
		}
	}

	out, err := yaml.Marshal(struct {
		D Duration `yaml:"d"`
	}{Duration(90 * time.Second)})
	if err != nil || string(out) != "d: 1m30s\n" {
		t.Errorf("marshal = %q, %v", out, err)
	}
	var in struct {
		D Duration `yaml:"d"`
	}
	if err := yaml.Unmarshal([]byte("d: 2d\n"), &in); err != nil || in.D.D() != 48*time.Hour {
		t.Errorf("unmarshal = %v, %v", in.D, err)
	}
}

func TestEnvExpansion(t *testing.T) {
	env := envOf(map[string]string{
		"MQTT_HOST":  "broker.lan",
		"MQTT_USER":  "bridge",
		"MQTT_PASS":  "p@ss",
		"EMPTY":      "",
		"PHONE_PASS": "hunter2",
		"CONC":       "4",
		"ON":         "on",
	})
	cfg := mustParse(t, `
mqtt:
  broker: tcp://${MQTT_HOST}:${MQTT_PORT:-1883}
  username: ${MQTT_USER}
  password: "${MQTT_PASS}"
  client_id: ${EMPTY:-fallback}
  base_topic: ${EMPTY}
  status_topic: price is $5 and $${NOT_EXPANDED} and $$x
  discovery: ${ON}
defaults:
  concurrency: ${CONC}
  timeout: ${TIMEOUT:-}
accounts:
  - id: phone
    provider: telecom
    password: ${PHONE_PASS}
    ${KEYS_ARE_NOT_EXPANDED}: 1
`, LoadOptions{LookupEnv: env})
	m := cfg.MQTT
	checks := []struct{ name, got, want string }{
		{"broker", m.Broker, "tcp://broker.lan:1883"},
		{"username", m.Username, "bridge"},
		{"password", m.Password, "p@ss"},
		{"client_id (default when empty)", m.ClientID, "fallback"},
		{"base_topic (set but empty, then the config default)", m.BaseTopic, "accountbridge"},
		{"literal", m.StatusTopic, "price is $5 and ${NOT_EXPANDED} and $$x"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %q, want %q", c.name, c.got, c.want)
		}
	}
	if !m.DiscoveryEnabled() || cfg.Defaults.Concurrency != 4 {
		t.Errorf("typed values from env: discovery %v, concurrency %d", m.DiscoveryEnabled(), cfg.Defaults.Concurrency)
	}
	if cfg.Defaults.Timeout.D() != time.Minute {
		t.Errorf("empty duration should leave the default, got %v", cfg.Defaults.Timeout)
	}
	a := cfg.Accounts[0]
	if keys := a.ExtraKeys(); !slices.Equal(keys, []string{"password", "${KEYS_ARE_NOT_EXPANDED}"}) {
		t.Errorf("extra keys = %q", keys)
	}
	var p struct {
		Password string `yaml:"password"`
	}
	err := a.Decode(&p)
	var errs Errors
	if !errors.As(err, &errs) || len(errs) != 1 || errs[0].Path != "accounts[0].${KEYS_ARE_NOT_EXPANDED}" {
		t.Errorf("Decode = %v", err)
	}
	if p.Password != "hunter2" {
		t.Errorf("provider password = %q, want it expanded", p.Password)
	}
	for _, s := range []string{"p@ss", "hunter2"} {
		if !slices.Contains(cfg.Secrets, s) {
			t.Errorf("secret %q missing from %q", s, cfg.Secrets)
		}
	}
}

func TestExpandEnv(t *testing.T) {
	env := envOf(map[string]string{"A": "1", "E": ""})
	tests := []struct{ in, want, err string }{
		{"${A}", "1", ""},
		{"x${A}y${A}", "x1y1", ""},
		{"${B:-two words}", "two words", ""},
		{"${E:-d}", "d", ""},
		{"${E}", "", ""},
		{"$${A}", "${A}", ""},
		{"$A $", "$A $", ""},
		{"${B}", "", "environment variable B is not set"},
		{"${}", "", `invalid environment variable name ""`},
		{"${1X}", "", `invalid environment variable name "1X"`},
		{"${A", "", `unterminated "${" (write "$${" for a literal "${")`},
	}
	for _, tt := range tests {
		got, err := expandEnv(tt.in, env)
		if tt.err != "" {
			if err == nil || err.Error() != tt.err {
				t.Errorf("expandEnv(%q) error = %v, want %q", tt.in, err, tt.err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("expandEnv(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

func TestAnchorsAndMergeKeys(t *testing.T) {
	cfg := mustParse(t, `
accounts:
  - &phone
    id: a
    provider: telecom
    note: $${literal}
    region: north
  - <<: *phone
    id: b
    region: south
`, LoadOptions{})
	type settings struct {
		Note   string `yaml:"note"`
		Region string `yaml:"region"`
	}
	want := []settings{{"${literal}", "north"}, {"${literal}", "south"}}
	for i := range cfg.Accounts {
		a := &cfg.Accounts[i]
		var s settings
		if err := a.Decode(&s); err != nil {
			t.Fatal(err)
		}
		if s != want[i] || a.Provider != "telecom" {
			t.Errorf("account %d: %+v (provider %q), want %+v", i, s, a.Provider, want[i])
		}
	}
}

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestFileSecrets(t *testing.T) {
	dir := t.TempDir()
	pw := writeFile(t, dir, "mqtt_pass", "m0squitto\n")
	token := writeFile(t, dir, "token", "tok-123\r\n")
	cfg := mustParse(t, `
mqtt:
  broker: ssl://user:url-pass@broker:8883
  password_file: `+pw+`
  ca_file: /certs/ca.pem
  cert_file: /certs/client.pem
  key_file: /certs/client.key
accounts:
  - id: box
    provider: onecloud
    token_file: `+token+`
    proxy: socks5://me:proxy-pass@proxy:1080
`, LoadOptions{})
	m := cfg.MQTT
	if m.Password != "m0squitto" {
		t.Errorf("password = %q, want the file content without the newline", m.Password)
	}
	if m.CAFile != "/certs/ca.pem" || m.CertFile != "/certs/client.pem" || m.KeyFile != "/certs/client.key" {
		t.Errorf("path fields changed: %+v", m)
	}
	want := []string{"m0squitto", "url-pass", "tok-123", "proxy-pass"}
	for _, s := range want {
		if !slices.Contains(cfg.Secrets, s) {
			t.Errorf("secret %q missing from %q", s, cfg.Secrets)
		}
	}
	for _, s := range cfg.Secrets {
		if s == "" || strings.HasPrefix(s, "/") {
			t.Errorf("unexpected secret %q (paths are not secrets)", s)
		}
	}
	if len(cfg.Secrets) != len(want) {
		t.Errorf("secrets = %q, want %q", cfg.Secrets, want)
	}

	var p struct {
		Token string `yaml:"token" secret:"true"`
	}
	var got []string
	if err := cfg.Accounts[0].DecodeWith(&p, func(s string) { got = append(got, s) }); err != nil {
		t.Fatal(err)
	}
	if p.Token != "tok-123" || !slices.Equal(got, []string{"tok-123"}) {
		t.Errorf("token = %q, secrets reported = %q", p.Token, got)
	}
}

func TestFileSecretsUseReadFile(t *testing.T) {
	var read []string
	cfg := mustParse(t, "mqtt:\n  password_file: /run/secrets/mqtt\n", LoadOptions{
		ReadFile: func(p string) ([]byte, error) {
			read = append(read, p)
			return []byte("from-option\n\n"), nil
		},
	})
	if cfg.MQTT.Password != "from-option" || !slices.Equal(read, []string{"/run/secrets/mqtt"}) {
		t.Errorf("password = %q, read = %q", cfg.MQTT.Password, read)
	}
}

func TestSecretsDeduplicated(t *testing.T) {
	cfg := mustParse(t, `
mqtt:
  password: same
accounts:
  - id: a
    provider: gas
    password: same
    api_key: ""
    cookies:
      sid: c1
      other: [c2, same]
alerts:
  email:
    host: smtp.example.com
    username: me
    password: t1
    from: bridge@example.com
    to: [me@example.com]
`, LoadOptions{})
	if want := []string{"same", "c1", "c2", "t1"}; !slices.Equal(cfg.Secrets, want) {
		t.Errorf("secrets = %q, want %q", cfg.Secrets, want)
	}
}

func TestMasked(t *testing.T) {
	dir := t.TempDir()
	pw := writeFile(t, dir, "pw", "file-secret\n")
	cfg := mustParse(t, `
mqtt:
  broker: tcp://bridge:url-secret@broker:1883
  username: bridge
  password: mqtt-secret
accounts:
  - id: phone
    provider: telecom
    phone: "18912345678"
    password_file: `+pw+`
    login:
      api_key: nested-secret
    note: mqtt-secret
  - id: box
    provider: onecloud
    Token: plain-secret
    proxy: http://u:proxy-secret@proxy:3128
alerts:
  webhook:
    url: https://hooks.example/x?token=hook-secret
  email:
    host: smtp.example.com
    username: me
    password: alert-secret
    from: bridge@example.com
    to: [me@example.com]
`, LoadOptions{})
	out, err := cfg.Masked()
	if err != nil {
		t.Fatal(err)
	}
	text := string(out)
	for _, s := range []string{"url-secret", "mqtt-secret", "file-secret", "nested-secret", "plain-secret", "proxy-secret", "alert-secret", "hook-secret", "18912345678"} {
		if strings.Contains(text, s) {
			t.Errorf("Masked output contains %q:\n%s", s, text)
		}
	}
	for _, s := range []string{"***", "tcp://bridge:***@broker:1883", "http://u:***@proxy:3128", "phone: 189****5678", "host: smtp.example.com", "port: 587", "url: https://hooks.example/***",
		"concurrency: 8", "timeout: 1m", "discovery: true", "enabled: true", "password_file: " + pw} {
		if !strings.Contains(text, s) {
			t.Errorf("Masked output lacks %q:\n%s", s, text)
		}
	}
	// The output is itself a valid config (with masked values).
	if _, err := Parse("masked.yaml", out, LoadOptions{LookupEnv: noEnv, ReadFile: func(string) ([]byte, error) { return []byte("x"), nil }}); err != nil {
		t.Errorf("masked output does not parse back: %v\n%s", err, text)
	}
}

func TestResolvePath(t *testing.T) {
	dir := t.TempDir()
	options := filepath.Join(dir, "options.json")
	if got := ResolvePath("", options); got != "config.yaml" {
		t.Errorf("no options file: %q", got)
	}
	writeFile(t, dir, "options.json", "{}")
	tests := []struct{ flag, options, want string }{
		{"my.yaml", options, "my.yaml"},
		{"", options, options},
		{"", "", "config.yaml"},
		{"", dir, "config.yaml"}, // a directory is not an options file
	}
	for _, tt := range tests {
		if got := ResolvePath(tt.flag, tt.options); got != tt.want {
			t.Errorf("ResolvePath(%q, %q) = %q, want %q", tt.flag, tt.options, got, tt.want)
		}
	}
}

func TestLoadOptionsJSON(t *testing.T) {
	dir := t.TempDir()
	good := writeFile(t, dir, "options.json", `{
  "mqtt": {
    "broker": "tcp://core-mosquitto:1883",
    "username": "addons",
    "password": "gen-pass"
  },
  "log": {"level": "debug"},
  "accounts": [
    {"id": "phone", "provider": "telecom", "phone": "18900000000", "password": "p1"}
  ]
}
`)
	cfg, err := Load(ResolvePath("", good), LoadOptions{Providers: testProviders, LookupEnv: noEnv})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.File != good || cfg.MQTT.Broker != "tcp://core-mosquitto:1883" || cfg.Log.Level != "debug" || cfg.Accounts[0].ID != "phone" {
		t.Errorf("config = %+v", cfg)
	}
	if !slices.Equal(cfg.Secrets, []string{"gen-pass", "p1"}) {
		t.Errorf("secrets = %q", cfg.Secrets)
	}

	bad := writeFile(t, dir, "bad.json", `{
  "mqtt": {
    "broker": "tcp://core-mosquitto:1883"
  },
  "accounts": [
    {"id": "phone", "provider": "telecom"},
    {"id": "meter",
     "provider": "gas",
     "enabled": "sometimes"}
  ]
}
`)
	_, err = Load(bad, LoadOptions{Providers: testProviders, LookupEnv: noEnv})
	if want := bad + `:9: accounts[1].enabled: expected a boolean, got "sometimes"`; err == nil || err.Error() != want {
		t.Errorf("got %v\nwant %s", err, want)
	}

	_, err = Load(filepath.Join(dir, "missing.yaml"), LoadOptions{})
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
}

func TestEmptyValueMeansDefault(t *testing.T) {
	cfg := mustParse(t, `
mqtt:
  discovery: ${DISCOVERY:-}
  keepalive: ""
defaults:
  jitter: ${JITTER:-}
  concurrency: ${CONCURRENCY:-}
accounts:
  - id: a
    provider: gas
    enabled: ${A_ENABLED:-}
`, LoadOptions{})
	if cfg.MQTT.Discovery != nil || cfg.Defaults.Jitter != nil || cfg.Accounts[0].Enabled != nil {
		t.Errorf("empty values set pointers: discovery %v, jitter %v, enabled %v", cfg.MQTT.Discovery, cfg.Defaults.Jitter, cfg.Accounts[0].Enabled)
	}
	if cfg.MQTT.KeepAlive.D() != 30*time.Second || cfg.Defaults.Concurrency != 8 {
		t.Errorf("defaults not applied: keepalive %v, concurrency %d", cfg.MQTT.KeepAlive, cfg.Defaults.Concurrency)
	}
	if _, err := Parse("c.yaml", []byte("accounts: \"\"\n"), LoadOptions{LookupEnv: noEnv}); err == nil ||
		err.Error() != `c.yaml:1: accounts: expected a list, got ""` {
		t.Errorf("empty string for a list: %v", err)
	}
}

func TestAlerts(t *testing.T) {
	cfg := mustParse(t, `
alerts:
  language: zh
  offline:
    for: 5m
  rules:
    - entity: telecom_main.balance
      below: 10
      for: 1h
      repeat: 24h
    - entity: gas_home.balance
      below: 30
    - name: data_band
      entity: telecom_main.data_used_percent
      below: 5
      above: 90
  webhook:
    url: https://hooks.example/alert
`, LoadOptions{})
	a := cfg.Alerts
	if a.Language != "zh" || a.Offline.For.D() != 5*time.Minute || a.Problem.For.D() != 10*time.Minute || !a.Offline.IsEnabled() {
		t.Errorf("builtins = %+v %+v", a.Offline, a.Problem)
	}
	if len(a.Rules) != 3 || a.Rules[0].Name != "telecom_main_balance_below" || a.Rules[1].Name != "gas_home_balance_below" ||
		a.Rules[0].Repeat.D() != 24*time.Hour || *a.Rules[1].Below != 30 {
		t.Errorf("rules = %+v", a.Rules)
	}
	if !a.MQTTEnabled() || !a.HomeAssistantEnabled() || a.Email != nil || a.Webhook.Retries != 3 || a.Webhook.Timeout.D() != 10*time.Second {
		t.Errorf("outputs = %+v %+v", a, a.Webhook)
	}
}

func TestAlertErrors(t *testing.T) {
	_, err := Parse("config.yaml", []byte(`alerts:
  language: fr
  rules:
    - entity: balance
      below: 1
    - entity: gas_home.balance
    - entity: telecom_main.balance
      below: 1
    - entity: telecom_main.balance
      below: 2
  email:
    host: smtp.example.com
    from: nobody
    security: ssl
  webhook:
    url: ftp://x
`), LoadOptions{})
	want := []string{
		`config.yaml:2: alerts.language: expected en or zh, got "fr"`,
		`config.yaml:4: alerts.rules[0].entity: expected <device id>.<entity key> like telecom_main.balance, got "balance"`,
		`alerts.rules[1].below: a rule needs below, above or both`,
		`alerts.rules[3].name: duplicate rule name "telecom_main_balance_below" (rule 2 has it too; set name:)`,
		`config.yaml:13: alerts.email.from: expected an address like bridge@example.com, got "nobody"`,
		`config.yaml:14: alerts.email.security: expected starttls, tls or none, got "ssl"`,
		`alerts.email.to: at least one recipient is required`,
		`config.yaml:16: alerts.webhook.url: unsupported scheme "ftp"`,
	}
	if err == nil {
		t.Fatal("expected errors")
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("errors lack %q:\n%v", w, err)
		}
	}
}

func TestBrokerDefaultAndAppStorePath(t *testing.T) {
	if cfg := mustParse(t, "log:\n  level: info\n", LoadOptions{}); !cfg.MQTT.BrokerDefault || cfg.Store.Path != DefaultStorePath {
		t.Errorf("default broker %v, store %s", cfg.MQTT.BrokerDefault, cfg.Store.Path)
	}
	if cfg := mustParse(t, "mqtt:\n  broker: tcp://10.0.0.2:1883\n", LoadOptions{}); cfg.MQTT.BrokerDefault {
		t.Error("an explicit broker counted as default")
	}
	cfg, err := Parse(OptionsPath, []byte(`{"language":"zh","accounts":[]}`), LoadOptions{})
	if err != nil || cfg.Store.Path != "/data/accountbridge.db" || cfg.Language != "zh" {
		t.Errorf("options.json: %v %+v", err, cfg)
	}
}

func TestAppOptionShapes(t *testing.T) {
	cfg, err := Parse(OptionsPath, []byte(`{"alerts":{"email":{},"webhook":{}},"accounts":[]}`), LoadOptions{})
	if err != nil || cfg.Alerts.Email != nil || cfg.Alerts.Webhook != nil {
		t.Errorf("empty blocks: %v %+v", err, cfg.Alerts)
	}
	cfg, err = Parse(OptionsPath, []byte(`{"alerts":{"email":{"host":"smtp.example.com","from":"a@example.com","to":"me@example.com"}}}`), LoadOptions{})
	if err != nil || len(cfg.Alerts.Email.To) != 1 || cfg.Alerts.Email.To[0] != "me@example.com" {
		t.Errorf("single recipient: %v %+v", err, cfg.Alerts.Email)
	}
}

func TestShard(t *testing.T) {
	env := envOf(map[string]string{"POD_INDEX": "2", "SHARDS": "3", "BAD": "two"})
	for _, tc := range []struct {
		name, yaml   string
		index, count int
		err          string // every error, joined by "\n"
	}{
		{name: "default: one instance", yaml: "", index: 0, count: 1},
		{name: "explicit", yaml: "shard: {index: 1, count: 4}\n", index: 1, count: 4},
		{name: "count alone", yaml: "shard:\n  count: 2\n", index: 0, count: 2},
		{name: "index from the environment (a StatefulSet ordinal)",
			yaml: "shard:\n  index: ${POD_INDEX}\n  count: ${SHARDS}\n", index: 2, count: 3},
		{name: "empty env means the default", yaml: "shard:\n  index: ${UNSET:-}\n  count: ${UNSET:-}\n", index: 0, count: 1},
		{name: "index out of range", yaml: "shard:\n  index: 3\n  count: 3\n",
			err: "config.yaml:2: shard.index: must be between 0 and shard.count - 1 (2), got 3"},
		{name: "index without count", yaml: "shard:\n  index: 1\n",
			err: "config.yaml:2: shard.index: must be between 0 and shard.count - 1 (0), got 1"},
		{name: "negative index", yaml: "shard:\n  count: 2\n  index: -1\n",
			err: "config.yaml:3: shard.index: must be between 0 and shard.count - 1 (1), got -1"},
		{name: "zero count", yaml: "shard:\n  count: 0\n",
			err: "config.yaml:2: shard.count: must be between 1 and 1024, got 0"},
		{name: "index from a bad env value", yaml: "shard:\n  index: ${BAD}\n  count: 2\n",
			err: `config.yaml:2: shard.index: expected an integer, got "two"`},
		{name: "unset env without default", yaml: "shard:\n  index: ${NOPE}\n  count: 2\n",
			err: "config.yaml:2: shard.index: environment variable NOPE is not set"},
		{name: "unknown key", yaml: "shard:\n  ordinal: 1\n",
			err: `config.yaml:2: shard.ordinal: unknown key`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := Parse("config.yaml", []byte(tc.yaml), LoadOptions{LookupEnv: env})
			if tc.err != "" {
				if err == nil || !strings.HasPrefix(err.Error(), tc.err) {
					t.Fatalf("error = %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if cfg.Shard.Index != tc.index || cfg.Shard.Count != tc.count {
				t.Errorf("shard = %+v, want index %d count %d", cfg.Shard, tc.index, tc.count)
			}
		})
	}
}

func TestWeb(t *testing.T) {
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "token")
	if err := os.WriteFile(tokenFile, []byte("tok-from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, src, err, token string
	}{
		{name: "off by default", src: "language: en\n"},
		{name: "loopback without token", src: "web:\n  listen: 127.0.0.1:8099\n"},
		{name: "any address with token", src: "web:\n  listen: 0.0.0.0:8099\n  token: abc\n", token: "abc"},
		{name: "token_file", src: "web:\n  listen: :8099\n  token_file: " + tokenFile + "\n", token: "tok-from-file"},
		{name: "no token on the network", src: "web:\n  listen: 0.0.0.0:8099\n",
			err: "config.yaml:2: web.listen: a token is required when web.listen is not a loopback address"},
		{name: "not host:port", src: "web:\n  listen: 8099\n", err: "config.yaml:2: web.listen: expected host:port"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := Parse("config.yaml", []byte(tc.src), LoadOptions{LookupEnv: noEnv})
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if cfg.Web.Token != tc.token {
				t.Fatalf("token %q, want %q", cfg.Web.Token, tc.token)
			}
			if tc.token != "" {
				if !slices.Contains(cfg.Secrets, tc.token) {
					t.Errorf("token not among the secrets")
				}
				m, _ := cfg.Masked()
				if strings.Contains(string(m), tc.token) || !strings.Contains(string(m), "token: '***'") {
					t.Errorf("masked config:\n%s", m)
				}
			}
		})
	}
}

// bridge check prints the shard of a sharded instance (resolved from the environment),
// and nothing new for a single one.
func TestMaskedShard(t *testing.T) {
	for _, tc := range []struct {
		src, want string
		shard     bool
	}{
		{"shard: {index: '${I}', count: 3}\n", "shard:\n  index: 2\n  count: 3\n", true},
		{"", "shard:", false},
	} {
		cfg, err := Parse("c.yaml", []byte(tc.src), LoadOptions{LookupEnv: envOf(map[string]string{"I": "2"})})
		if err != nil {
			t.Fatal(err)
		}
		out, err := cfg.Masked()
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(out), tc.want) != tc.shard {
			t.Errorf("%q: output has %q: %v, want %v:\n%s", tc.src, tc.want, !tc.shard, tc.shard, out)
		}
		back, err := Parse("masked.yaml", out, LoadOptions{LookupEnv: noEnv})
		if err != nil {
			t.Errorf("%q: masked output does not parse back: %v", tc.src, err)
		} else if back.Shard != cfg.Shard {
			t.Errorf("%q: masked output parses back to shard %+v, want %+v", tc.src, back.Shard, cfg.Shard)
		}
	}
}
