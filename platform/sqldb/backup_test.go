package sqldb_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/sightlinehq/sightline/internal/busy"
	"github.com/sightlinehq/sightline/platform/sqldb"
)

// TestBackupSQLiteWhileWriting: VACUUM INTO, while another connection
// inserts, writes a database that opens (migrations already applied,
// integrity intact) with every row committed before it began; the source
// still takes writes; a target that exists is refused.
func TestBackupSQLiteWhileWriting(t *testing.T) {
	ctx := context.Background()
	f := sqldb.SQLiteFile{Conns: 4, Migrations: migs}
	db, err := f.Open(ctx, filepath.Join(t.TempDir(), "src.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	const before = 500
	for i := range before {
		if _, err := db.ExecContext(ctx, `INSERT INTO t (v) VALUES (?)`, fmt.Sprintf("before-%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	path := filepath.Join(t.TempDir(), "copy.db")
	busy.During(t, func(i int) error {
		_, err := db.ExecContext(ctx, `INSERT INTO t (v) VALUES (?)`, fmt.Sprintf("during-%d", i))
		return err
	}, func() error { return sqldb.BackupSQLite(ctx, db, path) })
	if err := sqldb.BackupSQLite(ctx, db, path); err == nil {
		t.Error("a backup over an existing file succeeded")
	}

	cp, err := f.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer cp.Close()
	var n, max int
	if err := cp.QueryRowContext(ctx, `SELECT count(*), max(id) FROM t WHERE v LIKE 'before-%'`).Scan(&n, &max); err != nil || n != before || max != before {
		t.Errorf("copy holds %d rows from before the backup (last id %d), %v; want %d", n, max, err, before)
	}
	var check string
	if err := cp.QueryRowContext(ctx, `PRAGMA integrity_check`).Scan(&check); err != nil || check != "ok" {
		t.Errorf("integrity_check of the copy = %q, %v", check, err)
	}
	if _, err := cp.ExecContext(ctx, `INSERT INTO t (v) VALUES ('after')`); err != nil {
		t.Errorf("the copy takes no write: %v", err)
	}
}
