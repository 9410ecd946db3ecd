package index

import (
	"cmp"
	"context"
	"errors"
	"maps"
	"math"
	"slices"
	"strconv"
	"time"

	searchv1 "github.com/sightlinehq/sightline/gen/sightline/search/v1"
	sessionsv1 "github.com/sightlinehq/sightline/gen/sightline/sessions/v1"
)

// AnswerIndex is a per-site index of feedback-widget answers and survey
// responses, beside the sessions index (its own Bleve directory, its own
// Elasticsearch index).
//
// Contract (every backend, checked by indextest.RunAnswers):
//
//   - Tenancy as for sessions: a document is identified by (site id, answer
//     id); every read and delete ANDs the site into the query.
//   - Upsert is idempotent: an answer is immutable once given, so
//     re-delivery of the same id replaces the document with itself.
//   - Read-your-writes as for sessions.
//   - Filter semantics are those of searchv1.AnswerFilter: conditions AND,
//     repeated values OR; time is client_time in [start, end); kind
//     unspecified is both; rating is an IntRange over 1–5 (max 0 is
//     unbounded) that only rated answers (rating ≥ 1) can match; an NPS
//     group matches answers whose nps is set and in the group (NpsGroupOf);
//     page follows the sessions' UrlMatch rules on Answer.url; has_text
//     tests HasText; session_id and visitor_id match exactly.
//   - Listing: newest first by client_time, ties by answer id (both
//     reversed when Ascending); After selects hits strictly after the cursor
//     (AnswerKey of the last hit); Total counts every match.
//   - Stats: counts of every match (Counts), per-survey response counts
//     (survey_id ≠ 0; by count descending, then id; at most MaxStatsSurveys)
//     and the series: buckets of StatsQuery.Interval in Location (Buckets),
//     from the bucket holding the filter's time start (else the earliest
//     match) to the one holding its end (else the latest match), every
//     bucket present, empty ones included. A series longer than MaxBuckets
//     fails with an error wrapping ErrTooManyBuckets.
//   - Delete removes the selected answers of one site and returns how many
//     existed.
type AnswerIndex interface {
	// UpsertAnswers indexes answers (any sites) in bulk and returns how many.
	UpsertAnswers(ctx context.Context, answers []*sessionsv1.Answer) (int, error)
	// DeleteAnswers removes one site's answers chosen by sel.
	DeleteAnswers(ctx context.Context, siteID int64, sel AnswerSelector) (int64, error)
	// SearchAnswers returns one page of one site's answers matching q.
	SearchAnswers(ctx context.Context, q AnswerQuery) (*AnswerResult, error)
	// AnswerStats counts one site's answers matching q.
	AnswerStats(ctx context.Context, q StatsQuery) (*searchv1.GetAnswerStatsResponse, error)
	// Ready reports whether the backend can serve.
	Ready(ctx context.Context) error
	// Close releases the backend.
	Close() error
}

// ErrTooManyBuckets marks a stats query whose series would exceed
// MaxBuckets: the caller should narrow the range or widen the interval.
var ErrTooManyBuckets = errors.New("the series has too many buckets")

// Limits of one stats answer.
const (
	MaxBuckets      = 1000
	MaxStatsSurveys = 1000
	// AutoDayLimit is the longest range an unspecified interval answers
	// in days; longer ranges get weeks.
	AutoDayLimit = 92 * 24 * time.Hour
)

// AnswerSelector chooses answers to delete; exactly one field is set.
type AnswerSelector struct {
	AnswerIDs []string
	VisitorID string
	SessionID string
	WholeSite bool
	// GivenBefore deletes answers whose client time is before it.
	GivenBefore time.Time
}

// Validate checks that exactly one selector is set.
func (s AnswerSelector) Validate() error {
	return exactlyOne("answer delete selector", len(s.AnswerIDs) > 0, s.VisitorID != "", s.SessionID != "", s.WholeSite, !s.GivenBefore.IsZero())
}

// AnswerCursor is a position in the answer list: the last hit's client
// time (Unix nanoseconds) and id.
type AnswerCursor struct {
	Time int64
	ID   string
}

