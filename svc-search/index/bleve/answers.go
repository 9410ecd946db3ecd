package bleve

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/blevesearch/bleve/v2"
	"github.com/blevesearch/bleve/v2/mapping"
	"github.com/blevesearch/bleve/v2/search"
	"github.com/blevesearch/bleve/v2/search/query"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	searchv1 "github.com/sightlinehq/sightline/gen/sightline/search/v1"
	sessionsv1 "github.com/sightlinehq/sightline/gen/sightline/sessions/v1"
	"github.com/sightlinehq/sightline/svc-search/index"
)

// Field names of the answers mapping.
const (
	aSite    = "site"
	aKind    = "kind"
	aSurvey  = "survey"
	aRating  = "rating"
	aNps     = "nps"
	aText    = "text"
	aSession = "session"
	aVisitor = "visitor"
	aDevice  = "device"
	aTime    = "time"
	aPage    = "page"
	aPath    = "path"
	aPageKey = "page_key"
	// aSort is the list order (client time, then id) as one keyword with
	// doc values, like the sessions' sort keys.
	aSort = "k_time"
	// aStat carries what the stats count (time, rating, NPS score, survey)
	// in one doc-values keyword, so counting a match costs one doc-values
	// visit and no stored-field read.
	aStat       = "stat"
	answerType  = "answer"
	answersDB   = "answers.db"
	answersMeta = "SCHEMA"
)

// answersSchema names the answers mapping; bump it with every change.
const answersSchema = "1"

var answersBucket = []byte("answers")

// Answers is the Bleve answers index: like the sessions index, Bleve for
// the filters and a bbolt file for the answers themselves. Layout under
// its directory: index/, answers.db, SCHEMA.
type Answers struct {
	*store
}

var _ index.AnswerIndex = (*Answers)(nil)

// OpenAnswers opens the answers index in dir, creating it when absent.
func OpenAnswers(dir string) (*Answers, error) {
	s, err := openStore(dir, layout{
		name: "bleve answers", docs: "answers", dbFile: answersDB, bucket: answersBucket,
		schemaFile: answersMeta, schema: answersSchema, mapping: AnswersMapping,
	})
	if err != nil {
		return nil, err
	}
	return &Answers{store: s}, nil
}

// AnswersMapping is the explicit mapping of answer documents.
func AnswersMapping() mapping.IndexMapping {
	dm := bleve.NewDocumentStaticMapping()
	for _, name := range []string{aSite, aKind, aSurvey, aRating, aNps, aText, aSession, aVisitor, aDevice, aPage, aPath, aPageKey} {
		dm.AddFieldMappingsAt(name, keywordField(false))
	}
	for _, name := range []string{aSort, aStat} {
		dm.AddFieldMappingsAt(name, keywordField(true))
	}
	dm.AddFieldMappingsAt(aTime, indexedOnly(bleve.NewDateTimeFieldMapping()))
	return staticMapping(answerType, dm)
}

// statValue renders what the stats need of an answer: client time (Unix
// ns, base 36), rating, NPS score ("-" for none) and survey id.
func statValue(a *sessionsv1.Answer) string {
	nps := "-"
	if a.Nps != nil {
		nps = strconv.Itoa(int(a.GetNps()))
	}
	return strconv.FormatInt(a.GetClientTime().AsTime().UnixNano(), 36) + " " + strconv.Itoa(int(a.GetRating())) + " " + nps + " " +
		strconv.FormatInt(a.GetSurveyId(), 10)
}

type stat struct {
	t      int64
	rating int32
	nps    *int32
	survey int64
}

