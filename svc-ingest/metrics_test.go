package ingest

import (
	"context"
	"net/http"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
)

// TestSpoolCommitMetrics: every accepted batch is counted in a group
// commit, and the commits' duration histogram resolves what a commit takes
// (a fraction of a millisecond to a few): its observations fall in buckets
// of 100 ms or less, so an operator's p99 of it (the Grafana board's) reads
// a time, not the top of a bucket seconds wide.
func TestSpoolCommitMetrics(t *testing.T) {
	e := newEnv(t, nil)
	const batches = 5
	for i := range batches {
		resp := e.post(req{query: "k=" + siteKey, body: batchBody(t, func(m map[string]any) { m["seq"] = i })})
		if resp.StatusCode != http.StatusNoContent {
			t.Fatalf("batch %d: status %d", i, resp.StatusCode)
		}
	}
	var rm metricdata.ResourceMetrics
	if err := e.metrics.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	batchesSpool := attribute.NewSet(attribute.String("spool", "batches"))
	var records metricdata.HistogramDataPoint[int64]
	var duration metricdata.HistogramDataPoint[float64]
	var found int
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			switch d := m.Data.(type) {
			case metricdata.Histogram[int64]:
				for _, dp := range d.DataPoints {
					if m.Name == "ingest.spool.commit.records" && dp.Attributes.Equals(&batchesSpool) {
						records, found = dp, found+1
					}
				}
			case metricdata.Histogram[float64]:
				for _, dp := range d.DataPoints {
					if m.Name == "ingest.spool.commit.duration" && dp.Attributes.Equals(&batchesSpool) {
						duration, found = dp, found+1
					}
				}
			}
		}
	}
	if found != 2 {
		t.Fatalf("found %d of the batches spool's two commit histograms", found)
	}
	if records.Sum != batches || records.Count == 0 || records.Count > batches {
		t.Fatalf("commit.records: %d records in %d commits, want %d in 1–%d", records.Sum, records.Count, batches, batches)
	}
	if duration.Count != records.Count {
		t.Fatalf("commit.duration: %d observations, %d commits", duration.Count, records.Count)
	}
	var fine uint64 // observations in buckets whose upper bound is ≤ 100 ms
	for i, b := range duration.Bounds {
		if b <= 0.1 {
			fine += duration.BucketCounts[i]
		}
	}
	if fine != duration.Count {
		t.Fatalf("commit.duration: %d of %d commits in buckets of ≤ 100 ms (bounds %v, counts %v, %.4f s in all)",
			fine, duration.Count, duration.Bounds, duration.BucketCounts, duration.Sum)
	}
}
