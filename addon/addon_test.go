// Package addon_test checks the Home Assistant app files against the code: every option
// is translated, decodes through the real config and providers, and the version matches.
package addon_test

import (
	"encoding/json"
	"os"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/accountbridge/accountbridge/internal/config"
	"github.com/accountbridge/accountbridge/internal/daemon"
	"github.com/accountbridge/accountbridge/internal/logging"
	"github.com/accountbridge/accountbridge/internal/providers"
	_ "github.com/accountbridge/accountbridge/internal/providers/all"
	"github.com/accountbridge/accountbridge/internal/version"
)

type appConfig struct {
	Version string         `yaml:"version"`
	Options map[string]any `yaml:"options"`
	Schema  map[string]any `yaml:"schema"`
}

func readYAML(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

func loadApp(t *testing.T) appConfig {
	var c appConfig
	readYAML(t, "config.yaml", &c)
	return c
}

// paths lists every option of a schema: "log.level", "accounts.phone" (list items), …
func paths(prefix string, v any) []string {
	var out []string
	switch x := v.(type) {
	case map[string]any:
		for k, c := range x {
			p := k
			if prefix != "" {
				p = prefix + "." + k
			}
			out = append(out, p)
			out = append(out, paths(p, c)...)
		}
	case []any:
		for _, c := range x {
			out = append(out, paths(prefix, c)...)
		}
	}
	sort.Strings(out)
	return slices.Compact(out)
}

func TestEveryOptionIsTranslated(t *testing.T) {
	app := loadApp(t)
	for _, lang := range []string{"en", "zh-Hans"} {
		var tr struct {
			Configuration map[string]any `yaml:"configuration"`
		}
		readYAML(t, "translations/"+lang+".yaml", &tr)
		for _, p := range paths("", app.Schema) {
			node := any(tr.Configuration)
			for i, part := range strings.Split(p, ".") {
				if i > 0 {
					node = node.(map[string]any)["fields"]
				}
				m, _ := node.(map[string]any)
				node = m[part]
			}
			entry, _ := node.(map[string]any)
			if entry["name"] == nil || entry["description"] == nil {
				t.Errorf("%s: option %s has no name or description", lang, p)
			}
		}
	}
}

func TestOptionsDecodeThroughTheRealConfig(t *testing.T) {
	app := loadApp(t)
	// The defaults the app ships with are a valid config.
	def, _ := json.Marshal(app.Options)
	if _, err := config.Parse(config.OptionsPath, def, config.LoadOptions{Providers: providers.Kinds(), Sections: providers.SectionKinds()}); err != nil {
		t.Fatalf("default options: %v", err)
	}

	// A fixture that sets every option decodes, and its accounts build with the real providers.
	fixture, err := os.ReadFile("testdata/options.json")
	if err != nil {
		t.Fatal(err)
	}
	var asMap map[string]any
	json.Unmarshal(fixture, &asMap)
	if got, want := paths("", asMap), paths("", app.Schema); !slices.Equal(got, want) {
		t.Errorf("testdata/options.json must set every option of the schema\nmissing or extra: %v", diff(got, want))
	}
	cfg, err := config.Parse(config.OptionsPath, fixture, config.LoadOptions{Providers: providers.Kinds(), Sections: providers.SectionKinds(), LookupEnv: func(string) (string, bool) { return "", false }})
	if err != nil {
		t.Fatalf("options.json: %v", err)
	}
	build := daemon.BuildOptions{Logger: discard(), Redactor: logging.NewRedactor()}
	accounts, err := daemon.BuildAccounts(cfg, build)
	if err != nil {
		t.Fatalf("accounts: %v", err)
	}
	// Groups too: the `sms:` options must make a valid SMS router over those accounts.
	if _, err := daemon.BuildGroups(cfg, accounts, build); err != nil {
		t.Fatalf("groups: %v", err)
	}
	if cfg.Store.Path != "/data/accountbridge.db" || cfg.Language != "zh" || cfg.Alerts.Email.To[0] != "you@example.com" ||
		cfg.Alerts.Offline.For.D() != 5*time.Minute || cfg.Defaults.Concurrency != 4 || cfg.MQTT.BrokerDefault {
		t.Errorf("values did not land: %+v", cfg)
	}
}

func TestVersionInStep(t *testing.T) {
	app := loadApp(t)
	if app.Version != version.Version {
		t.Errorf("app version %s, binary version %s", app.Version, version.Version)
	}
	for _, f := range []string{"CHANGELOG.md", "Dockerfile", "build.yaml"} {
		b, _ := os.ReadFile(f)
		if !strings.Contains(string(b), version.Version) {
			t.Errorf("%s does not mention version %s", f, version.Version)
		}
	}
}

func diff(a, b []string) []string {
	var out []string
	for _, x := range a {
		if !slices.Contains(b, x) {
			out = append(out, "+"+x)
		}
	}
	for _, x := range b {
		if !slices.Contains(a, x) {
			out = append(out, "-"+x)
		}
	}
	return out
}
