package daemon

import (
	"runtime/debug"
	"testing"
)

func TestTuneGC(t *testing.T) {
	old := debug.SetGCPercent(100)
	t.Cleanup(func() { debug.SetGCPercent(old) })
	for _, tc := range []struct {
		name string
		env  map[string]string
		want int64
	}{
		{"default", nil, DefaultGCPercent},
		{"GOGC set: the runtime's own reading stands", map[string]string{"GOGC": "100"}, 100},
		{"GOMEMLIMIT alone keeps the default percent", map[string]string{"GOMEMLIMIT": "80MiB"}, DefaultGCPercent},
	} {
		t.Run(tc.name, func(t *testing.T) {
			debug.SetGCPercent(100) // as the runtime starts with GOGC=100 or unset
			TuneGC(func(k string) string { return tc.env[k] })
			if got := gcPercent(); got != tc.want {
				t.Errorf("gc percent %d, want %d", got, tc.want)
			}
		})
	}
	debug.SetGCPercent(-1)
	if got := gcPercent(); got != -1 {
		t.Errorf("GOGC=off reads as %d, want -1", got)
	}
}
