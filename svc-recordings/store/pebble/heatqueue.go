package pebble

import (
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/sightlinehq/sightline/svc-recordings/heatmap"
)

// Heatmap changes leave the append path through a queue: an append writes
// its call's changes as one j row beside its chunks (one key where it
// would merge dozens of cell lists) and hands them to the queue; a flush
// sums what the queue holds — many calls on the same pages share most
// cells — merges one list into each row it touches and deletes the j rows,
// in one batch. So aggregates cost appends little and the LSM few rows, and
// nothing is lost: until a flush commits, the j rows are on disk and Open
// queues them again. Readers of aggregates (Heat, HeatPages) flush first,
// so they see every committed append; a rebuild flushes before it clears
// the rows it recounts (see clearHeat).

const (
	// heatFlushEvery is how long changes may wait in the queue.
	heatFlushEvery = time.Second
	// heatQueueRows bounds the queue's memory: past it an append wakes
	// the flusher.
	heatQueueRows = 256 << 10
	// maxQueuedBuf bounds the j row buffers kept for reuse: a rare huge
	// call's is dropped.
	maxQueuedBuf = 1 << 20
	// maxSpareMoves bounds the move list a spare siteHeat keeps (96
	// bytes a change: under 1 MB).
	maxSpareMoves = 10_000
)

// heatQueue holds appended heatmap changes not yet merged into h/g rows.
type heatQueue struct {
	mu    sync.Mutex
	items []queuedHeat
	rows  int
	next  uint64 // the next j key's sequence number
	// flushMu serialises flushes, so a rebuild's flush waits for one in
	// progress.
	flushMu sync.Mutex
	// scratch is the flushes' working memory (under flushMu).
	scratch deltaScratch
	// spare holds calls' maps of changes a flush merged, cleared, for the
	// next calls (*siteHeat): a call's map, made anew, was about a tenth
	// of what an append with heatmaps allocated in bench-heatmaps.
	spare sync.Pool
	// bufs lends appends a buffer to encode their j row in (*[]byte).
	bufs sync.Pool
	wake chan struct{}
	stop chan struct{}
	done chan struct{}
}

// queuedHeat is one append's changes and its j key; at is when it was
// queued (for rows found on disk at Open, when it opened).
type queuedHeat struct {
	key   []byte
	sites map[int64]*siteHeat
	at    time.Time
}

// depth answers the queue's changes (cells), its appends (j rows) and when
// its oldest change was queued (zero when it is empty), for the metrics.
func (q *heatQueue) depth() (cells, appends int, oldest time.Time) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, it := range q.items {
		if oldest.IsZero() || it.at.Before(oldest) {
			oldest = it.at
		}
	}
	return q.rows, len(q.items), oldest
}

func (it queuedHeat) rows() int {
	n := 0
	for _, h := range it.sites {
		n += h.rows()
	}
	return n
}

// siteHeat answers a cleared map of changes for a call, sized for n
// changes to both rows when it is new.
func (q *heatQueue) siteHeat(n int) *siteHeat {
	if h, ok := q.spare.Get().(*siteHeat); ok {
		return h
	}
	return newSiteHeatSized(n)
}

// reuse clears h, which nothing refers to any more, for a later call.
func (q *heatQueue) reuse(h *siteHeat) {
	clear(h.both)
	clear(h.day)
	clear(h.week)
	clear(h.moves) // the keys' strings
	h.moves = h.moves[:0]
	if cap(h.moves) > maxSpareMoves {
		h.moves = nil
	}
	q.spare.Put(h)
}

