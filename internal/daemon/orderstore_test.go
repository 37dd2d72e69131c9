package daemon_test

import (
	"github.com/accountbridge/accountbridge/internal/providers"
	"github.com/accountbridge/accountbridge/internal/store"
)

// The SMS router keeps its orders one row each only when the KV the daemon hands groups
// is also an OrderStore; otherwise it would silently keep them in memory.
var _ providers.OrderStore = (*store.AccountKV)(nil)
