package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var testProviders = []string{"gas", "onecloud", "sms", "telecom"}

// noEnv is a LookupEnv with nothing set, so tests never depend on the real environment.
func noEnv(string) (string, bool) { return "", false }

func envOf(vars map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) {
		v, ok := vars[k]
		return v, ok
	}
}

func TestParseErrors(t *testing.T) {
	secretDir := t.TempDir()
	pwFile := filepath.Join(secretDir, "pw")
	if err := os.WriteFile(pwFile, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(secretDir, "missing")

	tests := []struct {
		name string
		yaml string
		want []string
	}{
		{
			name: "unknown provider key is kept, unknown common-level key is not",
			yaml: "accounts:\n  - id: main\n    provider: telecom\n\nmqtt:\n  brokr: tcp://x:1883\n",
			want: []string{`config.yaml:6: mqtt.brokr: unknown key (did you mean "broker"?)`},
		},
		{
			name: "unknown top-level key lists the known ones",
			yaml: "logging:\n  level: debug\n",
			want: []string{`config.yaml:1: logging: unknown key (known: language, mqtt, store, log, defaults, accounts, alerts, shard, web, sms)`},
		},
		{
			name: "misspelt _file key gets a suggestion",
			yaml: "mqtt:\n  pasword_file: /x\n",
			want: []string{`config.yaml:2: mqtt.pasword_file: unknown key (did you mean "password_file"?)`},
		},
		{
			name: "wrong bool",
			yaml: "accounts:\n  - id: main\n    provider: gas\n    enabled: yes please\n",
			want: []string{`config.yaml:4: accounts[0].enabled: expected a boolean, got "yes please"`},
		},
		{
			name: "wrong int",
			yaml: "defaults:\n  concurrency: many\n",
			want: []string{`config.yaml:2: defaults.concurrency: expected an integer, got "many"`},
		},
		{
			name: "wrong duration",
			yaml: "defaults:\n  timeout: soon\n",
			want: []string{`config.yaml:2: defaults.timeout: expected a duration like 30s or 1h, got "soon"`},
		},
		{
			name: "duration without unit",
			yaml: "defaults:\n  timeout: 30\n",
			want: []string{`config.yaml:2: defaults.timeout: expected a duration like 30s or 1h, got "30" (use a unit, e.g. 30s)`},
		},
		{
			name: "list where a string goes",
			yaml: "mqtt:\n  username: [a, b]\n",
			want: []string{`config.yaml:2: mqtt.username: expected a string, got a list`},
		},
		{
			name: "scalar where a mapping goes",
			yaml: "mqtt: tcp://x\n",
			want: []string{`config.yaml:1: mqtt: expected a mapping, got "tcp://x"`},
		},
		{
			name: "accounts not a list",
			yaml: "accounts:\n  id: main\n",
			want: []string{`config.yaml:2: accounts: expected a list, got a mapping`},
		},
		{
			name: "duplicate account ids",
			yaml: "accounts:\n  - id: main\n    provider: gas\n  - id: other\n    provider: gas\n  - id: main\n    provider: telecom\n",
			want: []string{`config.yaml:6: accounts[2].id: duplicate id "main" (first at line 2)`},
		},
		{
			name: "invalid id",
			yaml: "accounts:\n  - id: Main Phone\n    provider: gas\n",
			want: []string{`config.yaml:2: accounts[0].id: "Main Phone" must match [a-z0-9_]+`},
		},
		{
			name: "missing id and provider",
			yaml: "accounts:\n  - name: Phone\n  - id: main\n",
			want: []string{
				`config.yaml:2: accounts[0]: missing required key "id"`,
				`config.yaml:2: accounts[0]: missing required key "provider"`,
				`config.yaml:3: accounts[1]: missing required key "provider"`,
			},
		},
		{
			name: "empty id",
			yaml: "accounts:\n  - id: \"\"\n    provider: gas\n",
			want: []string{`config.yaml:2: accounts[0].id: must not be empty`},
		},
		{
			name: "account not a mapping",
			yaml: "accounts:\n  - main\n",
			want: []string{`config.yaml:2: accounts[0]: expected a mapping with id and provider, got "main"`},
		},
		{
			name: "unknown provider with suggestion",
			yaml: "accounts:\n  - id: main\n    provider: telcom\n",
			want: []string{`config.yaml:3: accounts[0].provider: unknown provider "telcom" (did you mean "telecom"?)`},
		},
		{
			name: "unknown provider without suggestion",
			yaml: "accounts:\n  - id: main\n    provider: electricity\n",
			want: []string{`config.yaml:3: accounts[0].provider: unknown provider "electricity" (known: gas, onecloud, sms, telecom)`},
		},
		{
			name: "bad broker scheme",
			yaml: "mqtt:\n  broker: http://broker:1883\n",
			want: []string{`config.yaml:2: mqtt.broker: unsupported scheme "http" (use tcp, ssl, tls, mqtt, mqtts, ws or wss)`},
		},
		{
			name: "broker without scheme",
			yaml: "mqtt:\n  broker: broker:1883\n",
			want: []string{`config.yaml:2: mqtt.broker: expected a URL like tcp://host:1883`},
		},
		{
			name: "broker without host",
			yaml: "mqtt:\n  broker: tcp://:1883\n",
			want: []string{`config.yaml:2: mqtt.broker: missing host (expected a URL like tcp://host:1883)`},
		},
		{
			name: "cert without key",
			yaml: "mqtt:\n  broker: ssl://broker:8883\n  cert_file: /certs/client.pem\n",
			want: []string{`config.yaml:3: mqtt.cert_file: key_file is required with cert_file`},
		},
		{
			name: "key without cert",
			yaml: "mqtt:\n  key_file: /certs/client.key\n",
			want: []string{`config.yaml:2: mqtt.key_file: cert_file is required with key_file`},
		},
		{
			name: "topic rules",
			yaml: "mqtt:\n  base_topic: bridge/#\n  discovery_prefix: /homeassistant\n",
			want: []string{
				`config.yaml:2: mqtt.base_topic: "bridge/#" must not contain '+' or '#'`,
				`config.yaml:3: mqtt.discovery_prefix: "/homeassistant" must not start or end with '/'`,
			},
		},
		{
			name: "bad proxy",
			yaml: "accounts:\n  - id: main\n    provider: gas\n    proxy: ftp://proxy:21\n",
			want: []string{`config.yaml:4: accounts[0].proxy: unsupported scheme "ftp" (use http, https or socks5)`},
		},
		{
			name: "ranges",
			yaml: "defaults:\n  timeout: 0s\n  concurrency: 2000\n  unavailable_after: 0\n  jitter: -1s\nlog:\n  level: verbose\n  format: xml\n",
			want: []string{
				`config.yaml:2: defaults.timeout: must be greater than 0, got 0s`,
				`config.yaml:3: defaults.concurrency: must be between 1 and 1024, got 2000`,
				`config.yaml:4: defaults.unavailable_after: must be at least 1, got 0`,
				`config.yaml:5: defaults.jitter: must not be negative (0 disables jitter)`,
				`config.yaml:7: log.level: expected one of debug, info, warn, error, got "verbose"`,
				`config.yaml:8: log.format: expected one of auto, text, json, got "xml"`,
			},
		},
		{
			name: "both password and password_file",
			yaml: "mqtt:\n  password: hunter2\n  password_file: " + pwFile + "\n",
			want: []string{`config.yaml:3: mqtt.password_file: "password" is already set at line 2; use only one of them`},
		},
		{
			name: "both on a provider key",
			yaml: "accounts:\n  - id: main\n    provider: gas\n    password: hunter2\n    password_file: " + pwFile + "\n",
			want: []string{`config.yaml:5: accounts[0].password_file: "password" is already set at line 4; use only one of them`},
		},
		{
			name: "unreadable secret file names the path",
			yaml: "mqtt:\n  password_file: " + missing + "\n",
			want: []string{`config.yaml:2: mqtt.password_file: cannot read "` + missing + `": no such file or directory`},
		},
		{
			name: "unreadable provider secret file",
			yaml: "accounts:\n  - id: main\n    provider: gas\n    token_file: " + missing + "\n",
			want: []string{`config.yaml:4: accounts[0].token_file: cannot read "` + missing + `": no such file or directory`},
		},
		{
			name: "unset env var",
			yaml: "mqtt:\n  username: bridge\n  password: ${MQTT_PASS}\n",
			want: []string{`config.yaml:3: mqtt.password: environment variable MQTT_PASS is not set`},
		},
		{
			name: "unterminated env reference",
			yaml: "mqtt:\n  password: ${MQTT_PASS\n",
			want: []string{`config.yaml:2: mqtt.password: unterminated "${" (write "$${" for a literal "${")`},
		},
		{
			name: "duplicate yaml key",
			yaml: "mqtt:\n  broker: tcp://a:1883\n  username: u\n  broker: tcp://b:1883\n",
			want: []string{`config.yaml:4: mqtt.broker: duplicate key (first at line 2)`},
		},
		{
			name: "duplicate key inside provider keys",
			yaml: "accounts:\n  - id: main\n    provider: gas\n    phone: 1\n    phone: 2\n",
			want: []string{`config.yaml:5: accounts[0].phone: duplicate key (first at line 4)`},
		},
		{
			name: "syntax error",
			yaml: "mqtt:\n  broker: tcp://x:1883\n   username: u\n",
			want: []string{`config.yaml:3: mapping values are not allowed in this context`},
		},
		{
			name: "tab indentation",
			yaml: "mqtt:\n\tbroker: tcp://x:1883\n",
			want: []string{`config.yaml:2: found character that cannot start any token (tabs cannot indent YAML; use spaces)`},
		},
		{
			name: "top level is a list",
			yaml: "- id: main\n",
			want: []string{`config.yaml:1: expected a mapping of settings at the top level, got a list`},
		},
		{
			name: "two documents",
			yaml: "mqtt: {}\n---\nlog: {}\n",
			want: []string{`config.yaml:2: only one YAML document is allowed (found another after ---)`},
		},
		{
			name: "several problems at once, in line order",
			yaml: `log:
  level: loud
mqtt:
  broker: http://broker
  discovery: maybe
accounts:
  - id: main
    provider: telecom
    pasword: x
  - id: main
    provider: gaz
    timeout: 1 hour
bogus: 1
`,
			want: []string{
				`config.yaml:2: log.level: expected one of debug, info, warn, error, got "loud"`,
				`config.yaml:4: mqtt.broker: unsupported scheme "http" (use tcp, ssl, tls, mqtt, mqtts, ws or wss)`,
				`config.yaml:5: mqtt.discovery: expected a boolean, got "maybe"`,
				`config.yaml:10: accounts[1].id: duplicate id "main" (first at line 7)`,
				`config.yaml:11: accounts[1].provider: unknown provider "gaz" (did you mean "gas"?)`,
				`config.yaml:12: accounts[1].timeout: expected a duration like 30s or 1h, got "1 hour"`,
				`config.yaml:13: bogus: unknown key (known: language, mqtt, store, log, defaults, accounts, alerts, shard, web, sms)`,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := Parse("config.yaml", []byte(tt.yaml), LoadOptions{Providers: testProviders, Sections: []string{"sms"}, LookupEnv: noEnv})
			if err == nil {
				t.Fatalf("no error; config: %+v", cfg)
			}
			if cfg != nil {
				t.Errorf("config returned with an error")
			}
			var errs Errors
			if !errors.As(err, &errs) {
				t.Fatalf("error is %T, want Errors: %v", err, err)
			}
			if got, want := err.Error(), strings.Join(tt.want, "\n"); got != want {
				t.Errorf("errors:\n%s\nwant:\n%s", got, want)
			}
		})
	}
}

func TestSecretFileErrorNeverShowsContent(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "n")
	if err := os.WriteFile(f, []byte("hunter2\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Parse("c.yaml", []byte("defaults:\n  concurrency_file: "+f+"\n"), LoadOptions{LookupEnv: noEnv})
	want := `c.yaml:2: defaults.concurrency: expected an integer, got the content of "` + f + `"`
	if err == nil || err.Error() != want {
		t.Fatalf("got %v\nwant %s", err, want)
	}
}

func TestErrorFormat(t *testing.T) {
	tests := []struct {
		err  Error
		want string
	}{
		{Error{File: "config.yaml", Line: 14, Path: "accounts[1].pasword", Msg: "unknown key"}, "config.yaml:14: accounts[1].pasword: unknown key"},
		{Error{File: "config.yaml", Line: 3, Msg: "bad"}, "config.yaml:3: bad"},
		{Error{File: "config.yaml", Msg: "bad"}, "config.yaml: bad"},
		{Error{Line: 2, Path: "x", Msg: "bad"}, "line 2: x: bad"},
	}
	for _, tt := range tests {
		if got := tt.err.Error(); got != tt.want {
			t.Errorf("got %q, want %q", got, tt.want)
		}
	}
}

func TestSuggest(t *testing.T) {
	known := []string{"broker", "username", "password", "client_id", "base_topic"}
	tests := []struct {
		in, want string
	}{
		{"pasword", "password"},
		{"Password", "password"},
		{"usrname", "username"},
		{"clientid", "client_id"},
		{"base-topic", "base_topic"},
		{"xy", ""},
		{"completely_else", ""},
	}
	for _, tt := range tests {
		got, _ := suggest(tt.in, known)
		if got != tt.want {
			t.Errorf("suggest(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
