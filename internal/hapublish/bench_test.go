package hapublish

import (
	"testing"

	"github.com/accountbridge/accountbridge/internal/discovery"
	"github.com/accountbridge/accountbridge/internal/mqtt"
	"github.com/accountbridge/accountbridge/internal/providers"
)

// unconnected is a publisher on a client that never connects.
func unconnected(b *testing.B) *Publisher {
	conn, err := mqtt.New(mqtt.Options{Broker: "tcp://127.0.0.1:1", AvailabilityTopic: "ab/bridge/availability", QoS: 1})
	if err != nil {
		b.Fatal(err)
	}
	return New(conn, Options{Discovery: true, Topics: discovery.Options{BaseTopic: "ab", DiscoveryPrefix: "ha", QoS: 1}})
}

// BenchmarkPublishUnchanged measures what every poll with unchanged data costs: build the
// discovery config and the state, compare with the last published, send nothing.
func BenchmarkPublishUnchanged(b *testing.B) {
	cl := unconnected(b)
	dev := providers.Device{ID: "gas_home", Name: "Gas", Values: map[string]any{}}
	for _, k := range []string{"balance", "meter", "today", "month", "year", "price"} {
		dev.Entities = append(dev.Entities, providers.Entity{Key: k, Name: k, Component: providers.Sensor, StateClass: "measurement"})
		dev.Values[k] = 42.5
	}
	snap := providers.Snapshot{Account: "home", Devices: []providers.Device{dev}}
	cl.PublishSnapshot(snap)
	b.ReportAllocs()
	for b.Loop() {
		if ch, _, _ := cl.PublishSnapshot(snap); len(ch) != 0 {
			b.Fatal("unchanged snapshot reported a change")
		}
	}
}

// BenchmarkPublishChanged is a poll whose state changed (one value): build discovery and
// state, detect the change, queue the state message (not connected here, so nothing
// leaves the process: the broker round trip is what bench/load measures).
func BenchmarkPublishChanged(b *testing.B) {
	cl := unconnected(b)
	dev := providers.Device{ID: "gas_home", Name: "Gas", Values: map[string]any{}}
	for _, k := range []string{"balance", "meter", "today", "month", "year", "price"} {
		dev.Entities = append(dev.Entities, providers.Entity{Key: k, Name: k, Component: providers.Sensor, StateClass: "measurement"})
		dev.Values[k] = 42.5
	}
	snap := providers.Snapshot{Account: "home", Devices: []providers.Device{dev}}
	cl.PublishSnapshot(snap)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		dev.Values["meter"] = float64(i)
		if ch, _, _ := cl.PublishSnapshot(snap); len(ch) != 1 || !ch[0].StateChanged {
			b.Fatal("changed snapshot not detected")
		}
	}
}
