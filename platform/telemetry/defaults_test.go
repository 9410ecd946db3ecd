package telemetry

import (
	"log/slog"
	"testing"

	"go.opentelemetry.io/otel/metric"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/trace"
	tracenoop "go.opentelemetry.io/otel/trace/noop"
)

func TestDefaults(t *testing.T) {
	var (
		log *slog.Logger
		tp  trace.TracerProvider
		mp  metric.MeterProvider
	)
	Defaults(&log, &tp, &mp)
	if log != slog.Default() || tp == nil || mp == nil {
		t.Fatalf("nil deps filled: %v, %v, %v", log, tp, mp)
	}
	own, ownTP, ownMP := slog.New(slog.DiscardHandler), trace.TracerProvider(tracenoop.NewTracerProvider()), metric.MeterProvider(metricnoop.NewMeterProvider())
	log, tp, mp = own, ownTP, ownMP
	Defaults(&log, &tp, &mp)
	if log != own || tp != ownTP || mp != ownMP {
		t.Fatal("Defaults replaced a dependency the caller gave")
	}
}
