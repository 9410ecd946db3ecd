package httpserver_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.uber.org/goleak"

	"github.com/sightlinehq/sightline/internal/testproc"
	"github.com/sightlinehq/sightline/platform/httpserver"
	"github.com/sightlinehq/sightline/platform/logging"
	"github.com/sightlinehq/sightline/platform/telemetry"
	"github.com/sightlinehq/sightline/platform/telemetry/telemetrytest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type env struct {
	srv    *httpserver.Server
	base   string
	tel    *telemetry.Telemetry
	spans  *tracetest.InMemoryExporter
	logs   *testproc.LogBuffer
	client *http.Client
}

// start runs h on 127.0.0.1:0 until the test ends.
func start(t *testing.T, h http.Handler, opts httpserver.Options) *env {
	t.Helper()
	e := &env{spans: tracetest.NewInMemoryExporter(), logs: &testproc.LogBuffer{}}
	tel, err := telemetry.Setup(context.Background(), telemetry.Options{ServiceName: "gateway", SpanExporter: e.spans})
	if err != nil {
		t.Fatal(err)
	}
	e.tel = tel
	logger := logging.New(e.logs, logging.Options{Service: "gateway", Level: slog.LevelDebug})
	e.srv = httpserver.New("127.0.0.1:0", h, tel, logger, opts)
	served := serve(t, e.srv)
	if strings.HasSuffix(e.srv.Addr(), ":0") {
		t.Fatalf("Addr() = %s after Listen", e.srv.Addr())
	}
	e.base = "http://" + e.srv.Addr()

	tr := &http.Transport{}
	e.client = &http.Client{Transport: tr, Timeout: 10 * time.Second}
	t.Cleanup(func() {
		tr.CloseIdleConnections()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := e.srv.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		if err := <-served; err != nil {
			t.Errorf("Serve returned %v after Shutdown, want nil", err)
		}
		_ = tel.Shutdown(context.Background())
	})
	return e
}

// serve listens and serves s in the background; served answers what Serve
// returned.
func serve(t *testing.T, s *httpserver.Server) (served <-chan error) {
	t.Helper()
	if err := s.Listen(); err != nil {
		t.Fatal(err)
	}
	ch := make(chan error, 1)
	go func() { ch <- s.Serve() }()
	return ch
}

func (e *env) get(t *testing.T, path string, hdr ...string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, e.base+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := e.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(body)
}

// waitSpan waits (bounded) for a finished span with the given name.
func (e *env) waitSpan(t *testing.T, name string) tracetest.SpanStub {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		_ = e.tel.ForceFlush(context.Background())
		for _, s := range e.spans.GetSpans() {
			if s.Name == name {
				return s
			}
		}
		if time.Now().After(deadline) {
			var names []string
			for _, s := range e.spans.GetSpans() {
				names = append(names, s.Name)
			}
			t.Fatalf("no span %q; have %q", name, names)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func testMux() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /items/{id}", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "item %s", r.PathValue("id"))
	})
	mux.HandleFunc("/any", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "nope", http.StatusNotFound)
	})
	mux.HandleFunc("GET /panic", func(http.ResponseWriter, *http.Request) {
		panic("boom: secret internals")
	})
	mux.HandleFunc("GET /panic-after-write", func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusAccepted)
		_, _ = io.WriteString(w, "partial")
		panic("late boom")
	})
	mux.HandleFunc("GET /abort", func(http.ResponseWriter, *http.Request) {
		panic(http.ErrAbortHandler)
	})
	return mux
}

func TestSpanNamedAfterRouteAndTraceHeader(t *testing.T) {
	e := start(t, testMux(), httpserver.Options{})
	resp, body := e.get(t, "/items/42")
	if resp.StatusCode != 200 || body != "item 42" {
		t.Fatalf("got %d %q", resp.StatusCode, body)
	}
	span := e.waitSpan(t, "GET /items/{id}")
	if got := resp.Header.Get(httpserver.TraceIDHeader); got != span.SpanContext.TraceID().String() {
		t.Fatalf("%s = %q, span trace id %s", httpserver.TraceIDHeader, got, span.SpanContext.TraceID())
	}

	// A pattern without a method gets the request's method.
	resp, _ = e.get(t, "/any")
	if resp.StatusCode != 404 || resp.Header.Get(httpserver.TraceIDHeader) == "" {
		t.Fatalf("error response lacks a trace id: %d %v", resp.StatusCode, resp.Header)
	}
	e.waitSpan(t, "GET /any")

	// Unrouted requests keep a low-cardinality name.
	e.get(t, "/no/such/path/123")
	e.waitSpan(t, "GET")
}

func TestIncomingTraceContextIsContinued(t *testing.T) {
	e := start(t, testMux(), httpserver.Options{})
	const tid = "4bf92f3577b34da6a3ce929d0e0e4736"
	resp, _ := e.get(t, "/items/1", "Traceparent", "00-"+tid+"-00f067aa0ba902b7-01")
	if got := resp.Header.Get(httpserver.TraceIDHeader); got != tid {
		t.Fatalf("trace id = %q, want the caller's %s", got, tid)
	}
	span := e.waitSpan(t, "GET /items/{id}")
	if span.Parent.SpanID().String() != "00f067aa0ba902b7" {
		t.Fatalf("parent = %s", span.Parent.SpanID())
	}
}

