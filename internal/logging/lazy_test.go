package logging

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
)

type countingHandler struct {
	slog.Handler
	withs *atomic.Int32
}

func (c countingHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	c.withs.Add(1)
	return countingHandler{c.Handler.WithAttrs(attrs), c.withs}
}

// A logger made With attributes applies them to the wrapped handler on its first record,
// not before: a daemon makes one per account and most never log.
func TestWithBuildsLazily(t *testing.T) {
	var buf bytes.Buffer
	var withs atomic.Int32
	base := countingHandler{slog.NewTextHandler(&buf, nil), &withs}
	r := NewRedactor()
	log := slog.New(NewHandler(base, r)).With("account", "a1", "token", "tok-secret")
	if n := withs.Load(); n != 0 {
		t.Fatalf("WithAttrs applied %d times before any record", n)
	}
	r.AddSecret("tok-secret")
	log.Info("hello", "v", 1)
	log.Log(context.Background(), slog.LevelInfo, "again")
	if n := withs.Load(); n != 1 {
		t.Errorf("WithAttrs applied %d times for two records, want 1", n)
	}
	out := buf.String()
	if !strings.Contains(out, "account=a1") || strings.Contains(out, "tok-secret") || strings.Count(out, "\n") != 2 {
		t.Errorf("output:\n%s", out)
	}
}
