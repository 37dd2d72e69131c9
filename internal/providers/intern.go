package providers

import (
	"encoding/binary"
	"hash/maphash"
	"math"
	"slices"
	"sync"
)

// Entity lists are the bulk of a device model, and the devices of one provider have the
// same list (keys, names, classes, units) whatever the account. A daemon with thousands
// of accounts keeps one model per device, so equal lists are shared rather than repeated.

var entitySeed = maphash.MakeSeed()

const maxInterned = 4096 // distinct lists kept; beyond that lists are not shared (no leak)

var interned struct {
	sync.Mutex
	m map[uint64][][]Entity
	n int
	// first maps each shared list's first element to its length: a list that is already
	// the shared one (the common case: providers that return shared lists, and lists
	// interned twice on their way to the publisher) is recognised without hashing it.
	first map[*Entity]int
}

// InternEntities returns a list equal to es that is shared with every other caller that
// passed an equal list. The result must not be modified: append to slices.Clip(result).
func InternEntities(es []Entity) []Entity {
	if len(es) == 0 {
		return es
	}
	interned.Lock()
	if n, ok := interned.first[&es[0]]; ok && n == len(es) {
		interned.Unlock()
		return es
	}
	interned.Unlock()
	h := HashEntities(es)
	interned.Lock()
	defer interned.Unlock()
	for _, cand := range interned.m[h] {
		if EntitiesEqual(cand, es) {
			return cand
		}
	}
	if interned.n >= maxInterned {
		return es
	}
	if interned.m == nil {
		interned.m = map[uint64][][]Entity{}
		interned.first = map[*Entity]int{}
	}
	own := slices.Clip(slices.Clone(es))
	interned.m[h] = append(interned.m[h], own)
	interned.first[&own[0]] = len(own)
	interned.n++
	return own
}

// HashEntities hashes every field of every entity (equal lists hash equal).
func HashEntities(es []Entity) uint64 {
	var h maphash.Hash
	h.SetSeed(entitySeed)
	var buf [8]byte
	num := func(n uint64) {
		binary.LittleEndian.PutUint64(buf[:], n)
		h.Write(buf[:])
	}
	str := func(s string) {
		num(uint64(len(s)))
		h.WriteString(s)
	}
	strs := func(ss []string) {
		num(uint64(len(ss)))
		for _, s := range ss {
			str(s)
		}
	}
	flag := func(b bool) {
		if b {
			num(1)
		} else {
			num(0)
		}
	}
	num(uint64(len(es)))
	for i := range es {
		e := &es[i]
		str(e.Key)
		str(e.Name)
		str(string(e.Component))
		str(e.DeviceClass)
		str(e.StateClass)
		str(e.Unit)
		str(e.Icon)
		str(e.Category)
		strs(e.Options)
		if e.Precision == nil {
			num(math.MaxUint64)
		} else {
			num(uint64(*e.Precision))
		}
		flag(e.Disabled)
		strs(e.EventTypes)
		flag(e.Attributes)
		str(e.Topic)
	}
	return h.Sum64()
}

// EntitiesEqual reports whether a and b list equal entities in the same order.
func EntitiesEqual(a, b []Entity) bool {
	if len(a) != len(b) {
		return false
	}
	if len(a) > 0 && &a[0] == &b[0] {
		return true
	}
	for i := range a {
		if !EntityEqual(a[i], b[i]) {
			return false
		}
	}
	return true
}

// EntityEqual compares every field (Precision by value).
func EntityEqual(a, b Entity) bool {
	if a.Key != b.Key || a.Name != b.Name || a.Component != b.Component || a.DeviceClass != b.DeviceClass ||
		a.StateClass != b.StateClass || a.Unit != b.Unit || a.Icon != b.Icon || a.Category != b.Category ||
		a.Disabled != b.Disabled || a.Attributes != b.Attributes || a.Topic != b.Topic ||
		!slices.Equal(a.Options, b.Options) || !slices.Equal(a.EventTypes, b.EventTypes) {
		return false
	}
	if (a.Precision == nil) != (b.Precision == nil) {
		return false
	}
	return a.Precision == nil || *a.Precision == *b.Precision
}

// SameModel reports whether a and b are the same device apart from their values,
// attributes and extra topics: everything Home Assistant discovery is built from.
func SameModel(a, b Device) bool {
	return a.ID == b.ID && a.Name == b.Name && a.Manufacturer == b.Manufacturer && a.Model == b.Model &&
		a.SWVersion == b.SWVersion && a.ConfigurationURL == b.ConfigurationURL && a.ViaDevice == b.ViaDevice &&
		EntitiesEqual(a.Entities, b.Entities)
}
