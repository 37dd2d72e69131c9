package addon_test

import (
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/accountbridge/accountbridge/internal/providers"
)

// leftOut are provider settings that are deliberately not app options, with the reason.
// Each still works from a full config file (/config/accountbridge.yaml, see DOCS.md).
var leftOut = map[string]string{
	"telecom.base_url":          "an upstream host override for testing against a fake; no user needs it",
	"telecom.login_url":         "an upstream host override for testing against a fake",
	"telecom.rsa_public_key":    "a protocol constant, overridable only for when the upstream rotates it",
	"gas.mdm_code":              "read from the upstream by default; an override for unusual companies",
	"gas.base_url":              "an upstream host override for testing against a fake",
	"gas.aes_key":               "a protocol constant, overridable only for when the upstream rotates it",
	"gas.sign_key":              "a protocol constant, overridable only for when the upstream rotates it",
	"gas.user_agent":            "a protocol detail, overridable only for when the upstream starts refusing it",
	"onecloud.account_base_url": "an upstream host override for testing against a fake",
	"onecloud.control_base_url": "an upstream host override for testing against a fake",
	"sms.services":              "a map; the Supervisor's options cannot hold maps of free keys",
	"sms.countries":             "a map; the Supervisor's options cannot hold maps of free keys",
	"sms.prices":                "a map; the Supervisor's options cannot hold maps of free keys",
}

// settingKeys lists the yaml keys of a provider's settings struct.
func settingKeys(t *testing.T, kind string, settings any) []string {
	t.Helper()
	rt := reflect.TypeOf(settings)
	if rt == nil || rt.Kind() != reflect.Pointer || rt.Elem().Kind() != reflect.Struct {
		t.Fatalf("%s: Info.Settings is %T, want a pointer to the settings struct", kind, settings)
	}
	var keys []string
	for f := range rt.Elem().Fields() {
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "-" {
			continue
		}
		if name == "" {
			t.Fatalf("%s: settings field %s has no yaml tag", kind, f.Name)
		}
		keys = append(keys, name)
	}
	return keys
}

// Every key a provider reads from its account is an app option (schema and both
// translations), or is listed in leftOut with the reason.
func TestEveryProviderSettingIsAnOption(t *testing.T) {
	app := loadApp(t)
	accountSchema := app.Schema["accounts"].([]any)[0].(map[string]any)
	trFields := map[string]map[string]any{}
	for _, lang := range []string{"en", "zh-Hans"} {
		var tr struct {
			Configuration map[string]struct {
				Fields map[string]any `yaml:"fields"`
			} `yaml:"configuration"`
		}
		readYAML(t, "translations/"+lang+".yaml", &tr)
		trFields[lang] = tr.Configuration["accounts"].Fields
	}
	used := map[string]bool{}
	kinds := providers.Kinds()
	if len(kinds) == 0 {
		t.Fatal("no provider registered")
	}
	for _, kind := range kinds {
		info, _ := providers.Lookup(kind)
		for _, key := range settingKeys(t, kind, info.Settings) {
			id := kind + "." + key
			if reason, ok := leftOut[id]; ok {
				used[id] = true
				if _, inSchema := accountSchema[key]; inSchema && !slices.Contains([]string{"base_url"}, key) {
					t.Errorf("%s is listed as left out (%s) but is in the schema", id, reason)
				}
				continue
			}
			if _, ok := accountSchema[key]; !ok {
				t.Errorf("%s: not in the app schema (accounts) and not listed as left out", id)
			}
			for lang, fields := range trFields {
				if _, ok := fields[key]; !ok {
					t.Errorf("%s: not translated in %s", id, lang)
				}
			}
		}
	}
	for id := range leftOut {
		if !used[id] {
			t.Errorf("leftOut lists %s, which no provider reads any more", id)
		}
	}
}
