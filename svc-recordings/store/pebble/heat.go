package pebble

import (
	"bytes"
	"cmp"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
	"unsafe"

	"github.com/cockroachdb/pebble/v2"

	"github.com/sightlinehq/sightline/svc-recordings/heatmap"
	"github.com/sightlinehq/sightline/svc-recordings/store"
	"github.com/sightlinehq/sightline/svc-recordings/summary"
)

// Heatmap aggregates. Every write of a session (append, delete, sweep)
// merges the change of heatmap.Session it causes into h/g rows in the same
// batch as the write, under the session's stripe lock, so the sums are
// exact. A rebuild clears and recounts a site (RebuildHeat); while it is
// unfinished its marker tells writers which sessions it has not counted yet.

// Week rows. Every h row of a day is also summed into its week's row: the
// same group with the kind's weekFlag bit set and the week number in the
// day's place. A map over a month then reads each group's four or so week
// lists and a few edge days instead of thirty day lists (the cells of a busy
// page repeat from day to day). Weeks start on Mondays (day 4 of the epoch).
const weekFlag = 0x80

// weekOf is the week of a day; weekStart its first day.
func weekOf(day int32) int32 {
	x := int64(day) + 3
	w := x / 7
	if x%7 != 0 && x < 0 {
		w--
	}
	return int32(w)
}

func weekStart(w int32) int64 { return int64(w)*7 - 3 }

// vecSum adds heatmap.Vec operands (h and g keys).
type vecSum struct{ v heatmap.Vec }

func (m *vecSum) MergeNewer(value []byte) error {
	w, err := heatmap.UnmarshalVec(value)
	if err != nil {
		return err
	}
	m.v = m.v.Add(w, 1)
	return nil
}

func (m *vecSum) MergeOlder(value []byte) error { return m.MergeNewer(value) }

func (m *vecSum) Finish(bool) ([]byte, io.Closer, error) { return m.v.Marshal(), nil, nil }

// DeletableFinish lets compactions drop a row that sums to zero once every
// operand is in (a deleted visitor's cells leave no trace).
func (m *vecSum) DeletableFinish(includesBase bool) ([]byte, bool, io.Closer, error) {
	return m.v.Marshal(), includesBase && m.v.Zero(), nil, nil
}

var _ pebble.DeletableValueMerger = (*vecSum)(nil)

// rebuildMarker is the r value: an unfinished RebuildHeat of a site.
// Sessions whose m key is ≤ Cursor are counted; the others will be counted
// whole when the rebuild reaches them, so writers leave out their changes
// to keys the rebuild recounts (heatmap.Page, days ≥ Since).
type rebuildMarker struct {
	Since   int32  `json:"since"`
	Cursor  []byte `json:"cursor,omitempty"`
	Cleared bool   `json:"cleared"`
	Done    int64  `json:"done"`
	Total   int64  `json:"total"`
}

// rows says which rows of a key a write goes to: its day row (or the page
// dictionary's) and its week row.
type rows uint8

const (
	dayRow rows = 1 << iota
	weekRow
	bothRows = dayRow | weekRow
)

// counts answers which rows of key k the rebuild counts: the page
// dictionary and days ≥ Since, and, since a week row is recounted whole,
// the week rows from Since's week on.
func (m *rebuildMarker) counts(k heatmap.Key) rows {
	var r rows
	if k.Kind == heatmap.Page || k.Day >= m.Since {
		r |= dayRow
	}
	if k.Kind != heatmap.Page && weekOf(k.Day) >= weekOf(m.Since) {
		r |= weekRow
	}
	return r
}

// writes answers which rows of key k a writer of the session whose m key
// is sessKey writes: all of them, but what the unfinished rebuild will
// count when it reaches a session it has not reached yet.
func (m *rebuildMarker) writes(sessKey []byte, k heatmap.Key) rows {
	if m == nil || bytes.Compare(sessKey, m.Cursor) <= 0 {
		return bothRows
	}
	return bothRows &^ m.counts(k)
}

// loadMarkers reads the unfinished rebuilds at open.
func (s *Store) loadMarkers() error {
	s.markers = map[int64]*rebuildMarker{}
	return s.scan([]byte{pRebuild}, nil, func(k, v []byte) error {
		r := keyReader{b: k[1:]}
		site := r.u64()
		if r.err != nil {
			return fmt.Errorf("corrupt rebuild key")
		}
		var m rebuildMarker
		if err := json.Unmarshal(v, &m); err != nil {
			return fmt.Errorf("rebuild marker of site %d: %w", site, err)
		}
		s.markers[site] = &m
		return nil
	})
}

// marker answers the site's unfinished rebuild (nil when none); callers
// hold the site's lock (read or write).
func (s *Store) marker(site int64) *rebuildMarker {
	s.markerMu.Lock()
	defer s.markerMu.Unlock()
	return s.markers[site]
}

