package summary

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/sightlinehq/sightline/batch"
	recordingsv1 "github.com/sightlinehq/sightline/gen/sightline/recordings/v1"
	sessionsv1 "github.com/sightlinehq/sightline/gen/sightline/sessions/v1"
)

func heatChunk(t *testing.T, seq int64, pv, url string, server time.Time, events ...ev) *recordingsv1.Chunk {
	t.Helper()
	b, err := json.Marshal(events)
	if err != nil {
		t.Fatal(err)
	}
	return &recordingsv1.Chunk{SiteId: 1, SessionId: "s_heat_0001", VisitorId: "v_heat_0001", PageViewId: pv, Seq: seq, Url: url,
		ServerTime: timestamppb.New(server), Events: b, Client: &sessionsv1.Client{DeviceType: sessionsv1.DeviceType_DEVICE_TYPE_MOBILE}}
}

func slView(t int64, x, y, w, h, v int) ev {
	return custom(t, "sl:view", map[string]any{"x": x, "y": y, "w": w, "h": h, "v": v, "d": 1})
}

func slClick(t int64, id int, sel string, rx, ry int) ev {
	return custom(t, "sl:click", map[string]any{"id": id, "s": sel, "rx": rx, "ry": ry})
}

func clickOn(t int64, id, x, y int) ev {
	return ev{"type": 3, "timestamp": t, "data": ev{"source": 2, "type": 2, "id": id, "x": x, "y": y}}
}

func docScroll(t int64, y int) ev {
	return ev{"type": 3, "timestamp": t, "data": ev{"source": 3, "id": 1, "x": 0, "y": y}}
}

func moves(t int64, pos ...[3]int) ev {
	var ps []ev
	for _, p := range pos {
		ps = append(ps, ev{"x": p[0], "y": p[1], "id": 5, "timeOffset": p[2]})
	}
	return ev{"type": 3, "timestamp": t, "data": ev{"source": 1, "positions": ps}}
}

// TestExtractHeat follows one chunk of a single-page app: a batch opened by
// sl:view, a click anchored by sl:click, pointer samples, a scroll, a route
// change and a click on the new route.
// twoPagesChunk is a chunk on page a, then (a route change) page b, with
// every kind of heat data: an anchored click, pointer samples, a document
// scroll, a click anchored by position only and a keyboard click.
func twoPagesChunk(t *testing.T, day time.Time) *recordingsv1.Chunk {
	return heatChunk(t, 0, "p_heat_0001", "https://shop.example/b?x=1", day, twoPagesEvents()...)
}

func twoPagesEvents() []ev {
	return []ev{
		slView(1000, 0, 100, 1000, 3000, 800),
		clickOn(1100, 7, 100, 50),
		slClick(1101, 7, "body>main>button#buy", 25, 75),
		// Two samples in one cell: the first rests 100 ms (2 units), the last counts once.
		moves(1300, [3]int{500, 400, -100}, [3]int{510, 400, 0}),
		docScroll(1400, 1200),
		custom(1500, "sl:navigation", map[string]any{"url": "https://shop.example/b?x=1", "referrer": "https://shop.example/a"}),
		clickOn(1600, 9, 20, 30), // no sl:click: anchored by position only
		clickOn(1700, 11, 0, 0),  // a keyboard click: no position
		slClick(1701, 11, "body>form>button", 50, 50),
	}
}

