package sqldb

import (
	"errors"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/sightlinehq/sightline/platform/storecall"
)

// Unavailable reports whether a store error means the database cannot be
// reached right now (as opposed to a refused or broken request), so that
// the caller gets Unavailable — "retry later" — and never Unauthenticated,
// NotFound or Internal: a database outage must not sign anyone out. It is
// the Transient of a SQL store's storecall.Errors.
func Unavailable(err error) bool {
	if err == nil {
		return false
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch {
		case strings.HasPrefix(pgErr.Code, "08"): // connection_exception class
			return true
		case pgErr.Code == "57P01", // admin_shutdown: the server is stopping
			pgErr.Code == "57P02", // crash_shutdown
			pgErr.Code == "57P03", // cannot_connect_now: starting up or shutting down
			pgErr.Code == "53300": // too_many_connections
			return true
		}
		// Any other server answer came from a reachable database.
		return false
	}
	var connectErr *pgconn.ConnectError
	if errors.As(err, &connectErr) {
		// Refused, reset, DNS, TLS, or a deadline while connecting.
		return true
	}
	if pgconn.SafeToRetry(err) {
		// pgx marks errors where nothing reached the server (a dead pooled
		// connection, a failed write before the query was sent).
		return true
	}
	var sqliteErr *sqlite.Error
	if errors.As(err, &sqliteErr) {
		// The busy timeout has already been waited out when SQLite says
		// BUSY or LOCKED: another writer holds the database.
		switch sqliteErr.Code() & 0xff {
		case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED:
			return true
		}
		return false
	}
	// The connection died under a query, or a network timeout.
	return storecall.Unreachable(err)
}
