package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// TestCheckReportsEachMistake: every class of mistake, alone in a config, gives exactly
// the one error wanted (or the few it implies), with file:line and key.
func TestCheckReportsEachMistake(t *testing.T) {
	const gas = "  - id: g\n    provider: gas\n    user_code: \"12345678\"\n"
	const sms = "  - id: s\n    provider: sms\n    platform: activate\n    api_key: k\n"
	tests := []struct {
		name string
		yaml string
		want []string // "line: key: message prefix"
	}{
		{"syntax", "mqtt:\n\tbroker: x\n", []string{`2: found character that cannot start any token (tabs cannot indent YAML; use spaces)`}},
		{"unknown top-level key", "mqt:\n  broker: tcp://x:1883\n", []string{`1: mqt: unknown key (did you mean "mqtt"?)`}},
		{"unknown key in a section", "mqtt:\n  brokr: tcp://x:1883\n", []string{`2: mqtt.brokr: unknown key (did you mean "broker"?)`}},
		{"repeated key", "log:\n  level: info\n  level: debug\n", []string{`3: log.level: duplicate key (first at line 2)`}},
		{"wrong type", "defaults:\n  concurrency: many\n", []string{`2: defaults.concurrency: expected an integer, got "many"`}},
		{"out of range", "defaults:\n  concurrency: 0\n", []string{`2: defaults.concurrency: must be between 1 and 1024, got 0`}},
		{"not in its set", "log:\n  format: fancy\n", []string{`2: log.format: expected one of auto, text, json, got "fancy"`}},
		{"language once", "language: fr\n", []string{`1: language: expected en or zh, got "fr"`}},
		{"duration without unit", "defaults:\n  timeout: 30\n", []string{`2: defaults.timeout: expected a duration like 30s or 1h, got "30" (use a unit, e.g. 30s)`}},
		{"unset variable", "mqtt:\n  username: ${AB_CHECK_TEST_UNSET}\n", []string{`2: mqtt.username: environment variable AB_CHECK_TEST_UNSET is not set`}},
		{"unreadable secret file", "mqtt:\n  password_file: /nonexistent/ab/pw\n", []string{`2: mqtt.password_file: cannot read "/nonexistent/ab/pw": no such file or directory`}},
		{"key and key_file", "accounts:\n" + sms + "    api_key_file: /run/k\n", []string{`6: accounts[0].api_key_file: "api_key" is already set at line 5; use only one of them`}},
		{"wrong URL scheme", "mqtt:\n  broker: http://x:1883\n", []string{`2: mqtt.broker: unsupported scheme "http"`}},
		{"cert without key", "mqtt:\n  cert_file: /c.pem\n", []string{`2: mqtt.cert_file: key_file is required with cert_file`}},
		{"bad defaults.schedule without accounts", "defaults:\n  schedule: every hour\n", []string{`2: defaults.schedule: invalid schedule "every hour"`}},
		{"bad defaults.schedule with accounts", "defaults:\n  schedule: \"*/61 * * * *\"\naccounts:\n" + gas + sms,
			[]string{`2: defaults.schedule: invalid schedule "*/61 * * * *": expected a cron spec like "0 * * * *" or "@every 1h" (step 61 in the minute field is longer than its 60 values)`}},
		{"bad account schedule", "accounts:\n" + gas + "    schedule: \"0 */25 * * *\"\n", []string{`5: accounts[0].schedule: invalid schedule "0 */25 * * *"`}},
		{"alert rule without threshold", "alerts:\n  rules:\n    - entity: g.balance\n", []string{`3: alerts.rules[0].below: a rule needs below, above or both`}},
		{"alert rule entity", "alerts:\n  rules:\n    - entity: balance\n      above: 1\n", []string{`3: alerts.rules[0].entity: expected <device id>.<entity key>`}},
		{"alert email without host", "alerts:\n  email:\n    to: me@example.com\n    from: b@example.com\n", []string{`3: alerts.email.host: an SMTP host is required`}},
		{"account without id", "accounts:\n  - provider: gas\n    user_code: \"12345678\"\n", []string{`2: accounts[0]: missing required key "id"`}},
		{"account without provider", "accounts:\n  - id: x\n", []string{`2: accounts[0]: missing required key "provider"`}},
		{"account not a mapping", "accounts:\n  - x\n", []string{`2: accounts[0]: expected a mapping with id and provider, got "x"`}},
		{"bad id", "accounts:\n  - id: Main\n    provider: gas\n    user_code: \"12345678\"\n", []string{`2: accounts[0].id: "Main" must match [a-z0-9_]+`}},
		{"repeated id", "accounts:\n" + gas + gas, []string{`5: accounts[1].id: duplicate id "g" (first at line 2)`}},
		{"mistyped provider", "accounts:\n  - id: x\n    provider: gaz\n", []string{`3: accounts[0].provider: unknown provider "gaz" (did you mean "gas"?)`}},
		{"bad proxy", "accounts:\n" + gas + "    proxy: ftp://p:21\n", []string{`5: accounts[0].proxy: unsupported scheme "ftp" (use http, https or socks5)`}},
		{"unknown provider key and missing required one", "accounts:\n  - id: t\n    provider: telecom\n    phone: \"18912345678\"\n    pasword: \"123456\"\n",
			[]string{`2: accounts[0].password: required`, `5: accounts[0].pasword: unknown key (did you mean "password"?)`}},
		{"provider setting out of range", "accounts:\n" + gas + "    low_balance: -1\n", []string{`5: accounts[0].low_balance: must be 0 or more (CNY), got -1`}},
		{"provider setting of a wrong type", "accounts:\n" + gas + "    low_balance: lots\n", []string{`5: accounts[0].low_balance: expected a number, got "lots"`}},
		{"mistyped SMS platform", "accounts:\n  - id: s\n    provider: sms\n    platform: fivesm\n    api_key: k\n",
			[]string{`4: accounts[0].platform: unknown ` + "`platform`" + ` "fivesm" (did you mean "fivesim"?)`}},
		{"SMS platform setting", "accounts:\n" + sms + "    low_balance: -1\n", []string{`6: accounts[0].low_balance: ` + "`low_balance`" + ` must not be negative`}},
		{"group section setting", "sms:\n  default_strategy: cheap\naccounts:\n" + sms, []string{`2: sms.default_strategy: must be one of price, success, balance, random, priority, got "cheap"`}},
		{"group section list item", "sms:\n  watch:\n    - service: tg\naccounts:\n" + sms, []string{`3: sms.watch[0]: needs both`}},
		{"group section unknown key", "sms:\n  max_daily_spent: 3\naccounts:\n" + sms, []string{`2: sms.max_daily_spent: unknown key (did you mean "max_daily_spend"?)`}},
		{"group section without a good account", "sms:\n  default_strategy: cheap\n", []string{`2: sms.default_strategy: must be one of`}},
		{"group setting without its section", "accounts:\n" + sms + "  - id: f\n    provider: sms\n    platform: fivesim\n    api_key: k\n    currency: USD\n",
			[]string{`2: sms.currency: the SMS platforms report in different currencies (RUB, USD): set sms.currency`}},
		{"unreadable CA file", "mqtt:\n  ca_file: /nonexistent/ab/ca.pem\n", []string{`2: mqtt.ca_file: open /nonexistent/ab/ca.pem: no such file or directory`}},
	}
	os.Unsetenv("AB_CHECK_TEST_UNSET")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeConfig(t, tt.yaml+"store:\n  path: "+filepath.Join(t.TempDir(), "x.db")+"\n")
			code, out, errOut := runCLI("check", "-c", path)
			if code != exitConfig || out != "" {
				t.Errorf("exit %d, stdout %q; want %d and nothing", code, out, exitConfig)
			}
			lines := strings.Split(strings.TrimSpace(errOut), "\n")
			if len(lines) != len(tt.want) {
				t.Errorf("%d errors, want %d:\n%s", len(lines), len(tt.want), errOut)
			}
			for _, w := range tt.want {
				if !strings.Contains(errOut, path+":"+w) {
					t.Errorf("stderr lacks %q:\n%s", path+":"+w, errOut)
				}
			}
		})
	}
}