func (s *Store) setMarker(site int64, m *rebuildMarker) {
	s.markerMu.Lock()
	defer s.markerMu.Unlock()
	if m == nil {
		delete(s.markers, site)
		return
	}
	s.markers[site] = m
}

func (s *Store) siteStripe(site int64) int { return int(uint64(site) * 0x9e3779b97f4a7c15 >> 58) }

// rlockSites read-locks the sites' locks in index order: every writer of
// aggregates holds its sites' read locks around deciding and committing,
// so a rebuild's steps (write lock) never interleave with them. Take them
// before any session stripe.
func (s *Store) rlockSites(sites ...int64) func() {
	idx := make([]int, len(sites))
	for i, site := range sites {
		idx[i] = s.siteStripe(site)
	}
	idx = slices.Compact(slices.Sorted(slices.Values(idx)))
	for _, i := range idx {
		s.siteLocks[i].RLock()
	}
	return func() {
		for _, i := range idx {
			s.siteLocks[i].RUnlock()
		}
	}
}

// mergeHeat writes the aggregate changes d of one session into b, leaving
// out what an unfinished rebuild will count. The caller holds the site's
// read lock and the session's stripe.
func (s *Store) mergeHeat(b *pebble.Batch, site int64, session string, d heatmap.Deltas) error {
	if len(d.Prune()) == 0 {
		return nil
	}
	m := s.marker(site)
	var sessKey []byte
	if m != nil {
		sessKey = partition(pSession, site, session)
	}
	return writeDeltas(b, nil, site, func(k heatmap.Key) rows { return m.writes(sessKey, k) }, nil, d)
}

// siteHeat is a call's heatmap changes of one site, by the rows they go
// to: both (day and week rows: every change unless a rebuild is
// unfinished), only day rows (and the page dictionary), only week rows.
// Changes to move cells that go to both rows are listed in moves instead
// of summed in a map: a call's pointer cells are nearly all distinct, a
// flush sums equal cells anyway (writeDeltas), and a map's update hashed
// each move's key twice (most of heatmap.AddChunk's time in
// bench-heatmaps' profile).
type siteHeat struct {
	both, day, week heatmap.Deltas
	moves           []heatChange
}

// heatChange is one change of a list (siteHeat.moves).
type heatChange struct {
	k heatmap.Key
	v heatmap.Vec
}

// Add takes a change that goes to both rows (heatmap.Adder).
func (h *siteHeat) Add(k heatmap.Key, v heatmap.Vec, sign int64) {
	if k.Kind == heatmap.Move {
		h.moves = append(h.moves, heatChange{k, heatmap.Vec{}.Add(v, sign)})
		return
	}
	h.both.Add(k, v, sign)
}

func newSiteHeat() *siteHeat { return newSiteHeatSized(0) }

// newSiteHeatSized sizes the map of changes to both rows for n cells.
func newSiteHeatSized(n int) *siteHeat {
	return &siteHeat{both: make(heatmap.Deltas, n), day: heatmap.Deltas{}, week: heatmap.Deltas{}}
}

// callHeat answers the map a call's heatmap changes are collected in, per
// site: one a flush has merged (heatQueue.siteHeat), else one sized for
// the cells the site's chunks may add to it (one per click, a few per
// chunk for its page and the scroll reach; moves are listed apart,
// siteHeat.moves). Grown from nothing, the
// map was rehashed about eight times per call: a sixth of the bytes an
// append with heatmaps allocated in bench-heatmaps.
func (s *Store) callHeat(chunks []store.Chunk) map[int64]*siteHeat {
	acc := map[int64]*siteHeat{}
	if s.heatOff {
		return acc
	}
	cells := map[int64]int{}
	for i := range chunks {
		// Moves go to siteHeat.moves, not the map.
		cells[chunks[i].SiteID] += len(chunks[i].Stats.Clicks) + 4
	}
	for site, n := range cells {
		acc[site] = s.heatq.siteHeat(n)
	}
	return acc
}

// sections lists the maps with the rows each goes to.
func (h *siteHeat) sections() [3]struct {
	d heatmap.Deltas
	r rows
} {
	return [3]struct {
		d heatmap.Deltas
		r rows
	}{{h.both, bothRows}, {h.day, dayRow}, {h.week, weekRow}}
}

func (h *siteHeat) rows() int { return len(h.both) + len(h.day) + len(h.week) + len(h.moves) }

// sessionDeltas answers what one session's aggregate changes are added
// to, which collectHeat then takes: the call's own (acc, per site) when the
// site has no unfinished rebuild, since every change then goes to both
// rows — adding each session's changes into a map of its own and copying
// them into the call's cost two map inserts per change, with the growth of
// both maps, which showed in append profiles. With a rebuild unfinished, a
// fresh map, which collectHeat routes key by key. The caller holds the
// site's read lock (a marker only changes under its write lock) and hands
// what it answers to collectHeat before asking for another.
func (s *Store) sessionDeltas(acc map[int64]*siteHeat, site int64) heatmap.Adder {
	if s.heatOff || s.marker(site) != nil {
		return heatmap.Deltas{}
	}
	into := acc[site]
	if into == nil {
		into = newSiteHeat()
		acc[site] = into
	}
	return into
}

