package store

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2025, 3, 14, 9, 26, 53, 589793238, time.UTC)

// openTest opens a store in a fresh directory with a fixed clock and closes it with the test.
func openTest(t *testing.T) *Store {
	t.Helper()
	s, err := Open(t.Context(), filepath.Join(t.TempDir(), "test.db"), Options{Now: func() time.Time { return t0 }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func perm(t *testing.T, path string) os.FileMode {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Mode().Perm()
}

func TestOpenPermissions(t *testing.T) {
	tests := []struct {
		name    string
		rel     string // path under the temp dir
		prepare func(t *testing.T, path string)
	}{
		{name: "existing directory", rel: "a.db"},
		{name: "missing directories", rel: "data/nested/a.db"},
		{name: "odd characters in path", rel: "we?ird #dir%20/a?b.db"},
		{
			name: "world-readable file is tightened",
			rel:  "loose.db",
			prepare: func(t *testing.T, path string) {
				if err := os.WriteFile(path, nil, 0o644); err != nil {
					t.Fatal(err)
				}
				if err := os.Chmod(path, 0o644); err != nil { // beat the umask
					t.Fatal(err)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, tt.rel)
			if tt.prepare != nil {
				tt.prepare(t, path)
			}
			s, err := Open(t.Context(), path, Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if s.Path() != path {
				t.Errorf("Path() = %q, want %q", s.Path(), path)
			}
			// Write something so SQLite has created its -wal file as well.
			if err := s.SetMeta(t.Context(), "k", "v"); err != nil {
				t.Fatal(err)
			}
			if got := perm(t, path); got != 0o600 {
				t.Errorf("db mode = %v, want 0600", got)
			}
			if got := perm(t, path+"-wal"); got != 0o600 {
				t.Errorf("wal mode = %v, want 0600", got)
			}
			if d := filepath.Dir(path); d != dir {
				if got := perm(t, d); got != 0o700 {
					t.Errorf("dir mode = %v, want 0700", got)
				}
			}
			var mode string
			if err := s.r.QueryRowContext(t.Context(), "PRAGMA journal_mode").Scan(&mode); err != nil || mode != "wal" {
				t.Errorf("journal_mode = %q, %v; want wal", mode, err)
			}
			var fk, busy int
			if err := s.w.QueryRowContext(t.Context(), "PRAGMA foreign_keys").Scan(&fk); err != nil || fk != 1 {
				t.Errorf("foreign_keys = %d, %v; want 1", fk, err)
			}
			if err := s.w.QueryRowContext(t.Context(), "PRAGMA busy_timeout").Scan(&busy); err != nil || busy != 5000 {
				t.Errorf("busy_timeout = %d, %v; want 5000", busy, err)
			}
		})
	}
}

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	if _, err := Open(t.Context(), "", Options{}); err == nil {
		t.Error("empty path: no error")
	}
	// A directory where the file should be.
	if _, err := Open(t.Context(), dir, Options{}); err == nil {
		t.Error("directory as path: no error")
	}
	garbage := filepath.Join(dir, "garbage.db")
	must(t, os.WriteFile(garbage, bytes.Repeat([]byte("not a database "), 100), 0o600))
	if _, err := Open(t.Context(), garbage, Options{}); err == nil || !strings.Contains(err.Error(), garbage) {
		t.Errorf("garbage file: err = %v, want an error naming the file", err)
	}
}

func TestReadPoolIsReadOnly(t *testing.T) {
	s := openTest(t)
	if _, err := s.r.ExecContext(t.Context(), `INSERT INTO meta (key, value, updated) VALUES ('x', 'y', 0)`); err == nil {
		t.Error("write through the read pool succeeded")
	}
}

func TestReopenKeepsData(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "keep.db")
	s, err := Open(ctx, path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	dev := DeviceRecord{Account: "telecom_main", DeviceID: "telecom_main", Model: []byte(`{"m":1}`), State: []byte(`{"s":2}`), Updated: t0}
	acct := AccountState{Account: "telecom_main", ConsecutiveFailures: 3, LastRun: t0, LastErrorKind: "auth",
		LastError: "token expired", BackoffUntil: t0.Add(time.Hour), QuarantineFingerprint: "fp", QuarantineReason: "captcha"}
	alert := AlertState{Rule: "low_balance", Subject: "telecom_main", State: "firing", Since: t0, Updated: t0, Data: []byte(`{"v":1.5}`)}
	run := Run{Account: "telecom_main", Started: t0, Duration: 1500 * time.Millisecond, OK: true}
	must(t, s.KV("telecom_main").Set(ctx, "token", []byte("secret")))
	must(t, s.SaveDevice(ctx, dev))
	must(t, s.SaveAccountState(ctx, acct))
	must(t, s.SaveAlertState(ctx, alert))
	must(t, s.RecordRun(ctx, run))
	must(t, s.SetMeta(ctx, "salt", "abc"))
	must(t, s.Close())

	s, err = Open(ctx, path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if v, ok, err := s.KV("telecom_main").Get(ctx, "token"); err != nil || !ok || string(v) != "secret" {
		t.Errorf("kv token = %q, %v, %v", v, ok, err)
	}
	devs, err := s.Devices(ctx)
	if err != nil || len(devs) != 1 || !equalDevice(devs[0], dev) {
		t.Errorf("devices = %+v, %v", devs, err)
	}
	if got, ok, err := s.AccountState(ctx, "telecom_main"); err != nil || !ok || !equalAccountState(got, acct) {
		t.Errorf("account state = %+v, %v, %v", got, ok, err)
	}
	if got, ok, err := s.AlertState(ctx, "low_balance", "telecom_main"); err != nil || !ok || !equalAlert(got, alert) {
		t.Errorf("alert state = %+v, %v, %v", got, ok, err)
	}
	if runs, err := s.Runs(ctx, "telecom_main", 0); err != nil || len(runs) != 1 || !equalRun(runs[0], run) {
		t.Errorf("runs = %+v, %v", runs, err)
	}
	if v, ok, err := s.Meta(ctx, "salt"); err != nil || !ok || v != "abc" {
		t.Errorf("meta salt = %q, %v, %v", v, ok, err)
	}
}

func TestTimeRoundTrip(t *testing.T) {
	ctx := t.Context()
	s := openTest(t)
	shanghai := time.FixedZone("CST", 8*3600)
	tests := []struct {
		name string
		in   time.Time
	}{
		{"zero means never", time.Time{}},
		{"utc with nanoseconds", t0},
		{"other zone keeps the instant", time.Date(2024, 12, 31, 23, 59, 59, 999999999, shanghai)},
		{"before 1970", time.Date(1969, 7, 20, 20, 17, 40, 1, time.UTC)},
		{"monotonic reading dropped", time.Now()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			must(t, s.SaveAccountState(ctx, AccountState{Account: "a", LastRun: tt.in, LastOK: tt.in, BackoffUntil: tt.in}))
			got, _, err := s.AccountState(ctx, "a")
			must(t, err)
			for _, v := range []time.Time{got.LastRun, got.LastOK, got.BackoffUntil} {
				if !v.Equal(tt.in) || v.IsZero() != tt.in.IsZero() {
					t.Errorf("got %v, want %v", v, tt.in)
				}
				if !v.IsZero() && v.Location() != time.UTC {
					t.Errorf("location %v, want UTC", v.Location())
				}
			}
		})
	}
	far := time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC)
	if err := s.SaveAccountState(ctx, AccountState{Account: "a", BackoffUntil: far}); err == nil {
		t.Error("year 3000: no error")
	}
}

func TestDevices(t *testing.T) {
	ctx := t.Context()
	s := openTest(t)
	recs := []DeviceRecord{
		{Account: "telecom_b", DeviceID: "telecom_b", State: []byte(`{}`), Updated: t0},
		{Account: "gas_a", DeviceID: "gas_a_meter2", Model: []byte(`{"x":1}`)}, // zero Updated: stamped
		{Account: "gas_a", DeviceID: "gas_a_meter1", Model: []byte(`{"x":2}`), State: []byte(`{"v":3}`), Updated: t0.Add(-time.Hour)},
	}
	for _, r := range recs {
		must(t, s.SaveDevice(ctx, r))
	}
	// Upsert replaces the whole record.
	recs[0].State = []byte(`{"balance":12.5}`)
	recs[0].Updated = t0.Add(time.Minute)
	must(t, s.SaveDevice(ctx, recs[0]))

	got, err := s.Devices(ctx)
	must(t, err)
	want := []DeviceRecord{recs[2], recs[1], recs[0]}
	want[1].Updated = t0
	if len(got) != len(want) {
		t.Fatalf("got %d devices, want %d", len(got), len(want))
	}
	for i := range want {
		if !equalDevice(got[i], want[i]) {
			t.Errorf("device %d = %+v, want %+v", i, got[i], want[i])
		}
	}

	for _, w := range want {
		one, found, err := s.Device(ctx, w.DeviceID)
		must(t, err)
		if !found || !equalDevice(one, w) {
			t.Errorf("Device(%s) = %+v, %v; want %+v", w.DeviceID, one, found, w)
		}
	}
	if _, found, err := s.Device(ctx, "no_such_device"); found || err != nil {
		t.Errorf("Device(no_such_device): found %v, err %v", found, err)
	}

	must(t, s.DeleteDevice(ctx, "gas_a_meter2"))
	must(t, s.DeleteDevice(ctx, "no_such_device"))
	got, err = s.Devices(ctx)
	must(t, err)
	if len(got) != 2 || got[0].DeviceID != "gas_a_meter1" || got[1].DeviceID != "telecom_b" {
		t.Errorf("after delete: %+v", got)
	}

	for _, bad := range []DeviceRecord{{Account: "a"}, {DeviceID: "d"}} {
		if err := s.SaveDevice(ctx, bad); err == nil {
			t.Errorf("SaveDevice(%+v): no error", bad)
		}
	}
}

func TestAccountState(t *testing.T) {
	ctx := t.Context()
	s := openTest(t)
	if _, ok, err := s.AccountState(ctx, "gas_a"); ok || err != nil {
		t.Fatalf("missing state: ok=%v err=%v", ok, err)
	}
	st := AccountState{Account: "gas_a", ConsecutiveFailures: 2, LastRun: t0, LastErrorKind: "rate_limited", BackoffUntil: t0.Add(time.Minute)}
	must(t, s.SaveAccountState(ctx, st))
	// Recovery clears the failure fields.
	st = AccountState{Account: "gas_a", LastRun: t0.Add(time.Hour), LastOK: t0.Add(time.Hour)}
	must(t, s.SaveAccountState(ctx, st))
	got, ok, err := s.AccountState(ctx, "gas_a")
	if err != nil || !ok || !equalAccountState(got, st) {
		t.Errorf("got %+v, %v, %v; want %+v", got, ok, err, st)
	}
	if err := s.SaveAccountState(ctx, AccountState{}); err == nil {
		t.Error("empty account: no error")
	}
}

func TestAlertStates(t *testing.T) {
	ctx := t.Context()
	s := openTest(t)
	if _, ok, err := s.AlertState(ctx, "offline", "box1"); ok || err != nil {
		t.Fatalf("missing state: ok=%v err=%v", ok, err)
	}
	states := []AlertState{
		{Rule: "offline", Subject: "onecloud_b", State: "pending", Since: t0},
		{Rule: "low_balance", Subject: "telecom_a", State: "firing", Since: t0, Updated: t0.Add(time.Second), Data: []byte(`{"last":3}`)},
		{Rule: "offline", Subject: "onecloud_a", State: "resolved"},
	}
	for _, st := range states {
		must(t, s.SaveAlertState(ctx, st))
	}
	states[0].State = "firing"
	must(t, s.SaveAlertState(ctx, states[0]))

	got, err := s.AlertStates(ctx)
	must(t, err)
	want := []AlertState{states[1], states[2], states[0]}
	want[1].Updated, want[2].Updated = t0, t0 // stamped by the clock
	if len(got) != len(want) {
		t.Fatalf("got %d states, want %d", len(got), len(want))
	}
	for i := range want {
		if !equalAlert(got[i], want[i]) {
			t.Errorf("state %d = %+v, want %+v", i, got[i], want[i])
		}
	}

	must(t, s.DeleteAlertState(ctx, "offline", "onecloud_a"))
	if _, ok, err := s.AlertState(ctx, "offline", "onecloud_a"); ok || err != nil {
		t.Errorf("after delete: ok=%v err=%v", ok, err)
	}
	if _, ok, _ := s.AlertState(ctx, "offline", "onecloud_b"); !ok {
		t.Error("delete removed another subject")
	}
}

func TestMeta(t *testing.T) {
	ctx := t.Context()
	s := openTest(t)
	if _, ok, err := s.Meta(ctx, "salt"); ok || err != nil {
		t.Fatalf("missing: ok=%v err=%v", ok, err)
	}
	must(t, s.SetMeta(ctx, "salt", "one"))
	must(t, s.SetMeta(ctx, "salt", "two"))
	if v, ok, err := s.Meta(ctx, "salt"); v != "two" || !ok || err != nil {
		t.Errorf("got %q, %v, %v", v, ok, err)
	}
	if err := s.SetMeta(ctx, "", "x"); err == nil {
		t.Error("empty key: no error")
	}
}

func TestDeleteAccountData(t *testing.T) {
	ctx := t.Context()
	s := openTest(t)
	for _, acct := range []string{"gone", "kept"} {
		must(t, s.KV(acct).Set(ctx, "token", []byte(acct)))
		must(t, s.SaveDevice(ctx, DeviceRecord{Account: acct, DeviceID: acct + "_dev"}))
		must(t, s.SaveAccountState(ctx, AccountState{Account: acct, ConsecutiveFailures: 1}))
	}
	must(t, s.DeleteAccountData(ctx, "gone"))

	if _, ok, _ := s.KV("gone").Get(ctx, "token"); ok {
		t.Error("session of deleted account still there")
	}
	if _, ok, _ := s.AccountState(ctx, "gone"); ok {
		t.Error("state of deleted account still there")
	}
	devs, err := s.Devices(ctx)
	must(t, err)
	if len(devs) != 1 || devs[0].Account != "kept" {
		t.Errorf("devices = %+v", devs)
	}
	if v, ok, _ := s.KV("kept").Get(ctx, "token"); !ok || string(v) != "kept" {
		t.Error("other account's session lost")
	}
	if _, ok, _ := s.AccountState(ctx, "kept"); !ok {
		t.Error("other account's state lost")
	}
}

func TestErrorsNameOperation(t *testing.T) {
	s := openTest(t)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	err := s.SaveDevice(ctx, DeviceRecord{Account: "telecom_main", DeviceID: "telecom_main"})
	if err == nil || !strings.HasPrefix(err.Error(), "store: save device telecom_main: ") || !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v", err)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func equalDevice(a, b DeviceRecord) bool {
	return a.Account == b.Account && a.DeviceID == b.DeviceID && bytes.Equal(a.Model, b.Model) &&
		bytes.Equal(a.State, b.State) && a.Updated.Equal(b.Updated)
}

func equalRun(a, b Run) bool {
	return a.Account == b.Account && a.Started.Equal(b.Started) && a.Duration == b.Duration &&
		a.OK == b.OK && a.ErrorKind == b.ErrorKind && a.Message == b.Message
}

func equalAccountState(a, b AccountState) bool {
	return a.Account == b.Account && a.ConsecutiveFailures == b.ConsecutiveFailures &&
		a.LastRun.Equal(b.LastRun) && a.LastOK.Equal(b.LastOK) && a.LastErrorKind == b.LastErrorKind &&
		a.LastError == b.LastError && a.BackoffUntil.Equal(b.BackoffUntil) &&
		a.QuarantineFingerprint == b.QuarantineFingerprint && a.QuarantineReason == b.QuarantineReason
}

func equalAlert(a, b AlertState) bool {
	return a.Rule == b.Rule && a.Subject == b.Subject && a.State == b.State && a.Since.Equal(b.Since) &&
		a.Updated.Equal(b.Updated) && bytes.Equal(a.Data, b.Data)
}
