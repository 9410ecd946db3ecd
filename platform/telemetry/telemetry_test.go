package telemetry_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"go.uber.org/goleak"

	"github.com/sightlinehq/sightline/platform/telemetry"
	"github.com/sightlinehq/sightline/platform/telemetry/otlptest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func setup(t *testing.T, opts telemetry.Options) *telemetry.Telemetry {
	t.Helper()
	tel, err := telemetry.Setup(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := tel.Shutdown(context.Background()); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	return tel
}

func TestSpanReachesExporter(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	tel := setup(t, telemetry.Options{ServiceName: "svc-test", Version: "1.2.3", SpanExporter: exp})

	_, span := tel.Tracer("test").Start(context.Background(), "work")
	span.End()
	if err := tel.ForceFlush(context.Background()); err != nil {
		t.Fatal(err)
	}
	spans := exp.GetSpans()
	if len(spans) != 1 || spans[0].Name != "work" {
		t.Fatalf("spans = %v", spans.Snapshots())
	}
	attrs := map[string]string{}
	for _, kv := range spans[0].Resource.Attributes() {
		attrs[string(kv.Key)] = kv.Value.String()
	}
	if attrs["service.name"] != "svc-test" || attrs["service.version"] != "1.2.3" {
		t.Fatalf("resource = %v", attrs)
	}
	if !spans[0].SpanContext.IsSampled() {
		t.Fatal("default sampler should sample root spans")
	}
}

func TestNoExporterStillMakesTraceIDs(t *testing.T) {
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "")
	t.Setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "")
	t.Setenv("OTEL_TRACES_EXPORTER", "")
	tel := setup(t, telemetry.Options{ServiceName: "svc"})
	ctx, span := tel.Tracer("test").Start(context.Background(), "work")
	defer span.End()
	if !span.SpanContext().IsValid() {
		t.Fatal("span context should be valid without an exporter, for log and error correlation")
	}
	// Nothing receives them, so nothing is recorded: not the root, not a
	// child (which keeps the root's trace id), not a remote caller's
	// child, even when the caller sampled it.
	_, child := tel.Tracer("test").Start(ctx, "step")
	defer child.End()
	remote := trace.ContextWithRemoteSpanContext(context.Background(), trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: trace.TraceID{1}, SpanID: trace.SpanID{2}, TraceFlags: trace.FlagsSampled, Remote: true}))
	_, server := tel.Tracer("test").Start(remote, "serve", trace.WithSpanKind(trace.SpanKindServer))
	defer server.End()
	for _, s := range []trace.Span{span, child, server} {
		if s.IsRecording() || s.SpanContext().IsSampled() {
			t.Errorf("recording %v, sampled %v; want neither without an exporter", s.IsRecording(), s.SpanContext().IsSampled())
		}
	}
	if child.SpanContext().TraceID() != span.SpanContext().TraceID() || server.SpanContext().TraceID() != (trace.TraceID{1}) {
		t.Error("spans that are not recorded should keep their trace's id")
	}
}

func TestExplicitSamplerWithoutExporter(t *testing.T) {
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "")
	t.Setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "")
	t.Setenv("OTEL_TRACES_EXPORTER", "")
	tel := setup(t, telemetry.Options{ServiceName: "svc", Sampler: sdktrace.AlwaysSample()})
	_, span := tel.Tracer("test").Start(context.Background(), "work")
	defer span.End()
	if !span.IsRecording() {
		t.Fatal("a sampler the caller sets should decide, exporter or not")
	}
}

func TestCounterInRegistry(t *testing.T) {
	tel := setup(t, telemetry.Options{ServiceName: "svc", SpanExporter: tracetest.NewNoopExporter()})
	c, err := tel.Meter("test").Int64Counter("sightline.test.things")
	if err != nil {
		t.Fatal(err)
	}
	c.Add(context.Background(), 3)

	n, err := count(tel.Registry, "sightline_test_things_total")
	if err != nil || n != 1 {
		t.Fatalf("count = %d, err = %v", n, err)
	}
	mfs, err := tel.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, mf := range mfs {
		names = append(names, mf.GetName())
		if mf.GetName() == "sightline_test_things_total" {
			if v := mf.GetMetric()[0].GetCounter().GetValue(); v != 3 {
				t.Fatalf("counter = %v", v)
			}
		}
	}
	joined := strings.Join(names, " ")
	for _, want := range []string{"go_goroutines", "process_", "target_info"} {
		if !strings.Contains(joined, want) {
			t.Errorf("registry lacks %s: %s", want, joined)
		}
	}
}

