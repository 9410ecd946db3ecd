// Package teststore opens notify's stores for the tests of the code above
// them (the queue, the service), closed when the test ends.
package teststore

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/sightlinehq/sightline/platform/sqldb/sqldbtest"
	"github.com/sightlinehq/sightline/svc-notify/store"
	"github.com/sightlinehq/sightline/svc-notify/store/postgres"
	"github.com/sightlinehq/sightline/svc-notify/store/sqlite"
)

// SQLite is a fresh SQLite store in the test's directory, ids above 2^31.
func SQLite(t testing.TB) store.Store {
	t.Helper()
	return sqldbtest.Open(t, func(ctx context.Context) (*sqlite.Store, error) {
		return sqlite.Open(ctx, filepath.Join(t.TempDir(), "notify.db"), sqlite.Telemetry{})
	})
}

// Postgres is the store on the PostgreSQL database at dsn with a pool of
// maxConns connections.
func Postgres(t testing.TB, dsn string, maxConns int32) store.Store {
	t.Helper()
	st, err := postgres.Open(context.Background(), dsn, postgres.Options{MaxConns: maxConns}, postgres.Telemetry{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}