// recordHeat writes the call's changes (pruned) as a j row into b and
// answers what to queue once b commits; ok is false when there is none.
func (s *Store) recordHeat(b *pebble.Batch, heat map[int64]*siteHeat) (queuedHeat, bool, error) {
	n := 0
	for site, h := range heat {
		for _, sec := range h.sections() {
			sec.d.Prune()
		}
		h.moves = slices.DeleteFunc(h.moves, func(c heatChange) bool { return c.v.Zero() })
		if h.rows() == 0 {
			delete(heat, site)
		}
		n += h.rows()
	}
	if n == 0 {
		return queuedHeat{}, false, nil
	}
	q := &s.heatq
	q.mu.Lock()
	seq := q.next
	q.next++
	q.mu.Unlock()
	key := newKey(pHeatQueue).u64(int64(seq))
	buf, _ := q.bufs.Get().(*[]byte)
	if buf == nil {
		buf = new([]byte)
	}
	*buf = encodeQueued((*buf)[:0], heat)
	err := b.Set(key, *buf, nil) // copies
	if cap(*buf) <= maxQueuedBuf {
		q.bufs.Put(buf)
	}
	if err != nil {
		return queuedHeat{}, false, fmt.Errorf("heatmap queue: %w", err)
	}
	return queuedHeat{key: key, sites: heat, at: time.Now()}, true, nil
}

// enqueue hands committed changes to the flusher. The caller still holds
// the sites' read locks, so a rebuild (write lock) that flushes finds them.
func (s *Store) enqueue(it queuedHeat) {
	q := &s.heatq
	q.mu.Lock()
	q.items = append(q.items, it)
	q.rows += it.rows()
	full := q.rows >= heatQueueRows
	q.mu.Unlock()
	if full {
		select {
		case q.wake <- struct{}{}:
		default:
		}
	}
}

// flushHeat merges every queued change into the aggregates and deletes
// their j rows, atomically.
func (s *Store) flushHeat() error {
	q := &s.heatq
	q.flushMu.Lock()
	defer q.flushMu.Unlock()
	q.mu.Lock()
	items := q.items
	q.items, q.rows = nil, 0
	q.mu.Unlock()
	if len(items) == 0 {
		return nil
	}
	start := time.Now()
	// Each site's calls are written together: writeDeltas sums them as it
	// lists their cells.
	sites := map[int64][]*siteHeat{}
	for _, it := range items {
		for site, h := range it.sites {
			sites[site] = append(sites[site], h)
		}
	}
	b := s.db.NewBatch()
	defer b.Close()
	err := func() error {
		for site, hs := range sites {
			if err := writeSiteHeat(b, &q.scratch, site, hs); err != nil {
				return err
			}
		}
		// A j key is set once (sequence numbers continue after the rows
		// on disk) and deleted once: a single delete meeting its set in a
		// memtable flush leaves neither in the tables, where a tombstone
		// would be carried down the LSM.
		for _, it := range items {
			if err := b.SingleDelete(it.key, nil); err != nil {
				return err
			}
		}
		if err := s.writeFails("heat flush"); err != nil {
			return err
		}
		// Not synced: a lost flush leaves its j rows, which Open queues
		// again; the next synced append syncs it with the WAL.
		return b.Commit(pebble.NoSync)
	}()
	if err != nil {
		// Put them back in front: nothing was written.
		q.mu.Lock()
		for _, it := range items {
			q.rows += it.rows()
		}
		q.items = append(items, q.items...)
		q.mu.Unlock()
		s.heatm.flushed(start, 0, err)
		return fmt.Errorf("pebble: flush heatmap changes: %w", err)
	}
	for _, it := range items {
		for _, h := range it.sites {
			q.reuse(h)
		}
	}
	lists, err := s.noteFlushed(b)
	s.heatm.flushed(start, lists, nil)
	return err
}

// startHeatQueue moves heat rows of the earlier layout (heatlayout.go),
// queues the j rows left on disk and starts the flusher.
func (s *Store) startHeatQueue() error {
	q := &s.heatq
	q.wake, q.stop, q.done = make(chan struct{}, 1), make(chan struct{}), make(chan struct{})
	// Rows of the earlier layout move first: nothing reads or writes
	// aggregates before the queue starts.
	moved, err := s.migrateHeatLayout()
	if err != nil {
		return err
	}
	if moved > 0 {
		slog.Info("heatmap rows moved to page ids", "rows", moved)
	}
	err = s.scan([]byte{pHeatQueue}, nil, func(k, v []byte) error {
		r := keyReader{b: k[1:]}
		seq := uint64(r.u64())
		if r.err != nil || len(r.b) != 0 {
			return fmt.Errorf("corrupt heatmap queue key %x", k)
		}
		sites, err := decodeQueued(v)
		if err != nil {
			return fmt.Errorf("heatmap queue row %d: %w", seq, err)
		}
		it := queuedHeat{key: append([]byte(nil), k...), sites: sites, at: time.Now()}
		q.items = append(q.items, it)
		q.rows += it.rows()
		q.next = seq + 1
		return nil
	})
	if err != nil {
		return err
	}
	go s.flushLoop()
	return nil
}

