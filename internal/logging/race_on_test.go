//go:build race

package logging_test

// The race detector changes escape analysis, so allocation counts are only
// asserted without it.
const raceEnabled = true
