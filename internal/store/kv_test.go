package store

import (
	"context"
	"testing"
)

// The method set providers.KV requires (the store must not import providers).
var _ interface {
	Get(ctx context.Context, key string) (value []byte, ok bool, err error)
	Set(ctx context.Context, key string, value []byte) error
	Delete(ctx context.Context, key string) error
} = (*AccountKV)(nil)

func TestKV(t *testing.T) {
	ctx := t.Context()
	s := openTest(t)
	a, b := s.KV("telecom_a"), s.KV("telecom_b")

	type step struct {
		kv     *AccountKV
		op     string // get, set, delete
		key    string
		value  string // for set, and the expected value for get
		wantOK bool   // for get
	}
	steps := []struct {
		name string
		step
	}{
		{"get missing", step{kv: a, op: "get", key: "token"}},
		{"delete missing", step{kv: a, op: "delete", key: "token"}},
		{"set", step{kv: a, op: "set", key: "token", value: "t1"}},
		{"get set", step{kv: a, op: "get", key: "token", value: "t1", wantOK: true}},
		{"other account isolated", step{kv: b, op: "get", key: "token"}},
		{"overwrite", step{kv: a, op: "set", key: "token", value: "t2"}},
		{"get overwritten", step{kv: a, op: "get", key: "token", value: "t2", wantOK: true}},
		{"same key other account", step{kv: b, op: "set", key: "token", value: "b1"}},
		{"first account untouched", step{kv: a, op: "get", key: "token", value: "t2", wantOK: true}},
		{"empty value is set", step{kv: a, op: "set", key: "cookie", value: ""}},
		{"get empty value", step{kv: a, op: "get", key: "cookie", value: "", wantOK: true}},
		{"delete", step{kv: a, op: "delete", key: "token"}},
		{"get deleted", step{kv: a, op: "get", key: "token"}},
		{"delete left other account", step{kv: b, op: "get", key: "token", value: "b1", wantOK: true}},
		{"delete left other key", step{kv: a, op: "get", key: "cookie", value: "", wantOK: true}},
	}
	for _, st := range steps {
		switch st.op {
		case "get":
			v, ok, err := st.kv.Get(ctx, st.key)
			if err != nil || ok != st.wantOK || string(v) != st.value || (ok && v == nil) {
				t.Errorf("%s: Get(%q) = %q, %v, %v; want %q, %v", st.name, st.key, v, ok, err, st.value, st.wantOK)
			}
		case "set":
			if err := st.kv.Set(ctx, st.key, []byte(st.value)); err != nil {
				t.Errorf("%s: %v", st.name, err)
			}
		case "delete":
			if err := st.kv.Delete(ctx, st.key); err != nil {
				t.Errorf("%s: %v", st.name, err)
			}
		}
	}

	if err := a.Set(ctx, "", []byte("x")); err == nil {
		t.Error("empty key: no error")
	}
	if err := s.KV("").Set(ctx, "k", []byte("x")); err == nil {
		t.Error("empty account: no error")
	}
	if err := a.Set(ctx, "nil", nil); err != nil {
		t.Errorf("nil value: %v", err)
	}
}
