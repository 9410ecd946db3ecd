// Package telemetry sets up OpenTelemetry tracing and metrics for one
// Sightline service: a tracer provider exporting over OTLP, a meter provider
// exposed to Prometheus through a private registry, and the W3C propagator.
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
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
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
	// tracetest.InMemoryExporter). Without it, spans go over OTLP/gRPC when
	// OTEL_EXPORTER_OTLP_ENDPOINT or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT is set
	// (the exporter reads the other OTEL_EXPORTER_OTLP_* variables itself),
	// and nowhere otherwise: spans are still created, so trace ids still
	// reach logs and error responses.
	SpanExporter sdktrace.SpanExporter

	// Sampler overrides the sampler; the default is ParentBased(AlwaysSample)
	// unless OTEL_TRACES_SAMPLER says otherwise.
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
	if exp == nil && otlpConfigured() {
		// The exporter dials lazily, so a collector that is down does not
		// stop the process from starting; spans are dropped until it is up.
		exp, err = otlptracegrpc.New(ctx)
		if err != nil {
			return nil, fmt.Errorf("telemetry: creating OTLP trace exporter: %w", err)
		}
	}
	tpOpts := []sdktrace.TracerProviderOption{sdktrace.WithResource(res)}
	if exp != nil {
		tpOpts = append(tpOpts, sdktrace.WithBatcher(exp))
	}
	if opts.Sampler != nil {
		tpOpts = append(tpOpts, sdktrace.WithSampler(opts.Sampler))
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
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithResource(res), sdkmetric.WithReader(promExp))

	return &Telemetry{
		TracerProvider: tp,
		MeterProvider:  mp,
		Propagator:     propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}),
		Registry:       reg,
	}, nil
}

func otlpConfigured() bool {
	if strings.EqualFold(os.Getenv("OTEL_TRACES_EXPORTER"), "none") {
		return false
	}
	return os.Getenv("OTEL_EXPORTER_OTLP_ENDPOINT") != "" || os.Getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") != ""
}

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
