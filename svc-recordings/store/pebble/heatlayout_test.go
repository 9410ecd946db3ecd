package pebble

import (
	"reflect"
	"testing"

	"github.com/cockroachdb/pebble/v2"

	"github.com/sightlinehq/sightline/svc-recordings/heatmap"
	"github.com/sightlinehq/sightline/svc-recordings/store"
)

// TestHeatLayoutMigrates: h rows of the earlier layout (the page key
// length-prefixed) move to page ids when the store opens, also when some
// rows had moved already, some were split across both layouts and a
// migration was cut off after a step, for two sites: the aggregates read
// the same as before and no row of the earlier layout is left.
func TestHeatLayoutMigrates(t *testing.T) {
	s, dir, _ := withPlain(t)
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
	// Rewrite the rows into the earlier layout: every other row whole, a
	// few split between both, the rest left as they are.
	b := s.db.NewBatch()
	i := 0
	err := s.scan([]byte{pHeat}, nil, func(k, v []byte) error {
		i++
		r := keyReader{b: k[1:]}
		site := r.u64()
		if r.err != nil || k[9] != heatPageMark || string(k[10:10+heatPageIDLen]) != string(id[:]) {
			t.Fatalf("unexpected h key %x", k)
		}
		old := append(newKey(pHeat).u64(site).str(page), k[10+heatPageIDLen:]...)
		vec, err := heatmap.UnmarshalVec(v)
		if err != nil {
			return err
		}
		switch {
		case i%7 == 0:
			part := heatmap.Vec{N: 1}
			if err := b.Merge(old, part.Marshal(), nil); err != nil {
				return err
			}
			return b.Set(k, vec.Add(part, -1).Marshal(), nil)
		case i%2 == 0:
			if err := b.Set(old, v, nil); err != nil {
				return err
			}
			return b.Delete(k, nil)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Commit(pebble.Sync); err != nil {
		t.Fatal(err)
	}
	before := oldRows(t, s)
	if before < 20 {
		t.Fatalf("%d rows of the earlier layout to move", before)
	}
	// A migration cut off after its first step.
	if n, err := s.migrateHeatStep(10); n != 10 || err != nil {
		t.Fatalf("a step moved %d rows (%v)", n, err)
	}
	if n := oldRows(t, s); n != before-10 {
		t.Fatalf("%d rows of the earlier layout after a step of 10, %d before", n, before)
	}
	s = reopen(t, s, dir)
	if n := oldRows(t, s); n != 0 {
		t.Fatalf("%d rows of the earlier layout left after Open", n)
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

// oldRows counts h rows of the earlier layout.
func oldRows(t *testing.T, s *Store) int {
	t.Helper()
	n := 0
	if err := s.scan([]byte{pHeat}, nil, func(k, _ []byte) error {
		if k[9] != heatPageMark {
			n++
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return n
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