func parseStat(v string) (stat, error) {
	// Cut rather than Split: this runs once per match of a stats query.
	ts, rest, ok1 := strings.Cut(v, " ")
	rs, rest, ok2 := strings.Cut(rest, " ")
	ns, ss, ok3 := strings.Cut(rest, " ")
	if !ok1 || !ok2 || !ok3 {
		return stat{}, fmt.Errorf("stat value %q", v)
	}
	var s stat
	t, err1 := strconv.ParseInt(ts, 36, 64)
	r, err2 := strconv.ParseInt(rs, 10, 32)
	survey, err3 := strconv.ParseInt(ss, 10, 64)
	if err := errors.Join(err1, err2, err3); err != nil {
		return stat{}, fmt.Errorf("stat value %q: %w", v, err)
	}
	s.t, s.rating, s.survey = t, int32(r), survey
	if ns != "-" {
		n, err := strconv.ParseInt(ns, 10, 32)
		if err != nil {
			return stat{}, fmt.Errorf("stat value %q: %w", v, err)
		}
		x := int32(n)
		s.nps = &x
	}
	return s, nil
}

// answerDocument flattens an answer into the mapped fields.
func answerDocument(a *sessionsv1.Answer) map[string]any {
	t := a.GetClientTime().AsTime()
	text := "no"
	if index.HasText(a) {
		text = "yes"
	}
	d := map[string]any{
		"_type":  answerType,
		aSite:    strconv.FormatInt(a.GetSiteId(), 10),
		aKind:    a.GetKind().String(),
		aSurvey:  strconv.FormatInt(a.GetSurveyId(), 10),
		aRating:  strconv.Itoa(int(a.GetRating())),
		aText:    text,
		aDevice:  index.DeviceName(a.GetClient().GetDeviceType()),
		aTime:    t,
		aSort:    sortKey(t.UnixNano(), a.GetId()),
		aStat:    statValue(a),
		aPageKey: index.PageKey(a.GetUrl()),
	}
	if a.Nps != nil {
		d[aNps] = index.NpsGroupOf(a.GetNps()).String()
	}
	for k, v := range map[string]string{aSession: a.GetSessionId(), aVisitor: a.GetVisitorId(), aPage: a.GetUrl(), aPath: index.PagePath(a.GetUrl())} {
		if v != "" {
			d[k] = v
		}
	}
	if a.GetUrl() == "" {
		delete(d, aPageKey)
	}
	return d
}

// UpsertAnswers implements index.AnswerIndex.
func (ix *Answers) UpsertAnswers(ctx context.Context, answers []*sessionsv1.Answer) (int, error) {
	latest := make(map[string]*sessionsv1.Answer, len(answers))
	order := make([]string, 0, len(answers))
	for _, a := range answers {
		if a == nil {
			continue
		}
		id := index.AnswerDocID(a.GetSiteId(), a.GetId())
		if _, ok := latest[id]; !ok {
			order = append(order, id)
		}
		latest[id] = a
	}
	if len(order) == 0 {
		return 0, nil
	}
	b := ix.idx.NewBatch()
	records := make(map[string][]byte, len(order))
	for _, id := range order {
		rec, err := proto.Marshal(latest[id])
		if err != nil {
			return 0, fmt.Errorf("bleve answers: upsert %s: %w", id, err)
		}
		if err := b.Index(id, answerDocument(latest[id])); err != nil {
			return 0, fmt.Errorf("bleve answers: upsert %s: %w", id, err)
		}
		records[id] = rec
	}
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	ix.writeMu.Lock()
	defer ix.writeMu.Unlock()
	if err := ix.write(order, records, b); err != nil {
		return 0, err
	}
	// Duplicates within the call count once each, as delivered.
	return len(answers), nil
}

// DeleteAnswers implements index.AnswerIndex.
func (ix *Answers) DeleteAnswers(ctx context.Context, siteID int64, sel index.AnswerSelector) (int64, error) {
	if err := sel.Validate(); err != nil {
		return 0, err
	}
	var q query.Query
	switch {
	case len(sel.AnswerIDs) > 0:
		q = docIDs(siteID, sel.AnswerIDs, index.AnswerDocID)
	case sel.VisitorID != "":
		q = term(aVisitor, sel.VisitorID)
	case sel.SessionID != "":
		q = term(aSession, sel.SessionID)
	case sel.WholeSite:
	default:
		q = before(aTime, sel.GivenBefore)
	}
	return ix.deleteMatching(ctx, siteScoped(siteID, q))
}

