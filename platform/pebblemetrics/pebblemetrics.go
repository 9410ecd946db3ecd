// Package pebblemetrics exports a Pebble database's own figures (tables
// per level, compactions and what they wrote, flushes, the WAL, the block
// cache, write stalls) as OpenTelemetry metrics, for the services that keep
// a Pebble store (recordings, search's traffic store).
//
// Why: an embedded store that falls behind shows first as compaction debt,
// read amplification and write stalls, long before appends slow down or
// the disk fills; without these an operator (and bench-pipeline) sees only
// the process's CPU and open files.
package pebblemetrics

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// Recorder exports one database's metrics under the attribute store=<name>.
// Create it before the database opens (its EventListener counts write
// stalls), Register it once the database is open, and Close it before the
// database closes: a collection reads db.Metrics().
type Recorder struct {
	store attribute.Set

	stalls     atomic.Int64
	stalledNs  atomic.Int64
	stallStart atomic.Int64 // unix ns of the open stall; 0: none

	reg metric.Registration
	now func() time.Time
}

// New returns a Recorder for the store named name.
func New(name string) *Recorder {
	return &Recorder{store: attribute.NewSet(attribute.String("store", name)), now: time.Now}
}

// EventListener is the listener to set in pebble.Options.EventListener.
func (r *Recorder) EventListener() *pebble.EventListener {
	return &pebble.EventListener{
		WriteStallBegin: func(pebble.WriteStallBeginInfo) {
			r.stalls.Add(1)
			r.stallStart.Store(r.now().UnixNano())
		},
		WriteStallEnd: func() {
			if start := r.stallStart.Swap(0); start != 0 {
				r.stalledNs.Add(r.now().UnixNano() - start)
			}
		},
	}
}

// stalled is the time writes have been stalled, the open stall included.
func (r *Recorder) stalled() time.Duration {
	ns := r.stalledNs.Load()
	if start := r.stallStart.Load(); start != 0 {
		ns += max(r.now().UnixNano()-start, 0)
	}
	return time.Duration(ns)
}

// figure is one metric read from pebble.Metrics.
type figure struct {
	name, unit, desc string
	counter          bool
	value            func(*pebble.Metrics) int64
}

var figures = []figure{
	{"pebble.disk.usage", "By", "Bytes the database takes on disk (tables, blob files, WAL, manifest).", false,
		func(m *pebble.Metrics) int64 { return int64(m.DiskSpaceUsage()) }},
	{"pebble.read_amplification", "", "Sublevels of L0 plus the non-empty other levels: tables a point read may consult.", false,
		func(m *pebble.Metrics) int64 { return int64(m.ReadAmp()) }},
	{"pebble.compactions", "", "Compactions finished.", true,
		func(m *pebble.Metrics) int64 { return m.Compact.Count }},
	{"pebble.compactions.running", "", "Compactions in progress.", false,
		func(m *pebble.Metrics) int64 { return m.Compact.NumInProgress }},
	{"pebble.compaction.debt", "By", "Estimated bytes to compact for the tree to reach its shape.", false,
		func(m *pebble.Metrics) int64 { return int64(min(m.Compact.EstimatedDebt, 1<<62)) }},
	{"pebble.compaction.written", "By", "Bytes compactions wrote (tables and blob files): with pebble.flush.written over pebble.wal.bytes_in, the write amplification.", true,
		func(m *pebble.Metrics) int64 {
			t := m.Total()
			return int64(t.TableBytesCompacted + t.BlobBytesCompacted)
		}},
	{"pebble.flushes", "", "Memtable flushes finished.", true,
		func(m *pebble.Metrics) int64 { return m.Flush.Count }},
	{"pebble.flush.written", "By", "Bytes flushes wrote (tables and blob files).", true,
		func(m *pebble.Metrics) int64 {
			t := m.Total()
			return int64(t.TableBytesFlushed + t.BlobBytesFlushed)
		}},
	{"pebble.wal.bytes_in", "By", "Logical bytes written to the WAL (what the store was asked to write).", true,
		func(m *pebble.Metrics) int64 { return int64(m.WAL.BytesIn) }},
	{"pebble.wal.bytes_written", "By", "Physical bytes written to the WAL.", true,
		func(m *pebble.Metrics) int64 { return int64(m.WAL.BytesWritten) }},
	{"pebble.memtable.size", "By", "Bytes held by memtables.", false,
		func(m *pebble.Metrics) int64 { return int64(m.MemTable.Size) }},
	{"pebble.blob_files", "", "Live blob files (value separation).", false,
		func(m *pebble.Metrics) int64 { return int64(m.BlobFiles.LiveCount) }},
	{"pebble.blob_files.size", "By", "Bytes of the live blob files on disk.", false,
		func(m *pebble.Metrics) int64 { return int64(m.BlobFiles.LiveSize) }},
	{"pebble.blob_files.values", "By", "Bytes of the values the live blob files hold (uncompressed), referenced or not.", false,
		func(m *pebble.Metrics) int64 { return int64(m.BlobFiles.ValueSize) }},
	{"pebble.blob_files.referenced", "By", "Bytes of blob file values a live table still references: 1 - referenced/values is the garbage a rewrite would reclaim.", false,
		func(m *pebble.Metrics) int64 { return int64(m.BlobFiles.ReferencedValueSize) }},
	{"pebble.block_cache.size", "By", "Bytes in the block cache.", false,
		func(m *pebble.Metrics) int64 { return m.BlockCache.Size }},
	{"pebble.block_cache.hits", "", "Block cache hits.", true,
		func(m *pebble.Metrics) int64 { return m.BlockCache.Hits }},
	{"pebble.block_cache.misses", "", "Block cache misses.", true,
		func(m *pebble.Metrics) int64 { return m.BlockCache.Misses }},
	{"pebble.file_cache.open", "", "Table and blob files held open by the file cache.", false,
		func(m *pebble.Metrics) int64 { return m.FileCache.TableCount + m.FileCache.BlobFileCount }},
}

