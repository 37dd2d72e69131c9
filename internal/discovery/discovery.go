// Package discovery turns the provider model into Home Assistant MQTT device-discovery
// payloads and JSON state payloads. Pure functions: no I/O, golden-tested.
package discovery

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/accountbridge/accountbridge/internal/logging"
	"github.com/accountbridge/accountbridge/internal/providers"
)

// BridgeDeviceID is the id of the daemon's own diagnostics device when it runs alone (see
// Options.BridgeID for shards). Its topics live under <base>/bridge, next to the
// daemon-wide availability topic.
const BridgeDeviceID = "bridge"

// Options are the topic layout and identity shared by every device.
type Options struct {
	BaseTopic       string // accountbridge
	DiscoveryPrefix string // homeassistant
	QoS             byte
	Origin          Origin
	// BridgeID is this instance's diagnostics device (shard.Shard.BridgeID): its
	// availability is the last will every device of the instance depends on, and the
	// instance's devices are linked to it. "" is BridgeDeviceID.
	BridgeID string
	// Namespace keeps this instance's Home Assistant identity apart from every real
	// installation's on the same broker and HA (`bridge demo` sets "demo"): device
	// identifiers and unique ids read accountbridge-<ns>_<device>[_<key>], discovery
	// topics <prefix>/device/accountbridge-<ns>_<device>/config and suggested entity ids
	// <component>.<ns>_…. A device id is [a-z0-9_]+, so with the "-" none of them can
	// equal a real installation's. "" (every `bridge run`) is the released layout.
	Namespace string
}

// Bridge is the id of this instance's diagnostics device.
func (o Options) Bridge() string {
	if o.BridgeID == "" {
		return BridgeDeviceID
	}
	return o.BridgeID
}

// Origin identifies the publishing application to HA.
type Origin struct {
	Name       string `json:"name"`
	SWVersion  string `json:"sw_version,omitempty"`
	SupportURL string `json:"support_url,omitempty"`
}

// Topics of one device. The discovery topic's object id is the device id, namespaced
// like its identifier when Namespace is set.
func (o Options) DiscoveryTopic(deviceID string) string {
	if o.Namespace != "" {
		deviceID = o.Identifier(deviceID)
	}
	return o.DiscoveryPrefix + "/device/" + deviceID + "/config"
}
func (o Options) StateTopic(deviceID string) string { return o.BaseTopic + "/" + deviceID + "/state" }
func (o Options) AvailabilityTopic(deviceID string) string {
	return o.BaseTopic + "/" + deviceID + "/availability"
}
func (o Options) EventTopic(deviceID string) string { return o.BaseTopic + "/" + deviceID + "/event" }

// ExtraTopic is where a device's extra retained payload named name (Device.Topics) goes.
func (o Options) ExtraTopic(deviceID, name string) string {
	return o.BaseTopic + "/" + deviceID + "/" + name
}
func (o Options) CommandTopic(deviceID, key string) string {
	return o.BaseTopic + "/" + deviceID + "/" + key + "/set"
}

// BridgeAvailabilityTopic carries online/offline for the whole daemon (the last will).
func (o Options) BridgeAvailabilityTopic() string { return o.AvailabilityTopic(o.Bridge()) }

// Identifier is the HA device identifier of a device. HA ids are namespaced with
// "accountbridge_" so they cannot collide with other MQTT integrations.
func Identifier(deviceID string) string { return "accountbridge_" + deviceID }

// UniqueID is the HA unique_id of an entity; it must never change once released.
func UniqueID(deviceID, key string) string { return Identifier(deviceID) + "_" + key }

// Identifier is the HA device identifier of a device of this instance: the package's
// Identifier, or accountbridge-<Namespace>_<device> when Namespace is set.
func (o Options) Identifier(deviceID string) string {
	if o.Namespace == "" {
		return Identifier(deviceID)
	}
	return "accountbridge-" + o.Namespace + "_" + deviceID
}

// UniqueID is the HA unique_id of an entity of this instance (see Identifier).
func (o Options) UniqueID(deviceID, key string) string { return o.Identifier(deviceID) + "_" + key }

