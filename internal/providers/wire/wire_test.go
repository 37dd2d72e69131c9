package wire

import (
	"math"
	"testing"
)

func TestRound(t *testing.T) {
	for _, tt := range []struct {
		v      float64
		places int
		want   float64
	}{
		{7.6506452560424805, 2, 7.65},
		{7.6506452560424805, 3, 7.651},
		{2.675, 0, 3},
		{-0.0001, 2, 0}, // never -0
		{1e300, 3, 1e300},
		{math.Inf(1), 2, math.Inf(1)},
	} {
		got := Round(tt.v, tt.places)
		if got != tt.want || math.Signbit(got) != math.Signbit(tt.want) {
			t.Errorf("Round(%v, %d) = %v, want %v", tt.v, tt.places, got, tt.want)
		}
	}
	if !math.IsNaN(Round(math.NaN(), 2)) {
		t.Error("NaN not kept")
	}
}
