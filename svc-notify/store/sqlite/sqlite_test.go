package sqlite_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	"go.opentelemetry.io/otel/codes"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.uber.org/goleak"

	"github.com/sightlinehq/sightline/platform/sqldb/sqldbtest"
	"github.com/sightlinehq/sightline/platform/telemetry/telemetrytest"
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
	return sqldbtest.Open(t, func(ctx context.Context) (*sqlite.Store, error) {
		return sqlite.Open(ctx, filepath.Join(t.TempDir(), "notify.db"), sqlite.Telemetry{})
	})
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

// TestTelemetry: every store call is a span named notify.store.<op> and a
// latency sample with db.system and op; a not-found is not a span error.
func TestTelemetry(t *testing.T) {
	ctx := context.Background()
	spans := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	latency, err := mp.Meter("test").Float64Histogram("store.latency")
	if err != nil {
		t.Fatal(err)
	}
	s, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "notify.db"), sqlite.Telemetry{Tracer: tp.Tracer("test"), Latency: latency})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.GetWebhook(ctx, 1, 1); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("GetWebhook: %v", err)
	}
	if err := s.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
		_, err := tx.ClaimEvent(ctx, "e")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.SetDigestSubscription(ctx, store.DigestSubscription{UserID: 1, SiteID: 1, Frequency: 99}); err == nil {
		t.Fatal("frequency 99 accepted")
	}
	got := map[string]sdktrace.ReadOnlySpan{}
	for _, sp := range spans.Ended() {
		got[sp.Name()] = sp
	}
	for name, wantErr := range map[string]bool{"notify.store.GetWebhook": false, "notify.store.InTx": false,
		"notify.store.ClaimEvent": false, "notify.store.SetDigestSubscription": true} {
		sp, ok := got[name]
		if !ok {
			t.Fatalf("no span %s among %v", name, got)
		}
		if isErr := sp.Status().Code == codes.Error; isErr != wantErr {
			t.Errorf("span %s error status %v, want %v", name, isErr, wantErr)
		}
	}
	if claim, tx := got["notify.store.ClaimEvent"], got["notify.store.InTx"]; claim.Parent().SpanID() != tx.SpanContext().SpanID() {
		t.Error("ClaimEvent's span is not a child of InTx's")
	}
	ops := telemetrytest.By(t, reader, "store.latency", "op", "db.system")
	for _, op := range []string{"GetWebhook", "InTx", "ClaimEvent", "SetDigestSubscription"} {
		if ops[op+"/sqlite"] != 1 {
			t.Errorf("latency samples of %s on sqlite: %v, want 1 (all: %v)", op, ops[op+"/sqlite"], ops)
		}
	}
}
