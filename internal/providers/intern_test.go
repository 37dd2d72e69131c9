package providers

import (
	"reflect"
	"slices"
	"testing"
)

// The comparisons and the hash name every field; a new field must be added to them.
func TestEntityFieldsCovered(t *testing.T) {
	if n := reflect.TypeFor[Entity]().NumField(); n != 14 {
		t.Fatalf("Entity has %d fields: update EntityEqual and HashEntities, then this count", n)
	}
	if n := reflect.TypeFor[Device]().NumField(); n != 11 {
		t.Fatalf("Device has %d fields: update SameModel, then this count", n)
	}
}

func TestInternEntities(t *testing.T) {
	mk := func(p int) []Entity {
		return []Entity{
			{Key: "balance", Name: "Balance", Component: Sensor, DeviceClass: "monetary", Unit: "CNY", Precision: Precision(p)},
			{Key: "state", Component: Sensor, Options: []string{"a", "b"}},
		}
	}
	a, b := mk(2), mk(2)
	ia, ib := InternEntities(a), InternEntities(b)
	if &ia[0] != &ib[0] {
		t.Error("equal lists were not shared")
	}
	if !EntitiesEqual(ia, a) || HashEntities(a) != HashEntities(b) {
		t.Error("interned list differs from its input")
	}
	c := mk(3)
	if ic := InternEntities(c); &ic[0] == &ia[0] || EntitiesEqual(ic, ia) {
		t.Error("a different precision was shared")
	}
	d := mk(2)
	d[1].Options = []string{"a", "c"}
	if EntitiesEqual(d, a) || HashEntities(d) == HashEntities(a) {
		t.Error("different options compare equal")
	}
	if SameModel(Device{ID: "x", Entities: a}, Device{ID: "x", Name: "n", Entities: a}) {
		t.Error("different names compare equal")
	}
	if !SameModel(Device{ID: "x", Entities: a, Values: map[string]any{"balance": 1.0}}, Device{ID: "x", Entities: b}) {
		t.Error("values must not matter")
	}
}

// A list that is already the shared one comes back as it is; a shorter view of it is a
// different list and is interned as such, not mistaken for the whole.
func TestInternEntitiesRecognisesSharedLists(t *testing.T) {
	es := []Entity{{Key: "fast_a", Name: "A"}, {Key: "fast_b", Name: "B"}, {Key: "fast_c", Name: "C"}}
	shared := InternEntities(slices.Clone(es))
	if again := InternEntities(shared); &again[0] != &shared[0] || len(again) != len(shared) {
		t.Fatal("the shared list was not returned as it is")
	}
	if equal := InternEntities(slices.Clone(es)); &equal[0] != &shared[0] {
		t.Error("an equal list did not get the shared one")
	}
	head := InternEntities(shared[:2])
	if len(head) != 2 || !EntitiesEqual(head, es[:2]) {
		t.Fatalf("view of the first two = %+v", head)
	}
	if other := InternEntities(slices.Clone(es[:2])); &other[0] != &head[0] {
		t.Error("the two-entity list is not shared")
	}
}
