// Package depstatetest reads what a depstate-tracked loop reports — its log
// lines and its sightline.dependency.up gauge — for the outage tests of the
// loops that use it (forwarder, outbox, retention sweep).
package depstatetest

import (
	"context"
	"log/slog"
	"sync"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/sightlinehq/sightline/platform/depstate"
)

// Logs is a slog.Handler that keeps every record.
type Logs struct {
	mu   sync.Mutex
	recs []slog.Record
}

func (h *Logs) Enabled(context.Context, slog.Level) bool { return true }
func (h *Logs) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h *Logs) WithGroup(string) slog.Handler            { return h }

// Handle keeps r.
func (h *Logs) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.recs = append(h.recs, r.Clone())
	return nil
}

// Lines returns the records at level as "message attr=value ...".
func (h *Logs) Lines(level slog.Level) []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []string
	for _, r := range h.recs {
		if r.Level != level {
			continue
		}
		l := r.Message
		r.Attrs(func(a slog.Attr) bool { l += " " + a.String(); return true })
		out = append(out, l)
	}
	return out
}

// Up reads the sightline.dependency.up point whose attribute key has value
// (e.g. "dependency", "search" or "component", "retention").
func Up(t testing.TB, reader *sdkmetric.ManualReader, key, value string) int64 {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name != depstate.GaugeName {
				continue
			}
			for _, dp := range m.Data.(metricdata.Gauge[int64]).DataPoints {
				if v, ok := dp.Attributes.Value(attribute.Key(key)); ok && v.AsString() == value {
					return dp.Value
				}
			}
		}
	}
	t.Fatalf("no %s{%s=%q} collected", depstate.GaugeName, key, value)
	return -1
}
