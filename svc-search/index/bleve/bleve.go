// Package bleve is the embedded sessions index on Bleve (scorch, on disk).
//
// Each session is one document with an explicit mapping (no dynamic fields):
// keyword fields for every exact-match value, and for the start time,
// durations and page count their trie terms (trie.go) and sort keys. The
// summaries themselves (and their versions) live beside the index in a
// bbolt file keyed by document id: Bleve's stored fields are compressed in
// chunks of many documents, so fetching a page of 50 hits from them
// decompressed megabytes per query, while 50 B+tree lookups cost
// microseconds; the version check of an upsert is a lookup there too
// instead of a query. An index of an older schema is rebuilt from them.
//
// Layout under the directory given to Open: index/ (Bleve) and
// summaries.db (bbolt). Writes go to bbolt first, then Bleve, so every
// indexed id has its summary; a crash in between leaves a summary that the
// next delivery of the same version re-indexes.
package bleve

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/bits"
	"strconv"
	"time"

	"github.com/blevesearch/bleve/v2"
	"github.com/blevesearch/bleve/v2/mapping"
	"github.com/blevesearch/bleve/v2/search"
	"github.com/blevesearch/bleve/v2/search/query"
	bolt "go.etcd.io/bbolt"
	"google.golang.org/protobuf/proto"

	searchv1 "github.com/sightlinehq/sightline/gen/sightline/search/v1"
	sessionsv1 "github.com/sightlinehq/sightline/gen/sightline/sessions/v1"
	"github.com/sightlinehq/sightline/svc-search/index"
)

// Field names of the mapping.
const (
	fSite      = "site"
	fVisitor   = "visitor"
	fStart     = "start"
	fDuration  = "duration_ms"
	fActive    = "active_ms"
	fPageCount = "page_count"
	// Flag terms in fFlags (has_* filters are single-term lookups).
	fRage      = "rage"
	fDead      = "dead"
	fErrors    = "errors"
	fTruncated = "truncated"
	fFeedback  = "feedback"
	fSurvey    = "survey"
	fFlags     = "flags"
	// Sort keys: one short binary keyword per document with doc values,
	// holding the sort value and the session id, so a single field orders
	// hits completely (no per-hit _id lookup for the tie-break). Numeric
	// doc values carry every precision-shifted term (16 per value) and are
	// decompressed per chunk on every sorted query.
	kStart     = "k_start"
	kDuration  = "k_duration"
	kActive    = "k_active"
	kPages     = "k_pages"
	fPage      = "page"
	fPath      = "path"
	fEntry     = "entry"
	fEntryPath = "entry_path"
	fExit      = "exit"
	fExitPath  = "exit_path"
	// Page keys (index.PageKey) of the pages, entry and exit: full-URL
	// EQUALS matches look them up.
	fPageKey   = "page_key"
	fEntryKey  = "entry_key"
	fExitKey   = "exit_key"
	fDevice    = "device"
	fBrowser   = "browser"
	fOS        = "os"
	fCountry   = "country"
	fReferrer  = "referrer_domain"
	fUTMSource = "utm_source"
	fUTMMedium = "utm_medium"
	fUTMCamp   = "utm_campaign"
	fUser      = "user_id"
	fAttr      = "attr"
	fEvent     = "event"
	fClicked   = "clicked"
	fRaged     = "raged"
	fDeadOn    = "dead_on"
	docType    = "session"
)

// Index is the Bleve sessions index. It is safe for concurrent use.
type Index struct {
	*store
	docs *documents
}

var _ index.Index = (*Index)(nil)
var _ index.Refresher = (*Index)(nil)

// Open opens the index in dir, creating it with the mapping when absent.
func Open(dir string) (*Index, error) {
	docs, err := newDocuments(Mapping())
	if err != nil {
		return nil, err
	}
	s, err := openStore(dir, layout{
		name: "bleve", docs: "summaries", dbFile: "summaries.db", bucket: bucket,
		schemaFile: "SCHEMA", schema: schemaVersion, mapping: Mapping, complete: completeSince,
		rebuild: func(b *bleve.Batch, id string, rec []byte) error {
			s, err := summary(rec)
			if err != nil {
				return err
			}
			return b.IndexAdvanced(docs.build(id, s))
		},
	})
	if err != nil {
		return nil, err
	}
	return &Index{store: s, docs: docs}, nil
}