func (s *Store) flushLoop() {
	q := &s.heatq
	defer close(q.done)
	t := time.NewTicker(heatFlushEvery)
	defer t.Stop()
	for {
		select {
		case <-q.stop:
			return
		case <-t.C:
		case <-q.wake:
		}
		if err := s.flushHeat(); err != nil {
			// The changes stay queued (and on disk); the next tick retries.
			slog.Error("heatmap flush failed", "err", err)
		}
		if err := s.foldHeat(); err != nil {
			// The operands stay; a later flush names the lists again.
			slog.Error("heatmap fold failed", "err", err)
		}
	}
}

// stopHeatQueue stops the flusher and flushes what is left.
func (s *Store) stopHeatQueue() error {
	q := &s.heatq
	if q.stop == nil {
		return nil
	}
	close(q.stop)
	<-q.done
	return s.flushHeat()
}

// A j row's encoding, version 2 (version 1, which a binary before it
// wrote, is read still: a crash may leave such rows). It begins with 0
// and the version (a version 1 row names a page first, so it begins with
// the page count, which recordHeat never writes as 0); then the pages the
// changes name, the selectors of their element cells (clicks, rage and
// dead clicks: a cell is the click's place in the element then the
// selector, and a call's clicks name a few dozen elements many times),
// and per site its id and its three sections, each a count and its
// changes. A change is a byte of flags, then its page, device, day and
// kind when they are not the previous change's, its cell (the place and
// the selector's index, or the cell's length and bytes), and the fields of
// its vec that are not zero. In bench-heatmaps a version 1 row was about
// 330 bytes a chunk (a move ~17 bytes, a click ~75), version 2's 182:
// written to the WAL and the memtable at every append.
const (
	queuedV2 = 2
	// Flags of a change: its key differs from the previous change's
	// (page, device, day, kind follow); its cell is an element cell; and
	// the vec's fields present (N, X, Y, K, RX, RY from bit 2 up).
	queuedNewKey  = 1 << 0
	queuedElement = 1 << 1
	queuedVecBit  = 2
)

// queuedElementCell answers the parts of a change's cell when it is an
// element cell (heatmap.ClickCell's, of clicks, rage and dead clicks),
// which a j row writes as the place and the selector's index.
func queuedElementCell(k heatmap.Key) (rx, ry int8, sel string, ok bool) {
	if k.Kind != heatmap.Click && k.Kind != heatmap.Rage && k.Kind != heatmap.Dead {
		return 0, 0, "", false
	}
	return heatmap.ParseClickCell(k.Cell)
}

// queuedTable numbers strings (pages, selectors) for a j row, trying the
// last one found before its map (a call's changes mostly name one page).
type queuedTable struct {
	index map[string]uint64
	list  []string
	last  string
	at    uint64
}

func (t *queuedTable) of(s string) uint64 {
	if len(t.list) > 0 && s == t.last {
		return t.at
	}
	i, ok := t.index[s]
	if !ok {
		if t.index == nil {
			t.index = map[string]uint64{}
		}
		i = uint64(len(t.list))
		t.index[s] = i
		t.list = append(t.list, s)
	}
	t.last, t.at = s, i
	return i
}

