package pebble

import (
	"crypto/sha256"
	"fmt"

	"github.com/cockroachdb/pebble/v2"
)

// Heat rows name their page by an id rather than its URL: a page key is
// most of a row's key (a move cell's row was ~90 bytes, ~65 of them the
// URL) and every flush writes thousands of rows, each into its day and its
// week, which the LSM then flushes and compacts. The id is the first 12
// bytes of the page key's SHA-256: two page keys of one site sharing an id
// would share their maps, which takes ~2^48 page keys by chance; made on
// purpose it only mixes made-up clicks into a page's map, which anyone
// holding the site's public tracker key can do anyway by sending them
// under the page's own URL. The page dictionary (g rows) and snapshot
// pointers (k rows) keep the page itself.
const (
	heatPageIDLen = 12
	// heatPageMark follows the site in h keys of this layout; the earlier
	// layout had the page's length byte there (≤ pagerule.MaxKey, 240).
	heatPageMark = 0xff
)

func heatPageID(page string) [heatPageIDLen]byte {
	sum := sha256.Sum256([]byte(page))
	return [heatPageIDLen]byte(sum[:heatPageIDLen])
}

// heatMigrateBatch is how many rows of the earlier layout one batch moves.
const heatMigrateBatch = 4096

// migrateHeatLayout moves h rows of the earlier layout (page key
// length-prefixed where the mark is now) to this one, at Open before any
// writer: each batch merges a step of rows into their new keys and deletes
// the old ones, so a crash leaves every row counted once, in one layout or
// the other, and the next Open carries on. It answers how many it moved.
func (s *Store) migrateHeatLayout() (int, error) {
	moved := 0
	for {
		n, err := s.migrateHeatStep(heatMigrateBatch)
		moved += n
		if err != nil {
			return moved, fmt.Errorf("heatmap rows to page ids: %w", err)
		}
		if n < heatMigrateBatch {
			return moved, nil
		}
	}
}

// migrateHeatStep moves up to step rows in one batch.
func (s *Store) migrateHeatStep(step int) (int, error) {
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: []byte{pHeat}, UpperBound: []byte{pHeat + 1}})
	if err != nil {
		return 0, err
	}
	defer it.Close()
	b := s.db.NewBatch()
	defer b.Close()
	n := 0
	var kb keyBuf
	for ok := it.First(); ok && n < step; {
		k := it.Key()
		if len(k) < 10 {
			return n, fmt.Errorf("corrupt key %x", k)
		}
		if k[9] == heatPageMark {
			// This site's rows of the earlier layout (which sort before
			// the mark) are done: on to the next site.
			ok = it.SeekGE(upperBound(keyBuf(k[:10:10])))
			continue
		}
		r := keyReader{b: k[1:]}
		site := r.u64()
		page := r.str()
		if r.err != nil {
			return n, fmt.Errorf("corrupt key %x", k)
		}
		id := heatPageID(page)
		kb = append(heatPagePrefix(kb[:0], site, &id), r.b...)
		v, err := it.ValueAndErr()
		if err != nil {
			return n, err
		}
		if err := b.Merge(kb, v, nil); err != nil {
			return n, err
		}
		if err := b.Delete(k, nil); err != nil {
			return n, err
		}
		n++
		ok = it.Next()
	}
	if err := it.Error(); err != nil {
		return n, err
	}
	if n == 0 {
		return 0, nil
	}
	return n, b.Commit(pebble.Sync)
}
