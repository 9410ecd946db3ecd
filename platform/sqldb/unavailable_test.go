package sqldb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
)

func TestUnavailableClassifiesErrors(t *testing.T) {
	for _, c := range []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"a store's not found", fmt.Errorf("user 1: %w", errors.New("not found")), false},
		{"plain", errors.New("boom"), false},
		{"caller canceled", context.Canceled, false},
		{"caller deadline", fmt.Errorf("query: %w", context.DeadlineExceeded), false},
		{"admin shutdown 57P01", fmt.Errorf("q: %w", &pgconn.PgError{Code: "57P01"}), true},
		{"crash shutdown 57P02", &pgconn.PgError{Code: "57P02"}, true},
		{"cannot connect now 57P03", &pgconn.PgError{Code: "57P03"}, true},
		{"connection failure 08006", &pgconn.PgError{Code: "08006"}, true},
		{"too many connections", &pgconn.PgError{Code: "53300"}, true},
		{"unique violation", &pgconn.PgError{Code: "23505"}, false},
		{"syntax error", &pgconn.PgError{Code: "42601"}, false},
		{"refused", fmt.Errorf("x: %w", &net.OpError{Op: "dial", Err: syscall.ECONNREFUSED}), true},
		{"reset", fmt.Errorf("x: %w", syscall.ECONNRESET), true},
		{"unexpected EOF", fmt.Errorf("read: %w", io.ErrUnexpectedEOF), true},
	} {
		if got := Unavailable(c.err); got != c.want {
			t.Errorf("%s: Unavailable(%v) = %v, want %v", c.name, c.err, got, c.want)
		}
	}
}

// TestUnavailableSQLiteBusy: a real SQLITE_BUSY (another connection holds
// the write lock past the busy timeout) is Unavailable.
func TestUnavailableSQLiteBusy(t *testing.T) {
	path := filepath.Join(t.TempDir(), "busy.db")
	dsn := "file:" + path + "?_pragma=busy_timeout(50)&_pragma=journal_mode(WAL)"
	holder, err := sql.Open("sqlite", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Close()
	ctx := context.Background()
	hc, err := holder.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer hc.Close()
	if _, err := hc.ExecContext(ctx, "CREATE TABLE t (id integer)"); err != nil {
		t.Fatal(err)
	}
	if _, err := hc.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if _, err := hc.ExecContext(ctx, "ROLLBACK"); err != nil {
			t.Errorf("rollback: %v", err)
		}
	}()
	other, err := sql.Open("sqlite", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	_, err = other.ExecContext(ctx, "INSERT INTO t VALUES (1)")
	if err == nil {
		t.Fatal("insert succeeded while another connection held the write lock")
	}
	if !Unavailable(fmt.Errorf("insert: %w", err)) {
		t.Fatalf("Unavailable(%v) = false; want true for SQLITE_BUSY", err)
	}
}
