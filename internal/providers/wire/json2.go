package wire

// Single-pass decoding (issue 15). encoding/json hands an UnmarshalJSON method the bytes of
// its value after scanning them, and Opt and List can only decode those bytes with another
// json.Unmarshal, which validates and scans them again: an object nested in n Opt/List
// levels was scanned 2n+1 times. With the JSON v2 decoder (github.com/go-json-experiment/json)
// the UnmarshalJSONFrom methods below read their value from the one token stream instead, so
// every byte is scanned once. The UnmarshalJSON methods stay for encoding/json users.

import (
	jsonv2 "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
	jsonv1 "github.com/go-json-experiment/json/v1"
)

// v1Semantics makes the v2 decoder decode as encoding/json does: names matched
// case-insensitively (an exact match first), the last of duplicate names wins, invalid
// UTF-8 replaced by U+FFFD, unknown names ignored, null leaving a value as it is. Only its
// errors are v2's: encoding/json's way of reporting them (ReportErrorsWithLegacySemantics)
// validates every value before decoding it, so each nested decoding would scan its bytes
// again, and it goes on after a type error.
var v1Semantics = jsonv2.JoinOptions(jsonv1.DefaultOptionsV1(), jsonv1.ReportErrorsWithLegacySemantics(false))

// Decode decodes b into v in one pass. When it succeeds, v holds what json.Unmarshal would
// have decoded. It fails where json.Unmarshal fails, and also where json.Unmarshal would
// only report a type error after decoding the rest, or where Opt or List would drop an
// object for one; its error texts are not encoding/json's either. A caller that needs
// encoding/json's result or error decodes such an input again with json.Unmarshal: that
// costs time only on answers that are broken anyway.
func Decode(b []byte, v any) error { return jsonv2.Unmarshal(b, v, v1Semantics) }

// UnmarshalJSONFrom implements the v2 json.UnmarshalerFrom as UnmarshalJSON does.
func (n *Num) UnmarshalJSONFrom(dec *jsontext.Decoder) error {
	b, err := dec.ReadValue()
	if err != nil {
		return err
	}
	return n.UnmarshalJSON(b)
}

// UnmarshalJSONFrom implements the v2 json.UnmarshalerFrom as UnmarshalJSON does.
func (t *Text) UnmarshalJSONFrom(dec *jsontext.Decoder) error {
	b, err := dec.ReadValue()
	if err != nil {
		return err
	}
	return t.UnmarshalJSON(b)
}

// UnmarshalJSONFrom implements the v2 json.UnmarshalerFrom as UnmarshalJSON does.
func (f *Bool) UnmarshalJSONFrom(dec *jsontext.Decoder) error {
	b, err := dec.ReadValue()
	if err != nil {
		return err
	}
	return f.UnmarshalJSON(b)
}

// UnmarshalJSONFrom implements the v2 json.UnmarshalerFrom as UnmarshalJSON does, except
// that an object UnmarshalJSON drops for a type error fails the decoding (see Decode).
func (o *Opt[T]) UnmarshalJSONFrom(dec *jsontext.Decoder) error {
	o.V = nil
	if dec.PeekKind() != '{' {
		return dec.SkipValue()
	}
	v := new(T)
	if err := jsonv2.UnmarshalDecode(dec, v); err != nil {
		return err
	}
	o.V = v
	return nil
}

// UnmarshalJSONFrom implements the v2 json.UnmarshalerFrom as UnmarshalJSON does, except
// that an element UnmarshalJSON drops for a type error fails the decoding (see Decode).
func (l *List[T]) UnmarshalJSONFrom(dec *jsontext.Decoder) error {
	*l = nil
	if dec.PeekKind() != '[' {
		return dec.SkipValue()
	}
	if _, err := dec.ReadToken(); err != nil {
		return err
	}
	out := []T{} // like UnmarshalJSON: an empty array is an empty, not a nil, list
	for dec.PeekKind() != ']' {
		if dec.PeekKind() != '{' {
			if err := dec.SkipValue(); err != nil {
				return err
			}
			continue
		}
		var zero T
		out = append(out, zero) // decoded in place: no copy, no allocation per element
		if err := jsonv2.UnmarshalDecode(dec, &out[len(out)-1]); err != nil {
			return err
		}
	}
	if _, err := dec.ReadToken(); err != nil {
		return err
	}
	*l = out
	return nil
}
