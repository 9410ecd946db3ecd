package ingest

import (
	"bytes"
	"context"
	"net/http"
	"net/netip"
	"net/url"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	contract "github.com/sightlinehq/sightline/batch"
	"github.com/sightlinehq/sightline/svc-ingest/siteconfig"
)

// batch carries one request through intake (a batch; an answer, see
// answerIntake; a hit body, see hitIntake).
type batch struct {
	w     http.ResponseWriter
	r     *http.Request
	start time.Time
	// ctx is the request's context until the intake span starts, then the
	// span's.
	ctx  context.Context
	span trace.Span
	ip   netip.Addr // the client (clientIP), once admitClient ran
	site *siteconfig.Site
	// The body: its bytes (in buf), and what the decoder read of it: the
	// whole envelope for a batch, the site key and page URL otherwise.
	env  contract.Envelope
	buf  *bytes.Buffer
	body []byte
	read bool // the body is read and decoded
	// The request's query, Origin header and the Origin's host, parsed once.
	query      url.Values
	origin     string
	originHost string
	originOK   bool
}

// batchPool recycles the per-request state: it escapes to the heap (the
// intake steps take it through closures), and one allocation of its size
// per batch showed in BenchmarkServeBatch.
var batchPool = sync.Pool{New: func() any { return new(batch) }}

// newBatch starts one request's state, whose body may hold up to limit
// bytes as sent; finish ends it.
func (s *Service) newBatch(w http.ResponseWriter, r *http.Request, limit int64) *batch {
	start := time.Now()
	// A slow body is cut at a deadline proportionate to what it may send
	// (readBody answers 408), not only at the server's read timeout.
	// net/http lifts it once the body is in, so it never cuts the handler.
	if err := http.NewResponseController(w).SetReadDeadline(start.Add(s.bodyDeadline(r.ContentLength, limit))); err != nil {
		s.log.DebugContext(r.Context(), "cannot set the body read deadline", "error", err)
	}
	b := batchPool.Get().(*batch)
	*b = batch{w: w, r: r, start: start, ctx: r.Context(), query: r.URL.Query(), origin: r.Header.Get("Origin")}
	b.originHost, b.originOK = originHost(b.origin)
	return b
}

// finish counts the request by its answer's status in requests, ends its
// span and releases its state.
func (s *Service) finish(b *batch, code int, requests metric.Int64Counter) {
	if attr, ok := s.m.codeAttrs[code]; ok {
		requests.Add(b.ctx, 1, attr)
	} else {
		requests.Add(b.ctx, 1)
	}
	b.span.End()
	b.release()
}

// release returns the request's body buffer to the pool.
func (b *batch) release() {
	if b.buf != nil && b.buf.Cap() <= 1<<20 {
		b.buf.Reset()
		bufPool.Put(b.buf)
	}
	*b = batch{}
	batchPool.Put(b)
}

// startSpan starts the intake span at the request's start, continuing the
// envelope's traceparent or else the request's headers.
func (s *Service) startSpan(r *http.Request, start time.Time, envTraceparent, name string) (context.Context, trace.Span) {
	ctx := r.Context()
	var parent context.Context
	if envTraceparent != "" {
		parent = propagation.TraceContext{}.Extract(ctx, propagation.MapCarrier{"traceparent": envTraceparent})
	}
	if parent == nil || !trace.SpanContextFromContext(parent).IsValid() {
		parent = s.prop.Extract(ctx, propagation.HeaderCarrier(r.Header))
	}
	return s.tracer.Start(parent, name, trace.WithTimestamp(start), trace.WithSpanKind(trace.SpanKindServer),
		trace.WithAttributes(attribute.String("http.request.method", r.Method), attribute.String("url.path", r.URL.Path)))
}
