package bleve

import (
	"context"
	"fmt"
	"math"
	"math/bits"

	"github.com/blevesearch/bleve/v2/mapping"
	"github.com/blevesearch/bleve/v2/search"
	"github.com/blevesearch/bleve/v2/search/query"
	"github.com/blevesearch/bleve/v2/search/searcher"
	bleveindex "github.com/blevesearch/bleve_index_api"
)

// A trie indexes one int64 value of a session (start, durations, page
// count) as keyword terms, so that a range is one list of terms. Bleve's
// numeric fields index every value at all 16 shifts of 4 bits, whatever
// its size: 64 of a session document's 99 terms were those, and they made
// half of what indexing a session cost (BenchmarkUpsert doubled without
// them). Here a value has terms only at the levels of 4 bits that its
// magnitude uses: a page count below 16 has one term, a two-minute
// duration in ms five, a start in ns ten (above base) and its exact value.
// Steps of 8 bits halve those again, but a range then reads up to 255
// terms per level instead of 15, and bench-search's time and duration
// filters took up to 2.6× as long; at 4 bits they take what Bleve's took.
//
// Level l's term of v holds v>>(base+4l). A value whose bucket index
// (v>>base) lies in [2^4r, 2^4(r+1)) — its class r — has terms at levels
// 0..r only, and its prefixes at those levels are ones no value of another
// class has (a class-r value's level-l prefix is at least 2^4(r-l), a
// lower class's is below that, and a lower class has no level r at all).
// A range is therefore split by class first, then covered trie-fashion
// inside each class with levels up to its own.
//
// Below base, a value is matched on one more term, its exact value, so
// that the at most two partial buckets at a range's ends are a term range
// over the few values that fall in them. Negative values (which validation
// keeps out) have only that exact term, in a form of their own.
//
// Every term is in one field, and a range is one term list: Bleve ORs one
// list's postings into a single bitmap, which the filter's other clauses
// then intersect as bitmaps too; a disjunction of several term-range
// queries is merged document by document instead (2.3–3.4× the p50 of
// bench-search's range filters).
type trie struct {
	field string
	base  uint
}

const (
	trieStep   = 4
	trieLevels = 64 / trieStep
	// The first byte of a level-less term: an exact value, a negative one.
	exactTerm    = '='
	negativeTerm = '-'
)

// terms answers v's terms, finest level first.
func (t trie) terms(v int64) []string {
	if v < 0 {
		return []string{negativeKey(v)}
	}
	idx := uint64(v) >> t.base
	top := max(0, (bits.Len64(idx)-1)/trieStep)
	out := make([]string, 0, top+2)
	if t.base > 0 {
		out = append(out, exactKey(uint64(v)))
	}
	for l := 0; l <= top; l++ {
		out = append(out, levelKey(l, idx>>(trieStep*l)))
	}
	return out
}

// query matches documents whose value is in [lo, hi].
func (t trie) query(lo, hi int64) query.Query {
	q := &rangesQuery{field: t.field}
	if lo > hi {
		return q
	}
	if lo < 0 {
		q.add(negativeKey(lo), negativeKey(min(hi, -1)))
		lo = 0
	}
	if hi >= 0 {
		t.cover(q, uint64(lo), uint64(hi))
	}
	return q
}

// cover adds the term ranges of [x, y], both in [0, MaxInt64].
func (t trie) cover(q *rangesQuery, x, y uint64) {
	a, b := x>>t.base, y>>t.base // the buckets of the range, inclusive
	if t.base > 0 {
		mask := uint64(1)<<t.base - 1
		first, end := (x+mask)>>t.base, (y+1)>>t.base // whole buckets: [first, end)
		if first >= end {
			q.add(exactKey(x), exactKey(y))
			return
		}
		if x&mask != 0 {
			q.add(exactKey(x), exactKey(first<<t.base-1))
		}
		if (y+1)&mask != 0 {
			q.add(exactKey(end<<t.base), exactKey(y))
		}
		a, b = first, end-1
	}
	for r := 0; r < trieLevels; r++ {
		lo, hi := classBounds(r)
		if lo > b {
			break
		}
		if hi >= a {
			t.split(q, max(a, lo), min(b, hi), r)
		}
	}
}

// split covers the buckets [a, b] of class r with term ranges: at each
// level, the partial parents at both ends; at level r, what is left.
func (t trie) split(q *rangesQuery, a, b uint64, r int) {
	const fan = 1 << trieStep
	for l := 0; ; l++ {
		first, end := (a+fan-1)>>trieStep, (b+1)>>trieStep // whole parents: [first, end)
		if l == r || first >= end {
			q.add(levelKey(l, a), levelKey(l, b))
			return
		}
		if a%fan != 0 {
			q.add(levelKey(l, a), levelKey(l, first<<trieStep-1))
		}
		if (b+1)%fan != 0 {
			q.add(levelKey(l, end<<trieStep), levelKey(l, b))
		}
		a, b = first, end-1
	}
}

// classBounds answers the buckets of class r, inclusive.
func classBounds(r int) (lo, hi uint64) {
	if r > 0 {
		lo = 1 << (trieStep * r)
	}
	if r == trieLevels-1 {
		return lo, math.MaxUint64
	}
	return lo, 1<<(trieStep*(r+1)) - 1
}

// rangesQuery matches the documents holding a term of field in one of its
// ranges: the terms are read from the dictionary, then searched as one
// list (see trie).
type rangesQuery struct {
	field  string
	ranges [][2]string // inclusive
}

var _ query.Query = (*rangesQuery)(nil)

func (q *rangesQuery) add(lo, hi string) { q.ranges = append(q.ranges, [2]string{lo, hi}) }

// Searcher implements query.Query.
func (q *rangesQuery) Searcher(ctx context.Context, r bleveindex.IndexReader, _ mapping.IndexMapping, opts search.SearcherOptions) (search.Searcher, error) {
	var terms []string
	for _, rg := range q.ranges {
		// The dictionary's range excludes its end: one byte more includes hi.
		dict, err := r.FieldDictRange(q.field, []byte(rg[0]), append([]byte(rg[1]), 0))
		if err != nil {
			return nil, fmt.Errorf("terms of %s: %w", q.field, err)
		}
		if terms, err = readTerms(ctx, dict, q.field, terms, nil); err != nil {
			return nil, err
		}
	}
	return searcher.NewMultiTermSearcher(ctx, r, terms, q.field, 1, opts, true)
}

// levelKey is the term of prefix p at level l: the level's letter, then p
// as hexKey writes it, so that a level's terms sort by prefix.
func levelKey(l int, p uint64) string {
	return string(hexKey(append(make([]byte, 0, 18), byte('a'+l)), p))
}

// exactKey is the exact term of a value u ≥ 0.
func exactKey(u uint64) string {
	return string(hexKey(append(make([]byte, 0, 18), exactTerm), u))
}

// negativeKey is the term of a negative v: fixed width, so that byte order
// is value order.
func negativeKey(v int64) string {
	return string(fixedHex(append(make([]byte, 0, 17), negativeTerm), uint64(v)))
}