func TestExtractHeat(t *testing.T) {
	day := time.Date(2026, 11, 20, 23, 59, 0, 0, time.UTC)
	c := twoPagesChunk(t, day)
	st, err := Extract(c, 1, 0)
	if err != nil {
		t.Fatal(err)
	}
	if st.Heat == nil {
		t.Fatal("no heat")
	}
	if want := []string{"https://shop.example/a", "https://shop.example/b"}; !reflect.DeepEqual(st.Heat.Pages, want) {
		t.Fatalf("pages %q, want %q", st.Heat.Pages, want)
	}
	d := Day(day.UnixMilli())
	if len(st.Clicks) != 3 {
		t.Fatalf("clicks %+v", st.Clicks)
	}
	want0 := Anchor{Page: "https://shop.example/a", Day: d, Sel: "body>main>button#buy", RX: 25, RY: 75, X: 100, Y: 150, Known: true}
	if got := *st.Clicks[0].H; got != want0 {
		t.Errorf("first click %+v, want %+v", got, want0)
	}
	// After the scroll to 1200: document y = 30 + 1200.
	want1 := Anchor{Page: "https://shop.example/b", Day: d, X: 20, Y: 1230, Known: true}
	if got := *st.Clicks[1].H; got != want1 {
		t.Errorf("second click %+v, want %+v", got, want1)
	}
	want2 := Anchor{Page: "https://shop.example/b", Day: d, Sel: "body>form>button", RX: 50, RY: 50}
	if got := *st.Clicks[2].H; got != want2 {
		t.Errorf("keyboard click %+v, want %+v", got, want2)
	}
	wantMoves := []Move{{Page: 0, X: 500, Y: 480, N: 3}}
	if !reflect.DeepEqual(st.Heat.Moves, wantMoves) {
		t.Errorf("moves %+v, want %+v", st.Heat.Moves, wantMoves)
	}
	// Page a: opened at 100+800, scrolled to 1200+800; page b starts where a left off.
	wantScrolls := []Scroll{{Page: 0, Bottom: 2000, Doc: 3000, Fold: 800}, {Page: 1, Bottom: 2000, Doc: 3000, Fold: 800}}
	if !reflect.DeepEqual(st.Heat.Scrolls, wantScrolls) {
		t.Errorf("scrolls %+v, want %+v", st.Heat.Scrolls, wantScrolls)
	}
	// Extraction is deterministic (stores compare and refold stats).
	again, _ := Extract(c, 1, 0)
	if !reflect.DeepEqual(st, again) {
		t.Error("two extractions of one chunk differ")
	}
	s := Fold([]ChunkStats{st})
	if !reflect.DeepEqual(s.Clicked, []string{"body>main>button#buy", "body>form>button"}) {
		t.Errorf("clicked %q", s.Clicked)
	}
	if got := s.Summary(1, "s").GetClickedElements(); !reflect.DeepEqual(got, s.Clicked) {
		t.Errorf("summary clicked_elements %q", got)
	}
	if len(s.Reach) != 2 {
		t.Fatalf("reach %+v", s.Reach)
	}
	if r := s.Reach["p_heat_0001\x00https://shop.example/a"]; r == nil || r.Pct != 66 || r.Fold != 800 || r.Doc != 3000 || r.Day != d {
		t.Errorf("reach of page a %+v", r)
	}
}

// TestHeatReadersReused: extraction reuses its readers from chunk to
// chunk (newHeatReader, release), and nothing of one chunk shows in
// another's stats: each of chunks with moves, scrolls, clicks, a route
// change and a snapshot, or none of these, extracts the same in every
// order, twice over.
func TestHeatReadersReused(t *testing.T) {
	day := time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)
	chunks := []*recordingsv1.Chunk{
		twoPagesChunk(t, day),
		heatChunk(t, 1, "p_heat_0002", "https://shop.example/c", day, slView(2000, 0, 0, 1200, 5000, 900),
			moves(2100, [3]int{10, 20, -300}, [3]int{900, 4000, -100}, [3]int{905, 4001, 0}), docScroll(2200, 3000)),
		heatChunk(t, 2, "p_heat_0003", "https://shop.example/d", day, custom(3000, "plain", map[string]any{"a": 1})),
		heatChunk(t, 3, "p_heat_0004", "https://shop.example/e", day, slView(4000, 0, 0, 800, 900, 900),
			clickOn(4100, 3, 5, 5), slClick(4101, 3, "body>a", 10, 90)),
	}
	want := make([]string, len(chunks))
	for i, c := range chunks {
		st, err := Extract(c, 1, 0)
		if err != nil {
			t.Fatal(err)
		}
		want[i] = statsJSON(t, st)
	}
	for _, order := range [][]int{{0, 1, 2, 3}, {3, 2, 1, 0}, {1, 3, 0, 2}, {2, 0, 3, 1, 0, 1}} {
		for range 2 {
			for _, i := range order {
				st, err := Extract(chunks[i], 1, 0)
				if err != nil {
					t.Fatal(err)
				}
				if got := statsJSON(t, st); got != want[i] {
					t.Fatalf("chunk %d after others (order %v):\n%s\nalone:\n%s", i, order, got, want[i])
				}
			}
		}
	}
}

