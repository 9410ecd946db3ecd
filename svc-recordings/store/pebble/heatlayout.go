package pebble

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"slices"

	"github.com/cockroachdb/pebble/v2"

	"github.com/sightlinehq/sightline/svc-recordings/heatmap"
)

// Heat rows name their page by an id rather than its URL: a page key was
// most of a row's key when rows were per cell (a move cell's row was ~90
// bytes, ~65 of them the URL), and the LSM flushed and compacted thousands
// of them per flush. The id is the first 12
// bytes of the page key's SHA-256: two page keys of one site sharing an id
// would share their maps, which takes ~2^48 page keys by chance; made on
// purpose it only mixes made-up clicks into a page's map, which anyone
// holding the site's public tracker key can do anyway by sending them
// under the page's own URL. The page dictionary (g rows) and snapshot
// pointers (k rows) keep the page itself.
const (
	heatPageIDLen = 12
	// heatListMark follows the site in h keys of this layout: a row per
	// (page id, device, kind, day or week) holding its cells as one list
	// (heatlist.go).
	heatListMark = 0xfe
	// heatRowMark followed the site in h keys of the previous layout: a row
	// per cell, its key the list's key and the cell. The one before it had
	// the page's length byte there (≤ pagerule.MaxKey, 240) and the page.
	heatRowMark = 0xff
)

func heatPageID(page string) [heatPageIDLen]byte {
	sum := sha256.Sum256([]byte(page))
	return [heatPageIDLen]byte(sum[:heatPageIDLen])
}

// heatMigrateBatch is how many rows one batch of a layout move moves.
const heatMigrateBatch = 4096

// migrateHeatLayout moves h rows of the two earlier layouts to this one,
// at Open before any writer: rows keyed by the page key move to page ids
// (rows per cell), then rows per cell move into their lists. Each batch
// merges a step of rows into their new keys and deletes the old ones, so a
// crash leaves every row counted once, in one layout or the next, and the
// next Open carries on. It answers how many rows it moved.
func (s *Store) migrateHeatLayout() (int, error) {
	moved := 0
	for _, step := range []func(int) (int, error){s.migrateHeatStep, s.migrateHeatListStep} {
		for {
			n, err := step(heatMigrateBatch)
			moved += n
			if err != nil {
				return moved, fmt.Errorf("heatmap rows to the current layout: %w", err)
			}
			if n < heatMigrateBatch {
				break
			}
		}
	}
	return moved, nil
}

// heatMove is one move between layouts: skip answers where to seek past a
// row that does not move (nil: it moves), move writes a row's value under
// its new key (the row is then deleted), and end writes what move held
// back when the step ends.
type heatMove struct {
	skip func(k []byte) []byte
	move func(b *pebble.Batch, k, v []byte) error
	end  func(b *pebble.Batch) error
}

// moveHeatStep moves up to step rows in one synced batch.
func (s *Store) moveHeatStep(step int, m heatMove) (int, error) {
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: []byte{pHeat}, UpperBound: []byte{pHeat + 1}})
	if err != nil {
		return 0, err
	}
	defer it.Close()
	b := s.db.NewBatch()
	defer b.Close()
	n := 0
	for ok := it.First(); ok && n < step; {
		k := it.Key()
		if len(k) < 10 {
			return n, fmt.Errorf("corrupt key %x", k)
		}
		if to := m.skip(k); to != nil {
			ok = it.SeekGE(to)
			continue
		}
		v, err := it.ValueAndErr()
		if err != nil {
			return n, err
		}
		if err := m.move(b, k, v); err != nil {
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
	if m.end != nil {
		if err := m.end(b); err != nil {
			return n, err
		}
	}
	if n == 0 {
		return 0, nil
	}
	return n, b.Commit(pebble.Sync)
}

// migrateHeatStep moves up to step rows keyed by page key to rows per cell
// keyed by page id, in one batch.
func (s *Store) migrateHeatStep(step int) (int, error) {
	var kb keyBuf
	return s.moveHeatStep(step, heatMove{
		skip: func(k []byte) []byte {
			if k[9] < heatListMark {
				return nil
			}
			// This site's rows of the oldest layout (which sort before the
			// marks) are done: past the marks, to the next site.
			return upperBound(keyBuf(k[:10:10]))
		},
		move: func(b *pebble.Batch, k, v []byte) error {
			r := keyReader{b: k[1:]}
			r.u64() // the site, kept as it is
			page := r.str()
			if r.err != nil {
				return fmt.Errorf("corrupt key %x", k)
			}
			id := heatPageID(page)
			kb = append(append(append(append(kb[:0], pHeat), k[1:9]...), heatRowMark), id[:]...)
			return b.Merge(append(kb, r.b...), v, nil)
		},
	})
}

// migrateHeatListStep moves up to step rows per cell into their lists, in
// one batch: the rows of one list come in cell order, so they make a list
// as they are read (a list cut by the step's end is merged in two parts).
func (s *Store) migrateHeatListStep(step int) (int, error) {
	var list keyBuf
	var cells []heatCell
	emit := func(b *pebble.Batch) error {
		if len(cells) == 0 {
			return nil
		}
		err := b.Merge(list, appendHeatList(nil, cells), nil)
		cells = cells[:0]
		return err
	}
	return s.moveHeatStep(step, heatMove{
		skip: func(k []byte) []byte {
			if k[9] == heatRowMark {
				return nil
			}
			// Lists (and nothing else: the oldest layout moved first): on
			// to this site's rows per cell.
			return append(slices.Clone(k[:9]), heatRowMark)
		},
		move: func(b *pebble.Batch, k, v []byte) error {
			if len(k) < heatKeyLen {
				return fmt.Errorf("corrupt key %x", k)
			}
			if list == nil || !bytes.Equal(list[10:], k[10:heatKeyLen]) || !bytes.Equal(list[:9], k[:9]) {
				if err := emit(b); err != nil {
					return err
				}
				list = append(append(append(list[:0], k[:9]...), heatListMark), k[10:heatKeyLen]...)
			}
			vec, err := heatmap.UnmarshalVec(v)
			if err != nil {
				return fmt.Errorf("row %x: %w", k, err)
			}
			cells = append(cells, heatCell{cell: slices.Clone(k[heatKeyLen:]), v: vec})
			return nil
		},
		end: emit,
	})
}
