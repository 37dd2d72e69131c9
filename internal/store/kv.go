package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// AccountKV is one account's persistent key/value store for sessions, tokens, cookies
// and login guards. It satisfies providers.KV.
type AccountKV struct {
	s       *Store
	account string
}

// KV returns the key/value store of one account. Accounts never see each other's keys.
func (s *Store) KV(account string) *AccountKV {
	return &AccountKV{s: s, account: account}
}

// Get returns the value of key; ok is false when it is not set.
func (kv *AccountKV) Get(ctx context.Context, key string) (value []byte, ok bool, err error) {
	err = kv.s.r.QueryRowContext(ctx,
		`SELECT value FROM kv WHERE account = ? AND key = ?`, kv.account, key).Scan(&value)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("store: kv get %s/%s: %w", kv.account, key, err)
	}
	if value == nil {
		value = []byte{} // set, but empty: keep it distinguishable from "missing"
	}
	return value, true, nil
}

// Set stores value under key, replacing any previous value.
func (kv *AccountKV) Set(ctx context.Context, key string, value []byte) error {
	if err := kv.check(key); err != nil {
		return fmt.Errorf("store: kv set %s/%s: %w", kv.account, key, err)
	}
	if value == nil {
		value = []byte{} // the driver binds a nil slice as NULL
	}
	_, err := kv.s.w.ExecContext(ctx,
		`INSERT INTO kv (account, key, value, updated) VALUES (?, ?, ?, ?)
		 ON CONFLICT (account, key) DO UPDATE SET value = excluded.value, updated = excluded.updated`,
		kv.account, key, value, kv.s.now().UnixNano())
	if err != nil {
		return fmt.Errorf("store: kv set %s/%s: %w", kv.account, key, err)
	}
	return nil
}

// Delete removes key; deleting a missing key is not an error.
func (kv *AccountKV) Delete(ctx context.Context, key string) error {
	_, err := kv.s.w.ExecContext(ctx, `DELETE FROM kv WHERE account = ? AND key = ?`, kv.account, key)
	if err != nil {
		return fmt.Errorf("store: kv delete %s/%s: %w", kv.account, key, err)
	}
	return nil
}

func (kv *AccountKV) check(key string) error {
	if kv.account == "" {
		return errors.New("empty account")
	}
	if key == "" {
		return errors.New("empty key")
	}
	return nil
}

// DeleteAccountData removes an account's sessions, poller state and device records in
// one transaction, e.g. when the account left the config. Runs stay until PruneRuns.
func (s *Store) DeleteAccountData(ctx context.Context, account string) error {
	if err := s.deleteAccountData(ctx, account); err != nil {
		return fmt.Errorf("store: delete account data %s: %w", account, err)
	}
	return nil
}

func (s *Store) deleteAccountData(ctx context.Context, account string) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback() // no-op after Commit
	for _, q := range []string{
		`DELETE FROM kv WHERE account = ?`,
		`DELETE FROM account_state WHERE account = ?`,
		`DELETE FROM devices WHERE account = ?`,
		`DELETE FROM orders WHERE owner = ?`,
	} {
		if _, err := tx.ExecContext(ctx, q, account); err != nil {
			return err
		}
	}
	return tx.Commit()
}
