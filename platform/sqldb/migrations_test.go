package sqldb_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/sightlinehq/sightline/internal/pgtest"
	"github.com/sightlinehq/sightline/platform/sqldb"
	"github.com/sightlinehq/sightline/platform/storeformat"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// release is the migrations of a release that knows versions 1..n.
func release(n int) sqldb.Migrations {
	all := []string{
		"-- +goose Up\nCREATE TABLE r (id BIGINT PRIMARY KEY);\n",
		"-- +goose Up\nALTER TABLE r ADD COLUMN v TEXT;\n",
	}
	fs := fstest.MapFS{}
	for i, sql := range all[:n] {
		fs[fmt.Sprintf("m/%05d_r.sql", i+1)] = &fstest.MapFile{Data: []byte(sql)}
	}
	return sqldb.Migrations{FS: fs, Dir: "m", Table: "r_goose_db_version", Name: "release"}
}

// requireRefused checks err is the refusal of a database at schema 2 by a
// binary that knows 1, with the message the operator reads.
func requireRefused(t *testing.T, err error) {
	t.Helper()
	var tooNew *storeformat.TooNewError
	if !errors.As(err, &tooNew) || tooNew.Store != "release schema" || tooNew.Stored != 2 || tooNew.Binary != 1 {
		t.Fatalf("a database at schema 2 opened by a binary that knows 1: %v, want a TooNewError", err)
	}
	const want = "(release schema 2, this binary knows 1): run that release or restore a backup taken before the upgrade"
	if got := err.Error(); !strings.Contains(got, want) {
		t.Errorf("refusal %q does not say %q", got, want)
	}
}

// TestDowngradeRefusedSQLite: a database migrated by a newer release is
// refused by an older one, before any migration runs; the newer one and
// an upgrade from the older still open it.
func TestDowngradeRefusedSQLite(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "r.db")
	old, cur := sqldb.SQLiteFile{Conns: 1, Migrations: release(1)}, sqldb.SQLiteFile{Conns: 1, Migrations: release(2)}
	if err := old.Migrate(ctx, path); err != nil {
		t.Fatal(err)
	}
	if err := cur.Migrate(ctx, path); err != nil {
		t.Fatalf("upgrade 1 → 2: %v", err)
	}
	requireRefused(t, old.Migrate(ctx, path))
	db, err := old.Open(ctx, path)
	if err == nil {
		db.Close()
	}
	requireRefused(t, err)
	db, err = cur.Open(ctx, path)
	if err != nil {
		t.Fatalf("the release that wrote it: %v", err)
	}
	db.Close()
}

func TestDowngradeRefusedPostgres(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.Start(t)
	old := sqldb.PostgresDB{Setting: "test.dsn", Migrations: release(1)}
	cur := sqldb.PostgresDB{Setting: "test.dsn", Migrations: release(2)}
	if err := old.Migrate(ctx, dsn); err != nil {
		t.Fatal(err)
	}
	if err := cur.Migrate(ctx, dsn); err != nil {
		t.Fatalf("upgrade 1 → 2: %v", err)
	}
	requireRefused(t, old.Migrate(ctx, dsn))
	pool, err := old.Open(ctx, dsn, 2)
	if err == nil {
		pool.Close()
	}
	requireRefused(t, err)
	pool, err = cur.Open(ctx, dsn, 2)
	if err != nil {
		t.Fatalf("the release that wrote it: %v", err)
	}
	pool.Close()
}
