package blobotel

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.uber.org/goleak"

	"github.com/sightlinehq/sightline/blob"
	"github.com/sightlinehq/sightline/blob/blobtest"
	"github.com/sightlinehq/sightline/blob/fsblob"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type telemetry struct {
	spans   *tracetest.InMemoryExporter
	metrics *sdkmetric.ManualReader
	tp      *sdktrace.TracerProvider
	mp      *sdkmetric.MeterProvider
}

func newTelemetry() *telemetry {
	t := &telemetry{spans: tracetest.NewInMemoryExporter(), metrics: sdkmetric.NewManualReader()}
	t.tp = sdktrace.NewTracerProvider(sdktrace.WithSyncer(t.spans))
	t.mp = sdkmetric.NewMeterProvider(sdkmetric.WithReader(t.metrics))
	return t
}

func wrapFS(t *testing.T, tel *telemetry) *Store {
	t.Helper()
	fs, err := fsblob.Open(fsblob.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	s, err := Wrap(fs, "fs", tel.tp, tel.mp)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestConformance: the wrapper changes nothing a caller sees.
func TestConformance(t *testing.T) {
	tel := newTelemetry()
	blobtest.Run(t, func(t *testing.T) blob.Store { return wrapFS(t, tel) })
}

func TestRecords(t *testing.T) {
	tel := newTelemetry()
	s := wrapFS(t, tel)
	defer s.Close()
	ctx := context.Background()
	if err := s.Put(ctx, "a/b", strings.NewReader("hello"), 5, "text/plain"); err != nil {
		t.Fatal(err)
	}
	rc, _, err := s.Get(ctx, "a/b")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(io.Discard, rc); err != nil {
		t.Fatal(err)
	}
	rc.Close()
	rc.Close() // a second Close records nothing more
	if _, err := s.Stat(ctx, "missing"); !errors.Is(err, blob.ErrNotFound) {
		t.Fatal(err)
	}
	if err := s.Put(ctx, "a/c", strings.NewReader("short"), 99, ""); err == nil {
		t.Fatal("size mismatch accepted")
	}
	for _, err := range s.List(ctx, "a/") {
		if err != nil {
			t.Fatal(err)
		}
	}

	// Spans: one per call, the failed Put marked as an error, the
	// missing key not.
	got := map[string]codes.Code{}
	for _, sp := range tel.spans.GetSpans() {
		key := sp.Name
		for _, a := range sp.Attributes {
			if a.Key == "blob.key" {
				key += " " + a.Value.AsString()
			}
		}
		got[key] = sp.Status.Code
	}
	want := map[string]codes.Code{"blob.put a/b": codes.Unset, "blob.get a/b": codes.Unset, "blob.stat missing": codes.Unset, "blob.put a/c": codes.Error, "blob.list a/": codes.Unset}
	if len(got) != len(want) || len(tel.spans.GetSpans()) != len(want) {
		t.Fatalf("spans %v, want %v", got, want)
	}
	for k, c := range want {
		if gc, ok := got[k]; !ok || gc != c {
			t.Fatalf("span %q: %v (present %v), want %v; all %v", k, gc, ok, c, got)
		}
	}

	var rm metricdata.ResourceMetrics
	if err := tel.metrics.Collect(ctx, &rm); err != nil {
		t.Fatal(err)
	}
	counts := map[string]uint64{}
	bytes := map[string]int64{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			switch d := m.Data.(type) {
			case metricdata.Histogram[float64]:
				for _, p := range d.DataPoints {
					op, _ := p.Attributes.Value(attribute.Key("op"))
					out, _ := p.Attributes.Value(attribute.Key("outcome"))
					counts[op.AsString()+"/"+out.AsString()] += p.Count
				}
			case metricdata.Sum[int64]:
				for _, p := range d.DataPoints {
					dir, _ := p.Attributes.Value(attribute.Key("direction"))
					bytes[dir.AsString()] += p.Value
				}
			}
		}
	}
	wantCounts := map[string]uint64{"put/ok": 1, "put/error": 1, "get/ok": 1, "stat/not_found": 1, "list/ok": 1}
	for k, n := range wantCounts {
		if counts[k] != n {
			t.Fatalf("blob.duration counts %v, want %v", counts, wantCounts)
		}
	}
	if bytes["written"] != 5 || bytes["read"] != 5 {
		t.Fatalf("blob.bytes %v, want 5 written and 5 read", bytes)
	}
}
