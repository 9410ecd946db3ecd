package recordings

import (
	"context"
	"testing"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	recordingsv1 "github.com/sightlinehq/sightline/gen/sightline/recordings/v1"
)

func TestMetricsAndSpans(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	spans := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))
	t.Cleanup(func() { mp.Shutdown(context.Background()); tp.Shutdown(context.Background()) })
	_, searchAddr := serveSearch(t, "127.0.0.1:0")
	h := start(t, testConfig(t), t.TempDir(), searchAddr, func(d *Deps) { d.MeterProvider, d.TracerProvider = mp, tp })
	ctx := context.Background()
	chunks := scriptedSession(t, "s_metrics000000000000")
	var raw int64
	for _, c := range chunks {
		raw += int64(len(c.Events))
	}
	if _, err := h.client.AppendChunks(ctx, &recordingsv1.AppendChunksRequest{Chunks: append(chunks, chunks[0])}); err != nil {
		t.Fatal(err)
	}
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(ctx, &rm); err != nil {
		t.Fatal(err)
	}
	got := map[string]metricdata.Aggregation{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			got[m.Name] = m.Data
		}
	}
	sum := func(name string) int64 {
		t.Helper()
		s, ok := got[name].(metricdata.Sum[int64])
		if !ok {
			t.Fatalf("metric %s missing (have %v)", name, keys(got))
		}
		var n int64
		for _, dp := range s.DataPoints {
			n += dp.Value
		}
		return n
	}
	if n := sum("recordings.chunks.stored"); n != 4 {
		t.Errorf("chunks.stored = %d, want 4", n)
	}
	if n := sum("recordings.chunks.duplicates"); n != 1 {
		t.Errorf("chunks.duplicates = %d, want 1", n)
	}
	if n := sum("recordings.chunk.raw_bytes"); n != raw {
		t.Errorf("raw_bytes = %d, want %d", n, raw)
	}
	if n := sum("recordings.chunk.stored_bytes"); n <= 0 || n >= raw {
		t.Errorf("stored_bytes = %d of %d raw", n, raw)
	}
	if h, ok := got["recordings.chunk.compression_ratio"].(metricdata.Histogram[float64]); !ok || h.DataPoints[0].Count != 4 || h.DataPoints[0].Sum <= 4 {
		t.Errorf("compression_ratio %+v", got["recordings.chunk.compression_ratio"])
	}
	lat, ok := got["recordings.store.duration"].(metricdata.Histogram[float64])
	if !ok {
		t.Fatalf("store.duration missing")
	}
	ops := map[string]bool{}
	for _, dp := range lat.DataPoints {
		v, _ := dp.Attributes.Value("op")
		sys, _ := dp.Attributes.Value("db.system")
		out, _ := dp.Attributes.Value("outcome")
		ops[v.AsString()+"/"+sys.AsString()+"/"+out.AsString()] = true
	}
	if !ops["append/pebble/ok"] {
		t.Errorf("no append latency (op, db.system, outcome); have %v", ops)
	}
	if _, ok := got["recordings.outbox.depth"].(metricdata.Gauge[int64]); !ok {
		t.Errorf("outbox.depth gauge missing")
	}
	// The Pebble store's own figures, under store=recordings: the appends
	// went through its WAL.
	wal, ok := got["pebble.wal.bytes_in"].(metricdata.Sum[int64])
	if !ok {
		t.Fatalf("pebble.wal.bytes_in missing (have %v)", keys(got))
	}
	var walIn int64
	for _, dp := range wal.DataPoints {
		if v, _ := dp.Attributes.Value("store"); v.AsString() == "recordings" {
			walIn += dp.Value
		}
	}
	if walIn < raw/10 {
		t.Errorf("pebble.wal.bytes_in{store=recordings} = %d after %d raw bytes appended", walIn, raw)
	}
	found := false
	for _, s := range spans.Ended() {
		found = found || s.Name() == "recordings.store.append"
	}
	if !found {
		t.Errorf("no recordings.store.append span")
	}
}

func keys[M ~map[string]V, V any](m M) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
