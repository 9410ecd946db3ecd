package storecall

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	otelcodes "go.opentelemetry.io/otel/codes"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

// TestCalls: each call is a client span named prefix+op with db.system and
// the call's attributes, and one sample of <service>.store.duration with
// db.system, op and outcome; an expected answer (not found) is no failure.
func TestCalls(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	spans := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))
	ctx := context.Background()
	t.Cleanup(func() { mp.Shutdown(ctx); tp.Shutdown(ctx) })
	lat, err := NewLatency(mp.Meter("test"), "widgets")
	if err != nil {
		t.Fatal(err)
	}
	calls := New("widgets.store.", "pebble", Telemetry{Tracer: tp.Tracer("test"), Latency: lat}, errNotFound)
	call := func(op string, ret error) {
		_, end := calls.Start(ctx, op, attribute.Int64("sightline.site_id", 42))
		err := ret
		end(&err)
	}
	call("get", nil)
	call("get", fmt.Errorf("site 1: %w", errNotFound))
	call("put", errors.New("disk full"))

	ended := spans.Ended()
	if len(ended) != 3 {
		t.Fatalf("%d spans, want 3", len(ended))
	}
	for i, want := range []otelcodes.Code{otelcodes.Unset, otelcodes.Unset, otelcodes.Error} {
		sp := ended[i]
		if sp.Status().Code != want {
			t.Errorf("span %d %s: status %v, want %v", i, sp.Name(), sp.Status(), want)
		}
		attrs := attribute.NewSet(sp.Attributes()...)
		if v, _ := attrs.Value(SystemKey); v.AsString() != "pebble" {
			t.Errorf("span %d: db.system %q", i, v.AsString())
		}
		if v, _ := attrs.Value("sightline.site_id"); v.AsInt64() != 42 {
			t.Errorf("span %d: the call's attribute is missing: %v", i, sp.Attributes())
		}
	}
	if ended[0].Name() != "widgets.store.get" || ended[2].Name() != "widgets.store.put" {
		t.Errorf("span names %s, %s", ended[0].Name(), ended[2].Name())
	}

	var rm metricdata.ResourceMetrics
	if err := reader.Collect(ctx, &rm); err != nil {
		t.Fatal(err)
	}
	counts := map[string]uint64{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name != "widgets.store.duration" || m.Unit != "s" {
				t.Fatalf("metric %s (%s)", m.Name, m.Unit)
			}
			for _, dp := range m.Data.(metricdata.Histogram[float64]).DataPoints {
				sys, _ := dp.Attributes.Value(SystemKey)
				op, _ := dp.Attributes.Value(OpKey)
				out, _ := dp.Attributes.Value(OutcomeKey)
				if dp.Attributes.Len() != 3 {
					t.Errorf("attributes %v, want db.system, op and outcome only", dp.Attributes.ToSlice())
				}
				counts[sys.AsString()+"/"+op.AsString()+"/"+out.AsString()] += dp.Count
			}
		}
	}
	want := map[string]uint64{"pebble/get/ok": 2, "pebble/put/error": 1}
	if fmt.Sprint(counts) != fmt.Sprint(want) {
		t.Fatalf("latency samples %v, want %v", counts, want)
	}
}
