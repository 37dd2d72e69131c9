package config

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/accountbridge/accountbridge/internal/didyoumean"
)

// Error is one problem in a config file, located by file, line and key path.
type Error struct {
	File string
	Line int
	Path string // dotted keys and [i] indexes: "accounts[1].password"; empty for file-level problems
	Msg  string
}

// Error renders "file:line: path: msg", leaving out whatever is unknown.
func (e Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		if b.Len() > 0 {
			b.WriteByte(':')
		} else {
			b.WriteString("line ")
		}
		b.WriteString(strconv.Itoa(e.Line))
	}
	if b.Len() > 0 {
		b.WriteString(": ")
	}
	if e.Path != "" {
		b.WriteString(e.Path)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Errors is every problem found in one file. Load and Parse return it sorted by line.
type Errors []Error

// Error puts one problem on each line.
func (es Errors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// sorted orders by line; the sort is stable so problems on one line keep the order in
// which they were found (which follows the file).
func (es Errors) sorted() Errors {
	sort.SliceStable(es, func(i, j int) bool { return es[i].Line < es[j].Line })
	return es
}

// unknownKeyMsg says a key is unknown and points at the closest known key (or one of
// alsoSuggest), or else lists the known keys.
func unknownKeyMsg(key string, known []string, alsoSuggest ...string) string {
	if s, ok := suggest(key, append(known[:len(known):len(known)], alsoSuggest...)); ok {
		return fmt.Sprintf("unknown key (did you mean %q?)", s)
	}
	if len(known) == 0 {
		return "unknown key"
	}
	return "unknown key (known: " + strings.Join(known, ", ") + ")"
}

// suggest returns the candidate closest to s when it is close enough to be a likely typo.
func suggest(s string, candidates []string) (string, bool) { return didyoumean.Closest(s, candidates) }
