// Package sqldbtest is the setup shared by the tests of the store backends
// built on platform/sqldb.
package sqldbtest

import (
	"context"
	"strings"
	"testing"
)

// Store is a backend's store as its tests set it up.
type Store interface {
	Close() error
	// StartIDsAt makes generated ids start at or above start.
	StartIDsAt(ctx context.Context, start int64) error
}

// IDStart is where Open starts generated ids: above 2^31, so the suites
// prove such ids work end to end.
const IDStart = 3_000_000_000

// Open returns the store open returns, closed when the test ends, with its
// generated ids started at IDStart.
func Open[S Store](t testing.TB, open func(ctx context.Context) (S, error)) S {
	t.Helper()
	ctx := context.Background()
	s, err := open(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if err := s.StartIDsAt(ctx, IDStart); err != nil {
		t.Fatal(err)
	}
	return s
}

// MigrateTwice migrates the database at (a path or DSN) twice: the second
// run must find nothing to do and succeed.
func MigrateTwice(t testing.TB, migrate func(ctx context.Context, at string) error, at string) {
	t.Helper()
	for range 2 {
		if err := migrate(context.Background(), at); err != nil {
			t.Fatal(err)
		}
	}
}

// InvalidDSN checks that open refuses an invalid DSN without quoting its
// password.
func InvalidDSN(t testing.TB, open func(ctx context.Context, dsn string) error) {
	t.Helper()
	err := open(context.Background(), "postgres://u:hunter2@[bad")
	if err == nil {
		t.Fatal("opened an invalid DSN")
	}
	if strings.Contains(err.Error(), "hunter2") {
		t.Fatalf("error echoes the password: %s", err)
	}
}
