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
