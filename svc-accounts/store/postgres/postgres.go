// Package postgres is the PostgreSQL store backend: pgx v5's pool, whose
// default exec mode prepares each statement once per connection and caches
// it (so the hot lookups skip parsing and planning), and goose migrations
// serialised across processes by a PostgreSQL advisory lock.
package postgres

import (
	"context"
	"embed"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sightlinehq/sightline/platform/sqldb"
	"github.com/sightlinehq/sightline/svc-accounts/internal/sqlstore"
	"github.com/sightlinehq/sightline/svc-accounts/store"
)

//go:embed migrations/*.sql
var migrations embed.FS

var database = sqldb.PostgresDB{Setting: "accounts.postgres.dsn", Migrations: sqldb.Migrations{FS: migrations, Dir: "migrations", Name: "accounts"}}

// Options tune the pool.
type Options struct {
	// MaxConns caps the pool (0: pgx's default, max(4, GOMAXPROCS)).
	MaxConns int32
}

// Store is the PostgreSQL backend.
type Store struct {
	*sqlstore.Store
	pool *pgxpool.Pool
}

var _ store.Store = (*Store)(nil)

// Open connects to dsn, applies the migrations and returns the store.
func Open(ctx context.Context, dsn string, opts Options, tel sqlstore.Telemetry) (*Store, error) {
	pool, err := database.Open(ctx, dsn, opts.MaxConns)
	if err != nil {
		return nil, err
	}
	return &Store{Store: sqlstore.New(sqldb.Postgres(pool), dialect, tel), pool: pool}, nil
}

// Migrate applies the migrations to the database at dsn.
func Migrate(ctx context.Context, dsn string) error { return database.Migrate(ctx, dsn) }

// StartIDsAt restarts every identity at start or above (each table a
// different hundred million above it, so ids of different kinds never
// coincide): tests use it to prove ids above 2^31 work end to end.
func (s *Store) StartIDsAt(ctx context.Context, start int64) error {
	return sqldb.StartPostgresIDsAt(ctx, s.pool, sqlstore.IDTables, start)
}

var dialect = sqlstore.Dialect{
	Dialect:   sqldb.PostgresDialect,
	Time:      sqlstore.NativeTime,
	ForUpdate: " FOR UPDATE",
	JSONAgg:   `COALESCE(json_agg(%s), '[]'::json)::text`,
}