// AnswerKey is an answer's position in the list order.
func AnswerKey(a *sessionsv1.Answer) AnswerCursor {
	return AnswerCursor{Time: a.GetClientTime().AsTime().UnixNano(), ID: a.GetId()}
}

// AnswerQuery is one list query.
type AnswerQuery struct {
	SiteID    int64
	Filter    *searchv1.AnswerFilter
	Ascending bool
	// Limit is the page size (> 0).
	Limit int
	After *AnswerCursor
}

// AnswerResult is one page.
type AnswerResult struct {
	Answers []*sessionsv1.Answer
	Total   int64
	Next    *AnswerCursor
}

// StatsQuery is one stats query.
type StatsQuery struct {
	SiteID int64
	Filter *searchv1.AnswerFilter
	// Interval of the series; unspecified picks one from the range
	// (AutoInterval).
	Interval searchv1.StatsInterval
	// Location the buckets start in (nil is UTC).
	Location *time.Location
}

// Loc is the query's location, UTC when unset.
func (q StatsQuery) Loc() *time.Location {
	if q.Location == nil {
		return time.UTC
	}
	return q.Location
}

// NpsGroupOf is the Net Promoter group of a score: 0–6 detractor, 7–8
// passive, 9–10 promoter.
func NpsGroupOf(score int32) searchv1.NpsGroup {
	switch {
	case score >= 9:
		return searchv1.NpsGroup_NPS_GROUP_PROMOTER
	case score >= 7:
		return searchv1.NpsGroup_NPS_GROUP_PASSIVE
	default:
		return searchv1.NpsGroup_NPS_GROUP_DETRACTOR
	}
}

// HasText reports whether an answer carries visitor text: a comment or a
// text answer.
func HasText(a *sessionsv1.Answer) bool {
	if a.GetComment() != "" {
		return true
	}
	return slices.ContainsFunc(a.GetAnswers(), func(q *sessionsv1.QuestionAnswer) bool { return q.GetText() != "" })
}

// AnswerDocID is the document id of an answer: site and answer id.
func AnswerDocID(siteID int64, answerID string) string {
	return strconv.FormatInt(siteID, 10) + "/" + answerID
}

// Tally accumulates the counts of a set of answers.
type Tally struct {
	Answers                         int64
	Ratings                         [5]int64
	Detractors, Passives, Promoters int64
}

// Add counts one answer's rating (0 none, else 1–5) and NPS score (nil
// none).
func (t *Tally) Add(rating int32, nps *int32) {
	t.Answers++
	if rating >= 1 && rating <= 5 {
		t.Ratings[rating-1]++
	}
	if nps != nil {
		switch NpsGroupOf(*nps) {
		case searchv1.NpsGroup_NPS_GROUP_PROMOTER:
			t.Promoters++
		case searchv1.NpsGroup_NPS_GROUP_PASSIVE:
			t.Passives++
		default:
			t.Detractors++
		}
	}
}

// Counts renders the tally. The NPS is promoters minus detractors in % of
// the answers with a score, rounded to one decimal; the mean rating is
// rounded to two decimals. Both are computed from the counts alone, so
// every backend derives the same numbers.
func (t Tally) Counts() *searchv1.AnswerCounts {
	c := &searchv1.AnswerCounts{Answers: t.Answers, RatingCounts: t.Ratings[:],
		Detractors: t.Detractors, Passives: t.Passives, Promoters: t.Promoters}
	c.RatingCounts = slices.Clone(c.RatingCounts)
	if n := t.Detractors + t.Passives + t.Promoters; n > 0 {
		v := math.Round(float64(t.Promoters-t.Detractors)*1000/float64(n)) / 10
		c.Nps = &v
	}
	var rated, sum int64
	for i, n := range t.Ratings {
		rated += n
		sum += int64(i+1) * n
	}
	if rated > 0 {
		v := math.Round(float64(sum)*100/float64(rated)) / 100
		c.MeanRating = &v
	}
	return c
}

// AutoInterval picks the interval of a range: days up to AutoDayLimit,
// weeks beyond.
func AutoInterval(start, end time.Time) searchv1.StatsInterval {
	if end.Sub(start) <= AutoDayLimit {
		return searchv1.StatsInterval_STATS_INTERVAL_DAY
	}
	return searchv1.StatsInterval_STATS_INTERVAL_WEEK
}

