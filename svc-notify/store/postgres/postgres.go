// Package postgres is notify's PostgreSQL store backend: pgx v5's pool,
// shared with River's riverpgxv5 driver (Handle), and goose migrations
// serialised across processes by a PostgreSQL advisory lock. Per-site limits
// are checked under an advisory transaction lock, so concurrent creators in
// any number of replicas cannot both pass the count.
package postgres

import (
	"context"
	"embed"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sightlinehq/sightline/platform/sqldb"
	"github.com/sightlinehq/sightline/svc-notify/store"
	"github.com/sightlinehq/sightline/svc-notify/store/internal/sqlstore"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Its own version table: notify may share a database with accounts.
var database = sqldb.PostgresDB{Setting: "notify.database-url",
	Migrations: sqldb.Migrations{FS: migrations, Dir: "migrations", Table: "notify_goose_db_version", Name: "notify"}}

// Telemetry instruments store calls (spans and a latency histogram); zero
// values disable it.
type Telemetry = sqlstore.Telemetry

// Options tune the pool.
type Options struct {
	// MaxConns caps the pool (0: pgx's default, max(4, GOMAXPROCS)). River
	// takes connections from the same pool.
	MaxConns int32
}

// Store is the PostgreSQL backend.
type Store struct {
	*sqlstore.Store
	pool *pgxpool.Pool
}

var _ store.Store = (*Store)(nil)

// Open connects to dsn, applies the migrations and returns the store.
func Open(ctx context.Context, dsn string, opts Options, tel Telemetry) (*Store, error) {
	pool, err := database.Open(ctx, dsn, opts.MaxConns)
	if err != nil {
		return nil, err
	}
	return &Store{Store: sqlstore.New(sqldb.Postgres(pool), dialect, tel), pool: pool}, nil
}

// Migrate applies the migrations to the database at dsn.
func Migrate(ctx context.Context, dsn string) error { return database.Migrate(ctx, dsn) }

// Handle is the *pgxpool.Pool River runs on (riverpgxv5.New(handle)).
func (s *Store) Handle() any { return s.pool }

// StartIDsAt restarts every identity at start or above (each table a
// different hundred million above it, so ids of different kinds never
// coincide): tests use it to prove ids above 2^31 work end to end.
func (s *Store) StartIDsAt(ctx context.Context, start int64) error {
	return sqldb.StartPostgresIDsAt(ctx, s.pool, sqlstore.IDTables, start)
}

var dialect = sqlstore.Dialect{
	Dialect: sqldb.PostgresDialect,
	Time:    sqlstore.NativeTime,
	Enabled: "enabled",
	// A 64-bit hash of the key: a collision only serialises two unrelated
	// limit checks.
	Lock: func(ctx context.Context, q sqldb.Querier, key string) error {
		_, err := q.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended('notify:' || $1::text, 0))`, key)
		return err
	},
}
