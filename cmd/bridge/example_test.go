package main

import (
	"os"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/accountbridge/accountbridge/internal/config"
	"github.com/accountbridge/accountbridge/internal/daemon"
	"github.com/accountbridge/accountbridge/internal/logging"
	"github.com/accountbridge/accountbridge/internal/providers"
	"github.com/accountbridge/accountbridge/internal/providers/sms"
)

// The commented examples of config.example.yaml, each account example and the sms:
// section, as they would be uncommented.
type exampleBlock struct {
	kind string   // provider kind, or "sms:" for the section
	keys []string // every key written, commented or not
}

var (
	exampleKeyRe = regexp.MustCompile(`^#\s{2,}(?:#\s*)?(?:- )?([a-z_]+):`)
	exampleIDRe  = regexp.MustCompile(`^#  - id:`)
)

// exampleBlocks reads the account examples (the "#  - id:" entries under accounts:) and
// the "#sms:" section, and returns them with the uncommented config text.
func exampleBlocks(t *testing.T) ([]exampleBlock, string) {
	t.Helper()
	data, err := os.ReadFile("../../config.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var blocks []exampleBlock
	var out []string
	in := "" // "accounts" or "sms" while inside the examples
	for _, line := range strings.Split(string(data), "\n") {
		switch {
		case line == "accounts: []":
			in = "accounts"
			out = append(out, "accounts:")
			continue
		case line == "#sms:":
			in = "sms"
			blocks = append(blocks, exampleBlock{kind: "sms:"})
			out = append(out, "sms:")
			continue
		case in == "accounts" && len(blocks) == 0 && !strings.HasPrefix(line, "#  "):
			out = append(out, line) // the comments before the first example
			continue
		case in != "" && !strings.HasPrefix(line, "#  "):
			in = ""
		}
		if in == "" {
			out = append(out, line)
			continue
		}
		if in == "accounts" && exampleIDRe.MatchString(line) {
			blocks = append(blocks, exampleBlock{})
		}
		if m := exampleKeyRe.FindStringSubmatch(line); m != nil && len(blocks) > 0 {
			b := &blocks[len(blocks)-1]
			b.keys = append(b.keys, strings.TrimSuffix(m[1], "_file"))
			if m[1] == "provider" {
				b.kind = strings.Fields(strings.SplitN(line, "provider:", 2)[1])[0]
			}
		}
		out = append(out, strings.TrimPrefix(line, "#"))
	}
	return blocks, strings.Join(out, "\n")
}

// yamlKeys lists the yaml keys of the struct v points to.
func yamlKeys(v any) []string {
	var keys []string
	for f := range reflect.TypeOf(v).Elem().Fields() {
		if name, _, _ := strings.Cut(f.Tag.Get("yaml"), ","); f.IsExported() && name != "" && name != "-" {
			keys = append(keys, name)
		}
	}
	return keys
}

// TestExampleConfigFollowsTheProviders: each provider's settings struct (Info.Settings)
// is the source of its part of config.example.yaml. Every setting appears in the
// provider's examples (commented or not), the examples use no key the provider does not
// read, and uncommented they are a config `bridge check` accepts.
func TestExampleConfigFollowsTheProviders(t *testing.T) {
	blocks, text := exampleBlocks(t)
	common := yamlKeys(&config.Account{})
	written := map[string][]string{}
	for _, b := range blocks {
		if b.kind == "" {
			t.Fatalf("an example without provider: %v", b.keys)
		}
		written[b.kind] = append(written[b.kind], b.keys...)
	}
	sources := map[string][]string{"sms:": yamlKeys(&sms.RouterSettings{})}
	for _, kind := range providers.Kinds() {
		info, _ := providers.Lookup(kind)
		if info.Settings == nil {
			t.Errorf("%s: Info.Settings is not set", kind)
			continue
		}
		sources[kind] = yamlKeys(info.Settings)
	}
	for kind, keys := range sources {
		if len(written[kind]) == 0 {
			t.Errorf("config.example.yaml has no example of %s", kind)
			continue
		}
		for _, k := range keys {
			if !slices.Contains(written[kind], k) {
				t.Errorf("config.example.yaml: the %s examples lack %q", kind, k)
			}
		}
		for _, k := range written[kind] {
			if !slices.Contains(keys, k) && (kind == "sms:" || !slices.Contains(common, k)) {
				t.Errorf("config.example.yaml: the %s examples write %q, which it does not read", kind, k)
			}
		}
	}

	// Uncommented, the examples are a valid config.
	cfg, err := config.Inspect("config.example.yaml", []byte(text), config.LoadOptions{
		Providers: providers.Kinds(), Sections: providers.SectionKinds(),
		LookupEnv: func(k string) (string, bool) {
			if k == "TELECOM_PASSWORD" {
				return "012345", true // the service password is 6 digits
			}
			return "from-env-" + k, true
		},
		ReadFile: func(string) ([]byte, error) { return []byte("secret-from-file"), nil },
	})
	if err := daemon.Check(cfg, err, logging.NewRedactor()); err != nil {
		t.Errorf("the examples of config.example.yaml, uncommented, are not a valid config:\n%v\n\n%s", err, text)
	}
}

// The example provider (internal/providers/example) is there to be copied, not run.
func TestExampleProviderIsNotInTheBinary(t *testing.T) {
	if _, ok := providers.Lookup("example"); ok {
		t.Error("provider example is registered in the binary")
	}
}
