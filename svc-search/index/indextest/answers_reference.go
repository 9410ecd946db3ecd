package indextest

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	searchv1 "github.com/sightlinehq/sightline/gen/sightline/search/v1"
	sessionsv1 "github.com/sightlinehq/sightline/gen/sightline/sessions/v1"
	"github.com/sightlinehq/sightline/svc-search/index"
)

// SurveyIDs are the generated answers' surveys (above 2^31).
var SurveyIDs = []int64{4_000_000_001, 4_000_000_002, 4_000_000_003}

// GenerateAnswers makes n deterministic, varied answers of one site: ids
// "a_<prefix>-00000" upward, client times over 30 days at millisecond
// precision (some equal, so the id tie-break matters), 40% feedback and
// 60% survey responses over SurveyIDs, ratings, NPS scores, comments and
// text answers sometimes missing, sessions and visitors shared by several
// answers.
func GenerateAnswers(seed uint64, siteID int64, prefix string, n int) []*sessionsv1.Answer {
	rng := rand.New(rand.NewPCG(seed, uint64(siteID)^0xa115))
	shapes := rand.New(rand.NewPCG(seed^0x5ba9e, uint64(siteID)^0xa115))
	pick := func(xs []string) string { return xs[rng.IntN(len(xs))] }
	out := make([]*sessionsv1.Answer, 0, n)
	var prev time.Time
	for i := range n {
		t := Base.Add(time.Duration(rng.Int64N(int64(30*24*time.Hour))) / time.Millisecond * time.Millisecond)
		if i > 0 && rng.IntN(10) == 0 {
			t = prev // the same millisecond as the previous answer
		}
		prev = t
		query := ""
		if rng.IntN(4) == 0 {
			query = fmt.Sprintf("?ref=%d", rng.IntN(3))
		}
		a := &sessionsv1.Answer{
			Id:             fmt.Sprintf("a_%s-%05d", prefix, i),
			SiteId:         siteID,
			OrganizationId: siteID + 7,
			SessionId:      fmt.Sprintf("%s-s%03d", prefix, rng.IntN(n/2+1)),
			VisitorId:      fmt.Sprintf("%s-v%03d", prefix, rng.IntN(n/4+1)),
			PageViewId:     fmt.Sprintf("pv-%d", i),
			Recorded:       rng.IntN(3) > 0,
			Url:            pageURL(shapes, pick(Hosts), pick(Paths), query),
			ClientTime:     timestamppb.New(t),
			ServerTime:     timestamppb.New(t.Add(time.Duration(rng.IntN(2000)) * time.Millisecond)),
			Client: &sessionsv1.Client{
				DeviceType: sessionsv1.DeviceType(1 + rng.IntN(3)),
				Browser:    pick(Browsers),
				Os:         pick(OSes),
			},
			ViewportWidth:  1280,
			ViewportHeight: 720,
			Language:       []string{"en", "de", "fr"}[rng.IntN(3)],
		}
		if rng.IntN(5) < 2 {
			a.Kind = sessionsv1.AnswerKind_ANSWER_KIND_FEEDBACK
			if rng.IntN(8) > 0 {
				a.Rating = int32(1 + rng.IntN(5))
			}
			if rng.IntN(2) == 0 {
				a.Comment = pick([]string{"Love it", "The checkout is broken", "too slow?", "größe fehlt", "* [x] (a+)+"})
			}
			if rng.IntN(3) == 0 {
				a.Selector = Selectors[rng.IntN(len(Selectors))]
			}
		} else {
			a.Kind = sessionsv1.AnswerKind_ANSWER_KIND_SURVEY
			a.SurveyId = SurveyIDs[rng.IntN(len(SurveyIDs))]
			if rng.IntN(2) == 0 {
				score := int32(rng.IntN(11))
				a.Nps = &score
				a.Answers = append(a.Answers, &sessionsv1.QuestionAnswer{QuestionId: 1, Score: &score})
			}
			if rng.IntN(3) == 0 {
				a.Rating = int32(1 + rng.IntN(5))
				r := a.Rating
				a.Answers = append(a.Answers, &sessionsv1.QuestionAnswer{QuestionId: 2, Score: &r})
			}
			if rng.IntN(2) == 0 {
				a.Answers = append(a.Answers, &sessionsv1.QuestionAnswer{QuestionId: 3, ChoiceIds: []int32{int32(1 + rng.IntN(4))}})
			}
			if rng.IntN(3) == 0 {
				a.Answers = append(a.Answers, &sessionsv1.QuestionAnswer{QuestionId: 4, Text: "more dark mode"})
			}
		}
		out = append(out, a)
	}
	return out
}

