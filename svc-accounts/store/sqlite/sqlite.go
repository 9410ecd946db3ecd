// Package sqlite is the embedded store backend: SQLite through
// modernc.org/sqlite (pure Go, no cgo, so the single binary stays static),
// in WAL mode with a busy timeout and BEGIN IMMEDIATE write transactions.
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

	"github.com/sightlinehq/sightline/svc-accounts/internal/sqlstore"
	"github.com/sightlinehq/sightline/svc-accounts/store"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Store is the SQLite backend.
type Store struct {
	*sqlstore.Store
	db *sql.DB
}

var _ store.Store = (*Store)(nil)

// Open opens (creating if needed) the database at path, applies the
// migrations and returns the store.
func Open(ctx context.Context, path string, tel sqlstore.Telemetry) (*Store, error) {
	db, err := open(path)
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
	db, err := open(path)
	if err != nil {
		return err
	}
	defer db.Close()
	return migrate(ctx, db)
}

func open(path string) (*sql.DB, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return nil, fmt.Errorf("sqlite: create directory of %s: %w", path, err)
	}
	// synchronous(FULL): an acknowledged sign-up or API key survives a power
	// cut; accounts writes are rare, so the cost does not matter.
	dsn := "file:" + path + "?_txlock=immediate" +
		"&_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)&_pragma=foreign_keys(1)"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	db.SetMaxOpenConns(8)
	db.SetMaxIdleConns(8)
	if err := db.Ping(); err != nil {
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
	p, err := goose.NewProvider(goose.DialectSQLite3, db, dir, goose.WithDisableGlobalRegistry(true))
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
	JSONAgg:  `json_group_array(%s)`,
}

// The shared statements use $n; SQLite's numbered form is ?n.
var placeholder = regexp.MustCompile(`\$(\d+)`)

// rebind caches rewritten statements: the set is small and fixed.
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

// sqlDB runs statements through prepared statements cached per SQL text:
// database/sql re-prepares one lazily per connection, so after warm-up no
// call pays SQLite's parser (half the cost of a lookup otherwise).
type sqlDB struct {
	db    *sql.DB
	stmts sync.Map // rebound SQL -> *sql.Stmt
}

func (d *sqlDB) stmt(ctx context.Context, q string) (*sql.Stmt, error) {
	q = binds.rebind(q)
	if v, ok := d.stmts.Load(q); ok {
		return v.(*sql.Stmt), nil
	}
	st, err := d.db.PrepareContext(ctx, q)
	if err != nil {
		return nil, err
	}
	if v, loaded := d.stmts.LoadOrStore(q, st); loaded {
		st.Close()
		return v.(*sql.Stmt), nil
	}
	return st, nil
}

// querier runs on the pool, or in tx when set.
type querier struct {
	d  *sqlDB
	tx *sql.Tx
}

func (q querier) prepared(ctx context.Context, s string) (*sql.Stmt, error) {
	if q.tx == nil {
		return q.d.stmt(ctx, s)
	}
	s = binds.rebind(s)
	if v, ok := q.d.stmts.Load(s); ok {
		return q.tx.StmtContext(ctx, v.(*sql.Stmt)), nil
	}
	// Not on the pool: that needs a second connection while this one holds
	// the write lock, and when every other connection waits for that lock
	// (BEGIN IMMEDIATE) none comes free until the busy timeout fails them.
	return q.tx.PrepareContext(ctx, s)
}

func (q querier) Exec(ctx context.Context, s string, args ...any) (int64, error) {
	st, err := q.prepared(ctx, s)
	if err != nil {
		return 0, err
	}
	res, err := st.ExecContext(ctx, args...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

func (q querier) Query(ctx context.Context, s string, args ...any) (sqlstore.Rows, error) {
	st, err := q.prepared(ctx, s)
	if err != nil {
		return nil, err
	}
	rows, err := st.QueryContext(ctx, args...)
	if err != nil {
		return nil, err
	}
	return sqlRows{rows}, nil
}

type errRow struct{ err error }

func (r errRow) Scan(...any) error { return r.err }

func (q querier) QueryRow(ctx context.Context, s string, args ...any) sqlstore.Row {
	st, err := q.prepared(ctx, s)
	if err != nil {
		return errRow{err}
	}
	return st.QueryRowContext(ctx, args...)
}

type sqlRows struct{ *sql.Rows }

func (r sqlRows) Close() { _ = r.Rows.Close() }

func (d *sqlDB) Exec(ctx context.Context, s string, args ...any) (int64, error) {
	return querier{d: d}.Exec(ctx, s, args...)
}

func (d *sqlDB) Query(ctx context.Context, s string, args ...any) (sqlstore.Rows, error) {
	return querier{d: d}.Query(ctx, s, args...)
}

func (d *sqlDB) QueryRow(ctx context.Context, s string, args ...any) sqlstore.Row {
	return querier{d: d}.QueryRow(ctx, s, args...)
}

func (d *sqlDB) InTx(ctx context.Context, fn func(sqlstore.Querier) error) error {
	tx, err := d.db.BeginTx(ctx, nil) // BEGIN IMMEDIATE via _txlock
	if err != nil {
		return fmt.Errorf("sqlite: begin: %w", err)
	}
	if err := fn(querier{d: d, tx: tx}); err != nil {
		_ = tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlite: commit: %w", err)
	}
	return nil
}

func (d *sqlDB) Ping(ctx context.Context) error { return d.db.PingContext(ctx) }

func (d *sqlDB) Close() error {
	d.stmts.Range(func(_, v any) bool { v.(*sql.Stmt).Close(); return true })
	return d.db.Close()
}