// collectHeat adds the aggregate changes d of one session, from
// sessionDeltas, to the call's (acc, per site), leaving out what an
// unfinished rebuild will count. The caller holds the site's read lock and
// the session's stripe.
func (s *Store) collectHeat(acc map[int64]*siteHeat, site int64, session string, added heatmap.Adder) {
	d, own := added.(heatmap.Deltas)
	if !own {
		// The call's own (sessionDeltas); recordHeat prunes.
		return
	}
	m := s.marker(site)
	if len(d.Prune()) == 0 {
		return
	}
	into := acc[site]
	if into == nil {
		into = newSiteHeat()
		acc[site] = into
	}
	sessKey := partition(pSession, site, session)
	for k, v := range d {
		switch m.writes(sessKey, k) {
		case bothRows:
			into.both.Add(k, v, 1)
		case dayRow:
			into.day.Add(k, v, 1)
		case weekRow:
			into.week.Add(k, v, 1)
		}
	}
}

// writeSiteHeat merges the calls' changes of the site into b; sc is the
// flusher's working memory.
func writeSiteHeat(b *pebble.Batch, sc *deltaScratch, site int64, hs []*siteHeat) error {
	ds := make([]heatmap.Deltas, 0, len(hs))
	var moves [][]heatChange
	for i, r := range [3]rows{bothRows, dayRow, weekRow} {
		ds, moves = ds[:0], moves[:0]
		for _, h := range hs {
			ds = append(ds, h.sections()[i].d)
			if i == 0 && len(h.moves) > 0 {
				moves = append(moves, h.moves)
			}
		}
		if err := writeDeltas(b, sc, site, func(heatmap.Key) rows { return r }, moves, ds...); err != nil {
			return err
		}
	}
	return nil
}

// deltaRow is one change as writeDeltas lists it: its cell and the cell's
// first 8 bytes as a number (prefix), its list's place in key order and its
// value's index (sorting moves 32 bytes, not 80).
type deltaRow struct {
	cell string
	pre  uint64
	list int32
	vec  int32
}

// prefix answers the first 8 bytes of cell, big-endian, zeros past its
// end: two cells whose prefixes differ sort as their prefixes do, so most
// comparisons of a flush's sort (move cells are 6 bytes) compare numbers,
// not strings.
func prefix(cell string) uint64 {
	var b [8]byte
	copy(b[:], cell)
	return binary.BigEndian.Uint64(b[:])
}

// compareRows orders rows by list, then cell.
func compareRows(a, b deltaRow) int {
	switch {
	case a.list != b.list:
		return cmp.Compare(a.list, b.list)
	case a.pre != b.pre:
		return cmp.Compare(a.pre, b.pre)
	}
	return strings.Compare(a.cell, b.cell)
}

// deltaScratch is writeDeltas' working memory. The flusher keeps one
// across flushes (they are serialised): a flush's rows, values and cells,
// grown by append for every flush, were about a tenth of the bytes an
// append with heatmaps allocated in bench-heatmaps.
type deltaScratch struct {
	rows  []deltaRow
	vecs  []heatmap.Vec
	cells []heatCell
	lists []byte     // a week's encoded lists
	tmp   []deltaRow // sortRows' working memory
}

// maxScratchRows bounds what the flusher keeps between flushes (about
// 7 MB): a rare huge flush's memory is not held for good.
const maxScratchRows = 100_000

// release clears what the scratch refers to (the flushed maps' strings)
// and keeps its memory for the next flush, unless it grew past the bound.
func (sc *deltaScratch) release(rows []deltaRow, vecs []heatmap.Vec, cells []heatCell, lists []byte) {
	if cap(rows) > maxScratchRows || cap(lists) > maxScratchRows*16 {
		*sc = deltaScratch{}
		return
	}
	clear(rows)
	clear(cells[:cap(cells)])
	sc.rows, sc.vecs, sc.cells, sc.lists = rows[:0], vecs[:0], cells[:0], lists[:0]
}

