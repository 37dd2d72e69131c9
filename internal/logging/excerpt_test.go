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
