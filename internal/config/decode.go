package config

import (
	"errors"
	"fmt"
	"io/fs"
	"math"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"time"

	"gopkg.in/yaml.v3"
)

// decoder is a strict, error-collecting decoder from yaml.Node trees into Go values. It is
// used instead of yaml.v3's KnownFields, whose errors do carry lines and all come back
// together, but name Go types ("field pasword not found in type config.MQTT") instead of
// key paths, suggest nothing, and leave no room for ${VAR} per value, "<key>_file"
// secrets, or an account's provider keys decoded later by the provider.
type decoder struct {
	file      string
	lookupEnv func(string) (string, bool)
	readFile  func(string) ([]byte, error)
	secret    func(string) // receives values of fields tagged secret:"true"
	errs      Errors
	failed    map[string]bool // paths with an error already, so validation adds no second one
	// set records the line of every key path that was given a non-null value, so defaults
	// apply only to what the file leaves out and validation can point at the right line.
	set map[string]int
	// fromFile marks nodes made from *_file contents: their values must never be echoed.
	fromFile map[*yaml.Node]string
}

func newDecoder(file string, lookupEnv func(string) (string, bool), readFile func(string) ([]byte, error), secret func(string)) *decoder {
	return &decoder{
		file: file, lookupEnv: lookupEnv, readFile: readFile, secret: secret,
		failed: map[string]bool{}, set: map[string]int{}, fromFile: map[*yaml.Node]string{},
	}
}

func (d *decoder) errorf(line int, path, format string, args ...any) {
	d.failed[path] = true
	d.errs = append(d.errs, Error{File: d.file, Line: line, Path: path, Msg: fmt.Sprintf(format, args...)})
}

// got describes a value for an error message without revealing file-sourced secrets.
func (d *decoder) got(n *yaml.Node) string {
	if p, ok := d.fromFile[n]; ok {
		return "the content of " + strconv.Quote(p)
	}
	return describe(n)
}

// field is one decodable struct field.
type field struct {
	name   string
	index  []int
	secret bool
}

var fieldCache sync.Map // reflect.Type -> []field