func (t *queuedTable) appendTo(b []byte) []byte {
	b = binary.AppendUvarint(b, uint64(len(t.list)))
	for _, s := range t.list {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	return b
}

// queuedWriter writes a j row's changes: the previous change's key, for
// the next one's flags.
type queuedWriter struct {
	pages, sels *queuedTable
	prev        heatmap.Key
	prevPage    uint64
	started     bool
}

func (w *queuedWriter) change(b []byte, k heatmap.Key, v heatmap.Vec) []byte {
	page := w.pages.of(k.Page)
	flags := byte(0)
	if !w.started || page != w.prevPage || k.Device != w.prev.Device || k.Day != w.prev.Day || k.Kind != w.prev.Kind {
		flags |= queuedNewKey
	}
	rx, ry, sel, element := queuedElementCell(k)
	if element {
		flags |= queuedElement
	}
	xs := [6]int64{v.N, v.X, v.Y, v.K, v.RX, v.RY}
	for i, x := range xs {
		if x != 0 {
			flags |= 1 << (queuedVecBit + i)
		}
	}
	b = append(b, flags)
	if flags&queuedNewKey != 0 {
		b = binary.AppendUvarint(b, page)
		b = binary.AppendVarint(b, int64(k.Device))
		b = binary.AppendVarint(b, int64(k.Day))
		b = append(b, byte(k.Kind))
		w.prev, w.prevPage, w.started = k, page, true
	}
	if element {
		b = append(b, byte(rx), byte(ry))
		b = binary.AppendUvarint(b, w.sels.of(sel))
	} else {
		b = binary.AppendUvarint(b, uint64(len(k.Cell)))
		b = append(b, k.Cell...)
	}
	for _, x := range xs {
		if x != 0 {
			b = binary.AppendVarint(b, x)
		}
	}
	return b
}

// encodeQueued appends a call's changes to dst (version 2, above). The
// caller reuses dst (the batch copies the row): a buffer sized per call
// was about a tenth of the bytes an append with heatmaps allocated beyond
// one without in bench-heatmaps.
func encodeQueued(dst []byte, heat map[int64]*siteHeat) []byte {
	// The tables come first: numbered in a pass of their own.
	var pages, sels queuedTable
	note := func(k heatmap.Key) {
		pages.of(k.Page)
		if _, _, sel, ok := queuedElementCell(k); ok {
			sels.of(sel)
		}
	}
	for _, h := range heat {
		for _, sec := range h.sections() {
			for k := range sec.d {
				note(k)
			}
		}
		for _, c := range h.moves {
			note(c.k)
		}
	}
	b := append(dst, 0, queuedV2)
	b = pages.appendTo(b)
	b = sels.appendTo(b)
	for site, h := range heat {
		b = binary.BigEndian.AppendUint64(b, uint64(site))
		for i, sec := range h.sections() {
			// The moves are changes to both rows: written in that section,
			// after the map's (decodeQueued sums a cell met twice).
			var moves []heatChange
			if i == 0 {
				moves = h.moves
			}
			b = binary.AppendUvarint(b, uint64(len(sec.d)+len(moves)))
			w := queuedWriter{pages: &pages, sels: &sels}
			for k, v := range sec.d {
				b = w.change(b, k, v)
			}
			for _, c := range moves {
				b = w.change(b, c.k, c.v)
			}
		}
	}
	return b
}

var errQueued = errors.New("corrupt heatmap queue row")

// queuedReader reads a j row; b is nil once a read fails.
type queuedReader struct{ b []byte }

func (r *queuedReader) uv() uint64 {
	x, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.b = nil
		return 0
	}
	r.b = r.b[n:]
	return x
}

// sv reads a zig-zag varint (binary.AppendVarint's).
func (r *queuedReader) sv() int64 {
	x := r.uv()
	return int64(x>>1) ^ -int64(x&1)
}

func (r *queuedReader) byte1() (byte, bool) {
	if len(r.b) < 1 {
		r.b = nil
		return 0, false
	}
	c := r.b[0]
	r.b = r.b[1:]
	return c, true
}

func (r *queuedReader) bytes(n uint64) ([]byte, bool) {
	if r.b == nil || n > uint64(len(r.b)) {
		r.b = nil
		return nil, false
	}
	s := r.b[:n]
	r.b = r.b[n:]
	return s, true
}

