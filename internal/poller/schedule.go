package poller

import (
	"fmt"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
)

// parser accepts standard 5-field specs, an optional leading seconds field and the
// descriptors (@every 10m, @hourly, @daily, …).
var parser = cron.NewParser(cron.SecondOptional | cron.Minute | cron.Hour | cron.Dom |
	cron.Month | cron.Dow | cron.Descriptor)

// ParseSchedule parses a cron spec ("0 * * * *", "*/30 * * * * *") or a descriptor
// ("@every 1h", "@hourly", "@daily"). The error names the spec and what is expected.
func ParseSchedule(spec string) (s cron.Schedule, err error) {
	spec = strings.TrimSpace(spec)
	invalid := func(detail string) error {
		msg := fmt.Sprintf("invalid schedule %q: expected a cron spec like \"0 * * * *\" or \"@every 1h\"", spec)
		if detail != "" {
			msg += " (" + detail + ")"
		}
		return fmt.Errorf("%s", msg)
	}
	if spec == "" {
		return nil, invalid("empty")
	}
	// robfig silently rounds @every below 1s up to 1s; a typo like "@every 5ms" deserves an
	// error rather than a poll every second.
	if rest, ok := strings.CutPrefix(spec, "@every"); ok {
		d, perr := time.ParseDuration(strings.TrimSpace(rest))
		if perr != nil {
			return nil, invalid(perr.Error())
		}
		if d < time.Second {
			return nil, fmt.Errorf("invalid schedule %q: the shortest interval is 1s", spec)
		}
	}
	// The parser indexes the spec unchecked for a "TZ=" prefix without fields; keep a
	// config typo from crashing the daemon.
	defer func() {
		if r := recover(); r != nil {
			s, err = nil, invalid(fmt.Sprint(r))
		}
	}()
	s, err = parser.Parse(spec)
	if err != nil {
		return nil, invalid(err.Error())
	}
	if s.Next(time.Now()).IsZero() {
		return nil, fmt.Errorf("invalid schedule %q: it never fires", spec)
	}
	return s, nil
}

// Interval is the distance between the two runs of s that follow from.
func Interval(s cron.Schedule, from time.Time) time.Duration {
	first := s.Next(from)
	if first.IsZero() {
		return 0
	}
	second := s.Next(first)
	if second.IsZero() {
		return 0
	}
	return second.Sub(first)
}
