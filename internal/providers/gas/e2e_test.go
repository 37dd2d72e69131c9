package gas

import (
	"fmt"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/accountbridge/accountbridge/internal/daemon/daemontest"
	"github.com/accountbridge/accountbridge/internal/mqtt/mqtttest"
	"github.com/accountbridge/accountbridge/internal/providers/gas/fake"
	"github.com/accountbridge/accountbridge/internal/providers/wire"
)

// The daemon polls the fake through the real poller, store and MQTT: Home Assistant gets a
// valid device with the Energy-dashboard meter, and a restart neither logs in again nor
// loses state.
func TestEndToEndWithDaemon(t *testing.T) {
	srv := fake.New(fake.Options{})
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	e := daemontest.New(t)
	acct := fmt.Sprintf(`  - id: home
    provider: gas
    user_code: "%s"
    mobile: "%s"
    password: %s
    base_url: %s
`, fake.DefaultUserCode, fake.DefaultMobile, fake.DefaultPassword, ts.URL)
	dev := "gas_home"
	disc, state, avail := e.DiscoveryTopic(dev), e.StateTopic(dev), e.AvailabilityTopic(dev)
	meter := func() string {
		return `"meter_reading":` + strconv.FormatFloat(wire.Round(srv.ReadingAt(srv.LastDay()), 3), 'f', -1, 64)
	}

	waitAll := func(w *mqtttest.Watcher, want map[string][]string) {
		t.Helper()
		w.Next(func(m mqtttest.Message) bool {
			subs, ok := want[m.Topic]
			if ok && allIn(m.Payload, subs) {
				delete(want, m.Topic)
			}
			return len(want) == 0
		})
	}

	w := e.Watch()
	stop := e.Start(e.Config(acct))
	waitAll(w, map[string][]string{
		disc: {`"name":"PetroChina Gas 12345678"`, `"unique_id":"accountbridge_gas_home_meter_reading"`, `"device_class":"gas"`,
			`"state_class":"total_increasing"`, `"unit_of_measurement":"m³"`, `"unit_of_measurement":"CNY/m³"`,
			`"last_poll":{`},
		state: {meter(), `"balance":86.42`, `"tier":"`, `"year_cost":`},
		avail: {"online"},
	})
	stop()
	if n := srv.Logins(); n != 1 {
		t.Errorf("logins = %d", n)
	}

	// Restart: the stored token is reused and the daily history kept.
	srv.Set(func(s *fake.Switches) { s.DayPerPoll = true })
	next := `"meter_reading":` + strconv.FormatFloat(wire.Round(srv.ReadingAt(srv.LastDay().AddDate(0, 0, 1)), 3), 'f', -1, 64)
	w = e.Watch()
	e.Start(e.Config(acct))
	waitAll(w, map[string][]string{state: {next}, avail: {"online"}})
	if n := srv.Logins(); n != 1 {
		t.Errorf("logins after a restart = %d, want 1", n)
	}
	if strings.Contains(e.Logs(), fake.DefaultPassword) {
		t.Error("the password reached the log")
	}
}

func allIn(s string, subs []string) bool {
	for _, x := range subs {
		if !strings.Contains(s, x) {
			return false
		}
	}
	return true
}
