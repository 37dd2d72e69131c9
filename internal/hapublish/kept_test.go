package hapublish

import (
	"bytes"
	"fmt"
	"hash/maphash"
	"testing"
)

// A kept state reads back exactly, is recognised as the same payload, and is smaller.
func TestKeptState(t *testing.T) {
	p := &Publisher{seed: maphash.MakeSeed()}
	var b bytes.Buffer
	b.WriteString(`{"balance":12.5`)
	for i := range 40 {
		fmt.Fprintf(&b, `,"flow_%d_used":%d,"flow_%d_total":10240`, i, i*37, i)
	}
	b.WriteString(`,"last_error":""}`)
	state := b.Bytes()
	k := p.keepState(state)
	if got := k.bytes(); !bytes.Equal(got, state) {
		t.Fatalf("read back %q", got)
	}
	if len(k.z) >= len(state)/2 {
		t.Errorf("kept %d bytes of a %d-byte state", len(k.z), len(state))
	}
	if !k.same(p, bytes.Clone(state)) {
		t.Error("the same payload is not recognised")
	}
	changed := bytes.Replace(state, []byte(`12.5`), []byte(`12.6`), 1)
	if k.same(p, changed) || k.same(p, state[:len(state)-1]) || k.same(p, nil) {
		t.Error("a different payload counts as the same")
	}
	var none keptState
	if none.bytes() != nil || none.same(p, []byte("{}")) {
		t.Error("no state reads back as something")
	}
	if p.keepState(nil).z != nil {
		t.Error("a nil state is kept")
	}
}

func TestKeepTopics(t *testing.T) {
	ts := keepTopics(nil, map[string][]byte{"summary": []byte("s1"), "poll": []byte("p1")})
	if len(ts) != 2 || ts[0].name != "poll" || ts[1].name != "summary" {
		t.Fatalf("kept %v", ts)
	}
	again := keepTopics(ts, map[string][]byte{"summary": []byte("s2"), "poll": []byte("p2")})
	if &again[0] != &ts[0] || string(again[0].payload) != "p2" || string(again[1].payload) != "s2" {
		t.Errorf("same names: %v (array reused: %v)", again, &again[0] == &ts[0])
	}
	other := keepTopics(again, map[string][]byte{"poll": []byte("p3"), "extra": []byte("e")})
	if len(other) != 2 || other[0].name != "extra" || other[1].name != "poll" {
		t.Errorf("other names: %v", other)
	}
	if p, ok := topicPayload(other, "poll"); !ok || string(p) != "p3" {
		t.Errorf("topicPayload(poll) = %q, %v", p, ok)
	}
	if _, ok := topicPayload(other, "summary"); ok {
		t.Error("a gone topic is still kept")
	}
	if keepTopics(other, nil) != nil {
		t.Error("no topics keep something")
	}
}

// The device index of an account stays sorted through additions, moves and removals.
func TestAccountIndex(t *testing.T) {
	p := &Publisher{devices: map[string]*device{}, accounts: map[string][]string{}}
	add := func(id, account string) {
		d, ok := p.devices[id]
		if !ok {
			d = &device{}
			p.devices[id] = d
		}
		p.setAccountLocked(id, d, account)
	}
	add("c", "a")
	add("a", "a")
	add("b", "a")
	add("a", "a")
	add("x", "b")
	if got := fmt.Sprint(p.accounts); got != "map[a:[a b c] b:[x]]" {
		t.Fatalf("index %s", got)
	}
	add("b", "b") // moves to account b
	p.deleteLocked("a")
	p.deleteLocked("x")
	if got := fmt.Sprint(p.accounts); got != "map[a:[c] b:[b]]" {
		t.Errorf("index %s", got)
	}
	p.deleteLocked("c")
	if _, ok := p.accounts["a"]; ok {
		t.Error("an account without devices stays in the index")
	}
}
