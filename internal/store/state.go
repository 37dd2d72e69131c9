package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// AccountState returns the poller state of account; ok is false when none was saved.
func (s *Store) AccountState(ctx context.Context, account string) (AccountState, bool, error) {
	st := AccountState{Account: account}
	var lastRun, lastOK, backoff sql.NullInt64
	err := s.r.QueryRowContext(ctx,
		`SELECT consecutive_failures, last_run, last_ok, last_error_kind, last_error,
		        backoff_until, quarantine_fingerprint, quarantine_reason
		 FROM account_state WHERE account = ?`, account).
		Scan(&st.ConsecutiveFailures, &lastRun, &lastOK, &st.LastErrorKind, &st.LastError,
			&backoff, &st.QuarantineFingerprint, &st.QuarantineReason)
	if errors.Is(err, sql.ErrNoRows) {
		return AccountState{}, false, nil
	}
	if err != nil {
		return AccountState{}, false, fmt.Errorf("store: load account state %s: %w", account, err)
	}
	st.LastRun, st.LastOK, st.BackoffUntil = timeOf(lastRun), timeOf(lastOK), timeOf(backoff)
	return st, true, nil
}

// SaveAccountState stores st, replacing the account's previous state.
func (s *Store) SaveAccountState(ctx context.Context, st AccountState) error {
	if err := s.saveAccountState(ctx, st); err != nil {
		return fmt.Errorf("store: save account state %s: %w", st.Account, err)
	}
	return nil
}

func (s *Store) saveAccountState(ctx context.Context, st AccountState) error {
	return s.saveAccountStateOn(ctx, s.w, st)
}

// execer is a connection or a transaction.
type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

func (s *Store) saveAccountStateOn(ctx context.Context, w execer, st AccountState) error {
	if st.Account == "" {
		return errors.New("empty account")
	}
	ts, err := timeArgs(st.LastRun, st.LastOK, st.BackoffUntil, s.now())
	if err != nil {
		return err
	}
	_, err = w.ExecContext(ctx,
		`INSERT INTO account_state (account, consecutive_failures, last_run, last_ok,
		   last_error_kind, last_error, backoff_until, quarantine_fingerprint, quarantine_reason, updated)
		 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		 ON CONFLICT (account) DO UPDATE SET
		   consecutive_failures = excluded.consecutive_failures,
		   last_run = excluded.last_run, last_ok = excluded.last_ok,
		   last_error_kind = excluded.last_error_kind, last_error = excluded.last_error,
		   backoff_until = excluded.backoff_until,
		   quarantine_fingerprint = excluded.quarantine_fingerprint,
		   quarantine_reason = excluded.quarantine_reason,
		   updated = excluded.updated`,
		st.Account, st.ConsecutiveFailures, ts[0], ts[1],
		st.LastErrorKind, st.LastError, ts[2], st.QuarantineFingerprint, st.QuarantineReason, ts[3])
	return err
}

// AlertState returns the state of rule for subject; ok is false when none was saved.
func (s *Store) AlertState(ctx context.Context, rule, subject string) (AlertState, bool, error) {
	rows, err := s.alertStates(ctx, `WHERE rule = ? AND subject = ?`, rule, subject)
	if err != nil {
		return AlertState{}, false, fmt.Errorf("store: load alert state %s/%s: %w", rule, subject, err)
	}
	if len(rows) == 0 {
		return AlertState{}, false, nil
	}
	return rows[0], true, nil
}

// AlertStates returns every alert state, ordered by rule, then subject.
func (s *Store) AlertStates(ctx context.Context) ([]AlertState, error) {
	rows, err := s.alertStates(ctx, ``)
	if err != nil {
		return nil, fmt.Errorf("store: list alert states: %w", err)
	}
	return rows, nil
}

func (s *Store) alertStates(ctx context.Context, where string, args ...any) ([]AlertState, error) {
	rows, err := s.r.QueryContext(ctx,
		`SELECT rule, subject, state, since, updated, data FROM alert_state `+where+
			` ORDER BY rule, subject`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []AlertState
	for rows.Next() {
		var st AlertState
		var since, updated sql.NullInt64
		if err := rows.Scan(&st.Rule, &st.Subject, &st.State, &since, &updated, &st.Data); err != nil {
			return nil, err
		}
		st.Since, st.Updated = timeOf(since), timeOf(updated)
		out = append(out, st)
	}
	return out, rows.Err()
}

// SaveAlertState stores st, replacing the state of the same (rule, subject). A zero
// Updated is stamped with the store's clock.
func (s *Store) SaveAlertState(ctx context.Context, st AlertState) error {
	if err := s.saveAlertState(ctx, st); err != nil {
		return fmt.Errorf("store: save alert state %s/%s: %w", st.Rule, st.Subject, err)
	}
	return nil
}

func (s *Store) saveAlertState(ctx context.Context, st AlertState) error {
	return s.saveAlertStateOn(ctx, s.w, st)
}

func (s *Store) saveAlertStateOn(ctx context.Context, w execer, st AlertState) error {
	if st.Rule == "" {
		return errors.New("empty rule")
	}
	ts, err := timeArgs(st.Since, s.nowOr(st.Updated))
	if err != nil {
		return err
	}
	_, err = w.ExecContext(ctx,
		`INSERT INTO alert_state (rule, subject, state, since, updated, data) VALUES (?, ?, ?, ?, ?, ?)
		 ON CONFLICT (rule, subject) DO UPDATE SET
		   state = excluded.state, since = excluded.since,
		   updated = excluded.updated, data = excluded.data`,
		st.Rule, st.Subject, st.State, ts[0], ts[1], st.Data)
	return err
}

// DeleteAlertState forgets the state of rule for subject; a missing one is not an error.
func (s *Store) DeleteAlertState(ctx context.Context, rule, subject string) error {
	if _, err := s.w.ExecContext(ctx,
		`DELETE FROM alert_state WHERE rule = ? AND subject = ?`, rule, subject); err != nil {
		return fmt.Errorf("store: delete alert state %s/%s: %w", rule, subject, err)
	}
	return nil
}
