package config

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"gopkg.in/yaml.v3"
)

// Account is one polled account: the keys every account has, plus provider-specific keys
// kept for the provider to decode with Decode.
type Account struct {
	ID       string   `yaml:"id"`       // [a-z0-9_]+, unique
	Provider string   `yaml:"provider"` // provider kind
	Name     string   `yaml:"name"`
	Schedule string   `yaml:"schedule"` // "" = Defaults.Schedule, else the provider's default
	Timeout  Duration `yaml:"timeout"`  // 0 = Defaults.Timeout
	Proxy    string   `yaml:"proxy"`    // http, https or socks5 URL
	Enabled  *bool    `yaml:"enabled"`  // nil = true; see IsEnabled

	file     string
	path     string         // "accounts[i]"
	line     int            // line of the account's first key
	keyLines map[string]int // line of each key; "<key>_file" also stands for "<key>"
	extra    *yaml.Node     // provider-specific keys: a mapping, env-expanded
	// files holds what secret-named "<key>_file" keys read at load time, by path, so
	// Decode sees the same content that went into Secrets and the fingerprint.
	files    map[string]fileResult
	readFile func(string) ([]byte, error)
	onSecret func(string)
	state    *accountState // shared by copies of the Account
	// released: the YAML nodes, key lines and secret files were dropped (see
	// Config.Released); fingerprint is the Fingerprint computed before.
	released    bool
	fingerprint string
}

type accountState struct {
	decoded atomic.Bool
}

type fileResult struct {
	data []byte
	err  error
}

// commonKeys are the keys of Account itself, offered alongside provider keys in messages.
func commonKeys() []string {
	fs := fieldsOf(accountType)
	keys := make([]string, len(fs))
	for i, f := range fs {
		keys[i] = f.name
	}
	return keys
}

// secretKeyRe matches keys whose values are secrets wherever they appear.
var secretKeyRe = regexp.MustCompile(`(?i)password|passwd|token|secret|cookie|api_key|apikey|authorization|private_key`)

// isSecretKey: "<key>_file" holds a path, not the secret itself.
func isSecretKey(key string) bool {
	return secretKeyRe.MatchString(key) && !strings.HasSuffix(key, "_file")
}

// decodeAccount decodes the common keys and keeps the rest as the provider's mapping.
func (d *decoder) decodeAccount(n *yaml.Node, a *Account, path string) {
	*a = Account{
		file: d.file, path: path, line: n.Line, keyLines: map[string]int{},
		extra:    &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Line: n.Line, Column: n.Column},
		files:    map[string]fileResult{},
		readFile: d.readFile,
	}
	if n.Kind != yaml.MappingNode {
		d.errorf(n.Line, path, "expected a mapping with id and provider, got %s", describe(n))
		return
	}
	a.state = &accountState{}
	ps := pairs(n)
	for _, p := range ps {
		a.keyLines[p.key.Value] = p.key.Line
	}
	for _, p := range ps {
		if base, ok := strings.CutSuffix(p.key.Value, "_file"); ok {
			if _, both := a.keyLines[base]; !both {
				a.keyLines[base] = p.key.Line
			}
		}
	}
	d.decodeStruct(n, reflect.ValueOf(a).Elem(), path, nil, func(p pair) bool {
		a.extra.Content = append(a.extra.Content, p.key, p.value)
		return true
	})
	d.loadExtraSecrets(a)
}

// loadExtraSecrets collects secret-named provider values for the redactor, and reads
// secret-named "<key>_file" files now, so that a missing file fails the load like any
// other config error. Other "*_file" keys may be plain paths; Decode decides those.
func (d *decoder) loadExtraSecrets(a *Account) {
	ps := pairs(a.extra)
	present := map[string]int{}
	for _, p := range ps {
		present[p.key.Value] = p.key.Line
	}
	read := func(path string) ([]byte, error) {
		data, err := d.readFile(path)
		a.files[path] = fileResult{data, err}
		return data, err
	}
	for _, p := range ps {
		key := p.key.Value
		base, isFile := strings.CutSuffix(key, "_file")
		if !isFile || !isSecretKey(base) {
			secretScalars(p.value, isSecretKey(key), d.secret)
			continue
		}
		if content, ok := d.readKeyFile(p, base, a.path, present, read); ok {
			d.secret(content.Value)
		}
	}
}

