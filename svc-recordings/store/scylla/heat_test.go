package scylla

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	recordingsv1 "github.com/sightlinehq/sightline/gen/sightline/recordings/v1"
	sessionsv1 "github.com/sightlinehq/sightline/gen/sightline/sessions/v1"
	"github.com/sightlinehq/sightline/svc-recordings/heatmap"
	"github.com/sightlinehq/sightline/svc-recordings/store"
	"github.com/sightlinehq/sightline/svc-recordings/summary"
)

const heatPage = "https://shop.example.com/p"

// heatChunk is a mobile chunk of session with a snapshot, sl:view, a
// click anchored by sl:click and pointer movement.
func heatChunk(t *testing.T, session string, seq int64) store.Chunk {
	t.Helper()
	evs, _ := json.Marshal([]map[string]any{
		{"type": 5, "timestamp": 1763890000000, "data": map[string]any{"tag": "sl:view", "payload": map[string]any{"x": 0, "y": 100, "w": 1000, "h": 3000, "v": 800, "d": 1}}},
		{"type": 2, "timestamp": 1763890000001, "data": map[string]any{"node": map[string]any{"type": 0, "id": 1}, "initialOffset": map[string]any{"top": 100, "left": 0}}},
		{"type": 3, "timestamp": 1763890000100, "data": map[string]any{"source": 2, "type": 2, "id": 7, "x": 100, "y": 50}},
		{"type": 5, "timestamp": 1763890000101, "data": map[string]any{"tag": "sl:click", "payload": map[string]any{"id": 7, "s": "body>button#buy", "rx": 25, "ry": 75}}},
		{"type": 3, "timestamp": 1763890000300, "data": map[string]any{"source": 1, "positions": []any{map[string]any{"x": 300, "y": 200, "id": 5, "timeOffset": -100}}}},
		{"type": 3, "timestamp": 1763890000400, "data": map[string]any{"source": 0, "adds": []any{}, "removes": []any{}, "texts": []any{}, "attributes": []any{}}},
	})
	ch := &recordingsv1.Chunk{
		SiteId: 3_000_000_007, SessionId: session, VisitorId: "v_abcdefghijklmnopqrstuv", PageViewId: "p_abcdefghijklmnopqrstuv",
		Seq: seq, Url: heatPage + "?utm_source=x", Events: evs, ServerTime: timestamppb.New(fixedNow),
		Client: &sessionsv1.Client{DeviceType: sessionsv1.DeviceType_DEVICE_TYPE_MOBILE},
	}
	st, err := summary.Extract(ch, 42, fixedNow.Add(time.Hour).UnixMilli())
	if err != nil {
		t.Fatal(err)
	}
	if st.Heat == nil || st.Heat.Snap == 0 || len(st.Clicks) != 1 || st.Clicks[0].H == nil {
		t.Fatalf("the chunk carries no heatmap data: %+v", st.Heat)
	}
	return store.Chunk{SiteID: ch.SiteId, SessionID: session, Seq: seq, PageViewID: ch.PageViewId, Data: []byte("zstd"), Stats: st}
}

// counted reads counter statements back as deltas per generation.
func counted(t *testing.T, batches [][]Stmt) map[int32]heatmap.Deltas {
	t.Helper()
	out := map[int32]heatmap.Deltas{}
	for _, b := range batches {
		if len(b) > counterBatch {
			t.Errorf("a counter batch of %d statements", len(b))
		}
		for _, st := range b {
			if st.Idempotent {
				t.Errorf("counter update marked idempotent: %s", st.CQL)
			}
			var gen int32
			var site any
			var k heatmap.Key
			var v heatmap.Vec
			switch {
			case strings.HasPrefix(st.CQL, "UPDATE ks.heat_pages SET n = n + ?, x = x + ? WHERE site_id = ? AND gen = ? AND page = ?"):
				v.N, v.X, site, gen = st.Args[0].(int64), st.Args[1].(int64), st.Args[2], st.Args[3].(int32)
				k = heatmap.Key{Page: st.Args[4].(string), Kind: heatmap.Page}
			case strings.HasPrefix(st.CQL, "UPDATE ks.heat SET n = n + ?, x = x + ?, y = y + ?, k = k + ?, rx = rx + ?, ry = ry + ? WHERE site_id = ? AND gen = ? AND page = ? AND device = ? AND kind = ? AND day = ? AND cell = ?"):
				v = heatmap.Vec{N: st.Args[0].(int64), X: st.Args[1].(int64), Y: st.Args[2].(int64), K: st.Args[3].(int64), RX: st.Args[4].(int64), RY: st.Args[5].(int64)}
				site, gen = st.Args[6], st.Args[7].(int32)
				k = heatmap.Key{Page: st.Args[8].(string), Device: st.Args[9].(int32), Kind: heatmap.Kind(st.Args[10].(int8)), Day: st.Args[11].(int32), Cell: string(st.Args[12].([]byte))}
			default:
				t.Fatalf("counter statement %q", st.CQL)
			}
			if site != int64(3_000_000_007) {
				t.Errorf("counter of another site: %v", st.Args)
			}
			if out[gen] == nil {
				out[gen] = heatmap.Deltas{}
			}
			out[gen].Add(k, v, 1)
		}
	}
	for _, d := range out {
		d.Prune()
	}
	return out
}

