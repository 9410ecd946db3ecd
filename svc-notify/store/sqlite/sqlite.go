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
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sync"

	"github.com/pressly/goose/v3"
	sqlite "modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/sightlinehq/sightline/svc-notify/store"
	"github.com/sightlinehq/sightline/svc-notify/store/internal/sqlstore"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Telemetry instruments store calls (spans and a latency histogram); zero
// values disable it.
type Telemetry = sqlstore.Telemetry

// ErrPoolInTx reports a call on the pool from inside InTx, which would wait
// forever for the one connection the transaction holds.
var ErrPoolInTx = errors.New("sqlite: pool used inside InTx (use the transaction)")

// Store is the SQLite backend.
type Store struct {
	*sqlstore.Store
	db *sql.DB
}

var _ store.Store = (*Store)(nil)

// Open opens (creating if needed) the database at path, applies the
// migrations and returns the store.
func Open(ctx context.Context, path string, tel Telemetry) (*Store, error) {
	db, err := open(ctx, path)
	if err != nil {
		return nil, err
	}
	if err := migrate(ctx, db); err != nil {
		db.Close()
		return nil, err
	}
	return &Store{Store: sqlstore.New(&sqlDB{db: db}, dialect, tel), db: db}, nil
}

// Migrate applies the migrations to the database at path.
func Migrate(ctx context.Context, path string) error {
	db, err := open(ctx, path)
	if err != nil {
		return err
	}
	defer db.Close()
	return migrate(ctx, db)
}

// Handle is the *sql.DB River runs on (riversqlite.New(handle)).
func (s *Store) Handle() any { return s.db }

func open(ctx context.Context, path string) (*sql.DB, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return nil, fmt.Errorf("sqlite: create directory of %s: %w", path, err)
	}
	// synchronous(FULL): a committed job or ledger row survives a power
	// cut, so a send is neither lost nor repeated.
	dsn := "file:" + path + "?_txlock=immediate" +
		"&_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)&_pragma=foreign_keys(1)"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(1)
	db.SetConnMaxLifetime(0)
	db.SetConnMaxIdleTime(0)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	return db, nil
}

func migrate(ctx context.Context, db *sql.DB) error {
	dir, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return fmt.Errorf("sqlite: migrations: %w", err)
	}
	p, err := goose.NewProvider(goose.DialectSQLite3, db, dir, goose.WithDisableGlobalRegistry(true),
		goose.WithTableName("notify_goose_db_version"))
	if err != nil {
		return fmt.Errorf("sqlite: migrations: %w", err)
	}
	if _, err := p.Up(ctx); err != nil {
		return fmt.Errorf("sqlite: migrate: %w", err)
	}
	return nil
}

// StartIDsAt makes every table's next id at least start (each table a
// different hundred million above it, so ids of different kinds never
// coincide): tests use it to prove ids above 2^31 work end to end.
func (s *Store) StartIDsAt(ctx context.Context, start int64) error {
	for i, t := range sqlstore.IDTables {
		if _, err := s.db.ExecContext(ctx, `DELETE FROM sqlite_sequence WHERE name = ?`, t); err != nil {
			return fmt.Errorf("sqlite: start ids of %s: %w", t, err)
		}
		if _, err := s.db.ExecContext(ctx, `INSERT INTO sqlite_sequence (name, seq) VALUES (?, ?)`, t, start+int64(i)*100_000_000-1); err != nil {
			return fmt.Errorf("sqlite: start ids of %s: %w", t, err)
		}
	}
	return nil
}

var dialect = sqlstore.Dialect{
	Name: "sqlite",
	Time: sqlstore.MicrosTime,
	IsUnique: func(err error) bool {
		var e *sqlite.Error
		return errors.As(err, &e) && (e.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE || e.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY)
	},
	IsNoRows: func(err error) bool { return errors.Is(err, sql.ErrNoRows) },
	Enabled:  "enabled = 1",
}

// The shared statements use $n; SQLite's numbered form is ?n ($n would be a
// named parameter, numbered by first appearance).
var placeholder = regexp.MustCompile(`\$(\d+)`)

// rebinder caches rewritten statements: the set is small and fixed (the
// variable IN lists of ListEnabledAlertRules add one per kind count).
type rebinder struct{ m sync.Map }

func (r *rebinder) rebind(q string) string {
	if v, ok := r.m.Load(q); ok {
		return v.(string)
	}
	out := placeholder.ReplaceAllString(q, "?$1")
	r.m.Store(q, out)
	return out
}

var binds rebinder

// inTxKey marks the context InTx hands to its function.
type inTxKey struct{}

// execer is *sql.DB or *sql.Tx.
type execer interface {
	ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row
}

// querier runs on the pool (pool true) or in a transaction.
type querier struct {
	e    execer
	pool bool
}

func (q querier) check(ctx context.Context) error {
	if q.pool && ctx.Value(inTxKey{}) != nil {
		return ErrPoolInTx
	}
	return nil
}

func (q querier) Exec(ctx context.Context, s string, args ...any) (int64, error) {
	if err := q.check(ctx); err != nil {
		return 0, err
	}
	res, err := q.e.ExecContext(ctx, binds.rebind(s), args...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

func (q querier) Query(ctx context.Context, s string, args ...any) (sqlstore.Rows, error) {
	if err := q.check(ctx); err != nil {
		return nil, err
	}
	rows, err := q.e.QueryContext(ctx, binds.rebind(s), args...)
	if err != nil {
		return nil, err
	}
	return sqlRows{rows}, nil
}

type errRow struct{ err error }

func (r errRow) Scan(...any) error { return r.err }

func (q querier) QueryRow(ctx context.Context, s string, args ...any) sqlstore.Row {
	if err := q.check(ctx); err != nil {
		return errRow{err}
	}
	return q.e.QueryRowContext(ctx, binds.rebind(s), args...)
}

type sqlRows struct{ *sql.Rows }

func (r sqlRows) Close() { _ = r.Rows.Close() }

// sqlDB is the pool.
type sqlDB struct{ db *sql.DB }

func (d *sqlDB) pool() querier { return querier{e: d.db, pool: true} }

func (d *sqlDB) Exec(ctx context.Context, s string, args ...any) (int64, error) {
	return d.pool().Exec(ctx, s, args...)
}

func (d *sqlDB) Query(ctx context.Context, s string, args ...any) (sqlstore.Rows, error) {
	return d.pool().Query(ctx, s, args...)
}

func (d *sqlDB) QueryRow(ctx context.Context, s string, args ...any) sqlstore.Row {
	return d.pool().QueryRow(ctx, s, args...)
}

func (d *sqlDB) InTx(ctx context.Context, fn func(ctx context.Context, q sqlstore.Querier, raw any) error) error {
	if ctx.Value(inTxKey{}) != nil {
		return ErrPoolInTx
	}
	tx, err := d.db.BeginTx(ctx, nil) // BEGIN IMMEDIATE via _txlock
	if err != nil {
		return fmt.Errorf("sqlite: begin: %w", err)
	}
	if err := fn(context.WithValue(ctx, inTxKey{}, true), querier{e: tx}, tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlite: commit: %w", err)
	}
	return nil
}

func (d *sqlDB) Ping(ctx context.Context) error {
	if err := d.pool().check(ctx); err != nil {
		return err
	}
	return d.db.PingContext(ctx)
}

func (d *sqlDB) Close() error { return d.db.Close() }
