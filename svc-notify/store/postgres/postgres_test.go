package postgres_test

import (
	"context"
	"testing"

	"github.com/sightlinehq/sightline/internal/pgtest"
	"github.com/sightlinehq/sightline/platform/sqldb/sqldbtest"
	"github.com/sightlinehq/sightline/svc-notify/store"
	"github.com/sightlinehq/sightline/svc-notify/store/postgres"
	"github.com/sightlinehq/sightline/svc-notify/store/storetest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

func newStore(t *testing.T) store.Store {
	return sqldbtest.Open(t, func(ctx context.Context) (*postgres.Store, error) {
		return postgres.Open(ctx, pgtest.Start(t), postgres.Options{MaxConns: 8}, postgres.Telemetry{})
	})
}

func TestConformance(t *testing.T) { storetest.Run(t, newStore) }

func TestMigrateIsIdempotent(t *testing.T) {
	sqldbtest.MigrateTwice(t, postgres.Migrate, pgtest.Start(t))
}

func TestInvalidDSNDoesNotEchoPassword(t *testing.T) {
	sqldbtest.InvalidDSN(t, func(ctx context.Context, dsn string) error {
		_, err := postgres.Open(ctx, dsn, postgres.Options{}, postgres.Telemetry{})
		return err
	})
}
