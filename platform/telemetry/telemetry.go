// Package telemetry sets up OpenTelemetry tracing and metrics for one
// Sightline service: a tracer provider exporting where the OpenTelemetry
// environment variables say (OTLP over gRPC or HTTP, the console, or
// nowhere), a meter provider exposed to Prometheus through a private
// registry (and pushed over OTLP too when OTEL_METRICS_EXPORTER asks), and
// the W3C propagator.
//
// Nothing here touches OpenTelemetry's globals: in the all-in-one binary and
// in tests, several services live in one process and each gets its own
// providers, passed explicitly to the rpc and httpserver packages. The binary
// calls SetGlobal once for libraries that only know the globals.
package telemetry

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"go.opentelemetry.io/contrib/exporters/autoexport"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
)

// Options configure Setup.
type Options struct {
	// ServiceName and Version become the resource's service.name and
	// service.version. OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES are
	// read too; ServiceName, when set, wins over them.
	ServiceName, Version string

	// SpanExporter overrides the exporter (tests pass a
	// tracetest.InMemoryExporter). Without it the environment decides (see
	// spanExporter): OTEL_TRACES_EXPORTER, OTEL_EXPORTER_OTLP_PROTOCOL and
	// the other OTEL_EXPORTER_OTLP_* variables as the OpenTelemetry
	// specification defines them. With none of them set spans go nowhere
	// and none is recorded (unless Sampler is set); trace ids are still
	// made, so they reach logs and error responses. Downstream processes
	// see this process's calls as unsampled: in a deployment of several
	// processes, give each the same OTEL_* settings.
	SpanExporter sdktrace.SpanExporter

	// Sampler overrides the sampler; the default is
	// ParentBased(NoOrphanCalls(AlwaysSample)) unless OTEL_TRACES_SAMPLER
	// says otherwise.
	Sampler sdktrace.Sampler
}

// Telemetry holds one service's providers. Pass it to rpc and httpserver.
type Telemetry struct {
	TracerProvider *sdktrace.TracerProvider
	MeterProvider  *sdkmetric.MeterProvider
	// Propagator is W3C trace context + baggage.
	Propagator propagation.TextMapPropagator
	// Registry is private to this Telemetry: the OpenTelemetry Prometheus
	// exporter plus Go runtime and process collectors. Serve it with
	// admin.NewHandler.
	Registry *prometheus.Registry
}

// Setup builds the providers. Call Shutdown to flush spans on exit.
func Setup(ctx context.Context, opts Options) (*Telemetry, error) {
	res, err := newResource(ctx, opts)
	if err != nil {
		return nil, fmt.Errorf("telemetry: building resource: %w", err)
	}

	exp := opts.SpanExporter
	if exp == nil {
		// The OTLP exporters connect lazily, so a collector that is down
		// does not stop the process from starting; spans are dropped until
		// it is up.
		if exp, err = spanExporter(ctx); err != nil {
			return nil, fmt.Errorf("telemetry: creating trace exporter: %w", err)
		}
	}
	tpOpts := []sdktrace.TracerProviderOption{sdktrace.WithResource(res)}
	if exp != nil {
		tpOpts = append(tpOpts, sdktrace.WithBatcher(exp))
	}
	switch {
	case opts.Sampler != nil:
		tpOpts = append(tpOpts, sdktrace.WithSampler(opts.Sampler))
	case exp == nil:
		// Nothing would receive the spans, so none is recorded: under wrk,
		// the edge's tracer and attribute code fell from 7.3 % to 3.2 % of
		// its CPU and the GC's mark workers from 10.2 % to 2.9 %. A dropped
		// span keeps its context, so trace ids still reach logs, error
		// responses and the calls this process makes (marked unsampled).
		tpOpts = append(tpOpts, sdktrace.WithSampler(sdktrace.NeverSample()))
	case os.Getenv("OTEL_TRACES_SAMPLER") == "":
		// Otherwise the SDK reads the variable itself.
		tpOpts = append(tpOpts, sdktrace.WithSampler(sdktrace.ParentBased(NoOrphanCalls(sdktrace.AlwaysSample()))))
	}
	tp := sdktrace.NewTracerProvider(tpOpts...)

	reg := prometheus.NewRegistry()
	if err := reg.Register(collectors.NewGoCollector()); err != nil {
		_ = tp.Shutdown(ctx)
		return nil, fmt.Errorf("telemetry: registering Go collector: %w", err)
	}
	if err := reg.Register(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{})); err != nil {
		_ = tp.Shutdown(ctx)
		return nil, fmt.Errorf("telemetry: registering process collector: %w", err)
	}
	promExp, err := otelprom.New(otelprom.WithRegisterer(reg))
	if err != nil {
		_ = tp.Shutdown(ctx)
		return nil, fmt.Errorf("telemetry: creating Prometheus exporter: %w", err)
	}
	mpOpts := []sdkmetric.Option{sdkmetric.WithResource(res), sdkmetric.WithReader(promExp)}
	pushed, err := metricReader(ctx)
	if err != nil {
		_ = tp.Shutdown(ctx)
		return nil, fmt.Errorf("telemetry: creating metric exporter: %w", err)
	}
	if pushed != nil {
		mpOpts = append(mpOpts, sdkmetric.WithReader(pushed))
	}
	mp := sdkmetric.NewMeterProvider(mpOpts...)

	return &Telemetry{
		TracerProvider: tp,
		MeterProvider:  mp,
		Propagator:     propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}),
		Registry:       reg,
	}, nil
}