// statsJSON is st as JSON, every field (pointers followed).
func statsJSON(t *testing.T, st ChunkStats) string {
	t.Helper()
	b, err := json.Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestExtractWithoutHeat: with heatmaps off a chunk's stats are Extract's
// but for the heat data: no Heat, no anchors, nothing for the fold's reach
// and clicked elements.
func TestExtractWithoutHeat(t *testing.T) {
	c := twoPagesChunk(t, time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC))
	with, err := Extract(c, 1, 0)
	if err != nil {
		t.Fatal(err)
	}
	without, err := ExtractWithoutHeat(c, 1, 0)
	if err != nil {
		t.Fatal(err)
	}
	if with.Heat == nil || with.Clicks[0].H == nil {
		t.Fatal("Extract found no heat data")
	}
	with.Heat = nil
	for i := range with.Clicks {
		with.Clicks[i].H = nil
	}
	if !reflect.DeepEqual(with, without) {
		t.Errorf("without heat:\n%+v\nwant Extract's without its heat data:\n%+v", without, with)
	}
	if s := Fold([]ChunkStats{without}); len(s.Reach) != 0 || len(s.Clicked) != 0 {
		t.Errorf("the fold kept heat data: reach %v, clicked %q", s.Reach, s.Clicked)
	}
}

// TestExtractHeatOfMappedDevices: a chunk of a bot or of a browser the
// User-Agent parser could not place is extracted as with heatmaps off,
// whichever extraction is asked for; desktops, tablets, phones and an
// unknown class carry their heat data.
func TestExtractHeatOfMappedDevices(t *testing.T) {
	c := twoPagesChunk(t, time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC))
	withoutHeat := map[sessionsv1.DeviceType]bool{sessionsv1.DeviceType_DEVICE_TYPE_BOT: true, sessionsv1.DeviceType_DEVICE_TYPE_OTHER: true}
	for d := range sessionsv1.DeviceType_name {
		d := sessionsv1.DeviceType(d)
		c.Client.DeviceType = d
		without, err := ExtractWithoutHeat(c, 1, 0)
		if err != nil {
			t.Fatal(err)
		}
		for name, extract := range map[string]func() (ChunkStats, error){
			"Extract":     func() (ChunkStats, error) { return Extract(c, 1, 0) },
			"ExtractEach": func() (ChunkStats, error) { return ExtractEach(c, 1, 0, true, nil) },
		} {
			st, err := extract()
			if err != nil {
				t.Fatal(err)
			}
			if got := reflect.DeepEqual(st, without); got != withoutHeat[d] {
				t.Errorf("%v, %s: stats without heat data %v, want %v (heat %+v)", d, name, got, withoutHeat[d], st.Heat)
			}
			if !withoutHeat[d] && (st.Heat == nil || st.Clicks[0].H == nil) {
				t.Errorf("%v, %s: no heat data", d, name)
			}
		}
	}
}

// TestExtractHeatDocumentIDFromSnapshot: after a checkout the document's
// id is the snapshot's root, and its scroll events move the position.
func TestExtractHeatDocumentIDFromSnapshot(t *testing.T) {
	c := heatChunk(t, 9, "p_heat_0001", "https://shop.example/a", time.Unix(1e9, 0),
		custom(1, "sl:view", map[string]any{"x": 0, "y": 0, "w": 1000, "h": 3000, "v": 500, "d": -1}),
		ev{"type": 2, "timestamp": 2, "data": ev{"node": ev{"type": 0, "id": 40, "childNodes": []any{}}, "initialOffset": ev{"left": 0, "top": 100}}},
		ev{"type": 3, "timestamp": 3, "data": ev{"source": 3, "id": 40, "x": 0, "y": 700}},
		ev{"type": 3, "timestamp": 4, "data": ev{"source": 3, "id": 1, "x": 0, "y": 2900}}, // not the document any more
		clickOn(5, 7, 10, 10),
	)
	st, err := Extract(c, 1, 0)
	if err != nil {
		t.Fatal(err)
	}
	if a := st.Clicks[0].H; a == nil || !a.Known || a.Y != 710 {
		t.Fatalf("click %+v, want document y 710", a)
	}
	if sc := st.Heat.Scrolls; len(sc) != 1 || sc[0].Bottom != 1200 {
		t.Fatalf("scrolls %+v, want the bottom at 700+500", sc)
	}
}

