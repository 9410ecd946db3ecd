package elastic

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/elastic/go-elasticsearch/v8/esutil"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	searchv1 "github.com/sightlinehq/sightline/gen/sightline/search/v1"
	sessionsv1 "github.com/sightlinehq/sightline/gen/sightline/sessions/v1"
	"github.com/sightlinehq/sightline/svc-search/index"
)

// Answers is the Elasticsearch answers index: its own template, indices
// "<prefix>-answers-*" and alias "<prefix>-answers", laid out like the
// sessions' (strict mapping, routed by site, additive mapping changes put
// on existing indices at Open). Listing pages with search_after on
// (client_time, answer_id); stats are one aggregation request: terms on the
// rating and NPS group, terms on the survey, and a date_histogram in the
// asked time zone with the same terms below it, extended to the range so
// that empty buckets come back too. An open range with an unspecified
// interval first asks for the earliest and latest match (min/max).
type Answers struct {
	conn
}

var _ index.AnswerIndex = (*Answers)(nil)

// Field names of the answers mapping.
const (
	aAnswerID = "answer_id"
	aKind     = "kind"
	aSurvey   = "survey_id"
	aRating   = "rating"
	aNpsGroup = "nps_group"
	aHasText  = "has_text"
	aTime     = "client_time"
	aURL      = "url"
	aPath     = "path"
	aPageKey  = "page_key"
	aAnswer   = "answer"
)

// answersSchema counts answers mapping changes.
const answersSchema = 1

// OpenAnswers connects and makes sure the answers template, first index and
// alias exist.
func OpenAnswers(ctx context.Context, cfg Config) (*Answers, error) {
	c, err := dial(cfg, "answers")
	if err != nil {
		return nil, err
	}
	ix := &Answers{conn: c}
	if err := EnsureAlias(ctx, c.es, ix.alias, AnswersTemplateBody(c.cfg.IndexPrefix, c.cfg.Shards, c.cfg.Replicas), answerProperties()); err != nil {
		return nil, err
	}
	return ix, nil
}

// AnswersTemplateBody is the answers index template with its explicit
// mapping.
func AnswersTemplateBody(prefix string, shards, replicas int) map[string]any {
	return Template(prefix+"-answers-*", shards, replicas, answerProperties(), map[string]any{"owner": "sightline svc-search", "schema": answersSchema})
}

func answerProperties() map[string]any {
	return map[string]any{
		fSite: keyword(), aAnswerID: keyword(), aKind: keyword(),
		aSurvey:   map[string]any{"type": "long"},
		aRating:   map[string]any{"type": "byte"},
		aNpsGroup: keyword(),
		aHasText:  map[string]any{"type": "boolean"},
		fSession:  keyword(), fVisitor: keyword(), fDevice: keyword(),
		aTime: map[string]any{"type": "date_nanos"},
		aURL:  urlKeyword(), aPath: keyword(), aPageKey: keyword(),
		aAnswer: map[string]any{"type": "binary"},
	}
}

// AnswerDocument is the indexed form of an answer. survey_id is left out
// for feedback (0), so the per-survey terms never count it.
func AnswerDocument(a *sessionsv1.Answer) (map[string]any, error) {
	pb, err := proto.Marshal(a)
	if err != nil {
		return nil, fmt.Errorf("marshal answer: %w", err)
	}
	d := map[string]any{
		fSite:     strconv.FormatInt(a.GetSiteId(), 10),
		aAnswerID: a.GetId(),
		aKind:     a.GetKind().String(),
		aRating:   a.GetRating(),
		aHasText:  index.HasText(a),
		fDevice:   index.DeviceName(a.GetClient().GetDeviceType()),
		aTime:     a.GetClientTime().AsTime().UTC().Format(time.RFC3339Nano),
		aAnswer:   base64.StdEncoding.EncodeToString(pb),
	}
	if a.GetSurveyId() != 0 {
		d[aSurvey] = a.GetSurveyId()
	}
	if a.Nps != nil {
		d[aNpsGroup] = index.NpsGroupOf(a.GetNps()).String()
	}
	for k, v := range map[string]string{fSession: a.GetSessionId(), fVisitor: a.GetVisitorId(), aURL: a.GetUrl(), aPath: index.PagePath(a.GetUrl())} {
		if v != "" {
			d[k] = v
		}
	}
	if a.GetUrl() != "" {
		d[aPageKey] = index.PageKey(a.GetUrl())
	}
	return d, nil
}

