package hapublish

import (
	"bytes"
	"compress/flate"
	"hash/maphash"
	"io"
	"maps"
	"slices"
	"sync"
)

// keptState is a payload the publisher keeps to re-publish it: the last state of a
// device, an extra topic, a retained topic. With thousands of devices these are the
// largest thing the client keeps, and they are read back only to re-publish after a
// (re)connect or to patch them, so they are kept deflated. Change detection compares the
// length and a 64-bit hash of the payload, so an unchanged poll neither compresses nor
// inflates anything.
type keptState struct {
	z    []byte // deflated payload (as it is when dict is nil); nil: no state
	n    int    // length of the payload
	hash uint64 // maphash of the payload with the client's seed
	dict *dictionary
}

// A dictionary makes payloads of one kind small. A telecom state is about a kilobyte and
// deflates alone to about half, mostly its keys; every account's state has the same keys.
// Deflated against the first payload of its kind, one keeps little more than its values.
type dictionary struct {
	data      []byte
	deflaters sync.Pool // *flate.Writer made with data
	inflaters sync.Pool // io.ReadCloser implementing flate.Resetter
}

const (
	// maxDictionaries bounds the kinds that get one (a kind is a device model or an
	// extra topic name: a handful per provider); payloads of further kinds deflate alone.
	maxDictionaries = 64
	// maxDictionary is the most of a first payload kept as its kind's dictionary.
	maxDictionary = 8 << 10
)

// plain deflates without a dictionary (the retained topics, kinds beyond the bound).
var plain = &dictionary{}

// dictionaryFor returns the dictionary of kind, made from payload when kind has none yet.
func (p *Publisher) dictionaryFor(kind string, payload []byte) *dictionary {
	if kind == "" {
		return plain
	}
	p.dictMu.Lock()
	defer p.dictMu.Unlock()
	if d, ok := p.dicts[kind]; ok {
		return d
	}
	if len(p.dicts) >= maxDictionaries {
		return plain
	}
	if p.dicts == nil {
		p.dicts = map[string]*dictionary{}
	}
	d := &dictionary{data: bytes.Clone(payload[:min(len(payload), maxDictionary)])}
	p.dicts[kind] = d
	return d
}

// minDeflate is the smallest payload kept deflated. Smaller ones gain little, and one of
// them, the poll heartbeat, changes on every poll: deflating it each time cost more CPU
// than it saved memory.
const minDeflate = 256

// deflateFrom is how many devices the publisher holds before it keeps payloads deflated.
// Each kind's compressor costs about half a megabyte while it is in use (its hash tables
// and window), so deflating saves memory only when there are many payloads: with 10
// accounts the compressors were half of the daemon's live heap (docs/benchmarks.md,
// "Seventh round"). Below this, payloads take at most a few hundred kilobytes kept as they
// are. Once on, deflation stays on; payloads kept before it are deflated when they change.
const deflateFrom = 256

// keep deflates payload against the dictionary of its kind ("": none); a nil payload is
// kept as nothing, one under minDeflate bytes, or any while the publisher holds fewer
// than deflateFrom devices, as it is.
func (p *Publisher) keep(kind string, payload []byte) keptState {
	if payload == nil {
		return keptState{}
	}
	if len(payload) < minDeflate || !p.deflating.Load() {
		return keptState{z: bytes.Clone(payload), n: len(payload), hash: maphash.Bytes(p.seed, payload)}
	}
	d := p.dictionaryFor(kind, payload)
	var buf bytes.Buffer
	buf.Grow(len(payload)/2 + 16)
	w, _ := d.deflaters.Get().(*flate.Writer)
	if w == nil {
		// Level 1 ignores a preset dictionary; 2 is the fastest that uses one.
		level := flate.BestSpeed
		if d.data != nil {
			level = 2
		}
		w, _ = flate.NewWriterDict(&buf, level, d.data) // a valid level
	} else {
		w.Reset(&buf)
	}
	_, _ = w.Write(payload) // a bytes.Buffer does not fail
	_ = w.Close()
	d.deflaters.Put(w)
	return keptState{z: bytes.Clone(buf.Bytes()), n: len(payload), hash: maphash.Bytes(p.seed, payload), dict: d}
}

// keepState keeps a device's state payload; kind is its device model.
func (p *Publisher) keepState(kind string, state []byte) keptState {
	return p.keep("state\x00"+kind, state)
}

// same reports whether payload is the kept payload.
func (k keptState) same(p *Publisher, payload []byte) bool {
	return k.z != nil && payload != nil && len(payload) == k.n && maphash.Bytes(p.seed, payload) == k.hash
}

// bytes inflates the kept payload; nil when there is none.
func (k keptState) bytes() []byte {
	if k.z == nil {
		return nil
	}
	if k.dict == nil {
		return bytes.Clone(k.z)
	}
	src := bytes.NewReader(k.z)
	r, _ := k.dict.inflaters.Get().(io.ReadCloser)
	if r == nil {
		r = flate.NewReaderDict(src, k.dict.data)
	} else {
		_ = r.(flate.Resetter).Reset(src, k.dict.data)
	}
	out := make([]byte, k.n)
	_, err := io.ReadFull(r, out)
	k.dict.inflaters.Put(r)
	if err != nil {
		return nil // cannot happen: the client deflated it
	}
	return out
}

// extraTopic is one of a device's extra retained payloads, kept like the state (a telecom
// account's /summary is about half a kilobyte). A device keeps them sorted by name in a
// slice (most devices have one or two: a map would cost ten times the memory).
type extraTopic struct {
	name string
	kept keptState
}

// keepTopics returns topics as sorted kept pairs and the names whose payload differs from
// old's, new names included. A payload equal to old's keeps its kept copy, so an
// unchanged poll deflates nothing; when the names are old's, old's array is reused.
func (p *Publisher) keepTopics(old []extraTopic, topics map[string][]byte) (kept []extraTopic, changed []string) {
	if len(topics) == 0 {
		return nil, nil
	}
	if len(old) == len(topics) {
		same := true
		for _, t := range old {
			if _, ok := topics[t.name]; !ok {
				same = false
				break
			}
		}
		if same {
			for i := range old {
				if payload := orEmpty(topics[old[i].name]); !old[i].kept.same(p, payload) {
					old[i].kept = p.keepTopic(old[i].name, payload)
					changed = append(changed, old[i].name)
				}
			}
			return old, changed
		}
	}
	kept = make([]extraTopic, 0, len(topics))
	for _, name := range slices.Sorted(maps.Keys(topics)) {
		payload := orEmpty(topics[name])
		if k, ok := keptTopic(old, name); ok && k.same(p, payload) {
			kept = append(kept, extraTopic{name, k})
			continue
		}
		kept = append(kept, extraTopic{name, p.keepTopic(name, payload)})
		changed = append(changed, name)
	}
	return kept, changed
}

// keepTopic keeps the payload of the extra topic name.
func (p *Publisher) keepTopic(name string, payload []byte) keptState {
	return p.keep("topic\x00"+name, payload)
}

// orEmpty makes a nil topic payload empty: a topic published empty is kept all the same
// (keep keeps nil as nothing).
func orEmpty(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

// keptTopic returns the kept payload of the extra topic name.
func keptTopic(ts []extraTopic, name string) (keptState, bool) {
	for _, t := range ts {
		if t.name == name {
			return t.kept, true
		}
	}
	return keptState{}, false
}
