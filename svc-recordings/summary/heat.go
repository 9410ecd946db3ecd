package summary

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"sync"

	"github.com/sightlinehq/sightline/batch"
	"github.com/sightlinehq/sightline/pagerule"
)

// What a chunk tells heatmaps. The tracker adds two custom events to what
// rrweb records (docs/wire-format.md):
//
//   - sl:view {x, y, w, h, v, d} opens every batch: the document's scroll
//     position, its scroll width and height, the viewport height and rrweb's
//     id of the document. With it and rrweb's own scroll events on that id,
//     every pointer position of the chunk is known in document coordinates.
//   - sl:click {id, s, rx, ry} follows each click: the clicked element's
//     selector path and where in its box the click landed (0–100 % from its
//     left and top), so a map drawn at another width puts the click on the
//     same element.
//
// Everything here depends on the chunk alone (ChunkStats), except scroll
// reach, which the fold keeps per page view (Reach).

const (
	maxSelector    = 200
	maxMovesPerChk = 2000
	// MoveXStep and MoveYStep size a move cell: 2 % of the document width ×
	// 24 px, finer than the map's blur, coarse enough that a batch's pointer
	// path touches a few dozen cells (each a row written per day).
	MoveXStep       = 20  // thousandths of the document width
	MoveYStep       = 24  // CSS pixels
	moveSampleMs    = 50  // rrweb's mousemove sampling: one sample stands for this long
	restMs          = 100 // a pointer still for this long rests (samples come every 50 ms while it moves)
	maxMoveWeight   = 40  // a pointer resting longer than 2 s counts as 2 s
	maxClickedElems = 100
	maxReach        = 1000
	dayMs           = 24 * 60 * 60 * 1000
)

// Anchor is where a click landed, for heatmaps: the page key and UTC day
// it counts under, the element (selector path, place in its box in %),
// and, when the scroll position was known, its document position (X in
// thousandths of the document width, Y in pixels).
type Anchor struct {
	Page  string `json:"pk,omitempty"`
	Day   int32  `json:"d,omitempty"`
	Sel   string `json:"s,omitempty"`
	RX    int8   `json:"rx,omitempty"`
	RY    int8   `json:"ry,omitempty"`
	X     int32  `json:"x,omitempty"`
	Y     int32  `json:"y,omitempty"`
	Known bool   `json:"k,omitempty"`
	// PageRef is the stored form's page (ChunkStats.Marshal): 1 + the
	// index of Page in the chunk's Heat.Pages, the day then being the
	// chunk's. Zero in memory.
	PageRef uint8 `json:"pi,omitempty"`
}

// compactAnchors answers st's clicks with their anchors in the stored
// form: the page as a reference into st.Heat.Pages (a page URL is most of
// an anchor) and no day when it is the chunk's. Anchors it cannot shorten
// so stay as they are. st is left alone.
func compactAnchors(st *ChunkStats) []Click {
	return compactAnchorsInto(st, &compacted{})
}

// compacted is compactAnchorsInto's memory, which AppendMarshal reuses
// from chunk to chunk (the stored form lives only until it is encoded).
type compacted struct {
	stats   ChunkStats // the copy AppendMarshal encodes
	clicks  []Click
	anchors []Anchor
}

// compactedPool holds *compacted for AppendMarshal.
var compactedPool sync.Pool

// release clears what c refers to (the stats' strings) and keeps its
// memory for another chunk's, unless a huge chunk grew it.
func (c *compacted) release() {
	if cap(c.clicks) > maxClicksPerChunk {
		return
	}
	c.stats = ChunkStats{}
	clear(c.clicks[:cap(c.clicks)])
	clear(c.anchors[:cap(c.anchors)])
	compactedPool.Put(c)
}

