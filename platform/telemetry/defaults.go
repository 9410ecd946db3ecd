package telemetry

import (
	"log/slog"

	"go.opentelemetry.io/otel/metric"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/trace"
	tracenoop "go.opentelemetry.io/otel/trace/noop"
)

// Defaults fills a service's dependencies left nil (its Deps fields): the
// default logger, and tracing and metrics that record nothing.
func Defaults(log **slog.Logger, tp *trace.TracerProvider, mp *metric.MeterProvider) {
	if *log == nil {
		*log = slog.Default()
	}
	if *tp == nil {
		*tp = tracenoop.NewTracerProvider()
	}
	if *mp == nil {
		*mp = metricnoop.NewMeterProvider()
	}
}
