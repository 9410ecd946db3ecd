package pebble

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// TestSortRows: sortRows orders rows as compareRows does and keeps every
// row, on random flushes: lists of every size (empty ones too), cells of
// 0 to 20 bytes from a small alphabet holding zero bytes (so prefixes tie
// between different cells: "a" and "a\x00" share theirs), cells shared
// by many rows, move-like 6-byte cells, and flushes under the size that
// goes to the comparison sort.
func TestSortRows(t *testing.T) {
	rng := rand.New(rand.NewPCG(8, 9))
	cell := func() string {
		switch rng.IntN(3) {
		case 0: // a move cell: x, y big-endian
			x, y := rng.IntN(51)*20, rng.IntN(200)*24
			return string([]byte{byte(x >> 8), byte(x), 0, 0, byte(y >> 8), byte(y)})
		case 1: // a click cell with a shared selector prefix
			return string([]byte{byte(rng.IntN(11) * 10), byte(rng.IntN(11) * 10)}) + "body>m" + string([]byte{"\x00ab"[rng.IntN(3)]})[:rng.IntN(2)]
		}
		b := make([]byte, rng.IntN(21))
		for i := range b {
			b[i] = "\x00\x01ab\xff"[rng.IntN(5)]
		}
		return string(b)
	}
	for iter := range 300 {
		nLists := 1 + rng.IntN(6)
		perList := make([]int, nLists)
		var rows []deltaRow
		n := rng.IntN(3000)
		if iter%5 == 0 {
			n = rng.IntN(256)
		}
		pool := make([]string, 1+rng.IntN(400)) // shared cells
		for i := range pool {
			pool[i] = cell()
		}
		for i := range n {
			l := rng.IntN(nLists)
			if l == nLists-1 && iter%3 == 0 {
				l = 0 // the last list stays empty
			}
			perList[l]++
			c := pool[rng.IntN(len(pool))]
			rows = append(rows, deltaRow{cell: c, pre: prefix(c), list: int32(l), vec: int32(i)})
		}
		want := slices.Clone(rows)
		slices.SortFunc(want, compareRows)
		got := slices.Clone(rows)
		sortRows(got, make([]deltaRow, len(rows)+rng.IntN(3)), perList)
		if !slices.IsSortedFunc(got, compareRows) {
			t.Fatalf("flush %d (%d rows, %d lists): not in compareRows' order", iter, n, nLists)
		}
		vecs := make([]int, len(got))
		for i, r := range got {
			if w := want[i]; r.list != w.list || r.cell != w.cell || r.pre != w.pre {
				t.Fatalf("flush %d: row %d is %+v, want list %d cell %q", iter, i, r, w.list, w.cell)
			}
			vecs[i] = int(r.vec)
		}
		slices.Sort(vecs)
		for i, v := range vecs {
			if v != i {
				t.Fatalf("flush %d: row %d lost or doubled", iter, i)
			}
		}
	}
}

// BenchmarkSortRows sorts a flush's rows as bench-heatmaps makes them
// (24 calls of 48 chunks: 11 moves and 2 clicks each, 3 devices, so 6
// lists), by comparisons (compareRows) and by sortRows, in one run.
func BenchmarkSortRows(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 2))
	var rows []deltaRow
	perList := make([]int, 6)
	for range 24 * 48 {
		device := rng.IntN(3)
		x, y := rng.IntN(50)*20, rng.IntN(150)*24
		for range 11 {
			x, y = min(max(x+(rng.IntN(5)-2)*20, 0), 980), min(max(y+(rng.IntN(5)-2)*24, 0), 4200)
			c := string([]byte{byte(x >> 8), byte(x), 0, 0, byte(y >> 8), byte(y)})
			rows = append(rows, deltaRow{cell: c, pre: prefix(c), list: int32(2 * device), vec: int32(len(rows))})
			perList[2*device]++
		}
		for range 2 {
			c := string([]byte{byte(rng.IntN(11) * 10), byte(rng.IntN(11) * 10)}) + "body>main>section:nth-of-type(2)>div.c-card>a.c-link-" + string(rune('a'+rng.IntN(26)))
			rows = append(rows, deltaRow{cell: c, pre: prefix(c), list: int32(2*device + 1), vec: int32(len(rows))})
			perList[2*device+1]++
		}
	}
	work, tmp := make([]deltaRow, len(rows)), make([]deltaRow, len(rows))
	b.Run("compare", func(b *testing.B) {
		for b.Loop() {
			copy(work, rows)
			slices.SortFunc(work, compareRows)
		}
	})
	b.Run("radix", func(b *testing.B) {
		for b.Loop() {
			copy(work, rows)
			sortRows(work, tmp, perList)
		}
	})
}