// SearchAnswers implements index.AnswerIndex.
func (ix *Answers) SearchAnswers(ctx context.Context, q index.AnswerQuery) (*index.AnswerResult, error) {
	if q.Limit <= 0 {
		return nil, errors.New("bleve answers: limit must be positive")
	}
	fq, err := answerFilterQuery(q.SiteID, q.Filter)
	if err != nil {
		return nil, err
	}
	req := bleve.NewSearchRequestOptions(fq, q.Limit+1, 0, false)
	req.Score = bleve.ScoreNone
	req.SortByCustom(search.SortOrder{
		&search.SortField{Field: aSort, Type: search.SortFieldAsString, Desc: !q.Ascending, Missing: search.SortFieldMissingLast},
	})
	if q.After != nil {
		req.SearchAfter = []string{sortKey(q.After.Time, q.After.ID)}
	}
	answers := []*sessionsv1.Answer{}
	sr, more, err := ix.page(ctx, req, q.Limit, func(id string, rec []byte) error {
		if rec == nil {
			return fmt.Errorf("answer %s is missing", id)
		}
		a := &sessionsv1.Answer{}
		if err := proto.Unmarshal(rec, a); err != nil {
			return fmt.Errorf("decode %s: %w", id, err)
		}
		answers = append(answers, a)
		return nil
	})
	if err != nil {
		return nil, err
	}
	res := &index.AnswerResult{Total: int64(sr.Total), Answers: answers}
	if more && len(res.Answers) > 0 {
		k := index.AnswerKey(res.Answers[len(res.Answers)-1])
		res.Next = &k
	}
	return res, nil
}

// AnswerStats implements index.AnswerIndex: every match's stat value is
// visited once (a custom hit handler instead of Bleve's top-N heap) and
// counted here.
func (ix *Answers) AnswerStats(ctx context.Context, q index.StatsQuery) (*searchv1.GetAnswerStatsResponse, error) {
	fq, err := answerFilterQuery(q.SiteID, q.Filter)
	if err != nil {
		return nil, err
	}
	var stats []stat
	var parseErr error
	handler := search.MakeDocumentMatchHandler(func(sctx *search.SearchContext) (search.DocumentMatchHandler, bool, error) {
		return func(hit *search.DocumentMatch) error {
			if hit == nil {
				return nil
			}
			if len(hit.Sort) == 1 {
				s, err := parseStat(hit.Sort[0])
				if err != nil && parseErr == nil {
					parseErr = err
				}
				stats = append(stats, s)
			}
			sctx.DocumentMatchPool.Put(hit)
			return nil
		}, false, nil
	})
	req := bleve.NewSearchRequestOptions(fq, 1, 0, false)
	req.Score = bleve.ScoreNone
	req.SortByCustom(search.SortOrder{&search.SortField{Field: aStat, Type: search.SortFieldAsString}})
	if _, err := ix.idx.SearchInContext(context.WithValue(ctx, search.MakeDocumentMatchHandlerKey, handler), req); err != nil {
		return nil, fmt.Errorf("bleve answers: stats: %w", err)
	}
	if parseErr != nil {
		return nil, fmt.Errorf("bleve answers: stats: %w", parseErr)
	}
	return statsOf(stats, q)
}