// AnswerBulkItem is the bulk "index" action of an answer, routed by site.
// Answers never change, so a plain index (no version) is idempotent.
func AnswerBulkItem(a *sessionsv1.Answer) (esutil.BulkIndexerItem, error) {
	doc, err := AnswerDocument(a)
	if err != nil {
		return esutil.BulkIndexerItem{}, err
	}
	return indexItem(index.AnswerDocID(a.GetSiteId(), a.GetId()), a.GetSiteId(), doc)
}

// UpsertAnswers implements index.AnswerIndex with the bulk indexer.
func (ix *Answers) UpsertAnswers(ctx context.Context, answers []*sessionsv1.Answer) (int, error) {
	if len(answers) == 0 {
		return 0, nil
	}
	var todo []*sessionsv1.Answer
	for _, a := range answers {
		if a != nil {
			todo = append(todo, a)
		}
	}
	n, _, err := ix.bulk(ctx, len(todo), false, func(i int) (esutil.BulkIndexerItem, error) {
		item, err := AnswerBulkItem(todo[i])
		if err != nil {
			return item, fmt.Errorf("elasticsearch: upsert answer %s: %w", todo[i].GetId(), err)
		}
		return item, nil
	})
	return n, err
}

// AnswerDeleteBody is the delete-by-query body for a selector.
func AnswerDeleteBody(siteID int64, sel index.AnswerSelector) (map[string]any, error) {
	if err := sel.Validate(); err != nil {
		return nil, err
	}
	var clauses []any
	switch {
	case len(sel.AnswerIDs) > 0:
		clauses = append(clauses, terms(aAnswerID, sel.AnswerIDs))
	case sel.VisitorID != "":
		clauses = append(clauses, term(fVisitor, sel.VisitorID))
	case sel.SessionID != "":
		clauses = append(clauses, term(fSession, sel.SessionID))
	case !sel.GivenBefore.IsZero():
		clauses = append(clauses, rangeQ(aTime, map[string]any{"lt": sel.GivenBefore.UTC().Format(time.RFC3339Nano)}))
	}
	return map[string]any{"query": siteFilter(siteID, clauses...)}, nil
}

// DeleteAnswers implements index.AnswerIndex with delete-by-query.
func (ix *Answers) DeleteAnswers(ctx context.Context, siteID int64, sel index.AnswerSelector) (int64, error) {
	body, err := AnswerDeleteBody(siteID, sel)
	if err != nil {
		return 0, err
	}
	return ix.deleteByQuery(ctx, siteID, body, "delete answers by query")
}

// AnswerFilterQuery is the bool filter of an AnswerFilter; its first
// clause is always the site.
func AnswerFilterQuery(siteID int64, f *searchv1.AnswerFilter) (map[string]any, error) {
	filters := []any{term(fSite, strconv.FormatInt(siteID, 10))}
	add := func(c map[string]any) { filters = append(filters, c) }
	if f != nil {
		if c := timeClause(aTime, f.GetTime()); c != nil {
			add(c)
		}
		if k := f.GetKind(); k != sessionsv1.AnswerKind_ANSWER_KIND_UNSPECIFIED {
			add(term(aKind, k.String()))
		}
		if len(f.GetSurveyIds()) > 0 {
			add(map[string]any{"terms": map[string]any{aSurvey: f.GetSurveyIds()}})
		}
		if c := ratingClause(aRating, f.GetRating()); c != nil {
			add(c)
		}
		if len(f.GetNpsGroups()) > 0 {
			var gs []string
			for _, g := range f.GetNpsGroups() {
				gs = append(gs, g.String())
			}
			add(terms(aNpsGroup, gs))
		}
		c, err := urlClause(index.URLMatch{Match: f.GetPage(), Fields: index.URLFields{Full: aURL, Path: aPath, Key: aPageKey}})
		if err != nil {
			return nil, err
		}
		if c != nil {
			add(c)
		}
		if c := deviceClause(f.GetDeviceTypes()); c != nil {
			add(c)
		}
		if f.HasText != nil {
			add(map[string]any{"term": map[string]any{aHasText: *f.HasText}})
		}
		if f.GetSessionId() != "" {
			add(term(fSession, f.GetSessionId()))
		}
		if f.GetVisitorId() != "" {
			add(term(fVisitor, f.GetVisitorId()))
		}
	}
	return map[string]any{"bool": map[string]any{"filter": filters}}, nil
}

