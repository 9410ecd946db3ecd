package queue

import (
	"context"
	"crypto/rand"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
	"go.opentelemetry.io/otel/trace"
	tracenoop "go.opentelemetry.io/otel/trace/noop"

	"github.com/sightlinehq/sightline/platform/telemetry"
)

// quiet keeps periodic maintenance out of the tracing backend unless it
// does something. A run of a quiet kind (Config.Quiet) and the leader's
// enqueue of one happen under an unsampled parent, so otelriver's spans and
// every call beneath them (to recordings, to search) are dropped; a worker
// that did work says so with Worked, and the run is then recorded after
// the fact as a root span (telemetry.RecordWork). Without this, a sweep
// that ends no session made a trace every minute.
type quiet struct {
	river.MiddlewareDefaults
	kinds  map[string]bool
	tracer trace.Tracer
}

type workedKey struct{}

// Worked marks the running job as having done something worth a trace.
// It does nothing outside a quiet job.
func Worked(ctx context.Context) {
	if w, ok := ctx.Value(workedKey{}).(*bool); ok {
		*w = true
	}
}

func (q *quiet) Work(ctx context.Context, job *rivertype.JobRow, doInner func(context.Context) error) error {
	if !q.kinds[job.Kind] || trace.SpanContextFromContext(ctx).IsValid() {
		return doInner(ctx)
	}
	start, worked := time.Now(), false
	err := doInner(context.WithValue(unsampled(ctx), workedKey{}, &worked))
	if worked || err != nil {
		telemetry.RecordWork(ctx, q.tracer, "river.work/"+job.Kind, start, err)
	}
	return err
}

func (q *quiet) InsertMany(ctx context.Context, params []*rivertype.JobInsertParams, doInner func(context.Context) ([]*rivertype.JobInsertResult, error)) ([]*rivertype.JobInsertResult, error) {
	if trace.SpanContextFromContext(ctx).IsValid() {
		return doInner(ctx)
	}
	for _, p := range params {
		if !q.kinds[p.Kind] {
			return doInner(ctx)
		}
	}
	return doInner(unsampled(ctx))
}

// unsampled gives ctx a parent that is not sampled, with fresh ids so that
// log lines of different runs do not share a trace id.
func unsampled(ctx context.Context) context.Context {
	var ids [24]byte
	_, _ = rand.Read(ids[:]) // never fails (crypto/rand's documented contract)
	var tid trace.TraceID
	var sid trace.SpanID
	copy(tid[:], ids[:16])
	copy(sid[:], ids[16:])
	return trace.ContextWithSpanContext(ctx, trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: sid}))
}

func newQuiet(cfg Config) *quiet {
	q := &quiet{kinds: map[string]bool{}, tracer: tracenoop.NewTracerProvider().Tracer("")}
	if cfg.TracerProvider != nil {
		q.tracer = cfg.TracerProvider.Tracer("github.com/sightlinehq/sightline/svc-notify/queue")
	}
	for _, k := range cfg.Quiet {
		q.kinds[k] = true
	}
	return q
}

var (
	_ rivertype.WorkerMiddleware    = (*quiet)(nil)
	_ rivertype.JobInsertMiddleware = (*quiet)(nil)
)
