package pebble

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sync"

	"github.com/cockroachdb/pebble/v2"
)

// Folding lists. Every heatmap flush merges one operand into each list it
// touches, and a read merges every operand a list has gathered since the
// LSM last compacted it. A busy list in a memtable that fills slowly would
// gather one per second, so a list that has taken heatFoldAfter operands
// (and, since it was last folded, a quarter of its size in them, which
// bounds the rewriting to a few times what the flushes wrote) is folded:
// its merged value is set in their place. The fold holds the site's lock
// (write) and the flush lock, so no writer of h rows can merge between its
// read and its write. A list a read merged is folded too (heatFolds.read).

const (
	// heatFoldAfter is how many flushed operands a list takes before it
	// is folded.
	heatFoldAfter = 8
	// heatFoldTracked bounds the lists counted; past it the counts start
	// over (a list then folds later, nothing is lost).
	heatFoldTracked = 1 << 16
)

// heatFolds counts the operands flushes merge into lists.
type heatFolds struct {
	mu    sync.Mutex
	lists map[string]*foldCount
	due   map[int64][]string // lists to fold, by site
	// after is how many flushed operands a list takes before it is
	// folded: heatFoldAfter, smaller in tests.
	after int
	// folded counts folds (tests).
	folded int
}

type foldCount struct {
	ops, bytes, size int
	due              bool
}

// merged notes a flushed operand of n bytes into the list at key (an h
// key of site).
func (f *heatFolds) merged(site int64, key []byte, n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, _ := f.count(key)
	c.ops++
	c.bytes += n
	if !c.due && c.ops >= f.after && c.bytes*4 >= c.size {
		f.markDue(site, key, c)
	}
}

// count answers the count of the list at key, a new one (known false)
// when none is kept; past heatFoldTracked lists the counts start over.
// The caller holds f.mu.
func (f *heatFolds) count(key []byte) (c *foldCount, known bool) {
	if c = f.lists[string(key)]; c != nil {
		return c, true
	}
	if f.lists == nil || len(f.lists) >= heatFoldTracked {
		f.lists = map[string]*foldCount{}
	}
	c = &foldCount{}
	f.lists[string(key)] = c
	return c, false
}

// markDue names the list at key, counted by c, to fold. The caller holds
// f.mu.
func (f *heatFolds) markDue(site int64, key []byte, c *foldCount) {
	c.due = true
	if f.due == nil {
		f.due = map[int64][]string{}
	}
	f.due[site] = append(f.due[site], string(key))
}

// read notes a read of the list at key (an h key of site), which merged
// whatever operands it has: with one or more flushed since the last fold,
// it is due, so that the reads after the next flush find one value. Reads
// merge a list's operands on every call, and a dashboard reads a map again
// and again (other days, devices, kinds); the flushes alone leave up to
// heatFoldAfter-1 operands on each list for the LSM to compact, which it
// does only as its levels fill. One operand is enough: on a folded list
// it makes two values to merge at every read (a sixth of GetHeatmap's CPU
// in a bench-heatmaps profile, when only two made a list due). A list not
// counted (written before this process started, or its count dropped) may
// hold any number of operands: it is folded once, which costs a rewrite
// where it had none. It answers whether the list became due.
func (f *heatFolds) read(site int64, key []byte) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, known := f.count(key)
	if c.due || (known && c.ops == 0) {
		return false
	}
	f.markDue(site, key, c)
	return true
}

// take answers the lists due to fold.
func (f *heatFolds) take() map[int64][]string {
	f.mu.Lock()
	defer f.mu.Unlock()
	due := f.due
	f.due = nil
	return due
}

// retry names lists whose fold failed again.
func (f *heatFolds) retry(site int64, keys []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.due == nil {
		f.due = map[int64][]string{}
	}
	f.due[site] = append(f.due[site], keys...)
}

// done notes a fold of the list at key, now size bytes.
func (f *heatFolds) done(key string, size int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.folded++
	if c := f.lists[key]; c != nil {
		*c = foldCount{size: size}
	}
}

// noteFlushed counts the list operands of a committed flush batch and
// answers how many there were.
func (s *Store) noteFlushed(b *pebble.Batch) (lists int, err error) {
	r := b.Reader()
	for {
		kind, k, v, ok, err := r.Next()
		if err != nil || !ok {
			return lists, err
		}
		if kind == pebble.InternalKeyKindMerge && len(k) == heatKeyLen && k[0] == pHeat && k[9] == heatListMark {
			s.heatFolds.merged(int64(binary.BigEndian.Uint64(k[1:9])), k, len(v))
			lists++
		}
	}
}

// foldHeat folds the lists due.
func (s *Store) foldHeat() error {
	var errs []error
	for site, keys := range s.heatFolds.take() {
		err := s.foldSite(site, keys)
		s.heatm.folded(len(keys), err)
		if err != nil {
			s.heatFolds.retry(site, keys)
			errs = append(errs, fmt.Errorf("pebble: fold heatmap lists of site %d: %w", site, err))
		}
	}
	return errors.Join(errs...)
}

func (s *Store) foldSite(site int64, keys []string) error {
	// The order of clearHeat: the site's lock, then the flush lock.
	mu := &s.siteLocks[s.siteStripe(site)]
	mu.Lock()
	defer mu.Unlock()
	q := &s.heatq
	q.flushMu.Lock()
	defer q.flushMu.Unlock()
	b := s.db.NewBatch()
	defer b.Close()
	sizes := make([]int, len(keys))
	for i, k := range keys {
		v, closer, err := s.db.Get([]byte(k))
		if errors.Is(err, pebble.ErrNotFound) {
			continue
		}
		if err != nil {
			return err
		}
		sizes[i] = len(v)
		if len(v) <= 1 {
			err = b.Delete([]byte(k), nil) // every cell summed to zero
		} else {
			err = b.Set([]byte(k), v, nil) // the batch copies v
		}
		closer.Close()
		if err != nil {
			return err
		}
	}
	// Not synced: a lost fold leaves the operands, which sum the same.
	if err := b.Commit(pebble.NoSync); err != nil {
		return err
	}
	for i, k := range keys {
		s.heatFolds.done(k, sizes[i])
	}
	return nil
}
