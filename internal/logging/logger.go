package logging

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/lmittmann/tint"
)

// Options configures New.
type Options struct {
	Level     string    // debug|info|warn|warning|error (case-insensitive); "" = info
	Format    string    // auto|text|json; "" = auto: colour text on a terminal, JSON otherwise
	Redactor  *Redactor // nil = a new empty one
	AddSource bool
}

// New returns a logger writing to w whose every line is redacted.
// It fails on an unknown level or format.
func New(w io.Writer, opts Options) (*slog.Logger, error) {
	level, err := parseLevel(opts.Level)
	if err != nil {
		return nil, err
	}
	tty := isTerminal(w)
	var h slog.Handler
	switch strings.ToLower(strings.TrimSpace(opts.Format)) {
	case "", "auto":
		if tty {
			h = newTint(w, level, opts.AddSource, false)
		} else {
			h = newJSON(w, level, opts.AddSource)
		}
	case "text":
		h = newTint(w, level, opts.AddSource, !tty)
	case "json":
		h = newJSON(w, level, opts.AddSource)
	default:
		return nil, fmt.Errorf("logging: unknown format %q (want auto, text or json)", opts.Format)
	}
	return slog.New(NewHandler(h, opts.Redactor)), nil
}

func newTint(w io.Writer, level slog.Level, addSource, noColor bool) slog.Handler {
	return tint.NewTextHandler(w, &tint.Options{
		Level:      level,
		AddSource:  addSource,
		TimeFormat: "15:04:05.000",
		NoColor:    noColor,
	})
}

func newJSON(w io.Writer, level slog.Level, addSource bool) slog.Handler {
	return slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level, AddSource: addSource})
}

func parseLevel(s string) (slog.Level, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", "info":
		return slog.LevelInfo, nil
	case "debug":
		return slog.LevelDebug, nil
	case "warn", "warning":
		return slog.LevelWarn, nil
	case "error":
		return slog.LevelError, nil
	}
	return 0, fmt.Errorf("logging: unknown level %q (want debug, info, warn or error)", s)
}

// isTerminal reports whether w is a character device such as a TTY.
// Only *os.File can be one; pipes, files and buffers get JSON/no colour.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok || f == nil {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
