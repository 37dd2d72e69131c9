// Package providers holds the contract every service provider implements, the registry
// that maps a provider kind to its factory, and the model a poll produces.
//
// The model is deliberately Home-Assistant shaped (components, device and state classes)
// but carries no MQTT or discovery detail: internal/discovery turns it into HA JSON.
package providers

import (
	"time"
)

// Component is the Home Assistant platform an entity is published on.
type Component string

const (
	Sensor       Component = "sensor"
	BinarySensor Component = "binary_sensor"
	Button       Component = "button"
	Event        Component = "event"
)

// Entity categories (HA allows only diagnostic on sensors and binary sensors).
const (
	CategoryDiagnostic = "diagnostic"
	CategoryConfig     = "config"
)

// Entity describes one Home Assistant entity of a device. Its Key is part of the HA
// unique_id and must never change once released.
type Entity struct {
	Key         string    // [a-z0-9_]+, unique within the device
	Name        string    // shown after the device name; must not repeat it
	Component   Component // sensor, binary_sensor, button, event
	DeviceClass string    // e.g. monetary, data_size, duration, timestamp, connectivity
	StateClass  string    // measurement, total, total_increasing
	Unit        string    // exactly as HA spells it (CNY, GiB, min, m³)
	Icon        string    // mdi:…
	Category    string    // "", CategoryDiagnostic, CategoryConfig (buttons only)
	Options     []string  // enum sensors
	Precision   *int      // suggested_display_precision
	Disabled    bool      // enabled_by_default: false (noisy diagnostics, dangerous buttons)
	EventTypes  []string  // event entities
	// Attributes: the entity reads HA attributes from State.Attributes[Key].
	Attributes bool
	// Topic, when set, is the topic (<base>/<device id>/<Topic>) the entity's value is
	// published on, in a JSON object keyed like the state, instead of the state topic. It
	// is meant for values that change on every poll by nature (PollTopic: the time of the
	// poll), so that the state is re-published only when a value really changed.
	Topic string
}

// PollTopic is the Entity.Topic of values that change on every poll (fetch times).
const PollTopic = "poll"

// Precision returns a pointer for Entity.Precision.
func Precision(n int) *int { return &n }

// Device is one Home Assistant device and its current values.
type Device struct {
	ID           string // <provider>_<account id>[_<sub id>], [a-z0-9_]+, stable forever
	Name         string
	Manufacturer string
	Model        string
	SWVersion    string
	// ConfigurationURL, when set, is shown as the device's "Visit" link in HA.
	ConfigurationURL string
	// ViaDevice is the id of the device this one is reached through (a OneCloud box via
	// its account); empty: the accountbridge device.
	ViaDevice string
	Entities  []Entity
	// Values maps an entity key to its value: float64/int/int64 for numbers, bool for
	// binary sensors, string, or time.Time (published as RFC 3339 with its offset).
	// A key that is absent is published as unknown, never as 0.
	Values map[string]any
	// Attributes maps an entity key (with Entity.Attributes set) to its HA attributes.
	Attributes map[string]map[string]any
	// Topics are extra retained payloads published on <base>/<device id>/<name>, for
	// compatibility with tools users already run (e.g. a legacy /summary JSON). Names match
	// [a-z0-9_]+ and must not be state, availability or event.
	Topics map[string][]byte
}

// Snapshot is the result of polling one account once. Its first device is the account's
// main device: the daemon adds the account's poll diagnostics (last successful poll, last
// error) to it.
type Snapshot struct {
	Account string
	Time    time.Time
	Devices []Device
}

// ValidID reports whether s is usable as an account id, device id or entity key:
// [a-z0-9_]+. Publishing checks names with it on every poll, hence no regexp.
func ValidID(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '_') {
			return false
		}
	}
	return s != ""
}

// ValidTopicName reports whether name may name an extra topic of a device (Device.Topics,
// Entity.Topic): an id that is not one of the device's own topics.
func ValidTopicName(name string) bool {
	return ValidID(name) && name != "state" && name != "availability" && name != "event"
}

// DeviceID builds a device id from its parts, e.g. DeviceID("telecom", "main") = "telecom_main".
func DeviceID(provider, account string, sub ...string) string {
	id := provider + "_" + account
	for _, s := range sub {
		id += "_" + SanitizeID(s)
	}
	return id
}

// SanitizeID lowercases s and replaces every character outside [a-z0-9_] with '_', for
// sub ids that come from upstream data (box serials, platform names).
func SanitizeID(s string) string {
	b := []byte(s)
	for i, c := range b {
		switch {
		case c >= 'A' && c <= 'Z':
			b[i] = c + 'a' - 'A'
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '_':
		default:
			b[i] = '_'
		}
	}
	return string(b)
}
