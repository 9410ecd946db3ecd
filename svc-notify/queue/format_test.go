package queue_test

import (
	"context"
	"database/sql"
	"errors"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"

	"github.com/sightlinehq/sightline/internal/pgtest"
	"github.com/sightlinehq/sightline/platform/storeformat"
	"github.com/sightlinehq/sightline/svc-notify/queue"
	"github.com/sightlinehq/sightline/svc-notify/store"
	"github.com/sightlinehq/sightline/svc-notify/store/teststore"
)

// TestNewerRiverSchemaRefused: a database whose River migrations go one
// past this binary's (a newer Sightline's River) is refused at Open with
// both versions, on SQLite and PostgreSQL; River itself would run on it.
func TestNewerRiverSchemaRefused(t *testing.T) {
	ctx := context.Background()
	for name, st := range map[string]store.Store{"sqlite": teststore.SQLite(t), "postgres": teststore.Postgres(t, pgtest.Start(t), 8)} {
		t.Run(name, func(t *testing.T) {
			open := func() error {
				q, err := queue.Open(ctx, st.Handle(), queue.Config{Registry: river.NewWorkers(), Logger: quiet})
				if err == nil {
					err = q.Close()
				}
				return err
			}
			if err := open(); err != nil {
				t.Fatal(err)
			}
			if err := open(); err != nil {
				t.Fatalf("second open of a migrated database: %v", err)
			}
			const bump = `INSERT INTO river_migration (line, version) SELECT 'main', max(version) + 1 FROM river_migration WHERE line = 'main'`
			var err error
			switch h := st.Handle().(type) {
			case *sql.DB:
				_, err = h.ExecContext(ctx, bump)
			case *pgxpool.Pool:
				_, err = h.Exec(ctx, bump)
			}
			if err != nil {
				t.Fatal(err)
			}
			err = open()
			var tooNew *storeformat.TooNewError
			if !errors.As(err, &tooNew) || tooNew.Store != "notify queue (River) schema" || tooNew.Stored != tooNew.Binary+1 {
				t.Fatalf("open of a database one River migration ahead: %v, want a TooNewError", err)
			}
		})
	}
}
