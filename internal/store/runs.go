package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
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

// FinishRun records a poll run and the account's new state: what the poller writes after
// every poll. Calls that arrive within FinishWindow of each other share one transaction
// (group commit): with thousands of accounts polls finish hundreds of times a second, and
// a transaction each made BEGIN and COMMIT (the WAL write) the larger part of the
// bookkeeping. It returns when the transaction that holds the call has committed.
func (s *Store) FinishRun(ctx context.Context, r Run, st AccountState) error {
	if r.Account == "" || st.Account == "" {
		return fmt.Errorf("store: finish run %q: empty account", r.Account)
	}
	req := &finishReq{r: r, st: st, done: make(chan error, 1)}
	q := &s.finishQ
	q.mu.Lock()
	q.pending = append(q.pending, req)
	lead := !q.leading
	q.leading = true
	q.mu.Unlock()
	if lead {
		s.commitFinished(ctx)
	}
	select {
	case err := <-req.done:
		return err
	case <-ctx.Done():
		return fmt.Errorf("store: finish run %s: %w", r.Account, ctx.Err())
	}
}

// FinishWindow is how long the first FinishRun of a group waits for others to join it.
const FinishWindow = 20 * time.Millisecond

// finishQueue collects FinishRun calls for the next transaction.
type finishQueue struct {
	mu      sync.Mutex
	pending []*finishReq
	leading bool // a caller is committing the pending calls
}

type finishReq struct {
	r    Run
	st   AccountState
	done chan error
}

// commitFinished is run by the call that found no group being committed: it waits
// FinishWindow, then commits the pending calls in one transaction, again and again until
// none are left. The transaction does not end with the leader's context: it is the others'
// too.
func (s *Store) commitFinished(ctx context.Context) {
	t := time.NewTimer(FinishWindow)
	select {
	case <-t.C:
	case <-ctx.Done():
		t.Stop()
	}
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	q := &s.finishQ
	for {
		q.mu.Lock()
		batch := q.pending
		q.pending = nil
		if len(batch) == 0 {
			q.leading = false
			q.mu.Unlock()
			return
		}
		q.mu.Unlock()
		if err := s.finishRuns(wctx, batch); err == nil || len(batch) == 1 {
			for _, req := range batch {
				req.done <- wrapFinish(req, err)
			}
			continue
		}
		// One bad call (a time out of range) must not lose the others' runs: one
		// transaction each.
		for _, req := range batch {
			req.done <- wrapFinish(req, s.finishRuns(wctx, []*finishReq{req}))
		}
	}
}

func wrapFinish(req *finishReq, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("store: finish run %s: %w", req.r.Account, err)
}

func (s *Store) finishRuns(ctx context.Context, batch []*finishReq) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback() // no-op after Commit
	for _, req := range batch {
		if err := s.recordRunOn(ctx, tx, req.r); err != nil {
			return err
		}
		if err := s.saveAccountStateOn(ctx, tx, req.st); err != nil {
			return err
		}
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
