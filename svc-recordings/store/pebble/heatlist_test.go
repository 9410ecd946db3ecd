package pebble

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/cockroachdb/pebble/v2"

	"github.com/sightlinehq/sightline/svc-recordings/heatmap"
	"github.com/sightlinehq/sightline/svc-recordings/store"
)

// decodeHeatList reads a whole list, its cells copied.
func decodeHeatList(b []byte) ([]heatCell, error) {
	r := newHeatListReader(b)
	var out []heatCell
	var arena []byte
	for {
		cell, v, ok := r.next()
		if !ok {
			break
		}
		start := len(arena)
		arena = append(arena, cell...)
		out = append(out, heatCell{cell: arena[start:len(arena):len(arena)], v: v})
	}
	if r.err != nil {
		return nil, r.err
	}
	// The arena may have moved while growing: point the cells at its
	// final copy.
	off := 0
	for i := range out {
		n := len(out[i].cell)
		out[i].cell = arena[off : off+n : off+n]
		off += n
	}
	return out, nil
}

// randomList is a list of random cells (sharing prefixes, of every length
// from empty) and sums, some zero, and the sums it holds by cell.
func randomList(r *rand.Rand, n int) ([]byte, map[string]heatmap.Vec) {
	sums := map[string]heatmap.Vec{}
	for range n {
		b := make([]byte, r.IntN(12))
		for i := range b {
			b[i] = "\x00ab\xff"[r.IntN(4)]
		}
		sums[string(b)] = heatmap.Vec{N: int64(r.IntN(5) - 2), X: r.Int64N(1 << 40), Y: -r.Int64N(3), K: int64(r.IntN(2))}
	}
	var cells []heatCell
	for _, c := range slices.Sorted(maps.Keys(sums)) {
		cells = append(cells, heatCell{cell: []byte(c), v: sums[c]})
	}
	maps.DeleteFunc(sums, func(_ string, v heatmap.Vec) bool { return v.Zero() })
	return appendHeatList(nil, cells), sums
}

func listSums(t *testing.T, b []byte) map[string]heatmap.Vec {
	t.Helper()
	cells, err := decodeHeatList(b)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]heatmap.Vec{}
	for _, c := range cells {
		out[string(c.cell)] = c.v
	}
	return out
}

// TestHeatListSums: the merge operator of lists, given operands newer and
// older in any order, answers one list of their sums by cell, without the
// cells that sum to zero; a row whose cells all cancel is deletable once
// the base is in, and not before.
func TestHeatListSums(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	for round := range 300 {
		ops := 1 + r.IntN([]int{9, 40}[round%2]) // a month of a page is dozens of lists
		want := map[string]heatmap.Vec{}
		var m *listSum
		for i := range ops {
			b, sums := randomList(r, r.IntN(30))
			for c, v := range sums {
				want[c] = want[c].Add(v, 1)
			}
			switch {
			case i == 0:
				mm, err := newMerger(nil).Merge(heatKey(1, heatmap.Key{Page: "https://a/", Kind: heatmap.Move}), b)
				if err != nil {
					t.Fatal(err)
				}
				m = mm.(*listSum)
			case r.IntN(2) == 0:
				err := m.MergeNewer(b)
				b[len(b)-1] ^= 0xff // Pebble may reuse an operand's memory
				if err != nil {
					t.Fatal(err)
				}
			default:
				if err := m.MergeOlder(b); err != nil {
					t.Fatal(err)
				}
			}
		}
		maps.DeleteFunc(want, func(_ string, v heatmap.Vec) bool { return v.Zero() })
		v, del, _, err := m.DeletableFinish(true)
		if err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		if got := listSums(t, v); !maps.Equal(got, want) {
			t.Fatalf("round %d, %d operands: got %v\nwant %v", round, ops, got, want)
		}
		if del != (len(want) == 0) {
			t.Fatalf("round %d: deletable %v with %d cells left", round, del, len(want))
		}
		if _, del, _, _ := m.DeletableFinish(false); del {
			t.Fatalf("round %d: deletable without its base", round)
		}
	}
	// Cells that cancel across operands leave an empty, deletable list.
	a := appendHeatList(nil, []heatCell{{cell: []byte("x"), v: heatmap.Vec{N: 2}}})
	b := appendHeatList(nil, []heatCell{{cell: []byte("x"), v: heatmap.Vec{N: -2}}})
	m := &listSum{}
	if err := errors.Join(m.MergeNewer(a), m.MergeOlder(b)); err != nil {
		t.Fatal(err)
	}
	if v, del, _, err := m.DeletableFinish(true); err != nil || !del || !bytes.Equal(v, []byte{heatListV1}) {
		t.Fatalf("cancelled list %x deletable %v (%v)", v, del, err)
	}
}