// secretScalars passes to fn every scalar under n that sits below a secret-named key
// (or everything, when inSecret).
func secretScalars(n *yaml.Node, inSecret bool, fn func(string)) {
	n = resolve(n)
	switch n.Kind {
	case yaml.MappingNode:
		for _, p := range pairs(n) {
			secretScalars(p.value, inSecret || isSecretKey(p.key.Value), fn)
		}
	case yaml.SequenceNode:
		for _, c := range n.Content {
			secretScalars(c, inSecret, fn)
		}
	case yaml.ScalarNode:
		if inSecret && !isNull(n) && n.Value != "" {
			fn(n.Value)
		}
	}
}

// IsEnabled reports whether the account is polled.
func (a Account) IsEnabled() bool { return a.Enabled == nil || *a.Enabled }

// EffectiveTimeout is the per-poll timeout of the account.
func (a Account) EffectiveTimeout(d Defaults) time.Duration {
	if a.Timeout > 0 {
		return a.Timeout.D()
	}
	return d.Timeout.D()
}

// EffectiveSchedule is the account's cron spec: its own, else the defaults', else the
// provider's default.
func (a Account) EffectiveSchedule(d Defaults, providerDefault string) string {
	switch {
	case a.Schedule != "":
		return a.Schedule
	case d.Schedule != "":
		return d.Schedule
	}
	return providerDefault
}

// Line is the line of the account in its file.
func (a Account) Line() int { return a.line }

// Decode strictly decodes the account's provider-specific keys into v, a pointer to a
// struct with yaml tags, reporting unknown keys and type errors as Errors with file:line
// and path "accounts[i].key". "<key>_file" reads <key> from a file as in the rest of the
// config. Values of fields tagged secret:"true" go to LoadOptions.OnSecret.
func (a *Account) Decode(v any) error { return a.DecodeWith(v, a.onSecret) }

// DecodeWith is Decode with its own callback for the values of fields tagged
// secret:"true" (for example the provider's Deps.Secret).
func (a *Account) DecodeWith(v any, secret func(value string)) error {
	if a.state == nil {
		a.state = &accountState{}
	}
	a.state.decoded.Store(true)
	if a.released {
		return fmt.Errorf("config: account %s: its settings were released after start-up; load the config again", a.ID)
	}
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Pointer || rv.IsNil() || rv.Elem().Kind() != reflect.Struct {
		return fmt.Errorf("config: Decode needs a pointer to a struct, got %T", v)
	}
	if a.extra == nil {
		return nil
	}
	read := a.readFile
	if read == nil {
		read = os.ReadFile
	}
	d := newDecoder(a.file, nil, func(p string) ([]byte, error) {
		if r, ok := a.files[p]; ok {
			return r.data, r.err
		}
		return read(p)
	}, secret)
	d.decodeStruct(a.extra, rv.Elem(), a.path, commonKeys(), nil)
	if len(d.errs) > 0 {
		return d.errs.sorted()
	}
	return nil
}

// DecodeCalled reports whether Decode (or DecodeWith) was called on the account.
func (a *Account) DecodeCalled() bool { return a.state != nil && a.state.decoded.Load() }

// ExtraKeys lists the provider-specific keys present, in file order.
func (a *Account) ExtraKeys() []string {
	if a.extra == nil {
		return nil
	}
	var keys []string
	for _, p := range pairs(a.extra) {
		keys = append(keys, p.key.Value)
	}
	return keys
}

// UnknownExtra reports every provider-specific key as unknown, for providers that take
// no settings of their own.
func (a *Account) UnknownExtra() Errors {
	if a.extra == nil {
		return nil
	}
	var errs Errors
	for _, p := range pairs(a.extra) {
		key := p.key.Value
		errs = append(errs, Error{File: a.file, Line: p.key.Line, Path: joinPath(a.path, key), Msg: unknownKeyMsg(key, commonKeys())})
	}
	return errs
}

// Errorf makes an Error at the line of the account's key (or of the account when the key
// is absent, or the account was released), for validation done outside this package. key
// may go into a provider setting: "watch[1].service".
func (a *Account) Errorf(key, format string, args ...any) Error {
	line, ok := a.keyLines[key]
	if !ok {
		line = a.line
		if a.extra != nil && key != "" {
			if l := lineIn(a.extra, key); l > 0 {
				line = l
			}
		}
	}
	return Error{File: a.file, Line: line, Path: joinPath(a.path, key), Msg: fmt.Sprintf(format, args...)}
}

