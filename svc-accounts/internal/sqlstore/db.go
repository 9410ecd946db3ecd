// Package sqlstore is the SQL shared by the SQLite and PostgreSQL backends:
// one implementation of store.Store over a small database abstraction, so
// both backends run the same statements (written with $n placeholders) and
// differ only in driver, schema types and a few dialect hooks.
package sqlstore

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

// Querier runs statements, on the pool or in a transaction.
type Querier interface {
	Exec(ctx context.Context, q string, args ...any) (int64, error)
	Query(ctx context.Context, q string, args ...any) (Rows, error)
	QueryRow(ctx context.Context, q string, args ...any) Row
}

// DB is a connection pool that can run transactions.
type DB interface {
	Querier
	// InTx runs fn in a transaction that serialises with other writers of
	// the rows it locks (SQLite: BEGIN IMMEDIATE; PostgreSQL: READ
	// COMMITTED plus explicit row locks, see Dialect.LockOrg).
	InTx(ctx context.Context, fn func(q Querier) error) error
	Ping(ctx context.Context) error
	Close() error
}

// Dialect holds what differs between the backends.
type Dialect struct {
	// Name is "sqlite" or "postgres" (span attribute).
	Name string
	// Time converts a time to a statement argument (nil for zero).
	Time func(time.Time) any
	// IsUnique reports a unique-constraint violation.
	IsUnique func(error) bool
	// IsNoRows reports a QueryRow that found nothing.
	IsNoRows func(error) bool
	// ForUpdate is appended to SELECTs that lock a row (" FOR UPDATE" on
	// PostgreSQL; SQLite's write transactions are already serial).
	ForUpdate string
	// JSONAgg aggregates the expression %s over a subquery's rows into a
	// JSON array as text ("[]" for none), so a site reads with its domains
	// and flags in one round trip.
	JSONAgg string
}

// ts scans a timestamp column stored as timestamptz (time.Time), as integer
// microseconds since the epoch (SQLite), or NULL (zero time).
type ts struct{ t *time.Time }

func (s ts) Scan(src any) error {
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

var _ interface{ Scan(any) error } = ts{}

// MicrosTime is SQLite's Dialect.Time: microseconds since the epoch, so
// comparisons in SQL are numeric.
func MicrosTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UnixMicro()
}

// NativeTime is PostgreSQL's Dialect.Time.
func NativeTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UTC()
}

// IDTables are the tables with generated ids, for backends' StartIDsAt.
var IDTables = []string{"users", "organizations", "invitations", "auth_sessions", "sites", "api_keys", "audit_events", "surveys", "funnels", "user_tokens"}
