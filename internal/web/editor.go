package web

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// The config editor shows the file as it is, comments and all, with every secret value
// replaced by "***"; on save each "***" gets back the value at the same place (key path)
// of the saved file, so the browser never sees a secret and the user never retypes one.

// maskToken is what a secret becomes in the editor (quoted: a bare *** is a YAML alias).
const maskToken = `"***"`

// secretKeyRe matches keys whose values are secrets (as internal/config treats them).
var secretKeyRe = regexp.MustCompile(`(?i)password|passwd|token|secret|cookie|api_key|apikey|authorization|private_key`)

func isSecretKey(k string) bool { return secretKeyRe.MatchString(k) && !strings.HasSuffix(k, "_file") }

// envOnlyRe: a value that is only ${ENV} references names secrets without holding them.
var envOnlyRe = regexp.MustCompile(`^(\$\{[A-Za-z_][A-Za-z0-9_]*(:-[^}]*)?\})+$`)

// secretSpot is one secret scalar in a file.
type secretSpot struct {
	path      string
	line, col int // 1-based, of the token
	token     string
	value     string
}

// findSecrets lists the secret scalars of data: values under secret keys, URLs with a
// password, the webhook URL, and any scalar holding one of known.
func findSecrets(data []byte, known []string) ([]secretSpot, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, err
	}
	lines := strings.Split(string(data), "\n")
	var spots []secretSpot
	var walk func(n *yaml.Node, path string, inSecret bool) error
	walk = func(n *yaml.Node, path string, inSecret bool) error {
		switch n.Kind {
		case yaml.DocumentNode:
			for _, c := range n.Content {
				if err := walk(c, path, inSecret); err != nil {
					return err
				}
			}
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				k := n.Content[i].Value
				p := k
				if path != "" {
					p = path + "." + k
				}
				if err := walk(n.Content[i+1], p, inSecret || isSecretKey(k) || p == "alerts.webhook.url"); err != nil {
					return err
				}
			}
		case yaml.SequenceNode:
			for i, c := range n.Content {
				if err := walk(c, path+itemKey(c, i), inSecret); err != nil {
					return err
				}
			}
		case yaml.ScalarNode:
			if n.Value == "" || envOnlyRe.MatchString(n.Value) || !(inSecret || urlPassword(n.Value) || holdsAny(n.Value, known)) {
				return nil
			}
			tok, err := tokenAt(lines, n)
			if err != nil {
				return fmt.Errorf("line %d: %s: %w", n.Line, path, err)
			}
			spots = append(spots, secretSpot{path: path, line: n.Line, col: n.Column, token: tok, value: n.Value})
		}
		return nil
	}
	if err := walk(&root, "", false); err != nil {
		return nil, err
	}
	return spots, nil
}

// itemKey names a sequence item by its id when it has one, so a secret follows its
// account when accounts are reordered or added.
func itemKey(n *yaml.Node, i int) string {
	if n.Kind == yaml.MappingNode {
		for j := 0; j+1 < len(n.Content); j += 2 {
			if n.Content[j].Value == "id" && n.Content[j+1].Kind == yaml.ScalarNode && n.Content[j+1].Value != "" {
				return "[id=" + n.Content[j+1].Value + "]"
			}
		}
	}
	return "[" + strconv.Itoa(i) + "]"
}

func urlPassword(s string) bool {
	i := strings.Index(s, "://")
	if i < 0 {
		return false
	}
	rest := s[i+3:]
	at := strings.IndexByte(rest, '@')
	return at > 0 && strings.Contains(rest[:at], ":")
}

func holdsAny(s string, known []string) bool {
	for _, k := range known {
		if len(k) >= 4 && strings.Contains(s, k) {
			return true
		}
	}
	return false
}

// tokenAt is the source text of scalar n, which must sit on one line.
func tokenAt(lines []string, n *yaml.Node) (string, error) {
	if n.Line < 1 || n.Line > len(lines) {
		return "", fmt.Errorf("value not found")
	}
	line := strings.TrimRight(lines[n.Line-1], "\r")
	if n.Column < 1 || n.Column > len(line) {
		return "", fmt.Errorf("value not found")
	}
	rest := line[n.Column-1:]
	var tok string
	switch n.Style {
	case yaml.DoubleQuotedStyle:
		end := 1
		for end < len(rest) && rest[end] != '"' {
			if rest[end] == '\\' {
				end++
			}
			end++
		}
		if end >= len(rest) {
			return "", fmt.Errorf("a secret spread over several lines cannot be hidden; the editor is off for this file")
		}
		tok = rest[:end+1]
	case yaml.SingleQuotedStyle:
		end := 1
		for end < len(rest) {
			if rest[end] == '\'' {
				if end+1 < len(rest) && rest[end+1] == '\'' {
					end += 2
					continue
				}
				break
			}
			end++
		}
		if end >= len(rest) {
			return "", fmt.Errorf("a secret spread over several lines cannot be hidden; the editor is off for this file")
		}
		tok = rest[:end+1]
	case 0:
		tok = rest
		if i := strings.Index(tok, " #"); i >= 0 {
			tok = tok[:i]
		}
		tok = strings.TrimRight(tok, " \t")
	default:
		return "", fmt.Errorf("a secret in a block scalar cannot be hidden; the editor is off for this file")
	}
	var v string
	if err := yaml.Unmarshal([]byte("v: "+tok), &struct {
		V *string `yaml:"v"`
	}{&v}); err != nil || v != n.Value {
		return "", fmt.Errorf("this secret's value cannot be hidden safely; the editor is off for this file")
	}
	return tok, nil
}

