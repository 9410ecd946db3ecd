package sqldb

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
)

// PostgresDB is how a service opens its PostgreSQL database: a pgx v5
// pool, whose default exec mode prepares each statement once per connection
// and caches it, and goose migrations serialised across processes by a
// PostgreSQL advisory (session) lock.
type PostgresDB struct {
	// Setting names where the DSN comes from, for the error that cannot
	// quote it (pgx's parse errors can echo the password).
	Setting    string
	Migrations Migrations
}

// Open connects to dsn with a pool of at most maxConns (0: pgx's default,
// max(4, GOMAXPROCS)) and applies the migrations.
func (p PostgresDB) Open(ctx context.Context, dsn string, maxConns int32) (*pgxpool.Pool, error) {
	pool, err := p.connect(ctx, dsn, maxConns)
	if err != nil {
		return nil, err
	}
	if err := p.migrate(ctx, pool); err != nil {
		pool.Close()
		return nil, err
	}
	return pool, nil
}

// Migrate applies the migrations to the database at dsn.
func (p PostgresDB) Migrate(ctx context.Context, dsn string) error {
	pool, err := p.connect(ctx, dsn, 2)
	if err != nil {
		return err
	}
	defer pool.Close()
	return p.migrate(ctx, pool)
}

func (p PostgresDB) connect(ctx context.Context, dsn string, maxConns int32) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("postgres: invalid DSN (check %s)", p.Setting)
	}
	if maxConns > 0 {
		cfg.MaxConns = maxConns
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

func (p PostgresDB) migrate(ctx context.Context, pool *pgxpool.Pool) error {
	db := stdlib.OpenDBFromPool(pool)
	defer db.Close()
	locker, err := lock.NewPostgresSessionLocker()
	if err != nil {
		return fmt.Errorf("postgres: migration lock: %w", err)
	}
	return p.Migrations.up(ctx, db, goose.DialectPostgres, "postgres", goose.WithSessionLocker(locker))
}

// StartPostgresIDsAt restarts the identity of each of tables at start or
// above, each table a different hundred million above it so ids of
// different kinds never coincide (tests prove ids above 2^31 work end to
// end).
func StartPostgresIDsAt(ctx context.Context, pool *pgxpool.Pool, tables []string, start int64) error {
	for i, t := range tables {
		q := fmt.Sprintf(`ALTER TABLE %s ALTER COLUMN id RESTART WITH %d`, pgx.Identifier{t}.Sanitize(), start+int64(i)*100_000_000)
		if _, err := pool.Exec(ctx, q); err != nil {
			return fmt.Errorf("postgres: start ids of %s: %w", t, err)
		}
	}
	return nil
}

// PostgresDialect is PostgreSQL's Dialect.
var PostgresDialect = Dialect{
	Name: "postgres",
	IsUnique: func(err error) bool {
		var e *pgconn.PgError
		return errors.As(err, &e) && e.Code == "23505"
	},
	IsNoRows: func(err error) bool { return errors.Is(err, pgx.ErrNoRows) },
}

// Postgres is the DB over a pgx pool; InTx's raw is the pgx.Tx.
func Postgres(pool *pgxpool.Pool) DB { return pgDB{pool} }

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

func (q querier) Query(ctx context.Context, s string, args ...any) (Rows, error) {
	return q.q.Query(ctx, s, args...)
}

func (q querier) QueryRow(ctx context.Context, s string, args ...any) Row {
	return q.q.QueryRow(ctx, s, args...)
}

type pgDB struct{ pool *pgxpool.Pool }

func (d pgDB) Exec(ctx context.Context, s string, args ...any) (int64, error) {
	return querier{d.pool}.Exec(ctx, s, args...)
}

func (d pgDB) Query(ctx context.Context, s string, args ...any) (Rows, error) {
	return querier{d.pool}.Query(ctx, s, args...)
}

func (d pgDB) QueryRow(ctx context.Context, s string, args ...any) Row {
	return querier{d.pool}.QueryRow(ctx, s, args...)
}

func (d pgDB) InTx(ctx context.Context, fn func(ctx context.Context, q Querier, raw any) error) error {
	return pgx.BeginFunc(ctx, d.pool, func(tx pgx.Tx) error { return fn(ctx, querier{tx}, tx) })
}

func (d pgDB) Ping(ctx context.Context) error { return d.pool.Ping(ctx) }

func (d pgDB) Close() error { d.pool.Close(); return nil }
