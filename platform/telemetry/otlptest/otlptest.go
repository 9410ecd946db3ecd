// Package otlptest is a tiny OTLP receiver for tests, over gRPC
// (NewReceiver) or HTTP with protobuf bodies (NewHTTPReceiver): it listens
// on 127.0.0.1, records every span and metric exported to it and lets a
// test wait for the spans it expects. End-to-end tests of the real binary
// point OTEL_EXPORTER_OTLP_ENDPOINT at it.
package otlptest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	collectormetricspb "go.opentelemetry.io/proto/otlp/collector/metrics/v1"
	collectortracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	metricspb "go.opentelemetry.io/proto/otlp/metrics/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
)

// Receiver records what is exported to it, over gRPC or HTTP.
type Receiver struct {
	addr string

	mu      sync.Mutex
	res     []*tracepb.ResourceSpans
	metrics []*metricspb.ResourceMetrics
	changed chan struct{} // closed and replaced on every export
}

// NewReceiver starts an OTLP/gRPC receiver (trace and metrics services) on
// 127.0.0.1:0; it stops when the test ends.
func NewReceiver(t testing.TB) *Receiver {
	t.Helper()
	lis, r := listen(t)
	srv := grpc.NewServer()
	collectortracepb.RegisterTraceServiceServer(srv, traceService{r: r})
	collectormetricspb.RegisterMetricsServiceServer(srv, metricsService{r: r})
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(lis)
	}()
	t.Cleanup(func() {
		srv.Stop()
		<-done
	})
	return r
}

// NewHTTPReceiver starts an OTLP/HTTP receiver (binary protobuf on
// /v1/traces and /v1/metrics, as the http/protobuf exporters send) on
// 127.0.0.1:0; it stops when the test ends.
func NewHTTPReceiver(t testing.TB) *Receiver {
	t.Helper()
	lis, r := listen(t)
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/traces", func(w http.ResponseWriter, req *http.Request) {
		var in collectortracepb.ExportTraceServiceRequest
		if !decode(w, req, &in) {
			return
		}
		add(r, &r.res, in.GetResourceSpans())
		answer(w, &collectortracepb.ExportTraceServiceResponse{})
	})
	mux.HandleFunc("POST /v1/metrics", func(w http.ResponseWriter, req *http.Request) {
		var in collectormetricspb.ExportMetricsServiceRequest
		if !decode(w, req, &in) {
			return
		}
		add(r, &r.metrics, in.GetResourceMetrics())
		answer(w, &collectormetricspb.ExportMetricsServiceResponse{})
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(lis)
	}()
	t.Cleanup(func() {
		_ = srv.Close()
		<-done
	})
	return r
}

func listen(t testing.TB) (net.Listener, *Receiver) {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("otlptest: listen: %v", err)
	}
	return lis, &Receiver{addr: lis.Addr().String(), changed: make(chan struct{})}
}

// decode reads an OTLP/HTTP request body; anything but binary protobuf is
// refused, so a test cannot pass with an exporter sending JSON.
func decode(w http.ResponseWriter, req *http.Request, m proto.Message) bool {
	if ct := req.Header.Get("Content-Type"); ct != "application/x-protobuf" {
		http.Error(w, fmt.Sprintf("content type %q, want application/x-protobuf", ct), http.StatusUnsupportedMediaType)
		return false
	}
	if req.Header.Get("Content-Encoding") != "" {
		http.Error(w, "compressed bodies are not supported", http.StatusUnsupportedMediaType)
		return false
	}
	b, err := io.ReadAll(io.LimitReader(req.Body, 64<<20))
	if err == nil {
		err = proto.Unmarshal(b, m)
	}
	if err != nil {
		http.Error(w, errors.Join(errors.New("bad body"), err).Error(), http.StatusBadRequest)
		return false
	}
	return true
}

func answer(w http.ResponseWriter, m proto.Message) {
	b, _ := proto.Marshal(m)
	w.Header().Set("Content-Type", "application/x-protobuf")
	_, _ = w.Write(b)
}

type traceService struct {
	collectortracepb.UnimplementedTraceServiceServer
	r *Receiver
}

// Export implements the OTLP TraceService.
func (s traceService) Export(_ context.Context, req *collectortracepb.ExportTraceServiceRequest) (*collectortracepb.ExportTraceServiceResponse, error) {
	add(s.r, &s.r.res, req.GetResourceSpans())
	return &collectortracepb.ExportTraceServiceResponse{}, nil
}

type metricsService struct {
	collectormetricspb.UnimplementedMetricsServiceServer
	r *Receiver
}

// Export implements the OTLP MetricsService.
func (s metricsService) Export(_ context.Context, req *collectormetricspb.ExportMetricsServiceRequest) (*collectormetricspb.ExportMetricsServiceResponse, error) {
	add(s.r, &s.r.metrics, req.GetResourceMetrics())
	return &collectormetricspb.ExportMetricsServiceResponse{}, nil
}

// add appends copies of ms to *dst and wakes the waiters.
func add[M proto.Message](r *Receiver, dst *[]M, ms []M) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, m := range ms {
		*dst = append(*dst, proto.Clone(m).(M))
	}
	close(r.changed)
	r.changed = make(chan struct{})
}

// Endpoint is the value for OTEL_EXPORTER_OTLP_ENDPOINT ("http://" tells
// the exporter not to use TLS).
func (r *Receiver) Endpoint() string { return "http://" + r.addr }

// Addr is the receiver's host:port.
func (r *Receiver) Addr() string { return r.addr }

// ResourceSpans returns every span received so far, with resources (for
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

// MetricNames returns the name of every metric received so far, once each.
func (r *Receiver) MetricNames() map[string]bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.metricNamesLocked()
}

func (r *Receiver) metricNamesLocked() map[string]bool {
	out := map[string]bool{}
	for _, rm := range r.metrics {
		for _, sm := range rm.GetScopeMetrics() {
			for _, m := range sm.GetMetrics() {
				out[m.GetName()] = true
			}
		}
	}
	return out
}

// WaitFor blocks until cond holds for the spans received so far, or timeout
// passes, and reports whether it held. cond is re-evaluated after every
// export, never on a timer.
func (r *Receiver) WaitFor(cond func([]*tracepb.Span) bool, timeout time.Duration) bool {
	return r.wait(func() bool { return cond(r.spansLocked()) }, timeout)
}

// WaitForMetric blocks until a metric named name has arrived, or timeout
// passes, and reports whether it did.
func (r *Receiver) WaitForMetric(name string, timeout time.Duration) bool {
	return r.wait(func() bool { return r.metricNamesLocked()[name] }, timeout)
}

// wait re-evaluates cond (called with mu held) after every export.
func (r *Receiver) wait(cond func() bool, timeout time.Duration) bool {
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for {
		r.mu.Lock()
		ok, ch := cond(), r.changed
		r.mu.Unlock()
		if ok {
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