// writeDeltas merges the sum of the deltas ds and the listed changes
// (siteHeat.moves, a cell perhaps more than once) into the rows rowsOf
// answers: one cell list (heatlist.go) per day or week row they touch.
// rowsOf must answer the same for every key of one page, device, kind and
// day (its callers' answers depend on the kind and the day only). sc, if
// not nil, lends its memory.
//
// The maps are summed as their cells are listed (a flush hands every
// queued call's: adding them into one map first cost a hash and an insert
// per change, and the map's growth): every change goes into one slice,
// sorted by list and cell, so a cell's changes from several maps are
// adjacent. A week's list is the sum of its days' lists: each day's cells
// are sorted once, and the week takes the day's list as it is when one
// day of the week changed (a flush's usual case, today) or the merge of
// the days' lists, instead of sorting the same cells again for the week.
func writeDeltas(b *pebble.Batch, sc *deltaScratch, site int64, rowsOf func(heatmap.Key) rows, listed [][]heatChange, ds ...heatmap.Deltas) error {
	if sc == nil {
		sc = &deltaScratch{}
	}
	type group struct {
		page   string
		device int32
		kind   heatmap.Kind
		day    int32
	}
	type dayList struct {
		group
		r    rows
		rank int32 // the list's place in key order
		n    int   // its changes
	}
	n := 0
	for _, d := range ds {
		n += len(d)
	}
	for _, l := range listed {
		n += len(l)
	}
	rows, vecs := slices.Grow(sc.rows, n), slices.Grow(sc.vecs, n)
	cells, lb := sc.cells, sc.lists
	defer func() { sc.release(rows, vecs, cells, lb) }()
	index := map[group]int32{}
	var days []dayList
	var kb keyBuf
	var vb []byte
	pages := map[string]heatmap.Vec{}
	add := func(k heatmap.Key, v heatmap.Vec) {
		if k.Kind == heatmap.Page {
			if rowsOf(k)&dayRow != 0 {
				pages[k.Page] = pages[k.Page].Add(v, 1)
			}
			return
		}
		g := group{k.Page, k.Device, k.Kind, k.Day}
		i, ok := index[g]
		if !ok {
			i = int32(len(days))
			days = append(days, dayList{group: g, r: rowsOf(k)})
			index[g] = i
		}
		if days[i].r != 0 {
			days[i].n++
			rows = append(rows, deltaRow{cell: k.Cell, pre: prefix(k.Cell), list: i, vec: int32(len(vecs))})
			vecs = append(vecs, v)
		}
	}
	for _, d := range ds {
		for k, v := range d {
			add(k, v)
		}
	}
	for _, l := range listed {
		for _, c := range l {
			add(c.k, c.v)
		}
	}
	// The page dictionary: a row per page.
	for page, v := range pages {
		if v.Zero() {
			continue
		}
		kb = append(append(kb[:0], pHeatPage), 0, 0, 0, 0, 0, 0, 0, 0)
		binary.BigEndian.PutUint64(kb[1:], uint64(site))
		kb = append(kb, page...)
		vb = v.Append(vb[:0])
		if err := b.Merge(kb, vb, nil); err != nil {
			return fmt.Errorf("heatmap aggregate: %w", err)
		}
	}
	// In key order, so that the days of a week follow one another.
	order := make([]*dayList, 0, len(days))
	for i := range days {
		if days[i].r != 0 {
			order = append(order, &days[i])
		}
	}
	slices.SortFunc(order, func(a, b *dayList) int {
		return cmp.Or(strings.Compare(a.page, b.page), cmp.Compare(a.device, b.device), cmp.Compare(a.kind, b.kind), cmp.Compare(a.day, b.day))
	})
	perList := make([]int, len(order))
	for r, l := range order {
		l.rank = int32(r)
		perList[r] = l.n
	}
	for i := range rows {
		rows[i].list = days[rows[i].list].rank
	}
	tmp := slices.Grow(sc.tmp[:0], len(rows))
	sortRows(rows, tmp[:len(rows)], perList)
	clear(tmp[:len(rows)]) // the flushed maps' strings
	sc.tmp = tmp[:0]
	sameWeek := func(a, b *dayList) bool {
		return a.page == b.page && a.device == b.device && a.kind == b.kind && weekOf(a.day) == weekOf(b.day)
	}
	// A call's deltas name a few pages: hash each once.
	var id [heatPageIDLen]byte
	idOf, haveID := "", false
	var weeks [][]byte // the encoded day lists of a week that go to its row
	merge := func(page string, device int32, kind heatmap.Kind, day int32, list []byte) error {
		if len(list) == 1 {
			return nil // every cell summed to zero
		}
		if !haveID || page != idOf {
			id, idOf, haveID = heatPageID(page), page, true
		}
		kb = append(heatPagePrefix(kb[:0], site, &id).i32(device), byte(kind)).i32(day)
		if err := b.Merge(kb, list, nil); err != nil {
			return fmt.Errorf("heatmap aggregate: %w", err)
		}
		return nil
	}
	next := rows // the rows of the lists not yet written
	for i := 0; i < len(order); {
		j := i + 1
		for j < len(order) && sameWeek(order[i], order[j]) {
			j++
		}
		// A week's day lists are encoded one after the other into lb (the
		// batch copies what it merges; weeks holds them until the week's
		// row is written).
		weeks, lb = weeks[:0], lb[:0]
		for _, l := range order[i:j] {
			cells = cells[:0]
			for _, r := range next[:l.n] {
				v := vecs[r.vec]
				if n := len(cells); n > 0 && string(cells[n-1].cell) == r.cell {
					cells[n-1].v = cells[n-1].v.Add(v, 1)
					continue
				}
				// The list only reads the cell: no copy.
				cells = append(cells, heatCell{cell: unsafe.Slice(unsafe.StringData(r.cell), len(r.cell)), v: v})
			}
			next = next[l.n:]
			at := len(lb)
			lb = appendHeatList(lb, cells)
			// Capped: an append to list cannot write over the next one.
			list := lb[at:len(lb):len(lb)]
			if l.r&dayRow != 0 {
				if err := merge(l.page, l.device, l.kind, l.day, list); err != nil {
					return err
				}
			}
			if l.r&weekRow != 0 && len(list) > 1 {
				weeks = append(weeks, list)
			}
		}
		var week []byte
		switch len(weeks) {
		case 0:
		case 1:
			week = weeks[0]
		default:
			var err error
			if week, err = mergeHeatLists(weeks); err != nil {
				return fmt.Errorf("heatmap aggregate: %w", err)
			}
		}
		if week != nil {
			if err := merge(order[i].page, order[i].device, order[i].kind|weekFlag, weekOf(order[i].day), week); err != nil {
				return err
			}
		}
		i = j
	}
	return nil
}

