package telecom_test

import (
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/accountbridge/accountbridge/internal/daemon/daemontest"
	"github.com/accountbridge/accountbridge/internal/providers/telecom"
	"github.com/accountbridge/accountbridge/internal/providers/telecom/fake"
)

// Fake upstream → daemon (poller, store, MQTT) → broker: discovery, state, availability
// and the legacy summary topic; a daemon restart reuses the stored token.
func TestEndToEnd(t *testing.T) {
	f := fake.New()
	f.AddAccount("18912345678", "123456", fake.PlanNormal)
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)

	key := "      " + strings.ReplaceAll(strings.TrimSpace(f.PublicKeyPEM()), "\n", "\n      ")
	acct := fmt.Sprintf(`  - id: tel
    provider: %s
    phone: "18912345678"
    password: "123456"
    base_url: %s
    login_url: %s
    rsa_public_key: |
%s
`, telecom.Kind, srv.URL, srv.URL, key)

	e := daemontest.New(t)
	dev := "telecom_tel"
	summary := e.Base + "/" + dev + "/summary"
	w := e.Watch()
	stop := e.Start(e.Config(acct))
	w.WaitAll(map[string]string{
		e.DiscoveryTopic(dev):    `~"unique_id":"accountbridge_telecom_tel_data_used"`,
		e.StateTopic(dev):        `~"balance":10.05`,
		e.AvailabilityTopic(dev): "online",
		summary:                  `~"balance":1005,"voiceUsage":39,"voiceBalance":2211,"voiceTotal":2250,"flowUse":7366923`,
	})
	stop()
	if n := f.Logins(); n != 1 {
		t.Fatalf("logins = %d, want 1", n)
	}

	// Restart with the plan changed upstream: the new values arrive without a new login.
	f.SetPlan("18912345678", fake.PlanOverQuota)
	w = e.Watch()
	stop = e.Start(e.Config(acct))
	w.WaitAll(map[string]string{
		e.StateTopic(dev): `~"balance":0.29`,
		summary:           `~"balance":29,`,
	})
	stop()
	if n := f.Logins(); n != 1 {
		t.Errorf("logins after a restart = %d, want 1", n)
	}
	if v := f.Violations(); len(v) > 0 {
		t.Errorf("protocol violations: %q", v)
	}
	if logs := e.Logs(); strings.Contains(logs, "123456\"") || strings.Contains(logs, "18912345678") {
		t.Errorf("the password or the full number reached the log:\n%s", logs)
	} else if strings.Contains(logs, "left out of discovery") || strings.Contains(logs, "extra topic name not allowed") {
		t.Errorf("the daemon refused part of the device:\n%s", logs)
	}
}
