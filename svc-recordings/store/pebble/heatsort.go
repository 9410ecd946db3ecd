package pebble

import (
	"slices"
	"strings"
)

// sortRows orders a flush's rows as compareRows does (by list, then cell),
// with tmp (at least as long) as working memory; perList[i] counts the
// rows of the list ranked i.
//
// A comparison sort of a flush's rows was half of writeDeltas in
// bench-heatmaps' profile. Rows are placed by list (their counts are
// known), then each list's rows by the cell's first 8 bytes (prefix), a
// byte at a time from the last (LSD radix, stable; a byte every row shares
// costs a count, not a pass: move cells are 6 bytes and their y's high
// bytes are zero), and only rows whose prefixes are equal compare cells.
func sortRows(rows, tmp []deltaRow, perList []int) {
	if len(rows) < 256 {
		slices.SortFunc(rows, compareRows)
		return
	}
	tmp = tmp[:len(rows)]
	// By list, into tmp.
	at := make([]int, len(perList))
	for i, n := 1, 0; i < len(perList); i++ {
		n += perList[i-1]
		at[i] = n
	}
	for _, r := range rows {
		tmp[at[r.list]] = r
		at[r.list]++
	}
	lo := 0
	for _, n := range perList {
		sortByPrefix(tmp[lo:lo+n], rows[lo:lo+n])
		lo += n
	}
	// Equal prefixes: by cell.
	for i := 0; i < len(rows); {
		j := i + 1
		for j < len(rows) && rows[j].pre == rows[i].pre && rows[j].list == rows[i].list {
			j++
		}
		if run := rows[i:j]; len(run) > 1 && !slices.IsSortedFunc(run, compareCells) {
			slices.SortStableFunc(run, compareCells)
		}
		i = j
	}
}

func compareCells(a, b deltaRow) int { return strings.Compare(a.cell, b.cell) }

// sortByPrefix sorts src's rows by prefix into dst (as long), using src
// as working memory too.
func sortByPrefix(src, dst []deltaRow) {
	if len(src) == 0 {
		return
	}
	out := dst
	var counts [8][256]int
	for _, r := range src {
		for d := range 8 {
			counts[d][byte(r.pre>>(8*d))]++
		}
	}
	for d := range 8 {
		c := &counts[d]
		if c[byte(src[0].pre>>(8*d))] == len(src) {
			continue // every row has this byte
		}
		n := 0
		for b := range c {
			c[b], n = n, n+c[b]
		}
		for _, r := range src {
			b := byte(r.pre >> (8 * d))
			dst[c[b]] = r
			c[b]++
		}
		src, dst = dst, src
	}
	if &src[0] != &out[0] {
		copy(out, src) // the last pass wrote the other slice, or none ran
	}
}
