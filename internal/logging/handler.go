package logging

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"sync/atomic"
)

// NewHandler wraps h so that every record it handles is redacted first:
// the message goes through r.Redact; attributes (also those added with
// WithAttrs, inside groups, and resolved LogValuers) with a sensitive key
// and a non-empty value become "***"; strings, errors and fmt.Stringers are
// passed through r.Redact. A nil r means a new empty Redactor.
func NewHandler(h slog.Handler, r *Redactor) slog.Handler {
	if r == nil {
		r = NewRedactor()
	}
	return &handler{base: h, r: r}
}

type handler struct {
	base slog.Handler // the wrapped handler, before any of ops
	r    *Redactor
	// ops are the WithAttrs/WithGroup calls made on this handler, in order,
	// with the attributes as given (unredacted). They are replayed when a
	// secret is registered after the call, so that attributes attached
	// earlier are redacted with it too.
	ops   []op
	built atomic.Pointer[built] // base with ops applied; nil when ops is empty
}

type op struct {
	group string // non-empty: WithGroup(group); empty: WithAttrs(attrs)
	attrs []slog.Attr
}

// built caches base with ops applied, redacted as of Redactor generation gen.
// The downstream handler keeps its own pre-formatting of WithAttrs that way,
// and the cache is rebuilt only in the rare event of a new secret.
type built struct {
	gen uint64
	h   slog.Handler
}

func (h *handler) next(st redactState) slog.Handler {
	if len(h.ops) == 0 {
		return h.base
	}
	if b := h.built.Load(); b != nil && b.gen == st.gen {
		return b.h
	}
	nh := h.base
	for _, o := range h.ops {
		if o.group != "" {
			nh = nh.WithGroup(o.group)
		} else {
			nh = nh.WithAttrs(redactAttrs(st, o.attrs))
		}
	}
	// A racing goroutine may store a build for another generation; the next
	// call then simply rebuilds. Correctness never depends on the cache.
	h.built.Store(&built{gen: st.gen, h: nh})
	return nh
}

func (h *handler) Enabled(ctx context.Context, level slog.Level) bool {
	// Levels do not change with attrs or groups, so the base decides.
	return h.base.Enabled(ctx, level)
}

func (h *handler) Handle(ctx context.Context, rec slog.Record) error {
	st := h.r.load()
	next := h.next(st)

	msg, changed := st.redact(rec.Message)
	var buf [8]slog.Attr // enough for most lines without a heap allocation
	attrs := buf[:0]
	rec.Attrs(func(a slog.Attr) bool {
		ra, c := redactAttr(st, a)
		changed = changed || c
		attrs = append(attrs, ra)
		return true
	})
	if !changed {
		return next.Handle(ctx, rec)
	}
	out := slog.NewRecord(rec.Time, rec.Level, msg, rec.PC)
	out.AddAttrs(attrs...)
	return next.Handle(ctx, out)
}

func (h *handler) WithAttrs(attrs []slog.Attr) slog.Handler {
	if len(attrs) == 0 {
		return h
	}
	return h.with(op{attrs: append([]slog.Attr(nil), attrs...)})
}

func (h *handler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h // slog: an empty group name is a no-op
	}
	return h.with(op{group: name})
}

func (h *handler) with(o op) *handler {
	// Built on its first record, not now: a daemon makes a logger per account, most of
	// which never log a line at the configured level (and a build is redone anyway when
	// a secret is registered after it).
	return &handler{base: h.base, r: h.r, ops: append(h.ops[:len(h.ops):len(h.ops)], o)}
}

func redactAttrs(st redactState, attrs []slog.Attr) []slog.Attr {
	out := make([]slog.Attr, len(attrs))
	for i, a := range attrs {
		out[i], _ = redactAttr(st, a)
	}
	return out
}

// redactAttr returns the attribute to log and whether it differs from a.
func redactAttr(st redactState, a slog.Attr) (slog.Attr, bool) {
	v := a.Value
	resolved := false
	if v.Kind() == slog.KindLogValuer {
		v = v.Resolve()
		resolved = true
	}
	if SensitiveKey(a.Key) && !isEmpty(v) {
		return slog.String(a.Key, Mask), true
	}
	switch v.Kind() {
	case slog.KindString:
		if s, c := st.redact(v.String()); c {
			return slog.String(a.Key, s), true
		}
	case slog.KindGroup:
		group := v.Group()
		var out []slog.Attr // allocated only if a member changes
		for i, ga := range group {
			ra, c := redactAttr(st, ga)
			if c && out == nil {
				out = make([]slog.Attr, len(group))
				copy(out, group[:i])
			}
			if out != nil {
				out[i] = ra
			}
		}
		if out != nil {
			return slog.Attr{Key: a.Key, Value: slog.GroupValue(out...)}, true
		}
	case slog.KindAny:
		switch x := v.Any().(type) {
		case error:
			// Always a string: the downstream handler must not call Error()
			// on its own and print the unredacted text.
			s, _ := st.redact(safeString(x.Error))
			return slog.String(a.Key, s), true
		case *url.URL:
			// Redacted also hides a password in the userinfo part.
			s, _ := st.redact(x.Redacted())
			return slog.String(a.Key, s), true
		case fmt.Stringer:
			s, _ := st.redact(safeString(x.String))
			return slog.String(a.Key, s), true
		}
	}
	if resolved {
		return slog.Attr{Key: a.Key, Value: v}, true
	}
	return a, false
}

func isEmpty(v slog.Value) bool {
	switch v.Kind() {
	case slog.KindString:
		return v.String() == ""
	case slog.KindAny:
		return v.Any() == nil
	case slog.KindGroup:
		return len(v.Group()) == 0
	}
	return false
}

// safeString calls f like fmt does: a method on a nil pointer that panics
// must not take the daemon down from inside a log call.
func safeString(f func() string) (s string) {
	defer func() {
		if p := recover(); p != nil {
			s = "<panic in String/Error method>"
		}
	}()
	return f()
}
