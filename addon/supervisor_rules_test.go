package addon_test

// The Home Assistant Supervisor's rules for an app's schema and options, written from its
// public developer documentation (app configuration: "Options / Schema") and its observed
// behaviour, so the app's shipped options can be checked here without a Supervisor:
//
//   - A schema value is a type string, a one-element list (a list of that element; a list
//     may not directly hold a list) or a dict. Lists and dicts nest at most two deep
//     ("logins: [{username: str}]" is two deep); a list of a type ([email]) is one field
//     that takes several values, not a level.
//   - Types: str, password (length bounds), int, float (value bounds), bool, email, url,
//     port, match(REGEX), list(a|b|…), device; a trailing ? makes the option optional.
//   - Options are validated key by key: unknown keys are dropped (with a warning), a null
//     value is a missing value even for an optional type, "!secret name" is looked up.
//   - After that, every schema key the options lack must be optional. Only a type string
//     (or a list of one) can be: a dict in the schema that is missing from the options is a
//     missing option, even when every key inside it ends in ?. The check runs in every dict,
//     with the message "Missing option 'KEY' in PARENT" (PARENT is root at the top).
//   - Values are converted: what the app reads from /data/options.json is the result.

import (
	"fmt"
	"math"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// elementRE is the grammar of a type string.
var elementRE = regexp.MustCompile(`^(?:` +
	`|bool|email|url|port` +
	`|device(?:\((?P<filter>subsystem=[a-z]+)\))?` +
	`|str(?:\((?P<s_min>\d+)?,(?P<s_max>\d+)?\))?` +
	`|password(?:\((?P<p_min>\d+)?,(?P<p_max>\d+)?\))?` +
	`|int(?:\((?P<i_min>\d+)?,(?P<i_max>\d+)?\))?` +
	`|float(?:\((?P<f_min>[\d.]+)?,(?P<f_max>[\d.]+)?\))?` +
	`|match\((?P<match>.*)\)` +
	`|list\((?P<list>.+)\)` +
	`)\??$`)

// maxDepth is how deep lists and dicts may nest below the root ("a maximum depth of two").
const maxDepth = 2

// checkSchema applies the rules for the schema itself (the app is refused at load time
// when they fail).
func checkSchema(schema map[string]any) error {
	var walk func(v any, path string, depth int) error
	walk = func(v any, path string, depth int) error {
		switch x := v.(type) {
		case string:
			if !elementRE.MatchString(x) {
				return fmt.Errorf("schema %s: unknown type %q", path, x)
			}
			return nil
		case []any:
			if len(x) != 1 {
				return fmt.Errorf("schema %s: a list names exactly one element, got %d", path, len(x))
			}
			switch x[0].(type) {
			case []any:
				return fmt.Errorf("schema %s: a list may not directly hold a list", path)
			case string:
				return walk(x[0], path+"[]", depth) // a list of values is one field (several values), not a level
			}
			if depth+1 > maxDepth {
				return fmt.Errorf("schema %s: nested deeper than %d", path, maxDepth)
			}
			return walk(x[0], path+"[]", depth+1)
		case map[string]any:
			if depth+1 > maxDepth && path != "" {
				return fmt.Errorf("schema %s: nested deeper than %d", path, maxDepth)
			}
			next := depth + 1
			if path == "" {
				next = 0 // the root dict itself is no nesting
			}
			for _, k := range sortedKeys(x) {
				p := k
				if path != "" {
					p = path + "." + k
				}
				if err := walk(x[k], p, next); err != nil {
					return err
				}
			}
			return nil
		default:
			return fmt.Errorf("schema %s: invalid element %v (%T)", path, v, v)
		}
	}
	return walk(schema, "", 0)
}

// supervisor validates options as the Supervisor does when it starts the app.
type supervisor struct {
	secrets  map[string]any // secrets.yaml of Home Assistant, for "!secret name"
	warnings []string       // unknown keys, dropped
}

// validate returns the options as the app would read them from /data/options.json.
func (s *supervisor) validate(schema, options map[string]any) (map[string]any, error) {
	out := map[string]any{}
	for _, k := range sortedKeys(options) {
		typ, ok := schema[k]
		if !ok {
			s.warnings = append(s.warnings, fmt.Sprintf("option '%s' does not exist in the schema", k))
			continue
		}
		v, err := s.element(typ, options[k], k)
		if err != nil {
			return nil, err
		}
		out[k] = v
	}
	if err := checkMissing(schema, out, "root"); err != nil {
		return nil, err
	}
	return out, nil
}

func (s *supervisor) element(typ, value any, key string) (any, error) {
	switch t := typ.(type) {
	case []any:
		items, ok := value.([]any)
		if !ok {
			return nil, fmt.Errorf("invalid list for option '%s'", key)
		}
		out := make([]any, 0, len(items))
		for _, it := range items {
			v, err := s.element(t[0], it, key)
			if err != nil {
				return nil, err
			}
			out = append(out, v)
		}
		return out, nil
	case map[string]any:
		m, ok := value.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("invalid dict for option '%s'", key)
		}
		out := map[string]any{}
		for _, k := range sortedKeys(m) {
			ct, ok := t[k]
			if !ok {
				s.warnings = append(s.warnings, fmt.Sprintf("unknown option '%s' (in %s)", k, key))
				continue
			}
			v, err := s.element(ct, m[k], k)
			if err != nil {
				return nil, err
			}
			out[k] = v
		}
		if err := checkMissing(t, out, key); err != nil {
			return nil, err
		}
		return out, nil
	case string:
		return s.single(t, value, key)
	}
	return nil, fmt.Errorf("type error for option '%s'", key)
}

