package alert

import (
	"fmt"
	"strconv"
	"time"

	"github.com/accountbridge/accountbridge/internal/providers/wire"
)

// shanghai is the zone alert texts show times in.
var shanghai = wire.CST

// message renders the alert text in the configured language.
func (e *Engine) message(r *rule, s *subject, a Alert) string {
	if a.State == Firing && r.text != "" {
		return r.text
	}
	name := s.DeviceName
	if name == "" {
		name = s.Device
	}
	dur := e.duration(a.At.Sub(s.Since))
	value := formatValueAt(s.Value, s.Unit, s.Precision)
	zh := e.lang == "zh"
	switch {
	case r.kind == KindOffline && a.State == Firing:
		seen := ""
		if !s.LastSeenOK.IsZero() {
			seen = s.LastSeenOK.In(shanghai).Format(timeLayout)
		}
		switch {
		case zh && seen != "":
			return fmt.Sprintf("%s 已离线 %s（最后在线 %s）", name, dur, seen)
		case zh:
			return fmt.Sprintf("%s 已离线 %s", name, dur)
		case seen != "":
			return fmt.Sprintf("%s is offline for %s (last seen online %s)", name, dur, seen)
		default:
			return fmt.Sprintf("%s is offline for %s", name, dur)
		}
	case r.kind == KindOffline:
		return e.text(fmt.Sprintf("%s is back online after %s offline", name, dur),
			fmt.Sprintf("%s 已恢复在线（离线 %s）", name, dur))
	case r.kind == KindProblem && a.State == Firing:
		return e.text(fmt.Sprintf("%s: %s for %s", name, s.EntityName, dur),
			fmt.Sprintf("%s：%s 已持续 %s", name, s.EntityName, dur))
	case r.kind == KindProblem:
		return e.text(fmt.Sprintf("%s: %s cleared after %s", name, s.EntityName, dur),
			fmt.Sprintf("%s：%s 已解除（持续 %s）", name, s.EntityName, dur))
	case a.State == Firing:
		what := s.EntityName
		if what == "" {
			what = s.Entity
		}
		limit := ""
		if v, ok := number(s.Value); ok {
			switch {
			case r.below != nil && v < *r.below:
				limit = e.text("below "+formatValue(*r.below, s.Unit), "低于 "+formatValue(*r.below, s.Unit))
			case r.above != nil && v > *r.above:
				limit = e.text("above "+formatValue(*r.above, s.Unit), "高于 "+formatValue(*r.above, s.Unit))
			}
		}
		return e.text(fmt.Sprintf("%s %s is %s, %s", name, what, value, limit),
			fmt.Sprintf("%s %s 为 %s，%s", name, what, value, limit))
	default:
		what := s.EntityName
		if what == "" {
			what = s.Entity
		}
		return e.text(fmt.Sprintf("%s %s is back to %s", name, what, value),
			fmt.Sprintf("%s %s 已恢复为 %s", name, what, value))
	}
}

// timeLayout carries the zone: a reader in another zone (or an HA set to UTC) must not
// mistake Beijing time for theirs.
const timeLayout = "2006-01-02 15:04 -07:00"

// defaultDecimals bounds a number whose entity has no display precision: enough for
// any unit the providers use, never a float's full 17 digits.
const defaultDecimals = 3

// formatValue renders a value without its entity's precision (numbers to at most 3
// decimals), times with their zone.
func formatValue(v any, unit string) string { return formatValueAt(v, unit, nil) }

// formatValueAt renders a value as the entity shows it: numbers rounded to its display
// precision (suggested_display_precision), times with their zone.
func formatValueAt(v any, unit string, precision *int) string {
	var s string
	if f, ok := number(v); ok {
		switch {
		case precision != nil && *precision >= 0:
			s = strconv.FormatFloat(f, 'f', *precision, 64)
		default:
			s = strconv.FormatFloat(wire.Round(f, defaultDecimals), 'f', -1, 64)
		}
	} else if t, ok := v.(time.Time); ok {
		s = t.Format(timeLayout)
	} else {
		s = fmt.Sprint(v)
	}
	if unit != "" {
		s += " " + unit
	}
	return s
}

// duration renders d coarsely: "2d 3h", "1h 5m", "12m", "40s" (zh: "2天3小时").
func (e *Engine) duration(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	days, hours, mins := int(d.Hours())/24, int(d.Hours())%24, int(d.Minutes())%60
	zh := e.lang == "zh"
	unit := func(n int, en, cn string) string {
		if zh {
			return strconv.Itoa(n) + cn
		}
		return strconv.Itoa(n) + en
	}
	sep := " "
	if zh {
		sep = ""
	}
	switch {
	case days > 0:
		return unit(days, "d", "天") + sep + unit(hours, "h", "小时")
	case hours > 0:
		return unit(hours, "h", "小时") + sep + unit(mins, "m", "分钟")
	case mins > 0:
		return unit(mins, "m", "分钟")
	default:
		return unit(int(d.Seconds()), "s", "秒")
	}
}
