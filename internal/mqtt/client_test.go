package mqtt_test

import (
	"testing"
	"time"

	"github.com/accountbridge/accountbridge/internal/discovery"
	"github.com/accountbridge/accountbridge/internal/mqtt"
	"github.com/accountbridge/accountbridge/internal/mqtt/mqtttest"
)

type fixture struct {
	b      *mqtttest.Broker
	topics discovery.Options
	client *mqtt.Client
}

func setup(t *testing.T) *fixture {
	t.Helper()
	b := mqtttest.Start(t)
	f := &fixture{b: b, topics: discovery.Options{
		BaseTopic: b.Prefix("ab"), DiscoveryPrefix: b.Prefix("ha"), QoS: 1,
		Origin: discovery.Origin{Name: "accountbridge", SWVersion: "test"},
	}}
	return f
}

func (f *fixture) connect(t *testing.T) *mqtt.Client {
	t.Helper()
	c, err := mqtt.New(mqtt.Options{Broker: f.b.URL(), ClientID: "test-" + f.topics.BaseTopic,
		AvailabilityTopic: f.topics.BridgeAvailabilityTopic(), QoS: 1,
		ConnectRetry: 50 * time.Millisecond, MaxReconnect: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	c.Start()
	t.Cleanup(c.Close)
	f.client = c
	return c
}

func (f *fixture) watch(t *testing.T) *mqtttest.Watcher {
	return f.b.Watch(t, f.topics.BaseTopic+"/#", f.topics.DiscoveryPrefix+"/#")
}

func TestOnlineIsRetainedAfterConnect(t *testing.T) {
	f := setup(t)
	f.connect(t)
	avail := f.topics.BridgeAvailabilityTopic()
	w := f.watch(t)
	w.WaitFor(avail, "online")
	// A subscriber that arrives later still gets it: it is retained.
	m := f.b.Watch(t, avail).WaitFor(avail, "online")
	if !m.Retained {
		t.Error("online was not retained")
	}
}

func TestLastWillFiresOnUncleanDisconnect(t *testing.T) {
	f := setup(t)
	f.connect(t)
	avail := f.topics.BridgeAvailabilityTopic()
	w := f.b.Watch(t, avail)
	w.WaitFor(avail, "online")
	// Down, not DropConnections: were the client allowed straight back, it could take over
	// its session before the broker noticed the dropped connection, and the will would
	// race the new "online" (this test failed so under load). Refusing connections until
	// the will is seen makes the order certain.
	f.b.Down()
	w.WaitFor(avail, "offline")
	f.b.Up()
	// The client reconnects by itself and says online again.
	w.WaitFor(avail, "online")
}

func TestCloseSaysOffline(t *testing.T) {
	f := setup(t)
	c := f.connect(t)
	avail := f.topics.BridgeAvailabilityTopic()
	w := f.b.Watch(t, avail)
	w.WaitFor(avail, "online")
	c.Close()
	w.WaitFor(avail, "offline")
	if m := f.b.Watch(t, avail).WaitFor(avail, "*"); m.Payload != "offline" || !m.Retained {
		t.Errorf("retained availability after close = %+v", m)
	}
}

func TestCommandsReachHandlerButRetainedOnesDoNot(t *testing.T) {
	f := setup(t)
	c := f.connect(t)
	w := f.watch(t)
	w.WaitFor(f.topics.BridgeAvailabilityTopic(), "online")
	// A command left retained on the broker (a misconfigured flow) must not fire on subscribe.
	w.Publish(f.topics.BaseTopic+"/onecloud_a/withdraw/set", "stale", true)
	// Subscribe only once the broker has fanned it out (mochi acknowledges before it does),
	// so the client gets it as a retained replay and not as a live message.
	w.WaitFor(f.topics.BaseTopic+"/onecloud_a/withdraw/set", "stale")
	got := make(chan string, 4)
	c.Subscribe(mqtt.Subscription{Filter: f.topics.BaseTopic + "/+/+/set", Handler: func(topic string, payload []byte) {
		dev, key, ok := mqtt.CommandTopicParts(f.topics.BaseTopic, topic)
		if ok {
			got <- dev + "." + key + "=" + string(payload)
		}
	}})
	w.Publish(f.topics.BaseTopic+"/onecloud_a/withdraw/set", "PRESS", false)
	if cmd := <-got; cmd != "onecloud_a.withdraw=PRESS" {
		t.Errorf("command = %q (a retained command must be ignored)", cmd)
	}
	w.Publish(f.topics.BaseTopic+"/onecloud_a/withdraw/set", "", true) // clear it
}