func TestRegistriesArePrivate(t *testing.T) {
	a := setup(t, telemetry.Options{ServiceName: "a", SpanExporter: tracetest.NewNoopExporter()})
	b := setup(t, telemetry.Options{ServiceName: "b", SpanExporter: tracetest.NewNoopExporter()})
	c, _ := a.Meter("test").Int64Counter("only.in.a")
	c.Add(context.Background(), 1)
	if n, _ := count(b.Registry, "only_in_a_total"); n != 0 {
		t.Fatal("a's metric shows up in b's registry")
	}
	if n, _ := count(a.Registry, "only_in_a_total"); n != 1 {
		t.Fatal("a's metric missing from a's registry")
	}
}

func TestSetupDoesNotTouchGlobals(t *testing.T) {
	before := otel.GetTracerProvider()
	tel := setup(t, telemetry.Options{ServiceName: "svc", SpanExporter: tracetest.NewNoopExporter()})
	if otel.GetTracerProvider() != before {
		t.Fatal("Setup changed the global tracer provider")
	}

	// The propagator carries trace context and baggage.
	ctx, span := tel.Tracer("t").Start(context.Background(), "s")
	defer span.End()
	h := http.Header{}
	tel.Propagator.Inject(ctx, propagation.HeaderCarrier(h))
	if !strings.Contains(h.Get("Traceparent"), span.SpanContext().TraceID().String()) {
		t.Fatalf("traceparent = %q", h.Get("Traceparent"))
	}
	fields := strings.Join(tel.Propagator.Fields(), ",")
	if !strings.Contains(fields, "baggage") {
		t.Fatalf("fields = %s", fields)
	}
}

func TestOTLPExport(t *testing.T) {
	rcv := otlptest.NewReceiver(t)
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", rcv.Endpoint())
	t.Setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")
	t.Setenv("OTEL_EXPORTER_OTLP_INSECURE", "true")

	tel, err := telemetry.Setup(context.Background(), telemetry.Options{ServiceName: "svc-otlp"})
	if err != nil {
		t.Fatal(err)
	}
	_, span := tel.Tracer("test").Start(context.Background(), "exported")
	span.End()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := tel.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	// Shutdown flushed synchronously: the span must be there already.
	if !rcv.WaitFor(otlptest.HasSpan("exported"), 0) {
		t.Fatalf("span not received; got %v", rcv.Spans())
	}
	rs := rcv.ResourceSpans()
	var svc string
	for _, kv := range rs[0].GetResource().GetAttributes() {
		if kv.GetKey() == "service.name" {
			svc = kv.GetValue().GetStringValue()
		}
	}
	if svc != "svc-otlp" {
		t.Fatalf("service.name = %q", svc)
	}
}

func TestReceiverWaitFor(t *testing.T) {
	rcv := otlptest.NewReceiver(t)
	if rcv.WaitFor(func(s []*tracepb.Span) bool { return len(s) > 0 }, 10*time.Millisecond) {
		t.Fatal("WaitFor held with no spans")
	}
	t.Setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", rcv.Endpoint())
	t.Setenv("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "grpc")
	tel := setup(t, telemetry.Options{ServiceName: "svc"})
	_, span := tel.Tracer("test").Start(context.Background(), "later")
	span.End()
	flushed := make(chan error, 1)
	go func() { flushed <- tel.ForceFlush(context.Background()) }()
	if !rcv.WaitFor(otlptest.HasSpan("later"), 10*time.Second) {
		t.Fatal("span never arrived")
	}
	if err := <-flushed; err != nil {
		t.Fatal(err)
	}
}

// count returns how many series of the metric family name reg holds.
func count(reg *prometheus.Registry, name string) (int, error) {
	mfs, err := reg.Gather()
	if err != nil {
		return 0, err
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return len(mf.GetMetric()), nil
		}
	}
	return 0, nil
}

