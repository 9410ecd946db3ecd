package heatmap

import (
	"cmp"
	"encoding/binary"
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"

	recordingsv1 "github.com/sightlinehq/sightline/gen/sightline/recordings/v1"
	"github.com/sightlinehq/sightline/svc-recordings/summary"
)

func TestVecRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for range 1000 {
		v := Vec{r.Int64() - math.MaxInt64/2, r.Int64N(1000) - 500, -r.Int64(), r.Int64N(3), r.Int64N(101), -r.Int64N(5)}
		got, err := UnmarshalVec(v.Marshal())
		if err != nil || got != v {
			t.Fatalf("%+v → %+v, %v", v, got, err)
		}
	}
	for _, bad := range [][]byte{nil, {1}, {1, 2, 3}, {1, 2, 3, 4}, {1, 2, 3, 4, 5, 6, 7}, {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}} {
		if _, err := UnmarshalVec(bad); err == nil {
			t.Errorf("UnmarshalVec(%x): no error", bad)
		}
	}
}

func TestCells(t *testing.T) {
	rx, ry, sel, ok := ParseClickCell(ClickCell(100, 4, "body>a#x"))
	if !ok || rx != 100 || ry != 0 || sel != "body>a#x" {
		t.Fatalf("click cell: %d %d %q %v", rx, ry, sel, ok)
	}
	x, y, ok := ParseMoveCell(MoveCell(1000, 1e7))
	if !ok || x != 1000 || y != 1e7 {
		t.Fatalf("move cell: %d %d %v", x, y, ok)
	}
	if _, _, ok := ParseMoveCell("abc"); ok {
		t.Fatal("short move cell parsed")
	}
	if ClickCell(ClickStep+ClickStep/2, 99, "a") != ClickCell(ClickStep, 100-ClickStep+1, "a") || ClickCell(-3, 120, "a") != ClickCell(0, 100, "a") {
		t.Fatal("click cells are not ClickStep wide")
	}
	if DepthCell(-5) != DepthCell(0) || DepthCell(250) != DepthCell(100) || DepthCell(100) == FoldCell {
		t.Fatal("depth cells out of range")
	}
}

func session() ([]summary.ChunkStats, *summary.State) {
	a := &summary.Anchor{Page: "https://x.example/", Day: 20000, Sel: "body>a", RX: 10, RY: 20, X: 300, Y: 40, Known: true}
	c1 := summary.ChunkStats{Seq: 0, PageViewID: "p1", ServerMs: 20000 * 86_400_000, EventCount: 5, FirstMs: 1, LastMs: 5000,
		Client: &summary.Client{DeviceType: 2},
		Clicks: []summary.Click{{T: 10, X: 1, Y: 1, Node: 3, H: a}, {T: 20, X: 1, Y: 1, Node: 3, H: a}, {T: 30, X: 1, Y: 1, Node: 3, H: a}},
		Heat: &summary.Heat{Pages: []string{"https://x.example/"}, Moves: []summary.Move{{X: 500, Y: 96, N: 3}},
			Scrolls: []summary.Scroll{{Bottom: 1500, Doc: 3000, Fold: 700}}},
	}
	st := []summary.ChunkStats{c1}
	return st, summary.Fold(st)
}

