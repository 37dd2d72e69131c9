package providers

import (
	"context"
	"log/slog"
	"time"
)

// A Group coordinates all the accounts of one provider kind: the SMS router picks a
// platform among every configured SMS account and orders numbers over MQTT. A kind
// declares one with Info.Group; the daemon builds it once, after every account of the
// kind, when at least one is enabled.
//
// The group is itself a Provider: its Poll reports the group's own devices (the router
// device) on Info.GroupSchedule. It receives the MQTT messages of the topic filters it
// declares, and Run does its background work until ctx ends.
type Group interface {
	Provider
	// Topics lists MQTT topic filters relative to <base>, e.g. "sms/order" and
	// "sms/order/+/cancel". Retained messages on them are dropped before Handle.
	Topics() []string
	// Handle processes one message; topic is relative to <base>. It must not block for
	// long: slow work belongs to Run.
	Handle(ctx context.Context, topic string, payload []byte)
	// Run works until ctx ends (e.g. polls orders for their codes) and then returns.
	Run(ctx context.Context) error
}

// GroupMember is one account of the kind.
type GroupMember struct {
	Account  Account
	Provider Provider
}

// GroupDeps are what a group factory gets besides its members.
type GroupDeps struct {
	Logger *slog.Logger
	KV     KV // the group's own persistent store (orders in flight), separate from any account's
	Now    func() time.Time
	// Decode strictly decodes the kind's top-level config section (e.g. `sms:`) into v;
	// an absent section leaves v as it is.
	Decode func(v any) error
	// Publish sends a message on <base>/<topic>. It fails while the broker is unreachable:
	// what must not be lost is kept by the group and sent again.
	Publish func(topic string, payload []byte, retained bool) error
	Secret  func(value string)
	// Orders keeps the group's orders one row each (the SMS router's), so a change to one
	// order writes one row. nil: the KV, when it implements OrderStore (the daemon's
	// does, and MemoryKV); otherwise the group keeps what it needs in its KV.
	Orders OrderStore
}

// OrderStore is a table of a group's orders, one row per order, indexed by id. Data is
// the group's own encoding of the order; state and ended (zero while in progress) are
// kept beside it for inspection and pruning.
type OrderStore interface {
	SaveOrder(ctx context.Context, id, state string, ended time.Time, data []byte) error
	DeleteOrder(ctx context.Context, id string) error
	// LoadOrders calls fn with every order, in id order.
	LoadOrders(ctx context.Context, fn func(id string, data []byte) error) error
}

// GroupFactory builds the group of a kind. It does no I/O.
type GroupFactory func(members []GroupMember, deps GroupDeps) (Group, error)