// TestHeatListRefusesMalformed: a list out of order, with a repeated cell,
// a wrong version, a cut-off cell or sum, or a shared prefix longer than
// the previous cell is refused by the reader and by the merge operator
// beside another operand, and a heatmap read of a row holding it, alone or
// with another operand, fails.
func TestHeatListRefusesMalformed(t *testing.T) {
	good := appendHeatList(nil, []heatCell{{cell: []byte("ab"), v: heatmap.Vec{N: 1}}, {cell: []byte("ac"), v: heatmap.Vec{N: 2}}})
	raw := func(entries ...[]byte) []byte { return slices.Concat(append([][]byte{{heatListV1}}, entries...)...) }
	entry := func(shared, rest int, suffix string) []byte {
		return append(append([]byte{byte(shared), byte(rest)}, suffix...), heatmap.Vec{N: 1}.Marshal()...)
	}
	s := open(t, store.Limits{})
	site := int64(0)
	for name, b := range map[string][]byte{
		"empty":           {},
		"version":         append([]byte{2}, good[1:]...),
		"descending":      raw(entry(0, 2, "ac"), entry(1, 1, "b")),
		"repeated":        raw(entry(0, 2, "ab"), entry(2, 0, "")),
		"shared too long": raw(entry(0, 1, "a"), entry(2, 1, "b")),
		"cut cell":        raw(entry(0, 2, "ab"))[:3],
		"cut sum":         good[:len(good)-1],
		"rest too long":   raw([]byte{0, 200, 'a'}),
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := decodeHeatList(b); err == nil {
				t.Fatal("decoded")
			}
			m := &listSum{}
			if err := errors.Join(m.MergeNewer(good), m.MergeNewer(b)); err != nil {
				t.Fatal(err)
			}
			if _, _, err := m.Finish(true); err == nil {
				t.Fatal("merged with a well-formed list")
			}
			for _, ops := range [][][]byte{{b}, {good, b}} {
				site++
				k := heatmap.Key{Page: "https://a/", Device: 1, Day: 20000, Kind: heatmap.Click}
				for _, op := range ops {
					if err := s.db.Merge(heatKey(site, k), op, pebble.Sync); err != nil {
						t.Fatal(err)
					}
				}
				q := store.HeatQuery{SiteID: site, Pages: []string{k.Page}, Devices: []int32{k.Device}, FromDay: k.Day, ToDay: k.Day}
				if err := s.Heat(context.Background(), q, func(heatmap.Kind, string, heatmap.Vec) error { return nil }); err == nil {
					t.Fatalf("a heatmap read of a row of %d operands", len(ops))
				}
			}
		})
	}
	if _, err := decodeHeatList(good); err != nil {
		t.Fatalf("the well-formed list: %v", err)
	}
}

// FuzzHeatList: any bytes either fail to read or read as a list that
// writes back to the same cells (those not zero) and merges with itself to
// twice its sums.
func FuzzHeatList(f *testing.F) {
	r := rand.New(rand.NewPCG(9, 10))
	for n := range 6 {
		b, _ := randomList(r, n*3)
		f.Add(b)
	}
	f.Add([]byte{heatListV1, 0, 0, 2, 0, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		cells, err := decodeHeatList(b)
		if err != nil {
			return
		}
		for i := 1; i < len(cells); i++ {
			if bytes.Compare(cells[i-1].cell, cells[i].cell) >= 0 {
				t.Fatalf("cells %q then %q", cells[i-1].cell, cells[i].cell)
			}
		}
		again, err := decodeHeatList(appendHeatList(nil, cells))
		if err != nil {
			t.Fatal(err)
		}
		nonzero := slices.DeleteFunc(slices.Clone(cells), func(c heatCell) bool { return c.v.Zero() })
		if fmt.Sprint(again) != fmt.Sprint(nonzero) {
			t.Fatalf("written back as %v, want %v", again, nonzero)
		}
		m := &listSum{}
		if err := errors.Join(m.MergeNewer(b), m.MergeOlder(b)); err != nil {
			t.Fatal(err)
		}
		v, _, err := m.Finish(true)
		if err != nil {
			t.Fatal(err)
		}
		twice, err := decodeHeatList(v)
		if err != nil {
			t.Fatal(err)
		}
		var want []heatCell
		for _, c := range nonzero {
			want = append(want, heatCell{cell: c.cell, v: c.v.Add(c.v, 1)})
		}
		want = slices.DeleteFunc(want, func(c heatCell) bool { return c.v.Zero() })
		if fmt.Sprint(twice) != fmt.Sprint(want) {
			t.Fatalf("merged with itself: %v, want %v", twice, want)
		}
	})
}