func TestPanicRecovery(t *testing.T) {
	e := start(t, testMux(), httpserver.Options{})

	resp, body := e.get(t, "/panic")
	if resp.StatusCode != http.StatusInternalServerError {
		t.Fatalf("status = %d", resp.StatusCode)
	}
	tid := resp.Header.Get(httpserver.TraceIDHeader)
	if tid == "" || !strings.Contains(body, tid) || strings.Contains(body, "secret internals") {
		t.Fatalf("body %q (trace id %q)", body, tid)
	}

	// Headers already sent: the status cannot change, but it is logged.
	resp, body = e.get(t, "/panic-after-write")
	if resp.StatusCode != http.StatusAccepted || body != "partial" {
		t.Fatalf("after-write panic: %d %q", resp.StatusCode, body)
	}

	// The server survives.
	if resp, _ := e.get(t, "/items/7"); resp.StatusCode != 200 {
		t.Fatalf("after panic: %d", resp.StatusCode)
	}

	logs := e.logs.String()
	for _, want := range []string{`"msg":"HTTP handler panicked"`, `"http.route":"GET /panic"`, "boom: secret internals", "late boom", "httpserver_test.go", `"trace_id":"` + tid + `"`} {
		if !strings.Contains(logs, want) {
			t.Errorf("logs lack %s:\n%s", want, logs)
		}
	}
	if n := telemetrytest.CounterSum(t, e.tel, "sightline_http_server_panics_total"); n != 2 {
		t.Errorf("panic counter = %v, want 2", n)
	}
	span := e.waitSpan(t, "GET /panic")
	if span.Status.Code.String() != "Error" {
		t.Errorf("span status = %v", span.Status)
	}
}

func TestAbortHandlerIsNotRecovered(t *testing.T) {
	e := start(t, testMux(), httpserver.Options{})
	resp, err := e.client.Get(e.base + "/abort")
	if err == nil {
		resp.Body.Close()
		t.Fatalf("aborted response arrived: %d", resp.StatusCode)
	}
	if strings.Contains(e.logs.String(), "HTTP handler panicked") {
		t.Fatal("ErrAbortHandler was logged as a panic")
	}
	if resp, _ := e.get(t, "/items/7"); resp.StatusCode != 200 {
		t.Fatalf("after abort: %d", resp.StatusCode)
	}
}

func TestListenConflict(t *testing.T) {
	e := start(t, testMux(), httpserver.Options{})
	other := httpserver.New(e.srv.Addr(), http.NotFoundHandler(), nil, nil, httpserver.Options{})
	err := other.Listen()
	if err == nil {
		_ = other.Shutdown(context.Background())
		t.Fatal("second Listen on a bound port succeeded")
	}
	if !strings.Contains(err.Error(), e.srv.Addr()) {
		t.Fatalf("error does not name the address: %v", err)
	}
}

func TestShutdownWithoutServeReleasesPort(t *testing.T) {
	s := httpserver.New("127.0.0.1:0", http.NotFoundHandler(), nil, nil, httpserver.Options{})
	if err := s.Listen(); err != nil {
		t.Fatal(err)
	}
	addr := s.Addr()
	if err := s.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	again := httpserver.New(addr, http.NotFoundHandler(), nil, nil, httpserver.Options{})
	if err := again.Listen(); err != nil {
		t.Fatalf("port not released: %v", err)
	}
	_ = again.Shutdown(context.Background())
}

func TestGracefulShutdownWaitsForInFlight(t *testing.T) {
	entered, release := make(chan struct{}), make(chan struct{})
	mux := http.NewServeMux()
	mux.HandleFunc("GET /slow", func(w http.ResponseWriter, _ *http.Request) {
		close(entered)
		<-release
		_, _ = io.WriteString(w, "done")
	})
	s := httpserver.New("127.0.0.1:0", mux, nil, nil, httpserver.Options{})
	served := serve(t, s)

	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	type result struct {
		body string
		err  error
	}
	got := make(chan result, 1)
	go func() {
		resp, err := (&http.Client{Transport: tr}).Get("http://" + s.Addr() + "/slow")
		if err != nil {
			got <- result{err: err}
			return
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		got <- result{string(b), err}
	}()
	<-entered

	shut := make(chan error, 1)
	go func() { shut <- s.Shutdown(context.Background()) }()
	select {
	case err := <-served: // Serve returns as soon as Shutdown starts
		if err != nil {
			t.Fatalf("Serve = %v, want nil", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return after Shutdown")
	}
	select {
	case err := <-shut:
		t.Fatalf("Shutdown returned (%v) with a request in flight", err)
	default:
	}
	close(release)
	if r := <-got; r.err != nil || r.body != "done" {
		t.Fatalf("in-flight request: %q, %v", r.body, r.err)
	}
	if err := <-shut; err != nil {
		t.Fatal(err)
	}
}

func TestShutdownDeadline(t *testing.T) {
	entered, release := make(chan struct{}), make(chan struct{})
	defer close(release)
	s := httpserver.New("127.0.0.1:0", http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
		close(entered)
		<-release
	}), nil, nil, httpserver.Options{})
	served := serve(t, s)
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	done := make(chan struct{})
	go func() {
		defer close(done)
		if resp, err := (&http.Client{Transport: tr}).Get("http://" + s.Addr()); err == nil {
			resp.Body.Close()
		}
	}()
	<-entered
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := s.Shutdown(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Shutdown with an expired context = %v", err)
	}
	if err := <-served; err != nil {
		t.Fatal(err)
	}
	release <- struct{}{}
	<-done
}
