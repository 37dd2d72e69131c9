package store

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// SaveOrder stores one order of the account (or group) kv belongs to, replacing the row
// of the same id. It implements providers.OrderStore: one write per change of one order.
func (kv *AccountKV) SaveOrder(ctx context.Context, id, state string, ended time.Time, data []byte) error {
	if err := kv.saveOrder(ctx, id, state, ended, data); err != nil {
		return fmt.Errorf("store: save order %s/%s: %w", kv.account, id, err)
	}
	return nil
}

func (kv *AccountKV) saveOrder(ctx context.Context, id, state string, ended time.Time, data []byte) error {
	if kv.account == "" || id == "" {
		return errors.New("empty owner or id")
	}
	ts, err := timeArgs(ended, kv.s.now())
	if err != nil {
		return err
	}
	if data == nil {
		data = []byte{}
	}
	_, err = kv.s.w.ExecContext(ctx,
		`INSERT INTO orders (owner, id, state, ended, data, updated) VALUES (?, ?, ?, ?, ?, ?)
		 ON CONFLICT (owner, id) DO UPDATE SET state = excluded.state, ended = excluded.ended,
		   data = excluded.data, updated = excluded.updated`,
		kv.account, id, state, ts[0], data, ts[1])
	return err
}

// DeleteOrder forgets one order; a missing one is not an error.
func (kv *AccountKV) DeleteOrder(ctx context.Context, id string) error {
	if _, err := kv.s.w.ExecContext(ctx, `DELETE FROM orders WHERE owner = ? AND id = ?`, kv.account, id); err != nil {
		return fmt.Errorf("store: delete order %s/%s: %w", kv.account, id, err)
	}
	return nil
}

// LoadOrders calls fn with every stored order of the account, in id order.
func (kv *AccountKV) LoadOrders(ctx context.Context, fn func(id string, data []byte) error) error {
	rows, err := kv.s.r.QueryContext(ctx, `SELECT id, data FROM orders WHERE owner = ? ORDER BY id`, kv.account)
	if err != nil {
		return fmt.Errorf("store: load orders %s: %w", kv.account, err)
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		var data []byte
		if err := rows.Scan(&id, &data); err != nil {
			return fmt.Errorf("store: load orders %s: %w", kv.account, err)
		}
		if err := fn(id, data); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("store: load orders %s: %w", kv.account, err)
	}
	return nil
}
