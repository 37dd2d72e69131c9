package config

import (
	"fmt"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// pair is one key and its value in a mapping, after aliases and merge keys are resolved.
type pair struct {
	key, value *yaml.Node
}

// resolve follows aliases to the node they name.
func resolve(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	return n
}

func isNull(n *yaml.Node) bool {
	n = resolve(n)
	return n == nil || n.Kind == 0 || (n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null")
}

// pairs lists the entries of a mapping. Explicit keys come first and win over keys pulled
// in with "<<: *anchor"; a repeated explicit key keeps its first value (the repetition is
// reported by check). Non-scalar keys are returned as they are for the caller to reject.
func pairs(m *yaml.Node) []pair {
	m = resolve(m)
	var out []pair
	seen := map[string]bool{}
	var merges []*yaml.Node
	for i := 0; i+1 < len(m.Content); i += 2 {
		k, v := m.Content[i], m.Content[i+1]
		if k.Kind == yaml.ScalarNode && k.ShortTag() == "!!merge" {
			merges = append(merges, resolve(v))
			continue
		}
		if k.Kind == yaml.ScalarNode {
			if seen[k.Value] {
				continue
			}
			seen[k.Value] = true
		}
		out = append(out, pair{k, v})
	}
	for _, src := range merges {
		sources := []*yaml.Node{src}
		if src.Kind == yaml.SequenceNode {
			sources = sources[:0]
			for _, s := range src.Content {
				sources = append(sources, resolve(s))
			}
		}
		for _, s := range sources {
			if s.Kind != yaml.MappingNode {
				continue
			}
			for _, p := range pairs(s) {
				if p.key.Kind == yaml.ScalarNode && !seen[p.key.Value] {
					seen[p.key.Value] = true
					out = append(out, p)
				}
			}
		}
	}
	return out
}

// describe names what a node holds for "expected X, got Y" messages.
func describe(n *yaml.Node) string {
	n = resolve(n)
	switch {
	case isNull(n):
		return "nothing"
	case n.Kind == yaml.MappingNode:
		return "a mapping"
	case n.Kind == yaml.SequenceNode:
		return "a list"
	default:
		return strconv.Quote(n.Value)
	}
}

func joinPath(parent, key string) string {
	if parent == "" || key == "" {
		return parent + key
	}
	return parent + "." + key
}

func indexPath(parent string, i int) string {
	return fmt.Sprintf("%s[%d]", parent, i)
}

// prepare walks the whole document once: it reports keys repeated in one mapping and
// expands ${VAR} in every scalar value (never in keys). Aliased nodes are visited only
// where they are defined, so nothing is expanded twice ("$${" must stay a literal "${").
func (d *decoder) prepare(n *yaml.Node, path string) {
	switch n.Kind {
	case yaml.DocumentNode:
		for _, c := range n.Content {
			d.prepare(c, path)
		}
	case yaml.SequenceNode:
		for i, c := range n.Content {
			d.prepare(c, indexPath(path, i))
		}
	case yaml.MappingNode:
		first := map[string]int{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			key := k.Value
			if k.Kind == yaml.ScalarNode && k.ShortTag() != "!!merge" {
				if line, dup := first[key]; dup {
					// Appended directly: the first value is still decoded and checked.
					d.errs = append(d.errs, Error{File: d.file, Line: k.Line, Path: joinPath(path, key),
						Msg: fmt.Sprintf("duplicate key (first at line %d)", line)})
				} else {
					first[key] = k.Line
				}
			}
			d.prepare(v, joinPath(path, key))
		}
	case yaml.ScalarNode:
		if !strings.Contains(n.Value, "$") {
			return
		}
		v, err := expandEnv(n.Value, d.lookupEnv)
		if err != nil {
			d.errorf(n.Line, path, "%s", err)
			return
		}
		n.Value = v
		// An expanded value is text whatever it looks like; its target type decides.
		n.Tag = "!!str"
	}
}

// expandEnv replaces ${VAR} and ${VAR:-default} (default when VAR is unset or empty);
// "$${" stands for a literal "${". Any other "$" is kept as it is.
func expandEnv(s string, lookup func(string) (string, bool)) (string, error) {
	var b strings.Builder
	for i := 0; i < len(s); {
		switch {
		case strings.HasPrefix(s[i:], "$${"):
			b.WriteString("${")
			i += 3
		case strings.HasPrefix(s[i:], "${"):
			end := strings.IndexByte(s[i+2:], '}')
			if end < 0 {
				return "", fmt.Errorf(`unterminated "${" (write "$${" for a literal "${")`)
			}
			expr := s[i+2 : i+2+end]
			name, def, hasDef := strings.Cut(expr, ":-")
			if !validEnvName(name) {
				return "", fmt.Errorf("invalid environment variable name %q", name)
			}
			v, ok := lookup(name)
			switch {
			case hasDef && v == "":
				v = def
			case !ok:
				return "", fmt.Errorf("environment variable %s is not set", name)
			}
			b.WriteString(v)
			i += 2 + end + 1
		default:
			b.WriteByte(s[i])
			i++
		}
	}
	return b.String(), nil
}

func validEnvName(s string) bool {
	if s == "" {
		return false
	}
	for i, c := range s {
		letter := c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
		if !letter && (i == 0 || c < '0' || c > '9') {
			return false
		}
	}
	return true
}

// lineIn finds the line of key, a path relative to the mapping n ("user_code",
// "watch[1].service"), going as deep as the file does: a key that is absent gives the line
// of its closest enclosing node. "<key>_file" stands for "<key>".
func lineIn(n *yaml.Node, key string) int {
	n = resolve(n)
	if n == nil {
		return 0
	}
	line := n.Line
	for key != "" {
		var seg string
		seg, key = nextSegment(key)
		if i, err := strconv.Atoi(strings.Trim(seg, "[]")); err == nil && strings.HasPrefix(seg, "[") {
			if n.Kind != yaml.SequenceNode || i < 0 || i >= len(n.Content) {
				return line
			}
			n = resolve(n.Content[i])
			line = n.Line
			continue
		}
		if n.Kind != yaml.MappingNode {
			return line
		}
		var found *pair
		for _, p := range pairs(n) {
			if p.key.Value == seg || (found == nil && p.key.Value == seg+"_file") {
				found = &p
			}
		}
		if found == nil {
			return line
		}
		line = found.key.Line
		n = resolve(found.value)
	}
	return line
}

// nextSegment splits "a.b[2].c" into "a" and "b[2].c", "[2].c" into "[2]" and "c".
func nextSegment(path string) (seg, rest string) {
	if strings.HasPrefix(path, "[") {
		if i := strings.IndexByte(path, ']'); i > 0 {
			return path[:i+1], strings.TrimPrefix(path[i+1:], ".")
		}
		return path, ""
	}
	i := strings.IndexAny(path, ".[")
	if i < 0 {
		return path, ""
	}
	return path[:i], strings.TrimPrefix(path[i:], ".")
}