func checkMissing(schema, have map[string]any, parent string) error {
	for _, k := range sortedKeys(schema) {
		if _, ok := have[k]; ok {
			continue
		}
		miss := schema[k]
		if l, ok := miss.([]any); ok && len(l) > 0 {
			miss = l[0] // a list is optional when its element is: ["str?"]
		}
		if t, ok := miss.(string); ok && strings.HasSuffix(t, "?") {
			continue
		}
		return fmt.Errorf("Missing option '%s' in %s", k, parent)
	}
	return nil
}

func (s *supervisor) single(typ string, value any, key string) (any, error) {
	if value == nil {
		return nil, fmt.Errorf("Missing required option '%s'", key)
	}
	if str, ok := value.(string); ok && strings.HasPrefix(str, "!secret ") {
		name := strings.TrimPrefix(str, "!secret ")
		v, ok := s.secrets[name]
		if !ok || v == nil {
			return nil, fmt.Errorf("Unknown secret '%s'", name)
		}
		value = v
	}
	m := elementRE.FindStringSubmatch(typ)
	if m == nil {
		return nil, fmt.Errorf("unknown type '%s'", typ)
	}
	group := func(name string) string { return m[elementRE.SubexpIndex(name)] }
	bad := func(format string, args ...any) error {
		return fmt.Errorf("option '%s' (%s): "+format, append([]any{key, typ}, args...)...)
	}
	bounds := func(prefix string) (lo, hi float64) {
		lo, hi = math.Inf(-1), math.Inf(1)
		if v := group(prefix + "_min"); v != "" {
			lo, _ = strconv.ParseFloat(v, 64)
		}
		if v := group(prefix + "_max"); v != "" {
			hi, _ = strconv.ParseFloat(v, 64)
		}
		return lo, hi
	}
	base := strings.TrimSuffix(typ, "?")
	switch {
	case strings.HasPrefix(base, "str"), strings.HasPrefix(base, "password"):
		str, ok := value.(string)
		if !ok {
			return nil, bad("expected a string, got %v", value)
		}
		prefix := "s"
		if strings.HasPrefix(base, "password") {
			prefix = "p"
		}
		if lo, hi := bounds(prefix); float64(len([]rune(str))) < lo || float64(len([]rune(str))) > hi {
			return nil, bad("length %d out of range", len([]rune(str)))
		}
		return str, nil
	case strings.HasPrefix(base, "int"), base == "port":
		n, ok := toNumber(value)
		if str, isStr := value.(string); isStr { // int("1.5") is an error, int(1.5) is 1
			i, err := strconv.ParseInt(strings.TrimSpace(str), 10, 64)
			n, ok = float64(i), err == nil
		}
		if !ok {
			return nil, bad("expected an integer, got %v", value)
		}
		i := math.Trunc(n)
		lo, hi := bounds("i")
		if base == "port" {
			lo, hi = 1, 65535
		}
		if i < lo || i > hi {
			return nil, bad("%v out of range", i)
		}
		return int64(i), nil
	case strings.HasPrefix(base, "float"):
		n, ok := toNumber(value)
		if !ok {
			return nil, bad("expected a number, got %v", value)
		}
		if lo, hi := bounds("f"); n < lo || n > hi {
			return nil, bad("%v out of range", n)
		}
		return n, nil
	case base == "bool":
		switch v := value.(type) {
		case bool:
			return v, nil
		case string:
			switch strings.ToLower(v) {
			case "1", "true", "yes", "on", "enable":
				return true, nil
			case "0", "false", "no", "off", "disable":
				return false, nil
			}
			return nil, bad("expected a boolean, got %q", v)
		case float64:
			return v != 0, nil
		case int:
			return v != 0, nil
		}
		return nil, bad("expected a boolean, got %v", value)
	case base == "email":
		str, ok := value.(string)
		if !ok || !emailRE.MatchString(str) {
			return nil, bad("expected an email address, got %v", value)
		}
		return str, nil
	case base == "url":
		str, ok := value.(string)
		if !ok {
			return nil, bad("expected a URL, got %v", value)
		}
		u, err := url.Parse(str)
		if err != nil || u.Scheme == "" || u.Host == "" {
			return nil, bad("expected a URL with scheme and host, got %q", str)
		}
		return str, nil
	case strings.HasPrefix(base, "match("):
		re, err := regexp.Compile(`^(?:` + group("match") + `)`) // anchored at the start only
		if err != nil {
			return nil, bad("bad pattern: %v", err)
		}
		str := fmt.Sprint(value)
		if !re.MatchString(str) {
			return nil, bad("%q does not match", str)
		}
		return str, nil
	case strings.HasPrefix(base, "list("):
		str := fmt.Sprint(value)
		if !slices.Contains(strings.Split(group("list"), "|"), str) {
			return nil, bad("%q is not one of %s", str, group("list"))
		}
		return str, nil
	case strings.HasPrefix(base, "device"):
		// The Supervisor looks the path up in the host's hardware; here only its shape.
		str, ok := value.(string)
		if !ok || !strings.HasPrefix(str, "/dev/") {
			return nil, bad("expected a device path, got %v", value)
		}
		return str, nil
	}
	return nil, bad("unhandled type")
}

// emailRE accepts addresses as the Supervisor's validator does, closely enough: a dot-atom
// or quoted local part, and a domain of dot-separated labels.
var emailRE = regexp.MustCompile(`^(?:[-!#$%&'*+/=?^_` + "`" + `{}|~0-9A-Za-z]+(?:\.[-!#$%&'*+/=?^_` + "`" + `{}|~0-9A-Za-z]+)*|"[^"\\]*")@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z0-9-]{2,63}$`)

// toNumber converts as Python's int()/float() do on a JSON value: numbers, numeric strings
// and booleans.
func toNumber(v any) (float64, bool) {
	switch x := v.(type) {
	case float64:
		return x, true
	case int:
		return float64(x), true
	case int64:
		return float64(x), true
	case bool:
		if x {
			return 1, true
		}
		return 0, true
	case string:
		f, err := strconv.ParseFloat(strings.TrimSpace(x), 64)
		return f, err == nil
	}
	return 0, false
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
