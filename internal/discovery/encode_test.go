package discovery

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/accountbridge/accountbridge/internal/providers"
)

// referenceState is how State encoded before it wrote JSON itself: json.Marshal of the
// stateValue of every value, attributes under "attributes".
func referenceState(dev providers.Device) ([]byte, error) {
	out := map[string]any{}
	for k, v := range dev.Values {
		enc, err := stateValue(v)
		if err != nil {
			return nil, fmt.Errorf("state of %s.%s: %w", dev.ID, k, err)
		}
		out[k] = enc
	}
	if len(dev.Attributes) > 0 {
		out["attributes"] = dev.Attributes
	}
	return json.Marshal(out)
}

func checkStateIsReference(t *testing.T, values map[string]any, attrs map[string]map[string]any) {
	t.Helper()
	dev := providers.Device{ID: "d", Values: values, Attributes: attrs}
	want, wantErr := referenceState(dev)
	got, err := State(dev)
	if (err != nil) != (wantErr != nil) {
		t.Fatalf("%q: error %v, reference %v", values, err, wantErr)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%q:\n got %s\nwant %s", values, got, want)
	}
}

// State writes exactly the reference's bytes (or fails where it fails) for every value kind.
func TestStateIsMarshal(t *testing.T) {
	cst := time.FixedZone("", 8*3600)
	at := time.Date(2026, 12, 6, 8, 0, 0, 0, cst)
	long := string(bytes.Repeat([]byte("数"), 300))
	cases := []map[string]any{
		{},
		{"balance": 12.5, "name": "plain", "ok": true, "n": 3, "big": uint64(1 << 63), "neg": -0.000001, "huge": 1e300},
		{"b": int32(-4), "a": int64(-9), "c": uint(7), "d": uint32(8), "e": float32(0.1), "dur": 90 * time.Second},
		{"html": "<b>&</b>", "quote": `say "hi"\`, "ctl": "line\nbreak\t", "zh": "余额不足", "sep": "a\u2028b", "bad": "\xff", "long": long},
		{"n1": json.Number("-0.25"), "n2": json.Number("1e5"), "n3": json.Number("007"), "n4": json.Number("1."), "n5": json.Number("-")},
		{"when": at, "ptr": &at, "utc": at.UTC()},
		{"key with \"quote\"": 1.0, "ключ": 2.0, "<k>": 3.0},
		{"nan": 0.0 / zero},
		{"nil": nil},
		{"nilptr": (*time.Time)(nil)},
		{"odd": []int{1}},
	}
	for _, values := range cases {
		checkStateIsReference(t, values, nil)
	}
	checkStateIsReference(t, map[string]any{"used": 1.5, "attributes": 2.0},
		map[string]map[string]any{"used": {"packages": []map[string]any{{"name": "A<1>", "used": 1.5}}}})
}

var zero float64

func FuzzState(f *testing.F) {
	f.Add("k", "v", 1.5, int64(3), true)
	f.Add("<", "\u2028\"\\", math.Copysign(0, -1), int64(-1), false)
	f.Add("", "\xff", 1e21, int64(0), true)
	f.Fuzz(func(t *testing.T, k, s string, x float64, i int64, b bool) {
		values := map[string]any{k: s, k + "f": x, k + "i": i, k + "b": b, "s" + k: s + k,
			k + "t": time.Unix(i%1e10, 0).In(time.FixedZone("", int(i%50000)))}
		checkStateIsReference(t, values, nil)
		checkStateIsReference(t, values, map[string]map[string]any{k: {s: x, "l": []any{s, x, i, b, nil}},
			"m": {"items": []map[string]any{{k: x}, {s: s}}}})
	})
}

// ValueTopics encodes each topic's values as State encodes values.
func TestValueTopicsEncodeAsState(t *testing.T) {
	dev := providers.Device{ID: "d",
		Entities: []providers.Entity{{Key: "a", Topic: "t1"}, {Key: "b<", Topic: "t1"}, {Key: "c", Topic: "t2"}, {Key: "gone", Topic: "t3"}, {Key: "s"}},
		Values:   map[string]any{"a": 1.25, "b<": "x&y", "c": true, "s": 1.0}}
	got, err := ValueTopics(dev)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"t1": `{"a":1.25,"b\u003c":"x\u0026y"}`, "t2": `{"c":true}`}
	if len(got) != len(want) {
		t.Fatalf("topics %q, want %q", got, want)
	}
	for name, w := range want {
		if string(got[name]) != w {
			t.Errorf("%s = %s, want %s", name, got[name], w)
		}
	}
	state, err := State(dev)
	if err != nil || string(state) != `{"s":1}` {
		t.Errorf("state = %s, %v; want only the key without a topic", state, err)
	}
}

// Attributes of every shape the providers use (and some they do not) encode as json.Marshal.
func TestAttributesAreMarshal(t *testing.T) {
	attrs := []map[string]map[string]any{
		{"data_used": {"items": []map[string]any{{"name": "国内通用流量<1>", "used_gib": 1.5, "unlimited": true}, nil},
			"packages": []any{map[string]any{"title": "A&B", "products": []any{"x", 2, int64(-3), nil, 1e-7, 1e21, 123456789.125}}},
			"empty":    []any{}, "nilmap": map[string]any(nil), "nillist": []any(nil), "nilmaps": []map[string]any(nil)}},
		{"throttled": {"speed_cap_gib": 40.0, "zero": 0.0, "neg": -0.000001, "tiny": 5e-324}},
		{"share_members": {"members": []any{map[string]any{"phone": "189****5678", "data_gib": 2.25}}},
			"odd": {"strs": []string{"a", "<"}, "ints": []int{1}, "when": time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC), "f32": float32(1.1)}},
		{"bad": {"nan": []any{0.0 / zero}}},
	}
	for _, a := range attrs {
		checkStateIsReference(t, map[string]any{"data_used": 1.0}, a)
	}
}