// snapValue is a snapshot pointer's value after its 8-byte server time.
type snapValue struct {
	Session string `json:"s"`
	PV      string `json:"p"`
	Seq     int64  `json:"q"`
	Full    int64  `json:"f"`
	URL     string `json:"u,omitempty"`
	W       int32  `json:"w,omitempty"`
	H       int32  `json:"h,omitempty"`
}

// mergeSnapshots points each page's snapshot (for the chunk's device class)
// at the fresh chunks holding one; the max merge keeps the newest.
func mergeSnapshots(b *pebble.Batch, site int64, session string, fresh []*store.Chunk) error {
	for _, c := range fresh {
		for _, cs := range store.ChunkSnapshots(session, c) {
			sn := cs.Snap
			js, err := json.Marshal(snapValue{Session: session, PV: sn.PageViewID, Seq: sn.Seq, Full: sn.FullSnapshotMs, URL: sn.URL, W: sn.ViewportW, H: sn.ViewportH})
			if err != nil {
				return fmt.Errorf("heatmap snapshot: %w", err)
			}
			v := append(binary.BigEndian.AppendUint64(nil, uint64(max(c.Stats.ServerMs, 0))), js...)
			if err := b.Merge(snapshotKey(site, cs.Page, cs.Device).slot(cs.Slot), v, nil); err != nil {
				return fmt.Errorf("heatmap snapshot: %w", err)
			}
		}
	}
	return nil
}

// sessionHeat adds what a stored session contributes (read from its
// stats) to d, and answers the stats.
func (s *Store) sessionHeat(d heatmap.Deltas, site int64, session string, row *sessionRow, sign int64) ([]summary.ChunkStats, error) {
	stats, err := s.stats(site, session)
	if err != nil {
		return nil, err
	}
	heatmap.Session(d, stats, row.State, sign)
	return stats, nil
}

// heatKinds are the kinds h rows hold, for a query that names none.
var heatKinds = []heatmap.Kind{heatmap.Click, heatmap.Move, heatmap.Scroll, heatmap.Rage, heatmap.Dead, heatmap.Sessions}

