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

// keptState is the last state payload of a device, kept deflated: with thousands of
// devices the states are the largest thing the client keeps (state JSON deflates to about
// half), and they are read back only to re-publish after a (re)connect or to patch them.
// Change detection compares the length and a 64-bit hash of the payload, as for the
// discovery payload, so an unchanged poll neither compresses nor inflates anything.
type keptState struct {
	z    []byte // deflated payload; nil: no state
	n    int    // length of the payload
	hash uint64 // maphash of the payload with the client's seed
}

var (
	deflaters = sync.Pool{New: func() any {
		w, _ := flate.NewWriter(nil, flate.BestSpeed)
		return w
	}}
	inflaters sync.Pool // io.ReadCloser implementing flate.Resetter
)

func (p *Publisher) keepState(state []byte) keptState {
	if state == nil {
		return keptState{}
	}
	var buf bytes.Buffer
	buf.Grow(len(state)/2 + 16)
	w := deflaters.Get().(*flate.Writer)
	w.Reset(&buf)
	_, _ = w.Write(state) // a bytes.Buffer does not fail
	_ = w.Close()
	deflaters.Put(w)
	return keptState{z: bytes.Clone(buf.Bytes()), n: len(state), hash: maphash.Bytes(p.seed, state)}
}

// same reports whether state is the kept payload.
func (k keptState) same(p *Publisher, state []byte) bool {
	return k.z != nil && state != nil && len(state) == k.n && maphash.Bytes(p.seed, state) == k.hash
}

// bytes inflates the kept payload; nil when there is none.
func (k keptState) bytes() []byte {
	if k.z == nil {
		return nil
	}
	src := bytes.NewReader(k.z)
	var r io.ReadCloser
	if v := inflaters.Get(); v != nil {
		r = v.(io.ReadCloser)
		_ = r.(flate.Resetter).Reset(src, nil)
	} else {
		r = flate.NewReader(src)
	}
	out := make([]byte, k.n)
	_, err := io.ReadFull(r, out)
	inflaters.Put(r)
	if err != nil {
		return nil // cannot happen: the client deflated it
	}
	return out
}

// extraTopic is one of a device's extra retained payloads; a device keeps them sorted by
// name in a slice (most devices have one or two: a map would cost ten times the memory).
type extraTopic struct {
	name    string
	payload []byte
}

// keepTopics returns topics as sorted pairs, reusing old's array when the names are the same.
func keepTopics(old []extraTopic, topics map[string][]byte) []extraTopic {
	if len(topics) == 0 {
		return nil
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
				old[i].payload = topics[old[i].name]
			}
			return old
		}
	}
	out := make([]extraTopic, 0, len(topics))
	for _, name := range slices.Sorted(maps.Keys(topics)) {
		out = append(out, extraTopic{name, topics[name]})
	}
	return out
}

// topic returns the kept payload of the extra topic name.
func topicPayload(ts []extraTopic, name string) ([]byte, bool) {
	for _, t := range ts {
		if t.name == name {
			return t.payload, true
		}
	}
	return nil, false
}
