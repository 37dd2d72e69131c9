package config

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// endpoint is shared by several providers' settings, inlined.
type endpoint struct {
	Region string `yaml:"region"`
}

// telecomLike mirrors what a provider declares for its settings.
type telecomLike struct {
	endpoint `yaml:",inline"`
	Raw      any      `yaml:"raw"`
	Phone    string   `yaml:"phone"`
	Password string   `yaml:"password" secret:"true"`
	BaseURL  string   `yaml:"base_url"`
	Retries  int      `yaml:"retries"`
	Interval Duration `yaml:"interval"`
	Verbose  *bool    `yaml:"verbose"`
	CertFile string   `yaml:"cert_file"` // a path: "cert_file" must not be read as a secret
	Cert     string   `yaml:"cert"`
	Headers  map[string]string
	Plans    []string `yaml:"plans"`
	Limits   struct {
		Balance float64 `yaml:"balance"`
	} `yaml:"limits"`
}

func TestAccountDecode(t *testing.T) {
	dir := t.TempDir()
	pw := writeFile(t, dir, "pw", "from-file\n")

	tests := []struct {
		name    string
		account string // the lines of accounts[0] after "id" and "provider" (which are lines 2-3)
		check   func(t *testing.T, s telecomLike)
		want    []string
	}{
		{
			name: "ok",
			account: `    phone: "18912345678"
    password: hunter2
    retries: 3
    interval: 2d
    verbose: true
    cert_file: /certs/c.pem
    headers:
      X-App: bridge
    plans: [a, b]
    limits:
      balance: 10.5
    region: north
    raw: {a: [1, 2]}
`,
			check: func(t *testing.T, s telecomLike) {
				if s.Phone != "18912345678" || s.Password != "hunter2" || s.Retries != 3 || s.Interval.D() != 48*time.Hour ||
					s.Verbose == nil || !*s.Verbose || s.CertFile != "/certs/c.pem" || s.Cert != "" ||
					s.Headers["X-App"] != "bridge" || !slices.Equal(s.Plans, []string{"a", "b"}) || s.Limits.Balance != 10.5 ||
					s.Region != "north" || fmt.Sprint(s.Raw) != "map[a:[1 2]]" {
					t.Errorf("decoded %+v", s)
				}
			},
		},
		{
			name:    "password_file on a provider key",
			account: "    password_file: " + pw + "\n",
			check: func(t *testing.T, s telecomLike) {
				if s.Password != "from-file" {
					t.Errorf("password = %q", s.Password)
				}
			},
		},
		{
			name:    "unknown key with suggestion and line",
			account: "    phone: \"1\"\n    pasword: x\n",
			want:    []string{`config.yaml:5: accounts[0].pasword: unknown key (did you mean "password"?)`},
		},
		{
			name:    "misspelt common key is suggested too",
			account: "    shedule: \"@hourly\"\n",
			want:    []string{`config.yaml:4: accounts[0].shedule: unknown key (did you mean "schedule"?)`},
		},
		{
			name:    "unknown key lists what is known",
			account: "    colour: red\n",
			want: []string{`config.yaml:4: accounts[0].colour: unknown key (known: region, raw, phone, password, base_url, retries, interval, verbose, ` +
				`cert_file, cert, headers, plans, limits, id, provider, name, schedule, timeout, proxy, enabled)`},
		},
		{
			name:    "type errors, all of them, nested too",
			account: "    retries: lots\n    interval: 30\n    verbose: perhaps\n    plans: {a: 1}\n    limits:\n      balance: much\n      extra: 1\n",
			want: []string{
				`config.yaml:4: accounts[0].retries: expected an integer, got "lots"`,
				`config.yaml:5: accounts[0].interval: expected a duration like 30s or 1h, got "30" (use a unit, e.g. 30s)`,
				`config.yaml:6: accounts[0].verbose: expected a boolean, got "perhaps"`,
				`config.yaml:7: accounts[0].plans: expected a list, got a mapping`,
				`config.yaml:9: accounts[0].limits.balance: expected a number, got "much"`,
				`config.yaml:10: accounts[0].limits.extra: unknown key (known: balance)`,
			},
		},
		{
			name:    "cert_file stays a path, cert and cert_file are separate fields",
			account: "    cert_file: /nonexistent/c.pem\n    cert: inline\n",
			check: func(t *testing.T, s telecomLike) {
				if s.CertFile != "/nonexistent/c.pem" || s.Cert != "inline" {
					t.Errorf("decoded %+v", s)
				}
			},
		},
		{
			name:    "base_url_file reads base_url (the struct has no base_url_file)",
			account: "    base_url_file: " + filepath.Join(dir, "missing") + "\n",
			want:    []string{`config.yaml:4: accounts[0].base_url_file: cannot read "` + filepath.Join(dir, "missing") + `": no such file or directory`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := mustParse(t, "accounts:\n  - id: phone\n    provider: telecom\n"+tt.account, LoadOptions{Providers: testProviders})
			a := &cfg.Accounts[0]
			if a.DecodeCalled() {
				t.Error("DecodeCalled before Decode")
			}
			var s telecomLike
			var secrets []string
			err := a.DecodeWith(&s, func(v string) { secrets = append(secrets, v) })
			if !a.DecodeCalled() {
				t.Error("DecodeCalled after Decode is false")
			}
			if tt.want != nil {
				if err == nil || err.Error() != strings.Join(tt.want, "\n") {
					t.Errorf("errors:\n%v\nwant:\n%s", err, strings.Join(tt.want, "\n"))
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, s)
			if s.Password != "" && !slices.Equal(secrets, []string{s.Password}) {
				t.Errorf("secret callback got %q, want the password", secrets)
			}
		})
	}
}

func TestAccountDecodeOnSecretAndCopies(t *testing.T) {
	var secrets []string
	cfg := mustParse(t, "accounts:\n  - id: a\n    provider: gas\n    sid: abc\n", LoadOptions{OnSecret: func(s string) { secrets = append(secrets, s) }})
	copyOf := cfg.Accounts[0] // copies share the Decode state
	var s struct {
		SID string `yaml:"sid" secret:"true"`
	}
	if err := copyOf.Decode(&s); err != nil {
		t.Fatal(err)
	}
	if !cfg.Accounts[0].DecodeCalled() {
		t.Error("DecodeCalled not seen through the original")
	}
	if !slices.Equal(secrets, []string{"abc"}) {
		t.Errorf("OnSecret got %q", secrets)
	}
	if err := copyOf.Decode(s); err == nil {
		t.Error("Decode into a non-pointer should fail")
	}
}

func TestUnknownExtraAndErrorf(t *testing.T) {
	cfg := mustParse(t, `accounts:
  - id: a
    provider: sms
    shedule: "@hourly"
    colour: red
  - id: b
    provider: sms
`, LoadOptions{})
	a, b := &cfg.Accounts[0], &cfg.Accounts[1]
	if got := a.ExtraKeys(); !slices.Equal(got, []string{"shedule", "colour"}) {
		t.Errorf("ExtraKeys = %q", got)
	}
	want := `config.yaml:4: accounts[0].shedule: unknown key (did you mean "schedule"?)
config.yaml:5: accounts[0].colour: unknown key (known: id, provider, name, schedule, timeout, proxy, enabled)`
	if got := a.UnknownExtra(); got.Error() != want {
		t.Errorf("UnknownExtra:\n%v\nwant:\n%s", got, want)
	}
	if got := b.UnknownExtra(); len(got) != 0 || len(b.ExtraKeys()) != 0 {
		t.Errorf("b: %v %q", got, b.ExtraKeys())
	}
	if got := a.Errorf("provider", "no %s", "way").Error(); got != "config.yaml:3: accounts[0].provider: no way" {
		t.Errorf("Errorf at a key: %s", got)
	}
	if got := b.Errorf("schedule", "invalid cron spec: %v", "x").Error(); got != "config.yaml:6: accounts[1].schedule: invalid cron spec: x" {
		t.Errorf("Errorf at an absent key: %s", got)
	}
	if a.Line() != 2 || b.Line() != 6 {
		t.Errorf("lines %d %d", a.Line(), b.Line())
	}
}

func TestFingerprint(t *testing.T) {
	dir := t.TempDir()
	pw := filepath.Join(dir, "pw")
	base := `accounts:
  - id: phone
    provider: telecom
    phone: "18912345678"
    password_file: ` + pw + `
    limits: {balance: 10, data: 1}
`
	fp := func(src string) string {
		t.Helper()
		return mustParse(t, src, LoadOptions{}).Accounts[0].Fingerprint()
	}
	write := func(s string) {
		if err := os.WriteFile(pw, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("one\n")
	first := fp(base)
	if len(first) != 64 {
		t.Fatalf("fingerprint %q is not hex sha256", first)
	}
	same := []string{
		base,
		// formatting, key order, quoting and comments do not matter
		"accounts:\n  - provider: telecom   # comment\n    id: phone\n    limits:\n      data: 1\n      balance: 10\n    password_file: '" + pw + "'\n    phone: '18912345678'\n",
	}
	for _, src := range same {
		if got := fp(src); got != first {
			t.Errorf("fingerprint changed for an equivalent config:\n%s", src)
		}
	}
	changed := []string{
		strings.Replace(base, "18912345678", "18912345679", 1),
		strings.Replace(base, "balance: 10", "balance: 11", 1),
		strings.Replace(base, "provider: telecom", "provider: telecom\n    enabled: false", 1),
		strings.Replace(base, "provider: telecom", "provider: telecom\n    timeout: 5s", 1),
		strings.Replace(base, "provider: telecom", "provider: telecom\n    name: Phone", 1),
	}
	for _, src := range changed {
		if got := fp(src); got == first {
			t.Errorf("fingerprint unchanged for:\n%s", src)
		}
	}
	write("two\n")
	if got := fp(base); got == first {
		t.Error("fingerprint unchanged when the secret file changed")
	}
}

func TestDecodeStdDuration(t *testing.T) {
	cfg := mustParse(t, "accounts:\n  - id: a\n    provider: x\n    min_login_interval: 15m\n    remove_after: 7d\n", LoadOptions{})
	var s struct {
		MinLogin    time.Duration `yaml:"min_login_interval"`
		RemoveAfter time.Duration `yaml:"remove_after"`
	}
	if err := cfg.Accounts[0].Decode(&s); err != nil {
		t.Fatal(err)
	}
	if s.MinLogin != 15*time.Minute || s.RemoveAfter != 7*24*time.Hour {
		t.Errorf("decoded %+v", s)
	}
	bad := mustParse(t, "accounts:\n  - id: a\n    provider: x\n    min_login_interval: 600\n", LoadOptions{})
	if err := bad.Accounts[0].Decode(&s); err == nil || !strings.Contains(err.Error(), "config.yaml:4: accounts[0].min_login_interval: expected a duration") {
		t.Errorf("err = %v", err)
	}
}

func TestSection(t *testing.T) {
	env := func(k string) (string, bool) { return "25", k == "AB_SMS_CAP" }
	cfg := mustParse(t, "sms:\n  default_strategy: price\n  max_daily_spend: ${AB_SMS_CAP}\n  watch:\n    - {service: tg, country: us}\n  stratgy: x\n", LoadOptions{LookupEnv: env, Sections: []string{"sms"}})
	if !cfg.Section("sms").Present() || cfg.Section("gas").Present() {
		t.Fatal("section presence")
	}
	var s struct {
		DefaultStrategy string  `yaml:"default_strategy"`
		MaxDailySpend   float64 `yaml:"max_daily_spend"`
		Watch           []struct {
			Service string `yaml:"service"`
			Country string `yaml:"country"`
		} `yaml:"watch"`
	}
	err := cfg.Section("sms").Decode(&s, nil)
	if err == nil || err.Error() != `config.yaml:6: sms.stratgy: unknown key (known: default_strategy, max_daily_spend, watch)` {
		t.Errorf("err = %v", err)
	}
	if s.DefaultStrategy != "price" || s.MaxDailySpend != 25 || len(s.Watch) != 1 || s.Watch[0].Country != "us" {
		t.Errorf("decoded %+v", s)
	}
	var empty struct{}
	if err := (&Config{}).Section("sms").Decode(&empty, nil); err != nil {
		t.Errorf("absent section: %v", err)
	}
	if _, err := Parse("c.yaml", []byte("sms: [1]\n"), LoadOptions{Sections: []string{"sms"}}); err == nil || !strings.Contains(err.Error(), "c.yaml:1: sms: expected a mapping of settings, got a list") {
		t.Errorf("err = %v", err)
	}
	// Only kinds that own a section may have one: otherwise it is an unknown key.
	if _, err := Parse("c.yaml", []byte("sms:\n  watch: []\n"), LoadOptions{LookupEnv: noEnv}); err == nil || !strings.Contains(err.Error(), "c.yaml:1: sms: unknown key") {
		t.Errorf("section of a kind without one: err = %v", err)
	}
	// A misspelt section gets a suggestion like any key.
	if _, err := Parse("c.yaml", []byte("smss:\n  watch: []\n"), LoadOptions{LookupEnv: noEnv, Sections: []string{"sms"}}); err == nil || !strings.Contains(err.Error(), `did you mean "sms"?`) {
		t.Errorf("misspelt section: err = %v", err)
	}
}
