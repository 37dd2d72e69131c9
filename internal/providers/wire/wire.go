// Package wire holds what every provider needs to read its upstream and show what it
// read: lenient JSON types for values that arrive as numbers, strings, null or not at
// all (json.go), the upstreams' time zone, and rounding for display.
package wire

import (
	"math"
	"time"
)

// CST is Beijing time (UTC+8, no daylight saving), the zone every upstream here speaks:
// naive times it sends are Beijing times, and its "today" and "this month" are Beijing's.
// A fixed zone, not time.LoadLocation("Asia/Shanghai"): containers often lack tzdata.
var CST = time.FixedZone("CST", 8*3600)

// Round rounds v to places decimals for display. It never returns -0, and a value too
// large to scale (or NaN, ±Inf) is returned as it came.
func Round(v float64, places int) float64 {
	p := math.Pow10(places)
	r := math.Round(v*p) / p
	switch {
	case math.IsInf(r, 0) || math.IsNaN(r):
		return v
	case r == 0:
		return 0
	}
	return r
}