// Fingerprint is a hex SHA-256 over everything configured for the account, including the
// content of secret files, in a canonical form: it changes exactly when a setting does.
// The poller keys quarantine on it ("until the config changes").
func (a *Account) Fingerprint() string {
	if a.released {
		return a.fingerprint
	}
	entries := map[string]string{
		"id":       strconv.Quote(a.ID),
		"provider": strconv.Quote(a.Provider),
		"name":     strconv.Quote(a.Name),
		"schedule": strconv.Quote(a.Schedule),
		"timeout":  strconv.Quote(a.Timeout.String()),
		"proxy":    strconv.Quote(a.Proxy),
		"enabled":  strconv.FormatBool(a.IsEnabled()),
	}
	if a.extra != nil {
		for _, p := range pairs(a.extra) {
			var b strings.Builder
			canonical(&b, p.value)
			entries[p.key.Value] = b.String()
			if v := resolve(p.value); v.Kind == yaml.ScalarNode {
				if r, ok := a.files[v.Value]; ok && strings.HasSuffix(p.key.Value, "_file") {
					sum := sha256.Sum256(r.data)
					entries[p.key.Value+"\x00content"] = hex.EncodeToString(sum[:])
				}
			}
		}
	}
	keys := make([]string, 0, len(entries))
	for k := range entries {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	h := sha256.New()
	for _, k := range keys {
		fmt.Fprintf(h, "%q=%s\n", k, entries[k])
	}
	return hex.EncodeToString(h.Sum(nil))
}

// canonical writes n with mapping keys sorted, aliases and merges resolved, and scalars
// quoted, so formatting and key order do not change the fingerprint.
func canonical(b *strings.Builder, n *yaml.Node) {
	n = resolve(n)
	switch n.Kind {
	case yaml.MappingNode:
		ps := pairs(n)
		sort.Slice(ps, func(i, j int) bool { return ps[i].key.Value < ps[j].key.Value })
		b.WriteByte('{')
		for _, p := range ps {
			b.WriteString(strconv.Quote(p.key.Value))
			b.WriteByte(':')
			canonical(b, p.value)
			b.WriteByte(',')
		}
		b.WriteByte('}')
	case yaml.SequenceNode:
		b.WriteByte('[')
		for _, c := range n.Content {
			canonical(b, c)
			b.WriteByte(',')
		}
		b.WriteByte(']')
	default:
		if isNull(n) {
			b.WriteString("null")
			return
		}
		b.WriteString(strconv.Quote(n.Value))
	}
}

// Released returns a copy of c for a running daemon: its accounts keep their common
// settings, line and Fingerprint, but no longer hold their provider-specific YAML nodes,
// key lines or secret-file contents, which only building their providers needs (about
// 2 KB per account). Decode on a released account fails; Errorf names the account's
// line; Masked fails. Secrets is left out (register them before). c is not changed.
func (c *Config) Released() *Config {
	out := *c
	out.Secrets = nil
	out.Accounts = make([]Account, len(c.Accounts))
	for i := range c.Accounts {
		a := c.Accounts[i]
		if !a.released {
			a.fingerprint = a.Fingerprint()
		}
		a.released = true
		a.extra, a.files, a.keyLines, a.readFile, a.onSecret = nil, nil, nil, nil, nil
		out.Accounts[i] = a
	}
	return &out
}

// Section is a top-level block of settings that belongs to a provider kind as a whole
// (LoadOptions.Sections, e.g. the SMS router's `sms:`). It is kept as written
// (env-expanded) and decoded strictly by its owner, with the same file:line errors as
// everything else.
type Section struct {
	node *yaml.Node
	file string
	path string
}

// Errorf makes an Error at the line of key inside the section ("platforms[0].priority";
// "" for the section itself), or of its closest enclosing node the file has.
func (s Section) Errorf(key, format string, args ...any) Error {
	return Error{File: s.file, Line: lineIn(s.node, key), Path: joinPath(s.path, key), Msg: fmt.Sprintf(format, args...)}
}

// Present reports whether the file has the section.
func (s Section) Present() bool { return s.node != nil && !isNull(s.node) }

// Decode strictly decodes the section into v (a pointer to a struct with yaml tags);
// fields tagged secret:"true" are passed to secret. An absent section leaves v unchanged.
func (s Section) Decode(v any, secret func(value string)) error {
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Pointer || rv.IsNil() || rv.Elem().Kind() != reflect.Struct {
		return fmt.Errorf("config: Decode needs a pointer to a struct, got %T", v)
	}
	if !s.Present() {
		return nil
	}
	if secret == nil {
		secret = func(string) {}
	}
	d := newDecoder(s.file, nil, os.ReadFile, secret)
	d.decodeStruct(s.node, rv.Elem(), s.path, nil, nil)
	if len(d.errs) > 0 {
		return d.errs.sorted()
	}
	return nil
}