var bucket = []byte("summaries")

// schemaVersion names the mapping below; bump it with every mapping change.
// (Bleve cannot add a field to an existing index's mapping: Open rebuilds
// an index of an older schema from its summaries, see rebuildIndex.)
// 5: clicked elements, page keys. 6: start, durations and page count as
// trie terms (trie.go), not Bleve numbers and dates. 7: rage- and
// dead-clicked elements.
const schemaVersion = "7"

// completeSince is the oldest schema whose stored summaries hold every
// field this mapping indexes: summaries stored before 7 have no rage- and
// dead-clicked elements (recordings had not sent them), so an index rebuilt
// from them marks a refresh from recordings due (index.Refresher). Raise it
// with a schema that indexes a summary field recordings did not send before.
const completeSince = 7

// numbers are the int64 values of a session that are sorted on (one sort
// key each) and matched by range (trie terms), both of index.SortKey's
// value. The start's trie leaves its 24 lowest bits (16.8 ms) to its exact
// term: the ends of a time range then look up the few sessions that
// started within 16.8 ms of them.
var numbers = []struct {
	sort searchv1.SortField
	key  string
	trie trie
}{
	{searchv1.SortField_SORT_FIELD_START_TIME, kStart, trie{field: fStart, base: 24}},
	{searchv1.SortField_SORT_FIELD_DURATION, kDuration, trie{field: fDuration}},
	{searchv1.SortField_SORT_FIELD_ACTIVE_DURATION, kActive, trie{field: fActive}},
	{searchv1.SortField_SORT_FIELD_PAGE_COUNT, kPages, trie{field: fPageCount}},
}

// The tries of filterQuery's ranges.
var startTrie, durationTrie, activeTrie, pagesTrie = numbers[0].trie, numbers[1].trie, numbers[2].trie, numbers[3].trie

// record is a summary as stored in bbolt: its version (big-endian) first,
// so the version check reads 8 bytes.
func record(s *sessionsv1.SessionSummary) ([]byte, error) {
	b := binary.BigEndian.AppendUint64(make([]byte, 0, 8+proto.Size(s)), uint64(s.GetVersion()))
	return proto.MarshalOptions{}.MarshalAppend(b, s)
}

// summary decodes a record.
func summary(rec []byte) (*sessionsv1.SessionSummary, error) {
	if len(rec) < 8 {
		return nil, errors.New("summary is missing")
	}
	s := &sessionsv1.SessionSummary{}
	if err := proto.Unmarshal(rec[8:], s); err != nil {
		return nil, fmt.Errorf("decode summary: %w", err)
	}
	return s, nil
}

// Mapping is the explicit index mapping: nothing is indexed that is not
// named here.
func Mapping() mapping.IndexMapping {
	dm := bleve.NewDocumentStaticMapping()
	// The values of range filters are keyword fields too: their trie terms (trie.go).
	for _, name := range []string{fSite, fVisitor, fFlags, fPage, fEntry, fEntryPath, fExit, fExitPath,
		fPageKey, fEntryKey, fExitKey, fReferrer, fUTMSource, fUTMMedium, fUTMCamp, fUser, fAttr, fEvent, fClicked, fRaged, fDeadOn,
		fStart, fDuration, fActive, fPageCount} {
		dm.AddFieldMappingsAt(name, keywordField(false))
	}
	// Facet and sort fields need doc values.
	for _, name := range []string{fDevice, fBrowser, fOS, fCountry, fPath, kStart, kDuration, kActive, kPages} {
		dm.AddFieldMappingsAt(name, keywordField(true))
	}
	dm.AddFieldMappingsAt(fTruncated, indexedOnly(bleve.NewBooleanFieldMapping()))
	return staticMapping(docType, dm)
}

// keywordFields names the mapping's field of each index.Keyword.
var keywordFields = [index.NumKeywords]string{index.KeywordVisitor: fVisitor, index.KeywordUser: fUser,
	index.KeywordEntry: fEntry, index.KeywordEntryPath: fEntryPath, index.KeywordEntryKey: fEntryKey, index.KeywordExit: fExit,
	index.KeywordExitPath: fExitPath, index.KeywordExitKey: fExitKey, index.KeywordBrowser: fBrowser, index.KeywordOS: fOS,
	index.KeywordCountry: fCountry, index.KeywordReferrer: fReferrer, index.KeywordUTMSource: fUTMSource,
	index.KeywordUTMMedium: fUTMMedium, index.KeywordUTMCampaign: fUTMCamp}

