package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
)

// OutboxEntry is one alert waiting for one output.
type OutboxEntry struct {
	ID      int64 // delivery order, increasing across outputs and restarts
	Output  string
	AlertID string
	Payload []byte // the alert as JSON
	Created int64  // unix nanoseconds when it was queued
}

// MetaAlertsExpired is the meta key counting alerts dropped from the outbox unsent.
const MetaAlertsExpired = "alerts_expired"

// CommitAlert stores one step of an alert state machine and queues the alert it raised
// for each output, in one transaction: a crash between the two would either lose the
// alert (state saved, nothing queued) or repeat it after the restart. del forgets the
// state of (st.Rule, st.Subject) instead of saving it; the entries are stamped with
// st.Updated (the store's clock when zero), from which they expire. It returns the id of
// the last row queued (0 when outputs is empty).
func (s *Store) CommitAlert(ctx context.Context, st AlertState, del bool, outputs []string, alertID string, payload []byte) (int64, error) {
	id, err := s.commitAlert(ctx, st, del, outputs, alertID, payload)
	if err != nil {
		return 0, fmt.Errorf("store: commit alert %s: %w", alertID, err)
	}
	return id, nil
}

func (s *Store) commitAlert(ctx context.Context, st AlertState, del bool, outputs []string, alertID string, payload []byte) (int64, error) {
	if st.Rule == "" {
		return 0, errors.New("empty rule")
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback() // no-op after Commit
	if del {
		if _, err := tx.ExecContext(ctx, `DELETE FROM alert_state WHERE rule = ? AND subject = ?`, st.Rule, st.Subject); err != nil {
			return 0, err
		}
	} else if err := s.saveAlertStateOn(ctx, tx, st); err != nil {
		return 0, err
	}
	if payload == nil {
		payload = []byte{}
	}
	created, err := timeArg(s.nowOr(st.Updated))
	if err != nil {
		return 0, err
	}
	var last int64
	for _, out := range outputs {
		res, err := tx.ExecContext(ctx,
			`INSERT INTO alert_outbox (output, alert_id, payload, created) VALUES (?, ?, ?, ?)`,
			out, alertID, payload, created)
		if err != nil {
			return 0, err
		}
		if last, err = res.LastInsertId(); err != nil {
			return 0, err
		}
	}
	return last, tx.Commit()
}

// NextOutbox returns the oldest entry of output with an id of at most upTo; ok is false
// when there is none.
func (s *Store) NextOutbox(ctx context.Context, output string, upTo int64) (e OutboxEntry, ok bool, err error) {
	err = s.r.QueryRowContext(ctx,
		`SELECT id, output, alert_id, payload, created FROM alert_outbox
		 WHERE output = ? AND id <= ? ORDER BY id LIMIT 1`, output, upTo).
		Scan(&e.ID, &e.Output, &e.AlertID, &e.Payload, &e.Created)
	if errors.Is(err, sql.ErrNoRows) {
		return OutboxEntry{}, false, nil
	}
	if err != nil {
		return OutboxEntry{}, false, fmt.Errorf("store: next outbox entry of %s: %w", output, err)
	}
	return e, true, nil
}

// DeleteOutbox removes a delivered entry.
func (s *Store) DeleteOutbox(ctx context.Context, id int64) error {
	if _, err := s.w.ExecContext(ctx, `DELETE FROM alert_outbox WHERE id = ?`, id); err != nil {
		return fmt.Errorf("store: delete outbox entry %d: %w", id, err)
	}
	return nil
}

// ExpireOutbox removes an entry that will not be delivered and counts it under
// MetaAlertsExpired, in one transaction. An entry already gone counts nothing.
func (s *Store) ExpireOutbox(ctx context.Context, id int64) error {
	if err := s.expireOutbox(ctx, id); err != nil {
		return fmt.Errorf("store: expire outbox entry %d: %w", id, err)
	}
	return nil
}

func (s *Store) expireOutbox(ctx context.Context, id int64) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	res, err := tx.ExecContext(ctx, `DELETE FROM alert_outbox WHERE id = ?`, id)
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		return err
	}
	if _, err := tx.ExecContext(ctx,
		`INSERT INTO meta (key, value, updated) VALUES (?, '1', ?)
		 ON CONFLICT (key) DO UPDATE SET value = CAST(CAST(value AS INTEGER) + 1 AS TEXT), updated = excluded.updated`,
		MetaAlertsExpired, s.now().UnixNano()); err != nil {
		return err
	}
	return tx.Commit()
}

// DeleteOutboxExcept removes the entries of every output not in keep (outputs no longer
// configured) and returns how many it removed.
func (s *Store) DeleteOutboxExcept(ctx context.Context, keep []string) (int64, error) {
	q := `DELETE FROM alert_outbox`
	args := make([]any, len(keep))
	if len(keep) > 0 {
		q += ` WHERE output NOT IN (?` + repeatPlaceholders(len(keep)-1) + `)`
		for i, k := range keep {
			args[i] = k
		}
	}
	res, err := s.w.ExecContext(ctx, q, args...)
	if err != nil {
		return 0, fmt.Errorf("store: prune outbox: %w", err)
	}
	return res.RowsAffected()
}

func repeatPlaceholders(n int) string {
	b := make([]byte, 0, 3*n)
	for range n {
		b = append(b, ", ?"...)
	}
	return string(b)
}

// OutboxStats returns how many entries wait, the id of the newest (0 when none ever
// was queued) and how many were dropped unsent since the store was created.
func (s *Store) OutboxStats(ctx context.Context) (pending int, lastID, expired int64, err error) {
	err = s.r.QueryRowContext(ctx,
		`SELECT (SELECT count(*) FROM alert_outbox),
		        COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'alert_outbox'), 0)`).Scan(&pending, &lastID)
	if err != nil {
		return 0, 0, 0, fmt.Errorf("store: outbox stats: %w", err)
	}
	v, ok, err := s.Meta(ctx, MetaAlertsExpired)
	if err != nil {
		return 0, 0, 0, err
	}
	if ok {
		expired, _ = strconv.ParseInt(v, 10, 64)
	}
	return pending, lastID, expired, nil
}