// DefaultEntityID is the suggested entity id of an entity of this instance: the package's
// DefaultEntityID, with <Namespace>_ before the object id when Namespace is set.
func (o Options) DefaultEntityID(c providers.Component, deviceID, key string) string {
	id := DefaultEntityID(c, deviceID, key)
	if o.Namespace == "" {
		return id
	}
	return string(c) + "." + o.Namespace + "_" + strings.TrimPrefix(id, string(c)+".")
}

// DefaultEntityID is the entity id HA suggests when it first registers the entity, e.g.
// sensor.telecom_main_balance; the bridge's own entities read sensor.accountbridge_…, a
// shard's sensor.accountbridge_<index>_…. (No provider is named "bridge", so no account
// device id starts with "bridge_".)
func DefaultEntityID(c providers.Component, deviceID, key string) string {
	if rest, ok := strings.CutPrefix(deviceID, BridgeDeviceID); ok && (rest == "" || rest[0] == '_') {
		deviceID = "account" + deviceID
	}
	return string(c) + "." + deviceID + "_" + key
}

type deviceBlock struct {
	Identifiers      []string `json:"identifiers"`
	Name             string   `json:"name"`
	Manufacturer     string   `json:"manufacturer,omitempty"`
	Model            string   `json:"model,omitempty"`
	SWVersion        string   `json:"sw_version,omitempty"`
	ConfigurationURL string   `json:"configuration_url,omitempty"`
	ViaDevice        string   `json:"via_device,omitempty"`
}

type availability struct {
	Topic string `json:"topic"`
}

type payload struct {
	Device           deviceBlock          `json:"device"`
	Origin           Origin               `json:"origin"`
	Availability     []availability       `json:"availability"`
	AvailabilityMode string               `json:"availability_mode,omitempty"`
	QoS              byte                 `json:"qos"`
	Components       map[string]component `json:"cmps"`
}

// component is one entry of cmps. Empty fields are omitted: HA treats a present null
// differently from an absent key.
type component struct {
	Platform               string   `json:"platform"`
	UniqueID               string   `json:"unique_id,omitempty"`
	DefaultEntityID        string   `json:"default_entity_id,omitempty"`
	Name                   string   `json:"name,omitempty"`
	DeviceClass            string   `json:"device_class,omitempty"`
	StateClass             string   `json:"state_class,omitempty"`
	Unit                   string   `json:"unit_of_measurement,omitempty"`
	Precision              *int     `json:"suggested_display_precision,omitempty"`
	Icon                   string   `json:"icon,omitempty"`
	EntityCategory         string   `json:"entity_category,omitempty"`
	EnabledByDefault       *bool    `json:"enabled_by_default,omitempty"`
	Options                []string `json:"options,omitempty"`
	EventTypes             []string `json:"event_types,omitempty"`
	StateTopic             string   `json:"state_topic,omitempty"`
	ValueTemplate          string   `json:"value_template,omitempty"`
	JSONAttributesTopic    string   `json:"json_attributes_topic,omitempty"`
	JSONAttributesTemplate string   `json:"json_attributes_template,omitempty"`
	CommandTopic           string   `json:"command_topic,omitempty"`
}

// Result is the discovery of one device.
type Result struct {
	Topic   string
	Payload []byte
	// Components maps each published entity key to its platform (for later removals).
	Components map[string]providers.Component
	// Invalid lists entities left out because HA would reject them.
	Invalid []error
}

