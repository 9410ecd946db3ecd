package sqldb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sync"

	"github.com/pressly/goose/v3"
	sqlite "modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// SQLiteFile is how a service opens its SQLite database: through
// modernc.org/sqlite (pure Go) in WAL mode, with a busy timeout,
// synchronous(FULL) so a committed write survives a power cut, foreign keys
// on and BEGIN IMMEDIATE write transactions.
type SQLiteFile struct {
	// Conns caps the pool (open and idle).
	Conns      int
	Migrations Migrations
}

// Open opens (creating it and its directory if needed) the database at
// path and applies the migrations.
func (f SQLiteFile) Open(ctx context.Context, path string) (*sql.DB, error) {
	db, err := f.open(ctx, path)
	if err != nil {
		return nil, err
	}
	if err := f.migrate(ctx, db); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

// Migrate applies the migrations to the database at path.
func (f SQLiteFile) Migrate(ctx context.Context, path string) error {
	db, err := f.open(ctx, path)
	if err != nil {
		return err
	}
	defer db.Close()
	return f.migrate(ctx, db)
}

func (f SQLiteFile) open(ctx context.Context, path string) (*sql.DB, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return nil, fmt.Errorf("sqlite: create directory of %s: %w", path, err)
	}
	dsn := "file:" + path + "?_txlock=immediate" +
		"&_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)&_pragma=foreign_keys(1)"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	db.SetMaxOpenConns(f.Conns)
	db.SetMaxIdleConns(f.Conns)
	db.SetConnMaxLifetime(0)
	db.SetConnMaxIdleTime(0)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	return db, nil
}

func (f SQLiteFile) migrate(ctx context.Context, db *sql.DB) error {
	return f.Migrations.up(ctx, db, goose.DialectSQLite3, "sqlite")
}

// StartSQLiteIDsAt makes the next id of each of tables at least start, each
// table a different hundred million above it so ids of different kinds
// never coincide (tests prove ids above 2^31 work end to end).
func StartSQLiteIDsAt(ctx context.Context, db *sql.DB, tables []string, start int64) error {
	for i, t := range tables {
		if _, err := db.ExecContext(ctx, `DELETE FROM sqlite_sequence WHERE name = ?`, t); err != nil {
			return fmt.Errorf("sqlite: start ids of %s: %w", t, err)
		}
		if _, err := db.ExecContext(ctx, `INSERT INTO sqlite_sequence (name, seq) VALUES (?, ?)`, t, start+int64(i)*100_000_000-1); err != nil {
			return fmt.Errorf("sqlite: start ids of %s: %w", t, err)
		}
	}
	return nil
}

// SQLiteDialect is SQLite's Dialect.
var SQLiteDialect = Dialect{
	Name: "sqlite",
	IsUnique: func(err error) bool {
		var e *sqlite.Error
		return errors.As(err, &e) && (e.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE || e.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY)
	},
	IsNoRows: func(err error) bool { return errors.Is(err, sql.ErrNoRows) },
}

// ErrPoolInTx reports a call on the pool from inside InTx, which would wait
// forever for the one connection the transaction holds (SQLiteOptions.
// GuardPool).
var ErrPoolInTx = errors.New("sqlite: pool used inside InTx (use the transaction)")

// SQLiteOptions choose how a SQLite DB runs statements.
type SQLiteOptions struct {
	// Prepare runs statements through prepared statements cached per SQL
	// text: database/sql re-prepares one lazily per connection, so after
	// warm-up no call pays SQLite's parser.
	Prepare bool
	// GuardPool makes a call on the pool from inside InTx (whose ctx InTx
	// marks) fail with ErrPoolInTx instead of waiting: for a pool of one
	// connection.
	GuardPool bool
}

// SQLite is the DB over a SQLite *sql.DB (from SQLiteFile.Open): it rewrites
// the $n placeholders to SQLite's numbered ?n.
func SQLite(db *sql.DB, opts SQLiteOptions) DB { return &sqliteDB{db: db, opts: opts} }

// $n would be a named parameter in SQLite, numbered by first appearance.
var placeholder = regexp.MustCompile(`\$(\d+)`)

// rebinder caches rewritten statements: the set is small and fixed.
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

// inTxKey marks the context InTx hands to its function (GuardPool).
type inTxKey struct{}

type sqliteDB struct {
	db    *sql.DB
	opts  SQLiteOptions
	stmts sync.Map // rebound SQL -> *sql.Stmt (Prepare)
}