// TestOTLPProtocolFromEnvironment: the environment picks the exporter's
// protocol, each case against a real receiver speaking only that one.
func TestOTLPProtocolFromEnvironment(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  map[string]string
		http bool // the receiver speaks OTLP/HTTP, else OTLP/gRPC
	}{
		{name: "no protocol is http/protobuf, the specification's default", env: map[string]string{}, http: true},
		{name: "grpc", env: map[string]string{"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}},
		{name: "http/protobuf", env: map[string]string{"OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf"}, http: true},
		{name: "traces protocol wins", http: true, env: map[string]string{
			"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "http/protobuf"}},
		{name: "otlp named", http: true, env: map[string]string{
			"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rcv := otlptest.NewReceiver(t)
			if tc.http {
				rcv = otlptest.NewHTTPReceiver(t)
			}
			clearOTELEnv(t)
			t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", rcv.Endpoint())
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			tel := setup(t, telemetry.Options{ServiceName: "svc-" + tc.name})
			_, span := tel.Tracer("test").Start(context.Background(), "exported "+tc.name)
			span.End()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := tel.ForceFlush(ctx); err != nil {
				t.Fatal(err)
			}
			if !rcv.WaitFor(otlptest.HasSpan("exported "+tc.name), 0) {
				t.Fatalf("span not received; got %v", rcv.Spans())
			}
		})
	}
}

// TestTracesExporterNone: OTEL_TRACES_EXPORTER=none exports nothing, even
// with an endpoint set.
func TestTracesExporterNone(t *testing.T) {
	rcv := httpReceiverEnv(t)
	t.Setenv("OTEL_TRACES_EXPORTER", "none")
	tel := setup(t, telemetry.Options{ServiceName: "svc"})
	_, span := tel.Tracer("test").Start(context.Background(), "not exported")
	span.End()
	if err := tel.ForceFlush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if !span.SpanContext().IsValid() {
		t.Fatal("span context should stay valid without an exporter")
	}
	if s := rcv.Spans(); len(s) != 0 {
		t.Fatalf("exported with OTEL_TRACES_EXPORTER=none: %v", s)
	}
}

func TestBadExporterSettingsFailSetup(t *testing.T) {
	for _, env := range []map[string]string{
		{"OTEL_TRACES_EXPORTER": "jaeger-thrift"},
		{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:1", "OTEL_EXPORTER_OTLP_PROTOCOL": "http/json"},
		{"OTEL_METRICS_EXPORTER": "statsd"},
	} {
		clearOTELEnv(t)
		for k, v := range env {
			t.Setenv(k, v)
		}
		if tel, err := telemetry.Setup(context.Background(), telemetry.Options{ServiceName: "svc"}); err == nil {
			_ = tel.Shutdown(context.Background())
			t.Errorf("Setup with %v succeeded", env)
		}
	}
}

// TestMetricsPushedAndServed: OTEL_METRICS_EXPORTER=otlp pushes metrics to
// a real OTLP/HTTP receiver while the Prometheus registry (/metrics) keeps
// serving them.
func TestMetricsPushedAndServed(t *testing.T) {
	rcv := httpReceiverEnv(t)
	t.Setenv("OTEL_METRICS_EXPORTER", "otlp")
	t.Setenv("OTEL_METRIC_EXPORT_INTERVAL", "100")
	tel := setup(t, telemetry.Options{ServiceName: "svc", SpanExporter: tracetest.NewNoopExporter()})
	c, err := tel.Meter("test").Int64Counter("sightline.test.pushed")
	if err != nil {
		t.Fatal(err)
	}
	c.Add(context.Background(), 2)
	if !rcv.WaitForMetric("sightline.test.pushed", 10*time.Second) {
		t.Fatalf("metric not pushed; got %v", rcv.MetricNames())
	}
	if n, err := count(tel.Registry, "sightline_test_pushed_total"); err != nil || n != 1 {
		t.Fatalf("registry count = %d, err = %v", n, err)
	}
}

// TestMetricsExporterPrometheusIsOurs: "prometheus" is the registry this
// package already serves, not a listener per Telemetry (two in one process
// would fight for one port).
func TestMetricsExporterPrometheusIsOurs(t *testing.T) {
	clearOTELEnv(t)
	t.Setenv("OTEL_METRICS_EXPORTER", "prometheus")
	for _, name := range []string{"a", "b"} {
		tel := setup(t, telemetry.Options{ServiceName: name, SpanExporter: tracetest.NewNoopExporter()})
		c, _ := tel.Meter("test").Int64Counter("sightline.test.prom")
		c.Add(context.Background(), 1)
		if n, err := count(tel.Registry, "sightline_test_prom_total"); err != nil || n != 1 {
			t.Fatalf("%s: registry count = %d, err = %v", name, n, err)
		}
	}
}

// clearOTELEnv unsets, for the test, every variable that would change the
// exporters under test.
// httpReceiverEnv starts a real OTLP/HTTP receiver and points the OTEL_*
// environment (cleared first) at it over http/protobuf.
func httpReceiverEnv(t *testing.T) *otlptest.Receiver {
	t.Helper()
	rcv := otlptest.NewHTTPReceiver(t)
	clearOTELEnv(t)
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", rcv.Endpoint())
	t.Setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")
	return rcv
}

func clearOTELEnv(t *testing.T) {
	t.Helper()
	for _, k := range []string{
		"OTEL_TRACES_EXPORTER", "OTEL_METRICS_EXPORTER",
		"OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
		"OTEL_EXPORTER_OTLP_PROTOCOL", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_METRICS_PROTOCOL",
	} {
		t.Setenv(k, "")
	}
}

// TestCallsOutsideATraceAreNotExported: a client span with no parent (a
// background poll's store or RPC call) is dropped, with what it causes
// downstream; work that starts its own span has its calls exported.
func TestCallsOutsideATraceAreNotExported(t *testing.T) {
	t.Setenv("OTEL_TRACES_SAMPLER", "")
	exp := tracetest.NewInMemoryExporter()
	tel := setup(t, telemetry.Options{ServiceName: "svc", SpanExporter: exp})
	tr := tel.Tracer("test")
	ctx := context.Background()

	pollCtx, poll := tr.Start(ctx, "store.outbox_pending", trace.WithSpanKind(trace.SpanKindClient))
	if poll.SpanContext().IsSampled() || !poll.SpanContext().IsValid() {
		t.Fatalf("orphan call: sampled %v, valid %v; want a valid, unsampled context", poll.SpanContext().IsSampled(), poll.SpanContext().IsValid())
	}
	// What the call causes in another service: its context arrives
	// through the propagator, unsampled.
	h := http.Header{}
	tel.Propagator.Inject(pollCtx, propagation.HeaderCarrier(h))
	_, server := tr.Start(tel.Propagator.Extract(ctx, propagation.HeaderCarrier(h)), "server", trace.WithSpanKind(trace.SpanKindServer))
	server.End()
	poll.End()

	workCtx, work := tr.Start(ctx, "outbox deliver", trace.WithSpanKind(trace.SpanKindProducer))
	_, call := tr.Start(workCtx, "UpsertSessions", trace.WithSpanKind(trace.SpanKindClient))
	call.End()
	work.End()
	if err := tel.ForceFlush(ctx); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range exp.GetSpans() {
		names = append(names, s.Name)
	}
	if strings.Join(names, ",") != "UpsertSessions,outbox deliver" {
		t.Fatalf("exported %v; want only the work and its call", names)
	}
}

// TestSamplerFromEnvironment: OTEL_TRACES_SAMPLER replaces the default,
// orphan calls included.
func TestSamplerFromEnvironment(t *testing.T) {
	t.Setenv("OTEL_TRACES_SAMPLER", "always_on")
	exp := tracetest.NewInMemoryExporter()
	tel := setup(t, telemetry.Options{ServiceName: "svc", SpanExporter: exp})
	_, span := tel.Tracer("test").Start(context.Background(), "call", trace.WithSpanKind(trace.SpanKindClient))
	span.End()
	if err := tel.ForceFlush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := len(exp.GetSpans()); n != 1 {
		t.Fatalf("%d spans exported with OTEL_TRACES_SAMPLER=always_on", n)
	}
}
