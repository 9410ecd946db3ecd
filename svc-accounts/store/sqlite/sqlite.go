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

// file holds 8 connections. synchronous(FULL): an acknowledged sign-up or
// API key survives a power cut; accounts writes are rare, so the cost does
// not matter.
var file = sqldb.SQLiteFile{Conns: 8, Migrations: sqldb.Migrations{FS: migrations, Dir: "migrations", Name: "accounts"}}

// Store is the SQLite backend.
type Store struct {
	*sqlstore.Store
	db *sql.DB
}

var _ store.Store = (*Store)(nil)

// Open opens (creating if needed) the database at path, applies the
// migrations and returns the store.
func Open(ctx context.Context, path string, tel sqlstore.Telemetry) (*Store, error) {
	db, err := file.Open(ctx, path)
	if err != nil {
		return nil, err
	}
	// Prepared statements cached per SQL text: after warm-up no call pays
	// SQLite's parser (half the cost of a lookup otherwise).
	return &Store{Store: sqlstore.New(sqldb.SQLite(db, sqldb.SQLiteOptions{Prepare: true}), dialect, tel), db: db}, nil
}

// Migrate applies the migrations to the database at path.
func Migrate(ctx context.Context, path string) error { return file.Migrate(ctx, path) }

// StartIDsAt makes every table's next id at least start (each table a
// different hundred million above it, so ids of different kinds never
// coincide): tests use it to prove ids above 2^31 work end to end.
func (s *Store) StartIDsAt(ctx context.Context, start int64) error {
	return sqldb.StartSQLiteIDsAt(ctx, s.db, sqlstore.IDTables, start)
}

var dialect = sqlstore.Dialect{
	Dialect: sqldb.SQLiteDialect,
	Time:    sqldb.MicrosTime,
	JSONAgg: `json_group_array(%s)`,
}
