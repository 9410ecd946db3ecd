package pebble

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"path/filepath"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/sightlinehq/sightline/svc-recordings/heatmap"
	"github.com/sightlinehq/sightline/svc-recordings/store"
	"github.com/sightlinehq/sightline/svc-recordings/store/storetest"
)

// TestHeatModelSmallSteps runs the suite's reference model with rebuilds of
// three sessions a step, so interrupted rebuilds stop with a cursor inside
// the site and writers meet both sides of it.
func TestHeatModelSmallSteps(t *testing.T) {
	for seed := range uint64(4) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			s := open(t, store.Limits{})
			s.rebuildStep = 3
			storetest.HeatModel(t, s, seed)
		})
	}
}

func TestHeatKeysSort(t *testing.T) {
	days := []int32{math.MinInt32, -400, -1, 0, 1, 20000, math.MaxInt32}
	for i := 1; i < len(days); i++ {
		a := heatKey(7, heatmap.Key{Page: "https://a/", Device: 1, Kind: heatmap.Click, Day: days[i-1], Cell: "\xff\xffzz"})
		b := heatKey(7, heatmap.Key{Page: "https://a/", Device: 1, Kind: heatmap.Click, Day: days[i], Cell: ""})
		if bytes.Compare(a, b) >= 0 {
			t.Fatalf("day %d does not sort before day %d", days[i-1], days[i])
		}
		if got := readI32(keyBuf(nil).i32(days[i])); got != days[i] {
			t.Fatalf("i32 round trip %d → %d", days[i], got)
		}
	}
	// A page that extends another is its own range.
	g := heatGroup(7, "https://a/b", 1, heatmap.Click)
	if bytes.HasPrefix(heatKey(7, heatmap.Key{Page: "https://a/bc", Device: 1, Kind: heatmap.Click}), g) {
		t.Fatal("a longer page falls inside a shorter one's range")
	}
	// The dictionary lists pages in byte order, like ScyllaDB's clustering.
	if bytes.Compare(pageKey(7, "https://b/"), pageKey(7, "https://a/long/path")) <= 0 {
		t.Fatal("page dictionary keys do not sort by page")
	}
}

// chunk is a chunk of session n of site with one anchored click on page
// https://shop.example.com/ on day.
func chunk(t testing.TB, site int64, n int, seq int64, day int32, snap bool) store.Chunk {
	return chunkOn(t, "https://shop.example.com/", site, n, seq, day, snap)
}

// chunkOn is chunk on the page href.
func chunkOn(t testing.TB, href string, site int64, n int, seq int64, day int32, snap bool) store.Chunk {
	b := &storetest.Builder{Site: site, Session: fmt.Sprintf("s_pebbleheat%010d", n), Visitor: fmt.Sprintf("v_pebbleheat%010d", n%5), ServerMs: int64(day)*86400000 + int64(n)}
	evs := []map[string]any{
		{"type": 4, "timestamp": 1763890000000, "data": map[string]any{"href": href, "width": 1000, "height": 800}},
		{"type": 5, "timestamp": 1763890000000, "data": map[string]any{"tag": "sl:view", "payload": map[string]any{"x": 0, "y": 0, "w": 1000, "h": 3000, "v": 800, "d": 1}}},
	}
	if snap {
		evs = append(evs, map[string]any{"type": 2, "timestamp": 1763890000001, "data": map[string]any{"node": map[string]any{"type": 0, "id": 1}, "initialOffset": map[string]any{"top": 0, "left": 0}}})
	}
	for i := range 3 {
		ts := int64(1763890000100 + i*2000 + int(seq)*10000)
		evs = append(evs,
			map[string]any{"type": 3, "timestamp": ts, "data": map[string]any{"source": 2, "type": 2, "id": 7, "x": 10 * n % 1000, "y": 40 * i}},
			map[string]any{"type": 5, "timestamp": ts + 1, "data": map[string]any{"tag": "sl:click", "payload": map[string]any{"id": 7, "s": fmt.Sprintf("body>a#l%d", n%7), "rx": n % 101, "ry": i}}},
			map[string]any{"type": 3, "timestamp": ts + 50, "data": map[string]any{"source": 0, "adds": []any{}, "removes": []any{}, "texts": []any{}, "attributes": []any{}}})
	}
	return b.ChunkEvents(t, seq, "p_pebbleheat0000000001", evs)
}

