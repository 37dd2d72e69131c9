package poller

import (
	"fmt"
	"strconv"
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
	if detail := tooLongStep(spec); detail != "" {
		return nil, invalid(detail)
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

// fieldSizes are how many values each cron field has, seconds first.
var fieldSizes = []struct {
	name string
	n    int
}{{"second", 60}, {"minute", 60}, {"hour", 24}, {"day of month", 31}, {"month", 12}, {"day of week", 7}}

// tooLongStep finds a step longer than its field ("*/61" in minutes), which robfig
// accepts as "only at the start of the range": a typo that would poll far less often
// than meant. It returns what is wrong, or "" for a spec without one.
func tooLongStep(spec string) string {
	fields := strings.Fields(spec)
	if len(fields) > 0 && (strings.HasPrefix(fields[0], "TZ=") || strings.HasPrefix(fields[0], "CRON_TZ=")) {
		fields = fields[1:]
	}
	if len(fields) == 0 || strings.HasPrefix(fields[0], "@") {
		return ""
	}
	sizes := fieldSizes
	if len(fields) == 5 {
		sizes = sizes[1:]
	}
	for i, f := range fields {
		if i >= len(sizes) {
			break
		}
		for _, part := range strings.Split(f, ",") {
			_, step, ok := strings.Cut(part, "/")
			if !ok {
				continue
			}
			if n, err := strconv.Atoi(step); err == nil && n > sizes[i].n {
				return fmt.Sprintf("step %d in the %s field is longer than its %d values", n, sizes[i].name, sizes[i].n)
			}
		}
	}
	return ""
}