// fieldsOf lists the yaml keys of a struct type in declaration order, with yaml.v3's
// conventions: the tag name, else the lower-cased field name; "-" skips; ",inline" flattens.
func fieldsOf(t reflect.Type) []field {
	if f, ok := fieldCache.Load(t); ok {
		return f.([]field)
	}
	var out []field
	for i := 0; i < t.NumField(); i++ {
		sf := t.Field(i)
		tag := sf.Tag.Get("yaml")
		if tag == "-" || (!sf.IsExported() && !sf.Anonymous) {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if strings.Contains(","+opts+",", ",inline,") && sf.Type.Kind() == reflect.Struct {
			for _, f := range fieldsOf(sf.Type) {
				f.index = append([]int{i}, f.index...)
				out = append(out, f)
			}
			continue
		}
		if !sf.IsExported() {
			continue
		}
		if name == "" {
			name = strings.ToLower(sf.Name)
		}
		out = append(out, field{name: name, index: []int{i}, secret: sf.Tag.Get("secret") == "true"})
	}
	fieldCache.Store(t, out)
	return out
}

var (
	durationType = reflect.TypeFor[Duration]()
	// Providers cannot import this package, so their settings use time.Duration: it gets
	// the same parsing ("10m", "7d", no bare numbers).
	stdDurationType = reflect.TypeFor[time.Duration]()
	nodeType        = reflect.TypeFor[yaml.Node]()
	accountType     = reflect.TypeFor[Account]()
)

// decode decodes n into rv (which must be settable), reporting problems under path.
func (d *decoder) decode(n *yaml.Node, rv reflect.Value, path string) {
	n = resolve(n)
	if rv.Type() == nodeType {
		rv.Set(reflect.ValueOf(*n))
		return
	}
	if rv.Type() == accountType {
		d.decodeAccount(n, rv.Addr().Interface().(*Account), path)
		return
	}
	if isNull(n) {
		return // null leaves the default in place
	}
	if n.Kind == yaml.ScalarNode && n.Value == "" && emptyMeansUnset(rv.Type()) {
		return // so does an empty value, such as "${X:-}", where text is not expected
	}
	if rv.Kind() == reflect.Pointer {
		if rv.IsNil() {
			rv.Set(reflect.New(rv.Type().Elem()))
		}
		d.decode(n, rv.Elem(), path)
		return
	}
	d.set[path] = n.Line
	switch {
	case rv.Type() == durationType || rv.Type() == stdDurationType:
		if s, ok := d.scalar(n, path, "a duration like 30s or 1h"); ok {
			v, err := parseDuration(s)
			if err != nil {
				d.errorf(n.Line, path, "%s", d.durationMsg(n, err))
				return
			}
			rv.SetInt(int64(v))
		}
		return
	}
	switch rv.Kind() {
	case reflect.Struct:
		d.decodeStruct(n, rv, path, nil, nil)
	case reflect.Slice:
		if n.Kind == yaml.ScalarNode && rv.Type().Elem().Kind() == reflect.String {
			// One value where a list of strings is expected is a list of one: the HA app's
			// option types (e.g. email) are single values.
			s := reflect.MakeSlice(rv.Type(), 1, 1)
			d.decode(n, s.Index(0), indexPath(path, 0))
			rv.Set(s)
			return
		}
		if n.Kind != yaml.SequenceNode {
			d.errorf(n.Line, path, "expected a list, got %s", d.got(n))
			return
		}
		s := reflect.MakeSlice(rv.Type(), len(n.Content), len(n.Content))
		for i, c := range n.Content {
			d.decode(c, s.Index(i), indexPath(path, i))
		}
		rv.Set(s)
	case reflect.Map:
		if rv.Type().Key().Kind() != reflect.String || n.Kind != yaml.MappingNode {
			d.errorf(n.Line, path, "expected a mapping, got %s", d.got(n))
			return
		}
		if rv.IsNil() {
			rv.Set(reflect.MakeMap(rv.Type()))
		}
		for _, p := range pairs(n) {
			if p.key.Kind != yaml.ScalarNode {
				d.errorf(p.key.Line, path, "keys must be plain text, got %s", describe(p.key))
				continue
			}
			elem := reflect.New(rv.Type().Elem()).Elem()
			d.decode(p.value, elem, joinPath(path, p.key.Value))
			rv.SetMapIndex(reflect.ValueOf(p.key.Value).Convert(rv.Type().Key()), elem)
		}
	case reflect.String:
		if s, ok := d.scalar(n, path, "a string"); ok {
			rv.SetString(s)
		}
	case reflect.Bool:
		if s, ok := d.scalar(n, path, "a boolean"); ok {
			v, ok := parseBool(s)
			if !ok {
				d.errorf(n.Line, path, "expected a boolean, got %s", d.got(n))
				return
			}
			rv.SetBool(v)
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		if s, ok := d.scalar(n, path, "an integer"); ok {
			v, err := strconv.ParseInt(s, 0, rv.Type().Bits())
			if err != nil {
				d.intError(n, path, err)
				return
			}
			rv.SetInt(v)
		}
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		if s, ok := d.scalar(n, path, "a non-negative integer"); ok {
			v, err := strconv.ParseUint(s, 0, rv.Type().Bits())
			if err != nil {
				d.intError(n, path, err)
				return
			}
			rv.SetUint(v)
		}
	case reflect.Float32, reflect.Float64:
		if s, ok := d.scalar(n, path, "a number"); ok {
			v, err := strconv.ParseFloat(s, rv.Type().Bits())
			if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
				d.errorf(n.Line, path, "expected a number, got %s", d.got(n))
				return
			}
			rv.SetFloat(v)
		}
	case reflect.Interface:
		var v any
		if err := n.Decode(&v); err != nil {
			d.errorf(n.Line, path, "%s", strings.TrimPrefix(err.Error(), "yaml: "))
			return
		}
		if v != nil {
			rv.Set(reflect.ValueOf(v))
		}
	default:
		d.errorf(n.Line, path, "cannot decode into Go type %s", rv.Type())
	}
}

// emptyMeansUnset is true for booleans, numbers and durations (behind pointers too).
func emptyMeansUnset(t reflect.Type) bool {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Float32, reflect.Float64:
		return true
	}
	return false
}

// scalar returns the text of a scalar node, or reports that a non-scalar was given where
// want was expected.
func (d *decoder) scalar(n *yaml.Node, path, want string) (string, bool) {
	if n.Kind != yaml.ScalarNode {
		d.errorf(n.Line, path, "expected %s, got %s", want, d.got(n))
		return "", false
	}
	return n.Value, true
}

func (d *decoder) intError(n *yaml.Node, path string, err error) {
	if errors.Is(err, strconv.ErrRange) {
		d.errorf(n.Line, path, "integer out of range, got %s", d.got(n))
		return
	}
	d.errorf(n.Line, path, "expected an integer, got %s", d.got(n))
}

func (d *decoder) durationMsg(n *yaml.Node, err error) string {
	if errors.Is(err, errNoUnit) {
		return fmt.Sprintf("expected a duration like 30s or 1h, got %s (use a unit, e.g. 30s)", d.got(n))
	}
	return fmt.Sprintf("expected a duration like 30s or 1h, got %s", d.got(n))
}

// parseBool accepts YAML's spellings as well as JSON's, since values may come from
// environment variables where "yes" and "on" are common.
func parseBool(s string) (bool, bool) {
	switch strings.ToLower(s) {
	case "true", "yes", "on":
		return true, true
	case "false", "no", "off":
		return false, true
	}
	return false, false
}