// Heat implements store.Store: one iterator, one seek per (page, device,
// kind) range of days, and each cell once per page and kind.
func (s *Store) Heat(ctx context.Context, q store.HeatQuery, fn func(heatmap.Kind, string, heatmap.Vec) error) error {
	if err := s.flushHeat(); err != nil {
		return err
	}
	if q.FromDay > q.ToDay {
		return nil
	}
	pages := slices.Compact(slices.Sorted(slices.Values(q.Pages)))
	devices := slices.Compact(slices.Sorted(slices.Values(q.Devices)))
	kinds := slices.Compact(slices.Sorted(slices.Values(q.Kinds)))
	if len(q.Kinds) == 0 {
		kinds = heatKinds
	}
	kinds = slices.DeleteFunc(kinds, func(k heatmap.Kind) bool { return k == heatmap.Page })
	site := newKey(pHeat).u64(q.SiteID)
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: site, UpperBound: upperBound(site)})
	if err != nil {
		return fmt.Errorf("pebble: heat: %w", err)
	}
	defer it.Close()
	// Lists this read merged are folded by the flusher, woken when it
	// returns.
	foldDue := false
	defer func() {
		if foldDue {
			select {
			case s.heatq.wake <- struct{}{}:
			default:
			}
		}
	}()
	// collect reads the lists of group (page, device, stored kind) from
	// from to to (days, or weeks for week rows), inclusive, appending
	// copies of them to lists. With weeks w0 ≤ w1 (whole weeks inside the
	// days, for a day kind) it switches at the first row it finds inside
	// them to their week rows, then the days after them: a group with no
	// rows in the range costs one seek, where splitting the range up front
	// cost three (its two edges and its weeks) — the most of a rule
	// matching thousands of rarely visited pages, each read for every kind
	// and device (BenchmarkHeatWide) — and a busy group still the three.
	var collect func(lists [][]byte, page string, device int32, kind heatmap.Kind, from, to, w0, w1 int64) ([][]byte, error)
	collect = func(lists [][]byte, page string, device int32, kind heatmap.Kind, from, to, w0, w1 int64) ([][]byte, error) {
		if from > to {
			return lists, nil
		}
		g := heatGroup(q.SiteID, page, device, kind)
		hi := upperBound(g.i32(int32(to))) // a copy: g's array is reused below
		lo := g.i32(int32(from))
		// Bounded: an iterator that steps onto a row merges its operands,
		// so one that stepped past the range merged the next group's first
		// row on every read, for nothing.
		it.SetBounds(lo, hi)
		for ok := it.First(); ok; ok = it.Next() {
			if k := it.Key(); w0 <= w1 && len(k) == heatKeyLen {
				// Rows come in day order: no earlier day of this week
				// had one.
				if w := int64(weekOf(readI32(k[heatGroupLen:]))); w >= w0 && w <= w1 {
					// Landing on the row merged its operands, as a read
					// would: it is folded too, or every read merges it
					// for nothing.
					if s.heatFolds.read(q.SiteID, k) {
						foldDue = true
					}
					lists, err := collect(lists, page, device, kind|weekFlag, w, w1, 1, 0)
					if err != nil {
						return nil, err
					}
					return collect(lists, page, device, kind, weekStart(int32(w1))+7, to, 1, 0)
				}
			}
			v, err := it.ValueAndErr()
			if err != nil {
				return nil, err
			}
			lists = append(lists, bytes.Clone(v)) // the iterator reuses v
			if s.heatFolds.read(q.SiteID, it.Key()) {
				foldDue = true
			}
		}
		return lists, it.Error()
	}
	var arena []byte
	// emit hands out the cells of a page's kind, its rows (days, weeks and
	// devices) summed first: they share most cells, and merging sorted
	// lists costs less than the caller's summing of each row's cells
	// (29 % of GetHeatmap's CPU in a bench-heatmaps profile, before).
	emit := func(kind heatmap.Kind, lists [][]byte) error {
		// The merge leaves out zero sums.
		return mergeHeatCells(lists, func(cell []byte, vec heatmap.Vec) error {
			// Cells are copied into an arena that is never written
			// again, so the strings handed out stay valid without one
			// allocation per cell.
			if len(arena)+len(cell) > cap(arena) {
				arena = make([]byte, 0, max(64<<10, len(cell)))
			}
			start := len(arena)
			arena = append(arena, cell...)
			return fn(kind, unsafe.String(unsafe.SliceData(arena[start:]), len(cell)), vec)
		})
	}
	for _, page := range pages {
		if err := ctx.Err(); err != nil {
			return err
		}
		devs := devices
		if len(devs) == 0 {
			if devs, err = pageDevices(it, q.SiteID, page); err != nil {
				return fmt.Errorf("pebble: heat: %w", err)
			}
		}
		// The whole weeks inside the range come from week rows, the days
		// before and after them from day rows.
		// (In int64: the bounds may be the ends of int32.)
		from, to := int64(q.FromDay), int64(q.ToDay)
		w0, w1 := weekOf(q.FromDay), weekOf(q.ToDay)
		if weekStart(w0) != from {
			w0++
		}
		if weekStart(w1)+6 != to {
			w1--
		}
		if m := s.marker(q.SiteID); m != nil {
			// An unfinished rebuild recounts the week rows from its since's
			// week whole: read those weeks' days instead, which are
			// partial only from since on.
			w1 = min(w1, weekOf(m.Since)-1)
		}
		for _, kind := range kinds {
			// Rage and dead clicks are rare, their day rows few: their
			// days are read whole, one seek even where they have a row.
			sparse := kind == heatmap.Rage || kind == heatmap.Dead
			weeks0, weeks1 := int64(w0), int64(w1)
			if sparse {
				weeks0, weeks1 = 1, 0
			}
			var lists [][]byte
			for _, d := range devs {
				var err error
				if lists, err = collect(lists, page, d, kind, from, to, weeks0, weeks1); err != nil {
					return fmt.Errorf("pebble: heat: %w", err)
				}
			}
			if err := emit(kind, lists); err != nil {
				return fmt.Errorf("pebble: heat: page %q kind %d: %w", page, kind, err)
			}
		}
	}
	return nil
}

