package config

import (
	"bytes"
	"fmt"
	"maps"
	"net/url"
	"reflect"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/accountbridge/accountbridge/internal/logging"
)

const mask = "***"

// Masked renders the resolved config (defaults applied, env expanded, provider keys
// included) as YAML with every secret replaced by "***". This is what `bridge check`
// prints, so it must be safe to paste into a bug report.
func (c *Config) Masked() ([]byte, error) {
	root := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
	add := func(key string, v *yaml.Node) {
		root.Content = append(root.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: key}, v)
	}

	m := c.MQTT
	maskTagged(reflect.ValueOf(&m).Elem())
	m.Broker = maskURL(m.Broker)
	m.Discovery = ptr(m.DiscoveryEnabled())
	for _, part := range []struct {
		key string
		v   any
	}{{"language", c.Language}, {"mqtt", m}, {"store", c.Store}, {"log", c.Log}, {"defaults", c.Defaults}} {
		n, err := encode(part.v)
		if err != nil {
			return nil, err
		}
		add(part.key, n)
	}
	if c.Defaults.Jitter == nil {
		// Say what "unset" means instead of printing a bare null.
		defaults := root.Content[len(root.Content)-1]
		for i := 0; i+1 < len(defaults.Content); i += 2 {
			if defaults.Content[i].Value == "jitter" {
				defaults.Content[i+1].LineComment = "automatic: 10% of the interval, at most 5m"
			}
		}
	}
	if !c.Shard.Single() {
		n, err := encode(c.Shard)
		if err != nil {
			return nil, err
		}
		add("shard", n)
	}

	accounts := &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq"}
	for i := range c.Accounts {
		n, err := c.Accounts[i].masked(c.Defaults)
		if err != nil {
			return nil, err
		}
		accounts.Content = append(accounts.Content, n)
	}
	add("accounts", accounts)
	alerts := c.Alerts
	if e := alerts.Email; e != nil {
		ec := *e
		maskTagged(reflect.ValueOf(&ec).Elem())
		alerts.Email = &ec
	}
	if w := alerts.Webhook; w != nil {
		wc := *w
		// Keep scheme and host (useful in a bug report, and still a valid URL); the path
		// and query may carry a token.
		if u, err := url.Parse(w.URL); err == nil && u.Host != "" {
			wc.URL = u.Scheme + "://" + u.Host + "/" + mask
		} else {
			wc.URL = mask
		}
		alerts.Webhook = &wc
	}
	alerts.MQTT, alerts.HomeAssistant = ptr(alerts.MQTTEnabled()), ptr(alerts.HomeAssistantEnabled())
	alerts.Offline.Enabled, alerts.Problem.Enabled = ptr(alerts.Offline.IsEnabled()), ptr(alerts.Problem.IsEnabled())
	an, err := encode(alerts)
	if err != nil {
		return nil, err
	}
	add("alerts", an)
	if c.Web.Listen != "" {
		w := c.Web
		maskTagged(reflect.ValueOf(&w).Elem())
		wn, err := encode(w)
		if err != nil {
			return nil, err
		}
		add("web", wn)
	}
	for _, kind := range slices.Sorted(maps.Keys(c.Sections)) {
		add(kind, maskedCopy(c.Sections[kind].node, false))
	}

	// Last line of defence: a secret pasted into a key with an innocent name.
	secrets := make(map[string]bool, len(c.Secrets))
	for _, s := range c.Secrets {
		secrets[s] = true
	}
	maskValues(root, secrets)

	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(root); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// masked renders the account with its effective settings and masked provider keys.
func (a *Account) masked(d Defaults) (*yaml.Node, error) {
	if a.released {
		return nil, fmt.Errorf("config: account %s: its settings were released after start-up", a.ID)
	}
	n := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
	add := func(key string, v any) error {
		vn, err := encode(v)
		if err != nil {
			return err
		}
		n.Content = append(n.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: key}, vn)
		return nil
	}
	fields := []struct {
		key  string
		v    any
		show bool
	}{
		{"id", a.ID, true},
		{"provider", a.Provider, true},
		{"name", a.Name, a.Name != ""},
		{"enabled", a.IsEnabled(), true},
		{"schedule", a.EffectiveSchedule(d, ""), a.EffectiveSchedule(d, "") != ""},
		{"timeout", Duration(a.EffectiveTimeout(d)), true},
		{"proxy", maskURL(a.Proxy), a.Proxy != ""},
	}
	for _, f := range fields {
		if f.show {
			if err := add(f.key, f.v); err != nil {
				return nil, err
			}
		}
	}
	if a.extra != nil {
		extra := maskedCopy(a.extra, false)
		n.Content = append(n.Content, extra.Content...)
	}
	return n, nil
}

func encode(v any) (*yaml.Node, error) {
	var n yaml.Node
	if err := n.Encode(v); err != nil {
		return nil, err
	}
	return &n, nil
}

func ptr[T any](v T) *T { return &v }

// maskTagged replaces the non-empty string fields tagged secret:"true" of a struct.
func maskTagged(v reflect.Value) {
	for _, f := range fieldsOf(v.Type()) {
		fv := v.FieldByIndex(f.index)
		if f.secret && fv.Kind() == reflect.String && fv.String() != "" {
			fv.SetString(mask)
		}
	}
}

// maskURL hides the password of a URL's user info.
func maskURL(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.User == nil {
		return s
	}
	if _, ok := u.User.Password(); ok {
		// url.String would escape "*"; put the mask in after.
		const placeholder = "MASKEDPASSWORD"
		u.User = url.UserPassword(u.User.Username(), placeholder)
		return strings.Replace(u.String(), ":"+placeholder+"@", ":"+mask+"@", 1)
	}
	return s
}

// maskedCopy deep-copies a node tree, resolving aliases and merge keys (anchors would
// not survive the copy) and dropping comments (which may quote old secrets); scalars
// below a secret-named key become "***".
func maskedCopy(n *yaml.Node, inSecret bool) *yaml.Node {
	n = resolve(n)
	out := &yaml.Node{Kind: n.Kind, Tag: n.Tag, Value: n.Value, Style: n.Style}
	switch n.Kind {
	case yaml.MappingNode:
		for _, p := range pairs(n) {
			k := &yaml.Node{Kind: yaml.ScalarNode, Tag: p.key.Tag, Value: p.key.Value, Style: p.key.Style}
			out.Content = append(out.Content, k, maskedCopy(p.value, inSecret || isSecretKey(p.key.Value)))
		}
	case yaml.SequenceNode:
		for _, c := range n.Content {
			out.Content = append(out.Content, maskedCopy(c, inSecret))
		}
	case yaml.ScalarNode:
		if inSecret && !isNull(n) && n.Value != "" {
			out.Tag, out.Value, out.Style = "!!str", mask, 0
		}
	}
	return out
}

// maskValues replaces every scalar value (not key) equal to a known secret, and masks
// phone numbers by the bridge's one rule (logging.MaskPhone).
func maskValues(n *yaml.Node, secrets map[string]bool) {
	switch n.Kind {
	case yaml.MappingNode:
		for i := 1; i < len(n.Content); i += 2 {
			maskValues(n.Content[i], secrets)
		}
	case yaml.SequenceNode:
		for _, c := range n.Content {
			maskValues(c, secrets)
		}
	case yaml.ScalarNode:
		if secrets[n.Value] {
			n.Tag, n.Value, n.Style = "!!str", mask, 0
		} else if m := logging.MaskPhone(n.Value); m != n.Value {
			n.Tag, n.Value, n.Style = "!!str", m, 0
		}
	}
}
