package providers

import (
	"context"
	"sync"
)

// MemoryKV is a KV kept in memory: for validating factories without a store
// (`bridge check`) and for tests. The zero value is ready to use.
type MemoryKV struct {
	mu sync.Mutex
	m  map[string][]byte
}

func (k *MemoryKV) Get(_ context.Context, key string) ([]byte, bool, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	v, ok := k.m[key]
	return v, ok, nil
}

func (k *MemoryKV) Set(_ context.Context, key string, v []byte) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.m == nil {
		k.m = map[string][]byte{}
	}
	k.m[key] = append([]byte(nil), v...)
	return nil
}

func (k *MemoryKV) Delete(_ context.Context, key string) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	delete(k.m, key)
	return nil
}
