// Package heatmap turns what recordings knows of a session (its chunks'
// stats and its fold state, package summary) into heatmap aggregates, and
// aggregates into GetHeatmap's answer.
//
// The aggregates are sums keyed by (page key, device class, UTC day, kind,
// cell). The one rule every store keeps (store.Store's contract, checked by
// storetest against a reference): the stored sums equal, for every key,
//
//	Σ over stored sessions of ( Σ over its chunks AddChunk + AddState(fold) )
//
// so a chunk stored twice counts once (stores add a chunk's part only when
// they store it), an out-of-order chunk that changes the fold changes the
// aggregates by the difference of the fold's parts, and deleting a session
// (GDPR, retention) subtracts exactly what it added: aggregates never hold a
// visitor's or session's id, and once a visitor is deleted nothing of theirs
// is left in them.
package heatmap

import (
	"cmp"
	"encoding/binary"
	"errors"
	"iter"
	"maps"
	"slices"
	"strings"

	"github.com/sightlinehq/sightline/svc-recordings/summary"
)

// Kind is an aggregate's kind (stored: never renumber).
type Kind uint8

// Kinds. Page is the page dictionary: day 0, device 0, cell "", N page views
// and X clicks over all time (ListHeatmapPages).
const (
	Click    Kind = 1
	Move     Kind = 2
	Scroll   Kind = 3
	Rage     Kind = 4
	Dead     Kind = 5
	Sessions Kind = 6
	Page     Kind = 7
)

// Vec is an aggregate's value. N counts (clicks, move weight, page views,
// sessions); for click cells X and Y sum the clicks' document positions, K
// counts the clicks whose position was known, and RX and RY sum their
// places in the element's box (%), so a cell, ClickStep % wide, is drawn at
// its clicks' centroid; for the scroll fold cell X and Y sum first-screen
// and document heights; for Page X counts clicks.
type Vec struct{ N, X, Y, K, RX, RY int64 }

// Add answers v + sign·w.
func (v Vec) Add(w Vec, sign int64) Vec {
	return Vec{v.N + sign*w.N, v.X + sign*w.X, v.Y + sign*w.Y, v.K + sign*w.K, v.RX + sign*w.RX, v.RY + sign*w.RY}
}

// Zero tells whether every field is zero.
func (v Vec) Zero() bool { return v == Vec{} }

// Marshal encodes v as six zig-zag varints (stores keep it as a value).
func (v Vec) Marshal() []byte { return v.Append(make([]byte, 0, 16)) }

// Append appends Marshal's bytes to b.
func (v Vec) Append(b []byte) []byte {
	for _, x := range [6]int64{v.N, v.X, v.Y, v.K, v.RX, v.RY} {
		b = binary.AppendVarint(b, x)
	}
	return b
}

// UnmarshalVec decodes Marshal's bytes.
func UnmarshalVec(b []byte) (Vec, error) {
	var out [6]int64
	for i := range out {
		x, n := binary.Varint(b)
		if n <= 0 {
			return Vec{}, errors.New("heatmap: bad aggregate value")
		}
		out[i], b = x, b[n:]
	}
	if len(b) != 0 {
		return Vec{}, errors.New("heatmap: bad aggregate value")
	}
	return Vec{out[0], out[1], out[2], out[3], out[4], out[5]}, nil
}

// Key names one aggregate. Device is a sessions.v1.DeviceType value.
type Key struct {
	Page   string
	Device int32
	Day    int32
	Kind   Kind
	Cell   string
}

// Adder takes changes to aggregates: Deltas, or a store's own collector
// of a call's changes.
type Adder interface {
	Add(k Key, v Vec, sign int64)
}

// Deltas are changes to aggregates.
type Deltas map[Key]Vec

// Add adds sign·v at k.
func (d Deltas) Add(k Key, v Vec, sign int64) { d[k] = d[k].Add(v, sign) }

// Prune drops keys whose change is zero and answers d.
func (d Deltas) Prune() Deltas {
	for k, v := range d {
		if v.Zero() {
			delete(d, k)
		}
	}
	return d
}

// Sorted lists the keys in a stable order (stores write them so).
func (d Deltas) Sorted() []Key {
	keys := make([]Key, 0, len(d))
	for k := range d {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, Compare)
	return keys
}

