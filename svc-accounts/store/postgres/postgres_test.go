package postgres_test

import (
	"context"
	"database/sql"
	"os"
	"testing"
	"time"

	"github.com/pressly/goose/v3"

	"github.com/sightlinehq/sightline/internal/pgtest"
	"github.com/sightlinehq/sightline/platform/sqldb/sqldbtest"
	"github.com/sightlinehq/sightline/svc-accounts/internal/sqlstore"
	"github.com/sightlinehq/sightline/svc-accounts/store"
	"github.com/sightlinehq/sightline/svc-accounts/store/postgres"
	"github.com/sightlinehq/sightline/svc-accounts/store/storetest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

func newStore(t *testing.T) store.Store {
	return sqldbtest.Open(t, func(ctx context.Context) (*postgres.Store, error) {
		return postgres.Open(ctx, pgtest.Start(t), postgres.Options{MaxConns: 8}, sqlstore.Telemetry{})
	})
}

func TestConformance(t *testing.T) { storetest.Run(t, newStore) }

func TestMigrateIsIdempotent(t *testing.T) {
	sqldbtest.MigrateTwice(t, postgres.Migrate, pgtest.Start(t))
}

func TestInvalidDSNDoesNotEchoPassword(t *testing.T) {
	sqldbtest.InvalidDSN(t, func(ctx context.Context, dsn string) error {
		_, err := postgres.Open(ctx, dsn, postgres.Options{}, sqlstore.Telemetry{})
		return err
	})
}

func TestMigrateDomainsPerOrganization(t *testing.T) {
	dsn := pgtest.Start(t)
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	storetest.DomainsUpgrade(t, db, goose.DialectPostgres, os.DirFS("migrations"), time.Now(), func(t *testing.T) store.Store {
		return sqldbtest.Open(t, func(ctx context.Context) (*postgres.Store, error) {
			return postgres.Open(ctx, dsn, postgres.Options{MaxConns: 4}, sqlstore.Telemetry{})
		})
	})
}
