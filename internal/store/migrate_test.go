package store

import (
	"database/sql"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
)

func tables(t *testing.T, db *sql.DB) map[string]bool {
	t.Helper()
	rows, err := db.QueryContext(t.Context(), `SELECT name FROM sqlite_master WHERE type = 'table'`)
	must(t, err)
	defer rows.Close()
	got := map[string]bool{}
	for rows.Next() {
		var name string
		must(t, rows.Scan(&name))
		got[name] = true
	}
	must(t, rows.Err())
	return got
}

func TestMigrationsFromEmptyFile(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "m.db")
	migs, err := loadMigrations(migrationFS)
	must(t, err)
	if len(migs) == 0 {
		t.Fatal("no embedded migrations")
	}
	// Opening twice must not re-run anything (the CREATE TABLEs would fail).
	for i := range 2 {
		s, err := Open(ctx, path, Options{})
		if err != nil {
			t.Fatalf("open #%d: %v", i+1, err)
		}
		v, err := schemaVersion(ctx, s.r)
		must(t, err)
		if v != len(migs) {
			t.Errorf("open #%d: schema version %d, want %d", i+1, v, len(migs))
		}
		got := tables(t, s.r)
		for _, name := range []string{"kv", "devices", "runs", "account_state", "alert_state", "meta"} {
			if !got[name] {
				t.Errorf("open #%d: table %s missing", i+1, name)
			}
		}
		must(t, s.Close())
	}
}

func TestRefusesNewerSchema(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "new.db")
	s, err := Open(ctx, path, Options{})
	must(t, err)
	_, err = s.w.ExecContext(ctx, `PRAGMA user_version = 999`)
	must(t, err)
	must(t, s.Close())

	_, err = Open(ctx, path, Options{})
	if !errors.Is(err, ErrSchemaTooNew) {
		t.Fatalf("err = %v, want ErrSchemaTooNew", err)
	}
	for _, want := range []string{path, "999", "upgrade accountbridge"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
}

func TestLoadMigrations(t *testing.T) {
	file := func(sql string) *fstest.MapFile { return &fstest.MapFile{Data: []byte(sql)} }
	tests := []struct {
		name    string
		fs      fstest.MapFS
		want    []int
		wantErr string
	}{
		{
			name: "ordered by number, not name",
			fs: fstest.MapFS{
				"migrations/0002_b.sql":  file("B"),
				"migrations/0001_a.sql":  file("A"),
				"migrations/03_c.sql":    file("C"),
				"migrations/README.md":   file("ignored"),
				"migrations/0004_x.sql~": file("ignored"),
			},
			want: []int{1, 2, 3},
		},
		{name: "none", fs: fstest.MapFS{}, want: nil},
		{
			name:    "gap",
			fs:      fstest.MapFS{"migrations/0001_a.sql": file("A"), "migrations/0003_c.sql": file("C")},
			wantErr: "expected version 2",
		},
		{
			name:    "duplicate",
			fs:      fstest.MapFS{"migrations/0001_a.sql": file("A"), "migrations/0001_b.sql": file("B")},
			wantErr: "expected version 2",
		},
		{
			name:    "no number",
			fs:      fstest.MapFS{"migrations/init.sql": file("A")},
			wantErr: "positive version number",
		},
		{
			name:    "zero",
			fs:      fstest.MapFS{"migrations/0000_init.sql": file("A")},
			wantErr: "positive version number",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			migs, err := loadMigrations(tt.fs)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want it to contain %q", err, tt.wantErr)
				}
				return
			}
			must(t, err)
			var got []int
			for _, m := range migs {
				got = append(got, m.version)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("versions %v, want %v", got, tt.want)
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Fatalf("versions %v, want %v", got, tt.want)
				}
			}
		})
	}
}

// A failing migration must leave neither its partial changes nor its version behind,
// and the migrations before it must stay applied.
func TestFailedMigrationRollsBack(t *testing.T) {
	ctx := t.Context()
	db, err := sql.Open("sqlite3", dsn(filepath.Join(t.TempDir(), "f.db"), ""))
	must(t, err)
	defer db.Close()
	db.SetMaxOpenConns(1)

	migs, err := loadMigrations(fstest.MapFS{
		"migrations/0001_one.sql": {Data: []byte(`CREATE TABLE one (x INTEGER);`)},
		"migrations/0002_two.sql": {Data: []byte(`CREATE TABLE two (x INTEGER); INSERT INTO nowhere VALUES (1);`)},
	})
	must(t, err)
	err = migrate(ctx, db, migs)
	if err == nil || !strings.Contains(err.Error(), "0002_two.sql") {
		t.Fatalf("err = %v, want a failure naming 0002_two.sql", err)
	}
	v, err := schemaVersion(ctx, db)
	must(t, err)
	if v != 1 {
		t.Errorf("schema version %d, want 1", v)
	}
	got := tables(t, db)
	if !got["one"] || got["two"] {
		t.Errorf("tables = %v, want one without two", got)
	}

	// Fixed migration: the next start picks up where it stopped.
	migs[1].sql = `CREATE TABLE two (x INTEGER);`
	must(t, migrate(ctx, db, migs))
	if v, _ := schemaVersion(ctx, db); v != 2 {
		t.Errorf("schema version %d after fix, want 2", v)
	}
}