// compactAnchorsInto is compactAnchors with c's memory.
func compactAnchorsInto(st *ChunkStats, c *compacted) []Click {
	if st.Heat == nil || len(st.Clicks) == 0 {
		return st.Clicks
	}
	day := Day(st.ServerMs)
	out := append(c.clicks[:0], st.Clicks...)
	anchors := slices.Grow(c.anchors[:0], len(out))[:len(out)]
	c.clicks, c.anchors = out, anchors
	for i := range out {
		a := out[i].H
		if a == nil || a.Day != day {
			continue
		}
		p := slices.Index(st.Heat.Pages, a.Page)
		if p < 0 || p >= 255 {
			continue
		}
		anchors[i] = *a
		anchors[i].Page, anchors[i].Day, anchors[i].PageRef = "", 0, uint8(p+1)
		out[i].H = &anchors[i]
	}
	return out
}

// expandAnchors turns stored anchors back into the in-memory form.
func (st *ChunkStats) expandAnchors() error {
	for i := range st.Clicks {
		a := st.Clicks[i].H
		if a == nil || a.PageRef == 0 {
			continue
		}
		if st.Heat == nil || int(a.PageRef) > len(st.Heat.Pages) || a.Page != "" || a.Day != 0 {
			return fmt.Errorf("click %d: anchor refers to page %d, not one of the chunk's", i, a.PageRef)
		}
		a.Page, a.Day, a.PageRef = st.Heat.Pages[a.PageRef-1], Day(st.ServerMs), 0
	}
	return nil
}

// Move is pointer movement in one cell of one page of the chunk: Page
// indexes Heat.Pages, X and Y are the cell's corner (thousandths of the
// document width, pixels), N the time spent there in 50 ms units.
type Move struct {
	Page uint8 `json:"p,omitempty"`
	X    int32 `json:"x"`
	Y    int32 `json:"y"`
	N    int32 `json:"n"`
}

// Scroll is how far down one page of the chunk the viewport's bottom
// reached, with the document and viewport heights when first seen.
type Scroll struct {
	Page   uint8 `json:"p,omitempty"`
	Bottom int32 `json:"b"`
	Doc    int32 `json:"d"`
	Fold   int32 `json:"f"`
}

// Heat is a chunk's heatmap data besides its clicks' anchors.
type Heat struct {
	Pages   []string `json:"pg,omitempty"`
	Moves   []Move   `json:"m,omitempty"`
	Scrolls []Scroll `json:"s,omitempty"`
	// Snap is 1 + the index in Pages of the page the chunk's first full
	// snapshot shows; 0 when it has none (or its page is unknown).
	Snap uint8 `json:"sn,omitempty"`
}

// Day is the UTC day (days since the Unix epoch) of a time in ms.
func Day(ms int64) int32 { return int32(math.Floor(float64(ms) / dayMs)) }

// heatReader follows one chunk's events for Heat.
type heatReader struct {
	doc      int32 // rrweb id of the document
	sx, sy   float64
	known    bool // scroll position known
	dw, dh   float64
	vh       float64
	seg      int   // route segment: sl:navigation events seen so far
	segOf    []int // segment of st.Clicks[i]
	snapSeg  int   // segment of the first full snapshot, -1 none
	moves    map[[3]int32]int32
	lastMove struct {
		t    int64
		cell [3]int32
		ok   bool
	}
	// scrolls are the segments' reach, in segment order: segments only
	// grow, so the current one's is the last or none.
	scrolls []segScroll
	// anchors is where clickPos's anchors are allocated, a block at a
	// time (a full block is left to the anchors pointing into it).
	anchors []Anchor
	// pos is the events' positions' buffer (batch.Events.ReadPositions).
	pos []batch.Floats
}

// heatReaders are readers done with their chunk, for the next: a chunk's
// move map and positions buffer, made anew, were 6 % of what an append
// with heatmaps allocated in bench-heatmaps.
var heatReaders sync.Pool

type segScroll struct {
	seg int
	Scroll
}

