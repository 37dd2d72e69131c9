package daemon_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/accountbridge/accountbridge/internal/daemon"
	"github.com/accountbridge/accountbridge/internal/logging"
)

// Inside the HA app, with no broker in the options, the Supervisor's broker is used and
// the bridge connects to it.
func TestSupervisorHandsOutTheBroker(t *testing.T) {
	e := newEnv(t)
	u, _ := url.Parse(e.Broker.URL())
	host, port, _ := strings.Cut(u.Host, ":")
	sv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/services/mqtt" || r.Header.Get("Authorization") != "Bearer sv-token" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		fmt.Fprintf(w, `{"result":"ok","data":{"addon":"core_mosquitto","host":%q,"port":%s,"ssl":false,"username":"addons","password":"sv-pass"}}`, host, port)
	}))
	defer sv.Close()

	cfg := e.config("  []\n")
	cfg.MQTT.Broker, cfg.MQTT.BrokerDefault = "tcp://127.0.0.1:1883", true // as if the options named none
	red := logging.NewRedactor()
	if err := daemon.UseSupervisorBroker(context.Background(), cfg, discard(), red, sv.URL, "sv-token"); err != nil {
		t.Fatal(err)
	}
	if cfg.MQTT.Broker != e.Broker.URL() || cfg.MQTT.Username != "addons" || red.Redact("x sv-pass") != "x ***" {
		t.Fatalf("broker %s user %s", cfg.MQTT.Broker, cfg.MQTT.Username)
	}
	w := e.watch()
	stop := e.start(cfg)
	w.WaitFor(e.base+"/bridge/availability", "online")
	stop()

	// A broker named in the options wins; outside the app nothing is asked.
	cfg.MQTT.BrokerDefault = false
	if err := daemon.UseSupervisorBroker(context.Background(), cfg, discard(), red, "http://127.0.0.1:1", "sv-token"); err != nil {
		t.Errorf("asked the Supervisor although the options name a broker: %v", err)
	}
}
