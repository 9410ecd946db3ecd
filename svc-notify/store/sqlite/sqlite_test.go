package sqlite_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	"go.uber.org/goleak"

	"github.com/sightlinehq/sightline/svc-notify/store"
	"github.com/sightlinehq/sightline/svc-notify/store/sqlite"
	"github.com/sightlinehq/sightline/svc-notify/store/storetest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func open(t *testing.T, path string) *sqlite.Store {
	t.Helper()
	s, err := sqlite.Open(context.Background(), path, sqlite.Telemetry{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func newStore(t *testing.T) store.Store {
	s := open(t, filepath.Join(t.TempDir(), "notify.db"))
	if err := s.StartIDsAt(context.Background(), 3_000_000_000); err != nil {
		t.Fatal(err)
	}
	return s
}

func TestConformance(t *testing.T) { storetest.Run(t, newStore) }

func TestMigrateIsIdempotent(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "sub", "notify.db")
	for range 2 {
		if err := sqlite.Migrate(ctx, path); err != nil {
			t.Fatal(err)
		}
	}
	s := open(t, path)
	if err := s.Ping(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestReopen: what was committed is there after the process closes and
// opens the file again.
func TestReopen(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "notify.db")
	s, err := sqlite.Open(ctx, path, sqlite.Telemetry{})
	if err != nil {
		t.Fatal(err)
	}
	w, err := s.CreateWebhook(ctx, store.Webhook{SiteID: 1, URL: "https://example.com", Events: []string{"session.ended"}, Enabled: true, Secret: "s"}, 10)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
		_, err := tx.ClaimEvent(ctx, "evt")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = open(t, path)
	got, err := s.GetWebhook(ctx, 1, w.ID)
	if err != nil || got.URL != w.URL {
		t.Fatalf("webhook after reopen: %+v, %v", got, err)
	}
	if err := s.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
		ok, err := tx.ClaimEvent(ctx, "evt")
		if err == nil && ok {
			t.Error("event claim lost on reopen")
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
}

// TestPoolInsideTxFails: the pool has one connection, so a call on it from
// inside InTx would wait forever; it fails at once instead.
func TestPoolInsideTxFails(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	err := s.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
		if _, err := s.GetWebhook(ctx, 1, 1); !errors.Is(err, sqlite.ErrPoolInTx) {
			t.Errorf("GetWebhook inside InTx: %v, want ErrPoolInTx", err)
		}
		if err := s.InTx(ctx, func(context.Context, store.Tx) error { return nil }); !errors.Is(err, sqlite.ErrPoolInTx) {
			t.Errorf("nested InTx: %v, want ErrPoolInTx", err)
		}
		_, err := tx.ClaimEvent(ctx, "still usable")
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}
