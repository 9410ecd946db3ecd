package sqlite_test

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/pressly/goose/v3"
	"go.uber.org/goleak"

	"github.com/sightlinehq/sightline/platform/sqldb/sqldbtest"
	"github.com/sightlinehq/sightline/svc-accounts/internal/sqlstore"
	"github.com/sightlinehq/sightline/svc-accounts/store"
	"github.com/sightlinehq/sightline/svc-accounts/store/sqlite"
	"github.com/sightlinehq/sightline/svc-accounts/store/storetest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func newStore(t *testing.T) store.Store {
	return sqldbtest.Open(t, func(ctx context.Context) (*sqlite.Store, error) {
		return sqlite.Open(ctx, filepath.Join(t.TempDir(), "accounts.db"), sqlstore.Telemetry{})
	})
}

func TestConformance(t *testing.T) { storetest.Run(t, newStore) }

func TestMigrateIsIdempotent(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "a.db")
	sqldbtest.MigrateTwice(t, sqlite.Migrate, path)
	s, err := sqlite.Open(ctx, path, sqlstore.Telemetry{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Ping(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestMigrateDomainsPerOrganization(t *testing.T) {
	path := filepath.Join(t.TempDir(), "up.db")
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=foreign_keys(1)&_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	storetest.DomainsUpgrade(t, db, goose.DialectSQLite3, os.DirFS("migrations"), time.Now().UnixMicro(), func(t *testing.T) store.Store {
		return sqldbtest.Open(t, func(ctx context.Context) (*sqlite.Store, error) {
			return sqlite.Open(ctx, path, sqlstore.Telemetry{})
		})
	})
}
