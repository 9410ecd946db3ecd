package bleve

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/blevesearch/bleve/v2/document"
	"github.com/blevesearch/bleve/v2/mapping"
	bleveindex "github.com/blevesearch/bleve_index_api"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	searchv1 "github.com/sightlinehq/sightline/gen/sightline/search/v1"
	sessionsv1 "github.com/sightlinehq/sightline/gen/sightline/sessions/v1"
	"github.com/sightlinehq/sightline/svc-search/index"
	"github.com/sightlinehq/sightline/svc-search/index/indextest"
)

// mapped is the reference for documents.build: the summary as the map of
// mapped fields that Batch.Index hands MapDocument.
func mapped(s *sessionsv1.SessionSummary) map[string]any {
	doc := index.SessionDocument(s)
	d := map[string]any{
		"_type":    docType,
		fSite:      strconv.FormatInt(s.GetSiteId(), 10),
		fTruncated: s.GetTruncated(),
		fDevice:    doc.Device,
		fFlags:     flags(s),
		fEvent:     s.GetCustomEvents(),
		fClicked:   s.GetClickedElements(),
		fRaged:     s.GetRageClickedElements(),
		fDeadOn:    s.GetDeadClickedElements(),
		fPage:      doc.Pages,
		fPath:      doc.Paths,
		fPageKey:   doc.PageKeys,
		fAttr:      doc.Attrs,
		kStart:     sortKey(index.SortKey(s, searchv1.SortField_SORT_FIELD_START_TIME), s.GetSessionId()),
		kDuration:  sortKey(index.SortKey(s, searchv1.SortField_SORT_FIELD_DURATION), s.GetSessionId()),
		kActive:    sortKey(index.SortKey(s, searchv1.SortField_SORT_FIELD_ACTIVE_DURATION), s.GetSessionId()),
		kPages:     sortKey(index.SortKey(s, searchv1.SortField_SORT_FIELD_PAGE_COUNT), s.GetSessionId()),
	}
	for _, n := range numbers {
		d[n.trie.field] = n.trie.terms(index.SortKey(s, n.sort))
	}
	doc.SetKeywords(d, &keywordFields)
	return d
}

// indexedField is what the index takes from one field of a document.
type indexedField struct {
	name, value, terms string
	pos                []uint64
	typ                byte
	options            bleveindex.FieldIndexingOptions
	length             int
	plain              uint64
}

// indexedFields analyses doc's fields and answers them in a fixed order.
func indexedFields(doc *document.Document) []indexedField {
	var out []indexedField
	doc.VisitFields(func(f bleveindex.Field) {
		f.Analyze()
		var terms []string
		for term, tf := range f.AnalyzedTokenFrequencies() {
			var b strings.Builder
			fmt.Fprintf(&b, "%q×%d", term, tf.Frequency())
			for _, l := range tf.Locations {
				fmt.Fprintf(&b, " %s%v[%d:%d]@%d", l.Field, l.ArrayPositions, l.Start, l.End, l.Position)
			}
			terms = append(terms, b.String())
		}
		slices.Sort(terms)
		pos := f.ArrayPositions()
		if len(pos) == 0 {
			pos = nil // MapDocument gives a scalar []uint64{}, the builder nil: the same to the index
		}
		out = append(out, indexedField{name: f.Name(), value: string(f.Value()), terms: strings.Join(terms, "; "), pos: pos,
			typ: f.EncodedFieldType(), options: f.Options(), length: f.AnalyzedLength(), plain: f.NumPlainTextBytes()})
	})
	slices.SortFunc(out, func(a, b indexedField) int {
		return cmp.Or(cmp.Compare(a.name, b.name), slices.Compare(a.pos, b.pos))
	})
	return out
}

// setup makes the mapping, its documents and n generated summaries.
func setup(tb testing.TB, seed uint64, prefix string, n int) (mapping.IndexMapping, *documents, []*sessionsv1.SessionSummary) {
	tb.Helper()
	im := Mapping()
	docs, err := newDocuments(im)
	if err != nil {
		tb.Fatal(err)
	}
	return im, docs, indextest.Generate(seed, indextest.SiteA, prefix, n)
}

// TestDocumentsAgreeWithMapping: for random summaries and edge cases, the
// document built field by field is the one MapDocument makes of the
// mapped map: the same fields, positions, options, values and terms.
func TestDocumentsAgreeWithMapping(t *testing.T) {
	im, docs, summaries := setup(t, 7, "doc", 2000)
	summaries = append(summaries,
		&sessionsv1.SessionSummary{},
		// Past int64's nanoseconds: held at the last one (index.UnixNano).
		&sessionsv1.SessionSummary{SiteId: 1, SessionId: "far", StartTime: timestamppb.New(time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC))},
		// Negative values, which validation keeps out: one exact trie term each.
		&sessionsv1.SessionSummary{SiteId: 1, SessionId: "neg", StartTime: timestamppb.New(time.Date(1900, 1, 1, 0, 0, 0, 0, time.UTC)),
			Duration: durationpb.New(-5 * time.Second)},
		&sessionsv1.SessionSummary{SiteId: -5, SessionId: "ünï\x00code", Truncated: true, FeedbackCount: 2, MinFeedbackRating: 9,
			CustomEvents: []string{"", "a", "a"}, ClickedElements: []string{"button"}},
	)
	seen := map[string]bool{}
	for _, s := range summaries {
		id := index.DocID(s.GetSiteId(), s.GetSessionId())
		want := document.NewDocument(id)
		if err := im.MapDocument(want, mapped(s)); err != nil {
			t.Fatal(err)
		}
		got := docs.build(id, s)
		wf, gf := indexedFields(want), indexedFields(got)
		if !slices.EqualFunc(wf, gf, func(a, b indexedField) bool { return fmt.Sprint(a) == fmt.Sprint(b) }) {
			t.Fatalf("%s: built document differs from the mapped one\n got: %+v\nwant: %+v", id, gf, wf)
		}
		if got.HasComposite() != want.HasComposite() || got.Indexed() != want.Indexed() || got.NumPlainTextBytes() != want.NumPlainTextBytes() {
			t.Fatalf("%s: composite %v/%v, indexed %v/%v, plain bytes %d/%d (got/want)", id,
				got.HasComposite(), want.HasComposite(), got.Indexed(), want.Indexed(), got.NumPlainTextBytes(), want.NumPlainTextBytes())
		}
		for _, f := range wf {
			seen[f.name] = true
		}
	}
	// Every mapped field was compared somewhere, or the summaries miss a case.
	for name := range docs.fields {
		if !seen[name] {
			t.Errorf("no summary has a %s field", name)
		}
	}
}

// BenchmarkDocument: a summary's document built field by field against
// the map and MapDocument it replaces, analysed as the index does.
func BenchmarkDocument(b *testing.B) {
	im, docs, summaries := setup(b, 1, "bench", 1000)
	analyse := func(doc *document.Document) {
		doc.VisitFields(func(f bleveindex.Field) { f.Analyze() })
	}
	b.Run("mapped", func(b *testing.B) {
		for i := range b.N {
			s := summaries[i%len(summaries)]
			doc := document.NewDocument(index.DocID(s.GetSiteId(), s.GetSessionId()))
			if err := im.MapDocument(doc, mapped(s)); err != nil {
				b.Fatal(err)
			}
			analyse(doc)
		}
	})
	b.Run("built", func(b *testing.B) {
		for i := range b.N {
			s := summaries[i%len(summaries)]
			analyse(docs.build(index.DocID(s.GetSiteId(), s.GetSessionId()), s))
		}
	})
}
