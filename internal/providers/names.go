package providers

import (
	"slices"
	"strings"
)

// Names is a provider's table for one language: what Home Assistant shows. Entity keys
// and device ids never change with the language, so entity ids stay ASCII and stable.
type Names struct {
	Entities map[string]string // entity key → name
	// DevicePrefixes maps an English device-name prefix to its translation, e.g.
	// "China Telecom " → "中国电信 "; the rest of the name (a masked number, a 户号) stays.
	DevicePrefixes map[string]string
}

// Apply returns dev with its entity and device names in the table's language. Names the
// table does not know stay as they are.
func (n Names) Apply(dev Device) Device {
	for en, local := range n.DevicePrefixes {
		if rest, ok := strings.CutPrefix(dev.Name, en); ok {
			dev.Name = local + rest
			break
		}
	}
	if len(n.Entities) == 0 {
		return dev
	}
	ents := make([]Entity, len(dev.Entities))
	copy(ents, dev.Entities)
	for i, e := range ents {
		if name, ok := n.Entities[e.Key]; ok {
			ents[i].Name = name
		}
	}
	dev.Entities = ents
	return dev
}

// MissingNames lists the entity keys of devs the table has no name for (for tests that
// keep a provider's table complete).
func (n Names) MissingNames(devs ...Device) []string {
	var missing []string
	for _, d := range devs {
		for _, e := range d.Entities {
			if _, ok := n.Entities[e.Key]; !ok && !slices.Contains(missing, e.Key) {
				missing = append(missing, e.Key)
			}
		}
	}
	return missing
}
