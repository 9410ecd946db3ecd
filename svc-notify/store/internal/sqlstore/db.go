// Package sqlstore is the SQL shared by notify's SQLite and PostgreSQL
// backends: one implementation of store.Store over platform/sqldb's DB
// (whose InTx hands River the driver's transaction), so both run the same
// statements (written with $n placeholders) and differ only in driver,
// schema types and a few dialect hooks (the approach of svc-accounts'
// stores).
package sqlstore

import (
	"context"
	"time"

	"github.com/sightlinehq/sightline/platform/sqldb"
)

// Dialect holds what differs between the backends.
type Dialect struct {
	// Dialect names the system (span attribute) and maps its errors.
	sqldb.Dialect
	// Time converts a time to a statement argument (nil for zero).
	Time func(time.Time) any
	// Enabled is the condition "the row is enabled", spelled as the
	// partial indexes spell it so the planner uses them.
	Enabled string
	// Lock serialises, until the transaction ends, the transactions that
	// check a per-site limit of the same key (PostgreSQL: an advisory
	// transaction lock; SQLite's write transactions are already serial, so
	// nil).
	Lock func(ctx context.Context, q sqldb.Querier, key string) error
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
