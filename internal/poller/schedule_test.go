package poller

import (
	"strings"
	"testing"
	"time"
)

func TestParseSchedule(t *testing.T) {
	valid := map[string]time.Duration{
		"0 * * * *":             time.Hour,
		"*/10 * * * *":          10 * time.Minute,
		"*/30 * * * * *":        30 * time.Second, // leading seconds field
		"@every 10m":            10 * time.Minute,
		"@every 1s":             time.Second,
		"@hourly":               time.Hour,
		"@daily":                24 * time.Hour,
		"  0 8 * * *  ":         24 * time.Hour,
		"CRON_TZ=UTC 0 8 * * *": 24 * time.Hour,
		"*/60 * * * *":          time.Hour, // a step as long as its field still fires
	}
	for spec, interval := range valid {
		s, err := ParseSchedule(spec)
		if err != nil {
			t.Errorf("ParseSchedule(%q): %v", spec, err)
			continue
		}
		if got := Interval(s, t0); got != interval {
			t.Errorf("Interval(%q) = %s, want %s", spec, got, interval)
		}
	}

	invalid := map[string]string{
		"every hour":       `invalid schedule "every hour": expected a cron spec like "0 * * * *" or "@every 1h"`,
		"":                 `invalid schedule ""`,
		"61 * * * *":       `invalid schedule "61 * * * *": expected a cron spec`,
		"@every 500ms":     `invalid schedule "@every 500ms": the shortest interval is 1s`,
		"@every -1h":       `the shortest interval is 1s`,
		"@every soon":      `invalid schedule "@every soon"`,
		"@fortnightly":     `invalid schedule "@fortnightly"`,
		"TZ=UTC":           `invalid schedule "TZ=UTC"`,
		"0 0 30 2 *":       `it never fires`,
		"*/61 * * * *":     `step 61 in the minute field is longer than its 60 values`,
		"0 */25 * * *":     `step 25 in the hour field is longer than its 24 values`,
		"0,*/61 * * * * *": `step 61 in the second field`,
		"0 0 1 1-12/13 *":  `step 13 in the month field`,
	}
	for spec, want := range invalid {
		_, err := ParseSchedule(spec)
		if err == nil {
			t.Errorf("ParseSchedule(%q) succeeded", spec)
			continue
		}
		if !strings.Contains(err.Error(), want) {
			t.Errorf("ParseSchedule(%q) = %q, want it to contain %q", spec, err, want)
		}
	}
}

func TestBackoffDurations(t *testing.T) {
	p, err := New(Options{Results: newRecorder(), State: newMemStore()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := map[int]time.Duration{ // defaults: base 1m, max 6h
		1: time.Minute, 2: 2 * time.Minute, 3: 4 * time.Minute, 9: 256 * time.Minute,
		10: 6 * time.Hour, 100: 6 * time.Hour, 1 << 30: 6 * time.Hour,
	}
	for n, d := range want {
		if got := p.backoff(n); got != d {
			t.Errorf("backoff(%d) = %s, want %s", n, got, d)
		}
	}
}