// Compare orders keys by page, device, kind, day, cell.
func Compare(a, b Key) int {
	return cmp.Or(
		strings.Compare(a.Page, b.Page),
		cmp.Compare(a.Device, b.Device),
		cmp.Compare(a.Kind, b.Kind),
		cmp.Compare(a.Day, b.Day),
		strings.Compare(a.Cell, b.Cell),
	)
}

// ClickStep is the width and height of a click cell inside an element's
// box, in %: a 200 px button has 20 px cells, and the centroid of the
// clicks in a cell (Vec.RX, RY) keeps their place to the percent, so the
// map is drawn from at most 121 weighted points per element and day. Finer
// cells multiply the rows a month of clicks takes (5 %: 2.3x the rows and
// GetHeatmap time over 1M clicks in bench-heatmaps), and the map's blur is
// wider than a cell of most elements anyway.
const ClickStep = 10

// Cells. A click cell is rx, ry (one byte each, multiples of ClickStep) and the selector path; a
// move cell is x (2 bytes, thousandths) and y (4 bytes, pixels), big-endian;
// a scroll cell is one byte, the depth in % (0–100), or FoldCell.
const FoldCell = "\xff"

// ClickCell is the cell of a click at (rx, ry) % of the box of sel.
func ClickCell(rx, ry int8, sel string) string {
	return string(appendClickCell(make([]byte, 0, 2+len(sel)), rx, ry, sel))
}

func appendClickCell(b []byte, rx, ry int8, sel string) []byte {
	q := func(v int8) byte { return byte(min(max(v, 0), 100) / ClickStep * ClickStep) }
	return append(append(b, q(rx), q(ry)), sel...)
}

// ParseClickCell reads ClickCell's cell.
func ParseClickCell(c string) (rx, ry int8, sel string, ok bool) {
	if len(c) < 2 {
		return 0, 0, "", false
	}
	return int8(c[0]), int8(c[1]), c[2:], true
}

// MoveCell is the cell at (x, y).
func MoveCell(x, y int32) string {
	// Built in an array: one allocation (the string) per move, not three.
	var b [moveCellLen]byte
	return string(appendMoveCell(b[:0], x, y))
}

// moveCellLen is a move cell's length.
const moveCellLen = 6

func appendMoveCell(b []byte, x, y int32) []byte {
	return binary.BigEndian.AppendUint32(binary.BigEndian.AppendUint16(b, uint16(x)), uint32(y))
}

// ParseMoveCell reads MoveCell's cell.
func ParseMoveCell(c string) (x, y int32, ok bool) {
	if len(c) != moveCellLen {
		return 0, 0, false
	}
	return int32(binary.BigEndian.Uint16([]byte(c[:2]))), int32(binary.BigEndian.Uint32([]byte(c[2:]))), true
}

// DepthCell is the scroll cell of page views whose deepest point was pct %.
func DepthCell(pct int32) string { return string([]byte{byte(min(max(pct, 0), 100))}) }

// AddChunk adds sign × what one chunk contributes by itself: its clicks
// (element cells, and the page dictionary's click count) and its pointer
// movement.
func AddChunk(d Adder, st *summary.ChunkStats, sign int64) {
	device := int32(0)
	if st.Client != nil {
		device = st.Client.DeviceType
	}
	// The chunk's cells are cut from one string: one allocation per chunk,
	// not one per cell (they were about a third of the objects an append
	// with heatmaps allocated beyond one without in bench-heatmaps, paid
	// for in the collector's assists).
	cells := chunkCells(st)
	// The page dictionary's click count is added once per run of clicks
	// on one page (a chunk's clicks are nearly always on one): a map
	// update less per click.
	page, clicks := "", int64(0)
	for _, c := range st.Clicks {
		if c.H == nil || c.H.Page == "" {
			continue
		}
		n := 2 + len(c.H.Sel)
		d.Add(Key{Page: c.H.Page, Device: device, Day: c.H.Day, Kind: Click, Cell: cells[:n]}, anchorVec(c.H), sign)
		cells = cells[n:]
		if c.H.Page != page && clicks > 0 {
			d.Add(Key{Page: page, Kind: Page}, Vec{X: clicks}, sign)
			clicks = 0
		}
		page = c.H.Page
		clicks++
	}
	if clicks > 0 {
		d.Add(Key{Page: page, Kind: Page}, Vec{X: clicks}, sign)
	}
	if st.Heat == nil {
		return
	}
	day := summary.Day(st.ServerMs)
	for _, m := range st.Heat.Moves {
		if int(m.Page) >= len(st.Heat.Pages) {
			continue
		}
		d.Add(Key{Page: st.Heat.Pages[m.Page], Device: device, Day: day, Kind: Move, Cell: cells[:moveCellLen]}, Vec{N: int64(m.N)}, sign)
		cells = cells[moveCellLen:]
	}
}