// A nil *heatReader (heatmaps turned off) ignores everything.
// newHeatReader answers one for a chunk, which release hands back.
func newHeatReader() *heatReader {
	h, ok := heatReaders.Get().(*heatReader)
	if !ok {
		return &heatReader{doc: 1, snapSeg: -1, pos: make([]batch.Floats, 0, 32)}
	}
	clear(h.moves)
	*h = heatReader{doc: 1, snapSeg: -1, moves: h.moves, segOf: h.segOf[:0], scrolls: h.scrolls[:0], pos: h.pos[:0]}
	return h
}

// release hands h back when its chunk's stats are made (finish copies what
// it keeps; the anchors, which the stats point into, stay theirs).
func (h *heatReader) release() {
	if h != nil {
		h.anchors = nil
		heatReaders.Put(h)
	}
}

// snapshotSeen marks the chunk's first full snapshot.
func (h *heatReader) snapshotSeen() {
	if h != nil {
		h.snapSeg = h.seg
	}
}

// viewport sets the viewport's height (Meta, viewport resize).
func (h *heatReader) viewport(height float64) {
	if h != nil {
		h.vh = height
	}
}

// navigated follows the chunk's route changes: navs is how many it has seen.
func (h *heatReader) navigated(navs int) {
	if h != nil && navs != h.seg {
		// A route change: a new page from here on.
		h.seg = navs
		h.reach()
	}
}

// viewKeys are sl:view's payload fields, read in one pass.
var viewKeys = []string{"x", "y", "w", "h", "v", "d"}

func (h *heatReader) view(p batch.Value) {
	var f [6]float64
	found := p.Floats(viewKeys, f[:])
	num := func(i int) (float64, bool) {
		return f[i], found&(1<<i) != 0 && f[i] >= 0 && f[i] < 1e7
	}
	x, okx := num(0)
	y, oky := num(1)
	if okx && oky {
		h.sx, h.sy, h.known = x, y, true
	}
	if w, ok := num(2); ok && w > 0 {
		h.dw = w
	}
	if d, ok := num(3); ok && d > 0 {
		h.dh = d
	}
	if v, ok := num(4); ok && v > 0 {
		h.vh = v
	}
	if found&(1<<5) != 0 {
		if id := clampID(f[5]); id > 0 {
			h.doc = id
		}
	}
	h.reach()
}

// scrollKeys are a scroll event's fields, read in one pass.
var scrollKeys = []string{"id", "x", "y"}

// scroll follows rrweb's scroll event (source 3) of the document.
func (h *heatReader) scroll(data batch.Value) {
	if h == nil {
		return
	}
	var f [3]float64
	found := data.Floats(scrollKeys, f[:])
	if clampID(f[0]) != h.doc {
		return
	}
	x, y := f[1], f[2]
	if found&6 == 6 && x >= 0 && y >= 0 && x < 1e7 && y < 1e7 {
		h.sx, h.sy, h.known = x, y, true
		h.reach()
	}
}

// snapshotFields reads a full snapshot's node and initialOffset (the
// first field of each name, as Get) in one pass: the node is the whole
// page, which every Get of a field after it walks again (a full snapshot
// is most of the bytes of the batch that opens a page view).
func snapshotFields(data batch.Value) (node, offset batch.Value) {
	var seen uint8
	data.Fields(func(k string, v batch.Value) bool {
		switch {
		case k == "node" && seen&1 == 0:
			node, seen = v, seen|1
		case k == "initialOffset" && seen&2 == 0:
			offset, seen = v, seen|2
		}
		return seen != 3
	})
	return node, offset
}

// snapshotOffset reads a full snapshot's initialOffset and the document's
// id (a checkout renumbers the nodes; sl:view then says d = -1), from the
// snapshot's node and initialOffset (snapshotFields).
func (h *heatReader) snapshotOffset(node, off batch.Value) {
	if h == nil {
		return
	}
	if id, ok := node.Get("id").Float(); ok && clampID(id) > 0 {
		h.doc = clampID(id)
	}
	x, okx := off.Get("left").Float()
	y, oky := off.Get("top").Float()
	if okx && oky && x >= 0 && y >= 0 && x < 1e7 && y < 1e7 {
		h.sx, h.sy, h.known = x, y, true
	}
}

