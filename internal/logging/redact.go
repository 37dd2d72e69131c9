// Package logging builds the daemon's slog loggers and keeps secrets and
// phone numbers out of every log line they write.
package logging

import (
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
)

// Mask is what a redacted value is replaced with.
const Mask = "***"

// minSecretLen is the shortest secret AddSecret accepts: shorter values
// ("1", "on", "abc") occur everywhere and would mangle unrelated text.
const minSecretLen = 4

// Redactor replaces registered secret values and masks phone numbers.
// It is safe for concurrent use; the zero value and a nil *Redactor are
// usable and only mask phone numbers.
type Redactor struct {
	mu    sync.Mutex // serialises AddSecret and rebuilds; readers of a current state never take it
	state atomic.Pointer[redactState]
	// known holds every registered form, so re-registering a secret (providers do on
	// every poll) costs one map look-up. pending are forms not yet in state: a daemon
	// with thousands of accounts registers tens of thousands of secrets, and rebuilding
	// the sorted list for each would be quadratic, so it is rebuilt once, when read.
	known   map[string]bool // form → registered as a secret itself (not only as an escaped form)
	pending []string
	dirty   atomic.Bool
}

// redactState is immutable once published, so readers need no lock.
type redactState struct {
	gen     uint64   // bumped on every change; handlers use it to notice new secrets
	secrets []string // deduplicated, longest first
}

var emptyState = &redactState{}

// NewRedactor returns a Redactor with no secrets.
func NewRedactor() *Redactor {
	r := &Redactor{}
	r.state.Store(emptyState)
	return r
}

func (r *Redactor) load() *redactState {
	if r == nil {
		return emptyState
	}
	if r.dirty.Load() {
		r.rebuild()
	}
	if st := r.state.Load(); st != nil {
		return st
	}
	return emptyState
}

// rebuild merges the pending secrets into a new state.
func (r *Redactor) rebuild() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.dirty.Load() {
		return
	}
	old := r.state.Load()
	if old == nil {
		old = emptyState
	}
	// Longest first: with overlapping secrets the longer one is the more specific
	// match (see redactSecrets for how overlaps are merged).
	longestFirst := func(a, b string) int { return len(b) - len(a) }
	add := r.pending
	slices.SortStableFunc(add, longestFirst)
	secrets := make([]string, 0, len(old.secrets)+len(add))
	i, j := 0, 0
	for i < len(old.secrets) && j < len(add) {
		if len(add[j]) > len(old.secrets[i]) {
			secrets = append(secrets, add[j])
			j++
		} else {
			secrets = append(secrets, old.secrets[i])
			i++
		}
	}
	secrets = append(secrets, old.secrets[i:]...)
	secrets = append(secrets, add[j:]...)
	r.pending = nil
	r.state.Store(&redactState{gen: old.gen + 1, secrets: secrets})
	r.dirty.Store(false)
}

