package wire

// Lenient JSON. The upstreams send numbers as numbers, numeric strings ("50.0", "1,024"),
// "" or null, ids as numbers or strings, and "" where an object belongs. None of these
// types ever fails the decoding of the surrounding response: a value that cannot be read
// is absent, and Num keeps its raw text so the provider can warn about it.

import (
	"bytes"
	"encoding/json"
	"math"
	"strconv"
	"strings"

	"github.com/accountbridge/accountbridge/internal/logging"
)

// MaxNum bounds believable numbers: no balance, meter, volume or disk size (in bytes)
// comes near it; anything larger is garbage, not a value.
const MaxNum = 1e15

// rawExcerpt bounds the unreadable text Num keeps for a warning.
const rawExcerpt = 40

// Num is a number that may arrive as a JSON number, a numeric string (thousands commas
// allowed), "" or null. OK is false when it is absent or unreadable; Raw then holds the
// unreadable text (an excerpt), empty when there was none.
type Num struct {
	V   float64
	OK  bool
	Raw string
}

// UnmarshalJSON implements json.Unmarshaler; it never returns an error.
func (n *Num) UnmarshalJSON(b []byte) error {
	*n = Num{}
	b = bytes.TrimSpace(b)
	if len(b) == 0 || string(b) == "null" {
		return nil
	}
	s := string(b)
	switch b[0] {
	case '"':
		if err := json.Unmarshal(b, &s); err != nil {
			n.Raw = logging.CutRunes(s, rawExcerpt)
			return nil
		}
	case '{', '[', 't', 'f':
		n.Raw = logging.CutRunes(s, rawExcerpt)
		return nil
	}
	s = strings.TrimSpace(strings.ReplaceAll(s, ",", ""))
	if s == "" {
		return nil
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) || math.Abs(v) > MaxNum {
		n.Raw = logging.CutRunes(s, rawExcerpt)
		return nil
	}
	n.V, n.OK = v, true
	return nil
}

// Text is a string that may arrive as a JSON number or boolean (ids, flags), kept as its
// text. Surrounding spaces are dropped; null, an object or an array is "".
type Text string

// UnmarshalJSON implements json.Unmarshaler; it never returns an error.
func (t *Text) UnmarshalJSON(b []byte) error {
	*t = ""
	b = bytes.TrimSpace(b)
	if len(b) == 0 {
		return nil
	}
	switch b[0] {
	case '"':
		if bytes.IndexByte(b, '\\') < 0 { // encoding/json validated the input: no escapes, no copy
			*t = Text(strings.TrimSpace(string(b[1 : len(b)-1])))
			return nil
		}
		var s string
		if json.Unmarshal(b, &s) == nil {
			*t = Text(strings.TrimSpace(s))
		}
	case 'n', '{', '[':
	default:
		*t = Text(b) // a number or a boolean
	}
	return nil
}

// Bool accepts true/false, 1/0 and their string forms; anything else leaves OK false.
type Bool struct {
	V  bool
	OK bool
}

// UnmarshalJSON implements json.Unmarshaler; it never returns an error.
func (f *Bool) UnmarshalJSON(b []byte) error {
	*f = Bool{}
	switch strings.Trim(strings.TrimSpace(string(b)), `"`) {
	case "true", "1":
		f.V, f.OK = true, true
	case "false", "0":
		f.V, f.OK = false, true
	}
	return nil
}

// Opt is an optional object: null, absent, or anything that is not a decodable object
// (upstreams send "" where an object is expected) leaves V nil.
type Opt[T any] struct{ V *T }

// UnmarshalJSON implements json.Unmarshaler; it never returns an error.
func (o *Opt[T]) UnmarshalJSON(b []byte) error {
	o.V = nil
	if len(b) == 0 || b[0] != '{' {
		return nil
	}
	v := new(T)
	if json.Unmarshal(b, v) == nil {
		o.V = v
	}
	return nil
}

// List is an optional array whose elements that are not decodable objects are skipped;
// anything but an array leaves it empty.
type List[T any] []T

// UnmarshalJSON implements json.Unmarshaler; it never returns an error.
func (l *List[T]) UnmarshalJSON(b []byte) error {
	*l = nil
	if len(b) == 0 || b[0] != '[' {
		return nil
	}
	var items []Opt[T]
	if json.Unmarshal(b, &items) != nil {
		return nil
	}
	out := make([]T, 0, len(items))
	for _, it := range items {
		if it.V != nil {
			out = append(out, *it.V)
		}
	}
	*l = out
	return nil
}

// String is the text of an optional Text field (*Text): "" when it was absent.
func (t *Text) String() string {
	if t == nil {
		return ""
	}
	return string(*t)
}
