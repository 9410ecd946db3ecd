// Package blobotel instruments any blob.Store with OpenTelemetry: a span
// per call and, per call, its duration and the bytes written or read, by
// backend, operation and outcome. Pass the service's own providers (see
// platform/telemetry); nothing here uses the globals.
package blobotel

import (
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/sightlinehq/sightline/blob"
)

const scope = "github.com/sightlinehq/sightline/blob"

// Store is an instrumented blob.Store.
type Store struct {
	s        blob.Store
	backend  attribute.KeyValue
	tracer   trace.Tracer
	duration metric.Float64Histogram
	bytes    metric.Int64Counter
}

var _ blob.Store = (*Store)(nil)

// Wrap instruments s; backend ("fs", "s3") labels its spans and metrics.
func Wrap(s blob.Store, backend string, tp trace.TracerProvider, mp metric.MeterProvider) (*Store, error) {
	m := mp.Meter(scope)
	duration, err := m.Float64Histogram("blob.duration", metric.WithUnit("s"),
		metric.WithDescription("Duration of blob store calls (a Get until its reader is closed)."),
		metric.WithExplicitBucketBoundaries(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))
	if err != nil {
		return nil, fmt.Errorf("blobotel: %w", err)
	}
	bytes, err := m.Int64Counter("blob.bytes", metric.WithUnit("By"),
		metric.WithDescription("Object bytes written by Put and read through Get."))
	if err != nil {
		return nil, fmt.Errorf("blobotel: %w", err)
	}
	return &Store{
		s:        s,
		backend:  attribute.String("blob.backend", backend),
		tracer:   tp.Tracer(scope),
		duration: duration,
		bytes:    bytes,
	}, nil
}

// outcome names an error for metrics: a missing object or a bad key is
// the caller's business, not the store failing.
func outcome(err error) string {
	switch {
	case err == nil:
		return "ok"
	case errors.Is(err, blob.ErrNotFound):
		return "not_found"
	case errors.Is(err, blob.ErrBadKey):
		return "bad_key"
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return "cancelled"
	default:
		return "error"
	}
}

// start opens the span of op; the returned func ends it and records the
// duration, and n bytes (direction dir) when dir is set.
func (s *Store) start(ctx context.Context, op, key string) (context.Context, func(err error, dir string, n int64)) {
	begin := time.Now()
	ctx, span := s.tracer.Start(ctx, "blob."+op, trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(s.backend, attribute.String("blob.key", key)))
	return ctx, func(err error, dir string, n int64) {
		out := outcome(err)
		if out == "error" || out == "cancelled" {
			span.RecordError(err)
			span.SetStatus(codes.Error, err.Error())
		}
		if dir != "" {
			span.SetAttributes(attribute.Int64("blob.bytes", n))
			s.bytes.Add(ctx, n, metric.WithAttributes(s.backend, attribute.String("direction", dir)))
		}
		span.End()
		s.duration.Record(ctx, time.Since(begin).Seconds(), metric.WithAttributes(
			s.backend, attribute.String("op", op), attribute.String("outcome", out)))
	}
}

// Put implements blob.Store.
func (s *Store) Put(ctx context.Context, key string, r io.Reader, size int64, contentType string) error {
	ctx, end := s.start(ctx, "put", key)
	cr := &countReader{r: r}
	err := s.s.Put(ctx, key, cr, size, contentType)
	n := cr.n
	if err != nil {
		n = 0 // nothing was stored
	}
	end(err, "written", n)
	return err
}

// Get implements blob.Store; the span ends when the reader is closed.
func (s *Store) Get(ctx context.Context, key string) (io.ReadCloser, blob.Info, error) {
	ctx, end := s.start(ctx, "get", key)
	rc, info, err := s.s.Get(ctx, key)
	if err != nil {
		end(err, "", 0)
		return nil, blob.Info{}, err
	}
	return &countReadCloser{countReader: countReader{r: rc}, c: rc, end: end}, info, nil
}

// Stat implements blob.Store.
func (s *Store) Stat(ctx context.Context, key string) (blob.Info, error) {
	ctx, end := s.start(ctx, "stat", key)
	info, err := s.s.Stat(ctx, key)
	end(err, "", 0)
	return info, err
}

// Delete implements blob.Store.
func (s *Store) Delete(ctx context.Context, key string) error {
	ctx, end := s.start(ctx, "delete", key)
	err := s.s.Delete(ctx, key)
	end(err, "", 0)
	return err
}

// List implements blob.Store; one span covers the whole listing.
func (s *Store) List(ctx context.Context, prefix string) iter.Seq2[blob.Info, error] {
	return func(yield func(blob.Info, error) bool) {
		ctx, end := s.start(ctx, "list", prefix)
		var err error
		for info, e := range s.s.List(ctx, prefix) {
			err = e
			if !yield(info, e) || e != nil {
				break
			}
		}
		end(err, "", 0)
	}
}

// Close implements blob.Store.
func (s *Store) Close() error { return s.s.Close() }

type countReader struct {
	r io.Reader
	n int64
}

func (c *countReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

type countReadCloser struct {
	countReader
	c    io.Closer
	end  func(error, string, int64)
	done bool
}

func (c *countReadCloser) Close() error {
	err := c.c.Close()
	if !c.done {
		c.done = true
		c.end(err, "read", c.n)
	}
	return err
}