// MatchesAnswer is the reference semantics of an answer filter.
func MatchesAnswer(f *searchv1.AnswerFilter, a *sessionsv1.Answer) bool {
	if f == nil {
		return true
	}
	if tr := f.GetTime(); tr != nil {
		t := a.GetClientTime().AsTime()
		if tr.Start != nil && t.Before(tr.Start.AsTime()) {
			return false
		}
		if tr.End != nil && !t.Before(tr.End.AsTime()) {
			return false
		}
	}
	if f.GetKind() != sessionsv1.AnswerKind_ANSWER_KIND_UNSPECIFIED && f.GetKind() != a.GetKind() {
		return false
	}
	if len(f.GetSurveyIds()) > 0 && !slices.Contains(f.GetSurveyIds(), a.GetSurveyId()) {
		return false
	}
	if r := f.GetRating(); r != nil && (r.Min != 0 || r.Max != 0) {
		v := int64(a.GetRating())
		if v < 1 || v > 5 || v < r.Min || (r.Max != 0 && v > r.Max) {
			return false
		}
	}
	if len(f.GetNpsGroups()) > 0 {
		if a.Nps == nil {
			return false
		}
		g := searchv1.NpsGroup_NPS_GROUP_DETRACTOR
		switch s := a.GetNps(); {
		case s >= 9:
			g = searchv1.NpsGroup_NPS_GROUP_PROMOTER
		case s >= 7:
			g = searchv1.NpsGroup_NPS_GROUP_PASSIVE
		}
		if !slices.Contains(f.GetNpsGroups(), g) {
			return false
		}
	}
	if !urlIn(f.GetPage(), nonEmpty(a.GetUrl())) {
		return false
	}
	if len(f.GetDeviceTypes()) > 0 && !slices.ContainsFunc(f.GetDeviceTypes(), func(d sessionsv1.DeviceType) bool {
		return index.DeviceName(d) == index.DeviceName(a.GetClient().GetDeviceType())
	}) {
		return false
	}
	if f.HasText != nil {
		text := a.GetComment() != ""
		for _, q := range a.GetAnswers() {
			text = text || q.GetText() != ""
		}
		if *f.HasText != text {
			return false
		}
	}
	if f.GetSessionId() != "" && f.GetSessionId() != a.GetSessionId() {
		return false
	}
	if f.GetVisitorId() != "" && f.GetVisitorId() != a.GetVisitorId() {
		return false
	}
	return true
}

// SortedAnswers returns the answers of docs matching f in list order.
func SortedAnswers(docs []*sessionsv1.Answer, f *searchv1.AnswerFilter, asc bool) []*sessionsv1.Answer {
	var out []*sessionsv1.Answer
	for _, d := range docs {
		if MatchesAnswer(f, d) {
			out = append(out, d)
		}
	}
	slices.SortFunc(out, func(a, b *sessionsv1.Answer) int {
		c := a.GetClientTime().AsTime().Compare(b.GetClientTime().AsTime())
		if c == 0 {
			c = strings.Compare(a.GetId(), b.GetId())
		}
		if !asc {
			c = -c
		}
		return c
	})
	return out
}

// refCounts counts answers the plain way.
func refCounts(as []*sessionsv1.Answer) *searchv1.AnswerCounts {
	c := &searchv1.AnswerCounts{Answers: int64(len(as)), RatingCounts: make([]int64, 5)}
	var rated, sum, npsN int64
	for _, a := range as {
		if r := a.GetRating(); r >= 1 && r <= 5 {
			c.RatingCounts[r-1]++
			rated++
			sum += int64(r)
		}
		if a.Nps != nil {
			npsN++
			switch {
			case a.GetNps() <= 6:
				c.Detractors++
			case a.GetNps() <= 8:
				c.Passives++
			default:
				c.Promoters++
			}
		}
	}
	if npsN > 0 {
		v := float64(int64(float64(c.Promoters-c.Detractors)*1000/float64(npsN)+sign(c.Promoters-c.Detractors)*0.5)) / 10
		c.Nps = &v
	}
	if rated > 0 {
		v := float64(int64(float64(sum)*100/float64(rated)+0.5)) / 100
		c.MeanRating = &v
	}
	return c
}

func sign(v int64) float64 {
	if v < 0 {
		return -1
	}
	return 1
}

// AnswerStats is the reference of GetAnswerStats: the buckets are
// walked from the range's first instant one interval at a time (with
// index.BucketStart and NextBucket, checked on their own by their tests).
func AnswerStats(docs []*sessionsv1.Answer, q index.StatsQuery) (*searchv1.GetAnswerStatsResponse, error) {
	matched := SortedAnswers(docs, q.Filter, true)
	out := &searchv1.GetAnswerStatsResponse{Total: refCounts(matched)}
	var earliest, latest time.Time
	if len(matched) > 0 {
		earliest, latest = matched[0].GetClientTime().AsTime(), matched[len(matched)-1].GetClientTime().AsTime()
	}
	first, last, iv, ok := index.SeriesRange(q.Filter, q.Interval, earliest, latest, len(matched) > 0)
	out.Interval = iv
	if ok {
		loc := q.Loc()
		for b := index.BucketStart(first, iv, loc); !b.After(last); b = index.NextBucket(b, iv, loc) {
			if len(out.Series) == index.MaxBuckets {
				return nil, index.ErrTooManyBuckets
			}
			next := index.NextBucket(b, iv, loc)
			var in []*sessionsv1.Answer
			for _, a := range matched {
				if t := a.GetClientTime().AsTime(); !t.Before(b) && t.Before(next) {
					in = append(in, a)
				}
			}
			out.Series = append(out.Series, &searchv1.AnswerBucket{Start: timestamppb.New(b), Counts: refCounts(in)})
		}
	}
	per := map[int64]int64{}
	for _, a := range matched {
		if a.GetSurveyId() != 0 {
			per[a.GetSurveyId()]++
		}
	}
	out.Surveys = index.TopSurveys(per)
	return out, nil
}