// edit is one replacement of a token on a line.
type edit struct {
	line, col int
	old, new  string
}

// apply replaces the tokens (each on its own line position) in data.
func apply(data []byte, edits []edit) []byte {
	lines := strings.Split(string(data), "\n")
	sort.Slice(edits, func(i, j int) bool {
		if edits[i].line != edits[j].line {
			return edits[i].line > edits[j].line
		}
		return edits[i].col > edits[j].col
	})
	for _, e := range edits {
		l := lines[e.line-1]
		start := e.col - 1
		lines[e.line-1] = l[:start] + e.new + l[start+len(e.old):]
	}
	return []byte(strings.Join(lines, "\n"))
}

// maskConfig returns data with every secret shown as "***".
func maskConfig(data []byte, known []string) ([]byte, error) {
	spots, err := findSecrets(data, known)
	if err != nil {
		return nil, err
	}
	edits := make([]edit, len(spots))
	for i, s := range spots {
		edits[i] = edit{line: s.line, col: s.col, old: s.token, new: maskToken}
	}
	return apply(data, edits), nil
}

// unmaskConfig puts the secrets of saved back into edited where it says "***". A "***"
// at a place that had no secret is a Problem.
func unmaskConfig(edited, saved []byte, known []string) ([]byte, []Problem) {
	var root yaml.Node
	if err := yaml.Unmarshal(edited, &root); err != nil {
		return edited, nil // the check reports the syntax error at its line
	}
	old := map[string]secretSpot{}
	if spots, err := findSecrets(saved, known); err == nil {
		for _, s := range spots {
			old[s.path] = s
		}
	}
	lines := strings.Split(string(edited), "\n")
	var edits []edit
	var problems []Problem
	var walk func(n *yaml.Node, path string)
	walk = func(n *yaml.Node, path string) {
		switch n.Kind {
		case yaml.DocumentNode:
			for _, c := range n.Content {
				walk(c, path)
			}
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				p := n.Content[i].Value
				if path != "" {
					p = path + "." + p
				}
				walk(n.Content[i+1], p)
			}
		case yaml.SequenceNode:
			for i, c := range n.Content {
				walk(c, path+itemKey(c, i))
			}
		case yaml.ScalarNode:
			if n.Value != "***" || n.Style == 0 {
				return
			}
			tok, err := tokenAt(lines, n)
			if err != nil {
				return
			}
			s, ok := old[path]
			if !ok {
				problems = append(problems, Problem{Line: n.Line, Path: path,
					Msg: `"***" stands for a secret kept from the saved file, but it has none here: type the value`})
				return
			}
			edits = append(edits, edit{line: n.Line, col: n.Column, old: tok, new: s.token})
		}
	}
	walk(&root, "")
	return apply(edited, edits), problems
}

// editorState is what GET api/config/file returns.
type editorState struct {
	Path string `json:"path"`
	Text string `json:"text"`
	Base string `json:"base"` // hash of the file the text came from: a save over a changed file is refused
}

func hashOf(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:8])
}

// saveFile writes data to path atomically, keeping the previous content as path.bak.
func saveFile(path string, data, previous []byte) (string, error) {
	mode := os.FileMode(0o600)
	if fi, err := os.Stat(path); err == nil {
		mode = fi.Mode().Perm()
	}
	backup := path + ".bak"
	if err := os.WriteFile(backup, previous, 0o600); err != nil {
		return "", fmt.Errorf("backup not written: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".accountbridge-*.yaml")
	if err != nil {
		return "", err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return "", err
	}
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return "", err
	}
	if err := tmp.Close(); err != nil {
		return "", err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return "", err
	}
	return backup, nil
}

// redactProblems hides any secret value a message might quote.
func redactProblems(ps []Problem, secrets []string) []Problem {
	for i := range ps {
		for _, s := range secrets {
			if len(s) >= 4 {
				ps[i].Msg = strings.ReplaceAll(ps[i].Msg, s, "***")
				ps[i].Path = strings.ReplaceAll(ps[i].Path, s, "***")
			}
		}
	}
	return ps
}
