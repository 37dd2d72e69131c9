package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// SaveDevice stores rec, replacing the record with the same DeviceID. A zero Updated
// is stamped with the store's clock.
func (s *Store) SaveDevice(ctx context.Context, rec DeviceRecord) error {
	if err := s.saveDevice(ctx, rec); err != nil {
		return fmt.Errorf("store: save device %s: %w", rec.DeviceID, err)
	}
	return nil
}

func (s *Store) saveDevice(ctx context.Context, rec DeviceRecord) error {
	if rec.DeviceID == "" {
		return errors.New("empty device id")
	}
	if rec.Account == "" {
		return errors.New("empty account")
	}
	updated, err := timeArg(s.nowOr(rec.Updated))
	if err != nil {
		return err
	}
	_, err = s.w.ExecContext(ctx,
		`INSERT INTO devices (device_id, account, model, state, updated) VALUES (?, ?, ?, ?, ?)
		 ON CONFLICT (device_id) DO UPDATE SET
		   account = excluded.account, model = excluded.model,
		   state = excluded.state, updated = excluded.updated`,
		rec.DeviceID, rec.Account, rec.Model, rec.State, updated)
	return err
}

// Devices returns every device record, ordered by account, then device id.
func (s *Store) Devices(ctx context.Context) ([]DeviceRecord, error) {
	recs, err := s.devices(ctx)
	if err != nil {
		return nil, fmt.Errorf("store: list devices: %w", err)
	}
	return recs, nil
}

func (s *Store) devices(ctx context.Context) ([]DeviceRecord, error) {
	rows, err := s.r.QueryContext(ctx,
		`SELECT `+deviceColumns+` FROM devices ORDER BY account, device_id`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var recs []DeviceRecord
	for rows.Next() {
		rec, err := scanDevice(rows)
		if err != nil {
			return nil, err
		}
		recs = append(recs, rec)
	}
	return recs, rows.Err()
}

// Device returns the record of one device; false when there is none. (The web UI's device
// view: with thousands of devices, reading them all for one was megabytes per request.)
func (s *Store) Device(ctx context.Context, deviceID string) (DeviceRecord, bool, error) {
	row := s.r.QueryRowContext(ctx, `SELECT `+deviceColumns+` FROM devices WHERE device_id = ?`, deviceID)
	rec, err := scanDevice(row)
	if errors.Is(err, sql.ErrNoRows) {
		return DeviceRecord{}, false, nil
	}
	if err != nil {
		return DeviceRecord{}, false, fmt.Errorf("store: read device %s: %w", deviceID, err)
	}
	return rec, true, nil
}

const deviceColumns = `account, device_id, model, state, updated`

// scanDevice reads the deviceColumns of one row.
func scanDevice(row interface{ Scan(...any) error }) (DeviceRecord, error) {
	var rec DeviceRecord
	var updated sql.NullInt64
	if err := row.Scan(&rec.Account, &rec.DeviceID, &rec.Model, &rec.State, &updated); err != nil {
		return DeviceRecord{}, err
	}
	rec.Updated = timeOf(updated)
	return rec, nil
}

// DeleteDevice removes one device record; a missing one is not an error.
func (s *Store) DeleteDevice(ctx context.Context, deviceID string) error {
	if _, err := s.w.ExecContext(ctx, `DELETE FROM devices WHERE device_id = ?`, deviceID); err != nil {
		return fmt.Errorf("store: delete device %s: %w", deviceID, err)
	}
	return nil
}