// Register exports db's metrics through mp's meter for this package until
// Close. Instruments are shared by every Recorder of a process; each
// observes its own store.
func (r *Recorder) Register(mp metric.MeterProvider, db *pebble.DB) error {
	m := mp.Meter("github.com/sightlinehq/sightline/platform/pebblemetrics")
	var errs []error
	ints := make([]metric.Int64Observable, len(figures))
	for i, f := range figures {
		unit, desc := metric.WithUnit(f.unit), metric.WithDescription(f.desc)
		var err error
		if f.counter {
			ints[i], err = m.Int64ObservableCounter(f.name, unit, desc)
		} else {
			ints[i], err = m.Int64ObservableGauge(f.name, unit, desc)
		}
		errs = append(errs, err)
	}
	compactSecs, err := m.Float64ObservableCounter("pebble.compaction.duration", metric.WithUnit("s"), metric.WithDescription("Time spent compacting (summed over concurrent compactions)."))
	errs = append(errs, err)
	tables, err := m.Int64ObservableGauge("pebble.tables", metric.WithDescription("Tables by level (L0–L6)."))
	errs = append(errs, err)
	tableBytes, err := m.Int64ObservableGauge("pebble.tables.size", metric.WithUnit("By"), metric.WithDescription("Bytes of tables by level (L0–L6)."))
	errs = append(errs, err)
	stalls, err := m.Int64ObservableCounter("pebble.write_stalls", metric.WithDescription("Times writes were stalled because flushes or L0 compactions fell behind."))
	errs = append(errs, err)
	stalled, err := m.Float64ObservableCounter("pebble.write_stall.duration", metric.WithUnit("s"), metric.WithDescription("Time writes spent stalled, the current stall included."))
	errs = append(errs, err)
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("pebble metrics: %w", err)
	}
	levels := make([]attribute.Set, len(pebble.Metrics{}.Levels))
	for l := range levels {
		levels[l] = attribute.NewSet(append(r.store.ToSlice(), attribute.Int("level", l))...)
	}
	all := []metric.Observable{compactSecs, tables, tableBytes, stalls, stalled}
	for _, o := range ints {
		all = append(all, o)
	}
	r.reg, err = m.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		pm := db.Metrics()
		store := metric.WithAttributeSet(r.store)
		for i, f := range figures {
			o.ObserveInt64(ints[i], f.value(pm), store)
		}
		o.ObserveFloat64(compactSecs, pm.Compact.Duration.Seconds(), store)
		for l, lm := range pm.Levels {
			at := metric.WithAttributeSet(levels[l])
			o.ObserveInt64(tables, lm.TablesCount, at)
			o.ObserveInt64(tableBytes, lm.TablesSize, at)
		}
		o.ObserveInt64(stalls, r.stalls.Load(), store)
		o.ObserveFloat64(stalled, r.stalled().Seconds(), store)
		return nil
	}, all...)
	if err != nil {
		return fmt.Errorf("pebble metrics: %w", err)
	}
	return nil
}

// Close stops the export; call it before the database closes.
func (r *Recorder) Close() error {
	if r.reg == nil {
		return nil
	}
	err := r.reg.Unregister()
	r.reg = nil
	return err
}
