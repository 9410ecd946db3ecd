// Package otlptest is a tiny OTLP/gRPC trace receiver for tests: it listens
// on 127.0.0.1, records every span exported to it and lets a test wait for
// the spans it expects. End-to-end tests of the real binary point
// OTEL_EXPORTER_OTLP_ENDPOINT at it.
package otlptest

import (
	"context"
	"net"
	"sync"
	"testing"
	"time"

	collectortracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
)

// Receiver is an OTLP trace service on a real socket.
type Receiver struct {
	collectortracepb.UnimplementedTraceServiceServer

	addr string
	srv  *grpc.Server

	mu      sync.Mutex
	res     []*tracepb.ResourceSpans
	changed chan struct{} // closed and replaced on every export
}

// NewReceiver starts a receiver on 127.0.0.1:0; it stops when the test ends.
func NewReceiver(t testing.TB) *Receiver {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("otlptest: listen: %v", err)
	}
	r := &Receiver{addr: lis.Addr().String(), srv: grpc.NewServer(), changed: make(chan struct{})}
	collectortracepb.RegisterTraceServiceServer(r.srv, r)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = r.srv.Serve(lis)
	}()
	t.Cleanup(func() {
		r.srv.Stop()
		<-done
	})
	return r
}

// Endpoint is the value for OTEL_EXPORTER_OTLP_ENDPOINT ("http://" tells
// the exporter not to use TLS).
func (r *Receiver) Endpoint() string { return "http://" + r.addr }

// Addr is the receiver's host:port.
func (r *Receiver) Addr() string { return r.addr }

// Export implements the OTLP TraceService.
func (r *Receiver) Export(_ context.Context, req *collectortracepb.ExportTraceServiceRequest) (*collectortracepb.ExportTraceServiceResponse, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, rs := range req.GetResourceSpans() {
		r.res = append(r.res, proto.Clone(rs).(*tracepb.ResourceSpans))
	}
	close(r.changed)
	r.changed = make(chan struct{})
	return &collectortracepb.ExportTraceServiceResponse{}, nil
}

// ResourceSpans returns everything received so far, with resources (for
// checking service.name).
func (r *Receiver) ResourceSpans() []*tracepb.ResourceSpans {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]*tracepb.ResourceSpans(nil), r.res...)
}

// Spans returns every span received so far.
func (r *Receiver) Spans() []*tracepb.Span {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.spansLocked()
}

func (r *Receiver) spansLocked() []*tracepb.Span {
	var out []*tracepb.Span
	for _, rs := range r.res {
		for _, ss := range rs.GetScopeSpans() {
			out = append(out, ss.GetSpans()...)
		}
	}
	return out
}

// WaitFor blocks until cond holds for the spans received so far, or timeout
// passes, and reports whether it held. cond is re-evaluated after every
// export, never on a timer.
func (r *Receiver) WaitFor(cond func([]*tracepb.Span) bool, timeout time.Duration) bool {
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for {
		r.mu.Lock()
		spans, ch := r.spansLocked(), r.changed
		r.mu.Unlock()
		if cond(spans) {
			return true
		}
		select {
		case <-ch:
		case <-timer.C:
			return false
		}
	}
}

// HasSpan returns a WaitFor condition that holds once a span named name has
// arrived.
func HasSpan(name string) func([]*tracepb.Span) bool {
	return func(spans []*tracepb.Span) bool {
		for _, s := range spans {
			if s.GetName() == name {
				return true
			}
		}
		return false
	}
}