func TestHeatAppendStatements(t *testing.T) {
	r := &recorder{casApplied: true}
	s := newRecorded(r)
	c := heatChunk(t, "s_heatheatheatheatheat01", 0)
	if _, err := s.Append(context.Background(), []store.Chunk{c}); err != nil {
		t.Fatal(err)
	}
	// The counters come after the summary's transaction and its batch.
	if i, j := slices.Index(r.order, "cas"), slices.Index(r.order, "counters"); i < 0 || j < i || slices.Index(r.order, "batch") > j {
		t.Fatalf("write order %v", r.order)
	}
	want := heatmap.Deltas{}
	heatmap.Session(want, []summary.ChunkStats{c.Stats}, summary.Fold([]summary.ChunkStats{c.Stats}), 1)
	got := counted(t, r.counters)
	if len(got) != 1 || !reflect.DeepEqual(got[0], want.Prune()) {
		t.Fatalf("counters %v, want generation 0 with %v", got, want)
	}
	if len(find(r.iters, "SELECT layout, marker, version FROM ks.heat_layout WHERE site_id = ?")) != 1 {
		t.Fatal("the layout was not read once")
	}
	snap := find(r.execs, insertSnapshot)
	if len(snap) != 1 || !snap[0].Idempotent || snap[0].Args[1] != heatPage || snap[0].Args[2] != int32(2) ||
		snap[0].Args[3] != int32(store.SnapshotSlot(c.SessionID)) || snap[0].Args[5] != fixedNow.UnixMilli()*1000 {
		t.Fatalf("snapshot pointer %+v", snap)
	}
	var sv snapValue
	if err := json.Unmarshal(snap[0].Args[4].([]byte), &sv); err != nil || sv.Session != c.SessionID || sv.ServerMs != fixedNow.UnixMilli() || sv.Full == 0 {
		t.Fatalf("snapshot value %+v %v", sv, err)
	}
}

// layoutRows answers the layout read with l and m.
func layoutRows(t *testing.T, l heatLayout, m *heatMarker) [][]any {
	lb, _ := json.Marshal(l)
	var mb []byte
	if m != nil {
		mb, _ = json.Marshal(m)
	}
	return [][]any{{lb, mb, int64(4)}}
}

// TestHeatWritesFollowTheLayout: days go to the generation of their
// segment, pages to the dictionary's; a session an unfinished rebuild has
// counted writes its generation too, for the days it recounts.
func TestHeatWritesFollowTheLayout(t *testing.T) {
	day := summary.Day(fixedNow.UnixMilli())
	l := heatLayout{Segs: []heatSeg{{0, math.MinInt32}, {3, day}}, Pages: 3, Next: 6}
	for _, c := range []struct {
		session string
		want    []int32
	}{
		{"s_aaaaaaaaaaaaaaaaaaaaaa", []int32{3, 5}}, // behind the cursor
		{"s_zzzzzzzzzzzzzzzzzzzzzz", []int32{3}},
	} {
		r := &recorder{casApplied: true, rows: func(q Stmt) [][]any {
			if strings.HasPrefix(q.CQL, "SELECT layout") {
				return layoutRows(t, l, &heatMarker{Gen: 5, Since: day, Cursor: "s_mmmmmmmmmmmmmmmmmmmmmm"})
			}
			return nil
		}}
		if _, err := newRecorded(r).Append(context.Background(), []store.Chunk{heatChunk(t, c.session, 0)}); err != nil {
			t.Fatal(err)
		}
		got := counted(t, r.counters)
		if gens := slices.Sorted(func(yield func(int32) bool) {
			for g := range got {
				if !yield(g) {
					return
				}
			}
		}); !slices.Equal(gens, c.want) {
			t.Fatalf("%s wrote generations %v, want %v", c.session, gens, c.want)
		}
		if len(c.want) == 2 && !reflect.DeepEqual(got[3], got[5]) {
			t.Fatalf("the rebuild's generation differs from the live one:\n%v\n%v", got[3], got[5])
		}
	}
}

