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
func SumBy(t testing.TB, r sdkmetric.Reader, name string, attrs ...attribute.Key) map[string]int64 {
	t.Helper()
	out := map[string]int64{}
	for k, v := range By(t, r, name, attrs...) {
		out[k] = int64(v)
	}
	return out
}

// By collects r and sums the data points of metric name by the values of
// their attributes attrs, joined by "/" ("" for a point without one): a
// counter's or gauge's values, a histogram's counts of samples. A metric
// not recorded yet answers an empty map.
func By(t testing.TB, r sdkmetric.Reader, name string, attrs ...attribute.Key) map[string]float64 {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := r.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	add := func(set attribute.Set, v float64) {
		vals := make([]string, len(attrs))
		for i, a := range attrs {
			x, _ := set.Value(a)
			vals[i] = x.AsString()
		}
		out[strings.Join(vals, "/")] += v
	}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name != name {
				continue
			}
			switch d := m.Data.(type) {
			case metricdata.Sum[int64]:
				values(d.DataPoints, add)
			case metricdata.Sum[float64]:
				values(d.DataPoints, add)
			case metricdata.Gauge[int64]:
				values(d.DataPoints, add)
			case metricdata.Gauge[float64]:
				values(d.DataPoints, add)
			case metricdata.Histogram[float64]:
				counts(d.DataPoints, add)
			case metricdata.Histogram[int64]:
				counts(d.DataPoints, add)
			default:
				t.Fatalf("%s is a %T, which By does not read", name, m.Data)
			}
		}
	}
	return out
}

// values hands each point's value to add.
func values[N int64 | float64](dps []metricdata.DataPoint[N], add func(attribute.Set, float64)) {
	for _, dp := range dps {
		add(dp.Attributes, float64(dp.Value))
	}
}

// counts hands each histogram point's count of samples to add.
func counts[N int64 | float64](dps []metricdata.HistogramDataPoint[N], add func(attribute.Set, float64)) {
	for _, dp := range dps {
		add(dp.Attributes, float64(dp.Count))
	}
}