// pageDevices lists the device classes that have rows of page, skipping
// from one device to the next.
func pageDevices(it *pebble.Iterator, site int64, page string) ([]int32, error) {
	id := heatPageID(page)
	p := heatPagePrefix(nil, site, &id)
	it.SetBounds(p, upperBound(p))
	var out []int32
	for ok := it.First(); ok; ok = it.SeekGE(upperBound(slices.Clone(p).i32(out[len(out)-1]))) {
		k := it.Key()
		if len(k) < len(p)+4 {
			return nil, fmt.Errorf("corrupt key %x", k)
		}
		out = append(out, readI32(k[len(p):]))
	}
	return out, it.Error()
}

// HeatPages implements store.Store.
func (s *Store) HeatPages(ctx context.Context, site int64, after string, fn func(string, heatmap.Vec) error) error {
	if err := s.flushHeat(); err != nil {
		return err
	}
	p := pageKey(site, "")
	var from []byte
	if after != "" {
		from = append(pageKey(site, after), 0) // strictly after
	}
	err := s.scan(p, from, func(k, v []byte) error {
		vec, err := heatmap.UnmarshalVec(v)
		if err != nil {
			return err
		}
		if vec.Zero() {
			return nil
		}
		return fn(string(k[len(p):]), vec)
	})
	if err != nil {
		return fmt.Errorf("pebble: heatmap pages: %w", err)
	}
	return nil
}

// HeatSnapshot implements store.Store: the page's pointers, one per
// SnapshotSlot and the slotless one of a database written before slots.
func (s *Store) HeatSnapshot(ctx context.Context, site int64, page string, device int32) (store.HeatSnapshot, bool, error) {
	p := snapshotKey(site, page, device)
	var ps []store.SlotPointer
	err := s.scan(p, nil, func(k, v []byte) error {
		slot := store.SnapshotSlots // the slotless pointer
		if len(k) == len(p)+1 {
			slot = int(k[len(p)])
		} else if len(k) != len(p) {
			return fmt.Errorf("corrupt key %x", k)
		}
		if len(v) < 8 {
			return fmt.Errorf("corrupt pointer %x", v)
		}
		var sv snapValue
		if err := json.Unmarshal(v[8:], &sv); err != nil {
			return err
		}
		ps = append(ps, store.SlotPointer{Slot: slot, Snap: store.HeatSnapshot{
			SessionID: sv.Session, PageViewID: sv.PV, Seq: sv.Seq, FullSnapshotMs: sv.Full,
			ServerMs: int64(binary.BigEndian.Uint64(v)), URL: sv.URL, ViewportW: sv.W, ViewportH: sv.H,
		}})
		return nil
	})
	if err != nil {
		return store.HeatSnapshot{}, false, fmt.Errorf("pebble: heatmap snapshot: %w", err)
	}
	now := time.Now().UnixMilli()
	return store.NewestLive(ps, func(session string) (bool, error) {
		row, err := s.loadRow(site, session)
		return row != nil && !row.expired(now), err
	})
}

// defaultRebuildStep is how many sessions one rebuild batch counts.
const defaultRebuildStep = 200

// RebuildHeat implements store.Store. It clears the site's h rows of days
// ≥ sinceDay and its g rows, then walks its sessions in key order, counting
// a step of sessions (200) per batch with the marker's cursor, under the site's
// write lock (writers of the site wait for one step). An unfinished rebuild
// with an earlier or equal sinceDay is resumed (it recounts at least those
// days); one with a later sinceDay starts over.
func (s *Store) RebuildHeat(ctx context.Context, site int64, sinceDay int32, progress func(done, total int64)) error {
	end, err := s.rebuilds.Start(site)
	if err != nil {
		return fmt.Errorf("pebble: rebuild heatmaps of site %d: %w", site, err)
	}
	defer end()
	if m := s.marker(site); m == nil || m.Since > sinceDay {
		if err := s.clearHeat(ctx, site, sinceDay); err != nil {
			return fmt.Errorf("pebble: rebuild heatmaps of site %d: %w", site, err)
		}
	}
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		done, m, err := s.countStep(site)
		if err != nil {
			return fmt.Errorf("pebble: rebuild heatmaps of site %d: %w", site, err)
		}
		if progress != nil {
			progress(m.Done, m.Total)
		}
		if done {
			return nil
		}
	}
}

