package pebble

import (
	"bytes"
	"errors"
	"slices"
	"sync"
	"time"

	"github.com/cockroachdb/pebble/v2"
)

// outboxFloors remembers, per outbox (pOutbox, pAnswerOutbox, pNotify),
// a key below which no entry is pending and none will be written, so the
// relay's scan starts there instead of at the prefix: from the prefix it
// stepped over the tombstone of every entry acked since the last
// compaction (issue 19: ~9% of the server's CPU at 250 batches/s before
// deliveries were windowed, <2% after).
//
// Entry keys are taken when written to a batch, not when the batch
// commits, so a key taken earlier can commit later. The keys of batches
// not yet committed are kept in open until the batch is done with
// (newOutboxBatch), and the floor never passes them; a batch never done
// with would only hold the floor back (scans as long as before).
type outboxFloors struct {
	mu sync.Mutex
	// open holds the outbox keys written to each batch not yet committed
	// (or abandoned).
	open map[*pebble.Batch][][]byte
	// lastMs is the largest millisecond the timed outboxes' keys took: new
	// keys never take a smaller one, so a clock stepping back cannot put
	// an entry below a floor.
	lastMs int64
	// lo is each outbox's floor (the full key, prefix included).
	lo map[byte][]byte
	// onScan, when set (tests), sees each pending scan's iterator stats.
	onScan func(prefix byte, st pebble.IteratorStats)
}

func (f *outboxFloors) init() {
	f.open = map[*pebble.Batch][][]byte{}
	f.lo = map[byte][]byte{}
	for _, p := range []byte{pOutbox, pAnswerOutbox, pNotify} {
		f.lo[p] = []byte{p}
	}
	// Keys written from now on are not below this millisecond even if
	// the clock was ahead before a restart.
	f.lastMs = time.Now().UnixMilli()
}

// newOutboxBatch is the batch of a write that may record outbox entries.
// done (deferred) forgets its keys once it is committed or abandoned,
// then closes it: closing first could hand the batch to another writer
// (Pebble pools them) whose keys done would forget.
func (s *Store) newOutboxBatch() (b *pebble.Batch, done func()) {
	b = s.db.NewBatch()
	return b, func() {
		s.floors.mu.Lock()
		delete(s.floors.open, b)
		s.floors.mu.Unlock()
		b.Close()
	}
}

// outboxKey takes the key of a new entry of the sessions' outbox, written
// to b.
func (s *Store) outboxKey(b *pebble.Batch) []byte {
	f := &s.floors
	f.mu.Lock()
	defer f.mu.Unlock()
	k := newKey(pOutbox).u64(s.outboxN.Add(1))
	f.open[b] = append(f.open[b], k)
	return k
}

// timedOutboxKey takes the key (ms, n) of a new entry of the outbox under
// prefix, written to b.
func (s *Store) timedOutboxKey(b *pebble.Batch, prefix byte) []byte {
	f := &s.floors
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lastMs = max(f.lastMs, time.Now().UnixMilli())
	k := newKey(prefix).u64(f.lastMs).u64(s.outboxN.Add(1))
	f.open[b] = append(f.open[b], k)
	return k
}

// outboxFloor returns where the scan of the outbox under prefix starts
// (lo) and the lowest key an entry not yet visible may have (floor): that
// of an open batch, else the next key to be taken. Every entry below
// floor that is committed is visible to an iterator opened after this.
func (s *Store) outboxFloor(prefix byte) (lo, floor []byte) {
	f := &s.floors
	f.mu.Lock()
	defer f.mu.Unlock()
	if prefix == pOutbox {
		floor = newKey(pOutbox).u64(s.outboxN.Load() + 1)
	} else {
		// A new key has a later millisecond, or this one and a larger n.
		floor = newKey(prefix).u64(f.lastMs).u64(s.outboxN.Load() + 1)
	}
	for _, ks := range f.open {
		for _, k := range ks {
			if k[0] == prefix && bytes.Compare(k, floor) < 0 {
				floor = k
			}
		}
	}
	return f.lo[prefix], floor
}

// raiseOutboxFloor moves the scan's start of the outbox under prefix up
// to lo, never down (concurrent scans each found a valid start; the
// higher is valid too).
func (s *Store) raiseOutboxFloor(prefix byte, lo []byte) {
	f := &s.floors
	f.mu.Lock()
	defer f.mu.Unlock()
	if bytes.Compare(lo, f.lo[prefix]) > 0 {
		f.lo[prefix] = slices.Clone(lo)
	}
}

// outboxDepth counts the entries pending in the outbox under prefix. It
// counts from the floor, as the relay's scans start there: from the
// prefix it stepped over every acked entry's tombstone since the last
// compaction, on every metrics scrape.
func (s *Store) outboxDepth(prefix byte) (int64, error) {
	lo, _ := s.outboxFloor(prefix)
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: []byte{prefix + 1}})
	if err != nil {
		return 0, err
	}
	var n int64
	for ok := it.First(); ok; ok = it.Next() {
		n++
	}
	if h := s.floors.onScan; h != nil {
		h(prefix, it.Stats())
	}
	return n, errors.Join(it.Error(), it.Close())
}