func (d *sqliteDB) stmt(ctx context.Context, q string) (*sql.Stmt, error) {
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

// sqliteQuerier runs on the pool, or in tx when set.
type sqliteQuerier struct {
	d  *sqliteDB
	tx *sql.Tx
}

func (q sqliteQuerier) check(ctx context.Context) error {
	if q.tx == nil && q.d.opts.GuardPool && ctx.Value(inTxKey{}) != nil {
		return ErrPoolInTx
	}
	return nil
}

// execer is *sql.DB, *sql.Tx or *sql.Stmt's bound form.
type execer interface {
	ExecContext(ctx context.Context, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, args ...any) *sql.Row
}

// direct runs one statement text on the pool or the transaction.
type direct struct {
	q  string
	db interface {
		ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error)
		QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error)
		QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row
	}
}

func (s direct) ExecContext(ctx context.Context, args ...any) (sql.Result, error) {
	return s.db.ExecContext(ctx, s.q, args...)
}

func (s direct) QueryContext(ctx context.Context, args ...any) (*sql.Rows, error) {
	return s.db.QueryContext(ctx, s.q, args...)
}

func (s direct) QueryRowContext(ctx context.Context, args ...any) *sql.Row {
	return s.db.QueryRowContext(ctx, s.q, args...)
}

// statement returns what runs s, after the pool guard.
func (q sqliteQuerier) statement(ctx context.Context, s string) (execer, error) {
	if err := q.check(ctx); err != nil {
		return nil, err
	}
	s = binds.rebind(s)
	if !q.d.opts.Prepare {
		if q.tx == nil {
			return direct{q: s, db: q.d.db}, nil
		}
		return direct{q: s, db: q.tx}, nil
	}
	if q.tx == nil {
		return q.d.stmt(ctx, s)
	}
	if v, ok := q.d.stmts.Load(s); ok {
		return q.tx.StmtContext(ctx, v.(*sql.Stmt)), nil
	}
	// Not on the pool: that needs a second connection while this one holds
	// the write lock, and when every other connection waits for that lock
	// (BEGIN IMMEDIATE) none comes free until the busy timeout fails them.
	return q.tx.PrepareContext(ctx, s)
}

func (q sqliteQuerier) Exec(ctx context.Context, s string, args ...any) (int64, error) {
	st, err := q.statement(ctx, s)
	if err != nil {
		return 0, err
	}
	res, err := st.ExecContext(ctx, args...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

func (q sqliteQuerier) Query(ctx context.Context, s string, args ...any) (Rows, error) {
	st, err := q.statement(ctx, s)
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

func (q sqliteQuerier) QueryRow(ctx context.Context, s string, args ...any) Row {
	st, err := q.statement(ctx, s)
	if err != nil {
		return errRow{err}
	}
	return st.QueryRowContext(ctx, args...)
}

type sqlRows struct{ *sql.Rows }

func (r sqlRows) Close() { _ = r.Rows.Close() }

func (d *sqliteDB) Exec(ctx context.Context, s string, args ...any) (int64, error) {
	return sqliteQuerier{d: d}.Exec(ctx, s, args...)
}

func (d *sqliteDB) Query(ctx context.Context, s string, args ...any) (Rows, error) {
	return sqliteQuerier{d: d}.Query(ctx, s, args...)
}

func (d *sqliteDB) QueryRow(ctx context.Context, s string, args ...any) Row {
	return sqliteQuerier{d: d}.QueryRow(ctx, s, args...)
}

func (d *sqliteDB) InTx(ctx context.Context, fn func(ctx context.Context, q Querier, raw any) error) error {
	if d.opts.GuardPool {
		if ctx.Value(inTxKey{}) != nil {
			return ErrPoolInTx
		}
		ctx = context.WithValue(ctx, inTxKey{}, true)
	}
	tx, err := d.db.BeginTx(ctx, nil) // BEGIN IMMEDIATE via _txlock
	if err != nil {
		return fmt.Errorf("sqlite: begin: %w", err)
	}
	if err := fn(ctx, sqliteQuerier{d: d, tx: tx}, tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlite: commit: %w", err)
	}
	return nil
}

func (d *sqliteDB) Ping(ctx context.Context) error {
	if err := (sqliteQuerier{d: d}).check(ctx); err != nil {
		return err
	}
	return d.db.PingContext(ctx)
}

func (d *sqliteDB) Close() error {
	d.stmts.Range(func(_, v any) bool { v.(*sql.Stmt).Close(); return true })
	return d.db.Close()
}