// AddSecret registers a secret value. Values shorter than 4 bytes are
// ignored. The URL-encoded forms are registered too, because secrets often
// reach logs inside query strings or form bodies.
func (r *Redactor) AddSecret(s string) {
	if r == nil || len(s) < minSecretLen {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.known == nil {
		r.known = map[string]bool{}
	}
	if r.known[s] {
		return // its escaped forms were registered with it
	}
	added := false
	for _, v := range []string{s, url.QueryEscape(s), url.PathEscape(s)} {
		if _, ok := r.known[v]; !ok {
			r.known[v] = false
			r.pending = append(r.pending, v)
			added = true
		}
	}
	r.known[s] = true
	if added {
		r.dirty.Store(true)
	}
}

// Redact replaces every occurrence of every registered secret with "***"
// and masks phone numbers. It returns s itself (no allocation) when there is
// nothing to hide.
func (r *Redactor) Redact(s string) string {
	out, _ := r.load().redact(s)
	return out
}

// redact reports whether it changed s so callers can skip rebuilding records.
func (st *redactState) redact(s string) (string, bool) {
	s1, c1 := st.redactSecrets(s)
	s2, c2 := maskPhone(s1)
	return s2, c1 || c2
}

// redactSecrets masks the union of all occurrences of all secrets. Plain
// sequential replacement (longest first) could leave a fragment of a secret
// visible when two secrets overlap in the text; merging the covered byte
// ranges hides every byte that belongs to any secret.
func (st *redactState) redactSecrets(s string) (string, bool) {
	if len(st.secrets) == 0 || len(s) < minSecretLen {
		return s, false
	}
	var spans [][2]int // allocated only when something matches
	for _, sec := range st.secrets {
		if len(sec) > len(s) {
			continue
		}
		for i := 0; i <= len(s)-len(sec); {
			j := strings.Index(s[i:], sec)
			if j < 0 {
				break
			}
			start := i + j
			spans = append(spans, [2]int{start, start + len(sec)})
			i = start + 1 // overlapping occurrences of the same secret count too
		}
	}
	if spans == nil {
		return s, false
	}
	slices.SortFunc(spans, func(a, b [2]int) int { return a[0] - b[0] })
	var b strings.Builder
	b.Grow(len(s))
	last := 0
	for k := 0; k < len(spans); {
		start, end := spans[k][0], spans[k][1]
		k++
		for k < len(spans) && spans[k][0] <= end {
			end = max(end, spans[k][1])
			k++
		}
		b.WriteString(s[last:start])
		b.WriteString(Mask)
		last = end
	}
	b.WriteString(s[last:])
	return b.String(), true
}

// The one phone masking rule of the bridge, for logs, payloads, alerts and `bridge check`:
// the four digits before the last four are hidden, everything else is kept
// ("18912345678" → "189****5678", "8618912345678" → "86189****5678"). MaskPhone finds
// mainland numbers in free text; MaskPhoneNumber masks a value known to be a number.

// MaskPhone masks mainland-China mobile numbers in free text: an 11-digit run 1[3-9]…,
// not part of a longer digit run, and the country-code forms "8618912345678" and
// "008618912345678" ("+86 18912345678" is already an 11-digit run). Digit runs of any
// other shape are left alone, so timestamps and order ids stay readable.
func MaskPhone(s string) string {
	out, _ := maskPhone(s)
	return out
}

// MaskPhoneNumber masks a value known to be a phone number (any country) by the same
// rule. Spaces and dashes are dropped first, so formatting cannot move the hidden part.
// A number under 11 characters shows only its last four ("****5678"), one under 8
// nothing ("****"): otherwise too little of it would be hidden.
func MaskPhoneNumber(p string) string {
	if strings.ContainsAny(p, " -\t") {
		p = strings.Map(func(r rune) rune {
			if r == ' ' || r == '-' || r == '\t' {
				return -1
			}
			return r
		}, p)
	}
	switch n := len(p); {
	case n < 8:
		return "****"
	case n < 11:
		return "****" + p[n-4:]
	default:
		return p[:n-8] + "****" + p[n-4:]
	}
}

func maskPhone(s string) (string, bool) {
	var b strings.Builder // stays empty (no allocation) until the first match
	last := 0
	for i := 0; i < len(s); {
		if !isDigit(s[i]) {
			i++
			continue
		}
		j := i + 1
		for j < len(s) && isDigit(s[j]) {
			j++
		}
		if phoneOffset(s[i:j]) >= 0 {
			if last == 0 && b.Len() == 0 {
				b.Grow(len(s))
			}
			b.WriteString(s[last:i])
			b.WriteString(MaskPhoneNumber(s[i:j]))
			last = j
		}
		i = j
	}
	if b.Len() == 0 {
		return s, false
	}
	b.WriteString(s[last:])
	return b.String(), true
}

// phoneOffset returns where the 11-digit mobile number starts inside a
// maximal digit run, or -1 if the run is not a phone number.
func phoneOffset(run string) int {
	switch {
	case len(run) == 11 && isMobile(run):
		return 0
	case len(run) == 13 && run[:2] == "86" && isMobile(run[2:]):
		return 2
	case len(run) == 15 && run[:4] == "0086" && isMobile(run[4:]):
		return 4
	}
	return -1
}

func isMobile(d string) bool { return d[0] == '1' && d[1] >= '3' && d[1] <= '9' }

func isDigit(c byte) bool { return '0' <= c && c <= '9' }
