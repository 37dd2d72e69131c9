package hapublish

import (
	"bytes"
	"fmt"
	"hash/maphash"
	"slices"
	"testing"
)

// state is a telecom-like state payload: the same keys for every account, values of its own.
func state(seed int) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, `{"balance":%d.5`, seed)
	for i := range 40 {
		fmt.Fprintf(&b, `,"flow_%d_used":%d,"flow_%d_total":10240`, i, (seed+i)*37%1000, i)
	}
	b.WriteString(`,"last_error":""}`)
	return b.Bytes()
}

// deflatingPublisher is a publisher that already holds deflateFrom devices.
func deflatingPublisher() *Publisher {
	p := &Publisher{seed: maphash.MakeSeed()}
	p.deflating.Store(true)
	return p
}

// A kept state reads back exactly, is recognised as the same payload, and is smaller.
func TestKeptState(t *testing.T) {
	p := deflatingPublisher()
	first := state(1)
	k := p.keepState("Mobile plan", first)
	if got := k.bytes(); !bytes.Equal(got, first) {
		t.Fatalf("read back %q", got)
	}
	if !k.same(p, bytes.Clone(first)) {
		t.Error("the same payload is not recognised")
	}
	changed := bytes.Replace(first, []byte(`1.5`), []byte(`1.6`), 1)
	if k.same(p, changed) || k.same(p, first[:len(first)-1]) || k.same(p, nil) {
		t.Error("a different payload counts as the same")
	}
	var none keptState
	if none.bytes() != nil || none.same(p, []byte("{}")) {
		t.Error("no state reads back as something")
	}
	if p.keepState("Mobile plan", nil).z != nil {
		t.Error("a nil state is kept")
	}

	// Another account's state of the same model deflates against the first one: to a
	// fraction of what it deflates to alone (a kind of its own, or no kind).
	second := state(2)
	withDict := p.keepState("Mobile plan", second)
	alone := p.keepState("Another model", second) // makes that kind's dictionary: itself
	plainly := p.keep("", second)
	if got := withDict.bytes(); !bytes.Equal(got, second) {
		t.Fatalf("read back with the dictionary: %q", got)
	}
	if got := plainly.bytes(); !bytes.Equal(got, second) {
		t.Fatalf("read back without a dictionary: %q", got)
	}
	if len(plainly.z) >= len(second)/2 || len(withDict.z) >= len(plainly.z)*3/4 {
		t.Errorf("%d-byte state: %d bytes deflated alone, %d with the dictionary; want under a half and three quarters", len(second), len(plainly.z), len(withDict.z))
	}
	if alone.dict == withDict.dict || withDict.dict != k.dict {
		t.Error("kinds do not have a dictionary each")
	}
}

// Past maxDictionaries kinds, payloads deflate alone, and still read back.
func TestDictionaryBound(t *testing.T) {
	p := deflatingPublisher()
	for i := range maxDictionaries {
		p.keepState(fmt.Sprint("model ", i), state(i))
	}
	k := p.keepState("one too many", state(7))
	if k.dict != plain || len(p.dicts) != maxDictionaries {
		t.Errorf("dictionaries: %d, the last kind's is plain: %v", len(p.dicts), k.dict == plain)
	}
	if !bytes.Equal(k.bytes(), state(7)) {
		t.Error("a payload without a dictionary does not read back")
	}
}

