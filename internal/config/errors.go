package config

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
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

// suggest returns the candidate closest to s when it is close enough to be a likely typo:
// a Levenshtein distance of at most 2, or at most a third of the length for long names,
// and never a distance that rewrites the whole word.
func suggest(s string, candidates []string) (string, bool) {
	best, bestDist := "", -1
	ls := strings.ToLower(s)
	for _, c := range candidates {
		d := levenshtein(ls, strings.ToLower(c))
		if bestDist < 0 || d < bestDist {
			best, bestDist = c, d
		}
	}
	if bestDist < 0 || bestDist > max(2, len(s)/3) || bestDist >= len(s) {
		return "", false
	}
	return best, true
}

func levenshtein(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(rb)]
}