func heatDump(t testing.TB, s *Store, site int64) map[heatmap.Kind]map[string]heatmap.Vec {
	t.Helper()
	sums := heatmap.Sums{}
	err := s.Heat(context.Background(), store.HeatQuery{SiteID: site, Pages: []string{"https://shop.example.com/"}, FromDay: math.MinInt32, ToDay: math.MaxInt32}, func(k heatmap.Kind, c string, v heatmap.Vec) error {
		sums.Add(k, c, v)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	err = s.HeatPages(context.Background(), site, "", func(p string, v heatmap.Vec) error {
		sums.Add(heatmap.Page, p, v)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return sums.Plain()
}

// withPlain opens a store in a directory of its own, which the test closes
// and reopens as a crash or restart would, and a plain store (closed when
// the test ends) that answers what it must answer after.
func withPlain(t *testing.T) (s *Store, dir string, plain *Store) {
	t.Helper()
	dir = t.TempDir()
	s, err := Open(dir, Options{Logger: quiet{}})
	if err != nil {
		t.Fatal(err)
	}
	return s, dir, open(t, store.Limits{})
}

// appendTo appends cs to each of stores.
func appendTo(t *testing.T, cs []store.Chunk, stores ...*Store) {
	t.Helper()
	for _, st := range stores {
		if _, err := st.Append(context.Background(), cs); err != nil {
			t.Fatal(err)
		}
	}
}

// TestRebuildSurvivesReopen: a rebuild cut off midway keeps its marker on
// disk; the reopened store leaves out what the rebuild will count, and the
// resumed rebuild ends equal to a store that never rebuilt.
func TestRebuildSurvivesReopen(t *testing.T) {
	ctx := context.Background()
	s, dir, plain := withPlain(t)
	site := int64(3_000_000_001)
	for n := range 30 {
		appendTo(t, []store.Chunk{chunk(t, site, n, 0, 20000+int32(n%3), n%4 == 0)}, s, plain)
	}
	s.rebuildStep = 4
	calls := 0
	cctx, cancel := context.WithCancel(ctx)
	err := s.RebuildHeat(cctx, site, 20001, func(done, total int64) {
		if calls++; calls == 2 {
			cancel()
		}
	})
	cancel()
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("cut-off rebuild: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if s, err = Open(dir, Options{Logger: quiet{}}); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if m := s.marker(site); m == nil || m.Since != 20001 || m.Done != 8 || m.Total != 30 {
		t.Fatalf("marker after reopen %+v", m)
	}
	// Writes on both sides of the cursor: later chunks, new sessions, a
	// deletion.
	appendTo(t, []store.Chunk{chunk(t, site, 1, 1, 20002, true), chunk(t, site, 29, 1, 20000, false), chunk(t, site, 40, 0, 20001, true)}, s, plain)
	for _, st := range []*Store{s, plain} {
		if err := st.DeleteSession(ctx, site, fmt.Sprintf("s_pebbleheat%010d", 2)); err != nil {
			t.Fatal(err)
		}
		if err := st.DeleteSession(ctx, site, fmt.Sprintf("s_pebbleheat%010d", 20)); err != nil {
			t.Fatal(err)
		}
	}
	var last [2]int64
	if err := s.RebuildHeat(ctx, site, 20001, func(done, total int64) { last = [2]int64{done, total} }); err != nil {
		t.Fatal(err)
	}
	if last[0] != last[1] || last[0] < 29 {
		t.Fatalf("last progress %v", last)
	}
	got, want := heatDump(t, s, site), heatDump(t, plain, site)
	if len(want[heatmap.Click]) == 0 || !maps.EqualFunc(got, want, func(a, b map[string]heatmap.Vec) bool { return maps.Equal(a, b) }) {
		t.Fatalf("after the resumed rebuild:\n got %v\nwant %v", got, want)
	}
	if _, ok, err := s.get(newKey(pRebuild).u64(site)); ok || err != nil || s.marker(site) != nil {
		t.Fatalf("marker left: %v %+v", err, s.marker(site))
	}
}

// TestRebuildRunsOncePerSite: a second rebuild of a site while one runs
// fails clearly; another site's runs.
func TestRebuildRunsOncePerSite(t *testing.T) {
	ctx := context.Background()
	s := open(t, store.Limits{})
	site := int64(3_000_000_002)
	for n := range 5 {
		if _, err := s.Append(ctx, []store.Chunk{chunk(t, site, n, 0, 20000, false)}); err != nil {
			t.Fatal(err)
		}
	}
	s.rebuildStep = 1
	var second, other error
	first := s.RebuildHeat(ctx, site, 0, func(done, _ int64) {
		if done == 1 {
			second = s.RebuildHeat(ctx, site, 0, nil)
			other = s.RebuildHeat(ctx, site+1, 0, nil)
		}
	})
	if first != nil || !errors.Is(second, store.ErrRebuildRunning) || other != nil {
		t.Fatalf("first %v, second %v (want %v), another site %v", first, second, store.ErrRebuildRunning, other)
	}
}

// TestDeletedSessionLeavesNoRows: once compacted, the aggregates of a
// deleted session are gone from disk, not only zero (GDPR).
func TestDeletedSessionLeavesNoRows(t *testing.T) {
	ctx := context.Background()
	s := open(t, store.Limits{})
	site := int64(3_000_000_003)
	c := chunk(t, site, 1, 0, 20000, true)
	if _, err := s.Append(ctx, []store.Chunk{c}); err != nil {
		t.Fatal(err)
	}
	count := func(prefix byte) int {
		n := 0
		if err := s.scan([]byte{prefix}, nil, func(_, _ []byte) error { n++; return nil }); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if count(pHeatQueue) != 1 {
		t.Fatalf("%d queued rows after one append, want 1", count(pHeatQueue))
	}
	if err := s.flushHeat(); err != nil {
		t.Fatal(err)
	}
	if count(pHeatQueue) != 0 {
		t.Fatalf("%d queued rows after a flush", count(pHeatQueue))
	}
	if count(pHeat) == 0 || count(pHeatPage) != 1 {
		t.Fatalf("no aggregates after an append: %d h, %d g rows", count(pHeat), count(pHeatPage))
	}
	if err := s.DeleteSession(ctx, site, c.SessionID); err != nil {
		t.Fatal(err)
	}
	if err := s.db.Compact(ctx, []byte{pHeatPage}, []byte{pHeat + 1}, true); err != nil {
		t.Fatal(err)
	}
	if h, g := count(pHeat), count(pHeatPage); h != 0 || g != 0 {
		t.Fatalf("after deletion and compaction: %d h rows, %d g rows", h, g)
	}
}

// TestOldDatabaseOpens: a database written by the store before heatmaps
// (same merger name, activity maxima only) opens and keeps its maxima.
func TestOldDatabaseOpens(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "db")
	old := &pebble.Merger{Name: "sightline.recordings.max.v1", Merge: newMerger(nil).Merge}
	db, err := pebble.Open(dir, &pebble.Options{Merger: old, Logger: quiet{}})
	if err != nil {
		t.Fatal(err)
	}
	k := newKey(pActivity).u64(9)
	for _, v := range []uint64{5, 9, 7} {
		if err := db.Merge(k, keyBuf(nil).u64(int64(v)), pebble.Sync); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	s, err := Open(dir, Options{Logger: quiet{}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	last, _, err := s.SiteActivity(context.Background(), 9, time.Now())
	if err != nil || last.UnixMilli() != 9 {
		t.Fatalf("activity %v %v", last.UnixMilli(), err)
	}
	if err := s.db.Merge(k, []byte("short"), pebble.Sync); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.SiteActivity(context.Background(), 9, time.Now()); err == nil {
		t.Fatal("a malformed activity operand merged")
	}
}

// TestSlotlessSnapshotPointer: a page's pointer written before slots (the
// key without a slot byte) is still a candidate, the oldest in a tie.
func TestSlotlessSnapshotPointer(t *testing.T) {
	ctx := context.Background()
	s := open(t, store.Limits{})
	site, day := int64(3_000_000_011), int32(20_400)
	page := "https://shop.example.com/"
	older, newer := chunk(t, site, 1, 0, day, true), chunk(t, site, 2, 0, day+1, true)
	appendTo(t, []store.Chunk{older, newer}, s)
	// The older session's pointer moved to where a database of before
	// slots kept it, at the newer's server time (a tie on time).
	device := store.ChunkSnapshots(older.SessionID, &older)[0].Device
	k := snapshotKey(site, page, device)
	v, ok, err := s.get(k.slot(store.SnapshotSlot(older.SessionID)))
	if err != nil || !ok {
		t.Fatalf("the older session's slot pointer: %v %v", ok, err)
	}
	if err := s.db.Delete(k.slot(store.SnapshotSlot(older.SessionID)), pebble.Sync); err != nil {
		t.Fatal(err)
	}
	tied := append(binary.BigEndian.AppendUint64(nil, uint64(newer.Stats.ServerMs)), v[8:]...)
	if err := s.db.Merge(k, tied, pebble.Sync); err != nil {
		t.Fatal(err)
	}
	want := func(what string, c *store.Chunk) {
		t.Helper()
		got, ok, err := s.HeatSnapshot(ctx, site, page, device)
		if err != nil || ok != (c != nil) || (c != nil && (got.SessionID != c.SessionID || got.ServerMs != newer.Stats.ServerMs)) {
			t.Fatalf("%s: %+v %v %v, want %v", what, got, ok, err, c)
		}
	}
	want("a slot's pointer and the slotless one at the same time", &newer)
	if err := s.DeleteSession(ctx, site, newer.SessionID); err != nil {
		t.Fatal(err)
	}
	want("the slotted pointer's session deleted", &older)
	if err := s.DeleteSession(ctx, site, older.SessionID); err != nil {
		t.Fatal(err)
	}
	want("both deleted", nil)
	// A corrupt key under the page's prefix is an error, not a pointer.
	if err := s.db.Merge(append(k.slot(1), 0), tied, pebble.Sync); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.HeatSnapshot(ctx, site, page, device); err == nil {
		t.Fatal("a corrupt pointer key was read")
	}
}

// TestHeatStopsOnError: fn's error ends Heat and is returned.
func TestHeatStopsOnError(t *testing.T) {
	s := open(t, store.Limits{})
	site := int64(3_000_000_004)
	if _, err := s.Append(context.Background(), []store.Chunk{chunk(t, site, 1, 0, 20000, false)}); err != nil {
		t.Fatal(err)
	}
	stop := errors.New("stop")
	n := 0
	err := s.Heat(context.Background(), store.HeatQuery{SiteID: site, Pages: []string{"https://shop.example.com/"}, FromDay: 0, ToDay: 30000}, func(heatmap.Kind, string, heatmap.Vec) error {
		n++
		return stop
	})
	if !errors.Is(err, stop) || n != 1 {
		t.Fatalf("Heat: %v after %d rows", err, n)
	}
	kinds := []heatmap.Kind{}
	_ = s.Heat(context.Background(), store.HeatQuery{SiteID: site, Pages: []string{"https://shop.example.com/"}, FromDay: 0, ToDay: 30000}, func(k heatmap.Kind, _ string, _ heatmap.Vec) error {
		kinds = append(kinds, k)
		return nil
	})
	if slices.Contains(kinds, heatmap.Page) || !slices.Contains(kinds, heatmap.Click) {
		t.Fatalf("kinds of an unfiltered query %v", kinds)
	}
}

// TestWeekRowsAgreeWithDays: a range read through week rows (whole weeks)
// and day rows (the edges), or through day rows alone (the sparse rage and
// dead kinds), sums to what the rows of its days hold, for
// random ranges around week boundaries, negative days and the ends of
// int32, also while a rebuild is unfinished (when the weeks it recounts are
// read from their days); and each cell comes once, its rows summed.
func TestWeekRowsAgreeWithDays(t *testing.T) {
	s, err := Open(t.TempDir(), Options{Logger: quiet{}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	const site = 5_000_000_017
	rng := rand.New(rand.NewPCG(7, 11))
	page := "https://shop.example.com/"
	kinds := []heatmap.Kind{heatmap.Click, heatmap.Rage, heatmap.Dead}
	want := heatmap.Deltas{}
	for range 3000 {
		k := heatmap.Key{Page: page, Device: int32(1 + rng.IntN(2)), Day: int32(rng.IntN(60)) - 30, Kind: kinds[rng.IntN(len(kinds))],
			Cell: heatmap.ClickCell(int8(rng.IntN(3)*10), 0, "a")}
		want.Add(k, heatmap.Vec{N: 1 + rng.Int64N(3), X: rng.Int64N(1000), K: 1}, 1)
	}
	b := s.db.NewBatch()
	if err := writeDeltas(b, nil, site, func(heatmap.Key) rows { return bothRows }, nil, want); err != nil {
		t.Fatal(err)
	}
	if err := b.Commit(pebble.Sync); err != nil {
		t.Fatal(err)
	}
	b.Close()
	check := func(from, to int32) {
		t.Helper()
		ref := heatmap.Sums{}
		for k, v := range want {
			if k.Day >= from && k.Day <= to {
				ref.Add(k.Kind, k.Cell, v)
			}
		}
		got := heatmap.Sums{}
		seen := map[string]bool{}
		if err := s.Heat(context.Background(), store.HeatQuery{SiteID: site, Pages: []string{page}, FromDay: from, ToDay: to, Kinds: kinds}, func(k heatmap.Kind, c string, v heatmap.Vec) error {
			// The rows of the page's days, weeks and devices come summed.
			if kc := fmt.Sprint(k, c); seen[kc] {
				return fmt.Errorf("kind %d cell %q handed out twice", k, c)
			} else {
				seen[kc] = true
			}
			got.Add(k, c, v)
			return nil
		}); err != nil {
			t.Fatalf("days %d..%d: %v", from, to, err)
		}
		if !reflect.DeepEqual(got.Plain(), ref.Plain()) {
			t.Fatalf("days %d..%d: got %v, want %v", from, to, got.Plain(), ref.Plain())
		}
	}
	ranges := [][2]int32{{math.MinInt32, math.MaxInt32}, {math.MinInt32, 0}, {0, math.MaxInt32}, {-3, 3}, {-3, 10}, {-4, 11}, {4, 4}, {-30, 29}}
	for range 300 {
		from := int32(rng.IntN(70)) - 35
		ranges = append(ranges, [2]int32{from, from + int32(rng.IntN(40))})
	}
	for _, r := range ranges {
		check(r[0], r[1])
	}
	// An unfinished rebuild since day 9: the week rows it recounts are not
	// read (here they are whole; the check is that the answer still is).
	s.setMarker(site, &rebuildMarker{Since: 9, Cleared: true})
	for _, r := range ranges[:60] {
		check(r[0], r[1])
	}
}

// TestQueuedHeatSurvivesCrash: changes appended but not yet flushed are on
// disk; a store stopped without a flush (as by kill -9) reopens with them
// and answers what a store that flushed answers.
func TestQueuedHeatSurvivesCrash(t *testing.T) {
	ctx := context.Background()
	s, dir, plain := withPlain(t)
	site := int64(3_000_000_021)
	for n := range 24 {
		appendTo(t, []store.Chunk{chunk(t, site, n, 0, 20000+int32(n%3), n%4 == 0), chunk(t, site, n, 1, 20000+int32(n%3), n%3 == 0)}, s, plain)
	}
	// Stop the flusher without its last flush, then drop the database.
	close(s.heatq.stop)
	<-s.heatq.done
	queued := 0
	if err := s.scan([]byte{pHeatQueue}, nil, func(_, _ []byte) error { queued++; return nil }); err != nil {
		t.Fatal(err)
	}
	if want := len(s.heatq.items); queued == 0 || queued != want {
		t.Fatalf("%d j rows on disk, %d queued in memory", queued, want)
	}
	if err := s.db.Close(); err != nil {
		t.Fatal(err)
	}
	s, err := Open(dir, Options{Logger: quiet{}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if len(s.heatq.items) != queued {
		t.Fatalf("reopened with %d queued, want %d", len(s.heatq.items), queued)
	}
	got, want := heatDump(t, s, site), heatDump(t, plain, site)
	if len(want[heatmap.Click]) == 0 || !maps.EqualFunc(got, want, func(a, b map[string]heatmap.Vec) bool { return maps.Equal(a, b) }) {
		t.Fatalf("after the crash:\n got %v\nwant %v", got, want)
	}
	// Appends go on after the queued rows' numbers.
	if _, err := s.Append(ctx, []store.Chunk{chunk(t, site, 99, 0, 20001, true)}); err != nil {
		t.Fatal(err)
	}
	if err := s.flushHeat(); err != nil {
		t.Fatal(err)
	}
	left := 0
	if err := s.scan([]byte{pHeatQueue}, nil, func(_, _ []byte) error { left++; return nil }); err != nil || left != 0 {
		t.Fatalf("%d j rows left after a flush (%v)", left, err)
	}
}

// TestQueuedEncoding: a call's changes decode to what was encoded, and
// every cut of an encoding is refused, never a panic.
func TestQueuedEncoding(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 5))
	for range 200 {
		in := map[int64]*siteHeat{}
		for range 1 + rng.IntN(3) {
			h := newSiteHeat()
			for _, d := range []heatmap.Deltas{h.both, h.day, h.week} {
				for range rng.IntN(20) {
					k := heatmap.Key{Page: fmt.Sprintf("https://shop.example.com/p/%d", rng.IntN(5)), Device: int32(rng.IntN(6)),
						Day: int32(rng.Int64N(1<<32) - 1<<31), Kind: heatmap.Kind(1 + rng.IntN(7)), Cell: string(rune(rng.IntN(0x10ffff)))}
					d[k] = heatmap.Vec{N: rng.Int64N(1e9) - 5e8, X: rng.Int64(), Y: -rng.Int64(), K: rng.Int64N(9), RX: rng.Int64N(1e4), RY: 1}
				}
			}
			// Listed moves, some naming a cell twice or one of the map's.
			var keys []heatmap.Key
			for k := range h.both {
				keys = append(keys, k)
			}
			for range rng.IntN(20) {
				k := heatmap.Key{Page: fmt.Sprintf("https://shop.example.com/p/%d", rng.IntN(5)), Device: int32(rng.IntN(6)), Day: int32(rng.IntN(3)), Kind: heatmap.Move, Cell: heatmap.MoveCell(rng.Int32N(3), 0)}
				if len(keys) > 0 && rng.IntN(4) == 0 {
					k = keys[rng.IntN(len(keys))]
				}
				h.moves = append(h.moves, heatChange{k, heatmap.Vec{N: rng.Int64N(9) - 4, X: rng.Int64()}})
			}
			// Clicks, rage and dead clicks on a few elements (the selector
			// table), some of them too short to be an element cell.
			for range rng.IntN(30) {
				k := heatmap.Key{Page: fmt.Sprintf("https://shop.example.com/p/%d", rng.IntN(5)), Device: int32(rng.IntN(4)), Day: 20000 + int32(rng.IntN(3)),
					Kind: []heatmap.Kind{heatmap.Click, heatmap.Rage, heatmap.Dead}[rng.IntN(3)],
					Cell: heatmap.ClickCell(int8(rng.IntN(101)), int8(rng.IntN(101)), fmt.Sprintf("main>a.c-%d", rng.IntN(6)))}
				if rng.IntN(10) == 0 {
					k.Cell = k.Cell[:rng.IntN(2)]
				}
				h.both.Add(k, heatmap.Vec{N: 1, X: rng.Int64N(1500), Y: rng.Int64N(9000), K: int64(rng.IntN(2)), RX: int64(rng.IntN(101))}, 1)
			}
			in[rng.Int64()-rng.Int64()] = h
		}
		// Rows a binary before version 2 wrote still decode.
		for _, b := range [][]byte{encodeQueued(nil, in), encodeQueuedV1(in)} {
			wantQueued(t, b, in)
			for cut := range len(b) {
				// A cut between sites is a shorter valid encoding of some
				// of the sites; any other cut must be refused.
				got, err := decodeQueued(b[:cut])
				if err != nil {
					continue
				}
				if len(got) >= len(in) {
					t.Fatalf("cut at %d of %d decoded all %d sites", cut, len(b), len(got))
				}
				for site, o := range got {
					h := in[site]
					if !sameHeat(o, h) {
						t.Fatalf("cut at %d of %d decoded site %d wrong", cut, len(b), site)
					}
				}
			}
		}
	}
}

// encodeQueuedV1 is the j row's version 1 encoding, as the binaries
// before version 2 wrote it: a table of the pages, then per site its id
// and its three sections, each a count and entries of (page index,
// device, day, kind, cell, the vec's six fields).
func encodeQueuedV1(heat map[int64]*siteHeat) []byte {
	var pages queuedTable
	for _, h := range heat {
		for _, sec := range h.sections() {
			for k := range sec.d {
				pages.of(k.Page)
			}
		}
		for _, c := range h.moves {
			pages.of(c.k.Page)
		}
	}
	b := pages.appendTo(nil)
	entry := func(k heatmap.Key, v heatmap.Vec) {
		b = binary.AppendUvarint(b, pages.of(k.Page))
		b = binary.AppendVarint(b, int64(k.Device))
		b = binary.AppendVarint(b, int64(k.Day))
		b = append(b, byte(k.Kind))
		b = binary.AppendUvarint(b, uint64(len(k.Cell)))
		b = append(b, k.Cell...)
		b = v.Append(b)
	}
	for site, h := range heat {
		b = binary.BigEndian.AppendUint64(b, uint64(site))
		for i, sec := range h.sections() {
			n := len(sec.d)
			if i == 0 {
				n += len(h.moves)
			}
			b = binary.AppendUvarint(b, uint64(n))
			for k, v := range sec.d {
				entry(k, v)
			}
			if i == 0 {
				for _, c := range h.moves {
					entry(c.k, c.v)
				}
			}
		}
	}
	return b
}

// wantQueued checks that b decodes to want's changes.
func wantQueued(t testing.TB, b []byte, want map[int64]*siteHeat) {
	t.Helper()
	got, err := decodeQueued(b)
	if err != nil {
		t.Fatalf("encoded changes refused: %v", err)
	}
	if len(got) != len(want) {
		t.Fatalf("decoded %d sites, want %d", len(got), len(want))
	}
	for site, h := range want {
		if o := got[site]; !sameHeat(o, h) {
			t.Fatalf("site %d: decoded %+v, want %+v", site, o, h)
		}
	}
}

// sameHeat tells whether two sites' changes are present and equal, each
// site's listed moves counted in its changes to both rows.
func sameHeat(a, b *siteHeat) bool {
	both := func(h *siteHeat) heatmap.Deltas {
		d := heatmap.Deltas{}
		maps.Copy(d, h.both)
		for _, c := range h.moves {
			d.Add(c.k, c.v, 1)
		}
		return d
	}
	return a != nil && b != nil && maps.Equal(both(a), both(b)) && maps.Equal(a.day, b.day) && maps.Equal(a.week, b.week)
}

// TestQueuedV2Bytes pins version 2's bytes (j rows outlive the binary
// that wrote them): a click and a move on one page, and a row whose
// section opens with a change that does not name its key, refused.
func TestQueuedV2Bytes(t *testing.T) {
	h := newSiteHeat()
	click := heatmap.Key{Page: "/p", Device: 1, Day: 2, Kind: heatmap.Click, Cell: heatmap.ClickCell(50, 40, "a.b")}
	h.both[click] = heatmap.Vec{N: 1, X: 700, K: 1}
	move := heatmap.Key{Page: "/p", Device: 1, Day: 2, Kind: heatmap.Move, Cell: "\x01\x02\x03\x04\x05\x06"}
	h.moves = []heatChange{{move, heatmap.Vec{N: 3}}}
	got := encodeQueued(nil, map[int64]*siteHeat{9: h})
	want := []byte{0, queuedV2,
		1, 2, '/', 'p', // pages
		1, 3, 'a', '.', 'b', // selectors
		0, 0, 0, 0, 0, 0, 0, 9, // the site
		2, // changes to both rows
		queuedNewKey | queuedElement | 1<<queuedVecBit | 1<<(queuedVecBit+1) | 1<<(queuedVecBit+3), 0, 2, 4, byte(heatmap.Click), 50, 40, 0, 2, 0xf8, 0x0a, 2,
		queuedNewKey | 1<<queuedVecBit, 0, 2, 4, byte(heatmap.Move), 6, 1, 2, 3, 4, 5, 6, 6,
		0, 0, // day, week
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("encoded\n %v\nwant\n %v", got, want)
	}
	wantQueued(t, got, map[int64]*siteHeat{9: h})
	// The move without its key: it would take the click's.
	bad := slices.Clone(want)
	i := bytes.Index(bad, []byte{queuedNewKey | 1<<queuedVecBit, 0, 2, 4, byte(heatmap.Move)})
	bad = slices.Delete(bad, i+1, i+5)
	bad[i] &^= queuedNewKey
	bad[19] = 1 // the move alone in the section: its first change
	bad = slices.Delete(bad, 20, i)
	if out, err := decodeQueued(bad); err == nil {
		t.Fatalf("a section opening without a key decoded: %+v", out[9])
	}
}

// FuzzDecodeQueued: a j row read at Open (written by a crashed process,
// or damaged on disk) decodes or is refused, never a panic, and what
// decodes encodes back to the same changes.
func FuzzDecodeQueued(f *testing.F) {
	h := newSiteHeat()
	h.both[heatmap.Key{Page: "https://shop.example.com/", Device: 1, Day: 20400, Kind: heatmap.Click, Cell: heatmap.ClickCell(50, 50, "a.buy")}] = heatmap.Vec{N: 1, X: 700, Y: 400, K: 1, RX: 55, RY: 45}
	h.day[heatmap.Key{Page: "https://shop.example.com/", Device: 3, Day: 20400, Kind: heatmap.Scroll, Cell: heatmap.FoldCell}] = heatmap.Vec{N: -1, X: -900}
	h.week[heatmap.Key{Page: "https://shop.example.com/p", Kind: heatmap.Page}] = heatmap.Vec{X: 2}
	f.Add(encodeQueued(nil, map[int64]*siteHeat{7: h, -3: newSiteHeat()}))
	f.Add(encodeQueuedV1(map[int64]*siteHeat{7: h, -3: newSiteHeat()}))
	f.Add([]byte{0})
	f.Add([]byte{1, 0, 0, 0, 0, 0, 0, 0, 0, 9, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		in, err := decodeQueued(b)
		if err != nil {
			return
		}
		wantQueued(t, encodeQueued([]byte("left"), in)[4:], in)
	})
}

// TestWriteDeltasLists: writeDeltas writes the sum of its maps' changes to
// the rows rowsOf names, one list per day or week row (a week's list sums
// its days' changes of a cell), over pages, devices, kinds, days and
// weeks, cells of every length, some sharing a prefix, changes of one key
// in several maps, and changes that cancel (within a day, across maps and
// across a week's days: no zero cell is written, nor a row of none). Each
// case runs three times on one scratch, as the flusher's flushes do, with
// inputs of different sizes: nothing of one write shows in the next.
func TestWriteDeltasLists(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for _, tc := range []struct {
		name   string
		rowsOf func(heatmap.Key) rows
	}{
		{name: "both rows", rowsOf: func(heatmap.Key) rows { return bothRows }},
		{name: "rebuild split", rowsOf: func(k heatmap.Key) rows { return rows(1 + k.Day&1) }},
	} {
		sc := &deltaScratch{}
		for round, changes := range []int{3000, 200, 5000} {
			t.Run(fmt.Sprintf("%s/%d", tc.name, round), func(t *testing.T) { checkWriteDeltas(t, r, tc.rowsOf, sc, changes) })
		}
	}
}

// checkWriteDeltas writes random changes in three maps and two lists with
// writeDeltas (on sc) and checks the rows written against their sums, key
// by key.
func checkWriteDeltas(t *testing.T, r *rand.Rand, rowsOf func(heatmap.Key) rows, sc *deltaScratch, changes int) {
	cell := func() string {
		b := make([]byte, []int{0, 1, 5, 6, 7, 40}[r.IntN(6)])
		for i := range b {
			b[i] = "\x00\x01ab\xff"[r.IntN(5)]
		}
		return string(b)
	}
	kinds := []heatmap.Kind{heatmap.Click, heatmap.Move, heatmap.Scroll, heatmap.Rage, heatmap.Dead, heatmap.Sessions, heatmap.Page}
	ds := []heatmap.Deltas{{}, {}, {}}
	listed := make([][]heatChange, 2)
	for range changes {
		k := heatmap.Key{Page: fmt.Sprintf("https://a/%d", r.IntN(3)), Device: int32(r.IntN(3)), Day: int32(r.IntN(40) - 20), Kind: kinds[r.IntN(len(kinds))], Cell: cell()}
		if k.Kind == heatmap.Page {
			// The page dictionary's keys name only the page.
			k.Device, k.Day, k.Cell = 0, 0, ""
		}
		n := int64(r.IntN(5) - 2)
		if i := r.IntN(len(ds) + len(listed)); i < len(ds) {
			ds[i].Add(k, heatmap.Vec{N: n, X: 2 * n}, 1)
		} else {
			// Listed changes (siteHeat.moves) may name a cell twice.
			listed[i-len(ds)] = append(listed[i-len(ds)], heatChange{k, heatmap.Vec{N: n, X: 2 * n}})
		}
	}
	all := sum(ds...)
	for _, l := range listed {
		for _, c := range l {
			all.Add(c.k, c.v, 1)
		}
	}
	// What each row's cells must sum to, built key by key.
	type at struct{ row, cell string }
	want := map[at]heatmap.Vec{}
	for k, v := range all {
		rw := rowsOf(k)
		if k.Kind == heatmap.Page {
			if rw&dayRow != 0 {
				want[at{string(pageKey(1, k.Page)), ""}] = v
			}
			continue
		}
		if rw&weekRow != 0 {
			wk := at{string(heatGroup(1, k.Page, k.Device, k.Kind|weekFlag).i32(weekOf(k.Day))), k.Cell}
			want[wk] = want[wk].Add(v, 1)
		}
		if rw&dayRow != 0 {
			dk := at{string(heatKey(1, k)), k.Cell}
			want[dk] = want[dk].Add(v, 1)
		}
	}
	maps.DeleteFunc(want, func(_ at, v heatmap.Vec) bool { return v.Zero() })
	s := open(t, store.Limits{})
	b := s.db.NewBatch()
	defer b.Close()
	if err := writeDeltas(b, sc, 1, rowsOf, listed, ds...); err != nil {
		t.Fatal(err)
	}
	got := map[at]heatmap.Vec{}
	written := map[string]bool{}
	rd := b.Reader()
	for {
		kind, k, v, ok, err := rd.Next()
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			break
		}
		if kind != pebble.InternalKeyKindMerge {
			t.Fatalf("row %x written as %v, want a merge", k, kind)
		}
		if written[string(k)] {
			t.Fatalf("row %x written twice", k)
		}
		written[string(k)] = true
		if k[0] == pHeatPage {
			vec, err := heatmap.UnmarshalVec(v)
			if err != nil {
				t.Fatal(err)
			}
			got[at{string(k), ""}] = vec
			continue
		}
		if len(k) != heatKeyLen || k[9] != heatListMark {
			t.Fatalf("row %x is not a list's", k)
		}
		cells, err := decodeHeatList(v)
		if err != nil {
			t.Fatalf("row %x: %v", k, err)
		}
		if len(cells) == 0 {
			t.Fatalf("row %x written with no cell", k)
		}
		for _, c := range cells {
			got[at{string(k), string(c.cell)}] = c.v
		}
	}
	if !maps.Equal(got, want) {
		t.Fatalf("wrote %d cells, want %d (or different sums)", len(got), len(want))
	}
}

// sum answers the changes of ds added up, those that sum to zero left out.
func sum(ds ...heatmap.Deltas) heatmap.Deltas {
	out := heatmap.Deltas{}
	for _, d := range ds {
		for k, v := range d {
			out.Add(k, v, 1)
		}
	}
	return out.Prune()
}

// TestRebuildPointsSnapshots: a rebuild points each page's snapshot from
// the stored chunks, as their appends did — the full snapshot's page and a
// route change's — so pages of chunks stored before a version pointed
// them get theirs; the newest pointer still wins.
func TestRebuildPointsSnapshots(t *testing.T) {
	ctx := context.Background()
	s := open(t, store.Limits{})
	const site, day = 61, 20400
	const device = 0 // the builder's chunks name no device class
	older, newer := chunk(t, site, 1, 0, day, true), chunk(t, site, 2, 0, day, true)
	// The newer session's second batch moves to /cart by a route change.
	b := &storetest.Builder{Site: site, Session: newer.SessionID, Visitor: newer.Stats.VisitorID, ServerMs: newer.Stats.ServerMs + 1000}
	route := b.ChunkEvents(t, 1, newer.PageViewID, []map[string]any{
		{"type": 5, "timestamp": 1763890020000, "data": map[string]any{"tag": "sl:view", "payload": map[string]any{"x": 0, "y": 0, "w": 1000, "h": 3000, "v": 800, "d": 1}}},
		{"type": 5, "timestamp": 1763890021000, "data": map[string]any{"tag": "sl:navigation", "payload": map[string]any{"url": "https://shop.example.com/cart?step=2", "referrer": "https://shop.example.com/"}}},
	})
	appendTo(t, []store.Chunk{older}, s)
	appendTo(t, []store.Chunk{newer, route}, s)
	pointers := func() map[string]store.HeatSnapshot {
		t.Helper()
		out := map[string]store.HeatSnapshot{}
		for _, page := range []string{"https://shop.example.com/", "https://shop.example.com/cart"} {
			sn, ok, err := s.HeatSnapshot(ctx, site, page, device)
			if err != nil {
				t.Fatal(err)
			}
			if ok {
				out[page] = sn
			}
		}
		return out
	}
	want := pointers()
	if len(want) != 2 || want["https://shop.example.com/"].SessionID != newer.SessionID || want["https://shop.example.com/cart"].FullSnapshotMs != 1763890021000 {
		t.Fatalf("pointers after the appends: %+v", want)
	}
	// As a store written before routes were pointed: no pointer at all.
	p := newKey(pSnapshot).u64(site)
	if err := s.db.DeleteRange(p, upperBound(p), pebble.Sync); err != nil {
		t.Fatal(err)
	}
	if got := pointers(); len(got) != 0 {
		t.Fatalf("pointers left after the delete: %+v", got)
	}
	if err := s.RebuildHeat(ctx, site, day, nil); err != nil {
		t.Fatal(err)
	}
	if got := pointers(); !reflect.DeepEqual(got, want) {
		t.Fatalf("pointers after the rebuild\n got %+v\nwant %+v", got, want)
	}
	// Rebuilt again over pointers that exist: the newest still wins.
	if err := s.RebuildHeat(ctx, site, day, nil); err != nil {
		t.Fatal(err)
	}
	if got := pointers(); !reflect.DeepEqual(got, want) {
		t.Fatalf("pointers after a second rebuild\n got %+v\nwant %+v", got, want)
	}
}

// TestHeatFlushFailureKeepsChanges fails the heatmap queue's flushes (the
// timed ones and one called here) while chunks are appended: the changes
// stay queued, and once writes succeed again one flush leaves the
// aggregates (h and g rows) byte for byte as on a store whose flushes never
// failed, with no queue rows left.
func TestHeatFlushFailureKeepsChanges(t *testing.T) {
	s, ref := open(t, store.Limits{}), open(t, store.Limits{})
	ctx := context.Background()
	const site = int64(3_000_000_023)
	refused := errors.New("disk refused the write")
	// Set before the appends: the timed flusher fails too, so the flush
	// below has every change to fail on.
	failOn(s, "heat flush", refused)
	appendBoth := func(chunks ...store.Chunk) {
		t.Helper()
		for _, st := range []*Store{s, ref} {
			if _, err := st.Append(ctx, chunks); err != nil {
				t.Fatal(err)
			}
		}
	}
	for n := range 4 {
		appendBoth(chunk(t, site, n, 0, 20400+int32(n%2), n%2 == 0))
	}
	_, queued, _ := s.heatq.depth()
	if err := s.flushHeat(); !errors.Is(err, refused) {
		t.Fatalf("the failed flush answered %v", err)
	}
	if _, after, _ := s.heatq.depth(); after != queued || queued != 4 {
		t.Fatalf("queued appends: %d before the failed flush, %d after (want 4 both)", queued, after)
	}
	failOn(s, "", nil)
	appendBoth(chunk(t, site, 4, 0, 20401, true), chunk(t, site, 1, 1, 20401, false))
	for _, st := range []*Store{s, ref} {
		if err := st.flushHeat(); err != nil {
			t.Fatal(err)
		}
	}
	rows := func(st *Store, prefix byte) map[string]string {
		out := map[string]string{}
		if err := st.scan([]byte{prefix}, nil, func(k, v []byte) error { out[string(k)] = string(v); return nil }); err != nil {
			t.Fatal(err)
		}
		return out
	}
	for _, p := range []byte{pHeat, pHeatPage} {
		got, want := rows(s, p), rows(ref, p)
		if len(want) == 0 {
			t.Fatalf("the reference store has no %c rows", p)
		}
		if !maps.Equal(got, want) {
			t.Fatalf("%c rows after failed flushes differ: %d rows, %d where none failed", p, len(got), len(want))
		}
	}
	if j := rows(s, pHeatQueue); len(j) != 0 {
		t.Fatalf("%d queue rows left after the flush", len(j))
	}
}
