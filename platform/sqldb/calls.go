package sqldb

import (
	"context"
	"errors"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// Telemetry instruments store calls; zero values disable it.
type Telemetry struct {
	Tracer trace.Tracer
	// Latency records each call's duration in seconds, with attributes
	// db.system and op.
	Latency metric.Float64Histogram
}

// Calls traces and times a store's calls: a client span named prefix+op and
// a latency sample, both with db.system.
type Calls struct {
	prefix, system string
	quiet          error
	tel            Telemetry
}

// NewCalls returns the Calls of a store whose spans are named prefix+op
// ("accounts.store.") on the database system ("sqlite", "postgres"). An
// error that is quiet (errors.Is; a store's not-found) does not mark the
// span failed.
func NewCalls(prefix, system string, quiet error, tel Telemetry) Calls {
	if tel.Tracer == nil {
		tel.Tracer = noop.NewTracerProvider().Tracer("")
	}
	return Calls{prefix: prefix, system: system, quiet: quiet, tel: tel}
}

// Start starts the span of the call op and returns the function that ends
// it, recording the error and latency: defer end(&err).
func (c Calls) Start(ctx context.Context, op string) (context.Context, func(*error)) {
	start := time.Now()
	ctx, span := c.tel.Tracer.Start(ctx, c.prefix+op,
		trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(attribute.String("db.system", c.system)))
	return ctx, func(errp *error) {
		if err := *errp; err != nil && (c.quiet == nil || !errors.Is(err, c.quiet)) {
			span.RecordError(err)
			span.SetStatus(codes.Error, err.Error())
		}
		span.End()
		if c.tel.Latency != nil {
			c.tel.Latency.Record(ctx, time.Since(start).Seconds(), metric.WithAttributes(
				attribute.String("db.system", c.system), attribute.String("op", op)))
		}
	}
}
