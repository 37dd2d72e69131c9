// Package shard splits the configured accounts between instances of the daemon that share
// one broker and base topic (docs/scaling.md). The split is a pure function of the account
// id and the number of shards, so every instance computes the same assignment from the same
// config file without talking to the others.
package shard

import (
	"hash/fnv"
	"strconv"
)

// Shard is this instance's share of the accounts: index Index of Count. The zero value
// (and any Count ≤ 1) is a single instance that owns every account.
type Shard struct {
	Index int `yaml:"index" json:"index"`
	Count int `yaml:"count" json:"count"`
}

// Of returns the shard (0 … count-1) that owns key: the jump consistent hash (Lamping and
// Veach, 2014) of the FNV-1a 64 hash of its bytes, mixed by MurmurHash3's 64-bit
// finalizer. Jump hash rather than a plain modulo so that going from N to N+1 shards moves
// only 1/(N+1) of the accounts (each of them logs in again on its new instance) instead of
// nearly all. The finalizer because FNV-1a leaves the high bits, from which jump hash
// takes its first decisions, correlated for ids that differ only in their last characters
// (home_2 and miner_2 tended to land together). The result must never change for a given
// key and count; count ≤ 1 gives 0.
func Of(key string, count int) int {
	if count <= 1 {
		return 0
	}
	h := fnv.New64a()
	_, _ = h.Write([]byte(key))
	return jump(fmix64(h.Sum64()), count)
}

// fmix64 is MurmurHash3's 64-bit finalizer: every input bit affects every output bit.
func fmix64(k uint64) uint64 {
	k ^= k >> 33
	k *= 0xff51afd7ed558ccd
	k ^= k >> 33
	k *= 0xc4ceb9fe1a85ec53
	k ^= k >> 33
	return k
}

// jump is the jump consistent hash: a bucket in [0, n) for k.
func jump(k uint64, n int) int {
	b, j := int64(-1), int64(0)
	for j < int64(n) {
		b = j
		k = k*2862933555777941757 + 1
		j = int64(float64(b+1) * (float64(int64(1)<<31) / float64((k>>33)+1)))
	}
	return int(b)
}

// Single reports whether this is the only instance (no sharding).
func (s Shard) Single() bool { return s.Count <= 1 }

// Owns reports whether key belongs to this shard.
func (s Shard) Owns(key string) bool { return s.Single() || Of(key, s.Count) == s.Index }

// BridgeID is the id of this instance's diagnostics device: "bridge" for a single instance
// (as before sharding existed), "bridge_<index>" when there are several, so each instance
// has its own device, availability (last will) and info topic under <base>/<BridgeID>/.
func (s Shard) BridgeID() string {
	if s.Single() {
		return "bridge"
	}
	return "bridge_" + strconv.Itoa(s.Index)
}

// String is "0/3" (index/count), or "0/1" for a single instance.
func (s Shard) String() string {
	return strconv.Itoa(s.Index) + "/" + strconv.Itoa(max(s.Count, 1))
}
