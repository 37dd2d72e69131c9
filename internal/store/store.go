// Package store keeps what accountbridge must remember across restarts in one SQLite
// file: upstream sessions and login guards, the last published form of each device, poll
// runs, poller and alert state, and small metadata.
//
// The file is created with mode 0600 before SQLite touches it (it holds tokens and
// cookies), runs in WAL mode, and carries its schema version in PRAGMA user_version.
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"time"

	_ "github.com/mattn/go-sqlite3" // registers the "sqlite3" driver
)

// Options tune Open. The zero value is ready to use.
type Options struct {
	Now func() time.Time // default time.Now; stamps the "updated" columns
}

// Store is the daemon's SQLite database. It is safe for concurrent use.
type Store struct {
	path string
	now  func() time.Time

	// w has exactly one connection: SQLite admits one writer at a time, so queueing
	// writers in database/sql instead of in SQLite's busy handler means our own
	// goroutines never see "database is locked".
	w *sql.DB
	// r serves reads; WAL lets them run beside the writer without blocking it.
	r *sql.DB

	finishQ finishQueue // FinishRun's group commit
}

const (
	fileMode = 0o600 // tokens and cookies live here
	dirMode  = 0o700
	readers  = 4
	// Shared by both pools. _txlock=immediate takes the write lock at BEGIN, so a
	// transaction never has to upgrade a read lock, which SQLite cannot wait for and
	// would fail with SQLITE_BUSY (e.g. with a second process such as `bridge check`).
	// synchronous=NORMAL is the setting SQLite recommends with WAL: a commit is not
	// fsynced (a checkpoint is), so a crash of the process loses nothing and a power cut
	// at most the last commits, never consistency; FULL costs an fsync per poll. Every
	// connection keeps its prepared statements (the same few queries run on every poll).
	dsnParams = "_journal_mode=WAL&_busy_timeout=5000&_foreign_keys=on&_txlock=immediate" +
		"&_synchronous=NORMAL&_stmt_cache_size=32"
)

// Open opens (creating if needed) the database at path and brings its schema up to date.
func Open(ctx context.Context, path string, opts Options) (*Store, error) {
	if path == "" {
		return nil, errors.New("store: open: empty path")
	}
	s, err := open(ctx, path, opts)
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	return s, nil
}

func open(ctx context.Context, path string, opts Options) (*Store, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	if err := createFile(abs); err != nil {
		return nil, err
	}
	migs, err := loadMigrations(migrationFS)
	if err != nil {
		return nil, err
	}

	s := &Store{path: path, now: opts.Now}
	if s.now == nil {
		s.now = time.Now
	}
	s.w, err = sql.Open("sqlite3", dsn(abs, ""))
	if err != nil {
		return nil, err
	}
	s.w.SetMaxOpenConns(1)
	s.w.SetMaxIdleConns(1)
	s.w.SetConnMaxLifetime(0)
	s.w.SetConnMaxIdleTime(0)

	if err := s.checkWAL(ctx); err != nil {
		s.w.Close()
		return nil, err
	}
	if err := migrate(ctx, s.w, migs); err != nil {
		s.w.Close()
		return nil, err
	}

	// query_only makes an accidental write through the read pool an error instead of a
	// second writer competing for the lock.
	s.r, err = sql.Open("sqlite3", dsn(abs, "&_query_only=true"))
	if err != nil {
		s.w.Close()
		return nil, err
	}
	s.r.SetMaxOpenConns(readers)
	s.r.SetMaxIdleConns(readers)
	if err := s.r.PingContext(ctx); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// createFile makes the directory and an empty database file with owner-only
// permissions, before SQLite opens it: SQLite would create it with 0644 and gives its
// -wal and -shm files the mode of the main file.
func createFile(abs string) error {
	if err := os.MkdirAll(filepath.Dir(abs), dirMode); err != nil {
		return err
	}
	f, err := os.OpenFile(abs, os.O_RDWR|os.O_CREATE, fileMode)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	// An older file may be group/world readable, and the umask may have taken bits away
	// from a new one; either way it ends up exactly 0600.
	if fi.Mode().Perm() != fileMode {
		if err := f.Chmod(fileMode); err != nil {
			return fmt.Errorf("restrict permissions: %w", err)
		}
	}
	return nil
}

// dsn builds a file: URI so any path works: without the scheme go-sqlite3 would cut the
// name at the first '?'. SQLite ignores the driver's underscore parameters.
func dsn(abs, extra string) string {
	esc := strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23").Replace(filepath.ToSlash(abs))
	return "file:" + esc + "?" + dsnParams + extra
}

// checkWAL confirms the journal mode took: SQLite silently keeps the old mode where WAL
// is impossible (e.g. some network file systems), and the concurrency design needs it.
func (s *Store) checkWAL(ctx context.Context) error {
	var mode string
	if err := s.w.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
		return err
	}
	if !strings.EqualFold(mode, "wal") {
		return fmt.Errorf("journal mode is %q, want wal (is the file on a network file system?)", mode)
	}
	return nil
}

// Close closes the database. Calls in flight may fail; later calls fail.
func (s *Store) Close() error {
	var errs []error
	if s.r != nil {
		errs = append(errs, s.r.Close())
	}
	// The writer goes last: closing SQLite's last connection checkpoints the WAL into
	// the main file and removes it.
	errs = append(errs, s.w.Close())
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("store: close %s: %w", s.path, err)
	}
	return nil
}

// Path is the path the store was opened with.
func (s *Store) Path() string { return s.path }

// The time range int64 nanoseconds can hold: years 1677 to 2262.
var (
	minTime = time.Unix(0, math.MinInt64)
	maxTime = time.Unix(0, math.MaxInt64)
)

// timeArg encodes t as UTC unix nanoseconds, and the zero time as NULL so "never" comes
// back as the zero time.
func timeArg(t time.Time) (sql.NullInt64, error) {
	if t.IsZero() {
		return sql.NullInt64{}, nil
	}
	if t.Before(minTime) || t.After(maxTime) {
		return sql.NullInt64{}, fmt.Errorf("time %s out of storable range", t.UTC().Format(time.RFC3339))
	}
	return sql.NullInt64{Int64: t.UnixNano(), Valid: true}, nil
}

// timeArgs encodes several times at once, stopping at the first that cannot be stored.
func timeArgs(ts ...time.Time) ([]sql.NullInt64, error) {
	out := make([]sql.NullInt64, len(ts))
	for i, t := range ts {
		var err error
		if out[i], err = timeArg(t); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// timeOf decodes what timeArg stored.
func timeOf(n sql.NullInt64) time.Time {
	if !n.Valid {
		return time.Time{}
	}
	return time.Unix(0, n.Int64).UTC()
}

// nowOr returns t, or the store's clock when t is the zero time.
func (s *Store) nowOr(t time.Time) time.Time {
	if t.IsZero() {
		return s.now()
	}
	return t
}
