package discovery

import (
	"testing"
	"time"

	"github.com/accountbridge/accountbridge/internal/providers"
)

// benchDevice is shaped like a telecom account: a dozen numeric sensors, a timestamp,
// a binary sensor and attributes.
func benchDevice() providers.Device {
	dev := providers.Device{ID: "telecom_main", Name: "China Telecom 189****5678", Values: map[string]any{},
		Attributes: map[string]map[string]any{"data_used": {"packages": []map[string]any{{"name": "A", "used": 1.5}}}}}
	for _, k := range []string{"balance", "arrears", "voice_used", "voice_remaining", "voice_total",
		"data_used", "data_remaining", "data_total", "special_used", "special_remaining", "special_total", "data_used_percent"} {
		dev.Entities = append(dev.Entities, providers.Entity{Key: k, Name: k, Component: providers.Sensor,
			StateClass: "measurement", Precision: providers.Precision(2)})
		dev.Values[k] = 12.34
	}
	dev.Entities = append(dev.Entities,
		providers.Entity{Key: "updated", Component: providers.Sensor, DeviceClass: "timestamp", Category: providers.CategoryDiagnostic},
		providers.Entity{Key: "throttled", Component: providers.BinarySensor, DeviceClass: "problem"})
	dev.Values["updated"] = time.Date(2026, 11, 21, 8, 0, 0, 0, time.FixedZone("", 8*3600))
	dev.Values["throttled"] = false
	return dev
}

func BenchmarkBuild(b *testing.B) {
	dev := benchDevice()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Build(testOptions, dev, nil); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkState(b *testing.B) {
	dev := benchDevice()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := State(dev); err != nil {
			b.Fatal(err)
		}
	}
}
