package shard

import (
	"fmt"
	"testing"
)

func ids(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("acct_%05d", i)
	}
	return out
}

// The assignment is part of the released behaviour: an instance's accounts (and their
// sessions in its store) must stay where they are across upgrades.
func TestOfStable(t *testing.T) {
	for _, tc := range []struct {
		key   string
		count int
		want  int
	}{
		{"anything", 0, 0},
		{"anything", 1, 0},
		// Computed by an independent implementation of FNV-1a 64, fmix64 and jump hash.
		{"telecom_main", 2, 0},
		{"telecom_main", 3, 2},
		{"home", 3, 1},
		{"boxes", 3, 1},
		{"@sms", 3, 2},
		{"acct_00000", 7, 6},
		{"", 5, 1},
		{"home_2", 2, 1},
		{"miner_2", 2, 0},
	} {
		if got := Of(tc.key, tc.count); got != tc.want {
			t.Errorf("Of(%q, %d) = %d, want %d", tc.key, tc.count, got, tc.want)
		}
	}
}

func TestDistribution(t *testing.T) {
	keys := ids(10000)
	for _, count := range []int{2, 3, 5, 8, 16} {
		per := make([]int, count)
		for _, k := range keys {
			s := Of(k, count)
			if s < 0 || s >= count {
				t.Fatalf("Of(%q, %d) = %d, out of range", k, count, s)
			}
			per[s]++
		}
		mean := len(keys) / count
		for i, n := range per {
			// 10 % either way: a fleet sized for the mean must not see one instance with
			// far more accounts than the others.
			if n < mean*9/10 || n > mean*11/10 {
				t.Errorf("count %d: shard %d has %d accounts, mean %d (all: %v)", count, i, n, mean, per)
			}
		}
	}
}

// Going from N to N+1 shards moves about 1/(N+1) of the accounts, all of them to the new
// shard: the others keep their instance (and their sessions).
func TestGrowingMovesFew(t *testing.T) {
	keys := ids(10000)
	for n := 1; n <= 8; n++ {
		moved := 0
		for _, k := range keys {
			before, after := Of(k, n), Of(k, n+1)
			if before == after {
				continue
			}
			moved++
			if after != n {
				t.Fatalf("%q moved from shard %d to %d going from %d to %d shards; only moves to the new shard are expected", k, before, after, n, n+1)
			}
		}
		want := len(keys) / (n + 1)
		if moved < want*8/10 || moved > want*12/10 {
			t.Errorf("%d → %d shards moved %d accounts, want about %d", n, n+1, moved, want)
		}
	}
}

// Ids that differ only in their last characters must not move together: with 60 prefixes
// and the suffixes _2 … _9, no pattern of shards (of 2) over the suffixes may repeat more
// than a random assignment would (plain FNV-1a 64 repeated one pattern 4 times).
func TestSuffixesDoNotCorrelate(t *testing.T) {
	patterns := map[string]int{}
	for p := range 60 {
		var pat []byte
		for i := 2; i <= 9; i++ {
			pat = append(pat, byte('0'+Of(fmt.Sprintf("p%d_%d", p, i), 2)))
		}
		patterns[string(pat)]++
	}
	for pat, n := range patterns {
		if n > 2 {
			t.Errorf("%d prefixes share the shard pattern %s over the same suffixes", n, pat)
		}
	}
}

func TestOwnsPartitions(t *testing.T) {
	keys := ids(1000)
	for _, count := range []int{1, 2, 3, 4} {
		for _, k := range keys {
			owners := 0
			for i := range count {
				if (Shard{Index: i, Count: count}).Owns(k) {
					owners++
				}
			}
			if owners != 1 {
				t.Fatalf("%q is owned by %d of %d shards, want exactly 1", k, owners, count)
			}
		}
	}
	if !(Shard{}).Owns("x") {
		t.Error("the zero Shard (single instance) must own every key")
	}
}

func TestBridgeID(t *testing.T) {
	for _, tc := range []struct {
		s        Shard
		id, name string
	}{
		{Shard{}, "bridge", "0/1"},
		{Shard{Index: 0, Count: 1}, "bridge", "0/1"},
		{Shard{Index: 0, Count: 3}, "bridge_0", "0/3"},
		{Shard{Index: 2, Count: 3}, "bridge_2", "2/3"},
	} {
		if got := tc.s.BridgeID(); got != tc.id {
			t.Errorf("%+v.BridgeID() = %q, want %q", tc.s, got, tc.id)
		}
		if got := tc.s.String(); got != tc.name {
			t.Errorf("%+v.String() = %q, want %q", tc.s, got, tc.name)
		}
	}
}
