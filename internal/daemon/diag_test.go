package daemon

import (
	"slices"
	"testing"
	"time"

	"github.com/accountbridge/accountbridge/internal/providers"
	"github.com/accountbridge/accountbridge/internal/providers/telecom"
)

// withPollDiagnostics adds the two poll entities after the provider's own and the two
// values, whatever list the provider sent, and leaves the provider's device as it was.
func TestWithPollDiagnostics(t *testing.T) {
	at := time.Date(2026, 11, 21, 18, 0, 0, 0, time.UTC)
	for _, tt := range []struct {
		name string
		es   []providers.Entity
	}{
		{"telecom", telecom.Entities(true, true)},
		{"telecom again", telecom.Entities(true, true)},
		{"other list", telecom.Entities(false, false)},
		{"none", nil},
	} {
		dev := providers.Device{ID: "d", Entities: tt.es, Values: map[string]any{"balance": 1.5}}
		got := withPollDiagnostics(dev, at, "boom")
		want := append(slices.Clone(tt.es), pollEntities...)
		if !providers.EntitiesEqual(got.Entities, want) {
			t.Errorf("%s: entities %v, want %v", tt.name, got.Entities, want)
		}
		if got.Values["last_poll"] != at || got.Values["last_error"] != "boom" || got.Values["balance"] != 1.5 || len(got.Values) != 3 {
			t.Errorf("%s: values %v", tt.name, got.Values)
		}
		if len(dev.Values) != 1 || len(dev.Entities) != len(tt.es) {
			t.Errorf("%s: the provider's device changed: %v", tt.name, dev)
		}
	}
}

// The poll diagnostics of a telecom device with packages and a shared plan, as every poll
// of such an account adds them (the provider builds its entity list anew each poll).
func BenchmarkWithPollDiagnostics(b *testing.B) {
	at := time.Now()
	b.ReportAllocs()
	for b.Loop() {
		dev := providers.Device{ID: "d", Entities: telecom.Entities(true, true), Values: map[string]any{"balance": 1.5}}
		dev = withPollDiagnostics(dev, at, "")
		dev.Entities = providers.InternEntities(dev.Entities) // what Snapshot does next
	}
}
