package telemetrytest

import (
	"context"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
)

func TestSumBy(t *testing.T) {
	r := sdkmetric.NewManualReader()
	c, err := sdkmetric.NewMeterProvider(sdkmetric.WithReader(r)).Meter("t").Int64Counter("emails")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	add := func(n int64, kv ...attribute.KeyValue) { c.Add(ctx, n, metric.WithAttributes(kv...)) }
	add(2, attribute.String("kind", "verify"), attribute.String("outcome", "sent"))
	add(3, attribute.String("kind", "verify"), attribute.String("outcome", "not_sent"))
	add(5, attribute.String("kind", "reset"), attribute.String("outcome", "sent"))
	add(7)
	by2 := SumBy(t, r, "emails", "kind", "outcome")
	if by2["verify/sent"] != 2 || by2["verify/not_sent"] != 3 || by2["reset/sent"] != 5 || by2["/"] != 7 || len(by2) != 4 {
		t.Fatalf("by kind and outcome: %v", by2)
	}
	by1 := SumBy(t, r, "emails", "outcome")
	if by1["sent"] != 7 || by1["not_sent"] != 3 || by1[""] != 7 || len(by1) != 3 {
		t.Fatalf("by outcome: %v", by1)
	}
}

// TestBy: gauges read their values, histograms their counts, each by
// attributes; a metric not recorded is an empty map.
func TestBy(t *testing.T) {
	r := sdkmetric.NewManualReader()
	m := sdkmetric.NewMeterProvider(sdkmetric.WithReader(r)).Meter("t")
	ctx := context.Background()
	h, err := m.Float64Histogram("latency")
	if err != nil {
		t.Fatal(err)
	}
	for _, op := range []string{"get", "get", "put"} {
		h.Record(ctx, 0.5, metric.WithAttributes(attribute.String("op", op)))
	}
	if _, err := m.Float64ObservableGauge("age", metric.WithFloat64Callback(func(_ context.Context, o metric.Float64Observer) error {
		o.Observe(2.5)
		return nil
	})); err != nil {
		t.Fatal(err)
	}
	if got := By(t, r, "latency", "op"); got["get"] != 2 || got["put"] != 1 || len(got) != 2 {
		t.Fatalf("latency counts by op: %v", got)
	}
	if got := By(t, r, "age"); got[""] != 2.5 || len(got) != 1 {
		t.Fatalf("age: %v", got)
	}
	if got := By(t, r, "never"); len(got) != 0 {
		t.Fatalf("a metric not recorded: %v", got)
	}
}
