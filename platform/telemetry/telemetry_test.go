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
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
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
		attrs[string(kv.Key)] = kv.Value.Emit()
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
	tel := setup(t, telemetry.Options{ServiceName: "svc"})
	_, span := tel.Tracer("test").Start(context.Background(), "work")
	defer span.End()
	if !span.SpanContext().IsValid() {
		t.Fatal("span context should be valid without an exporter, for log and error correlation")
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
