package config

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Duration is a time.Duration written as a Go duration string ("90s", "1h30m"), with "d"
// for days as well ("7d", "1d12h"). Bare numbers other than 0 are refused: "30" could mean
// seconds or minutes.
type Duration time.Duration

// D returns the value as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// String writes the shortest form that parses back: "30s", "1h30m", "7d".
func (d Duration) String() string {
	const day = 24 * time.Hour
	v := time.Duration(d)
	if v != 0 && v%day == 0 {
		return strconv.FormatInt(int64(v/day), 10) + "d"
	}
	s := v.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// MarshalYAML writes the duration as its String form.
func (d Duration) MarshalYAML() (any, error) { return d.String(), nil }

// UnmarshalYAML lets Duration be used with plain yaml.Unmarshal too.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := parseDuration(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: expected a duration like 30s or 1h, got %q", n.Line, n.Value)
	}
	*d = Duration(v)
	return nil
}

var errNoUnit = errors.New("duration without a unit")

// maxDays keeps a days term within time.Duration's range.
const maxDays = float64(math.MaxInt64) / float64(24*time.Hour)

// parseDuration is time.ParseDuration plus a leading days term ("7d", "1.5d", "1d12h").
func parseDuration(s string) (time.Duration, error) {
	if s == "0" {
		return 0, nil
	}
	if strings.Trim(s, "0123456789.+-") == "" {
		if _, err := strconv.ParseFloat(s, 64); err == nil {
			return 0, errNoUnit
		}
	}
	rest, neg := s, false
	if r, ok := strings.CutPrefix(rest, "-"); ok {
		rest, neg = r, true
	} else {
		rest = strings.TrimPrefix(rest, "+")
	}
	var total time.Duration
	if i := strings.IndexByte(rest, 'd'); i > 0 {
		days, err := strconv.ParseFloat(rest[:i], 64)
		if err != nil || days < 0 || days > maxDays || strings.Trim(rest[:i], "0123456789.") != "" {
			return 0, fmt.Errorf("invalid duration %q", s)
		}
		total = time.Duration(days * float64(24*time.Hour))
		rest = rest[i+1:]
		if rest == "" {
			if neg {
				total = -total
			}
			return total, nil
		}
	}
	if strings.HasPrefix(rest, "-") || strings.HasPrefix(rest, "+") {
		return 0, fmt.Errorf("invalid duration %q", s)
	}
	v, err := time.ParseDuration(rest)
	if err != nil {
		return 0, err
	}
	total += v
	if neg {
		total = -total
	}
	return total, nil
}