func TestHeatReadStatements(t *testing.T) {
	l := heatLayout{Segs: []heatSeg{{0, math.MinInt32}, {3, 100}, {7, 200}}, Pages: 7, Next: 8}
	cell := heatmap.ClickCell(25, 75, "body>a")
	r := &recorder{rows: func(q Stmt) [][]any {
		switch {
		case strings.HasPrefix(q.CQL, "SELECT layout"):
			return layoutRows(t, l, nil)
		case strings.HasPrefix(q.CQL, "SELECT kind, cell"):
			return [][]any{{int8(1), []byte(cell), int64(2), int64(10), int64(20), int64(2), int64(50), int64(150)}, {int8(1), []byte("zero"), int64(0), int64(0), int64(0), int64(0), int64(0), int64(0)}}
		case strings.HasPrefix(q.CQL, "SELECT page, n, x"):
			return [][]any{{heatPage, int64(3), int64(4)}, {heatPage + "/gone", int64(0), int64(0)}}
		}
		return nil
	}}
	s := newRecorded(r)
	var rows int
	err := s.Heat(context.Background(), store.HeatQuery{SiteID: 9, Pages: []string{heatPage, heatPage, strings.Repeat("x", 300)}, FromDay: 50, ToDay: 150, Kinds: []heatmap.Kind{heatmap.Click, heatmap.Page}}, func(k heatmap.Kind, c string, v heatmap.Vec) error {
		if k != heatmap.Click || c != cell || v != (heatmap.Vec{N: 2, X: 10, Y: 20, K: 2, RX: 50, RY: 150}) {
			t.Errorf("row %d %q %v", k, c, v)
		}
		rows++
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	reads := find(r.iters, "SELECT kind, cell, n, x, y, k, rx, ry FROM ks.heat WHERE site_id = ? AND gen = ? AND page = ? AND device IN ? AND kind IN ? AND day >= ? AND day <= ?")
	// The reads run concurrently: in generation order to compare.
	slices.SortFunc(reads, func(a, b Stmt) int { return cmp.Compare(a.Args[1].(int32), b.Args[1].(int32)) })
	// Days 50..150 span generation 0 (50..99) and 3 (100..150); the page
	// given twice is read once, the overlong one never.
	if len(reads) != 2 || rows != 2 {
		t.Fatalf("%d reads, %d rows: %+v", len(reads), rows, reads)
	}
	for i, want := range [][3]any{{int32(0), int32(50), int32(99)}, {int32(3), int32(100), int32(150)}} {
		a := reads[i].Args
		if a[1] != want[0] || a[5] != want[1] || a[6] != want[2] || a[2] != heatPage || !reads[i].Idempotent || reads[i].PageSize == 0 {
			t.Fatalf("read %d args %v, want gen/from/to %v", i, a, want)
		}
		if !reflect.DeepEqual(a[3], allDevices()) || !reflect.DeepEqual(a[4], []int8{1}) {
			t.Fatalf("read %d devices %v kinds %v", i, a[3], a[4])
		}
	}
	if err := s.Heat(context.Background(), store.HeatQuery{SiteID: 9, Pages: []string{heatPage}, FromDay: 10, ToDay: 5}, func(heatmap.Kind, string, heatmap.Vec) error { return nil }); err != nil || len(find(r.iters, "SELECT kind")) != 2 {
		t.Fatalf("an empty day range read: %v", err)
	}
	var pages []string
	if err := s.HeatPages(context.Background(), 9, "https://a", func(p string, v heatmap.Vec) error {
		pages = append(pages, p)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	pr := find(r.iters, "SELECT page, n, x FROM ks.heat_pages WHERE site_id = ? AND gen = ? AND page > ?")
	if len(pr) != 1 || pr[0].Args[1] != int32(7) || pr[0].Args[2] != "https://a" || !slices.Equal(pages, []string{heatPage}) {
		t.Fatalf("page dictionary read %+v, pages %v", pr, pages)
	}
}

// TestHeatReadsConcurrently: a map over many pages runs its statements
// heatReadsInFlight at a time (a read per page one after another waits a
// round trip each), and hands every row to fn once, on the caller's
// goroutine, whatever the batches; an error of fn or of a read ends Heat
// with it, without starting the remaining statements.
func TestHeatReadsConcurrently(t *testing.T) {
	l := heatLayout{Segs: []heatSeg{{0, math.MinInt32}}, Pages: 1, Next: 1}
	const pages, bigPage = 200, 7
	var pageNames []string
	for i := range pages {
		pageNames = append(pageNames, fmt.Sprintf("https://shop.example.com/product/%03d", i))
	}
	rowsOf := func(page string) [][]any {
		n := 3
		if page == pageNames[bigPage] {
			n = 2*heatRowsBatch + 5 // several batches
		}
		var out [][]any
		for c := range n {
			out = append(out, []any{int8(heatmap.Click), []byte(fmt.Sprintf("%s#%d", page, c)), int64(1), int64(0), int64(0), int64(0), int64(0), int64(0)})
		}
		return append(out, []any{int8(heatmap.Click), []byte("zero"), int64(0), int64(0), int64(0), int64(0), int64(0), int64(0)})
	}
	type run struct {
		r        *recorder
		inFlight atomic.Int32
		most     atomic.Int32
	}
	newRun := func() *run {
		var ru run
		full := make(chan struct{})
		var once sync.Once
		ru.r = &recorder{rows: func(q Stmt) [][]any {
			if strings.HasPrefix(q.CQL, "SELECT layout") {
				return layoutRows(t, l, nil)
			}
			n := ru.inFlight.Add(1)
			defer ru.inFlight.Add(-1)
			for {
				m := ru.most.Load()
				if n <= m || ru.most.CompareAndSwap(m, n) {
					break
				}
			}
			if n == heatReadsInFlight {
				once.Do(func() { close(full) })
			}
			// The first reads wait until as many as may run are running:
			// one after another, they never would be.
			select {
			case <-full:
			case <-time.After(5 * time.Second):
				t.Errorf("at most %d reads ran at once", ru.most.Load())
				once.Do(func() { close(full) }) // the others need not wait
			}
			return rowsOf(q.Args[2].(string))
		}}
		return &ru
	}

	ru := newRun()
	s := newRecorded(ru.r)
	seen := map[string]int{}
	caller := goroutineID()
	err := s.Heat(context.Background(), store.HeatQuery{SiteID: 9, Pages: pageNames, FromDay: 1, ToDay: 2, Kinds: []heatmap.Kind{heatmap.Click}}, func(k heatmap.Kind, c string, v heatmap.Vec) error {
		if goroutineID() != caller {
			t.Fatal("fn called on another goroutine")
		}
		if k != heatmap.Click || v != (heatmap.Vec{N: 1}) {
			t.Errorf("row %d %q %v", k, c, v)
		}
		seen[c]++
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := 0
	for _, p := range pageNames {
		for _, row := range rowsOf(p) {
			if c := string(row[1].([]byte)); c != "zero" {
				want++
				if seen[c] != 1 {
					t.Fatalf("row %q handed %d times", c, seen[c])
				}
			}
		}
	}
	if len(seen) != want || ru.most.Load() != heatReadsInFlight {
		t.Fatalf("%d rows of %d; at most %d reads at once, want %d", len(seen), want, ru.most.Load(), heatReadsInFlight)
	}
	if n := len(find(ru.r.iters, "SELECT kind")); n != pages {
		t.Fatalf("%d reads of %d pages", n, pages)
	}

	// fn's error ends the read: no further statement starts once it is
	// seen (those in flight finish).
	ru = newRun()
	stop := errors.New("enough")
	calls := 0
	err = newRecorded(ru.r).Heat(context.Background(), store.HeatQuery{SiteID: 9, Pages: pageNames, FromDay: 1, ToDay: 2}, func(heatmap.Kind, string, heatmap.Vec) error {
		calls++
		return stop
	})
	if !errors.Is(err, stop) || calls != 1 {
		t.Fatalf("fn's error: %v after %d calls", err, calls)
	}
	if n := len(find(ru.r.iters, "SELECT kind")); n >= pages {
		t.Fatalf("all %d reads ran after fn's error", n)
	}

	// A read's error ends it too.
	bad := &failingReads{recorder: newRun().r, fail: pageNames[150]}
	err = newStore(bad, Config{Keyspace: "ks", PageSize: 7}).Heat(context.Background(), store.HeatQuery{SiteID: 9, Pages: pageNames, FromDay: 1, ToDay: 2}, func(heatmap.Kind, string, heatmap.Vec) error { return nil })
	if !errors.Is(err, errReadFailed) {
		t.Fatalf("a failed read: %v", err)
	}
}

var errReadFailed = errors.New("read timed out")

// failingReads fails the read of one page.
type failingReads struct {
	*recorder
	fail string
}

func (f *failingReads) Iter(ctx context.Context, st Stmt) Iter {
	it := f.recorder.Iter(ctx, st)
	if len(st.Args) > 2 && st.Args[2] == f.fail {
		return errIter{}
	}
	return it
}

type errIter struct{}

func (errIter) Scan(...any) bool  { return false }
func (errIter) PageState() []byte { return nil }
func (errIter) Close() error      { return errReadFailed }

// goroutineID names the calling goroutine (from its stack's header).
func goroutineID() string {
	b := make([]byte, 64)
	b = b[:runtime.Stack(b, false)]
	id, _, _ := strings.Cut(strings.TrimPrefix(string(b), "goroutine "), " ")
	return id
}

// insertSnapshot is the statement of a snapshot pointer.
const insertSnapshot = "INSERT INTO ks.heat_snapshots (site_id, page, device, slot, v) VALUES (?, ?, ?, ?, ?) USING TIMESTAMP ?"

// TestHeatSnapshotChecksTheSession: the pointers of every slot and the one
// of before slots are read, and the newest whose session is still stored
// answers.
func TestHeatSnapshotChecksTheSession(t *testing.T) {
	ptr := func(session string, serverMs int64) []byte {
		v, _ := json.Marshal(snapValue{Session: session, PV: "p_" + session, Seq: serverMs, Full: 5, ServerMs: serverMs, URL: heatPage})
		return v
	}
	for _, c := range []struct {
		live []string
		want string
	}{
		{[]string{"s_a", "s_b", "s_c", "s_d"}, "s_a"},
		{[]string{"s_b", "s_c", "s_d"}, "s_b"}, // s_b's slot is lower than s_d's
		{[]string{"s_c", "s_d"}, "s_d"},
		{[]string{"s_c"}, "s_c"}, // the slotless pointer, oldest
		{nil, ""},
	} {
		r := &recorder{rows: func(q Stmt) [][]any {
			switch {
			case strings.HasPrefix(q.CQL, "SELECT slot, v FROM ks.heat_snapshots WHERE site_id = ? AND page = ? AND device = ?"):
				return [][]any{{int32(1), ptr("s_b", 8)}, {int32(4), ptr("s_a", 9)}, {int32(6), ptr("s_d", 8)}}
			case strings.HasPrefix(q.CQL, "SELECT v FROM ks.heat_snapshot WHERE site_id = ? AND page = ? AND device = ?"):
				return [][]any{{ptr("s_c", 7)}}
			case strings.HasPrefix(q.CQL, "SELECT state, version") && slices.Contains(c.live, q.Args[1].(string)):
				st, _ := summary.NewState().Marshal()
				return [][]any{{st, int64(1), int64(1), "v_x", int64(1), int64(0), int64(0)}}
			}
			return nil
		}}
		got, ok, err := newRecorded(r).HeatSnapshot(context.Background(), 9, heatPage, 1)
		if err != nil || ok != (c.want != "") || got.SessionID != c.want || (ok && (got.PageViewID != "p_"+c.want || got.Seq != got.ServerMs)) {
			t.Errorf("live %v: %+v %v %v, want %q", c.live, got, ok, err, c.want)
		}
	}
}

// TestDeleteSubtractsHeat: the stored stats' part is subtracted, after the
// deletion's batch.
func TestDeleteSubtractsHeat(t *testing.T) {
	c := heatChunk(t, "s_heatheatheatheatheat01", 0)
	stats, _ := c.Stats.Marshal()
	state := summary.Fold([]summary.ChunkStats{c.Stats})
	enc, _ := state.Marshal()
	r := &recorder{rows: func(q Stmt) [][]any {
		switch {
		case strings.HasPrefix(q.CQL, "SELECT state, version"):
			return [][]any{{enc, int64(1), int64(1), "v_abcdefghijklmnopqrstuv", int64(5), int64(0), int64(0)}}
		case strings.HasPrefix(q.CQL, "SELECT stats FROM ks.chunks_v2"):
			return [][]any{{stats}}
		}
		return nil
	}}
	if err := newRecorded(r).DeleteSession(context.Background(), c.SiteID, c.SessionID); err != nil {
		t.Fatal(err)
	}
	want := heatmap.Deltas{}
	heatmap.Session(want, []summary.ChunkStats{c.Stats}, state, -1)
	if got := counted(t, r.counters); !reflect.DeepEqual(got[0], want.Prune()) || slices.Index(r.order, "batch") > slices.Index(r.order, "counters") {
		t.Fatalf("subtracted %v, want %v (order %v)", got, want, r.order)
	}
}

// TestRebuildStatements: a rebuild opens a generation, counts the sessions
// into it (days ≥ since and pages only), moves its cursor, and switches
// the layout at the end.
func TestRebuildStatements(t *testing.T) {
	c := heatChunk(t, "s_heatheatheatheatheat01", 0)
	stats, _ := c.Stats.Marshal()
	enc, _ := summary.Fold([]summary.ChunkStats{c.Stats}).Marshal()
	day := summary.Day(fixedNow.UnixMilli())
	var layout, marker []byte
	var version int64
	r := &recorder{}
	r.onCAS = func(st Stmt) bool {
		switch {
		case strings.HasPrefix(st.CQL, "INSERT INTO ks.heat_layout (site_id, layout, marker, version) VALUES (?, ?, ?, ?) IF NOT EXISTS"):
			layout, marker, version = st.Args[1].([]byte), st.Args[2].([]byte), 1
		case strings.HasPrefix(st.CQL, "UPDATE ks.heat_layout SET layout = ?, marker = ?, version = ? WHERE site_id = ? IF version = ?"):
			if st.Args[4] != version {
				return false
			}
			layout, marker, version = st.Args[0].([]byte), st.Args[1].([]byte), st.Args[2].(int64)
		default:
			t.Fatalf("transaction %q", st.CQL)
		}
		return true
	}
	r.rows = func(q Stmt) [][]any {
		switch {
		case strings.HasPrefix(q.CQL, "SELECT layout"):
			if version == 0 {
				return nil
			}
			return [][]any{{layout, marker, version}}
		case strings.HasPrefix(q.CQL, "SELECT COUNT(*) FROM ks.sessions_by_site"):
			return [][]any{{int64(2)}}
		case strings.HasPrefix(q.CQL, "SELECT page, n, x FROM ks.heat_pages"):
			return [][]any{{heatPage, int64(1), int64(1)}}
		case strings.HasPrefix(q.CQL, "SELECT session_id FROM ks.sessions_by_site WHERE site_id = ? AND session_id > ? LIMIT ?"):
			all := []string{"s_heatheatheatheatheat01", "s_heatheatheatheatheat02"}
			var out [][]any
			for _, id := range all {
				if id > q.Args[1].(string) && len(out) < q.Args[2].(int) {
					out = append(out, []any{id})
				}
			}
			return out
		case strings.HasPrefix(q.CQL, "SELECT state, version"):
			return [][]any{{enc, int64(1), int64(1), "v_x", int64(5), int64(0), int64(0)}}
		case strings.HasPrefix(q.CQL, "SELECT stats FROM ks.chunks_v2"):
			return [][]any{{stats}}
		}
		return nil
	}
	s := newRecorded(r)
	s.rebuildStep = 1
	var progress [][2]int64
	if err := s.RebuildHeat(context.Background(), c.SiteID, day+1, func(d, t int64) { progress = append(progress, [2]int64{d, t}) }); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(progress, [][2]int64{{1, 2}, {2, 2}, {2, 2}}) {
		t.Fatalf("progress %v", progress)
	}
	// Each session's snapshot is pointed again, at its chunk's server
	// time (a newer pointer's write time wins over it).
	snaps := find(r.execs, insertSnapshot)
	if len(snaps) != 2 {
		t.Fatalf("%d snapshot pointers written, want one per session", len(snaps))
	}
	for i, st := range snaps {
		var sv snapValue
		if err := json.Unmarshal(st.Args[4].([]byte), &sv); err != nil || sv.Session != fmt.Sprintf("s_heatheatheatheatheat%02d", i+1) || sv.Full == 0 ||
			st.Args[1] != heatPage || st.Args[2] != int32(sessionsv1.DeviceType_DEVICE_TYPE_MOBILE) || st.Args[3] != int32(store.SnapshotSlot(sv.Session)) ||
			st.Args[5] != fixedNow.UnixMilli()*1000 || !st.Idempotent {
			t.Fatalf("snapshot pointer %d: %+v (%+v, %v)", i, st, sv, err)
		}
	}
	// The session's days are before since: only its pages are recounted,
	// twice (two sessions), into generation 1.
	got := counted(t, r.counters)
	if len(got) != 1 || len(got[1]) != 1 {
		t.Fatalf("rebuild counters %v", got)
	}
	for k, v := range got[1] {
		if k.Kind != heatmap.Page || k.Page != heatPage || v.N != 2 || v.X != 2 {
			t.Fatalf("rebuilt %v = %v", k, v)
		}
	}
	var l heatLayout
	if err := json.Unmarshal(layout, &l); err != nil || len(marker) != 0 {
		t.Fatalf("final layout %s marker %s: %v", layout, marker, err)
	}
	if want := (heatLayout{Segs: []heatSeg{{0, math.MinInt32}, {1, day + 1}}, Pages: 1, Next: 2}); !reflect.DeepEqual(l, want) {
		t.Fatalf("layout %+v, want %+v", l, want)
	}
	// The replaced generation's rows of the rebuilt days are dropped.
	drops := find(r.execs, "DELETE FROM ks.heat WHERE site_id = ? AND gen = ? AND page = ? AND device = ? AND kind = ? AND day >= ?")
	if len(drops) != len(allDevices())*len(heatKinds) || drops[0].Args[1] != int32(0) || drops[0].Args[5] != day+1 ||
		len(find(r.execs, "DELETE FROM ks.heat_pages WHERE site_id = ? AND gen = ?")) != 1 {
		t.Fatal("replaced rows kept")
	}
}

// TestSweepSubtractsHeat: an expired session's rows outlive its expiry by
// the sweep's look-back, so the sweep reads its stats and subtracts them.
func TestSweepSubtractsHeat(t *testing.T) {
	c := heatChunk(t, "s_heatheatheatheatheat01", 0)
	stats, _ := c.Stats.Marshal()
	state := summary.Fold([]summary.ChunkStats{c.Stats})
	enc, _ := state.Marshal()
	exp := fixedNow.Add(-time.Minute).UnixMilli()
	r := &recorder{rows: func(q Stmt) [][]any {
		switch {
		case strings.HasPrefix(q.CQL, "SELECT expires_ms, site_id, session_id FROM ks.expiry") && q.Args[0] == exp/dayMs:
			return [][]any{{exp, c.SiteID, c.SessionID}}
		case strings.HasPrefix(q.CQL, "SELECT state, version"):
			return [][]any{{enc, int64(1), int64(1), "v_abcdefghijklmnopqrstuv", int64(5), exp, int64(0)}}
		case strings.HasPrefix(q.CQL, "SELECT stats FROM ks.chunks_v2"):
			return [][]any{{stats}}
		}
		return nil
	}}
	n, err := newRecorded(r).Sweep(context.Background(), fixedNow)
	if err != nil || n != 1 {
		t.Fatalf("swept %d: %v", n, err)
	}
	want := heatmap.Deltas{}
	heatmap.Session(want, []summary.ChunkStats{c.Stats}, state, -1)
	if got := counted(t, r.counters); !reflect.DeepEqual(got[0], want.Prune()) || slices.Index(r.order, "batch") > slices.Index(r.order, "counters") {
		t.Fatalf("subtracted %v, want %v (order %v)", got, want, r.order)
	}
}
