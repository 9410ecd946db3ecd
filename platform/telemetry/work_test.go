package telemetry_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/sightlinehq/sightline/platform/telemetry"
)

// A sweep's store calls without a parent are dropped (an idle pass leaves
// nothing), while RecordWork's span of a pass that worked or failed is
// exported as a root from the pass's start, even inside another trace.
func TestRecordWorkAfterTheFact(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	tel := setup(t, telemetry.Options{ServiceName: "svc", SpanExporter: exp})
	tr := tel.Tracer("test")

	start := time.Now().Add(-time.Second)
	_, orphan := tr.Start(context.Background(), "store.sweep", trace.WithSpanKind(trace.SpanKindClient))
	orphan.End()
	parent, inTrace := tr.Start(context.Background(), "request")
	telemetry.RecordWork(parent, tr, "sweep", start, nil, attribute.Int("sightline.sessions", 3))
	telemetry.RecordWork(context.Background(), tr, "failed sweep", start, errors.New("disk full"))
	inTrace.End()
	if err := tel.ForceFlush(context.Background()); err != nil {
		t.Fatal(err)
	}
	got := map[string]tracetest.SpanStub{}
	for _, s := range exp.GetSpans() {
		got[s.Name] = s
	}
	if _, ok := got["store.sweep"]; ok {
		t.Error("an orphan client call was exported")
	}
	sweep, ok := got["sweep"]
	if !ok {
		t.Fatalf("no sweep span in %v", exp.GetSpans().Snapshots())
	}
	if sweep.Parent.IsValid() || sweep.SpanContext.TraceID() == got["request"].SpanContext.TraceID() {
		t.Errorf("sweep span is not a root: parent %v", sweep.Parent)
	}
	if !sweep.StartTime.Equal(start) || len(sweep.Attributes) != 1 || sweep.Attributes[0].Value.AsInt64() != 3 {
		t.Errorf("sweep span start %v (want %v), attributes %v", sweep.StartTime, start, sweep.Attributes)
	}
	if f := got["failed sweep"]; f.Status.Code != codes.Error || f.Status.Description != "disk full" {
		t.Errorf("failed sweep status %+v", f.Status)
	}
}