// BucketStart is the start of the bucket holding t: local midnight of its
// day, of the Monday of its week (ISO weeks, as Elasticsearch's calendar
// interval), or of the first of its month.
func BucketStart(t time.Time, iv searchv1.StatsInterval, loc *time.Location) time.Time {
	t = t.In(loc)
	y, m, d := t.Date()
	switch iv {
	case searchv1.StatsInterval_STATS_INTERVAL_WEEK:
		back := (int(t.Weekday()) + 6) % 7
		return time.Date(y, m, d-back, 0, 0, 0, 0, loc)
	case searchv1.StatsInterval_STATS_INTERVAL_MONTH:
		return time.Date(y, m, 1, 0, 0, 0, 0, loc)
	default:
		return time.Date(y, m, d, 0, 0, 0, 0, loc)
	}
}

// NextBucket is the start of the bucket after the one starting at b.
func NextBucket(b time.Time, iv searchv1.StatsInterval, loc *time.Location) time.Time {
	b = b.In(loc)
	y, m, d := b.Date()
	switch iv {
	case searchv1.StatsInterval_STATS_INTERVAL_WEEK:
		return time.Date(y, m, d+7, 0, 0, 0, 0, loc)
	case searchv1.StatsInterval_STATS_INTERVAL_MONTH:
		return time.Date(y, m+1, 1, 0, 0, 0, 0, loc)
	default:
		return time.Date(y, m, d+1, 0, 0, 0, 0, loc)
	}
}

// Buckets lists the starts of the buckets from the one holding first to
// the one holding last (inclusive), or fails with ErrTooManyBuckets.
func Buckets(first, last time.Time, iv searchv1.StatsInterval, loc *time.Location) ([]time.Time, error) {
	if last.Before(first) {
		return nil, nil
	}
	var out []time.Time
	end := BucketStart(last, iv, loc)
	for b := BucketStart(first, iv, loc); !b.After(end); b = NextBucket(b, iv, loc) {
		if len(out) == MaxBuckets {
			return nil, ErrTooManyBuckets
		}
		out = append(out, b)
	}
	return out, nil
}

// SeriesRange resolves the series' first and last instants and interval:
// the filter's bounds where set (the end is exclusive), else the earliest
// and latest matches (ok false when there is neither a bound nor a
// match).
func SeriesRange(f *searchv1.AnswerFilter, iv searchv1.StatsInterval, earliest, latest time.Time, found bool) (first, last time.Time, interval searchv1.StatsInterval, ok bool) {
	first, last = earliest, latest
	tr := f.GetTime()
	if tr.GetStart() != nil {
		first = tr.GetStart().AsTime()
	}
	if tr.GetEnd() != nil {
		last = tr.GetEnd().AsTime().Add(-time.Nanosecond)
	}
	if !found && (tr.GetStart() == nil || tr.GetEnd() == nil) {
		if iv == searchv1.StatsInterval_STATS_INTERVAL_UNSPECIFIED {
			iv = searchv1.StatsInterval_STATS_INTERVAL_DAY
		}
		return time.Time{}, time.Time{}, iv, false
	}
	if iv == searchv1.StatsInterval_STATS_INTERVAL_UNSPECIFIED {
		iv = AutoInterval(first, last)
	}
	return first, last, iv, true
}

// TopSurveys are the surveys of the stats (answers counted per survey id),
// the most answered first (ties by id), at most MaxStatsSurveys.
func TopSurveys(per map[int64]int64) []*searchv1.SurveyCount {
	var out []*searchv1.SurveyCount
	for _, id := range Top(per, MaxStatsSurveys) {
		out = append(out, &searchv1.SurveyCount{SurveyId: id, Answers: per[id]})
	}
	return out
}

// Top ranks the keys of counts by count, highest first (ties by key), and
// keeps at most n: the order of facets and per-survey counts.
func Top[K cmp.Ordered](counts map[K]int64, n int) []K {
	keys := slices.Collect(maps.Keys(counts))
	slices.SortFunc(keys, func(a, b K) int {
		if c := cmp.Compare(counts[b], counts[a]); c != 0 {
			return c
		}
		return cmp.Compare(a, b)
	})
	return keys[:min(len(keys), n)]
}
