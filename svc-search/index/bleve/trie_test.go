package bleve

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/blevesearch/bleve/v2/search/query"
)

// matches evaluates a trie's query on a document's terms.
func matches(t testing.TB, q query.Query, terms []string) bool {
	rq, ok := q.(*rangesQuery)
	if !ok {
		t.Fatalf("unexpected query %T", q)
	}
	for _, term := range terms {
		for _, r := range rq.ranges {
			if r[0] <= term && term <= r[1] {
				return true
			}
		}
	}
	return false
}

// trieValue draws values where tries go wrong: near the edges of classes
// and of base buckets, small, negative and extreme.
func trieValue(rng *rand.Rand) int64 {
	switch rng.IntN(6) {
	case 0:
		return rng.Int64N(600) - 100
	case 1:
		shift := uint(rng.IntN(63))
		return int64(1)<<shift + rng.Int64N(5) - 2
	case 2:
		return []int64{math.MinInt64, math.MinInt64 + 1, -1, 0, math.MaxInt64 - 1, math.MaxInt64}[rng.IntN(6)]
	case 3:
		return rng.Int64() >> rng.IntN(63)
	case 4:
		return -(rng.Int64() >> rng.IntN(63))
	}
	// Session starts: now ± a month, in ns.
	return 1_790_000_000_000_000_000 + rng.Int64N(5_000_000_000_000_000) - 2_500_000_000_000_000
}

// checkTrie: v is matched by [lo, hi] exactly when lo ≤ v ≤ hi, with a
// bounded number of term ranges.
func checkTrie(t testing.TB, tr trie, v, lo, hi int64) {
	terms := tr.terms(v)
	q := tr.query(lo, hi)
	if got, want := matches(t, q, terms), lo <= v && v <= hi; got != want {
		t.Fatalf("base %d: %d in [%d, %d]: matched %v, want %v (terms %q)", tr.base, v, lo, hi, got, want, terms)
	}
	// Per class, at most two partial ranges per level and one at the top; two exact edges; the negatives.
	if n := len(q.(*rangesQuery).ranges); n > 2+1+trieLevels*(2*trieLevels+1) {
		t.Fatalf("[%d, %d] takes %d term ranges", lo, hi, n)
	}
}

// TestTrieAgreesWithComparison checks random values and ranges, for a
// trie with and without exact low bits.
func TestTrieAgreesWithComparison(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, tr := range []trie{{field: "n"}, {field: "n", base: 24}, {field: "n", base: 3}} {
		for range 200_000 {
			lo, hi := trieValue(rng), trieValue(rng)
			if rng.IntN(4) > 0 && lo > hi {
				lo, hi = hi, lo
			}
			v := trieValue(rng)
			if rng.IntN(3) == 0 { // at or next to an end
				v = []int64{lo, hi, lo - 1, hi + 1}[rng.IntN(4)]
			}
			checkTrie(t, tr, v, lo, hi)
		}
	}
}

// TestTrieTerms: a value has terms at the levels its magnitude uses.
func TestTrieTerms(t *testing.T) {
	for _, c := range []struct {
		tr   trie
		v    int64
		want []string
	}{
		{trie{}, 0, []string{"aa0"}},
		{trie{}, 255, []string{"abff", "baf"}},
		{trie{}, 256, []string{"ac100", "bb10", "ca1"}},
		{trie{}, 120_000, []string{"ae1d4c0", "bd1d4c", "cc1d4", "db1d", "ea1"}},
		{trie{}, -2, []string{"-fffffffffffffffe"}},
		{trie{base: 24}, 1 << 24, []string{"=g1000000", "aa1"}},
		{trie{base: 24}, 1_790_000_000_000_000_000, []string{"=p18d75b8423f30000", "aj18d75b8423", "bi18d75b842", "ch18d75b84",
			"dg18d75b8", "ef18d75b", "fe18d75", "gd18d7", "hc18d", "ib18", "ja1"}},
	} {
		got := c.tr.terms(c.v)
		if len(got) != len(c.want) {
			t.Fatalf("terms(%d) = %q, want %q", c.v, got, c.want)
		}
		for i := range got {
			if got[i] != c.want[i] {
				t.Fatalf("terms(%d) = %q, want %q", c.v, got, c.want)
			}
		}
	}
}

func FuzzTrie(f *testing.F) {
	f.Add(int64(300), int64(0), int64(1000), uint8(0))
	f.Add(int64(math.MaxInt64), int64(-1), int64(math.MaxInt64), uint8(24))
	f.Add(int64(1<<40), int64(1<<40-7), int64(1<<40), uint8(24))
	f.Fuzz(func(t *testing.T, v, lo, hi int64, base uint8) {
		checkTrie(t, trie{field: "n", base: uint(base % 40)}, v, lo, hi)
	})
}
