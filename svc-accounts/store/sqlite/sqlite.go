// Package sqlite is the embedded store backend: SQLite through
// modernc.org/sqlite (pure Go, no cgo, so the single binary stays static),
// in WAL mode with a busy timeout and BEGIN IMMEDIATE write transactions.
package sqlite

import (
	"context"
	"database/sql"
	"embed"

	"github.com/sightlinehq/sightline/platform/sqldb"
	"github.com/sightlinehq/sightline/svc-accounts/internal/sqlstore"
	"github.com/sightlinehq/sightline/svc-accounts/store"
)

//go:embed migrations/*.sql
var migrations embed.FS

var migs = sqldb.Migrations{FS: migrations, Dir: "migrations"}

// Store is the SQLite backend.
type Store struct {
	*sqlstore.Store
	db *sql.DB
}

var _ store.Store = (*Store)(nil)

// Open opens (creating if needed) the database at path, applies the
// migrations and returns the store.
func Open(ctx context.Context, path string, tel sqlstore.Telemetry) (*Store, error) {
	db, err := open(ctx, path)
	if err != nil {
		return nil, err
	}
	if err := sqldb.MigrateSQLite(ctx, db, migs); err != nil {
		db.Close()
		return nil, err
	}
	// Prepared statements cached per SQL text: after warm-up no call pays
	// SQLite's parser (half the cost of a lookup otherwise).
	return &Store{Store: sqlstore.New(sqldb.SQLite(db, sqldb.SQLiteOptions{Prepare: true}), dialect, tel), db: db}, nil
}

// Migrate applies the migrations to the database at path.
func Migrate(ctx context.Context, path string) error {
	db, err := open(ctx, path)
	if err != nil {
		return err
	}
	defer db.Close()
	return sqldb.MigrateSQLite(ctx, db, migs)
}

// open opens the database with 8 connections. synchronous(FULL): an
// acknowledged sign-up or API key survives a power cut; accounts writes are
// rare, so the cost does not matter.
func open(ctx context.Context, path string) (*sql.DB, error) {
	return sqldb.OpenSQLite(ctx, path, 8)
}

// StartIDsAt makes every table's next id at least start (each table a
// different hundred million above it, so ids of different kinds never
// coincide): tests use it to prove ids above 2^31 work end to end.
func (s *Store) StartIDsAt(ctx context.Context, start int64) error {
	return sqldb.StartSQLiteIDsAt(ctx, s.db, sqlstore.IDTables, start)
}

var dialect = sqlstore.Dialect{
	Name:     "sqlite",
	Time:     sqldb.MicrosTime,
	IsUnique: sqldb.SQLiteIsUnique,
	IsNoRows: sqldb.SQLiteIsNoRows,
	JSONAgg:  `json_group_array(%s)`,
}
