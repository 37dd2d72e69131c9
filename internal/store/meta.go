package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// Meta returns the value of a metadata key; ok is false when it is not set.
func (s *Store) Meta(ctx context.Context, key string) (string, bool, error) {
	var v string
	err := s.r.QueryRowContext(ctx, `SELECT value FROM meta WHERE key = ?`, key).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("store: load meta %s: %w", key, err)
	}
	return v, true, nil
}

// SetMeta stores value under a metadata key, replacing any previous value.
func (s *Store) SetMeta(ctx context.Context, key, value string) error {
	if key == "" {
		return errors.New("store: set meta: empty key")
	}
	_, err := s.w.ExecContext(ctx,
		`INSERT INTO meta (key, value, updated) VALUES (?, ?, ?)
		 ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated = excluded.updated`,
		key, value, s.now().UnixNano())
	if err != nil {
		return fmt.Errorf("store: set meta %s: %w", key, err)
	}
	return nil
}