// chunkCells answers the cells AddChunk adds, one after the other in one
// string: ClickCell's of each anchored click, then MoveCell's of each move
// on a known page.
func chunkCells(st *summary.ChunkStats) string {
	n := 0
	for _, c := range st.Clicks {
		if c.H != nil && c.H.Page != "" {
			n += 2 + len(c.H.Sel)
		}
	}
	if st.Heat != nil {
		for _, m := range st.Heat.Moves {
			if int(m.Page) < len(st.Heat.Pages) {
				n += moveCellLen
			}
		}
	}
	if n == 0 {
		return ""
	}
	var buf [256]byte // a chunk's usual cells fit: the string is then the only allocation
	b := buf[:0]
	if n > len(buf) {
		b = make([]byte, 0, n)
	}
	for _, c := range st.Clicks {
		if c.H != nil && c.H.Page != "" {
			b = appendClickCell(b, c.H.RX, c.H.RY, c.H.Sel)
		}
	}
	if st.Heat != nil {
		for _, m := range st.Heat.Moves {
			if int(m.Page) < len(st.Heat.Pages) {
				b = appendMoveCell(b, m.X, m.Y)
			}
		}
	}
	return string(b)
}

func anchorVec(a *summary.Anchor) Vec {
	v := Vec{N: 1, RX: int64(a.RX), RY: int64(a.RY)}
	if a.Known {
		v.X, v.Y, v.K = int64(a.X), int64(a.Y), 1
	}
	return v
}

// AddState adds sign × what a session's fold contributes: each page view's
// scroll reach (depth and fold cells, the page dictionary's page views),
// one session per page on the day it first viewed it, and the rage and dead
// clicks the fold decided (first click of each).
func AddState(d Adder, s *summary.State, sign int64) {
	if s == nil {
		return
	}
	for _, r := range s.Reach {
		addReach(d, r, sign)
	}
	addSessions(d, maps.Values(s.Reach), sign)
	device := deviceOf(s)
	for i := range s.Frustrations {
		addFrustration(d, &s.Frustrations[i], device, sign)
	}
}

// addReach adds sign × one page view's reach on one page.
func addReach(d Adder, r *summary.Reach, sign int64) {
	d.Add(Key{Page: r.Page, Device: r.Device, Day: r.Day, Kind: Scroll, Cell: DepthCell(r.Pct)}, Vec{N: 1}, sign)
	d.Add(Key{Page: r.Page, Device: r.Device, Day: r.Day, Kind: Scroll, Cell: FoldCell}, Vec{N: 1, X: int64(r.Fold), Y: int64(r.Doc)}, sign)
	d.Add(Key{Page: r.Page, Kind: Page}, Vec{N: 1}, sign)
}

// addSessions adds sign × the sessions cells of a fold's reach: one per
// page and device, on the first day the session viewed the page on it.
func addSessions(d Adder, reach iter.Seq[*summary.Reach], sign int64) {
	type pd struct {
		page   string
		device int32
	}
	first := map[pd]int32{}
	for r := range reach {
		k := pd{r.Page, r.Device}
		if day, ok := first[k]; !ok || r.Day < day {
			first[k] = r.Day
		}
	}
	for k, day := range first {
		d.Add(Key{Page: k.page, Device: k.device, Day: day, Kind: Sessions}, Vec{N: 1}, sign)
	}
}

// addFrustration adds sign × one rage or dead click the fold decided.
func addFrustration(d Adder, f *summary.Frustration, device int32, sign int64) {
	if f.H == nil || f.H.Page == "" {
		return
	}
	kind := Dead
	if f.Kind == summary.Rage {
		kind = Rage
	}
	d.Add(Key{Page: f.H.Page, Device: device, Day: f.H.Day, Kind: kind, Cell: ClickCell(f.H.RX, f.H.RY, f.H.Sel)}, anchorVec(f.H), sign)
}