// TestCheckEveryMistakeInOneRun: a config with one mistake of every class gets every
// error in a single run, each at the line the file marks with a comment, with its key.
func TestCheckEveryMistakeInOneRun(t *testing.T) {
	const file = "testdata/every_mistake.yaml"
	os.Unsetenv("AB_EVERY_MISTAKE_UNSET")
	code, out, errOut := runCLI("check", "-c", file)
	if code != exitConfig || out != "" {
		t.Errorf("exit %d, stdout %q; want %d and nothing", code, out, exitConfig)
	}
	golden := filepath.Join("testdata", "every_mistake.golden")
	if os.Getenv("UPDATE_GOLDEN") != "" {
		if err := os.WriteFile(golden, []byte(errOut), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if errOut != string(want) {
		t.Errorf("check output differs from %s (UPDATE_GOLDEN=1 rewrites it):\n%s", golden, errOut)
	}

	// Every error names file:line and a key; every marked line has an error.
	errLine := regexp.MustCompile(`^` + regexp.QuoteMeta(file) + `:(\d+): [a-z_]+[a-z0-9_.\[\]]*: `)
	reported := map[int]bool{}
	for _, l := range strings.Split(strings.TrimSpace(errOut), "\n") {
		m := errLine.FindStringSubmatch(l)
		if m == nil {
			t.Errorf("error without file:line and key: %q", l)
			continue
		}
		n, _ := strconv.Atoi(m[1])
		reported[n] = true
	}
	src, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	for i, l := range strings.Split(string(src), "\n") {
		if strings.HasPrefix(l, "#") || !strings.Contains(l, " # ") {
			continue
		}
		if !reported[i+1] {
			t.Errorf("line %d has a mistake but no error: %s", i+1, l)
		}
	}
}

// The daemon and the other commands refuse a broken config with the same complete list
// as check: a top-level typo does not hide an account's error.
func TestEveryCommandListsEveryError(t *testing.T) {
	path := writeConfig(t, "mqt:\n  broker: x\naccounts:\n  - id: g\n    provider: gas\n    user_code: \"12345678\"\n    low_balance: -1\n")
	for _, cmd := range []string{"run", "once", "reset"} {
		code, _, errOut := runCLI(cmd, "-c", path, "g")
		for _, w := range []string{path + `:1: mqt: unknown key`, path + `:7: accounts[0].low_balance: must be 0 or more`} {
			if code != exitConfig || !strings.Contains(errOut, w) {
				t.Errorf("%s: exit %d, stderr lacks %q:\n%s", cmd, code, w, errOut)
			}
		}
	}
}