// TestSessionAddsAndSubtracts: what a session adds, subtracting it takes
// away exactly (deleting a visitor leaves nothing of theirs).
func TestSessionAddsAndSubtracts(t *testing.T) {
	stats, s := session()
	if s.Rage != 1 {
		t.Fatalf("the fixture should hold one rage burst: %+v", s.Frustrations)
	}
	d := Deltas{}
	Session(d, stats, s, 1)
	want := map[Key]Vec{
		{Page: "https://x.example/", Device: 2, Day: 20000, Kind: Click, Cell: ClickCell(10, 20, "body>a")}: {N: 3, X: 900, Y: 120, K: 3, RX: 30, RY: 60},
		{Page: "https://x.example/", Device: 2, Day: 20000, Kind: Rage, Cell: ClickCell(10, 20, "body>a")}:  {N: 1, X: 300, Y: 40, K: 1, RX: 10, RY: 20},
		{Page: "https://x.example/", Device: 2, Day: 20000, Kind: Move, Cell: MoveCell(500, 96)}:            {N: 3},
		{Page: "https://x.example/", Device: 2, Day: 20000, Kind: Scroll, Cell: DepthCell(50)}:              {N: 1},
		{Page: "https://x.example/", Device: 2, Day: 20000, Kind: Scroll, Cell: FoldCell}:                   {N: 1, X: 700, Y: 3000},
		{Page: "https://x.example/", Device: 2, Day: 20000, Kind: Sessions}:                                 {N: 1},
		{Page: "https://x.example/", Kind: Page}:                                                            {N: 1, X: 3},
	}
	if len(d) != len(want) {
		t.Errorf("%d keys, want %d: %+v", len(d), len(want), d)
	}
	for k, v := range want {
		if d[k] != v {
			t.Errorf("%+v = %+v, want %+v", k, d[k], v)
		}
	}
	Session(d, stats, s, -1)
	if n := len(d.Prune()); n != 0 {
		t.Fatalf("%d keys left after subtracting the session", n)
	}
}

// TestAddChunkCountsEachPagesClicks: a chunk whose clicks go from page
// to page (a single-page app's route changes) counts each page's clicks in
// the page dictionary, and only clicks with an anchor.
func TestAddChunkCountsEachPagesClicks(t *testing.T) {
	a := &summary.Anchor{Page: "https://x.example/a", Day: 20000, Sel: "body>a"}
	b := &summary.Anchor{Page: "https://x.example/b", Day: 20000, Sel: "body>b"}
	st := summary.ChunkStats{Clicks: []summary.Click{{H: a}, {H: a}, {H: b}, {}, {H: a}, {H: b}, {H: &summary.Anchor{}}, {H: b}}}
	d := Deltas{}
	AddChunk(d, &st, 1)
	for page, want := range map[string]int64{"https://x.example/a": 3, "https://x.example/b": 3} {
		if got := d[Key{Page: page, Kind: Page}]; got != (Vec{X: want}) {
			t.Errorf("%s: %+v, want %d clicks", page, got, want)
		}
	}
	AddChunk(d, &st, -1)
	if n := len(d.Prune()); n != 0 {
		t.Fatalf("%d keys left after subtracting the chunk", n)
	}
}

func TestBuildScroll(t *testing.T) {
	s := Sums{}
	// 4 page views: deepest at 20, 50, 50 and 100 %.
	for _, p := range []int32{20, 50, 50, 100} {
		s.Add(Scroll, DepthCell(p), Vec{N: 1})
		s.Add(Scroll, FoldCell, Vec{N: 1, X: 800, Y: 4000})
	}
	s.Add(Sessions, "", Vec{N: 3})
	out := Build(Scroll, s, 0)
	sm := out.GetScroll()
	if sm.GetPageViews() != 4 || out.GetSessions() != 3 || out.GetTotal() != 4 {
		t.Fatalf("views %d sessions %d total %d", sm.GetPageViews(), out.GetSessions(), out.GetTotal())
	}
	for d, want := range map[int]float64{0: 1, 20: 1, 21: 0.75, 50: 0.75, 51: 0.25, 100: 0.25} {
		if got := sm.GetReached()[d]; got != want {
			t.Errorf("reached[%d] = %v, want %v", d, got, want)
		}
	}
	if sm.GetHalfDepth() != 50 || sm.GetAverageFold() != 800 || sm.GetAverageHeight() != 4000 {
		t.Errorf("half %d fold %d height %d", sm.GetHalfDepth(), sm.GetAverageFold(), sm.GetAverageHeight())
	}
	if empty := Build(Scroll, Sums{}, 0).GetScroll(); empty.GetPageViews() != 0 || len(empty.GetReached()) != 101 {
		t.Errorf("empty scroll map %+v", empty)
	}
}

