// Package storecall is how every service reports a call to its store and
// answers for its failure: a client span and one latency sample under one
// label scheme (Calls), and the gRPC status a store error becomes (Errors),
// whose message never carries a driver's or the file system's words.
package storecall

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// The attributes of every store call's latency sample; spans carry
// SystemKey too. One scheme for every service, so one dashboard query
// covers them all.
const (
	// SystemKey is the backend: sqlite, postgres, pebble, scylla, bleve,
	// elasticsearch.
	SystemKey = attribute.Key("db.system")
	// OpKey is the store operation, as the span is named after it.
	OpKey = attribute.Key("op")
	// OutcomeKey is "ok" (answered, an expected refusal included) or
	// "error" (the store failed).
	OutcomeKey = attribute.Key("outcome")
)

// Telemetry is where a store's calls are reported; a nil field disables
// that half.
type Telemetry struct {
	Tracer trace.Tracer
	// Latency is the service's histogram made by NewLatency.
	Latency metric.Float64Histogram
}

// NewLatency makes a service's store latency histogram,
// "<service>.store.duration" in seconds.
func NewLatency(m metric.Meter, service string) (metric.Float64Histogram, error) {
	h, err := m.Float64Histogram(service+".store.duration", metric.WithUnit("s"),
		metric.WithDescription("Latency of "+service+" store calls, by db.system, op and outcome."),
		metric.WithExplicitBucketBoundaries(0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10))
	if err != nil {
		return nil, fmt.Errorf("%s: store latency histogram: %w", service, err)
	}
	return h, nil
}

// Calls instruments the calls of one store.
type Calls struct {
	prefix, system string
	answers        []error
	tel            Telemetry
}

// New returns the Calls of a store whose spans are named prefix+op
// ("accounts.store.") on the backend system. An error matching one of
// answers (errors.Is; a store's not-found) is the store answering, not
// failing: the span is not marked failed and the outcome is "ok".
func New(prefix, system string, tel Telemetry, answers ...error) Calls {
	if tel.Tracer == nil {
		tel.Tracer = noop.NewTracerProvider().Tracer("")
	}
	return Calls{prefix: prefix, system: system, answers: answers, tel: tel}
}

// Start starts the span of the call op, with attrs, and returns the
// function that ends it, recording the error and latency: defer end(&err).
func (c Calls) Start(ctx context.Context, op string, attrs ...attribute.KeyValue) (context.Context, func(*error)) {
	start := time.Now()
	ctx, span := c.tel.Tracer.Start(ctx, c.prefix+op, trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(SystemKey.String(c.system)), trace.WithAttributes(attrs...))
	return ctx, func(errp *error) {
		outcome := "ok"
		if err := *errp; err != nil && !c.answer(err) {
			span.RecordError(err)
			span.SetStatus(codes.Error, err.Error())
			outcome = "error"
		}
		span.End()
		if c.tel.Latency != nil {
			c.tel.Latency.Record(ctx, time.Since(start).Seconds(), metric.WithAttributes(
				SystemKey.String(c.system), OpKey.String(op), OutcomeKey.String(outcome)))
		}
	}
}

func (c Calls) answer(err error) bool {
	for _, a := range c.answers {
		if errors.Is(err, a) {
			return true
		}
	}
	return false
}
