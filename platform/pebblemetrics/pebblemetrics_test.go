package pebblemetrics

import (
	"context"
	crand "crypto/rand"
	"fmt"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
)

// open opens a real Pebble database on disk with r's listener and
// registers r.
func open(t *testing.T, r *Recorder, mp *sdkmetric.MeterProvider, edit func(*pebble.Options)) *pebble.DB {
	t.Helper()
	po := &pebble.Options{EventListener: r.EventListener()}
	if edit != nil {
		edit(po)
	}
	db, err := pebble.Open(t.TempDir(), po)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Register(mp, db); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		r.Close()
		db.Close()
	})
	return db
}

// collected is one collection: metric → "store" or "store/L<level>" → value.
type collected map[string]map[string]float64

func collect(t *testing.T, reader *sdkmetric.ManualReader) collected {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	where := func(s attribute.Set) string {
		st, _ := s.Value("store")
		if l, ok := s.Value("level"); ok {
			return fmt.Sprintf("%s/L%d", st.AsString(), l.AsInt64())
		}
		return st.AsString()
	}
	out := collected{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			vals := map[string]float64{}
			switch d := m.Data.(type) {
			case metricdata.Sum[int64]:
				for _, dp := range d.DataPoints {
					vals[where(dp.Attributes)] = float64(dp.Value)
				}
			case metricdata.Gauge[int64]:
				for _, dp := range d.DataPoints {
					vals[where(dp.Attributes)] = float64(dp.Value)
				}
			case metricdata.Sum[float64]:
				for _, dp := range d.DataPoints {
					vals[where(dp.Attributes)] = dp.Value
				}
			default:
				t.Fatalf("%s: unexpected %T", m.Name, m.Data)
			}
			out[m.Name] = vals
		}
	}
	return out
}

func write(t *testing.T, db *pebble.DB, prefix string, n, size int) int {
	t.Helper()
	val := make([]byte, size)
	written := 0
	for i := range n {
		k := fmt.Sprintf("%s%08d", prefix, i)
		crand.Read(val) // incompressible: tables keep the bytes' size
		if err := db.Set([]byte(k), val, pebble.NoSync); err != nil {
			t.Fatal(err)
		}
		written += len(k) + len(val)
	}
	return written
}

// TestFigures: two stores of one process each export their own figures,
// and they move as the database does: flushes, a compaction that moves the
// tables to the bottom level, the WAL's bytes.
func TestFigures(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	a := open(t, New("a"), mp, nil)
	b := open(t, New("b"), mp, nil)

	before := collect(t, reader)
	for _, name := range []string{"pebble.flushes", "pebble.compactions", "pebble.write_stalls", "pebble.compaction.written"} {
		if v, ok := before[name]["a"]; !ok || v != 0 {
			t.Errorf("%s of a fresh store = %v (%v); want 0", name, v, ok)
		}
	}

	in := write(t, a, "k", 2000, 1000)
	if err := a.Flush(); err != nil {
		t.Fatal(err)
	}
	write(t, a, "k", 2000, 1000) // the same keys: the compaction rewrites them
	if err := a.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := a.Compact(context.Background(), []byte("a"), []byte("z"), true); err != nil {
		t.Fatal(err)
	}
	write(t, b, "k", 10, 10)

	got := collect(t, reader)
	if v := got["pebble.flushes"]["a"]; v < 2 {
		t.Errorf("flushes of a = %v; want ≥ 2", v)
	}
	if v := got["pebble.flushes"]["b"]; v != 0 {
		t.Errorf("flushes of b = %v; want 0 (nothing flushed)", v)
	}
	if v := got["pebble.flush.written"]["a"]; v < float64(in)/2 {
		t.Errorf("flush.written of a = %v; want about the %d bytes of a flush", v, in)
	}
	if v := got["pebble.wal.bytes_in"]["a"]; v < float64(2*in) {
		t.Errorf("wal.bytes_in of a = %v; want ≥ the %d bytes written", v, 2*in)
	}
	if v := got["pebble.wal.bytes_in"]["b"]; v <= 0 || v >= float64(in) {
		t.Errorf("wal.bytes_in of b = %v; want b's own few bytes", v)
	}
	if v := got["pebble.compactions"]["a"]; v < 1 {
		t.Errorf("compactions of a = %v; want ≥ 1", v)
	}
	if v := got["pebble.compaction.written"]["a"]; v < float64(in) {
		t.Errorf("compaction.written of a = %v; want the tables rewritten (≥ %d)", v, in)
	}
	if v := got["pebble.compaction.duration"]["a"]; v <= 0 {
		t.Errorf("compaction.duration of a = %v; want > 0", v)
	}
	// A manual compaction of everything leaves it all in the bottom level.
	if n, size := got["pebble.tables"]["a/L6"], got["pebble.tables.size"]["a/L6"]; n < 1 || size < float64(in) {
		t.Errorf("L6 of a: %v tables, %v bytes; want the compacted data (≥ %d bytes)", n, size, in)
	}
	if n := got["pebble.tables"]["a/L0"]; n != 0 {
		t.Errorf("L0 of a after a full compaction: %v tables", n)
	}
	if v, l6 := got["pebble.disk.usage"]["a"], got["pebble.tables.size"]["a/L6"]; v < l6 {
		t.Errorf("disk.usage of a = %v; want ≥ its tables' %v", v, l6)
	}
	if v := got["pebble.read_amplification"]["a"]; v < 1 {
		t.Errorf("read_amplification of a = %v; want ≥ 1 (one level holds data)", v)
	}
	if v := got["pebble.memtable.size"]["b"]; v <= 0 {
		t.Errorf("memtable.size of b = %v; want its memtable", v)
	}
	for _, name := range []string{"pebble.block_cache.size", "pebble.block_cache.hits", "pebble.block_cache.misses", "pebble.file_cache.open", "pebble.blob_files", "pebble.compaction.debt", "pebble.compactions.running", "pebble.wal.bytes_written", "pebble.write_stall.duration"} {
		if _, ok := got[name]["a"]; !ok {
			t.Errorf("%s of a not exported (have %v)", name, got[name])
		}
	}
}