// statsOf counts the matches' stat values into the response.
func statsOf(stats []stat, q index.StatsQuery) (*searchv1.GetAnswerStatsResponse, error) {
	var total index.Tally
	per := map[int64]int64{}
	var earliest, latest int64
	for i, s := range stats {
		total.Add(s.rating, s.nps)
		if s.survey != 0 {
			per[s.survey]++
		}
		if i == 0 || s.t < earliest {
			earliest = s.t
		}
		if i == 0 || s.t > latest {
			latest = s.t
		}
	}
	out := &searchv1.GetAnswerStatsResponse{Total: total.Counts()}
	first, last, iv, ok := index.SeriesRange(q.Filter, q.Interval, time.Unix(0, earliest), time.Unix(0, latest), len(stats) > 0)
	out.Interval = iv
	if ok {
		loc := q.Loc()
		starts, err := index.Buckets(first, last, iv, loc)
		if err != nil {
			return nil, err
		}
		tallies := make([]index.Tally, len(starts))
		nanos := make([]int64, len(starts))
		for i, b := range starts {
			nanos[i] = b.UnixNano()
		}
		for _, s := range stats {
			// The last bucket starting at or before the answer.
			i, found := slices.BinarySearch(nanos, s.t)
			if !found {
				i--
			}
			if i >= 0 && i < len(tallies) {
				tallies[i].Add(s.rating, s.nps)
			}
		}
		for i, b := range starts {
			out.Series = append(out.Series, &searchv1.AnswerBucket{Start: timestamppb.New(b), Counts: tallies[i].Counts()})
		}
	}
	out.Surveys = index.TopSurveys(per)
	return out, nil
}

// answerFilterQuery translates an answer filter into a Bleve query under
// the site.
func answerFilterQuery(siteID int64, f *searchv1.AnswerFilter) (query.Query, error) {
	qs := []query.Query{term(aSite, strconv.FormatInt(siteID, 10))}
	if f == nil {
		return qs[0], nil
	}
	if q := timeRange(aTime, f.GetTime()); q != nil {
		qs = append(qs, q)
	}
	if k := f.GetKind(); k != sessionsv1.AnswerKind_ANSWER_KIND_UNSPECIFIED {
		qs = append(qs, term(aKind, k.String()))
	}
	if len(f.GetSurveyIds()) > 0 {
		ids := make([]string, 0, len(f.GetSurveyIds()))
		for _, id := range f.GetSurveyIds() {
			ids = append(ids, strconv.FormatInt(id, 10))
		}
		qs = append(qs, anyTerm(aSurvey, ids))
	}
	if r := f.GetRating(); r != nil && (r.Min != 0 || r.Max != 0) {
		var vs []string
		for v := max(r.Min, 1); v <= 5 && (r.Max == 0 || v <= r.Max); v++ {
			vs = append(vs, strconv.FormatInt(v, 10))
		}
		if len(vs) == 0 {
			return query.NewMatchNoneQuery(), nil
		}
		qs = append(qs, anyTerm(aRating, vs))
	}
	if len(f.GetNpsGroups()) > 0 {
		gs := make([]string, 0, len(f.GetNpsGroups()))
		for _, g := range f.GetNpsGroups() {
			gs = append(gs, g.String())
		}
		qs = append(qs, anyTerm(aNps, gs))
	}
	uq, err := urlQuery(index.URLMatch{Match: f.GetPage(), Fields: index.URLFields{Full: aPage, Path: aPath, Key: aPageKey}})
	if err != nil {
		return nil, err
	}
	if uq != nil {
		qs = append(qs, uq)
	}
	if len(f.GetDeviceTypes()) > 0 {
		names := make([]string, 0, len(f.GetDeviceTypes()))
		for _, d := range f.GetDeviceTypes() {
			names = append(names, index.DeviceName(d))
		}
		qs = append(qs, anyTerm(aDevice, names))
	}
	if f.HasText != nil {
		v := "no"
		if *f.HasText {
			v = "yes"
		}
		qs = append(qs, term(aText, v))
	}
	if f.GetSessionId() != "" {
		qs = append(qs, term(aSession, f.GetSessionId()))
	}
	if f.GetVisitorId() != "" {
		qs = append(qs, term(aVisitor, f.GetVisitorId()))
	}
	if len(qs) == 1 {
		return qs[0], nil
	}
	return query.NewConjunctionQuery(qs), nil
}