func (h *heatReader) reach() {
	if !h.known || h.dh <= 0 || h.vh <= 0 {
		return
	}
	bottom := int32(math.Min(h.sy+h.vh, 1e7))
	if n := len(h.scrolls); n == 0 || h.scrolls[n-1].seg != h.seg {
		h.scrolls = append(h.scrolls, segScroll{h.seg, Scroll{Bottom: bottom, Doc: int32(h.dh), Fold: int32(h.vh)}})
		return
	}
	s := &h.scrolls[len(h.scrolls)-1].Scroll
	if bottom > s.Bottom {
		s.Bottom = bottom
		s.Doc = max(s.Doc, int32(h.dh))
	}
}

// positionKeys are what heatmaps read of a pointer position: client
// coordinates and timeOffset (≤ 0, from the event's time).
var positionKeys = []string{"x", "y", "timeOffset"}

// positions reads rrweb's mousemove/touchmove positions: those the event
// walk read (batch.Events.ReadPositions, read true), else from data.
func (h *heatReader) positions(t int64, data batch.Value, read []batch.Floats, ok bool) {
	if !h.known || h.dw <= 0 {
		return
	}
	if ok {
		for i := range read {
			h.position(t, read[i].Found, read[i].V[:3])
		}
		return
	}
	// One pass over the positions, allocating nothing.
	var f [3]float64
	data.FieldEachFloats("positions", positionKeys, f[:], func(found uint64) bool {
		h.position(t, found, f[:])
		return true
	})
}

// position is one pointer sample: f holds positionKeys' values, found
// which of them were read.
func (h *heatReader) position(t int64, found uint64, f []float64) {
	x, y, off := f[0], f[1], f[2]
	if found&1 == 0 || found&2 == 0 || math.IsNaN(off) || off > 0 || off < -60000 {
		return
	}
	h.move(t+int64(off), x+h.sx, y+h.sy)
}

func (h *heatReader) move(t int64, dx, dy float64) {
	if dx < 0 || dy < 0 || dy > 1e7 {
		return
	}
	xm := math.Min(dx*1000/h.dw, 1000)
	cell := [3]int32{int32(h.seg), int32(xm) / MoveXStep * MoveXStep, int32(dy) / MoveYStep * MoveYStep}
	// The previous sample rested until this one (bounded).
	h.settleMove(t, false)
	if h.moves == nil {
		// A batch's pointer rests in a few cells (one per pause).
		h.moves = make(map[[3]int32]int32, 16)
	}
	// Only a full map needs the lookup (most samples pass through and
	// settle nothing).
	if len(h.moves) >= maxMovesPerChk {
		if _, ok := h.moves[cell]; !ok {
			h.lastMove.ok = false
			return
		}
	}
	h.lastMove.t, h.lastMove.cell, h.lastMove.ok = t, cell, true
}

// settleMove counts the last sample where the pointer rested, for how long
// (until the sample at t). The move map shows where pointers rest: samples
// of a pointer passing through (the next one within restMs) count nothing,
// which also keeps a batch's cells — rows written per day — few. The
// chunk's last sample (last) counts once: how long it rested is the next
// chunk's to know.
func (h *heatReader) settleMove(t int64, last bool) {
	if !h.lastMove.ok {
		return
	}
	h.lastMove.ok = false
	w := int32(1)
	if !last {
		dt := t - h.lastMove.t
		if dt < restMs {
			return
		}
		w = int32(min(dt/moveSampleMs, maxMoveWeight))
	}
	h.moves[h.lastMove.cell] += w
}

