// Package didyoumean finds the likely intended word for a typo, for "did you mean"
// hints in config errors (config keys, provider names, SMS platform families).
package didyoumean

import "strings"

// Closest returns the candidate closest to s when it is close enough to be a likely typo:
// a Levenshtein distance of at most 2, or at most a third of the length for long names,
// and never a distance that rewrites the whole word.
func Closest(s string, candidates []string) (string, bool) {
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
