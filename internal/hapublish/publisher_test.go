package hapublish_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/accountbridge/accountbridge/internal/discovery"
	"github.com/accountbridge/accountbridge/internal/hapublish"
	"github.com/accountbridge/accountbridge/internal/mqtt"
	"github.com/accountbridge/accountbridge/internal/mqtt/mqtttest"
	"github.com/accountbridge/accountbridge/internal/providers"
)

type fixture struct {
	b      *mqtttest.Broker
	topics discovery.Options
	status string
	client *mqtt.Client
	pub    *hapublish.Publisher
}

func setup(t *testing.T) *fixture {
	t.Helper()
	b := mqtttest.Start(t)
	f := &fixture{b: b, topics: discovery.Options{
		BaseTopic: b.Prefix("ab"), DiscoveryPrefix: b.Prefix("ha"), QoS: 1,
		Origin: discovery.Origin{Name: "accountbridge", SWVersion: "test"},
	}}
	f.status = f.topics.DiscoveryPrefix + "/status"
	return f
}

func (f *fixture) connect(t *testing.T) *hapublish.Publisher {
	t.Helper()
	c, err := mqtt.New(mqtt.Options{Broker: f.b.URL(), ClientID: "test-" + f.topics.BaseTopic,
		AvailabilityTopic: f.topics.BridgeAvailabilityTopic(), QoS: 1,
		ProbeInterval: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	f.pub = hapublish.New(c, hapublish.Options{Topics: f.topics, Discovery: true})
	c.Start()
	t.Cleanup(c.Close)
	f.client = c
	return f.pub
}

func (f *fixture) watch(t *testing.T) *mqtttest.Watcher {
	return f.b.Watch(t, f.topics.BaseTopic+"/#", f.topics.DiscoveryPrefix+"/#")
}

// online waits until the client said it is online and returns a watcher that has seen
// everything up to then. A watcher that subscribes while the client publishes its
// retained "online" may get it twice (the stored copy and the live one): the drain keeps
// the second out of what a test counts.
func (f *fixture) online(t *testing.T) *mqtttest.Watcher {
	t.Helper()
	w := f.watch(t)
	w.WaitFor(f.topics.BridgeAvailabilityTopic(), "online")
	f.publishedSince(t, w)
	return w
}

func snapshot(account string, balance float64, keys ...string) providers.Snapshot {
	dev := providers.Device{ID: "demo_" + account, Name: "Demo " + account, Values: map[string]any{}}
	for _, k := range keys {
		dev.Entities = append(dev.Entities, providers.Entity{Key: k, Name: k, Component: providers.Sensor,
			DeviceClass: "monetary", StateClass: "total", Unit: "CNY"})
		dev.Values[k] = balance
	}
	return providers.Snapshot{Account: account, Devices: []providers.Device{dev}}
}

// marker publishes a message through the client under test and returns everything the
// watcher saw before it: MQTT keeps one publisher's messages in order.
func (f *fixture) publishedSince(t *testing.T, w *mqtttest.Watcher) []mqtttest.Message {
	t.Helper()
	marker := f.topics.BaseTopic + "/test_marker"
	if err := f.client.Publish(marker, []byte("m"), false); err != nil {
		t.Fatal(err)
	}
	return w.Until(marker)
}

func TestSnapshotPublishesDiscoveryStateAvailability(t *testing.T) {
	f := setup(t)
	c := f.connect(t)
	w := f.online(t)

	changes, removed, err := c.PublishSnapshot(snapshot("a", 12.5, "balance"))
	if err != nil || len(removed) != 0 {
		t.Fatalf("err=%v removed=%v", err, removed)
	}
	if len(changes) != 1 || !changes[0].Discovery || !changes[0].StateChanged || string(changes[0].State) != `{"balance":12.5}` {
		t.Fatalf("changes = %+v", changes)
	}
	got := f.publishedSince(t, w)
	want := []string{f.topics.DiscoveryTopic("demo_a"), f.topics.StateTopic("demo_a"), f.topics.AvailabilityTopic("demo_a")}
	if topics := mqtttest.Topics(got, ""); strings.Join(topics, " ") != strings.Join(want, " ") {
		t.Fatalf("published %v, want %v", topics, want)
	}
	var cfg map[string]any
	if err := json.Unmarshal([]byte(got[0].Payload), &cfg); err != nil {
		t.Fatalf("discovery is not JSON: %v", err)
	}
	if got[1].Payload != `{"balance":12.5}` || got[2].Payload != "online" {
		t.Errorf("state %q availability %q", got[1].Payload, got[2].Payload)
	}
	for _, topic := range want {
		if m := f.b.Watch(t, topic).WaitFor(topic, "*"); !m.Retained {
			t.Errorf("%s not retained", topic)
		}
	}
}

func TestUnchangedSnapshotPublishesNothing(t *testing.T) {
	f := setup(t)
	c := f.connect(t)
	w := f.online(t)
	c.PublishSnapshot(snapshot("a", 1, "balance"))
	f.publishedSince(t, w)

	changes, _, _ := c.PublishSnapshot(snapshot("a", 1, "balance"))
	if len(changes) != 0 {
		t.Errorf("changes = %+v", changes)
	}
	if got := f.publishedSince(t, w); len(got) != 0 {
		t.Errorf("unchanged snapshot published %v", got)
	}
	// A changed value publishes the state only.
	c.PublishSnapshot(snapshot("a", 2, "balance"))
	got := f.publishedSince(t, w)
	if len(got) != 1 || got[0].Topic != f.topics.StateTopic("demo_a") || got[0].Payload != `{"balance":2}` {
		t.Errorf("changed value published %v", got)
	}
}

func TestRemovedEntityAndDevice(t *testing.T) {
	f := setup(t)
	c := f.connect(t)
	w := f.online(t)
	c.PublishSnapshot(snapshot("a", 1, "balance", "arrears"))
	f.publishedSince(t, w)

	c.PublishSnapshot(snapshot("a", 1, "balance"))
	got := f.publishedSince(t, w)
	topic := f.topics.DiscoveryTopic("demo_a")
	var configs []map[string]map[string]any
	for _, m := range got {
		if m.Topic == topic {
			var p struct {
				Cmps map[string]map[string]any `json:"cmps"`
			}
			json.Unmarshal([]byte(m.Payload), &p)
			configs = append(configs, p.Cmps)
		}
	}
	if len(configs) != 2 {
		t.Fatalf("want a removal config then the final one, got %d: %v", len(configs), got)
	}
	if rm := configs[0]["arrears"]; len(rm) != 1 || rm["platform"] != "sensor" {
		t.Errorf("removal config has arrears = %v", rm)
	}
	if _, still := configs[1]["arrears"]; still {
		t.Error("final config still has arrears")
	}

	// The account now reports no device: its device is removed from HA.
	_, removed, _ := c.PublishSnapshot(providers.Snapshot{Account: "a"})
	if len(removed) != 1 || removed[0] != "demo_a" {
		t.Errorf("removed = %v", removed)
	}
	got = f.publishedSince(t, w)
	if len(got) == 0 || got[0].Topic != topic || got[0].Payload != "" {
		t.Errorf("device removal published %v", got)
	}
}

func TestRepublishAfterBrokerRestart(t *testing.T) {
	f := setup(t)
	c := f.connect(t)
	f.watch(t).WaitFor(f.topics.BridgeAvailabilityTopic(), "online")
	c.PublishSnapshot(snapshot("a", 7, "balance"))
	reconnectsBefore := f.client.Reconnects()

	f.b.Restart()
	// The restarted broker has no retained messages: everything it has now, the client re-published.
	f.watch(t).WaitAll(map[string]string{
		f.topics.BridgeAvailabilityTopic():   "online",
		f.topics.DiscoveryTopic("demo_a"):    "*",
		f.topics.StateTopic("demo_a"):        `{"balance":7}`,
		f.topics.AvailabilityTopic("demo_a"): "online",
	})
	if f.client.Reconnects() <= reconnectsBefore {
		t.Errorf("reconnects = %d, want > %d", f.client.Reconnects(), reconnectsBefore)
	}
}

func TestHomeAssistantBirthTriggersRepublish(t *testing.T) {
	f := setup(t)
	c := f.connect(t)
	w := f.online(t)
	c.PublishSnapshot(snapshot("a", 3, "balance"))
	f.publishedSince(t, w)

	w.Publish(f.status, "offline", false)
	w.Publish(f.status, "online", false)
	w.WaitAll(map[string]string{f.topics.DiscoveryTopic("demo_a"): "*", f.topics.StateTopic("demo_a"): `{"balance":3}`})
}

func TestAvailabilityFollowsAccount(t *testing.T) {
	f := setup(t)
	c := f.connect(t)
	w := f.online(t)
	c.PublishSnapshot(snapshot("a", 1, "balance"))
	f.publishedSince(t, w)
	c.SetAccountAvailable("a", false)
	c.SetAccountAvailable("a", false) // no second message
	got := f.publishedSince(t, w)
	if len(got) != 1 || got[0].Payload != "offline" {
		t.Errorf("got %v", got)
	}
	c.PublishSnapshot(snapshot("a", 1, "balance")) // a good poll brings it back
	if got := f.publishedSince(t, w); len(got) != 1 || got[0].Topic != f.topics.AvailabilityTopic("demo_a") || got[0].Payload != "online" {
		t.Errorf("got %v", got)
	}
}

func TestRestoreAndRetained(t *testing.T) {
	f := setup(t)
	c := f.connect(t)
	w := f.online(t)
	dev := snapshot("a", 1, "balance").Devices[0]
	if err := c.Restore("a", dev, []byte(`{"balance":1}`)); err != nil {
		t.Fatal(err)
	}
	c.SetRetained(f.topics.BaseTopic+"/bridge/info", []byte(`{"v":1}`))
	c.SetRetained(f.topics.BaseTopic+"/bridge/info", []byte(`{"v":1}`))
	got := f.publishedSince(t, w)
	if topics := mqtttest.Topics(got, ""); len(topics) != 3 {
		t.Errorf("published %v", topics)
	}
	// The restored device is not marked online until its account polls well; an identical
	// poll result publishes no state again.
	changes, _, _ := c.PublishSnapshot(snapshot("a", 1, "balance"))
	if len(changes) != 0 {
		t.Errorf("changes after restore = %+v", changes)
	}
	if got := f.publishedSince(t, w); len(got) != 1 || got[0].Payload != "online" {
		t.Errorf("got %v", got)
	}
}

func TestRemovalWhileDisconnectedIsDeliveredOnReconnect(t *testing.T) {
	f := setup(t)
	c := f.connect(t)
	w := f.watch(t)
	avail := f.topics.BridgeAvailabilityTopic()
	w.WaitFor(avail, "online")
	c.PublishSnapshot(snapshot("a", 1, "balance"))
	f.publishedSince(t, w)

	f.b.Down()
	w.WaitFor(avail, "offline") // the last will: the client is cut off
	_, removed, _ := c.PublishSnapshot(providers.Snapshot{Account: "a"})
	if len(removed) != 1 {
		t.Fatalf("removed = %v", removed)
	}
	f.b.Up()
	// After reconnecting, the client clears the removed device's retained topics.
	w.WaitAll(map[string]string{
		avail:                             "online",
		f.topics.DiscoveryTopic("demo_a"): "",
		f.topics.StateTopic("demo_a"):     "",
	})
}

func TestExtraTopics(t *testing.T) {
	f := setup(t)
	c := f.connect(t)
	w := f.online(t)
	snap := snapshot("a", 1, "balance")
	snap.Devices[0].Topics = map[string][]byte{"summary": []byte(`{"balance":100}`)}
	c.PublishSnapshot(snap)
	summary := f.topics.BaseTopic + "/demo_a/summary"
	if got := mqtttest.Topics(f.publishedSince(t, w), summary); len(got) != 1 {
		t.Fatalf("summary published %d times", len(got))
	}
	c.PublishSnapshot(snap) // unchanged: nothing
	if got := f.publishedSince(t, w); len(got) != 0 {
		t.Errorf("unchanged extra topic published %v", got)
	}
	snap.Devices[0].Topics = nil // gone: cleared
	c.PublishSnapshot(snap)
	got := f.publishedSince(t, w)
	if len(got) != 1 || got[0].Topic != summary || got[0].Payload != "" {
		t.Errorf("removed extra topic: %v", got)
	}
}

// An extra topic whose name is not allowed ("state" would overwrite the device's state) is
// left out when published and when re-published after Home Assistant's birth.
func TestExtraTopicNameNotAllowed(t *testing.T) {
	f := setup(t)
	c := f.connect(t)
	w := f.online(t)
	snap := snapshot("a", 1, "balance")
	topics := map[string][]byte{"summary": []byte(`{"balance":100}`), "state": []byte(`bogus`), "Bad-Name": []byte(`x`)}
	snap.Devices[0].Topics = topics
	c.PublishSnapshot(snap)
	if len(topics) != 3 {
		t.Errorf("the provider's map was changed: %v", topics)
	}
	check := func(when string, got []mqtttest.Message) {
		t.Helper()
		for _, m := range got {
			if m.Payload == "bogus" || m.Payload == "x" || strings.Contains(m.Topic, "Bad-Name") {
				t.Errorf("%s: %s = %q published", when, m.Topic, m.Payload)
			}
		}
		if len(mqtttest.Topics(got, f.topics.BaseTopic+"/demo_a/summary")) != 1 {
			t.Errorf("%s: summary not published once: %v", when, got)
		}
	}
	check("publish", f.publishedSince(t, w))
	w.Publish(f.status, "online", false)
	w.WaitFor(f.topics.DiscoveryTopic("demo_a"), "*")
	check("re-publish", f.publishedSince(t, w))
}

// A re-publish goes out in batches of devices; every device of every batch reaches the
// restarted broker.
func TestRepublishInBatches(t *testing.T) {
	f := setup(t)
	c := f.connect(t)
	f.watch(t).WaitFor(f.topics.BridgeAvailabilityTopic(), "online")
	n := 2*hapublish.RepublishBatch + 3
	want := map[string]string{}
	// Concurrently, as the daemon's polls report: one after the other, each waits a
	// round trip (with Mosquitto, which delays small writes, about 44 ms each).
	var wg sync.WaitGroup
	for i := range n {
		account := fmt.Sprintf("a%03d", i)
		wg.Go(func() { c.PublishSnapshot(snapshot(account, float64(i), "balance")) })
		want[f.topics.StateTopic("demo_"+account)] = fmt.Sprintf(`{"balance":%d}`, i)
		want[f.topics.DiscoveryTopic("demo_"+account)] = "*"
	}
	wg.Wait()
	f.b.Restart()
	f.watch(t).WaitAll(want)
}
