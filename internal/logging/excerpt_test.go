package logging_test

import (
	"strings"
	"testing"

	"github.com/accountbridge/accountbridge/internal/logging"
)

func TestExcerpt(t *testing.T) {
	for _, tc := range []struct {
		name, in, want string
	}{
		{"short", "online", `"online"`},
		{"empty", "", `""`},
		{"control characters are escaped", "a\nlevel=ERROR msg=forged", `"a\nlevel=ERROR msg=forged"`},
		{"long is cut with its size", strings.Repeat("x", 10<<20), `"` + strings.Repeat("x", logging.ExcerptLen) + `"… (10485760 bytes)`},
		{"a character is not split", strings.Repeat("x", logging.ExcerptLen-1) + "短信" + strings.Repeat("y", 100),
			`"` + strings.Repeat("x", logging.ExcerptLen-1) + `"… (169 bytes)`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := logging.Excerpt([]byte(tc.in)); got != tc.want {
				t.Errorf("Excerpt = %.200s, want %.200s", got, tc.want)
			}
		})
	}
}

func TestCut(t *testing.T) {
	for _, c := range []struct {
		s          string
		n          int
		bytes, run string
	}{
		{"", 3, "", ""},
		{"abc", 3, "abc", "abc"},
		{"abcd", 3, "abc…", "abc…"},
		{"余额不足", 4, "余…", "余额不足"},
		{"余额不足", 3, "余…", "余额不…"},
		{"余额不足", 2, "…", "余额…"},
		{"余额不足!", 12, "余额不足…", "余额不足!"},
		{"a\xffb", 2, "a\xff…", "a\ufffd…"},
		{"abc", 0, "…", "…"},
	} {
		if got := logging.CutBytes(c.s, c.n); got != c.bytes {
			t.Errorf("CutBytes(%q, %d) = %q, want %q", c.s, c.n, got, c.bytes)
		}
		if got := logging.CutRunes(c.s, c.n); got != c.run {
			t.Errorf("CutRunes(%q, %d) = %q, want %q", c.s, c.n, got, c.run)
		}
	}
}