func TestBuildClicks(t *testing.T) {
	s := Sums{}
	// Six clicks in the cell from 10 %, at 11 % and 13 % across: drawn at 12 %.
	s.Add(Click, ClickCell(10, 10, "#buy"), Vec{N: 6, X: 600, Y: 60, K: 6, RX: 72, RY: 60})
	s.Add(Click, ClickCell(90, 90, "#buy"), Vec{N: 2, RX: 180, RY: 190})
	s.Add(Click, ClickCell(50, 50, "#nav"), Vec{N: 2, X: 20, Y: 2, K: 2, RX: 100, RY: 100})
	s.Add(Click, ClickCell(50, 50, "#gone"), Vec{N: -1}) // never counted
	out := Build(Click, s, 2)
	if out.GetTotal() != 10 || !out.GetTruncated() || len(out.GetClicks()) != 2 {
		t.Fatalf("total %d truncated %v clicks %d", out.GetTotal(), out.GetTruncated(), len(out.GetClicks()))
	}
	if c := out.GetClicks()[0]; c.GetSelector() != "#buy" || c.GetCount() != 6 || c.GetRx() != 12 || c.GetRy() != 10 || c.GetX() != 100 || c.GetY() != 10 || !c.GetPositioned() {
		t.Errorf("top cell %+v", c)
	}
	els := out.GetElements()
	if len(els) != 2 || els[0].GetSelector() != "#buy" || els[0].GetCount() != 8 || els[0].GetShare() != 0.8 || els[1].GetShare() != 0.2 {
		t.Errorf("elements %+v", els)
	}
}

func TestBuildMoves(t *testing.T) {
	s := Sums{}
	s.Add(Move, MoveCell(10, 16), Vec{N: 5})
	s.Add(Move, MoveCell(10, 16), Vec{N: 5})
	s.Add(Move, MoveCell(20, 32), Vec{N: 1})
	out := Build(Move, s, 0)
	if out.GetTotal() != 11 || len(out.GetCells()) != 2 || out.GetCells()[0].GetCount() != 10 || out.GetCells()[0].GetY() != 16 {
		t.Fatalf("%+v", out)
	}
}

// moveCellReference is MoveCell as first written (appends), the stored
// form the one-allocation MoveCell must keep byte for byte.
// TestAddChunkMatchesReference: AddChunk, which cuts a chunk's cells from
// one string, adds what adding each click and move with its own cell
// (ClickCell, MoveCell) adds, on random chunks: clicks without an anchor
// or a page, moves on a page the chunk does not have, selectors past the
// stack buffer, several pages, no heat.
func TestAddChunkMatchesReference(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	pages := []string{"https://x.example/a", "https://x.example/b/*", ""}
	for range 2000 {
		st := summary.ChunkStats{ServerMs: 20000*86_400_000 + r.Int64N(86_400_000), Client: &summary.Client{DeviceType: r.Int32N(4)}}
		if r.IntN(4) > 0 {
			st.Heat = &summary.Heat{Pages: pages[:r.IntN(3)]}
			for range r.IntN(30) {
				st.Heat.Moves = append(st.Heat.Moves, summary.Move{Page: uint8(r.IntN(3)), X: r.Int32N(1001), Y: r.Int32N(9000) - 100, N: 1 + r.Int32N(40)})
			}
		}
		for range r.IntN(8) {
			var c summary.Click
			if r.IntN(5) > 0 {
				sel := strings.Repeat("body>main>div.c-card>", 1+r.IntN(3)) + strconv.Itoa(r.IntN(4))
				if r.IntN(10) == 0 {
					sel = strings.Repeat("x", 300)
				}
				c.H = &summary.Anchor{Page: pages[r.IntN(3)], Day: 20000 - r.Int32N(2), Sel: sel, RX: int8(r.IntN(120) - 10), RY: int8(r.IntN(101)), Known: r.IntN(2) == 0, X: r.Int32N(1001), Y: r.Int32N(5000)}
			}
			st.Clicks = append(st.Clicks, c)
		}
		sign := int64(1 - 2*r.IntN(2))
		want := Deltas{}
		clicks := map[string]int64{}
		for _, c := range st.Clicks {
			if c.H == nil || c.H.Page == "" {
				continue
			}
			want.Add(Key{Page: c.H.Page, Device: st.Client.DeviceType, Day: c.H.Day, Kind: Click, Cell: ClickCell(c.H.RX, c.H.RY, c.H.Sel)}, anchorVec(c.H), sign)
			clicks[c.H.Page]++
		}
		for page, n := range clicks {
			want.Add(Key{Page: page, Kind: Page}, Vec{X: n}, sign)
		}
		if st.Heat != nil {
			for _, m := range st.Heat.Moves {
				if int(m.Page) < len(st.Heat.Pages) {
					want.Add(Key{Page: st.Heat.Pages[m.Page], Device: st.Client.DeviceType, Day: summary.Day(st.ServerMs), Kind: Move, Cell: MoveCell(m.X, m.Y)}, Vec{N: int64(m.N)}, sign)
				}
			}
		}
		got := Deltas{}
		AddChunk(got, &st, sign)
		if !maps.Equal(got.Prune(), want.Prune()) {
			t.Fatalf("AddChunk(%+v)\n got %v\nwant %v", st, got, want)
		}
	}
}