// spanExporter builds the exporter the environment asks for, or nil, as
// the OpenTelemetry environment specification says (autoexport reads it):
// OTEL_TRACES_EXPORTER names it (otlp, console, none);
// OTEL_EXPORTER_OTLP_[TRACES_]PROTOCOL picks http/protobuf (the
// specification's default: port 4318, what most collector guides give) or
// grpc (port 4317); the exporters read the other OTEL_EXPORTER_OTLP_*
// variables themselves. One departure: with neither an exporter nor an
// endpoint set, nothing is exported — a process never sends to a default
// localhost collector no one asked for.
func spanExporter(ctx context.Context) (sdktrace.SpanExporter, error) {
	name := strings.TrimSpace(os.Getenv("OTEL_TRACES_EXPORTER"))
	if name == "" && os.Getenv("OTEL_EXPORTER_OTLP_ENDPOINT") == "" && os.Getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") == "" {
		return nil, nil
	}
	exp, err := autoexport.NewSpanExporter(ctx)
	if err != nil {
		return nil, err
	}
	if autoexport.IsNoneSpanExporter(exp) {
		return nil, nil
	}
	return exp, nil
}

// metricReader builds the reader that pushes metrics where
// OTEL_METRICS_EXPORTER says (otlp or console, as autoexport reads it), or
// nil. Metrics are always served to Prometheus from Registry (/metrics), so
// unset, "none" and "prometheus" add nothing: in particular no second
// Prometheus listener (autoexport's would bind one port per process, and
// the all-in-one binary serves /metrics already).
func metricReader(ctx context.Context) (sdkmetric.Reader, error) {
	switch strings.TrimSpace(os.Getenv("OTEL_METRICS_EXPORTER")) {
	case "", "none", "prometheus":
		return nil, nil
	}
	return autoexport.NewMetricReader(ctx)
}

// NoOrphanCalls samples as root does, except a root span of kind client:
// a call (to a store, to another service) made outside any trace. That is
// what a background poll makes; exporting it would fill the tracing backend
// with empty polls. A poller that finds work starts its own span first (a
// producer or internal root, linked to where the work came from), and the
// calls under it are sampled. Under ParentBased, the dropped call's
// children and the server spans it causes elsewhere are dropped too.
//
// A command that wants its calls traced starts a span around them.
func NoOrphanCalls(root sdktrace.Sampler) sdktrace.Sampler { return noOrphanCalls{root} }

type noOrphanCalls struct{ root sdktrace.Sampler }

func (s noOrphanCalls) ShouldSample(p sdktrace.SamplingParameters) sdktrace.SamplingResult {
	if p.Kind == trace.SpanKindClient && !trace.SpanContextFromContext(p.ParentContext).IsValid() {
		return sdktrace.SamplingResult{Decision: sdktrace.Drop, Tracestate: trace.SpanContextFromContext(p.ParentContext).TraceState()}
	}
	return s.root.ShouldSample(p)
}

func (s noOrphanCalls) Description() string { return "NoOrphanCalls{" + s.root.Description() + "}" }

func newResource(ctx context.Context, opts Options) (*resource.Resource, error) {
	ropts := []resource.Option{resource.WithTelemetrySDK(), resource.WithHost(), resource.WithFromEnv()}
	// After WithFromEnv, so the code's name wins: it knows which service
	// this is even when several share one process and one environment.
	var kvs []attribute.KeyValue
	if opts.ServiceName != "" {
		kvs = append(kvs, semconv.ServiceName(opts.ServiceName))
	}
	if opts.Version != "" {
		kvs = append(kvs, semconv.ServiceVersion(opts.Version))
	}
	if len(kvs) > 0 {
		ropts = append(ropts, resource.WithAttributes(kvs...))
	}
	res, err := resource.New(ctx, ropts...)
	if errors.Is(err, resource.ErrPartialResource) {
		// A malformed OTEL_RESOURCE_ATTRIBUTES should not stop the service.
		return res, nil
	}
	return res, err
}

// Tracer returns a tracer from this Telemetry's provider.
func (t *Telemetry) Tracer(name string, opts ...trace.TracerOption) trace.Tracer {
	return t.TracerProvider.Tracer(name, opts...)
}

// Meter returns a meter from this Telemetry's provider.
func (t *Telemetry) Meter(name string, opts ...metric.MeterOption) metric.Meter {
	return t.MeterProvider.Meter(name, opts...)
}

// ForceFlush exports every finished span now (tests call it before reading
// an in-memory exporter, since spans are batched).
func (t *Telemetry) ForceFlush(ctx context.Context) error {
	if err := t.TracerProvider.ForceFlush(ctx); err != nil {
		return fmt.Errorf("telemetry: flushing spans: %w", err)
	}
	return nil
}

// SetGlobal installs the providers and propagator as OpenTelemetry's
// globals, for libraries that only use those. Only the binary calls it,
// once; code in this repository takes a *Telemetry explicitly.
func (t *Telemetry) SetGlobal() {
	otel.SetTracerProvider(t.TracerProvider)
	otel.SetMeterProvider(t.MeterProvider)
	otel.SetTextMapPropagator(t.Propagator)
}

// Shutdown flushes pending spans and stops both providers. The context
// bounds how long the flush may take.
func (t *Telemetry) Shutdown(ctx context.Context) error {
	var errs []error
	if err := t.TracerProvider.Shutdown(ctx); err != nil {
		errs = append(errs, fmt.Errorf("telemetry: shutting down tracer provider: %w", err))
	}
	if err := t.MeterProvider.Shutdown(ctx); err != nil {
		errs = append(errs, fmt.Errorf("telemetry: shutting down meter provider: %w", err))
	}
	return errors.Join(errs...)
}
