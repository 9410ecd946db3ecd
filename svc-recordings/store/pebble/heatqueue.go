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

// encodeQueued appends a call's changes to dst, compactly (a call's
// thousand changes name a few pages): a table of the pages, then per site
// its id and its three sections, each a count and entries of (page index,
// device, day, kind, cell, vec). The caller reuses dst (the batch copies
// the row): a buffer sized per call was about a tenth of the bytes an
// append with heatmaps allocated beyond one without in bench-heatmaps.
func encodeQueued(dst []byte, heat map[int64]*siteHeat) []byte {
	// A call's changes mostly name one page: the last page found is
	// tried before the map.
	var (
		pages map[string]uint64
		table []string
		last  string
		at    uint64
	)
	index := func(page string) uint64 {
		if len(table) > 0 && page == last {
			return at
		}
		i, ok := pages[page]
		if !ok {
			if pages == nil {
				pages = map[string]uint64{}
			}
			i = uint64(len(table))
			pages[page] = i
			table = append(table, page)
		}
		last, at = page, i
		return i
	}
	for _, h := range heat {
		for _, sec := range h.sections() {
			for k := range sec.d {
				index(k.Page)
			}
		}
		for _, c := range h.moves {
			index(c.k.Page)
		}
	}
	b := binary.AppendUvarint(dst, uint64(len(table)))
	for _, p := range table {
		b = binary.AppendUvarint(b, uint64(len(p)))
		b = append(b, p...)
	}
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
			for k, v := range sec.d {
				b = appendQueued(b, index(k.Page), k, v)
			}
			for _, c := range moves {
				b = appendQueued(b, index(c.k.Page), c.k, c.v)
			}
		}
	}
	return b
}

// appendQueued appends one change of a j row, its page as the index page.
func appendQueued(b []byte, page uint64, k heatmap.Key, v heatmap.Vec) []byte {
	b = binary.AppendUvarint(b, page)
	b = binary.AppendVarint(b, int64(k.Device))
	b = binary.AppendVarint(b, int64(k.Day))
	b = append(b, byte(k.Kind))
	b = binary.AppendUvarint(b, uint64(len(k.Cell)))
	b = append(b, k.Cell...)
	return v.Append(b)
}

var errQueued = errors.New("corrupt heatmap queue row")

func decodeQueued(b []byte) (map[int64]*siteHeat, error) {
	out := map[int64]*siteHeat{}
	uv := func() uint64 {
		x, n := binary.Uvarint(b)
		if n <= 0 {
			b = nil
			return 0
		}
		b = b[n:]
		return x
	}
	sv := func() int64 {
		x, n := binary.Varint(b)
		if n <= 0 {
			b = nil
			return 0
		}
		b = b[n:]
		return x
	}
	str := func() (string, bool) {
		n := uv()
		if b == nil || n > uint64(len(b)) {
			return "", false
		}
		s := string(b[:n])
		b = b[n:]
		return s, true
	}
	np := uv()
	if b == nil || np > uint64(len(b)) {
		return nil, errQueued
	}
	table := make([]string, np)
	for i := range table {
		var ok bool
		if table[i], ok = str(); !ok {
			return nil, errQueued
		}
	}
	for len(b) > 0 {
		if len(b) < 8 {
			return nil, errQueued
		}
		site := int64(binary.BigEndian.Uint64(b))
		b = b[8:]
		h := newSiteHeat()
		out[site] = h
		for _, sec := range h.sections() {
			n := uv()
			if b == nil {
				return nil, errQueued
			}
			for range n {
				var k heatmap.Key
				p := uv()
				if b == nil || p >= uint64(len(table)) {
					return nil, errQueued
				}
				k.Page = table[p]
				k.Device, k.Day = int32(sv()), int32(sv())
				if len(b) < 1 {
					return nil, errQueued
				}
				k.Kind = heatmap.Kind(b[0])
				b = b[1:]
				var ok bool
				if k.Cell, ok = str(); !ok {
					return nil, errQueued
				}
				var xs [6]int64
				for i := range xs {
					xs[i] = sv()
				}
				if b == nil {
					return nil, errQueued
				}
				// Summed: a section may name a cell twice (siteHeat.moves;
				// a binary before them, reading a crash's j row, would keep
				// one of the two).
				sec.d.Add(k, heatmap.Vec{N: xs[0], X: xs[1], Y: xs[2], K: xs[3], RX: xs[4], RY: xs[5]}, 1)
			}
		}
	}
	return out, nil
}
