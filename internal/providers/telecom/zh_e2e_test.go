package telecom_test

import (
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"
	"unicode"

	"github.com/accountbridge/accountbridge/internal/daemon/daemontest"
	"github.com/accountbridge/accountbridge/internal/mqtt/mqtttest"
	"github.com/accountbridge/accountbridge/internal/providers/telecom/fake"
)

type discoveryDoc struct {
	Device struct {
		Name string `json:"name"`
	} `json:"device"`
	Cmps map[string]map[string]any `json:"cmps"`
}

// discover runs the daemon once with the given language and returns the telecom
// device's discovery config.
func discover(t *testing.T, language string) discoveryDoc {
	t.Helper()
	f := fake.New()
	f.AddAccount("18912345678", "123456", fake.PlanNormal)
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	key := "      " + strings.ReplaceAll(strings.TrimSpace(f.PublicKeyPEM()), "\n", "\n      ")
	e := daemontest.New(t)
	w := e.Watch()
	stop := e.Start(e.Config(fmt.Sprintf(`  - id: tel
    provider: telecom
    phone: "18912345678"
    password: "123456"
    base_url: %s
    login_url: %s
    rsa_public_key: |
%s
`, srv.URL, srv.URL, key), "language: "+language+"\n"))
	m := w.Next(func(m mqtttest.Message) bool {
		return m.Topic == e.DiscoveryTopic("telecom_tel") && strings.Contains(m.Payload, `"last_poll"`)
	})
	stop()
	var doc discoveryDoc
	if err := json.Unmarshal([]byte(m.Payload), &doc); err != nil {
		t.Fatal(err)
	}
	return doc
}

func hasHan(s string) bool {
	for _, r := range s {
		if unicode.Is(unicode.Han, r) {
			return true
		}
	}
	return false
}

// With language: zh every name HA shows is Chinese, and no id changes.
func TestChineseNamesKeepEntityIDs(t *testing.T) {
	en, zh := discover(t, "en"), discover(t, "zh")
	if zh.Device.Name != "中国电信 189****5678" || en.Device.Name != "China Telecom 189****5678" {
		t.Errorf("device names %q / %q", en.Device.Name, zh.Device.Name)
	}
	if len(zh.Cmps) != len(en.Cmps) {
		t.Fatalf("components %d vs %d", len(zh.Cmps), len(en.Cmps))
	}
	for key, c := range zh.Cmps {
		name, _ := c["name"].(string)
		if !hasHan(name) {
			t.Errorf("%s: name %q is not Chinese", key, name)
		}
		for _, id := range []string{"unique_id", "default_entity_id"} {
			if c[id] != en.Cmps[key][id] {
				t.Errorf("%s: %s %v changed from %v", key, id, c[id], en.Cmps[key][id])
			}
		}
	}
}
