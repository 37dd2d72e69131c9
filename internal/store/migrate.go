package store

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"
)

// ErrSchemaTooNew is returned by Open for a file written by a newer accountbridge:
// running older code on it could misread or damage data it does not know.
var ErrSchemaTooNew = errors.New("database schema is newer than this accountbridge knows")

//go:embed migrations/*.sql
var migrationFS embed.FS

// migration is one file migrations/NNNN_name.sql; applying it sets user_version to NNNN.
type migration struct {
	version int
	name    string
	sql     string
}

// loadMigrations reads migrations/*.sql. Versions must run 1, 2, 3… without gaps or
// duplicates, so a file's user_version says exactly which migrations it has.
func loadMigrations(fsys fs.FS) ([]migration, error) {
	names, err := fs.Glob(fsys, "migrations/*.sql")
	if err != nil {
		return nil, err
	}
	var migs []migration
	for _, name := range names {
		base := path.Base(name)
		num, _, _ := strings.Cut(base, "_")
		v, err := strconv.Atoi(num)
		if err != nil || v <= 0 {
			return nil, fmt.Errorf("migration %s: name must start with a positive version number", base)
		}
		body, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, err
		}
		migs = append(migs, migration{version: v, name: base, sql: string(body)})
	}
	sort.Slice(migs, func(i, j int) bool { return migs[i].version < migs[j].version })
	for i, m := range migs {
		if m.version != i+1 {
			return nil, fmt.Errorf("migration %s: expected version %d (versions must be 1, 2, 3… without gaps or duplicates)", m.name, i+1)
		}
	}
	return migs, nil
}

func schemaVersion(ctx context.Context, q interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
}) (int, error) {
	var v int
	if err := q.QueryRowContext(ctx, "PRAGMA user_version").Scan(&v); err != nil {
		return 0, fmt.Errorf("read schema version: %w", err)
	}
	return v, nil
}

// migrate applies the migrations the file lacks, each with its version bump in one
// transaction, so a crash leaves the file at a known version.
func migrate(ctx context.Context, db *sql.DB, migs []migration) error {
	known := len(migs)
	v, err := schemaVersion(ctx, db)
	if err != nil {
		return err
	}
	if v > known {
		return fmt.Errorf("%w: file has schema version %d, this build knows up to %d; upgrade accountbridge or point it at another file", ErrSchemaTooNew, v, known)
	}
	for _, m := range migs[v:] {
		if err := applyMigration(ctx, db, m); err != nil {
			return fmt.Errorf("migration %s: %w", m.name, err)
		}
	}
	return nil
}

func applyMigration(ctx context.Context, db *sql.DB, m migration) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback() // no-op after Commit

	// Another process may have migrated between our first read and this transaction,
	// which holds the write lock from BEGIN (_txlock=immediate).
	v, err := schemaVersion(ctx, tx)
	if err != nil {
		return err
	}
	if v >= m.version {
		return nil
	}
	if v != m.version-1 {
		return fmt.Errorf("file is at schema version %d, expected %d", v, m.version-1)
	}
	if _, err := tx.ExecContext(ctx, m.sql); err != nil {
		return err
	}
	// PRAGMA takes no bound parameters; the version is an int we parsed.
	if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", m.version)); err != nil {
		return err
	}
	return tx.Commit()
}
