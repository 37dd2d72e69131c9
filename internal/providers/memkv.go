package providers

import (
	"context"
	"maps"
	"slices"
	"sync"
	"time"
)

// MemoryKV is a KV kept in memory: for validating factories without a store
// (`bridge check`) and for tests. The zero value is ready to use.
type MemoryKV struct {
	mu     sync.Mutex
	m      map[string][]byte
	orders map[string][]byte
}

// SaveOrder, DeleteOrder and LoadOrders implement OrderStore.
func (k *MemoryKV) SaveOrder(_ context.Context, id, _ string, _ time.Time, data []byte) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.orders == nil {
		k.orders = map[string][]byte{}
	}
	k.orders[id] = append([]byte(nil), data...)
	return nil
}

func (k *MemoryKV) DeleteOrder(_ context.Context, id string) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	delete(k.orders, id)
	return nil
}

func (k *MemoryKV) LoadOrders(_ context.Context, fn func(id string, data []byte) error) error {
	k.mu.Lock()
	ids := slices.Sorted(maps.Keys(k.orders))
	data := make([][]byte, len(ids))
	for i, id := range ids {
		data[i] = k.orders[id]
	}
	k.mu.Unlock()
	for i, id := range ids {
		if err := fn(id, data[i]); err != nil {
			return err
		}
	}
	return nil
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