// Extra topics are kept deflated, sorted by name; an unchanged payload keeps its copy and
// is not reported, a changed or new one is.
func TestKeepTopics(t *testing.T) {
	p := deflatingPublisher()
	read := func(ts []extraTopic, name string) string {
		k, ok := keptTopic(ts, name)
		if !ok {
			return "<none>"
		}
		return string(k.bytes())
	}
	ts, changed := p.keepTopics(nil, map[string][]byte{"summary": []byte("s1"), "poll": []byte("p1")})
	if len(ts) != 2 || ts[0].name != "poll" || ts[1].name != "summary" || !slices.Equal(changed, []string{"poll", "summary"}) {
		t.Fatalf("kept %v, changed %v", ts, changed)
	}
	if read(ts, "poll") != "p1" || read(ts, "summary") != "s1" {
		t.Fatalf("read back poll %q summary %q", read(ts, "poll"), read(ts, "summary"))
	}
	if ts[0].kept.dict != nil || string(ts[0].kept.z) != "p1" {
		t.Error("a payload under minDeflate bytes was deflated")
	}
	z := ts[1].kept.z
	again, changed := p.keepTopics(ts, map[string][]byte{"summary": []byte("s1"), "poll": []byte("p2")})
	if &again[0] != &ts[0] || read(again, "poll") != "p2" || read(again, "summary") != "s1" || !slices.Equal(changed, []string{"poll"}) {
		t.Errorf("same names: poll %q summary %q changed %v (array reused: %v)", read(again, "poll"), read(again, "summary"), changed, &again[0] == &ts[0])
	}
	if &again[1].kept.z[0] != &z[0] {
		t.Error("an unchanged payload was deflated again")
	}
	other, changed := p.keepTopics(again, map[string][]byte{"poll": []byte("p2"), "extra": nil})
	if len(other) != 2 || other[0].name != "extra" || other[1].name != "poll" || !slices.Equal(changed, []string{"extra"}) {
		t.Errorf("other names: %v, changed %v", other, changed)
	}
	if read(other, "extra") != "" || read(other, "summary") != "<none>" {
		t.Errorf("extra %q, summary %q: want empty and gone", read(other, "extra"), read(other, "summary"))
	}
	if _, changed := p.keepTopics(other, map[string][]byte{"poll": []byte("p2"), "extra": {}}); len(changed) != 0 {
		t.Errorf("an empty payload kept empty counts as changed: %v", changed)
	}
	if kept, _ := p.keepTopics(other, nil); kept != nil {
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
	if owner, ok := p.Owner("b"); !ok || owner != "b" {
		t.Errorf("owner of the moved device: %q, %v", owner, ok)
	}
	p.deleteLocked("a")
	if owner, ok := p.Owner("a"); ok {
		t.Errorf("a removed device still has an owner: %q", owner)
	}
	p.deleteLocked("x")
	if got := fmt.Sprint(p.accounts); got != "map[a:[c] b:[b]]" {
		t.Errorf("index %s", got)
	}
	p.deleteLocked("c")
	if _, ok := p.accounts["a"]; ok {
		t.Error("an account without devices stays in the index")
	}
}

// A publisher with few devices keeps payloads as they are (a compressor would cost more
// than it saves); from deflateFrom devices on, it deflates them.
func TestDeflateFromManyDevices(t *testing.T) {
	p := &Publisher{seed: maphash.MakeSeed(), devices: map[string]*device{}, accounts: map[string][]string{}}
	add := func(i int) {
		id := fmt.Sprint("dev", i)
		d := &device{}
		p.devices[id] = d
		p.setAccountLocked(id, d, fmt.Sprint("acct", i))
	}
	for i := range deflateFrom - 1 {
		add(i)
	}
	few := p.keepState("Mobile plan", state(1))
	if few.dict != nil || !bytes.Equal(few.z, state(1)) || !bytes.Equal(few.bytes(), state(1)) {
		t.Fatalf("with %d devices a state was deflated (%d of %d bytes)", len(p.devices), len(few.z), len(state(1)))
	}
	if retained := p.keep("", state(2)); retained.dict != nil {
		t.Error("with few devices a retained payload was deflated")
	}
	add(deflateFrom - 1)
	add(deflateFrom)
	many := p.keepState("Mobile plan", state(1))
	if many.dict == nil || len(many.z) >= len(state(1))/2 || !bytes.Equal(many.bytes(), state(1)) {
		t.Errorf("with %d devices a state was kept in %d of %d bytes", len(p.devices), len(many.z), len(state(1)))
	}
	if !few.same(p, state(1)) || !many.same(p, state(1)) {
		t.Error("a payload kept either way is not recognised as the same")
	}
}
