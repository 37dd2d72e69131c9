package discovery

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"time"
)

// encodeValues is json.Marshal of {key: stateValue(values[key])} for keys (plus
// "attributes": attrs when attrs is not nil), byte for byte: keys sorted, HTML characters
// escaped. Every poll encodes every device's state to see whether it changed, and
// encoding/json's reflection over a map[string]any (after stateValue's conversions, one
// allocation per number) was the largest part of publishing an unchanged poll; the common
// values (numbers, plain strings, times, booleans) are written here, anything else by
// json.Marshal.
func encodeValues(id string, keys []string, values map[string]any, attrs any) ([]byte, error) {
	if attrs != nil {
		keys = append(keys, "attributes")
	}
	slices.Sort(keys) // encoding/json's order: byte-wise
	keys = slices.Compact(keys)
	buf := make([]byte, 0, 2+40*len(keys))
	buf = append(buf, '{')
	for i, k := range keys {
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = appendString(buf, k)
		buf = append(buf, ':')
		var err error
		if k == "attributes" && attrs != nil {
			buf, err = appendAny(buf, attrs)
		} else if buf, err = appendStateValue(buf, values[k]); err != nil {
			err = fmt.Errorf("state of %s.%s: %w", id, k, err)
		}
		if err != nil {
			return nil, err
		}
	}
	return append(buf, '}'), nil
}

// appendStateValue appends what json.Marshal makes of stateValue(v).
func appendStateValue(buf []byte, v any) ([]byte, error) {
	switch x := v.(type) {
	case float64:
		if x != x || x > 1e308 || x < -1e308 {
			return nil, errors.New("not a finite number")
		}
		return strconv.AppendFloat(buf, x, 'f', -1, 64), nil
	case string:
		return appendString(buf, truncateState(x)), nil
	case time.Time:
		return appendTime(buf, x), nil
	case *time.Time:
		if x == nil {
			return nil, errors.New("nil time")
		}
		return appendTime(buf, *x), nil
	case bool, int, int64:
		return appendAny(buf, x)
	case json.Number:
		if plainNumber(string(x)) {
			return append(buf, x...), nil
		}
	}
	enc, err := stateValue(v)
	if err != nil {
		return nil, err
	}
	return appendMarshal(buf, enc)
}

// appendAny appends what json.Marshal makes of v, writing the shapes attributes are made
// of (maps with string keys, lists, strings, numbers, booleans) itself and anything else
// with json.Marshal.
func appendAny(buf []byte, v any) ([]byte, error) {
	switch x := v.(type) {
	case nil:
		return append(buf, "null"...), nil
	case string:
		return appendString(buf, x), nil
	case bool:
		return strconv.AppendBool(buf, x), nil
	case int:
		return strconv.AppendInt(buf, int64(x), 10), nil
	case int64:
		return strconv.AppendInt(buf, x, 10), nil
	case float64:
		// encoding/json writes 'f' between 1e-6 and 1e21, else an exponent (left to it).
		if a := math.Abs(x); a == 0 || (a >= 1e-6 && a < 1e21) {
			return strconv.AppendFloat(buf, x, 'f', -1, 64), nil
		}
	case map[string]any:
		return appendObject(buf, x, appendAny)
	case map[string]map[string]any:
		return appendObject(buf, x, func(buf []byte, m map[string]any) ([]byte, error) {
			return appendObject(buf, m, appendAny)
		})
	case []any:
		return appendArray(buf, x, appendAny)
	case []map[string]any:
		return appendArray(buf, x, func(buf []byte, m map[string]any) ([]byte, error) {
			return appendObject(buf, m, appendAny)
		})
	}
	return appendMarshal(buf, v)
}

// appendObject writes m with its keys sorted, each value by elem; a nil map is null.
func appendObject[V any](buf []byte, m map[string]V, elem func([]byte, V) ([]byte, error)) ([]byte, error) {
	if m == nil {
		return append(buf, "null"...), nil
	}
	buf = append(buf, '{')
	for i, k := range slices.Sorted(maps.Keys(m)) {
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = appendString(buf, k)
		buf = append(buf, ':')
		var err error
		if buf, err = elem(buf, m[k]); err != nil {
			return nil, err
		}
	}
	return append(buf, '}'), nil
}

// appendArray writes l, each element by elem; a nil slice is null.
func appendArray[T any](buf []byte, l []T, elem func([]byte, T) ([]byte, error)) ([]byte, error) {
	if l == nil {
		return append(buf, "null"...), nil
	}
	buf = append(buf, '[')
	for i, v := range l {
		if i > 0 {
			buf = append(buf, ',')
		}
		var err error
		if buf, err = elem(buf, v); err != nil {
			return nil, err
		}
	}
	return append(buf, ']'), nil
}

// appendTime writes t as RFC 3339, which has nothing to escape.
func appendTime(buf []byte, t time.Time) []byte {
	buf = append(buf, '"')
	buf = t.AppendFormat(buf, time.RFC3339)
	return append(buf, '"')
}

// appendString writes s quoted when nothing in it needs escaping (printable ASCII other
// than the quote, the backslash and the HTML characters), else as json.Marshal does.
func appendString(buf []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			b, _ := json.Marshal(s) // a string always encodes
			return append(buf, b...)
		}
	}
	buf = append(buf, '"')
	buf = append(buf, s...)
	return append(buf, '"')
}

func appendMarshal(buf []byte, v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return append(buf, b...), nil
}

// plainNumber reports whether s is -?digits(.digits)? without a leading zero, which
// encoding/json writes as it is. Anything else goes through json.Marshal, which validates it.
func plainNumber(s string) bool {
	if s != "" && s[0] == '-' {
		s = s[1:]
	}
	digits := func(s string) int {
		n := 0
		for n < len(s) && s[n] >= '0' && s[n] <= '9' {
			n++
		}
		return n
	}
	n := digits(s)
	if n == 0 || (n > 1 && s[0] == '0') {
		return false
	}
	s = s[n:]
	if s == "" {
		return true
	}
	return s[0] == '.' && len(s) > 1 && digits(s[1:]) == len(s)-1
}