// Build makes the device-discovery message of dev. Entities HA would reject are left out
// and reported in Result.Invalid, so one bad entity cannot hide the whole device.
// removed lists entity keys (with their platform) that were published before and are gone
// now: they are sent as platform-only components, which is how HA removes them.
func Build(o Options, dev providers.Device, removed map[string]providers.Component) (Result, error) {
	if !providers.ValidID(dev.ID) {
		return Result{}, fmt.Errorf("discovery: device id %q must match [a-z0-9_]+", dev.ID)
	}
	if o.Namespace != "" && !providers.ValidID(o.Namespace) {
		return Result{}, fmt.Errorf("discovery: namespace %q must match [a-z0-9_]+", o.Namespace)
	}
	p := payload{
		Device: deviceBlock{
			Identifiers:      []string{o.Identifier(dev.ID)},
			Name:             dev.Name,
			Manufacturer:     dev.Manufacturer,
			Model:            dev.Model,
			SWVersion:        dev.SWVersion,
			ConfigurationURL: dev.ConfigurationURL,
		},
		Origin:       o.Origin,
		Availability: []availability{{Topic: o.BridgeAvailabilityTopic()}},
		QoS:          o.QoS,
		Components:   make(map[string]component, len(dev.Entities)+len(removed)),
	}
	if dev.ID != o.Bridge() {
		p.Device.ViaDevice = o.Identifier(o.Bridge())
		if dev.ViaDevice != "" {
			p.Device.ViaDevice = o.Identifier(dev.ViaDevice)
		}
		p.Availability = append(p.Availability, availability{Topic: o.AvailabilityTopic(dev.ID)})
		p.AvailabilityMode = "all"
	}
	res := Result{Topic: o.DiscoveryTopic(dev.ID), Components: map[string]providers.Component{}}
	for _, e := range dev.Entities {
		if err := ValidateEntity(e); err != nil {
			res.Invalid = append(res.Invalid, fmt.Errorf("device %s: %w", dev.ID, err))
			continue
		}
		if _, dup := res.Components[e.Key]; dup {
			res.Invalid = append(res.Invalid, fmt.Errorf("device %s: duplicate entity key %q", dev.ID, e.Key))
			continue
		}
		p.Components[e.Key] = buildComponent(o, dev.ID, e)
		res.Components[e.Key] = e.Component
	}
	for key, platform := range removed {
		if _, still := res.Components[key]; !still {
			p.Components[key] = component{Platform: string(platform)}
		}
	}
	if len(res.Components) == 0 {
		return res, errors.New("discovery: device " + dev.ID + " has no valid entity")
	}
	var err error
	res.Payload, err = json.Marshal(p)
	return res, err
}

// Components lists the entity keys (with their platform) that Build publishes for dev:
// the valid ones, first of each key. Callers keep the device model rather than the map.
func Components(dev providers.Device) map[string]providers.Component {
	out := make(map[string]providers.Component, len(dev.Entities))
	for _, e := range dev.Entities {
		if _, dup := out[e.Key]; dup || ValidateEntity(e) != nil {
			continue
		}
		out[e.Key] = e.Component
	}
	return out
}

func buildComponent(o Options, deviceID string, e providers.Entity) component {
	c := component{
		Platform:        string(e.Component),
		UniqueID:        o.UniqueID(deviceID, e.Key),
		DefaultEntityID: o.DefaultEntityID(e.Component, deviceID, e.Key),
		Name:            e.Name,
		DeviceClass:     e.DeviceClass,
		StateClass:      e.StateClass,
		Unit:            e.Unit,
		Precision:       e.Precision,
		Icon:            e.Icon,
		EntityCategory:  e.Category,
		Options:         e.Options,
	}
	if e.Disabled {
		f := false
		c.EnabledByDefault = &f
	}
	stateTopic := o.StateTopic(deviceID)
	if e.Topic != "" {
		stateTopic = o.ExtraTopic(deviceID, e.Topic)
	}
	switch e.Component {
	case providers.Sensor:
		c.StateTopic = stateTopic
		c.ValueTemplate = "{{ value_json." + e.Key + " if value_json." + e.Key + " is defined else 'None' }}"
	case providers.BinarySensor:
		c.StateTopic = stateTopic
		c.ValueTemplate = "{{ ('ON' if value_json." + e.Key + " else 'OFF') if value_json." + e.Key + " is defined else 'None' }}"
	case providers.Button:
		c.CommandTopic = o.CommandTopic(deviceID, e.Key)
	case providers.Event:
		c.StateTopic = o.EventTopic(deviceID)
		c.EventTypes = e.EventTypes
	}
	if e.Attributes && (e.Component == providers.Sensor || e.Component == providers.BinarySensor) {
		c.JSONAttributesTopic = o.StateTopic(deviceID)
		c.JSONAttributesTemplate = "{{ value_json.attributes." + e.Key + " | tojson if value_json.attributes is defined and value_json.attributes." + e.Key + " is defined else '{}' }}"
	}
	return c
}