func moveCellReference(x, y int32) string {
	b := binary.BigEndian.AppendUint16(nil, uint16(x))
	return string(binary.BigEndian.AppendUint32(b, uint32(y)))
}

func TestMoveCellMatchesReference(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	xs := []int32{0, 1, 999, 1000, math.MaxInt16, -1, math.MaxInt32, math.MinInt32}
	for range 1000 {
		xs = append(xs, r.Int32N(1001), int32(r.Uint32()))
	}
	for i, x := range xs {
		y := xs[len(xs)-1-i]
		if got, want := MoveCell(x, y), moveCellReference(x, y); got != want {
			t.Fatalf("MoveCell(%d, %d) = %x, want %x", x, y, got, want)
		}
	}
}

// TestClickOrder: clickOrder ranks cells as its definition (count
// descending, then selector, ry and rx) does, on random cells with many
// equal counts and selectors.
func TestClickOrder(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	ref := func(a, b *recordingsv1.HeatmapClick) int {
		return cmp.Or(cmp.Compare(b.Count, a.Count), cmp.Compare(a.Selector, b.Selector), cmp.Compare(a.Ry, b.Ry), cmp.Compare(a.Rx, b.Rx))
	}
	for range 200 {
		a := &recordingsv1.HeatmapClick{Selector: "#e" + strconv.Itoa(r.IntN(3)), Count: r.Int64N(3), Rx: r.Int32N(3), Ry: r.Int32N(3)}
		b := &recordingsv1.HeatmapClick{Selector: "#e" + strconv.Itoa(r.IntN(3)), Count: r.Int64N(3), Rx: r.Int32N(3), Ry: r.Int32N(3)}
		if got, want := clickOrder(a, b), ref(a, b); got != want {
			t.Fatalf("clickOrder(%v, %v) = %d, want %d", a, b, got, want)
		}
	}
}

