// Package sqlite is notify's embedded store backend: SQLite through
// modernc.org/sqlite (pure Go), in WAL mode, with River's job tables in the
// same file (Handle).
//
// The pool has one connection. River's SQLite driver documents that its
// concurrent internal work on several connections fails with SQLITE_BUSY
// even with a busy timeout, and recommends exactly this: every statement and
// transaction, River's and the store's, then queues for the one connection
// instead of racing for the file lock. The busy timeout and BEGIN IMMEDIATE
// remain for other processes opening the file (migrations, tools).
//
// The price: code inside InTx must use only the transaction it was given (tx
// or tx.Raw()); a call on the pool from inside would wait for the connection
// the transaction holds. Such calls fail at once with ErrPoolInTx instead of
// hanging.
package sqlite

import (
	"context"
	"database/sql"
	"embed"

	"github.com/sightlinehq/sightline/platform/sqldb"
	"github.com/sightlinehq/sightline/svc-notify/store"
	"github.com/sightlinehq/sightline/svc-notify/store/internal/sqlstore"
)

//go:embed migrations/*.sql
var migrations embed.FS

// file holds the one connection (see the package comment). synchronous(FULL):
// a committed job or ledger row survives a power cut, so a send is neither
// lost nor repeated. Its own version table: notify may share a database
// with accounts.
var file = sqldb.SQLiteFile{Conns: 1, Migrations: sqldb.Migrations{FS: migrations, Dir: "migrations", Table: "notify_goose_db_version", Name: "notify"}}

// Telemetry instruments store calls (spans and a latency histogram); zero
// values disable it.
type Telemetry = sqlstore.Telemetry

// ErrPoolInTx reports a call on the pool from inside InTx, which would wait
// forever for the one connection the transaction holds.
var ErrPoolInTx = sqldb.ErrPoolInTx

// Store is the SQLite backend.
type Store struct {
	*sqlstore.Store
	db *sql.DB
}

var _ store.Store = (*Store)(nil)

// Open opens (creating if needed) the database at path, applies the
// migrations and returns the store.
func Open(ctx context.Context, path string, tel Telemetry) (*Store, error) {
	db, err := file.Open(ctx, path)
	if err != nil {
		return nil, err
	}
	return &Store{Store: sqlstore.New(sqldb.SQLite(db, sqldb.SQLiteOptions{GuardPool: true}), dialect, tel), db: db}, nil
}

// Migrate applies the migrations to the database at path.
func Migrate(ctx context.Context, path string) error { return file.Migrate(ctx, path) }

// Handle is the *sql.DB River runs on (riversqlite.New(handle)).
func (s *Store) Handle() any { return s.db }

// StartIDsAt makes every table's next id at least start (each table a
// different hundred million above it, so ids of different kinds never
// coincide): tests use it to prove ids above 2^31 work end to end.
func (s *Store) StartIDsAt(ctx context.Context, start int64) error {
	return sqldb.StartSQLiteIDsAt(ctx, s.db, sqlstore.IDTables, start)
}

var dialect = sqlstore.Dialect{
	Dialect: sqldb.SQLiteDialect,
	Time:    sqldb.MicrosTime,
	Enabled: "enabled = 1",
}