func deviceOf(s *summary.State) int32 {
	if s.Client != nil {
		return s.Client.DeviceType
	}
	return 0
}

// StatePart is a copy of what a fold contributes (AddState), taken before
// an append folds its chunks into the state (in place), for
// AddStateChange. It holds values, not the fold's pointers.
type StatePart struct {
	reach  []reachEntry
	frust  []frustEntry
	device int32
}

type reachEntry struct {
	key string
	r   summary.Reach
}

// frustEntry is what of a frustration AddState reads: its kind and anchor.
type frustEntry struct {
	kind summary.FrustrationKind
	h    summary.Anchor
	ok   bool // anchored (h set)
}

// reaches yields the copied reach.
func (p StatePart) reaches() iter.Seq[*summary.Reach] {
	return func(yield func(*summary.Reach) bool) {
		for i := range p.reach {
			if !yield(&p.reach[i].r) {
				return
			}
		}
	}
}

func frustOf(f *summary.Frustration) frustEntry {
	if f.H == nil {
		return frustEntry{kind: f.Kind}
	}
	return frustEntry{kind: f.Kind, h: *f.H, ok: true}
}

// PartOf copies what s contributes; a nil s contributes nothing.
func PartOf(s *summary.State) StatePart {
	if s == nil {
		return StatePart{}
	}
	p := StatePart{reach: make([]reachEntry, 0, len(s.Reach)), frust: make([]frustEntry, len(s.Frustrations)), device: deviceOf(s)}
	for k, r := range s.Reach {
		p.reach = append(p.reach, reachEntry{k, *r})
	}
	for i := range s.Frustrations {
		p.frust[i] = frustOf(&s.Frustrations[i])
	}
	return p
}

// AddStateChange adds what s contributes less what old (PartOf the state
// before) did: the sum AddState(s, 1) + AddState(before, -1) once pruned,
// but touching only the page views and frustrations that changed. An
// append changes the reach of the page views its chunks show, while the
// reach holds every page view of the session: adding all of it back and
// forth cost every append of a long session O(page views) map updates
// (BenchmarkAppendLongSession: most of what aggregation added at 1,000
// page views).
func AddStateChange(d Adder, old StatePart, s *summary.State) {
	var reach map[string]*summary.Reach
	var frusts []summary.Frustration
	device := int32(0)
	if s != nil {
		reach, frusts, device = s.Reach, s.Frustrations, deviceOf(s)
	}
	// Sessions cells move only when a page view comes or goes or its page,
	// device or day changes; then they are recounted from both folds.
	recount := false
	kept := 0
	for i := range old.reach {
		e := &old.reach[i]
		r := reach[e.key]
		if r == nil {
			addReach(d, &e.r, -1)
			recount = true
			continue
		}
		kept++
		if *r == e.r {
			continue
		}
		addReach(d, &e.r, -1)
		addReach(d, r, 1)
		if r.Page != e.r.Page || r.Device != e.r.Device || r.Day != e.r.Day {
			recount = true
		}
	}
	if kept < len(reach) {
		recount = true
		had := make(map[string]bool, len(old.reach))
		for i := range old.reach {
			had[old.reach[i].key] = true
		}
		for k, r := range reach {
			if !had[k] {
				addReach(d, r, 1)
			}
		}
	}
	if recount {
		addSessions(d, old.reaches(), -1)
		addSessions(d, maps.Values(reach), 1)
	}
	for i := range max(len(old.frust), len(frusts)) {
		var was, now frustEntry
		if i < len(old.frust) {
			was = old.frust[i]
		}
		if i < len(frusts) {
			now = frustOf(&frusts[i])
		}
		if was == now && device == old.device {
			continue
		}
		if was.ok {
			h := was.h
			addFrustration(d, &summary.Frustration{Kind: was.kind, H: &h}, old.device, -1)
		}
		if i < len(frusts) {
			addFrustration(d, &frusts[i], device, 1)
		}
	}
}

// Session is what a whole stored session contributes (the reference the
// stores are checked against, and what rebuilds add).
func Session(d Adder, stats []summary.ChunkStats, s *summary.State, sign int64) {
	for i := range stats {
		AddChunk(d, &stats[i], sign)
	}
	AddState(d, s, sign)
}
