package daemon

import (
	"runtime/debug"
	"runtime/metrics"
)

// DefaultGCPercent is the garbage collector's target for `bridge run` when the
// environment does not set GOGC: a collection starts when the heap has grown by half of
// the live data, instead of Go's default of all of it. The daemon's heap is mostly
// long-lived per-account records, so the memory Go keeps follows the setting almost one
// for one: at 10,000 accounts about 100 instead of 125 MB resident, for about a tenth more
// CPU per poll (docs/benchmarks.md, "Memory tuning"). GOGC=100 restores Go's default.
const DefaultGCPercent = 50

// TuneGC applies DefaultGCPercent unless getenv("GOGC") is set: then the runtime already
// follows the environment.
func TuneGC(getenv func(string) string) {
	if getenv("GOGC") == "" {
		debug.SetGCPercent(DefaultGCPercent)
	}
}

// gcPercent is the collector's target in effect (-1: off), for the start-up log line.
func gcPercent() int64 {
	s := []metrics.Sample{{Name: "/gc/gogc:percent"}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return int64(int32(s[0].Value.Uint64())) // GOGC=off reads as -1
}
