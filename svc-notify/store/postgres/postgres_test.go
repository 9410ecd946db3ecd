package postgres_test

import (
	"context"
	"strings"
	"testing"

	"github.com/sightlinehq/sightline/internal/pgtest"
	"github.com/sightlinehq/sightline/svc-notify/store"
	"github.com/sightlinehq/sightline/svc-notify/store/postgres"
	"github.com/sightlinehq/sightline/svc-notify/store/storetest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

func newStore(t *testing.T) store.Store {
	ctx := context.Background()
	s, err := postgres.Open(ctx, pgtest.Start(t), postgres.Options{MaxConns: 8}, postgres.Telemetry{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if err := s.StartIDsAt(ctx, 3_000_000_000); err != nil {
		t.Fatal(err)
	}
	return s
}

func TestConformance(t *testing.T) { storetest.Run(t, newStore) }

func TestMigrateIsIdempotent(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.Start(t)
	for range 2 {
		if err := postgres.Migrate(ctx, dsn); err != nil {
			t.Fatal(err)
		}
	}
}

func TestInvalidDSNDoesNotEchoPassword(t *testing.T) {
	_, err := postgres.Open(context.Background(), "postgres://u:hunter2@[bad", postgres.Options{}, postgres.Telemetry{})
	if err == nil {
		t.Fatal("opened an invalid DSN")
	}
	if strings.Contains(err.Error(), "hunter2") {
		t.Fatalf("error echoes the password: %s", err)
	}
}