// decodeStruct decodes a mapping into the struct rv. Keys that match no field go to extra
// when it is set (the provider-specific keys of an account), else are reported as unknown
// with a suggestion drawn from the struct's keys and alsoKnown.
// extra, when set, is offered every key the struct does not know; it returns false to
// leave the key an error.
func (d *decoder) decodeStruct(n *yaml.Node, rv reflect.Value, path string, alsoKnown []string, extra func(pair) bool) {
	if n.Kind != yaml.MappingNode {
		d.errorf(n.Line, path, "expected a mapping, got %s", d.got(n))
		return
	}
	fields := fieldsOf(rv.Type())
	byName := make(map[string]field, len(fields))
	known := make([]string, 0, len(fields)+len(alsoKnown))
	for _, f := range fields {
		byName[f.name] = f
		known = append(known, f.name)
	}
	known = append(known, alsoKnown...)
	ps := pairs(n)
	present := make(map[string]int, len(ps))
	for _, p := range ps {
		if p.key.Kind == yaml.ScalarNode {
			present[p.key.Value] = p.key.Line
		}
	}
	for _, p := range ps {
		if p.key.Kind != yaml.ScalarNode {
			d.errorf(p.key.Line, path, "keys must be plain text, got %s", describe(p.key))
			continue
		}
		key := p.key.Value
		if f, ok := byName[key]; ok {
			d.decodeField(p.value, rv, f, joinPath(path, key))
			continue
		}
		// "<key>_file" reads <key> from a file, unless the struct has a "<key>_file" of its
		// own (ca_file, key_file are ordinary path fields).
		if base, ok := strings.CutSuffix(key, "_file"); ok {
			if f, ok := byName[base]; ok {
				if content, ok := d.readKeyFile(p, base, path, present, d.readFile); ok {
					d.decodeField(content, rv, f, joinPath(path, base))
				}
				continue
			}
		}
		if extra != nil && extra(p) {
			continue
		}
		d.errorf(p.key.Line, joinPath(path, key), "%s", unknownKeyMsg(key, known, fileVariants(fields)...))
	}
}

// fileVariants lists "<key>_file" for every field as extra suggestion candidates, so a
// misspelt "pasword_file" still gets its suggestion.
func fileVariants(fields []field) []string {
	out := make([]string, 0, len(fields))
	for _, f := range fields {
		out = append(out, f.name+"_file")
	}
	return out
}

// decodeField decodes one struct field and hands its strings to the redactor when it is
// tagged secret.
func (d *decoder) decodeField(n *yaml.Node, rv reflect.Value, f field, path string) {
	fv := rv.FieldByIndex(f.index)
	d.decode(n, fv, path)
	if f.secret && d.secret != nil {
		collectStrings(fv, d.secret)
	}
}

// readKeyFile reads the file named by "<base>_file" (the pair p, in the mapping at path)
// and returns its content, trailing newlines trimmed, as a node at the same place. It
// reports a conflicting "<base>" key, a non-path value and an unreadable file.
func (d *decoder) readKeyFile(p pair, base, path string, present map[string]int, read func(string) ([]byte, error)) (*yaml.Node, bool) {
	keyPath := joinPath(path, p.key.Value)
	if line, both := present[base]; both {
		d.errorf(p.key.Line, keyPath, "%q is already set at line %d; use only one of them", base, line)
		return nil, false
	}
	n := resolve(p.value)
	if isNull(n) {
		return nil, false
	}
	if n.Kind != yaml.ScalarNode || n.Value == "" {
		d.errorf(n.Line, keyPath, "expected a file path, got %s", describe(n))
		return nil, false
	}
	data, err := read(n.Value)
	if err != nil {
		d.errorf(n.Line, keyPath, "cannot read %q: %s", n.Value, fileErr(err))
		return nil, false
	}
	content := &yaml.Node{
		Kind: yaml.ScalarNode, Tag: "!!str", Value: strings.TrimRight(string(data), "\r\n"),
		Line: n.Line, Column: n.Column,
	}
	d.fromFile[content] = n.Value
	return content, true
}

// fileErr drops the path from *fs.PathError, since the message names it already.
func fileErr(err error) string {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}

// collectStrings passes every non-empty string inside v to fn.
func collectStrings(v reflect.Value, fn func(string)) {
	switch v.Kind() {
	case reflect.String:
		if s := v.String(); s != "" {
			fn(s)
		}
	case reflect.Pointer, reflect.Interface:
		if !v.IsNil() {
			collectStrings(v.Elem(), fn)
		}
	case reflect.Slice, reflect.Array:
		for i := 0; i < v.Len(); i++ {
			collectStrings(v.Index(i), fn)
		}
	case reflect.Map:
		for it := v.MapRange(); it.Next(); {
			collectStrings(it.Value(), fn)
		}
	case reflect.Struct:
		for i := 0; i < v.NumField(); i++ {
			if v.Type().Field(i).IsExported() {
				collectStrings(v.Field(i), fn)
			}
		}
	}
}

// section keeps n, a provider kind's top-level block, for its owner to decode; false when
// it is absent (null) or not a mapping (an error).
func (d *decoder) section(n *yaml.Node, path string) (Section, bool) {
	n = resolve(n)
	if isNull(n) {
		return Section{}, false
	}
	d.set[path] = n.Line
	if n.Kind != yaml.MappingNode {
		d.errorf(n.Line, path, "expected a mapping of settings, got %s", describe(n))
		return Section{}, false
	}
	secretScalars(n, false, d.secret)
	return Section{node: n, file: d.file, path: path}, true
}
