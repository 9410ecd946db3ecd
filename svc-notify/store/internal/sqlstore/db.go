// Package sqlstore is the SQL shared by notify's SQLite and PostgreSQL
// backends: one implementation of store.Store over a small database
// abstraction, so both run the same statements (written with $n
// placeholders) and differ only in driver, schema types and a few dialect
// hooks (the approach of svc-accounts' stores).
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
	// InTx runs fn in a transaction, committed when fn returns nil; raw is
	// the driver's transaction (*sql.Tx or pgx.Tx) for River's InsertTx,
	// and ctx the context fn is to use (a backend may mark it).
	InTx(ctx context.Context, fn func(ctx context.Context, q Querier, raw any) error) error
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
	// Enabled is the condition "the row is enabled", spelled as the
	// partial indexes spell it so the planner uses them.
	Enabled string
	// Lock serialises, until the transaction ends, the transactions that
	// check a per-site limit of the same key (PostgreSQL: an advisory
	// transaction lock; SQLite's write transactions are already serial, so
	// nil).
	Lock func(ctx context.Context, q Querier, key string) error
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

// MicrosTime is SQLite's Dialect.Time: microseconds since the epoch, so
// comparisons in SQL are numeric.
func MicrosTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UnixMicro()
}

// NativeTime is PostgreSQL's Dialect.Time, truncated to microseconds as
// SQLite's is (PostgreSQL would round), so both backends return the same.
func NativeTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UTC().Truncate(time.Microsecond)
}

// IDTables are the tables with generated ids, for backends' StartIDsAt.
var IDTables = []string{"notify_webhooks", "notify_deliveries", "notify_alert_rules", "notify_alerts"}