// clickPos anchors rrweb's click at client (x, y) in document coordinates.
func (h *heatReader) clickPos(c *Click) {
	if h == nil {
		return
	}
	h.segOf = append(h.segOf, h.seg)
	if len(h.anchors) == cap(h.anchors) {
		h.anchors = make([]Anchor, 0, min(2*cap(h.anchors)+4, maxClicksPerChunk))
	}
	h.anchors = append(h.anchors, Anchor{})
	a := &h.anchors[len(h.anchors)-1]
	// rrweb reports a click the keyboard made (Enter on a button) at (0, 0):
	// its place is the element, not the corner of the page.
	if h.known && h.dw > 0 && (c.X != 0 || c.Y != 0) {
		a.X = int32(math.Max(0, math.Min((float64(c.X)+h.sx)*1000/h.dw, 1000)))
		a.Y = int32(math.Max(0, math.Min(float64(c.Y)+h.sy, 1e7)))
		a.Known = true
	}
	c.H = a
}

// elementClick attaches an sl:click to the rrweb click it follows: the
// latest click of the same node within a second without a selector yet.
func elementClick(clicks []Click, t int64, p batch.Value) {
	id, _ := p.Get("id").Float()
	node := clampID(id)
	sel := p.Get("s").Str()
	if sel == "" || len(sel) > maxSelector {
		return
	}
	rx, _ := p.Get("rx").Float()
	ry, _ := p.Get("ry").Float()
	for i := len(clicks) - 1; i >= 0; i-- {
		c := &clicks[i]
		if t-c.T > 1000 || c.T-t > 1000 {
			if c.T < t-1000 {
				return
			}
			continue
		}
		if c.Node == node && c.H != nil && c.H.Sel == "" {
			c.H.Sel = sel
			c.H.RX, c.H.RY = pct(rx), pct(ry)
			return
		}
	}
}

func pct(v float64) int8 {
	switch {
	case math.IsNaN(v) || v < 0:
		return 0
	case v > 100:
		return 100
	}
	return int8(v)
}

// finish resolves segments to page keys and fills st.Heat and the
// clicks' anchors.
func (h *heatReader) finish(st *ChunkStats) {
	if h == nil {
		return
	}
	// The chunk's last sample: how long the pointer rested after it is
	// the next chunk's to know; it counts once.
	h.settleMove(h.lastMove.t, true)
	// Segment 0 is the page the chunk started on: before its first route
	// change that is the change's referrer (the tracker sends the page it
	// left), else the chunk's URL; segment i is the i-th change's URL.
	segURL := func(seg int) string {
		switch {
		case seg == 0 && len(st.Navs) > 0 && st.Navs[0].Referrer != "":
			return st.Navs[0].Referrer
		case seg == 0 || len(st.Navs) == 0:
			return st.URL
		case seg > len(st.Navs):
			return st.Navs[len(st.Navs)-1].URL
		}
		return st.Navs[seg-1].URL
	}
	// The heat, its page and its first scrolls are allocated together
	// (nearly every chunk has one page and a scroll or two).
	a := &heatAlloc{}
	heat := &a.heat
	var page func(seg int) (int, bool)
	if h.seg == 0 {
		// No route change (nearly every chunk): one page, no maps.
		one := -1
		if len(h.segOf) > 0 || len(h.moves) > 0 || len(h.scrolls) > 0 || h.snapSeg >= 0 {
			if k := pagerule.Key(segURL(0)); k != "" {
				a.page[0] = k
				heat.Pages, one = a.page[:1:1], 0
			}
		}
		page = func(int) (int, bool) { return one, one >= 0 }
	} else {
		page = h.pages(heat, segURL)
	}
	day := Day(st.ServerMs)
	for i := range st.Clicks {
		c := &st.Clicks[i]
		if c.H == nil || i >= len(h.segOf) {
			continue
		}
		if p, ok := page(h.segOf[i]); ok {
			c.H.Page, c.H.Day = heat.Pages[p], day
		} else {
			c.H = nil
		}
	}
	if len(h.moves) > 0 {
		heat.Moves = make([]Move, 0, len(h.moves))
	}
	for cell, n := range h.moves {
		if p, ok := page(int(cell[0])); ok {
			heat.Moves = append(heat.Moves, Move{Page: uint8(p), X: cell[1], Y: cell[2], N: n})
		}
	}
	slices.SortFunc(heat.Moves, func(a, b Move) int {
		return cmp.Or(cmp.Compare(a.Page, b.Page), cmp.Compare(a.Y, b.Y), cmp.Compare(a.X, b.X))
	})
	heat.Scrolls = a.scrolls[:0:len(a.scrolls)]
	for _, s := range h.scrolls {
		if p, ok := page(s.seg); ok {
			sc := s.Scroll
			sc.Page = uint8(p)
			heat.Scrolls = append(heat.Scrolls, sc)
		}
	}
	slices.SortFunc(heat.Scrolls, func(a, b Scroll) int { return cmp.Compare(a.Page, b.Page) })
	if h.snapSeg >= 0 {
		if p, ok := page(h.snapSeg); ok {
			heat.Snap = uint8(p + 1)
		}
	}
	if len(heat.Scrolls) == 0 {
		heat.Scrolls = nil
	}
	if len(heat.Pages) > 0 {
		st.Heat = heat
	}
}

