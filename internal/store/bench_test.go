package store

import (
	"bytes"
	"fmt"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkSaveDevice measures the upsert the publisher does after every changed poll,
// with a state payload of about 2 KB.
func BenchmarkSaveDevice(b *testing.B) {
	s, err := Open(b.Context(), b.TempDir()+"/bench.db", Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	state := bytes.Repeat([]byte(`{"balance":12.34,"data_used_gib":19.72},`), 2048/40)
	model := []byte(`{"name":"China Telecom 189****5678","entities":["balance","data_used"]}`)
	ids := make([]string, 16)
	for i := range ids {
		ids[i] = fmt.Sprintf("telecom_main_%d", i)
	}
	ctx := b.Context()
	b.SetBytes(int64(len(state)))
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		rec := DeviceRecord{Account: "telecom_main", DeviceID: ids[i%len(ids)], Model: model, State: state}
		if err := s.SaveDevice(ctx, rec); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// BenchmarkPollBookkeeping is what the poller writes after every poll: the run and the
// account's state (two transactions on the single writer connection).
func BenchmarkPollBookkeeping(b *testing.B) {
	s, err := Open(b.Context(), b.TempDir()+"/bench.db", Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	ctx := b.Context()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		account := fmt.Sprintf("acct_%d", i%64)
		now := time.Now()
		if err := s.RecordRun(ctx, Run{Account: account, Started: now, Duration: 50 * time.Millisecond, OK: true}); err != nil {
			b.Fatal(err)
		}
		if err := s.SaveAccountState(ctx, AccountState{Account: account, LastRun: now, LastOK: now}); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// BenchmarkFinishRun is the poller's bookkeeping as it happens with many accounts: 64
// polls finishing at once, their FinishRun calls committed together (group commit). CPU
// per call is what matters here; the wall time per call includes FinishWindow.
func BenchmarkFinishRun(b *testing.B) {
	s, err := Open(b.Context(), b.TempDir()+"/bench.db", Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	ctx := b.Context()
	b.ReportAllocs()
	b.SetParallelism(32) // × GOMAXPROCS goroutines
	var next atomic.Int64
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			account := fmt.Sprintf("acct_%d", next.Add(1)%64)
			now := time.Now()
			if err := s.FinishRun(ctx, Run{Account: account, Started: now, Duration: 50 * time.Millisecond, OK: true},
				AccountState{Account: account, LastRun: now, LastOK: now}); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