// TestBlobFigures: with value separation, values go to blob files whose
// size and values are exported; deleting half the keys leaves their
// values in the blob file, unreferenced, which the referenced bytes show.
func TestBlobFigures(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	db := open(t, New("s"), mp, func(o *pebble.Options) {
		o.FormatMajorVersion = pebble.FormatValueSeparation
		o.Experimental.ValueSeparationPolicy = func() pebble.ValueSeparationPolicy {
			// Never rewritten: the garbage stays to be seen.
			return pebble.ValueSeparationPolicy{Enabled: true, MinimumSize: 256, MaxBlobReferenceDepth: 10, RewriteMinimumAge: time.Hour, TargetGarbageRatio: 1}
		}
	})
	const n, size = 200, 1000
	write(t, db, "k", n, size)
	if err := db.Flush(); err != nil {
		t.Fatal(err)
	}
	got := collect(t, reader)
	files, disk, values, referenced := got["pebble.blob_files"]["s"], got["pebble.blob_files.size"]["s"], got["pebble.blob_files.values"]["s"], got["pebble.blob_files.referenced"]["s"]
	if files < 1 || disk < n*size || values < n*size || referenced != values {
		t.Fatalf("after a flush: %v blob files, %v bytes on disk, %v of values, %v referenced; want the %d values of %d bytes, all referenced", files, disk, values, referenced, n, size)
	}
	for i := 0; i < n; i += 2 {
		if err := db.Delete(fmt.Appendf(nil, "k%08d", i), pebble.NoSync); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.Compact(context.Background(), []byte("a"), []byte("z"), true); err != nil {
		t.Fatal(err)
	}
	got = collect(t, reader)
	values, referenced = got["pebble.blob_files.values"]["s"], got["pebble.blob_files.referenced"]["s"]
	if referenced < n/2*size || referenced > values*0.6 {
		t.Errorf("after deleting half the keys: %v of %v bytes of values referenced; want about half", referenced, values)
	}
}

// TestWriteStall: writes stalled by a full L0 (compactions off) are counted
// with their duration, the open stall included, until a compaction frees
// them.
func TestWriteStall(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	db := open(t, New("s"), mp, func(o *pebble.Options) {
		o.DisableAutomaticCompactions = true
		o.L0CompactionThreshold = 1
		o.L0StopWritesThreshold = 2
	})
	// Overlapping tables in L0 (each flush its own sublevel) until L0 is
	// at its stop-writes threshold.
	for i := range 2 {
		write(t, db, "k", 100, 100)
		if err := db.Flush(); err != nil {
			t.Fatalf("flush %d: %v", i, err)
		}
	}
	// A write needing room stalls: the memtable is flushed only when L0
	// has room.
	done := make(chan error, 1)
	go func() {
		val := make([]byte, 1<<20)
		var err error
		for i := 0; i < 64 && err == nil; i++ {
			err = db.Set(fmt.Appendf(nil, "big%03d", i), val, pebble.NoSync)
		}
		done <- err
	}()
	deadline := time.Now().Add(30 * time.Second)
	var stalls float64
	for stalls == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no write stall counted in 30 s")
		}
		select {
		case err := <-done:
			t.Fatalf("the writes finished without a stall (err %v)", err)
		case <-time.After(20 * time.Millisecond):
		}
		stalls = collect(t, reader)["pebble.write_stalls"]["s"]
	}
	time.Sleep(100 * time.Millisecond)
	open := collect(t, reader)["pebble.write_stall.duration"]["s"]
	if open < 0.1 {
		t.Errorf("stalled for %v s while stalled ≥ 100 ms; want the open stall counted", open)
	}
	if err := db.Compact(context.Background(), []byte("a"), []byte("z"), false); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	got := collect(t, reader)
	if v := got["pebble.write_stalls"]["s"]; v < 1 {
		t.Errorf("write_stalls = %v; want ≥ 1", v)
	}
	if v := got["pebble.write_stall.duration"]["s"]; v < open {
		t.Errorf("stall duration fell from %v to %v", open, v)
	}
}

// TestClose: after Close the store's figures are no longer read (its
// database may be closed) and the other store's still are.
func TestClose(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	ra := New("a")
	a, err := pebble.Open(t.TempDir(), &pebble.Options{EventListener: ra.EventListener()})
	if err != nil {
		t.Fatal(err)
	}
	if err := ra.Register(mp, a); err != nil {
		t.Fatal(err)
	}
	open(t, New("b"), mp, nil)
	if err := ra.Close(); err != nil {
		t.Fatal(err)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	got := collect(t, reader)
	if _, ok := got["pebble.disk.usage"]["a"]; ok {
		t.Error("a closed store is still read")
	}
	if _, ok := got["pebble.disk.usage"]["b"]; !ok {
		t.Error("the open store's figures are gone")
	}
	if err := ra.Close(); err != nil {
		t.Errorf("a second Close: %v", err)
	}
}
