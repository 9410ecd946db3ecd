package pebble

import (
	"errors"
	"reflect"
	"testing"

	"github.com/cockroachdb/pebble/v2"

	"github.com/sightlinehq/sightline/svc-recordings/heatmap"
	"github.com/sightlinehq/sightline/svc-recordings/store"
)

// TestHeatLayoutMigrates: h rows of the two earlier layouts (a row per
// cell keyed by the page key, then by its id) move into cell lists when
// the store opens, also when some rows had moved already, some cells were
// split across all three layouts and a migration was cut off after a step
// of each move, for two sites: the aggregates read the same as before and
// no row of an earlier layout is left.
func TestHeatLayoutMigrates(t *testing.T) {
	s, dir, _ := withPlain(t)
	// The test rewrites lists below without the locks a fold takes: the
	// reads' folds must not run meanwhile.
	stopFlusher(s)
	sites := []int64{3_000_000_021, 3_000_000_022}
	const page = "https://shop.example.com/"
	id := heatPageID(page)
	want := map[int64]map[heatmap.Kind]map[string]heatmap.Vec{}
	for _, site := range sites {
		for n := range 40 {
			appendTo(t, []store.Chunk{chunk(t, site, n, 0, 20000+int32(n%9), n%5 == 0)}, s)
		}
		want[site] = heatDump(t, s, site)
	}
	// Rewrite the lists' cells into the earlier layouts: in turn a row
	// per cell, a row keyed by the page key, a cell split across the list
	// and both, and a cell left in its list.
	b := s.db.NewBatch()
	i := 0
	err := s.scan([]byte{pHeat}, nil, func(k, v []byte) error {
		r := keyReader{b: k[1:]}
		site := r.u64()
		if r.err != nil || len(k) != heatKeyLen || k[9] != heatListMark || string(k[10:10+heatPageIDLen]) != string(id[:]) {
			t.Fatalf("unexpected h key %x", k)
		}
		cells, err := decodeHeatList(v)
		if err != nil {
			return err
		}
		var keep []heatCell
		for _, c := range cells {
			i++
			row := append(append(newKey(pHeat).u64(site), heatRowMark), k[10:]...)
			row = append(row, c.cell...)
			oldest := append(newKey(pHeat).u64(site).str(page), k[10+heatPageIDLen:]...)
			oldest = append(oldest, c.cell...)
			part := heatmap.Vec{N: 1}
			switch i % 4 {
			case 0:
				err = b.Set(row, c.v.Marshal(), nil)
			case 1:
				err = b.Set(oldest, c.v.Marshal(), nil)
			case 2:
				keep = append(keep, heatCell{cell: c.cell, v: part})
				err = errors.Join(b.Set(oldest, part.Marshal(), nil), b.Set(row, c.v.Add(part, -2).Marshal(), nil))
			default:
				keep = append(keep, c)
			}
			if err != nil {
				return err
			}
		}
		if len(keep) == 0 {
			return b.Delete(k, nil)
		}
		return b.Set(k, appendHeatList(nil, keep), nil)
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Commit(pebble.Sync); err != nil {
		t.Fatal(err)
	}
	oldest, rows := oldRows(t, s)
	if oldest < 20 || rows < 20 {
		t.Fatalf("%d rows keyed by page key and %d rows per cell to move", oldest, rows)
	}
	// A migration cut off after a step of each move.
	if n, err := s.migrateHeatStep(10); n != 10 || err != nil {
		t.Fatalf("a step moved %d rows (%v)", n, err)
	}
	if n, _ := oldRows(t, s); n != oldest-10 {
		t.Fatalf("%d rows keyed by page key after a step of 10, %d before", n, oldest)
	}
	_, rows = oldRows(t, s)
	if n, err := s.migrateHeatListStep(10); n != 10 || err != nil {
		t.Fatalf("a step moved %d rows (%v)", n, err)
	}
	if _, n := oldRows(t, s); n != rows-10 {
		t.Fatalf("%d rows per cell after a step of 10, %d before", n, rows)
	}
	s = reopen(t, s, dir)
	if o, r := oldRows(t, s); o+r != 0 {
		t.Fatalf("%d rows keyed by page key and %d rows per cell left after Open", o, r)
	}
	for _, site := range sites {
		if got := heatDump(t, s, site); !reflect.DeepEqual(got, want[site]) {
			t.Fatalf("site %d after the move:\n got %v\nwant %v", site, got, want[site])
		}
	}
	// Nothing left to move: a second Open moves nothing.
	if n, err := s.migrateHeatLayout(); n != 0 || err != nil {
		t.Fatalf("second migration moved %d rows (%v)", n, err)
	}
}

// oldRows counts h rows of the earlier layouts: keyed by page key, and
// per cell.
func oldRows(t *testing.T, s *Store) (oldest, rows int) {
	t.Helper()
	if err := s.scan([]byte{pHeat}, nil, func(k, _ []byte) error {
		switch k[9] {
		case heatListMark:
		case heatRowMark:
			rows++
		default:
			oldest++
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return oldest, rows
}

// reopen closes s and opens its directory again (closed when the test
// ends), as a restart would.
func reopen(t *testing.T, s *Store, dir string) *Store {
	t.Helper()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err := Open(dir, Options{Logger: quiet{}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}
