package bleve

import (
	"context"
	"fmt"
	"strings"

	"github.com/blevesearch/bleve/v2/mapping"
	"github.com/blevesearch/bleve/v2/search"
	"github.com/blevesearch/bleve/v2/search/query"
	"github.com/blevesearch/bleve/v2/search/searcher"
	bleveindex "github.com/blevesearch/bleve_index_api"

	"github.com/sightlinehq/sightline/pagerule"
)

// termsQuery matches the documents holding a term of field, among the
// terms starting with prefix, that match accepts.
//
// CONTAINS and PATTERN URL filters use it instead of Bleve's own queries:
// WildcardQuery has no escape, so a '?' in a URL would match any
// character, and RegexpQuery compiles a byte-level DFA that long values
// blow up (".*" + 2 KB of "é" + ".*" takes seconds to build, 16-star
// patterns of 2 KB likewise). Walking the term dictionary from the
// pattern's literal prefix and matching in Go visits the same terms the
// automaton would, with no such cliff, and matches with the very function
// (pagerule.Glob) that heatmaps use.
type termsQuery struct {
	field  string
	prefix string
	match  func(term string) bool
}

var _ query.Query = (*termsQuery)(nil)

// ctxCheckEvery is how many dictionary terms are matched between checks of
// the query's deadline.
const ctxCheckEvery = 1024

// Searcher implements query.Query.
func (q *termsQuery) Searcher(ctx context.Context, r bleveindex.IndexReader, _ mapping.IndexMapping, opts search.SearcherOptions) (search.Searcher, error) {
	dict, err := r.FieldDictPrefix(q.field, []byte(q.prefix))
	if err != nil {
		return nil, fmt.Errorf("terms of %s: %w", q.field, err)
	}
	var terms []string
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
			return nil, fmt.Errorf("terms of %s: %w", q.field, err)
		}
		if e == nil {
			break
		}
		if q.match(e.Term) {
			terms = append(terms, e.Term)
		}
	}
	if err := dict.Close(); err != nil {
		return nil, fmt.Errorf("terms of %s: %w", q.field, err)
	}
	return searcher.NewMultiTermSearcher(ctx, r, terms, q.field, 1, opts, true)
}

// containsQuery matches terms of field containing v (bytes, case sensitive).
func containsQuery(field, v string) query.Query {
	return &termsQuery{field: field, match: func(t string) bool { return strings.Contains(t, v) }}
}

// patternQuery matches terms of field that pattern matches as a whole
// (pagerule.Glob: "*" any run, every other byte itself).
func patternQuery(field, pattern string) query.Query {
	prefix, _, _ := strings.Cut(pattern, "*")
	return &termsQuery{field: field, prefix: prefix, match: func(t string) bool { return pagerule.Glob(pattern, t) }}
}
