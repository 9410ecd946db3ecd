package sqldb_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"testing/fstest"

	"github.com/sightlinehq/sightline/platform/sqldb"
)

var migs = sqldb.Migrations{FS: fstest.MapFS{
	"m/00001_t.sql": {Data: []byte("-- +goose Up\nCREATE TABLE t (id INTEGER PRIMARY KEY AUTOINCREMENT, v TEXT NOT NULL UNIQUE);\n")},
}, Dir: "m", Table: "t_goose_db_version"}

func open(t *testing.T, opts sqldb.SQLiteOptions) sqldb.DB {
	t.Helper()
	f := sqldb.SQLiteFile{Conns: 1, Migrations: migs}
	path := filepath.Join(t.TempDir(), "d", "t.db")
	if err := f.Migrate(context.Background(), path); err != nil {
		t.Fatal(err)
	}
	db, err := f.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	d := sqldb.SQLite(db, opts)
	t.Cleanup(func() { d.Close() })
	return d
}

func scanV(r sqldb.Row, v *string) error { return r.Scan(v) }

func TestSQLite(t *testing.T) {
	for _, opts := range []sqldb.SQLiteOptions{{}, {Prepare: true}, {GuardPool: true}} {
		ctx := context.Background()
		d := open(t, opts)
		rows, err := d.Query(ctx, `SELECT v FROM t ORDER BY id`)
		out, err := sqldb.Collect(rows, err, scanV)
		if err != nil || out != nil {
			t.Fatalf("%+v: empty table: %v, %v", opts, out, err)
		}
		err = d.InTx(ctx, func(ctx context.Context, q sqldb.Querier, raw any) error {
			for _, v := range []string{"a", "b"} {
				if _, err := q.Exec(ctx, `INSERT INTO t (v) VALUES ($1)`, v); err != nil {
					return err
				}
			}
			_, err := q.Exec(ctx, `INSERT INTO t (v) VALUES ($1)`, "a")
			if !sqldb.SQLiteDialect.IsUnique(err) {
				t.Errorf("%+v: duplicate: %v", opts, err)
			}
			if opts.GuardPool {
				if _, err := d.Exec(ctx, `SELECT 1`); !errors.Is(err, sqldb.ErrPoolInTx) {
					t.Errorf("pool inside InTx: %v", err)
				}
			}
			return nil
		})
		if err != nil {
			t.Fatalf("%+v: %v", opts, err)
		}
		rows, err = d.Query(ctx, `SELECT v FROM t WHERE id > $1 ORDER BY id`, 0)
		out, err = sqldb.Collect(rows, err, scanV)
		if err != nil || len(out) != 2 || out[0] != "a" || out[1] != "b" {
			t.Fatalf("%+v: %v, %v", opts, out, err)
		}
		var v string
		if err := d.QueryRow(ctx, `SELECT v FROM t WHERE id = $1`, 99).Scan(&v); !sqldb.SQLiteDialect.IsNoRows(err) {
			t.Fatalf("%+v: no row: %v", opts, err)
		}
	}
}
