package store

import (
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// The daemon writes from many polls at once; none of them may see "database is locked".
func TestConcurrentWriters(t *testing.T) {
	ctx := t.Context()
	s := openTest(t)
	const goroutines, writes = 16, 50
	state := make([]byte, 512)

	var wg sync.WaitGroup
	for g := range goroutines {
		acct := fmt.Sprintf("acct%02d", g)
		wg.Go(func() {
			kv := s.KV(acct)
			for i := range writes {
				var err error
				switch i % 4 {
				case 0:
					err = s.SaveDevice(ctx, DeviceRecord{Account: acct, DeviceID: fmt.Sprintf("%s_%d", acct, i%8), State: state})
				case 1:
					err = s.RecordRun(ctx, Run{Account: acct, Started: t0.Add(time.Duration(i) * time.Second), OK: true})
				case 2:
					err = kv.Set(ctx, fmt.Sprintf("k%d", i%5), []byte(acct))
				case 3:
					// Readers run beside the writers.
					_, err = s.Devices(ctx)
					if err == nil {
						_, _, err = kv.Get(ctx, "k0")
					}
				}
				if err != nil {
					t.Errorf("%s write %d: %v", acct, i, err)
					return
				}
			}
		})
	}
	wg.Wait()

	// Count what each goroutine should have left behind.
	wantRuns, devIDs, keys := 0, map[int]bool{}, map[int]bool{}
	for i := range writes {
		switch i % 4 {
		case 0:
			devIDs[i%8] = true
		case 1:
			wantRuns++
		case 2:
			keys[i%5] = true
		}
	}
	runs, err := s.Runs(ctx, "", 0)
	must(t, err)
	if len(runs) != goroutines*wantRuns {
		t.Errorf("%d runs, want %d", len(runs), goroutines*wantRuns)
	}
	devs, err := s.Devices(ctx)
	must(t, err)
	if len(devs) != goroutines*len(devIDs) {
		t.Errorf("%d devices, want %d", len(devs), goroutines*len(devIDs))
	}
	var n int
	must(t, s.r.QueryRowContext(ctx, `SELECT count(*) FROM kv`).Scan(&n))
	if n != goroutines*len(keys) {
		t.Errorf("%d kv rows, want %d", n, goroutines*len(keys))
	}
}

// Two Stores on one file stand for two processes (the daemon and `bridge check`): the
// busy timeout and BEGIN IMMEDIATE must serialise them without errors.
func TestTwoStoresOneFile(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "shared.db")
	var stores []*Store
	for range 2 {
		s, err := Open(ctx, path, Options{})
		must(t, err)
		defer s.Close()
		stores = append(stores, s)
	}
	var wg sync.WaitGroup
	for g := range 8 {
		s := stores[g%2]
		wg.Go(func() {
			for i := range 25 {
				if err := s.RecordRun(ctx, Run{Account: fmt.Sprintf("a%d", g), Started: t0.Add(time.Duration(i))}); err != nil {
					t.Errorf("store %d: %v", g%2, err)
					return
				}
			}
		})
	}
	wg.Wait()
	runs, err := stores[0].Runs(ctx, "", 0)
	must(t, err)
	if len(runs) != 8*25 {
		t.Errorf("%d runs, want %d", len(runs), 8*25)
	}
}