// TestExtractHeatNeedsTheScrollPosition: without sl:view or a snapshot's
// offset nothing is placed in document coordinates.
func TestExtractHeatNeedsTheScrollPosition(t *testing.T) {
	c := heatChunk(t, 1, "p_heat_0001", "https://shop.example/a", time.Unix(1e9, 0),
		moves(1300, [3]int{500, 400, 0}),
		clickOn(1400, 7, 10, 10),
		docScroll(1500, 300), // the position is known from here on
		moves(1600, [3]int{1, 2, 0}),
	)
	st, err := Extract(c, 1, 0)
	if err != nil {
		t.Fatal(err)
	}
	if st.Clicks[0].H == nil || st.Clicks[0].H.Known {
		t.Fatalf("click before the position was known: %+v", st.Clicks[0].H)
	}
	// Moves need the document width too, which only sl:view gives.
	if st.Heat != nil && len(st.Heat.Moves) != 0 {
		t.Fatalf("moves without a document width: %+v", st.Heat.Moves)
	}
}

// TestFoldReachIsTheDeepest: a page view's reach is its deepest point over
// all its chunks, whatever order they arrive in.
func TestFoldReachIsTheDeepest(t *testing.T) {
	at := time.Unix(1.7e9, 0)
	a, _ := Extract(heatChunk(t, 0, "p_heat_0001", "https://x.example/", at, slView(1, 0, 0, 1000, 4000, 1000)), 1, 0)
	b, _ := Extract(heatChunk(t, 1, "p_heat_0001", "https://x.example/", at.Add(time.Hour*24), slView(2, 0, 2000, 1000, 4000, 1000)), 1, 0)
	c, _ := Extract(heatChunk(t, 2, "p_heat_0001", "https://x.example/", at, slView(3, 0, 500, 1000, 4000, 1000)), 1, 0)
	for _, order := range [][]ChunkStats{{a, b, c}, {c, b, a}, {b, a, c}} {
		s := Fold(order)
		r := s.Reach["p_heat_0001\x00https://x.example/"]
		if r == nil || r.Pct != 75 || r.Day != Day(at.UnixMilli()) {
			t.Fatalf("reach %+v", r)
		}
	}
}

// TestMovesCountWherePointersRest: samples of a pointer passing through
// (50 ms apart) count nothing; a pause counts its length, up to 2 s; the
// chunk's last sample counts once.
func TestMovesCountWherePointersRest(t *testing.T) {
	c := heatChunk(t, 0, "p_heat_0001", "https://shop.example/a", time.Unix(1e9, 0),
		slView(1000, 0, 0, 1000, 3000, 800),
		moves(2000, [3]int{100, 100, -150}, [3]int{200, 100, -100}, [3]int{300, 100, -50}, [3]int{400, 100, 0}), // passing through, then a pause
		moves(2400, [3]int{600, 100, 0}),  // rested 400 ms at 400; then a pause of 10 s
		moves(12400, [3]int{900, 100, 0}), // rested 2 s at most at 600; the last sample
	)
	st, err := Extract(c, 1, 0)
	if err != nil {
		t.Fatal(err)
	}
	want := []Move{{X: 400, Y: 96, N: 8}, {X: 600, Y: 96, N: maxMoveWeight}, {X: 900, Y: 96, N: 1}}
	if !reflect.DeepEqual(st.Heat.Moves, want) {
		t.Fatalf("moves %+v, want %+v", st.Heat.Moves, want)
	}
}

