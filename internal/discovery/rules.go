package discovery

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"

	"github.com/accountbridge/accountbridge/internal/providers"
)

// sensor_rules.json lists Home Assistant's sensor device classes with their allowed units
// and state classes (taken from HA's sensor constants; kept in this package). Since HA 2025.7 a unit that does not
// fit its device class makes HA drop the whole discovery config, so every entity is checked
// against it before it is published.
//
//go:embed sensor_rules.json
var rulesJSON []byte

type deviceClassRule struct {
	Units        json.RawMessage `json:"units"` // list of strings/null, or "ISO4217"
	StateClasses []string        `json:"state_classes"`
}

type rulesFile struct {
	DeviceClasses map[string]deviceClassRule `json:"device_classes"`
}

type classRule struct {
	units        []string // "" means "no unit"
	anyUnit      bool
	currency     bool
	stateClasses []string
}

var sensorRules = mustLoadRules()

func mustLoadRules() map[string]classRule {
	var f rulesFile
	if err := json.Unmarshal(rulesJSON, &f); err != nil {
		panic("discovery: sensor_rules.json: " + err.Error())
	}
	out := make(map[string]classRule, len(f.DeviceClasses))
	for name, r := range f.DeviceClasses {
		cr := classRule{stateClasses: r.StateClasses}
		var asString string
		var asList []*string
		switch {
		case json.Unmarshal(r.Units, &asString) == nil:
			switch asString {
			case "ISO4217":
				cr.currency = true
			default: // "any (or none)" for sensors without a device class
				cr.anyUnit = true
			}
		case json.Unmarshal(r.Units, &asList) == nil:
			for _, u := range asList {
				if u == nil {
					cr.units = append(cr.units, "")
				} else {
					cr.units = append(cr.units, *u)
				}
			}
		default:
			panic("discovery: sensor_rules.json: bad units for " + name)
		}
		out[name] = cr
	}
	return out
}

// HA's binary_sensor, button and event device classes (homeassistant/components/*/__init__.py).
var (
	binarySensorClasses = []string{"battery", "battery_charging", "carbon_monoxide", "cold",
		"connectivity", "door", "garage_door", "gas", "heat", "light", "lock", "moisture", "motion",
		"moving", "occupancy", "opening", "plug", "power", "presence", "problem", "running",
		"safety", "smoke", "sound", "tamper", "update", "vibration", "window"}
	buttonClasses = []string{"identify", "restart", "update"}
	eventClasses  = []string{"button", "doorbell", "motion"}
	nonNumeric    = []string{"date", "enum", "timestamp", "uptime"}
	currencyCode  = regexp.MustCompile(`^[A-Z]{3}$`)
)

// ValidateEntity reports why Home Assistant would reject or mis-handle e, or nil.
func ValidateEntity(e providers.Entity) error {
	if !providers.ValidID(e.Key) {
		return fmt.Errorf("entity key %q must match [a-z0-9_]+", e.Key)
	}
	if e.Key == "attributes" {
		return fmt.Errorf("entity key %q is reserved for the state's attribute object", e.Key)
	}
	if e.Topic != "" {
		if !providers.ValidTopicName(e.Topic) {
			return fmt.Errorf("%s: topic %q must match [a-z0-9_]+ and not be state, availability or event", e.Key, e.Topic)
		}
		if e.Component != providers.Sensor && e.Component != providers.BinarySensor {
			return fmt.Errorf("%s: only sensors and binary sensors read from a topic", e.Key)
		}
	}
	if e.Category != "" && e.Category != providers.CategoryDiagnostic && e.Category != providers.CategoryConfig {
		return fmt.Errorf("%s: entity category %q is neither diagnostic nor config", e.Key, e.Category)
	}
	switch e.Component {
	case providers.Sensor:
		return validateSensor(e)
	case providers.BinarySensor:
		if e.Category == providers.CategoryConfig {
			return fmt.Errorf("%s: a binary_sensor cannot have entity category config", e.Key)
		}
		if e.Unit != "" || e.StateClass != "" || len(e.Options) > 0 {
			return fmt.Errorf("%s: a binary_sensor takes no unit, state class or options", e.Key)
		}
		return classIn(e, binarySensorClasses)
	case providers.Button:
		if e.Unit != "" || e.StateClass != "" {
			return fmt.Errorf("%s: a button takes no unit or state class", e.Key)
		}
		return classIn(e, buttonClasses)
	case providers.Event:
		if len(e.EventTypes) == 0 {
			return fmt.Errorf("%s: an event entity needs event types", e.Key)
		}
		if e.Unit != "" || e.StateClass != "" {
			return fmt.Errorf("%s: an event takes no unit or state class", e.Key)
		}
		return classIn(e, eventClasses)
	default:
		return fmt.Errorf("%s: unsupported component %q", e.Key, e.Component)
	}
}

func classIn(e providers.Entity, allowed []string) error {
	if e.DeviceClass != "" && !slices.Contains(allowed, e.DeviceClass) {
		return fmt.Errorf("%s: %s device class %q is not one of %v", e.Key, e.Component, e.DeviceClass, allowed)
	}
	return nil
}

func validateSensor(e providers.Entity) error {
	if e.Category == providers.CategoryConfig {
		return fmt.Errorf("%s: a sensor cannot have entity category config", e.Key)
	}
	class := e.DeviceClass
	if class == "" {
		class = "none"
	}
	rule, ok := sensorRules[class]
	if !ok {
		return fmt.Errorf("%s: unknown sensor device class %q", e.Key, e.DeviceClass)
	}
	if slices.Contains(nonNumeric, class) {
		if e.Unit != "" || e.StateClass != "" || e.Precision != nil {
			return fmt.Errorf("%s: a %s sensor takes no unit, state class or precision", e.Key, class)
		}
	}
	if class == "enum" {
		if len(e.Options) == 0 {
			return fmt.Errorf("%s: an enum sensor needs options", e.Key)
		}
	} else if len(e.Options) > 0 {
		return fmt.Errorf("%s: options need device class enum", e.Key)
	}
	switch {
	case rule.anyUnit:
	case rule.currency:
		if !currencyCode.MatchString(e.Unit) {
			return fmt.Errorf("%s: monetary unit %q is not an ISO 4217 code", e.Key, e.Unit)
		}
	default:
		if len(rule.units) > 0 && !slices.Contains(rule.units, e.Unit) {
			return fmt.Errorf("%s: unit %q is not valid with device class %s (allowed: %q)", e.Key, e.Unit, class, rule.units)
		}
	}
	if e.StateClass != "" && !slices.Contains(rule.stateClasses, e.StateClass) {
		return fmt.Errorf("%s: state class %q is not valid with device class %s (allowed: %v)", e.Key, e.StateClass, class, rule.stateClasses)
	}
	if e.StateClass == "measurement_angle" && e.Unit != "°" {
		return fmt.Errorf("%s: state class measurement_angle needs unit °", e.Key)
	}
	if e.Precision != nil && *e.Precision < 0 {
		return fmt.Errorf("%s: negative display precision", e.Key)
	}
	return nil
}