// clearHeat starts a rebuild: one synced batch clears the rows it will
// recount and writes its marker.
func (s *Store) clearHeat(ctx context.Context, site int64, since int32) error {
	mu := &s.siteLocks[s.siteStripe(site)]
	mu.Lock()
	defer mu.Unlock()
	// Queued changes were decided before the marker exists: merged after
	// the clear they would count twice what the rebuild recounts. The
	// site's write lock keeps new ones out until the marker is set.
	if err := s.flushHeat(); err != nil {
		return err
	}
	b := s.db.NewBatch()
	defer b.Close()
	p := newKey(pHeat).u64(site)
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: p, UpperBound: upperBound(p)})
	if err != nil {
		return err
	}
	for ok := it.First(); ok; {
		k := it.Key()
		if len(k) != heatKeyLen || k[len(p)] != heatListMark {
			it.Close()
			return fmt.Errorf("corrupt key %x", k)
		}
		group := slices.Clone(k[:heatGroupLen])
		from := since
		if group[len(group)-1]&weekFlag != 0 {
			from = weekOf(since) // recounted whole (rebuildMarker.counts)
		}
		if err := b.DeleteRange(keyBuf(slices.Clone(group)).i32(from), upperBound(group), nil); err != nil {
			it.Close()
			return err
		}
		ok = it.SeekGE(upperBound(group))
	}
	if err := it.Close(); err != nil {
		return err
	}
	g := pageKey(site, "")
	if err := b.DeleteRange(g, upperBound(g), nil); err != nil {
		return err
	}
	var total int64
	if err := s.scan(newKey(pSession).u64(site), nil, func(_, _ []byte) error { total++; return ctx.Err() }); err != nil {
		return err
	}
	m := &rebuildMarker{Since: since, Cleared: true, Total: total}
	if err := s.putMarker(b, site, m); err != nil {
		return err
	}
	if err := b.Commit(pebble.Sync); err != nil {
		return err
	}
	s.setMarker(site, m)
	return nil
}

func (s *Store) putMarker(b *pebble.Batch, site int64, m *rebuildMarker) error {
	v, err := json.Marshal(m)
	if err != nil {
		return err
	}
	return b.Set(newKey(pRebuild).u64(site), v, nil)
}

// countStep counts the next sessions after the cursor, or ends the
// rebuild when there are none (done).
func (s *Store) countStep(site int64) (bool, *rebuildMarker, error) {
	mu := &s.siteLocks[s.siteStripe(site)]
	mu.Lock()
	defer mu.Unlock()
	m := s.marker(site)
	if m == nil {
		return false, nil, errors.New("the rebuild's marker is gone")
	}
	type sess struct {
		id  string
		row *sessionRow
	}
	var next []sess
	var last []byte
	p := newKey(pSession).u64(site)
	var from []byte
	if m.Cursor != nil {
		from = append(slices.Clone(m.Cursor), 0)
	}
	errFull := errors.New("full")
	err := s.scan(p, from, func(k, v []byte) error {
		if len(next) == s.rebuildStep {
			return errFull
		}
		r := keyReader{b: k[len(p):]}
		id := r.str()
		if r.err != nil {
			return fmt.Errorf("corrupt key %x", k)
		}
		var row sessionRow
		if err := decodeRow(v, &row); err != nil {
			return fmt.Errorf("session %s: %w", id, err)
		}
		if row.State == nil {
			row.State = summary.NewState()
		}
		next = append(next, sess{id, &row})
		last = slices.Clone(k)
		return nil
	})
	if err != nil && !errors.Is(err, errFull) {
		return false, nil, err
	}
	b := s.db.NewBatch()
	defer b.Close()
	nm := *m
	if len(next) == 0 {
		// Every session is counted; writers hold the read lock, so none can
		// slip in between this scan and the marker's removal.
		if err := b.Delete(newKey(pRebuild).u64(site), nil); err != nil {
			return false, nil, err
		}
		if err := b.Commit(pebble.Sync); err != nil {
			return false, nil, err
		}
		s.setMarker(site, nil)
		nm.Total = max(nm.Total, nm.Done)
		return true, &nm, nil
	}
	d := heatmap.Deltas{}
	for _, x := range next {
		stats, err := s.sessionHeat(d, site, x.id, x.row, 1)
		if err != nil {
			return false, nil, err
		}
		// The max merge keeps a newer pointer; one missing (a route's page
		// of a chunk stored before routes were pointed) is written.
		chunks := store.StatsChunks(stats)
		ptrs := make([]*store.Chunk, len(chunks))
		for i := range chunks {
			ptrs[i] = &chunks[i]
		}
		if err := mergeSnapshots(b, site, x.id, ptrs); err != nil {
			return false, nil, err
		}
	}
	err = writeDeltas(b, nil, site, m.counts, nil, d.Prune())
	if err != nil {
		return false, nil, err
	}
	nm.Cursor, nm.Done = last, m.Done+int64(len(next))
	nm.Total = max(nm.Total, nm.Done)
	if err := s.putMarker(b, site, &nm); err != nil {
		return false, nil, err
	}
	if err := b.Commit(pebble.Sync); err != nil {
		return false, nil, err
	}
	s.setMarker(site, &nm)
	return false, &nm, nil
}