// FuzzSnapshotFields checks the one-pass read of a full snapshot's node
// and initialOffset against the reference, a Get of each (the first field
// of a name counts, escaped keys unescaped).
func FuzzSnapshotFields(f *testing.F) {
	f.Add([]byte(`[{"type":2,"timestamp":2,"data":{"node":{"type":0,"id":1,"childNodes":[]},"initialOffset":{"left":0,"top":40}}}]`))
	f.Add([]byte(`[{"type":2,"timestamp":2,"data":{"initialOffset":{"left":1,"top":2},"node":{"id":3},"node":{"id":4},"initialOffset":7}}]`))
	f.Add([]byte(`[{"type":2,"timestamp":2,"data":{"no\u0064e":{"id":5},"x":[1,{"node":2}],"initialOffset":null}}]`))
	f.Add([]byte(`[{"type":2,"timestamp":2,"data":{"node":[],"initialOffset":"x"}},{"type":3,"timestamp":3,"data":{"source":1}}]`))
	f.Fuzz(func(t *testing.T, b []byte) {
		it := batch.NewEvents(b)
		for it.Next() {
			data := it.Event().Data
			node, off := snapshotFields(data)
			if !bytes.Equal(node, data.Get("node")) || !bytes.Equal(off, data.Get("initialOffset")) {
				t.Fatalf("snapshotFields(%s) = %s, %s; want %s, %s", data, node, off, data.Get("node"), data.Get("initialOffset"))
			}
		}
	})
}

// rrwebOrder writes events with their keys in the order rrweb writes them
// — type, data (its source first), timestamp — where json.Marshal of the
// tests' maps sorts them (type last). Pointer positions in this order are
// read by the events' walk (batch.Events.ReadPositions), in the sorted one
// from the event's data afterwards.
func rrwebOrder(t *testing.T, events []ev) []byte {
	t.Helper()
	out := []byte{'['}
	for i, e := range events {
		if i > 0 {
			out = append(out, ',')
		}
		data := e["data"]
		if d, ok := data.(ev); ok && d["source"] != nil {
			rest := maps.Clone(d)
			delete(rest, "source")
			b, err := json.Marshal(rest)
			if err != nil {
				t.Fatal(err)
			}
			sep := ","
			if len(rest) == 0 {
				sep = ""
			}
			data = json.RawMessage(fmt.Sprintf(`{"source":%v%s%s`, d["source"], sep, b[1:]))
		}
		b, err := json.Marshal(data)
		if err != nil {
			t.Fatal(err)
		}
		out = fmt.Appendf(out, `{"type":%v,"data":%s,"timestamp":%v}`, e["type"], b, e["timestamp"])
	}
	return append(out, ']')
}

// TestPositionsReadInTheWalk: a chunk's heat data is the same whether its
// pointer positions are read as the events are checked (rrweb's key
// order) or afterwards from each event's data (any other order).
func TestPositionsReadInTheWalk(t *testing.T) {
	for name, events := range map[string][]ev{
		"two pages": twoPagesEvents(),
		"rests": {
			slView(1000, 0, 0, 1000, 3000, 800),
			moves(2000, [3]int{100, 100, -150}, [3]int{200, 100, -100}, [3]int{300, 100, -50}, [3]int{400, 100, 0}),
			ev{"type": 3, "timestamp": 2100, "data": ev{"source": 6, "positions": []ev{{"x": 10, "y": 2000, "id": 5, "timeOffset": -20}, {"x": 5}}}},
			moves(2400, [3]int{600, 100, 0}),
			moves(12400, [3]int{900, 100, 0}),
		},
		// The snapshot's offset and document id (read where the walk noted
		// them) place the moves after it.
		"snapshot": {
			slView(1000, 0, 0, 1000, 3000, 800),
			moves(1200, [3]int{100, 100, 0}),
			ev{"type": 2, "timestamp": 1500, "data": ev{"node": ev{"type": 0, "id": 7, "childNodes": []ev{}}, "initialOffset": ev{"left": 0, "top": 300}}},
			docScroll(1600, 900), // of document 1: not this page's any more
			moves(2000, [3]int{100, 100, 0}),
			moves(2400, [3]int{500, 100, 0}),
		},
	} {
		t.Run(name, func(t *testing.T) {
			sorted := heatChunk(t, 0, "p_heat_0001", "https://shop.example/b?x=1", time.Unix(1e9, 0), events...)
			walked := proto.Clone(sorted).(*recordingsv1.Chunk)
			walked.Events = rrwebOrder(t, events)
			read := 0
			it := batch.NewEvents(walked.Events)
			it.ReadPositions(positionKeys, nil)
			for it.Next() {
				if _, ok := it.Positions(); ok {
					read++
				}
			}
			want, err := Extract(sorted, 1, 0)
			if err != nil {
				t.Fatal(err)
			}
			got, err := Extract(walked, 1, 0)
			if err != nil {
				t.Fatal(err)
			}
			if name == "snapshot" && (want.Heat == nil || want.Heat.Snap == 0 || !slices.ContainsFunc(want.Heat.Moves, func(m Move) bool { return m.Y == 384 })) {
				t.Fatalf("the snapshot's offset not read: %+v", want.Heat)
			}
			if read == 0 || want.Heat == nil || len(want.Heat.Moves) == 0 {
				t.Fatalf("%d events' positions read in the walk; heat %+v", read, want.Heat)
			}
			if !reflect.DeepEqual(got.Heat, want.Heat) || !reflect.DeepEqual(got.Clicks, want.Clicks) {
				t.Fatalf("read in the walk: %+v %+v\nafterwards: %+v %+v", got.Heat, got.Clicks, want.Heat, want.Clicks)
			}
		})
	}
}