func (r *queuedReader) str() (string, bool) {
	s, ok := r.bytes(r.uv())
	return string(s), ok
}

// table reads a count and as many strings.
func (r *queuedReader) table() ([]string, bool) {
	n := r.uv()
	if r.b == nil || n > uint64(len(r.b)) {
		return nil, false
	}
	t := make([]string, n)
	for i := range t {
		var ok bool
		if t[i], ok = r.str(); !ok {
			return nil, false
		}
	}
	return t, true
}

// decodeQueued reads a j row of either version.
func decodeQueued(b []byte) (map[int64]*siteHeat, error) {
	r := queuedReader{b: b}
	v2 := len(b) >= 2 && b[0] == 0 && b[1] == queuedV2
	if v2 {
		r.b = b[2:]
	}
	pages, ok := r.table()
	if !ok {
		return nil, errQueued
	}
	var sels []string
	if v2 {
		if sels, ok = r.table(); !ok {
			return nil, errQueued
		}
	}
	out := map[int64]*siteHeat{}
	for len(r.b) > 0 {
		site, ok := r.bytes(8)
		if !ok {
			return nil, errQueued
		}
		h := newSiteHeat()
		out[int64(binary.BigEndian.Uint64(site))] = h
		for _, sec := range h.sections() {
			n := r.uv()
			if r.b == nil {
				return nil, errQueued
			}
			change := r.changeV1
			if v2 {
				change = r.changeV2
			}
			var k heatmap.Key
			for i := range n {
				var v heatmap.Vec
				if !change(&k, &v, pages, sels, i == 0) {
					return nil, errQueued
				}
				// Summed: a section may name a cell twice (siteHeat.moves;
				// a binary before them, reading a crash's j row, would keep
				// one of the two).
				sec.d.Add(k, v, 1)
			}
		}
	}
	return out, nil
}

// changeV1 reads a change of a version 1 row: its page's index, device,
// day, kind, cell and the vec's six fields.
func (r *queuedReader) changeV1(k *heatmap.Key, v *heatmap.Vec, pages, _ []string, _ bool) bool {
	if !r.key(k, pages) {
		return false
	}
	var ok bool
	if k.Cell, ok = r.str(); !ok {
		return false
	}
	*v = heatmap.Vec{N: r.sv(), X: r.sv(), Y: r.sv(), K: r.sv(), RX: r.sv(), RY: r.sv()}
	return r.b != nil
}

// key reads a change's page index, device, day and kind into k.
func (r *queuedReader) key(k *heatmap.Key, pages []string) bool {
	p := r.uv()
	if r.b == nil || p >= uint64(len(pages)) {
		return false
	}
	k.Page = pages[p]
	k.Device, k.Day = int32(r.sv()), int32(r.sv())
	kind, ok := r.byte1()
	k.Kind = heatmap.Kind(kind)
	return ok
}

// changeV2 reads a change of a version 2 row into k, which holds the
// previous change's key (first: the section's first change, which must
// name its key).
func (r *queuedReader) changeV2(k *heatmap.Key, v *heatmap.Vec, pages, sels []string, first bool) bool {
	flags, ok := r.byte1()
	if !ok {
		return false
	}
	if flags&queuedNewKey != 0 {
		if !r.key(k, pages) {
			return false
		}
	} else if first {
		return false
	}
	if flags&queuedElement != 0 {
		place, ok := r.bytes(2)
		if !ok {
			return false
		}
		i := r.uv()
		if r.b == nil || i >= uint64(len(sels)) {
			return false
		}
		// ParseClickCell's parts joined as they were (not ClickCell,
		// which would round a place a damaged row holds).
		k.Cell = string(place) + sels[i]
	} else if k.Cell, ok = r.str(); !ok {
		return false
	}
	var xs [6]int64
	for i := range xs {
		if flags&(1<<(queuedVecBit+i)) != 0 {
			xs[i] = r.sv()
		}
	}
	*v = heatmap.Vec{N: xs[0], X: xs[1], Y: xs[2], K: xs[3], RX: xs[4], RY: xs[5]}
	return r.b != nil
}
