package onecloud_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/accountbridge/accountbridge/internal/alert/alerttest"
	"github.com/accountbridge/accountbridge/internal/daemon/daemontest"
	"github.com/accountbridge/accountbridge/internal/providers/onecloud/fake"
)

// TestBoxOfflineAlertEveryOutput is issue 5's acceptance check: a box taken offline on the
// fake produces, after the grace period, one message on <base>/alerts, one HA event, one
// email and one webhook call; bringing it back, one recovery of each; restarting the
// bridge in between duplicates nothing.
func TestBoxOfflineAlertEveryOutput(t *testing.T) {
	o := fake.Default()
	o.Password = password
	f := fake.New(o)
	a, c, stopFake := f.Start()
	t.Cleanup(stopFake)
	f.SetStatus("OCPG121190002", "online", "") // only box 1 will go offline

	smtp := alerttest.StartSMTP(t)
	var hookMu sync.Mutex
	var hooks []map[string]any
	hookGot := make(chan struct{}, 10)
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body map[string]any
		json.NewDecoder(r.Body).Decode(&body)
		hookMu.Lock()
		hooks = append(hooks, body)
		hookMu.Unlock()
		hookGot <- struct{}{}
	}))
	t.Cleanup(hook.Close)

	e := daemontest.New(t)
	alerts, event := e.Base+"/alerts", e.Base+"/"+box1Dev+"/event"
	counted := e.Broker.Watch(t, alerts, event, e.Base+"/count_marker") // read only at the end
	w := e.Watch()
	cfg := e.Config(fmt.Sprintf(`  - id: home
    provider: onecloud
    phone: "13800138000"
    password: %q
    account_base_url: %s
    control_base_url: %s
    schedule: "@every 1s"
`, password, a, c), fmt.Sprintf(`alerts:
  offline:
    for: 2s
  email:
    host: %s
    port: %s
    security: none
    from: bridge@example.com
    to: [me@example.com]
  webhook:
    url: %s/hook
`, smtp.Host, smtp.Port, hook.URL))

	stop := e.Start(cfg)
	w.WaitAll(map[string]string{e.StateTopic(box1Dev): `~"online":true`})

	f.SetStatus("OCPG121196469", "offline", "")
	w.WaitAll(map[string]string{
		alerts:                `~"state":"firing"`,
		event:                 `~"event_type":"offline"`,
		e.StateTopic(box1Dev): `~"alert_offline_online":true`,
	})
	<-smtp.Received()
	<-hookGot

	// Kill and restart the bridge while the alert fires: nothing is sent again.
	stop()
	stop = e.Start(cfg)
	w.WaitAll(map[string]string{e.Base + "/bridge/availability": "online"})

	f.SetStatus("OCPG121196469", "online", "")
	w.WaitAll(map[string]string{
		alerts:                `~"state":"resolved"`,
		event:                 `~"event_type":"online"`,
		e.StateTopic(box1Dev): `~"alert_offline_online":false`,
	})
	<-smtp.Received()
	<-hookGot
	stop() // drains the notifier queues: anything extra would be out now

	counted.Publish(e.Base+"/count_marker", "end", false)
	var firing, resolved, offline, online int
	for _, m := range counted.Until(e.Base + "/count_marker") {
		switch {
		case m.Topic == alerts && strings.Contains(m.Payload, `"state":"firing"`):
			firing++
		case m.Topic == alerts && strings.Contains(m.Payload, `"state":"resolved"`):
			resolved++
		case m.Topic == event && strings.Contains(m.Payload, `"event_type":"offline"`):
			offline++
		case m.Topic == event && strings.Contains(m.Payload, `"event_type":"online"`):
			online++
		}
	}
	if firing != 1 || resolved != 1 || offline != 1 || online != 1 {
		t.Errorf("mqtt: firing %d resolved %d, events offline %d online %d; want one of each", firing, resolved, offline, online)
	}
	mails := smtp.Messages()
	if len(mails) != 2 || !strings.Contains(mails[0], "FIRING") || !strings.Contains(mails[1], "RESOLVED") {
		t.Errorf("mails = %d: %q", len(mails), mails)
	}
	hookMu.Lock()
	defer hookMu.Unlock()
	if len(hooks) != 2 || hooks[0]["state"] != "firing" || hooks[1]["state"] != "resolved" || hooks[0]["device"] != box1Dev {
		t.Errorf("webhook calls = %v", hooks)
	}
	if !strings.Contains(mails[0], "is offline for") {
		t.Errorf("mail text: %s", mails[0])
	}
}
