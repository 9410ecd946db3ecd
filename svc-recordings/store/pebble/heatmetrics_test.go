package pebble

import (
	"context"
	"testing"
	"time"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"

	"github.com/sightlinehq/sightline/platform/telemetry/telemetrytest"
	"github.com/sightlinehq/sightline/svc-recordings/store"
)

// heatFigures is the heatmap metrics: name → value, counters with a
// result as "name/result", the flush histogram as its count; a metric not
// exported is absent.
func heatFigures(t *testing.T, reader sdkmetric.Reader) map[string]float64 {
	t.Helper()
	out := map[string]float64{}
	for _, name := range []string{"recordings.heatmap.queue.cells", "recordings.heatmap.queue.appends", "recordings.heatmap.queue.age",
		"recordings.heatmap.rebuilds.unfinished", "recordings.heatmap.flush.duration", "recordings.heatmap.flush.lists"} {
		for _, v := range telemetrytest.By(t, reader, name) {
			out[name] = v
		}
	}
	for _, name := range []string{"recordings.heatmap.flushes", "recordings.heatmap.folds"} {
		for result, v := range telemetrytest.By(t, reader, name, "result") {
			out[name+"/"+result] = v
		}
	}
	return out
}

// TestHeatMetrics: the queue's figures follow appends (cells, appends, the
// oldest change's age) until a flush drains them; the flush and the folds
// it makes due are counted; an unfinished rebuild shows; and a closed
// store exports nothing more.
func TestHeatMetrics(t *testing.T) {
	ctx := context.Background()
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	s, err := Open(t.TempDir(), Options{Logger: quiet{}, Metrics: mp})
	if err != nil {
		t.Fatal(err)
	}
	s.heatFolds.after = 1 // every flushed list is due for a fold

	got := heatFigures(t, reader)
	for _, name := range []string{"recordings.heatmap.queue.cells", "recordings.heatmap.queue.appends", "recordings.heatmap.queue.age", "recordings.heatmap.rebuilds.unfinished"} {
		if v, ok := got[name]; !ok || v != 0 {
			t.Errorf("%s of a fresh store = %v (exported %v); want 0", name, v, ok)
		}
	}

	// The flusher waits while the test holds its lock: what the appends
	// queued stays queued until the test flushes.
	const site = int64(3_000_000_051)
	q := &s.heatq
	q.flushMu.Lock()
	queued := time.Now()
	for n := range 3 {
		if _, err := s.Append(ctx, []store.Chunk{chunk(t, site, n, 0, 20000, false)}); err != nil {
			q.flushMu.Unlock()
			t.Fatal(err)
		}
	}
	time.Sleep(200 * time.Millisecond)
	got = heatFigures(t, reader)
	q.flushMu.Unlock()
	if v := got["recordings.heatmap.queue.appends"]; v != 3 {
		t.Errorf("queue.appends after 3 appends = %v; want 3", v)
	}
	if v := got["recordings.heatmap.queue.cells"]; v < 3 {
		t.Errorf("queue.cells after 3 appends of clicks and moves = %v; want ≥ 3", v)
	}
	if v, most := got["recordings.heatmap.queue.age"], time.Since(queued).Seconds(); v < 0.2 || v > most {
		t.Errorf("queue.age = %vs; want between 0.2 s (the wait) and %.3f s (since the first append)", v, most)
	}

	if err := s.flushHeat(); err != nil {
		t.Fatal(err)
	}
	if err := s.foldHeat(); err != nil {
		t.Fatal(err)
	}
	got = heatFigures(t, reader)
	for _, name := range []string{"recordings.heatmap.queue.cells", "recordings.heatmap.queue.appends", "recordings.heatmap.queue.age"} {
		if v := got[name]; v != 0 {
			t.Errorf("%s after the flush = %v; want 0", name, v)
		}
	}
	if v := got["recordings.heatmap.flushes/ok"]; v < 1 {
		t.Errorf("flushes/ok = %v; want ≥ 1", v)
	}
	if v := got["recordings.heatmap.flushes/error"]; v != 0 {
		t.Errorf("flushes/error = %v; want 0", v)
	}
	if v, n := got["recordings.heatmap.flush.duration"], got["recordings.heatmap.flushes/ok"]; v != n {
		t.Errorf("flush.duration counts %v flushes; flushes/ok %v", v, n)
	}
	lists := got["recordings.heatmap.flush.lists"]
	if lists < 2 { // clicks and moves, day and week rows
		t.Errorf("flush.lists = %v; want ≥ 2", lists)
	}
	if v := got["recordings.heatmap.folds/ok"]; v != lists {
		t.Errorf("folds/ok = %v; want every flushed list (%v)", v, lists)
	}

	s.setMarker(site, &rebuildMarker{Since: 20000})
	if v := heatFigures(t, reader)["recordings.heatmap.rebuilds.unfinished"]; v != 1 {
		t.Errorf("rebuilds.unfinished with one marker = %v; want 1", v)
	}

	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if v, ok := heatFigures(t, reader)["recordings.heatmap.queue.cells"]; ok {
		t.Errorf("queue.cells of a closed store = %v; want none", v)
	}
}
