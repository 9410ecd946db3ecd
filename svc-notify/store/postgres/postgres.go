// Package postgres is notify's PostgreSQL store backend: pgx v5's pool,
// shared with River's riverpgxv5 driver (Handle), and goose migrations
// serialised across processes by a PostgreSQL advisory lock. Per-site limits
// are checked under an advisory transaction lock, so concurrent creators in
// any number of replicas cannot both pass the count.
package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"

	"github.com/sightlinehq/sightline/svc-notify/store"
	"github.com/sightlinehq/sightline/svc-notify/store/internal/sqlstore"
)

//go:embed migrations/*.sql
var migrations embed.FS

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
	pool, err := connect(ctx, dsn, opts)
	if err != nil {
		return nil, err
	}
	if err := migrate(ctx, pool); err != nil {
		pool.Close()
		return nil, err
	}
	return &Store{Store: sqlstore.New(pgDB{pool}, dialect, tel), pool: pool}, nil
}

// Migrate applies the migrations to the database at dsn.
func Migrate(ctx context.Context, dsn string) error {
	pool, err := connect(ctx, dsn, Options{MaxConns: 2})
	if err != nil {
		return err
	}
	defer pool.Close()
	return migrate(ctx, pool)
}

// Handle is the *pgxpool.Pool River runs on (riverpgxv5.New(handle)).
func (s *Store) Handle() any { return s.pool }

func connect(ctx context.Context, dsn string, opts Options) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		// pgx's parse errors can echo the DSN, password included.
		return nil, errors.New("postgres: invalid DSN (check notify.database-url)")
	}
	if opts.MaxConns > 0 {
		cfg.MaxConns = opts.MaxConns
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: connect to %s:%d: %w", cfg.ConnConfig.Host, cfg.ConnConfig.Port, err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres: ping %s:%d: %w", cfg.ConnConfig.Host, cfg.ConnConfig.Port, err)
	}
	return pool, nil
}

func migrate(ctx context.Context, pool *pgxpool.Pool) error {
	db := stdlib.OpenDBFromPool(pool)
	defer db.Close()
	dir, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return fmt.Errorf("postgres: migrations: %w", err)
	}
	locker, err := lock.NewPostgresSessionLocker()
	if err != nil {
		return fmt.Errorf("postgres: migration lock: %w", err)
	}
	// Its own version table: notify may share a database with accounts.
	p, err := goose.NewProvider(goose.DialectPostgres, db, dir,
		goose.WithDisableGlobalRegistry(true), goose.WithSessionLocker(locker),
		goose.WithTableName("notify_goose_db_version"))
	if err != nil {
		return fmt.Errorf("postgres: migrations: %w", err)
	}
	if _, err := p.Up(ctx); err != nil {
		return fmt.Errorf("postgres: migrate: %w", err)
	}
	return nil
}

// StartIDsAt restarts every identity at start or above (each table a
// different hundred million above it, so ids of different kinds never
// coincide): tests use it to prove ids above 2^31 work end to end.
func (s *Store) StartIDsAt(ctx context.Context, start int64) error {
	for i, t := range sqlstore.IDTables {
		q := fmt.Sprintf(`ALTER TABLE %s ALTER COLUMN id RESTART WITH %d`, pgx.Identifier{t}.Sanitize(), start+int64(i)*100_000_000)
		if _, err := s.pool.Exec(ctx, q); err != nil {
			return fmt.Errorf("postgres: start ids of %s: %w", t, err)
		}
	}
	return nil
}

var dialect = sqlstore.Dialect{
	Name: "postgres",
	Time: sqlstore.NativeTime,
	IsUnique: func(err error) bool {
		var e *pgconn.PgError
		return errors.As(err, &e) && e.Code == "23505"
	},
	IsNoRows: func(err error) bool { return errors.Is(err, pgx.ErrNoRows) },
	Enabled:  "enabled",
	// A 64-bit hash of the key: a collision only serialises two unrelated
	// limit checks.
	Lock: func(ctx context.Context, q sqlstore.Querier, key string) error {
		_, err := q.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended('notify:' || $1::text, 0))`, key)
		return err
	},
}

type pgQuerier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

type querier struct{ q pgQuerier }

func (q querier) Exec(ctx context.Context, s string, args ...any) (int64, error) {
	tag, err := q.q.Exec(ctx, s, args...)
	if err != nil {
		return 0, err
	}
	return tag.RowsAffected(), nil
}

func (q querier) Query(ctx context.Context, s string, args ...any) (sqlstore.Rows, error) {
	return q.q.Query(ctx, s, args...)
}

func (q querier) QueryRow(ctx context.Context, s string, args ...any) sqlstore.Row {
	return q.q.QueryRow(ctx, s, args...)
}

type pgDB struct{ pool *pgxpool.Pool }

func (d pgDB) Exec(ctx context.Context, s string, args ...any) (int64, error) {
	return querier{d.pool}.Exec(ctx, s, args...)
}

func (d pgDB) Query(ctx context.Context, s string, args ...any) (sqlstore.Rows, error) {
	return querier{d.pool}.Query(ctx, s, args...)
}

func (d pgDB) QueryRow(ctx context.Context, s string, args ...any) sqlstore.Row {
	return querier{d.pool}.QueryRow(ctx, s, args...)
}

func (d pgDB) InTx(ctx context.Context, fn func(ctx context.Context, q sqlstore.Querier, raw any) error) error {
	return pgx.BeginFunc(ctx, d.pool, func(tx pgx.Tx) error { return fn(ctx, querier{tx}, tx) })
}

func (d pgDB) Ping(ctx context.Context) error { return d.pool.Ping(ctx) }

func (d pgDB) Close() error { d.pool.Close(); return nil }
