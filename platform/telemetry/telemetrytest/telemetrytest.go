// Package telemetrytest reads what a process's telemetry recorded, for
// tests.
package telemetrytest

import (
	"context"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/sightlinehq/sightline/platform/telemetry"
)

// CounterSum sums the counter name over all its label sets in tel's
// Prometheus registry (0 when it has none yet).
func CounterSum(t testing.TB, tel *telemetry.Telemetry, name string) float64 {
	t.Helper()
	mfs, err := tel.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() == name {
			for _, m := range mf.GetMetric() {
				sum += m.GetCounter().GetValue()
			}
		}
	}
	return sum
}

// SumBy collects r and sums the int64 counter name by the values of its
// attributes attrs, joined by "/" ("" for a data point without one).
func SumBy(t testing.TB, r *sdkmetric.ManualReader, name string, attrs ...attribute.Key) map[string]int64 {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := r.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	out := map[string]int64{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name != name {
				continue
			}
			sum, ok := m.Data.(metricdata.Sum[int64])
			if !ok {
				t.Fatalf("%s is a %T, not an int64 counter", name, m.Data)
			}
			for _, dp := range sum.DataPoints {
				vals := make([]string, len(attrs))
				for i, a := range attrs {
					v, _ := dp.Attributes.Value(a)
					vals[i] = v.AsString()
				}
				out[strings.Join(vals, "/")] += dp.Value
			}
		}
	}
	return out
}
