package telemetry

import (
	"context"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

// RecordWork records a pass of background work after the fact, as a root
// span from start to now. Sweeps and pollers call it only when a pass did
// something or failed: an idle pass leaves no trace (its store calls have
// no parent, and the default sampler drops such orphan calls), while the
// work one finds is still seen in the tracing backend.
func RecordWork(ctx context.Context, tr trace.Tracer, name string, start time.Time, err error, attrs ...attribute.KeyValue) {
	_, span := tr.Start(ctx, name, trace.WithNewRoot(), trace.WithTimestamp(start),
		trace.WithSpanKind(trace.SpanKindInternal), trace.WithAttributes(attrs...))
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
	}
	span.End()
}
