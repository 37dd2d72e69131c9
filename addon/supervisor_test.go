package addon_test

import (
	"encoding/json"
	"os"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/accountbridge/accountbridge/internal/config"
	"github.com/accountbridge/accountbridge/internal/daemon"
	"github.com/accountbridge/accountbridge/internal/logging"
	"github.com/accountbridge/accountbridge/internal/providers"
)

// docsExample is the first yaml block of DOCS.md's Options section: the options a user
// copies into the app's YAML editor.
func docsExample(t *testing.T) map[string]any {
	t.Helper()
	b, err := os.ReadFile("DOCS.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(b), "\n## Options\n")
	if !ok {
		t.Fatal("DOCS.md has no Options section")
	}
	_, rest, ok = strings.Cut(rest, "```yaml\n")
	block, _, ok2 := strings.Cut(rest, "```\n")
	if !ok || !ok2 {
		t.Fatal("DOCS.md: no yaml block in the Options section")
	}
	var m map[string]any
	if err := yaml.Unmarshal([]byte(block), &m); err != nil {
		t.Fatalf("DOCS.md example: %v", err)
	}
	return m
}

// The app's options as the Supervisor would start it with: the shipped defaults, the DOCS
// example (alone, as pasted into the YAML editor, and over the defaults, as the Supervisor
// merges a user's options), and the fixture that sets every option. Each passes the
// Supervisor's rules, and what the Supervisor writes to /data/options.json is a valid config
// whose accounts and groups build.
func TestOptionsPassTheSupervisor(t *testing.T) {
	app := loadApp(t)
	if err := checkSchema(app.Schema); err != nil {
		t.Fatalf("the Supervisor would refuse the app: %v", err)
	}
	var fixture map[string]any
	b, err := os.ReadFile("testdata/options.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &fixture); err != nil {
		t.Fatal(err)
	}
	docs := docsExample(t)
	merged := map[string]any{} // the Supervisor merges user options over the defaults, top level only
	for k, v := range app.Options {
		merged[k] = v
	}
	for k, v := range docs {
		merged[k] = v
	}

	for _, tc := range []struct {
		name    string
		options map[string]any
	}{
		{"shipped options", app.Options},
		{"DOCS.md example", docs},
		{"DOCS.md example over the defaults", merged},
		{"testdata/options.json", fixture},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sv := &supervisor{}
			out, err := sv.validate(app.Schema, tc.options)
			if err != nil {
				t.Fatalf("the Supervisor would not start the app: %v", err)
			}
			if len(sv.warnings) > 0 {
				t.Errorf("the Supervisor would drop options: %v", sv.warnings)
			}
			written, err := json.Marshal(out)
			if err != nil {
				t.Fatal(err)
			}
			// make image-test starts the app image with what the Supervisor would write.
			if out := os.Getenv("ADDON_OPTIONS_OUT"); out != "" && tc.name == "shipped options" {
				if err := os.WriteFile(out, written, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			cfg, err := config.Parse(config.OptionsPath, written, config.LoadOptions{Providers: providers.Kinds(),
				Sections: providers.SectionKinds(), LookupEnv: func(string) (string, bool) { return "", false }})
			if err != nil {
				t.Fatalf("the app would not start with %s: %v", written, err)
			}
			build := daemon.BuildOptions{Logger: discard(), Redactor: logging.NewRedactor()}
			accounts, err := daemon.BuildAccounts(cfg, build)
			if err != nil {
				t.Fatalf("accounts: %v", err)
			}
			if _, err := daemon.BuildGroups(cfg, accounts, build); err != nil {
				t.Fatalf("groups: %v", err)
			}
		})
	}
}

// The rules themselves: each case is one the Supervisor refuses or accepts, so a checker
// that let everything through would fail here.
func TestSupervisorRules(t *testing.T) {
	app := loadApp(t)
	obj := func(s string) map[string]any {
		var m map[string]any
		if err := yaml.Unmarshal([]byte(s), &m); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
		return m
	}
	for _, tc := range []struct {
		name, schema, options string
		wantErr               string // "" = valid
		want                  string // the written options as JSON, when valid
	}{
		// The bug this test exists for: the app's options before sections were added.
		{"sections missing from the app's options", "", "{language: en, log: {level: info}, accounts: []}", "Missing option 'alerts' in root", ""},
		{"a missing dict is missing, even with only optional keys", "{a: {b: 'str?'}}", "{}", "Missing option 'a' in root", ""},
		{"nested: missing dict inside a dict", "{a: {b: {c: 'str?'}, d: 'str?'}}", "{a: {d: x}}", "Missing option 'b' in a", ""},
		{"an empty dict is present", "{a: {b: {c: 'str?'}}}", "{a: {b: {}}}", "", `{"a":{"b":{}}}`},
		{"optional str may be absent", "{a: 'str?', b: str}", "{b: x}", "", `{"b":"x"}`},
		{"required str is missing", "{a: 'str?', b: str}", "{a: x}", "Missing option 'b' in root", ""},
		{"null is missing, even when optional", "{a: 'str?'}", "{a: null}", "Missing required option 'a'", ""},
		{"a list of optional items may be absent", "{a: ['email?']}", "{}", "", `{}`},
		{"a list of dicts may not be absent", "{a: [{b: 'str?'}]}", "{}", "Missing option 'a' in root", ""},
		{"a list must be a list", "{a: ['email?']}", "{a: me@example.com}", "invalid list for option 'a'", ""},
		{"list items are checked", "{a: [email]}", "{a: [me@example.com, nobody]}", "expected an email address", ""},
		{"dict must be a dict", "{a: {b: 'str?'}}", "{a: x}", "invalid dict for option 'a'", ""},
		{"unknown keys are dropped", "{a: 'str?'}", "{a: x, zz: 1}", "", `{"a":"x"}`},
		{"str refuses a number", "{a: str}", "{a: 5}", "expected a string", ""},
		{"str length", "{a: 'str(2,3)'}", "{a: abcd}", "length 4 out of range", ""},
		{"int converts", "{a: 'int(1,10)'}", "{a: '7'}", "", `{"a":7}`},
		{"int bounds", "{a: 'int(1,10)'}", "{a: 11}", "out of range", ""},
		{"int refuses a word", "{a: int}", "{a: many}", "expected an integer", ""},
		{"float", "{a: 'float(0.5,)'}", "{a: 0.25}", "out of range", ""},
		{"bool converts words", "{a: bool, b: bool}", "{a: 'on', b: 'no'}", "", `{"a":true,"b":false}`},
		{"bool refuses other words", "{a: bool}", "{a: maybe}", "expected a boolean", ""},
		{"port", "{a: port}", "{a: 70000}", "out of range", ""},
		{"url needs scheme and host", "{a: url}", "{a: 'example.com/hook'}", "expected a URL", ""},
		{"match is anchored at the start", "{a: 'match(^[a-z]+$)'}", "{a: Mobile}", "does not match", ""},
		{"list() is a choice", "{a: list(en|zh)}", "{a: de}", "is not one of en|zh", ""},
		{"list() converts to a string", "{a: list(1|2)}", "{a: 2}", "", `{"a":"2"}`},
		{"secret looked up", "{a: password}", "{a: '!secret smtp'}", "", `{"a":"hunter2"}`},
		{"unknown secret", "{a: password}", "{a: '!secret nope'}", "Unknown secret 'nope'", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			schema := app.Schema
			if tc.schema != "" {
				schema = obj(tc.schema)
			}
			if err := checkSchema(schema); err != nil {
				t.Fatalf("schema: %v", err)
			}
			sv := &supervisor{secrets: map[string]any{"smtp": "hunter2"}}
			out, err := sv.validate(schema, obj(tc.options))
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.wantErr != "" && err == nil:
				t.Fatalf("accepted %v, want an error with %q", out, tc.wantErr)
			case tc.wantErr != "" && !strings.Contains(err.Error(), tc.wantErr):
				t.Fatalf("error %q, want %q", err, tc.wantErr)
			case tc.wantErr == "":
				if got, _ := json.Marshal(out); string(got) != tc.want {
					t.Errorf("written %s, want %s", got, tc.want)
				}
			}
		})
	}
}

func TestSupervisorSchemaRules(t *testing.T) {
	for _, tc := range []struct{ name, schema, wantErr string }{
		{"the app's shape: list of dicts, dict of dicts", "{a: [{b: str}], c: {d: {e: 'str?'}}, f: [str]}", ""},
		{"three deep", "{a: {b: {c: {d: str}}}}", "nested deeper than 2"},
		{"a list of types is one field, not a level", "{a: [{b: [str]}], c: {d: {e: [email]}}}", ""},
		{"list of dicts of dicts", "{a: [{b: {c: str}}]}", "nested deeper than 2"},
		{"list of lists", "{a: [[str]]}", "may not directly hold a list"},
		{"unknown type", "{a: text}", "unknown type"},
		{"int bounds are digits", "{a: 'int(a,b)'}", "unknown type"},
		{"a list names one element", "{a: [str, int]}", "exactly one element"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var m map[string]any
			if err := yaml.Unmarshal([]byte(tc.schema), &m); err != nil {
				t.Fatal(err)
			}
			err := checkSchema(m)
			if tc.wantErr == "" && err != nil || tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Fatalf("got %v, want %q", err, tc.wantErr)
			}
		})
	}
}