// heatAlloc is a chunk's Heat with room for its usual page and scrolls.
type heatAlloc struct {
	heat    Heat
	page    [1]string
	scrolls [2]Scroll
}

// pages gives the chunk's segments their pages (heat.Pages) and answers
// the page of a segment.
func (h *heatReader) pages(heat *Heat, segURL func(int) string) func(seg int) (int, bool) {
	index := map[string]int{}
	pageOf := map[int]int{} // segment → index in heat.Pages, for the segments used
	// Segments get their pages in segment order, so the same chunk always
	// extracts to the same stats.
	segs := slices.Clone(h.segOf)
	for c := range h.moves {
		segs = append(segs, int(c[0]))
	}
	for _, g := range h.scrolls {
		segs = append(segs, g.seg)
	}
	if h.snapSeg >= 0 {
		segs = append(segs, h.snapSeg)
	}
	slices.Sort(segs)
	for _, seg := range slices.Compact(segs) {
		k := pagerule.Key(segURL(seg))
		if k == "" {
			continue
		}
		i, ok := index[k]
		if !ok {
			if len(heat.Pages) >= 255 {
				continue
			}
			heat.Pages = append(heat.Pages, k)
			i = len(heat.Pages) - 1
			index[k] = i
		}
		pageOf[seg] = i
	}
	return func(seg int) (int, bool) {
		i, ok := pageOf[seg]
		return i, ok
	}
}

// applyHeat folds a chunk's scroll reach and clicked elements in.
func (s *State) applyHeat(c *ChunkStats) {
	for _, k := range c.Clicks {
		if k.H != nil && k.H.Sel != "" && len(s.Clicked) < maxClickedElems && !slices.Contains(s.Clicked, k.H.Sel) {
			s.Clicked = append(s.Clicked, k.H.Sel)
		}
	}
	if c.Heat == nil {
		return
	}
	var device int32
	if c.Client != nil {
		device = c.Client.DeviceType
	}
	for _, sc := range c.Heat.Scrolls {
		if int(sc.Page) >= len(c.Heat.Pages) || sc.Doc <= 0 {
			continue
		}
		page := c.Heat.Pages[sc.Page]
		p := int32(min(int64(sc.Bottom)*100/int64(sc.Doc), 100))
		// The key is made in a buffer: a page view's later chunks find
		// their reach without allocating it again.
		var kb [128]byte
		key := append(append(append(kb[:0], c.PageViewID...), 0), page...)
		if r, ok := s.Reach[string(key)]; ok {
			r.Pct = max(r.Pct, p)
			continue
		}
		if len(s.Reach) >= maxReach {
			continue
		}
		if s.Reach == nil {
			s.Reach = map[string]*Reach{}
		}
		s.Reach[string(key)] = &Reach{Page: page, Day: Day(c.ServerMs), Device: device, Pct: p, Fold: sc.Fold, Doc: sc.Doc}
	}
}
