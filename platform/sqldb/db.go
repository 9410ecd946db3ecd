// Package sqldb is the SQL plumbing the services' SQLite and PostgreSQL
// stores share: a small database abstraction (Row, Rows, Querier, DB) with
// its database/sql (SQLite) and pgx (PostgreSQL) adapters, opening each
// database, running a backend's embedded goose migrations, and the
// storecall instrumentation of each store call. Each service keeps its own
// SQL, schema, dialect hooks and sentinel errors.
package sqldb

import (
	"context"
	"fmt"
	"time"
)

// Row is one result row.
type Row interface {
	Scan(dest ...any) error
}

// Rows is a result set.
type Rows interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
	Close()
}

// Querier runs statements, on the pool or in a transaction. Statements are
// written with $n placeholders on every backend.
type Querier interface {
	Exec(ctx context.Context, q string, args ...any) (int64, error)
	Query(ctx context.Context, q string, args ...any) (Rows, error)
	QueryRow(ctx context.Context, q string, args ...any) Row
}

// DB is a connection pool that can run transactions.
type DB interface {
	Querier
	// InTx runs fn in a transaction, committed when fn returns nil; raw is
	// the driver's transaction (*sql.Tx or pgx.Tx), and ctx the context fn
	// is to use (a backend may mark it).
	InTx(ctx context.Context, fn func(ctx context.Context, q Querier, raw any) error) error
	Ping(ctx context.Context) error
	Close() error
}

// Dialect is what a store needs to know of its database system.
type Dialect struct {
	// Name is "sqlite" or "postgres" (the db.system attribute).
	Name string
	// IsUnique reports a unique-constraint violation.
	IsUnique func(error) bool
	// IsNoRows reports a QueryRow that found nothing.
	IsNoRows func(error) bool
}

// NotFound wraps a query's err naming what and id; a no-rows error becomes
// notFound (the store's ErrNotFound), so callers can test for it.
func (d Dialect) NotFound(err, notFound error, what string, id any) error {
	if d.IsNoRows(err) {
		err = notFound
	}
	return fmt.Errorf("%s %v: %w", what, id, err)
}

// Timestamp scans into *t a timestamp column stored as timestamptz
// (time.Time), as integer microseconds since the epoch (SQLite), or NULL
// (zero time).
func Timestamp(t *time.Time) interface{ Scan(any) error } { return timestamp{t} }

type timestamp struct{ t *time.Time }

func (s timestamp) Scan(src any) error {
	switch v := src.(type) {
	case nil:
		*s.t = time.Time{}
	case time.Time:
		*s.t = v.UTC()
	case int64:
		*s.t = time.UnixMicro(v).UTC()
	default:
		return fmt.Errorf("sqlstore: cannot scan %T into a timestamp", src)
	}
	return nil
}

// MicrosTime is how SQLite stores a time argument: microseconds since the
// epoch, so comparisons in SQL are numeric (nil for zero).
func MicrosTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UnixMicro()
}

// Collect scans each row of a Query's result with scan and closes the rows;
// it passes on the Query's err. No rows give a nil slice.
func Collect[T any](rows Rows, err error, scan func(Row, *T) error) ([]T, error) {
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		var v T
		if err := scan(rows, &v); err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return out, nil
}
