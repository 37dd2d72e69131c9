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
//
// A daemon with thousands of accounts registers tens of thousands of secrets (every
// password and session token, in three forms), and a re-login cycle registers a new
// token per poll while redacting that poll's error. So registering is O(1) and a
// redaction does not walk the secrets once there are more than a few: at each position
// of the text whose first bytes some secret starts with (a bitset of hashed prefixes), it
// looks the text up in the set of forms, once per distinct length of the forms.
type Redactor struct {
	mu sync.RWMutex
	// known holds every registered form, so re-registering a secret (providers do on
	// every poll) costs one map look-up, and it is the set a redaction looks up.
	known   map[string]bool // form → registered as a secret itself (not only as an escaped form)
	forms   []string        // every form, while there are at most indexFrom; then nil
	indexed bool
	lengths []int                  // the distinct lengths of the forms, when indexed
	heads   *[headBits / 64]uint64 // hashed first minSecretLen bytes of the forms, when indexed
	gen     atomic.Uint64          // bumped on every change; handlers use it to notice new secrets
}

// headBits sizes the prefix bitset (128 KiB): with 30,000 accounts (about 90,000 forms)
// under a tenth of it is set, so most positions of a text are passed over at once.
const headBits = 1 << 20

func headOf(s string) uint32 { // s has at least minSecretLen bytes
	h := uint32(s[0]) | uint32(s[1])<<8 | uint32(s[2])<<16 | uint32(s[3])<<24
	return (h * 2654435761) >> 12 // Fibonacci hashing to 20 bits
}

// indexFrom is how many forms a redaction walks one by one (strings.Index is fast on
// few); from there on they are indexed.
const indexFrom = 64

// redactState is what one log record is redacted with: the generation it saw.
type redactState struct {
	gen uint64
	r   *Redactor
}

// NewRedactor returns a Redactor with no secrets.
func NewRedactor() *Redactor { return &Redactor{} }

func (r *Redactor) load() redactState {
	if r == nil {
		return redactState{}
	}
	return redactState{gen: r.gen.Load(), r: r}
}

// AddSecret registers a secret value. Values shorter than 4 bytes are
// ignored. The URL-encoded forms are registered too, because secrets often
// reach logs inside query strings or form bodies.
func (r *Redactor) AddSecret(s string) {
	if r == nil || len(s) < minSecretLen {
		return
	}
	r.mu.RLock()
	done := r.known[s]
	r.mu.RUnlock()
	if done {
		return // its escaped forms were registered with it
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.known == nil {
		r.known = map[string]bool{}
	}
	if r.known[s] {
		return
	}
	added := false
	for _, v := range []string{s, url.QueryEscape(s), url.PathEscape(s)} {
		if _, ok := r.known[v]; !ok {
			r.known[v] = false
			r.addFormLocked(v)
			added = true
		}
	}
	r.known[s] = true
	if added {
		r.gen.Add(1)
	}
}

func (r *Redactor) addFormLocked(v string) {
	if !r.indexed && len(r.forms) < indexFrom {
		r.forms = append(r.forms, v)
		return
	}
	if !r.indexed {
		r.indexed, r.heads = true, new([headBits / 64]uint64)
		for _, f := range r.forms {
			r.indexLocked(f)
		}
		r.forms = nil
	}
	r.indexLocked(v)
}

func (r *Redactor) indexLocked(v string) {
	h := headOf(v)
	r.heads[h/64] |= 1 << (h % 64)
	if i, found := slices.BinarySearch(r.lengths, len(v)); !found {
		r.lengths = slices.Insert(r.lengths, i, len(v))
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
func (st redactState) redact(s string) (string, bool) {
	s1, c1 := st.r.redactSecrets(s)
	s2, c2 := maskPhone(s1)
	return s2, c1 || c2
}

// redactSecrets masks the union of all occurrences of all secrets. Plain
// sequential replacement (longest first) could leave a fragment of a secret
// visible when two secrets overlap in the text; merging the covered byte
// ranges hides every byte that belongs to any secret.
func (r *Redactor) redactSecrets(s string) (string, bool) {
	if r == nil || len(s) < minSecretLen {
		return s, false
	}
	var spans [][2]int // allocated only when something matches
	r.mu.RLock()
	if !r.indexed {
		for _, sec := range r.forms {
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
	} else {
		for i := 0; i+minSecretLen <= len(s); i++ {
			if h := headOf(s[i:]); r.heads[h/64]&(1<<(h%64)) == 0 {
				continue // no secret starts with these bytes
			}
			for _, n := range r.lengths {
				if i+n > len(s) {
					break
				}
				if _, ok := r.known[s[i:i+n]]; ok {
					spans = append(spans, [2]int{i, i + n})
				}
			}
		}
	}
	r.mu.RUnlock()
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