// AnswerSearchBody is the _search body of a list query.
func AnswerSearchBody(q index.AnswerQuery) (map[string]any, error) {
	if q.Limit <= 0 {
		return nil, errNoLimit
	}
	var after []any
	if q.After != nil {
		after = []any{q.After.Time, q.After.ID}
	}
	fq, err := AnswerFilterQuery(q.SiteID, q.Filter)
	if err != nil {
		return nil, err
	}
	return listBody(q.Limit, fq, aAnswer, aTime, aAnswerID, q.Ascending, after), nil
}

// SearchAnswers implements index.AnswerIndex.
func (ix *Answers) SearchAnswers(ctx context.Context, q index.AnswerQuery) (*index.AnswerResult, error) {
	body, err := AnswerSearchBody(q)
	if err != nil {
		return nil, err
	}
	var out storedHits
	if err := ix.search(ctx, q.SiteID, body, "search answers", &out); err != nil {
		return nil, err
	}
	r := &index.AnswerResult{Total: out.Hits.Total.Value}
	var more bool
	r.Answers, more, err = page(out, aAnswer, q.Limit, q.SiteID, func() *sessionsv1.Answer { return &sessionsv1.Answer{} })
	if err != nil {
		return nil, err
	}
	if more && len(r.Answers) > 0 {
		k := index.AnswerKey(r.Answers[len(r.Answers)-1])
		r.Next = &k
	}
	return r, nil
}

// countAggs are the aggregations one set of counts needs.
func countAggs() map[string]any {
	return map[string]any{
		"ratings": map[string]any{"terms": map[string]any{"field": aRating, "size": 6}},
		"nps":     map[string]any{"terms": map[string]any{"field": aNpsGroup, "size": 3}},
	}
}

// AnswerBoundsBody asks for the earliest and latest match (an open range
// with an unspecified interval or an open end).
func AnswerBoundsBody(siteID int64, f *searchv1.AnswerFilter) (map[string]any, error) {
	fq, err := AnswerFilterQuery(siteID, f)
	if err != nil {
		return nil, err
	}
	return map[string]any{
		"size": 0, "track_total_hits": true, "query": fq,
		"aggs": map[string]any{
			"first": map[string]any{"min": map[string]any{"field": aTime}},
			"last":  map[string]any{"max": map[string]any{"field": aTime}},
		},
	}, nil
}

// AnswerStatsBody is the aggregation request of a stats query whose series
// runs from first to last (ok false: no series).
func AnswerStatsBody(q index.StatsQuery, first, last time.Time, iv searchv1.StatsInterval, ok bool) (map[string]any, error) {
	fq, err := AnswerFilterQuery(q.SiteID, q.Filter)
	if err != nil {
		return nil, err
	}
	aggs := countAggs()
	aggs["surveys"] = map[string]any{"terms": map[string]any{
		"field": aSurvey, "size": index.MaxStatsSurveys,
		"order": []any{map[string]any{"_count": "desc"}, map[string]any{"_key": "asc"}},
	}}
	if ok {
		aggs["series"] = map[string]any{
			"date_histogram": map[string]any{
				"field":             aTime,
				"calendar_interval": map[searchv1.StatsInterval]string{1: "day", 2: "week", 3: "month"}[iv],
				"time_zone":         q.Loc().String(),
				"min_doc_count":     0,
				"extended_bounds":   map[string]any{"min": first.UnixMilli(), "max": last.UnixMilli()},
			},
			"aggs": countAggs(),
		}
	}
	return map[string]any{"size": 0, "track_total_hits": true, "query": fq, "aggs": aggs}, nil
}

type termBucket struct {
	Key      json.RawMessage `json:"key"`
	DocCount int64           `json:"doc_count"`
}

type countsAggs struct {
	DocCount int64 `json:"doc_count"`
	Ratings  struct {
		Buckets []termBucket `json:"buckets"`
	} `json:"ratings"`
	Nps struct {
		Buckets []termBucket `json:"buckets"`
	} `json:"nps"`
}