// State encodes the device's values as the JSON object published on its state topic.
// Keys are sorted (encoding/json sorts map keys), so equal values give equal bytes and
// change detection is a byte comparison. Attributes go under "attributes".
//
// Values of entities that read from their own topic (providers.Entity.Topic) are left
// out: ValueTopics encodes them.
func State(dev providers.Device) ([]byte, error) {
	var elsewhere map[string]bool
	for _, e := range dev.Entities {
		if e.Topic != "" {
			if elsewhere == nil {
				elsewhere = map[string]bool{}
			}
			elsewhere[e.Key] = true
		}
	}
	keys := make([]string, 0, len(dev.Values)+1)
	for k := range dev.Values {
		if !elsewhere[k] {
			keys = append(keys, k)
		}
	}
	var attrs any
	if len(dev.Attributes) > 0 {
		attrs = dev.Attributes
	}
	return encodeValues(dev.ID, keys, dev.Values, attrs)
}

// PatchState returns state (a payload made by State) with some top-level values replaced
// or added, encoded as State encodes them: the same bytes State would make for the
// merged values. It lets a caller change one value (the last error after a failed poll,
// an alert) without keeping every device's values around.
func PatchState(state []byte, values map[string]any) ([]byte, error) {
	obj := map[string]json.RawMessage{}
	if len(state) > 0 {
		if err := json.Unmarshal(state, &obj); err != nil {
			return nil, fmt.Errorf("patch state: %w", err)
		}
	}
	for k, v := range values {
		if k == "attributes" {
			return nil, errors.New("patch state: attributes cannot be patched")
		}
		enc, err := stateValue(v)
		if err != nil {
			return nil, fmt.Errorf("patch state %s: %w", k, err)
		}
		raw, err := json.Marshal(enc)
		if err != nil {
			return nil, err
		}
		obj[k] = raw
	}
	return json.Marshal(obj)
}

// ValueTopics encodes the values of the entities that read from their own topic
// (providers.Entity.Topic): one JSON object per topic name, keyed and encoded like the
// state. Nil when there are none.
func ValueTopics(dev providers.Device) (map[string][]byte, error) {
	var keys map[string][]string // topic name → its keys
	for _, e := range dev.Entities {
		if e.Topic == "" {
			continue
		}
		if _, ok := dev.Values[e.Key]; !ok {
			continue
		}
		if keys == nil {
			keys = map[string][]string{}
		}
		keys[e.Topic] = append(keys[e.Topic], e.Key)
	}
	if keys == nil {
		return nil, nil
	}
	out := make(map[string][]byte, len(keys))
	for name, ks := range keys {
		b, err := encodeValues(dev.ID, ks, dev.Values, nil)
		if err != nil {
			return nil, err
		}
		out[name] = b
	}
	return out, nil
}

// MaxStateLength is the longest state Home Assistant accepts; a longer one is rejected.
const MaxStateLength = 255

func truncateState(s string) string {
	if len(s) <= MaxStateLength || utf8.RuneCountInString(s) <= MaxStateLength {
		return s // no copy: most states are short
	}
	return logging.CutRunes(s, MaxStateLength-1)
}

func stateValue(v any) (any, error) {
	switch x := v.(type) {
	case time.Time:
		return x.Format(time.RFC3339), nil
	case *time.Time:
		if x == nil {
			return nil, errors.New("nil time")
		}
		return x.Format(time.RFC3339), nil
	case time.Duration:
		return x.Seconds(), nil
	case float64:
		if x != x || x > 1e308 || x < -1e308 {
			return nil, errors.New("not a finite number")
		}
		return json.Number(strconv.FormatFloat(x, 'f', -1, 64)), nil
	case string:
		return truncateState(x), nil
	case float32, int, int32, int64, uint, uint32, uint64, bool, json.Number:
		return x, nil
	case nil:
		return nil, errors.New("nil value (leave the key out instead)")
	default:
		return nil, fmt.Errorf("unsupported value type %T", v)
	}
}