// TestAddStateChangeMatchesAddState checks the change an append adds
// against the whole of both folds, AddState(after) − AddState(before),
// on random folds changed in place as Advance changes them: reach that
// deepens, page views that come or go, a page, day or device that changes,
// frustrations appended, anchored late or replaced, the client's device
// learnt late.
func TestAddStateChangeMatchesAddState(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	pages := []string{"https://a.example/", "https://a.example/p/*", "https://b.example/x"}
	anchor := func() *summary.Anchor {
		return &summary.Anchor{Page: pages[r.IntN(len(pages))], Day: int32(20000 + r.IntN(3)), Sel: []string{"a#buy", "button.go", "div>p"}[r.IntN(3)], RX: int8(r.IntN(101)), RY: int8(r.IntN(101)), X: int32(r.IntN(2000)), Y: int32(r.IntN(9000)), Known: r.IntN(2) == 0}
	}
	reach := func() *summary.Reach {
		return &summary.Reach{Page: pages[r.IntN(len(pages))], Day: int32(20000 + r.IntN(3)), Device: int32(r.IntN(4)), Pct: int32(r.IntN(101)), Fold: int32(r.IntN(1000)), Doc: int32(r.IntN(9000))}
	}
	frust := func() summary.Frustration {
		f := summary.Frustration{Kind: summary.FrustrationKind(1 + r.IntN(2)), T: r.Int64N(1e6)}
		if r.IntN(4) > 0 {
			f.H = anchor()
		}
		return f
	}
	changes := 0
	for iter := range 3000 {
		var s *summary.State
		if r.IntN(10) > 0 {
			s = &summary.State{Reach: map[string]*summary.Reach{}}
			for range r.IntN(12) {
				s.Reach[fmt.Sprintf("p_%d\x00%s", r.IntN(20), pages[r.IntN(len(pages))])] = reach()
			}
			for range r.IntN(5) {
				s.Frustrations = append(s.Frustrations, frust())
			}
			if r.IntN(3) > 0 {
				s.Client = &summary.Client{DeviceType: int32(r.IntN(4))}
			}
		}
		want := Deltas{}
		AddState(want, s, -1)
		before := PartOf(s)
		// The fold: in place, as Advance works, or a fresh state.
		after := s
		if after == nil || r.IntN(8) == 0 {
			after = &summary.State{Reach: map[string]*summary.Reach{}}
		}
		for range r.IntN(4) {
			switch op := r.IntN(9); {
			case op < 3 && len(after.Reach) > 0: // deeper on a page view seen
				for _, x := range after.Reach {
					x.Pct = min(x.Pct+int32(1+r.IntN(30)), 100)
					break
				}
			case op < 5: // a new page view
				after.Reach[fmt.Sprintf("p_new%d\x00%s", r.IntN(1000), pages[r.IntN(len(pages))])] = reach()
			case op == 5 && len(after.Reach) > 0: // a page view replaced or dropped
				for k := range after.Reach {
					if r.IntN(2) == 0 {
						delete(after.Reach, k)
					} else {
						after.Reach[k] = reach()
					}
					break
				}
			case op == 6:
				after.Frustrations = append(after.Frustrations, frust())
			case op == 7 && len(after.Frustrations) > 0:
				i := r.IntN(len(after.Frustrations))
				if after.Frustrations[i].H != nil && r.IntN(2) == 0 {
					after.Frustrations[i].H.RX = int8(r.IntN(101)) // in place
				} else {
					after.Frustrations[i] = frust()
				}
			default:
				after.Client = &summary.Client{DeviceType: int32(r.IntN(4))}
			}
		}
		AddState(want, after, 1)
		got := Deltas{}
		AddStateChange(got, before, after)
		want.Prune()
		got.Prune()
		if len(want) > 0 {
			changes++
		}
		if !maps.Equal(got, want) {
			t.Fatalf("fold %d: AddStateChange\n got %v\nwant %v", iter, got, want)
		}
	}
	if changes < 2000 {
		t.Fatalf("only %d of 3000 folds changed the aggregates: the test exercises too little", changes)
	}
}

// BenchmarkStateChange is what an append's fold costs aggregation in a
// session of many page views, the append deepening the last one's reach:
// "whole" re-adds both folds (AddState −before, +after), "change" copies
// the part before and adds what changed (PartOf, AddStateChange).
func BenchmarkStateChange(b *testing.B) {
	for _, views := range []int{1, 100, 1000} {
		s := &summary.State{Reach: map[string]*summary.Reach{}, Client: &summary.Client{DeviceType: 1}}
		var last *summary.Reach
		for v := range views {
			last = &summary.Reach{Page: "https://shop.example.com/p/*", Day: 20000, Device: 1, Pct: 40, Fold: 800, Doc: 3000}
			s.Reach[fmt.Sprintf("p_long%014d\x00https://shop.example.com/p/*", v)] = last
		}
		for _, mode := range []string{"whole", "change"} {
			b.Run(fmt.Sprintf("views-%d/%s", views, mode), func(b *testing.B) {
				for b.Loop() {
					d := Deltas{}
					last.Pct = 40
					if mode == "whole" {
						AddState(d, s, -1)
						last.Pct = 41
						AddState(d, s, 1)
					} else {
						before := PartOf(s)
						last.Pct = 41
						AddStateChange(d, before, s)
					}
					if len(d.Prune()) != 2 {
						b.Fatalf("%d cells changed, want 2 (the depth cells)", len(d))
					}
				}
			})
		}
	}
}