// tally turns the counts aggregations into a tally.
func (c countsAggs) tally(n int64) (index.Tally, error) {
	t := index.Tally{Answers: n}
	for _, b := range c.Ratings.Buckets {
		r, err := strconv.ParseInt(string(b.Key), 10, 32)
		if err != nil {
			return t, fmt.Errorf("rating bucket %s: %w", b.Key, err)
		}
		if r >= 1 && r <= 5 {
			t.Ratings[r-1] = b.DocCount
		}
	}
	for _, b := range c.Nps.Buckets {
		var g string
		if err := json.Unmarshal(b.Key, &g); err != nil {
			return t, fmt.Errorf("nps bucket %s: %w", b.Key, err)
		}
		switch g {
		case searchv1.NpsGroup_NPS_GROUP_DETRACTOR.String():
			t.Detractors = b.DocCount
		case searchv1.NpsGroup_NPS_GROUP_PASSIVE.String():
			t.Passives = b.DocCount
		case searchv1.NpsGroup_NPS_GROUP_PROMOTER.String():
			t.Promoters = b.DocCount
		}
	}
	return t, nil
}

// AnswerStats implements index.AnswerIndex.
func (ix *Answers) AnswerStats(ctx context.Context, q index.StatsQuery) (*searchv1.GetAnswerStatsResponse, error) {
	var earliest, latest time.Time
	found := false
	if tr := q.Filter.GetTime(); tr.GetStart() == nil || tr.GetEnd() == nil {
		body, err := AnswerBoundsBody(q.SiteID, q.Filter)
		if err != nil {
			return nil, err
		}
		var out struct {
			TotalHits
			Aggregations struct {
				First struct {
					Value string `json:"value_as_string"`
				} `json:"first"`
				Last struct {
					Value string `json:"value_as_string"`
				} `json:"last"`
			} `json:"aggregations"`
		}
		if err := ix.search(ctx, q.SiteID, body, "answer bounds", &out); err != nil {
			return nil, err
		}
		if out.Hits.Total.Value > 0 {
			if earliest, err = time.Parse(time.RFC3339Nano, out.Aggregations.First.Value); err != nil {
				return nil, fmt.Errorf("elasticsearch: answer bounds: %w", err)
			}
			if latest, err = time.Parse(time.RFC3339Nano, out.Aggregations.Last.Value); err != nil {
				return nil, fmt.Errorf("elasticsearch: answer bounds: %w", err)
			}
			found = true
		}
	}
	first, last, iv, ok := index.SeriesRange(q.Filter, q.Interval, earliest, latest, found)
	var starts []time.Time
	if ok {
		var err error
		if starts, err = index.Buckets(first, last, iv, q.Loc()); err != nil {
			return nil, err
		}
	}
	body, err := AnswerStatsBody(q, first, last, iv, ok)
	if err != nil {
		return nil, err
	}
	var out struct {
		TotalHits
		Aggregations struct {
			countsAggs
			Surveys struct {
				Buckets []termBucket `json:"buckets"`
			} `json:"surveys"`
			Series struct {
				Buckets []struct {
					Key int64 `json:"key"`
					countsAggs
				} `json:"buckets"`
			} `json:"series"`
		} `json:"aggregations"`
	}
	if err := ix.search(ctx, q.SiteID, body, "answer stats", &out); err != nil {
		return nil, err
	}
	total, err := out.Aggregations.tally(out.Hits.Total.Value)
	if err != nil {
		return nil, fmt.Errorf("elasticsearch: answer stats: %w", err)
	}
	resp := &searchv1.GetAnswerStatsResponse{Total: total.Counts(), Interval: iv}
	byStart := map[int64]index.Tally{}
	for _, b := range out.Aggregations.Series.Buckets {
		t, err := b.tally(b.DocCount)
		if err != nil {
			return nil, fmt.Errorf("elasticsearch: answer stats: %w", err)
		}
		byStart[b.Key] = t
	}
	// The series is the buckets of the range as the index package cuts
	// them; Elasticsearch's buckets fill them by start.
	for _, s := range starts {
		resp.Series = append(resp.Series, &searchv1.AnswerBucket{Start: timestamppb.New(s), Counts: byStart[s.UnixMilli()].Counts()})
	}
	for _, b := range out.Aggregations.Surveys.Buckets {
		id, err := strconv.ParseInt(string(b.Key), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("elasticsearch: survey bucket %s: %w", b.Key, err)
		}
		resp.Surveys = append(resp.Surveys, &searchv1.SurveyCount{SurveyId: id, Answers: b.DocCount})
	}
	return resp, nil
}
