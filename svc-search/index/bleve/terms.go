package bleve

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/blevesearch/bleve/v2/mapping"
	"github.com/blevesearch/bleve/v2/search"
	"github.com/blevesearch/bleve/v2/search/query"
	"github.com/blevesearch/bleve/v2/search/searcher"
	bleveindex "github.com/blevesearch/bleve_index_api"

	"github.com/sightlinehq/sightline/pagerule"
)

// termsQuery matches the documents holding a term of field that match
// accepts, among the terms the regular expression walk selects (a cheap
// superset of them).
//
// CONTAINS and PATTERN URL filters use it instead of Bleve's own queries:
// WildcardQuery has no escape, so a '?' in a URL would match any
// character, and RegexpQuery compiles a byte-level DFA that long values
// blow up (".*" + 2 KB of "é" + ".*" takes seconds to build, 16-star
// patterns of 2 KB likewise). Here the automaton only holds a bounded
// literal prefix and one bounded literal the term must contain, so it
// builds in milliseconds and still prunes the dictionary; the exact test
// is the very function heatmaps use (pagerule.Glob).
type termsQuery struct {
	field string
	walk  string
	match func(term string) bool
}

var _ query.Query = (*termsQuery)(nil)

// Bounds of the literals in a walk expression (the automaton has about one
// state per byte).
const (
	maxWalkPrefix = 128
	maxWalkInner  = 32
)

// ctxCheckEvery is how many dictionary terms are matched between checks of
// the query's deadline.
const ctxCheckEvery = 1024

// Searcher implements query.Query.
func (q *termsQuery) Searcher(ctx context.Context, r bleveindex.IndexReader, _ mapping.IndexMapping, opts search.SearcherOptions) (search.Searcher, error) {
	rr, ok := r.(bleveindex.IndexReaderRegexp)
	if !ok {
		return nil, fmt.Errorf("terms of %s: index reader %T cannot walk terms by regexp", q.field, r)
	}
	// The regexp walk (rather than FieldDictPrefix) skips reading every
	// term's postings for a count that is not used.
	dict, err := rr.FieldDictRegexp(q.field, q.walk)
	if err != nil {
		return nil, fmt.Errorf("terms of %s: %w", q.field, err)
	}
	terms, err := readTerms(ctx, dict, q.field, nil, q.match)
	if err != nil {
		return nil, err
	}
	return searcher.NewMultiTermSearcher(ctx, r, terms, q.field, 1, opts, true)
}

// readTerms appends to terms the terms of dict (of field) that keep
// accepts (nil: every one), checking ctx as it goes, and closes dict.
func readTerms(ctx context.Context, dict bleveindex.FieldDict, field string, terms []string, keep func(string) bool) ([]string, error) {
	for n := 0; ; n++ {
		if n%ctxCheckEvery == 0 && ctx != nil {
			if err := ctx.Err(); err != nil {
				dict.Close()
				return nil, err
			}
		}
		e, err := dict.Next()
		if err != nil {
			dict.Close()
			return nil, fmt.Errorf("terms of %s: %w", field, err)
		}
		if e == nil {
			break
		}
		if keep == nil || keep(e.Term) {
			terms = append(terms, e.Term)
		}
	}
	if err := dict.Close(); err != nil {
		return nil, fmt.Errorf("terms of %s: %w", field, err)
	}
	return terms, nil
}

// walkExpr is the expression of terms that start with prefix and contain
// inner (each cut to its bound: still a superset).
func walkExpr(prefix, inner string) string {
	re := "(?s)" + regexp.QuoteMeta(cut(prefix, maxWalkPrefix)) + ".*"
	if inner != "" {
		re += regexp.QuoteMeta(cut(inner, maxWalkInner)) + ".*"
	}
	return re
}

// cut shortens s to at most n bytes on a character boundary.
func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// containsQuery matches terms of field containing v (bytes, case sensitive).
func containsQuery(field, v string) query.Query {
	return &termsQuery{field: field, walk: walkExpr("", v), match: func(t string) bool { return strings.Contains(t, v) }}
}

// patternQuery matches terms of field that pattern matches as a whole
// (pagerule.Glob: "*" any run, every other byte itself). The walk keeps
// terms starting with the literal before the first "*" and containing the
// longest literal after it.
func patternQuery(field, pattern string) query.Query {
	parts := strings.Split(pattern, "*")
	inner := ""
	for _, p := range parts[1:] {
		if len(p) > len(inner) {
			inner = p
		}
	}
	return &termsQuery{field: field, walk: walkExpr(parts[0], inner), match: func(t string) bool { return pagerule.Glob(pattern, t) }}
}
