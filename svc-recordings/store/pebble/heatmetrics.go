package pebble

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/metric/noop"
)

// Heatmap aggregation's own figures. Appends hand their heatmap changes to
// a queue that a flush drains into the aggregates every second
// (heatqueue.go): while flushes fail or fall behind, recordings are stored
// and play, but the heatmaps stop moving, which nothing else shows. The
// queue's depth and the age of its oldest change say how far the maps lag;
// flushes and folds by result, and the flush's duration, say why; the
// unfinished rebuilds say whether a site's maps are still being recounted.
type heatMetrics struct {
	flushes   metric.Int64Counter
	flushSecs metric.Float64Histogram
	lists     metric.Int64Counter
	folds     metric.Int64Counter
	reg       metric.Registration
	// rowReg reports the store's row cache (rowcache.go), registered here
	// with the store's other figures.
	rowReg metric.Registration
}

var (
	resultOK    = metric.WithAttributeSet(attribute.NewSet(attribute.String("result", "ok")))
	resultError = metric.WithAttributeSet(attribute.NewSet(attribute.String("result", "error")))
)

func result(err error) metric.MeasurementOption {
	if err != nil {
		return resultError
	}
	return resultOK
}

// newHeatMetrics registers s's heatmap figures with mp (none when nil).
func newHeatMetrics(mp metric.MeterProvider, s *Store) (*heatMetrics, error) {
	if mp == nil {
		mp = noop.NewMeterProvider()
	}
	m := mp.Meter("github.com/sightlinehq/sightline/svc-recordings/store/pebble")
	h := &heatMetrics{}
	var errs []error
	add := func(err error) { errs = append(errs, err) }
	var err error
	h.flushes, err = m.Int64Counter("recordings.heatmap.flushes", metric.WithDescription("Flushes of queued heatmap changes into the aggregates, by result (ok, error: the changes stay queued and the next flush retries)."))
	add(err)
	h.flushSecs, err = m.Float64Histogram("recordings.heatmap.flush.duration", metric.WithUnit("s"), metric.WithDescription("Time a flush of queued heatmap changes took."),
		metric.WithExplicitBucketBoundaries(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5))
	add(err)
	h.lists, err = m.Int64Counter("recordings.heatmap.flush.lists", metric.WithDescription("Cell lists (a page, device, kind and day or week) flushes merged changes into."))
	add(err)
	h.folds, err = m.Int64Counter("recordings.heatmap.folds", metric.WithDescription("Folds of heatmap cell lists that gathered many merges, by result."))
	add(err)
	cells, err := m.Int64ObservableGauge("recordings.heatmap.queue.cells", metric.WithDescription("Heatmap changes (cells) appended and not yet flushed into the aggregates."))
	add(err)
	appends, err := m.Int64ObservableGauge("recordings.heatmap.queue.appends", metric.WithDescription("Appends whose heatmap changes wait for a flush (their queue rows on disk)."))
	add(err)
	age, err := m.Float64ObservableGauge("recordings.heatmap.queue.age", metric.WithUnit("s"), metric.WithDescription("Age of the oldest heatmap change not yet flushed (0: none): how far heatmaps lag behind the stored recordings."))
	add(err)
	rebuilds, err := m.Int64ObservableGauge("recordings.heatmap.rebuilds.unfinished", metric.WithDescription("Sites whose heatmap rebuild started and has not finished (its maps count only what it has recounted so far)."))
	add(err)
	merges, err := m.Int64ObservableCounter("recordings.heatmap.list.merges", metric.WithDescription("Merges of two or more values of a heatmap cell list, by reads, folds and compactions: rising while the maps are read and nothing is written means reads are merging operands that folds should have left as one value."))
	add(err)
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("heatmap metrics: %w", err)
	}
	h.reg, err = m.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		n, calls, oldest := s.heatq.depth()
		o.ObserveInt64(cells, int64(n))
		o.ObserveInt64(appends, int64(calls))
		a := 0.0
		if !oldest.IsZero() {
			a = max(time.Since(oldest).Seconds(), 0)
		}
		o.ObserveFloat64(age, a)
		s.markerMu.Lock()
		o.ObserveInt64(rebuilds, int64(len(s.markers)))
		s.markerMu.Unlock()
		o.ObserveInt64(merges, s.listMerges.Load())
		return nil
	}, cells, appends, age, rebuilds, merges)
	if err != nil {
		return nil, fmt.Errorf("heatmap metrics: %w", err)
	}
	if h.rowReg, err = registerRowCache(m, &s.rows); err != nil {
		return nil, errors.Join(fmt.Errorf("row cache metrics: %w", err), h.reg.Unregister())
	}
	return h, nil
}

// flushed records one flush that had changes to merge.
func (h *heatMetrics) flushed(start time.Time, lists int, err error) {
	ctx := context.Background()
	h.flushes.Add(ctx, 1, result(err))
	h.flushSecs.Record(ctx, time.Since(start).Seconds())
	if err == nil && lists > 0 {
		h.lists.Add(ctx, int64(lists))
	}
}

// folded records the folds of one site's lists.
func (h *heatMetrics) folded(lists int, err error) {
	if lists > 0 {
		h.folds.Add(context.Background(), int64(lists), result(err))
	}
}

func (h *heatMetrics) close() error {
	if h == nil || h.reg == nil {
		return nil
	}
	return errors.Join(h.reg.Unregister(), h.rowReg.Unregister())
}
