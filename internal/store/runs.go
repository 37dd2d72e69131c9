package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// RecordRun appends one poll run. A zero Started is stamped with the store's clock.
func (s *Store) RecordRun(ctx context.Context, r Run) error {
	if err := s.recordRun(ctx, r); err != nil {
		return fmt.Errorf("store: record run %s: %w", r.Account, err)
	}
	return nil
}

func (s *Store) recordRun(ctx context.Context, r Run) error {
	return s.recordRunOn(ctx, s.w, r)
}

// FinishRun records a poll run and the account's new state in one transaction: what the
// poller writes after every poll (one commit instead of two).
func (s *Store) FinishRun(ctx context.Context, r Run, st AccountState) error {
	if err := s.finishRun(ctx, r, st); err != nil {
		return fmt.Errorf("store: finish run %s: %w", r.Account, err)
	}
	return nil
}

func (s *Store) finishRun(ctx context.Context, r Run, st AccountState) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback() // no-op after Commit
	if err := s.recordRunOn(ctx, tx, r); err != nil {
		return err
	}
	if err := s.saveAccountStateOn(ctx, tx, st); err != nil {
		return err
	}
	return tx.Commit()
}

func (s *Store) recordRunOn(ctx context.Context, w execer, r Run) error {
	if r.Account == "" {
		return errors.New("empty account")
	}
	started, err := timeArg(s.nowOr(r.Started))
	if err != nil {
		return err
	}
	_, err = w.ExecContext(ctx,
		`INSERT INTO runs (account, started, duration_ns, ok, error_kind, message) VALUES (?, ?, ?, ?, ?, ?)`,
		r.Account, started, int64(r.Duration), r.OK, r.ErrorKind, r.Message)
	return err
}

// Runs returns an account's runs, newest first, at most limit of them (limit <= 0: all).
// An empty account lists the runs of every account.
func (s *Store) Runs(ctx context.Context, account string, limit int) ([]Run, error) {
	runs, err := s.runs(ctx, account, limit)
	if err != nil {
		return nil, fmt.Errorf("store: list runs %s: %w", account, err)
	}
	return runs, nil
}

func (s *Store) runs(ctx context.Context, account string, limit int) ([]Run, error) {
	if limit <= 0 {
		limit = -1 // SQLite: no limit
	}
	// id breaks ties between runs that started in the same nanosecond: later insert first.
	const cols = `SELECT account, started, duration_ns, ok, error_kind, message FROM runs `
	const order = ` ORDER BY started DESC, id DESC LIMIT ?`
	var rows *sql.Rows
	var err error
	if account == "" {
		rows, err = s.r.QueryContext(ctx, cols+order, limit)
	} else {
		rows, err = s.r.QueryContext(ctx, cols+`WHERE account = ?`+order, account, limit)
	}
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var runs []Run
	for rows.Next() {
		var r Run
		var started sql.NullInt64
		var dur int64
		if err := rows.Scan(&r.Account, &started, &dur, &r.OK, &r.ErrorKind, &r.Message); err != nil {
			return nil, err
		}
		r.Started = timeOf(started)
		r.Duration = time.Duration(dur)
		runs = append(runs, r)
	}
	return runs, rows.Err()
}

// PruneRuns deletes the runs of every account that started before olderThan and
// returns how many it deleted.
func (s *Store) PruneRuns(ctx context.Context, olderThan time.Time) (int64, error) {
	n, err := s.pruneRuns(ctx, olderThan)
	if err != nil {
		return 0, fmt.Errorf("store: prune runs before %s: %w", olderThan.UTC().Format(time.RFC3339), err)
	}
	return n, nil
}

func (s *Store) pruneRuns(ctx context.Context, olderThan time.Time) (int64, error) {
	cut, err := timeArg(olderThan)
	if err != nil {
		return 0, err
	}
	if !cut.Valid {
		return 0, nil // nothing starts before the zero time
	}
	res, err := s.w.ExecContext(ctx, `DELETE FROM runs WHERE started < ?`, cut)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}
