package accounts

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// unavailableMessage is what callers are told when the database cannot be
// reached: which part is down, nothing about hosts, ports or drivers.
const unavailableMessage = "the accounts database is unreachable; try again shortly"

// unavailable reports whether a store error means the database cannot be
// reached right now (as opposed to a refused or broken request), so that
// the caller gets Unavailable — "retry later" — and never Unauthenticated,
// NotFound or Internal: a database outage must not sign anyone out.
func unavailable(err error) bool {
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
	switch {
	case errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET),
		errors.Is(err, syscall.ECONNABORTED), errors.Is(err, syscall.EPIPE),
		errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH),
		errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, net.ErrClosed):
		// The connection died under a query.
		return true
	}
	var netErr net.Error
	if errors.As(err, &netErr) && netErr.Timeout() && !errors.Is(err, context.DeadlineExceeded) {
		// A network read/write timeout, not the caller's own deadline.
		return true
	}
	return false
}

// unavailableLogEvery bounds the outage log to one line per interval: every
// request fails the same way while the database is away.
const unavailableLogEvery = 30 * time.Second

// logUnavailable logs an outage error, at most once per unavailableLogEvery.
func (s *Service) logUnavailable(ctx context.Context, op string, err error) {
	now := time.Now().UnixNano()
	last := s.lastUnavailableLog.Load()
	if now-last < int64(unavailableLogEvery) || !s.lastUnavailableLog.CompareAndSwap(last, now) {
		return
	}
	s.log.WarnContext(ctx, "accounts: database unreachable; answering Unavailable", "op", op, "err", err)
}
