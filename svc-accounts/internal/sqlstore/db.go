// Package sqlstore is the SQL shared by the SQLite and PostgreSQL backends:
// one implementation of store.Store over platform/sqldb's DB, so
// both backends run the same statements (written with $n placeholders) and
// differ only in driver, schema types and a few dialect hooks.
package sqlstore

import (
	"time"

	"github.com/sightlinehq/sightline/platform/sqldb"
)

// Dialect holds what differs between the backends.
type Dialect struct {
	// Dialect names the system (span attribute) and maps its errors.
	sqldb.Dialect
	// Time converts a time to a statement argument (nil for zero).
	Time func(time.Time) any
	// ForUpdate is appended to SELECTs that lock a row (" FOR UPDATE" on
	// PostgreSQL; SQLite's write transactions are already serial).
	ForUpdate string
	// JSONAgg aggregates the expression %s over a subquery's rows into a
	// JSON array as text ("[]" for none), so a site reads with its domains
	// and flags in one round trip.
	JSONAgg string
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