// Upsert implements index.Index.
func (ix *Index) Upsert(ctx context.Context, sessions []*sessionsv1.SessionSummary) (index.UpsertResult, error) {
	var res index.UpsertResult
	if len(sessions) == 0 {
		return res, nil
	}
	// Within one call the newest version of each document wins.
	newest := make(map[string]*sessionsv1.SessionSummary, len(sessions))
	order := make([]string, 0, len(sessions))
	for _, s := range sessions {
		if s == nil {
			continue
		}
		id := index.DocID(s.GetSiteId(), s.GetSessionId())
		prev, ok := newest[id]
		if !ok {
			order = append(order, id)
			newest[id] = s
			continue
		}
		if s.GetVersion() >= prev.GetVersion() {
			newest[id] = s
		}
		res.Stale++ // one of the two is superseded within the batch
	}

	ix.writeMu.Lock()
	defer ix.writeMu.Unlock()
	b := ix.idx.NewBatch()
	records := make(map[string][]byte, len(order))
	err := ix.db.View(func(tx *bolt.Tx) error {
		bk := tx.Bucket(bucket)
		for _, id := range order {
			s := newest[id]
			if cur := bk.Get([]byte(id)); len(cur) >= 8 && s.GetVersion() < int64(binary.BigEndian.Uint64(cur)) {
				res.Stale++
				continue
			}
			rec, err := record(s)
			if err != nil {
				return fmt.Errorf("upsert %s: %w", id, err)
			}
			if err := b.IndexAdvanced(ix.docs.build(id, s)); err != nil {
				return fmt.Errorf("upsert %s: %w", id, err)
			}
			records[id] = rec
		}
		return nil
	})
	if err != nil {
		return index.UpsertResult{}, fmt.Errorf("bleve: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return index.UpsertResult{}, err
	}
	if len(records) == 0 {
		return res, nil
	}
	if err := ix.write(order, records, b); err != nil {
		return index.UpsertResult{}, err
	}
	res.Upserted = len(records)
	return res, nil
}

// Delete implements index.Index.
func (ix *Index) Delete(ctx context.Context, siteID int64, sel index.Selector) (int64, error) {
	if err := sel.Validate(); err != nil {
		return 0, err
	}
	var q query.Query
	switch {
	case len(sel.SessionIDs) > 0:
		q = docIDs(siteID, sel.SessionIDs, index.DocID)
	case sel.VisitorID != "":
		q = term(fVisitor, sel.VisitorID)
	case sel.WholeSite:
		q = nil
	default:
		q = startBefore(math.MinInt64, sel.StartedBefore)
	}
	return ix.deleteMatching(ctx, siteScoped(siteID, q))
}

// Search implements index.Index.
func (ix *Index) Search(ctx context.Context, q index.Query) (*index.Result, error) {
	fq, err := filterQuery(q.SiteID, q.Filter)
	if err != nil {
		return nil, err
	}
	if len(q.SessionIDs) > index.MaxSessionIDs {
		return nil, fmt.Errorf("bleve: %d session ids, at most %d", len(q.SessionIDs), index.MaxSessionIDs)
	}
	if len(q.SessionIDs) > 0 {
		// Document ids carry the site, so another site's session is never
		// named; the filter keeps the site term anyway.
		ids := make([]string, 0, len(q.SessionIDs))
		for _, id := range q.SessionIDs {
			ids = append(ids, index.DocID(q.SiteID, id))
		}
		fq = query.NewConjunctionQuery([]query.Query{fq, query.NewDocIDQuery(ids)})
	}
	if q.Limit <= 0 {
		return nil, errors.New("bleve: limit must be positive")
	}
	req := bleve.NewSearchRequestOptions(fq, q.Limit+1, 0, false)
	req.Score = bleve.ScoreNone
	desc := !q.Ascending
	req.SortByCustom(search.SortOrder{
		&search.SortField{Field: sortKeys.Of(q.Sort), Type: search.SortFieldAsString, Desc: desc, Missing: search.SortFieldMissingLast},
	})
	if q.After != nil {
		req.SearchAfter = []string{sortKey(q.After.Value, q.After.SessionID)}
	}
	size := q.FacetSize
	if size <= 0 {
		size = index.DefaultFacetSize
	}
	for _, f := range q.Facets {
		field, ok := facetFields.Of(f)
		if !ok {
			return nil, fmt.Errorf("bleve: unknown facet %v", f)
		}
		req.AddFacet(field, bleve.NewFacetRequest(field, size))
	}
	sessions := []*sessionsv1.SessionSummary{}
	sr, more, err := ix.page(ctx, req, q.Limit, func(id string, rec []byte) error {
		s, err := summary(rec)
		if err != nil {
			return fmt.Errorf("%s: %w", id, err)
		}
		sessions = append(sessions, s)
		return nil
	})
	if err != nil {
		return nil, err
	}
	res := &index.Result{Total: int64(sr.Total), Sessions: sessions}
	if more && len(res.Sessions) > 0 {
		last := res.Sessions[len(res.Sessions)-1]
		res.Next = &index.Cursor{Value: index.SortKey(last, q.Sort), SessionID: last.GetSessionId()}
	}
	for _, f := range q.Facets {
		field, _ := facetFields.Of(f)
		fr := sr.Facets[field]
		facet := &searchv1.Facet{Field: f}
		if fr != nil && fr.Terms != nil {
			for _, t := range fr.Terms.Terms() {
				facet.Counts = append(facet.Counts, &searchv1.FacetCount{Value: t.Term, Count: int64(t.Count)})
			}
		}
		res.Facets = append(res.Facets, facet)
	}
	return res, nil
}

// Count implements index.Index.
func (ix *Index) Count(ctx context.Context, siteID int64, f *searchv1.SessionFilter) (int64, error) {
	fq, err := filterQuery(siteID, f)
	if err != nil {
		return 0, err
	}
	req := bleve.NewSearchRequestOptions(fq, 0, 0, false)
	req.Score = bleve.ScoreNone
	sr, err := ix.idx.SearchInContext(ctx, req)
	if err != nil {
		return 0, fmt.Errorf("bleve: count: %w", err)
	}
	return int64(sr.Total), nil
}

// sortKeys and facetFields name the mapping's field of each sort order
// and facet; pageFields those of the filter's URL matches.
var (
	sortKeys    = index.SortFields{Start: kStart, Duration: kDuration, Active: kActive, PageCount: kPages}
	facetFields = index.FacetFields{Device: fDevice, Browser: fBrowser, OS: fOS, Country: fCountry, Path: fPath}
	pageFields  = [3]index.URLFields{{Full: fPage, Path: fPath, Key: fPageKey}, {Full: fEntry, Path: fEntryPath, Key: fEntryKey}, {Full: fExit, Path: fExitPath, Key: fExitKey}}
)

// sortKey renders (value, session id) so that byte order is the sort
// order: hexKey's length letter and minimal hex digits of the value
// (negative values, which validation keeps out, sort first at full width),
// then the session id. Zap separates multi-valued doc values with 0xff, so
// the key must never contain that byte: hex digits and UTF-8 session ids
// cannot.
func sortKey(v int64, sessionID string) string {
	b := make([]byte, 0, 17+len(sessionID))
	if v < 0 {
		b = fixedHex(append(b, 'A'), uint64(v)^1<<63)
	} else {
		b = hexKey(b, uint64(v))
	}
	return string(append(b, sessionID...))
}

const hexdig = "0123456789abcdef"

// hexKey appends u as a letter giving its number of hex digits ('a' for
// one) and those digits, so that byte order is numeric order.
func hexKey(b []byte, u uint64) []byte {
	n := max(1, (bits.Len64(u)+3)/4)
	b = append(b, byte('a'+n-1))
	for i := n - 1; i >= 0; i-- {
		b = append(b, hexdig[(u>>(4*i))&0xf])
	}
	return b
}

// fixedHex appends u as 16 hex digits.
func fixedHex(b []byte, u uint64) []byte {
	for i := 15; i >= 0; i-- {
		b = append(b, hexdig[(u>>(4*i))&0xf])
	}
	return b
}

func term(field, value string) query.Query {
	q := query.NewTermQuery(value)
	q.SetField(field)
	return q
}

func anyTerm(field string, values []string) query.Query {
	if len(values) == 1 {
		return term(field, values[0])
	}
	qs := make([]query.Query, 0, len(values))
	for _, v := range values {
		qs = append(qs, term(field, v))
	}
	return query.NewDisjunctionQuery(qs)
}

// before matches field's times strictly before t.
func before(field string, t time.Time) query.Query {
	exclusive := false
	q := query.NewDateRangeInclusiveQuery(time.Time{}, t, nil, &exclusive)
	q.SetField(field)
	return q
}

// siteScoped ANDs the site into q (nil q selects the whole site).
func siteScoped(siteID int64, q query.Query) query.Query {
	site := term(fSite, strconv.FormatInt(siteID, 10))
	if q == nil {
		return site
	}
	return query.NewConjunctionQuery([]query.Query{site, q})
}

// filterQuery translates a filter into a Bleve query, always under the site.
func filterQuery(siteID int64, f *searchv1.SessionFilter) (query.Query, error) {
	qs := []query.Query{term(fSite, strconv.FormatInt(siteID, 10))}
	if f == nil {
		return qs[0], nil
	}
	if tr := f.GetStartTime(); tr != nil && (tr.Start != nil || tr.End != nil) {
		lo := int64(math.MinInt64)
		if tr.Start != nil {
			lo = index.UnixNano(tr.Start.AsTime())
		}
		if tr.End != nil {
			qs = append(qs, startBefore(lo, tr.End.AsTime()))
		} else {
			qs = append(qs, startTrie.query(lo, math.MaxInt64))
		}
	}
	if q := durRange(durationTrie, f.GetDuration()); q != nil {
		qs = append(qs, q)
	}
	if q := durRange(activeTrie, f.GetActiveDuration()); q != nil {
		qs = append(qs, q)
	}
	for _, m := range index.SessionURLMatches(f, &pageFields) {
		q, err := urlQuery(m)
		if err != nil {
			return nil, err
		}
		if q != nil {
			qs = append(qs, q)
		}
	}
	if pc := f.GetPageCount(); pc != nil && (pc.Min != 0 || pc.Max != 0) {
		lo, hi := int64(math.MinInt64), int64(math.MaxInt64)
		if pc.Min != 0 {
			lo = pc.Min
		}
		if pc.Max != 0 {
			hi = pc.Max
		}
		qs = append(qs, pagesTrie.query(lo, hi))
	}
	if len(f.GetDeviceTypes()) > 0 {
		names := make([]string, 0, len(f.GetDeviceTypes()))
		for _, d := range f.GetDeviceTypes() {
			names = append(names, index.DeviceName(d))
		}
		qs = append(qs, anyTerm(fDevice, names))
	}
	for _, kv := range []struct {
		field  string
		values []string
	}{{fBrowser, f.GetBrowsers()}, {fOS, f.GetOses()}, {fCountry, f.GetCountries()}} {
		if len(kv.values) > 0 {
			qs = append(qs, anyTerm(kv.field, kv.values))
		}
	}
	for _, kv := range []struct{ field, value string }{
		{fReferrer, f.GetReferrerDomain()}, {fUTMSource, f.GetUtmSource()}, {fUTMMedium, f.GetUtmMedium()},
		{fUTMCamp, f.GetUtmCampaign()}, {fUser, f.GetUserId()}, {fEvent, f.GetCustomEvent()},
		{fClicked, f.GetClickedElement()}, {fRaged, f.GetRageClickedElement()}, {fDeadOn, f.GetDeadClickedElement()},
	} {
		if kv.value != "" {
			qs = append(qs, term(kv.field, kv.value))
		}
	}
	if len(f.GetUserAttributes()) > 0 {
		terms := make([]string, 0, len(f.GetUserAttributes()))
		for _, a := range f.GetUserAttributes() {
			terms = append(terms, index.AttributeTerm(a.GetKey(), a.GetValue()))
		}
		qs = append(qs, anyTerm(fAttr, terms))
	}
	for _, flag := range []struct {
		field string
		set   *bool
	}{{fRage, f.HasRageClicks}, {fDead, f.HasDeadClicks}, {fErrors, f.HasErrors}} {
		if flag.set == nil {
			continue
		}
		if *flag.set {
			qs = append(qs, term(fFlags, flag.field))
		} else {
			qs = append(qs, term(fFlags, "no_"+flag.field))
		}
	}
	for _, flag := range []struct {
		field string
		set   *bool
	}{{fFeedback, f.HasFeedback}, {fSurvey, f.HasSurveyResponse}} {
		if flag.set == nil {
			continue
		}
		if *flag.set {
			qs = append(qs, term(fFlags, flag.field))
		} else {
			qs = append(qs, query.NewBooleanQuery(nil, nil, []query.Query{term(fFlags, flag.field)}))
		}
	}
	if r := f.GetFeedbackRating(); r != nil && (r.Min != 0 || r.Max != 0) {
		var flags []string
		for v := max(r.Min, 1); v <= 5 && (r.Max == 0 || v <= r.Max); v++ {
			flags = append(flags, feedbackRatingFlag(int32(v)))
		}
		if len(flags) == 0 {
			return query.NewMatchNoneQuery(), nil
		}
		qs = append(qs, anyTerm(fFlags, flags))
	}
	if f.Truncated != nil {
		q := query.NewBoolFieldQuery(*f.Truncated)
		q.SetField(fTruncated)
		qs = append(qs, q)
	}
	if len(qs) == 1 {
		return qs[0], nil
	}
	return query.NewConjunctionQuery(qs), nil
}

// feedbackRatingFlag is the flag term of a session's lowest feedback
// rating (1–5): a rating range is a disjunction of at most five terms.
func feedbackRatingFlag(r int32) string { return "feedback_min_" + strconv.Itoa(int(r)) }

// timeRange matches field's times in [start, end); nil when tr bounds
// nothing.
func timeRange(field string, tr *searchv1.TimeRange) query.Query {
	if tr == nil || (tr.Start == nil && tr.End == nil) {
		return nil
	}
	var start, end time.Time
	if tr.Start != nil {
		start = tr.Start.AsTime()
	}
	if tr.End != nil {
		end = tr.End.AsTime()
	}
	inclusive, exclusive := true, false
	q := query.NewDateRangeInclusiveQuery(start, end, &inclusive, &exclusive)
	q.SetField(field)
	return q
}

// startBefore matches starts from lo (ns) to strictly before end.
func startBefore(lo int64, end time.Time) query.Query {
	hi := index.UnixNano(end)
	if hi == math.MinInt64 {
		return query.NewMatchNoneQuery() // nothing starts before int64's first nanosecond
	}
	return startTrie.query(lo, hi-1)
}

// durRange matches t's milliseconds in r; nil when r bounds nothing.
func durRange(t trie, r *searchv1.DurationRange) query.Query {
	if r == nil || (r.Min == nil && r.Max == nil) {
		return nil
	}
	lo, hi := int64(math.MinInt64), int64(math.MaxInt64)
	if r.Min != nil {
		// Inclusive at millisecond precision: a sub-millisecond minimum
		// rounds up, a maximum rounds down.
		d := r.Min.AsDuration()
		lo = d.Milliseconds()
		if time.Duration(lo)*time.Millisecond < d {
			lo++
		}
	}
	if r.Max != nil {
		hi = r.Max.AsDuration().Milliseconds()
	}
	return t.query(lo, hi)
}

// urlQuery matches a UrlMatch against the full-URL, path or page-key
// field. CONTAINS and PATTERN match over the field's term dictionary (never
// over documents), see termsQuery.
func urlQuery(m index.URLMatch) (query.Query, error) {
	field, value, op, ok := m.Target()
	if !ok {
		return nil, nil
	}
	switch op {
	case searchv1.UrlMatch_OPERATOR_EQUALS:
		return term(field, value), nil
	case searchv1.UrlMatch_OPERATOR_PREFIX:
		q := query.NewPrefixQuery(value)
		q.SetField(field)
		return q, nil
	case searchv1.UrlMatch_OPERATOR_CONTAINS:
		return containsQuery(field, value), nil
	case searchv1.UrlMatch_OPERATOR_PATTERN:
		return patternQuery(field, value), nil
	}
	return nil, fmt.Errorf("bleve: unknown url operator %v", m.Match.GetOperator())
}