// TestSlClickPayloads: sl:click's fields as a hostile or odd tracker may
// send them: any key order, numbers that are strings, out of range, a name
// given twice (the first counts, as everywhere in batch), no selector.
func TestSlClickPayloads(t *testing.T) {
	day := time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		payload string
		want    *Anchor // Sel, RX, RY of the click on node 7; nil: not attached
	}{
		{`{"id":7,"s":"a.buy","rx":25,"ry":75}`, &Anchor{Sel: "a.buy", RX: 25, RY: 75}},
		{`{"ry":75,"rx":25,"s":"a.buy","id":7}`, &Anchor{Sel: "a.buy", RX: 25, RY: 75}},
		{`{"id":7,"s":"a.buy","rx":"25","ry":-4}`, &Anchor{Sel: "a.buy", RX: 0, RY: 0}},
		{`{"id":7,"s":"a.buy","rx":250,"ry":1e400}`, &Anchor{Sel: "a.buy", RX: 100, RY: 100}},
		{`{"id":7,"s":"a.buy","rx":"x","rx":30,"ry":40,"ry":90}`, &Anchor{Sel: "a.buy", RX: 0, RY: 40}},
		{`{"id":"7","s":"a.buy","rx":25,"ry":75}`, nil},
		{`{"id":7,"id":8,"s":"a.buy","rx":25,"ry":75}`, &Anchor{Sel: "a.buy", RX: 25, RY: 75}},
		{`{"id":8,"id":7,"s":"a.buy","rx":25,"ry":75}`, nil},
		{`{"id":7,"rx":25,"ry":75}`, nil},
		{`{"id":7,"s":7,"rx":25,"ry":75}`, nil},
		{`{"id":7,"s":"` + strings.Repeat("a", maxSelector+1) + `","rx":25,"ry":75}`, nil},
	} {
		c := heatChunk(t, 0, "p_heat_0001", "https://shop.example/a", day,
			slView(1000, 0, 0, 1000, 3000, 800), clickOn(1100, 7, 100, 50), custom(1101, "sl:click", json.RawMessage(tc.payload)))
		st, err := Extract(c, 1, 0)
		if err != nil {
			t.Fatalf("%s: %v", tc.payload, err)
		}
		if len(st.Clicks) != 1 || st.Clicks[0].H == nil {
			t.Fatalf("%s: clicks %+v", tc.payload, st.Clicks)
		}
		h := st.Clicks[0].H
		got := &Anchor{Sel: h.Sel, RX: h.RX, RY: h.RY}
		if tc.want == nil {
			if h.Sel != "" || h.RX != 0 || h.RY != 0 {
				t.Errorf("%s: attached %+v", tc.payload, *got)
			}
			continue
		}
		if *got != *tc.want {
			t.Errorf("%s: %+v, want %+v", tc.payload, *got, *tc.want)
		}
	}
}
