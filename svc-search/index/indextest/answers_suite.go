package indextest

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	searchv1 "github.com/sightlinehq/sightline/gen/sightline/search/v1"
	sessionsv1 "github.com/sightlinehq/sightline/gen/sightline/sessions/v1"
	"github.com/sightlinehq/sightline/svc-search/index"
)

// RunAnswers runs the conformance suite of index.AnswerIndex; newIndex
// returns a fresh, empty index that the suite closes.
func RunAnswers(t *testing.T, newIndex func(t *testing.T) index.AnswerIndex) {
	open := closing(newIndex)
	t.Run("RoundTrip", func(t *testing.T) { testAnswerRoundTrip(t, open(t)) })
	t.Run("Filters", func(t *testing.T) { testAnswerFilters(t, open(t)) })
	t.Run("Stats", func(t *testing.T) { testAnswerStats(t, open(t)) })
	t.Run("IdempotentUpsert", func(t *testing.T) { testAnswerIdempotent(t, open(t)) })
	t.Run("Deletes", func(t *testing.T) { testAnswerDeletes(t, open(t)) })
	t.Run("SiteIsolation", func(t *testing.T) { testAnswerIsolation(t, open(t)) })
}

func loadAnswers(t *testing.T, ix index.AnswerIndex) (a, b []*sessionsv1.Answer) {
	t.Helper()
	a = GenerateAnswers(1, SiteA, "a", 400)
	b = GenerateAnswers(2, SiteB, "b", 100)
	upsertAnswers(t, ix, append(slices.Clone(a), b...))
	return a, b
}

func upsertAnswers(t *testing.T, ix index.AnswerIndex, as []*sessionsv1.Answer) {
	t.Helper()
	n, err := ix.UpsertAnswers(context.Background(), as)
	if err != nil {
		t.Fatalf("upsert answers: %v", err)
	}
	if n != len(as) {
		t.Fatalf("upserted %d of %d answers", n, len(as))
	}
}

// allAnswers pages through a query, checking page invariants.
func allAnswers(t *testing.T, ix index.AnswerIndex, q index.AnswerQuery) []*sessionsv1.Answer {
	t.Helper()
	return pageAll(t, fmt.Sprintf("search answers %v", q.Filter), "answer", q.SiteID, q.Limit, q.After,
		func(c *index.AnswerCursor) ([]*sessionsv1.Answer, int64, *index.AnswerCursor, error) {
			q.After = c
			res, err := ix.SearchAnswers(context.Background(), q)
			if err != nil {
				return nil, 0, nil, err
			}
			return res.Answers, res.Total, res.Next, nil
		}, (*sessionsv1.Answer).GetId)
}

func answerIDs(as []*sessionsv1.Answer) []string {
	out := make([]string, len(as))
	for i, a := range as {
		out[i] = a.GetId()
	}
	return out
}

func checkAnswers(t *testing.T, ix index.AnswerIndex, docs []*sessionsv1.Answer, name string, f *searchv1.AnswerFilter, asc bool, limit int) {
	t.Helper()
	want := SortedAnswers(docs, f, asc)
	got := allAnswers(t, ix, index.AnswerQuery{SiteID: SiteA, Filter: f, Ascending: asc, Limit: limit})
	if !slices.Equal(answerIDs(got), answerIDs(want)) {
		t.Fatalf("%s: got %d answers %v\nwant %d answers %v", name, len(got), head(answerIDs(got)), len(want), head(answerIDs(want)))
	}
}

func checkStats(t *testing.T, ix index.AnswerIndex, docs []*sessionsv1.Answer, name string, q index.StatsQuery) {
	t.Helper()
	want, werr := AnswerStats(docs, q)
	got, err := ix.AnswerStats(context.Background(), q)
	if werr != nil {
		if !errors.Is(err, index.ErrTooManyBuckets) {
			t.Fatalf("%s: stats error %v, want %v", name, err, werr)
		}
		return
	}
	if err != nil {
		t.Fatalf("%s: stats: %v", name, err)
	}
	if !proto.Equal(got, want) {
		t.Fatalf("%s: stats differ\n got %v\nwant %v", name, got, want)
	}
}

func testAnswerRoundTrip(t *testing.T, ix index.AnswerIndex) {
	a, _ := loadAnswers(t, ix)
	got := allAnswers(t, ix, index.AnswerQuery{SiteID: SiteA, Limit: 70})
	byID := map[string]*sessionsv1.Answer{}
	for _, x := range a {
		byID[x.GetId()] = x
	}
	if len(got) != len(a) {
		t.Fatalf("got %d answers, want %d", len(got), len(a))
	}
	for _, x := range got {
		if !proto.Equal(x, byID[x.GetId()]) {
			t.Fatalf("answer %s did not round-trip:\n got %v\nwant %v", x.GetId(), x, byID[x.GetId()])
		}
	}
	if err := ix.Ready(context.Background()); err != nil {
		t.Fatalf("ready: %v", err)
	}
}

// answerFilters names one filter per condition.
func answerFilters(a []*sessionsv1.Answer) map[string]*searchv1.AnswerFilter {
	day := 24 * time.Hour
	mid := a[17].GetClientTime()
	return map[string]*searchv1.AnswerFilter{
		"time_range":       {Time: &searchv1.TimeRange{Start: at(3 * day), End: at(10 * day)}},
		"time_from":        {Time: &searchv1.TimeRange{Start: at(20 * day)}},
		"time_until":       {Time: &searchv1.TimeRange{End: at(5 * day)}},
		"time_half_open":   {Time: &searchv1.TimeRange{Start: mid, End: timestamppb.New(mid.AsTime().Add(time.Millisecond))}},
		"time_end_exclude": {Time: &searchv1.TimeRange{End: mid}},
		"feedback":         {Kind: sessionsv1.AnswerKind_ANSWER_KIND_FEEDBACK},
		"survey":           {Kind: sessionsv1.AnswerKind_ANSWER_KIND_SURVEY},
		"one_survey":       {SurveyIds: []int64{SurveyIDs[1]}},
		"two_surveys":      {SurveyIds: []int64{SurveyIDs[0], SurveyIDs[2]}},
		"no_such_survey":   {SurveyIds: []int64{42}},
		"rating_max2":      {Rating: &searchv1.IntRange{Max: 2}},
		"rating_min4":      {Rating: &searchv1.IntRange{Min: 4}},
		"rating_3":         {Rating: &searchv1.IntRange{Min: 3, Max: 3}},
		"rating_any":       {Rating: &searchv1.IntRange{Min: 1}},
		"detractors":       {NpsGroups: []searchv1.NpsGroup{searchv1.NpsGroup_NPS_GROUP_DETRACTOR}},
		"passive_promoter": {NpsGroups: []searchv1.NpsGroup{searchv1.NpsGroup_NPS_GROUP_PASSIVE, searchv1.NpsGroup_NPS_GROUP_PROMOTER}},
		"page_path":        {Page: &searchv1.UrlMatch{Operator: searchv1.UrlMatch_OPERATOR_EQUALS, Value: "/pricing"}},
		"page_url_equals":  {Page: &searchv1.UrlMatch{Operator: searchv1.UrlMatch_OPERATOR_EQUALS, Value: "https://shop.example.com/checkout?utm_source=x"}},
		"page_prefix":      {Page: &searchv1.UrlMatch{Operator: searchv1.UrlMatch_OPERATOR_PREFIX, Value: "/pricing"}},
		"page_contains":    {Page: &searchv1.UrlMatch{Operator: searchv1.UrlMatch_OPERATOR_CONTAINS, Value: "?ref="}},
		"page_pattern":     {Page: pattern("https://www.example.com/*")},
		"page_pattern_q":   {Page: pattern("/pricing?*")},
		"mobile":           {DeviceTypes: []sessionsv1.DeviceType{sessionsv1.DeviceType_DEVICE_TYPE_MOBILE}},
		"desktop_tablet":   {DeviceTypes: []sessionsv1.DeviceType{sessionsv1.DeviceType_DEVICE_TYPE_DESKTOP, sessionsv1.DeviceType_DEVICE_TYPE_TABLET}},
		"has_text":         {HasText: tp(true)},
		"no_text":          {HasText: tp(false)},
		"session":          {SessionId: a[3].GetSessionId()},
		"visitor":          {VisitorId: a[5].GetVisitorId()},
		"no_such_visitor":  {VisitorId: "nobody"},
		"empty":            {},
	}
}

func testAnswerFilters(t *testing.T, ix index.AnswerIndex) {
	a, _ := loadAnswers(t, ix)
	singles := answerFilters(a)
	for name, f := range singles {
		checkAnswers(t, ix, a, name, f, false, 60)
		if !slices.Contains([]string{"no_such_survey", "no_such_visitor", "page_pattern_q"}, name) && len(SortedAnswers(a, f, false)) == 0 {
			t.Fatalf("generated answers leave filter %s empty", name)
		}
	}
	names := make([]string, 0, len(singles))
	for n := range singles {
		names = append(names, n)
	}
	slices.Sort(names)
	rng := rand.New(rand.NewPCG(21, 21))
	nonEmpty := 0
	for i := range 80 {
		f := &searchv1.AnswerFilter{}
		for range 2 + rng.IntN(2) {
			proto.Merge(f, singles[names[rng.IntN(len(names))]])
		}
		if len(SortedAnswers(a, f, false)) > 0 {
			nonEmpty++
		}
		checkAnswers(t, ix, a, fmt.Sprintf("combo %d %v", i, f), f, rng.IntN(2) == 0, 1+rng.IntN(40))
		if i%4 == 0 {
			checkStats(t, ix, a, fmt.Sprintf("combo %d stats %v", i, f), index.StatsQuery{SiteID: SiteA, Filter: f})
		}
	}
	if nonEmpty < 20 {
		t.Fatalf("only %d of 80 combined filters select anything", nonEmpty)
	}
}

func testAnswerStats(t *testing.T, ix index.AnswerIndex) {
	a, _ := loadAnswers(t, ix)
	day := 24 * time.Hour
	zones := []string{"UTC", "Europe/Berlin", "America/New_York", "Asia/Kolkata", "Pacific/Chatham"}
	var locs []*time.Location
	for _, z := range zones {
		loc, err := time.LoadLocation(z)
		if err != nil {
			t.Fatalf("time zone %s: %v", z, err)
		}
		locs = append(locs, loc)
	}
	filters := []*searchv1.AnswerFilter{
		nil,
		{Time: &searchv1.TimeRange{Start: at(2*day + 5*time.Hour), End: at(19 * day)}},
		{Time: &searchv1.TimeRange{Start: at(-40 * day), End: at(70 * day)}}, // empty buckets on both sides
		{Time: &searchv1.TimeRange{Start: at(-200 * day), End: at(day)}},     // longer than 92 days: weeks
		{Kind: sessionsv1.AnswerKind_ANSWER_KIND_SURVEY, NpsGroups: []searchv1.NpsGroup{searchv1.NpsGroup_NPS_GROUP_PROMOTER, searchv1.NpsGroup_NPS_GROUP_DETRACTOR}},
		{Rating: &searchv1.IntRange{Max: 2}, DeviceTypes: []sessionsv1.DeviceType{sessionsv1.DeviceType_DEVICE_TYPE_MOBILE}},
		{VisitorId: "nobody"},
		{VisitorId: "nobody", Time: &searchv1.TimeRange{Start: at(0), End: at(3 * day)}},
	}
	for i, f := range filters {
		for j, loc := range locs {
			for _, iv := range []searchv1.StatsInterval{0, 1, 2, 3} {
				checkStats(t, ix, a, fmt.Sprintf("filter %d zone %s interval %v", i, zones[j], iv),
					index.StatsQuery{SiteID: SiteA, Filter: f, Interval: iv, Location: loc})
			}
		}
	}
	// The reference must itself see NPS, ratings and every bucket, or
	// agreeing with it proves little.
	ref, err := AnswerStats(a, index.StatsQuery{SiteID: SiteA, Filter: filters[2]})
	if err != nil {
		t.Fatal(err)
	}
	if ref.Interval != searchv1.StatsInterval_STATS_INTERVAL_WEEK || len(ref.Series) < 15 || ref.Total.Nps == nil || ref.Total.MeanRating == nil || len(ref.Surveys) != len(SurveyIDs) {
		t.Fatalf("reference stats too thin: %v", ref)
	}
	ref, _ = AnswerStats(a, index.StatsQuery{SiteID: SiteA, Filter: filters[1]})
	if ref.Interval != searchv1.StatsInterval_STATS_INTERVAL_DAY || len(ref.Series) != 17 || ref.Series[0].Counts.Answers == 0 {
		t.Fatalf("reference daily stats: %d buckets, interval %v", len(ref.Series), ref.Interval)
	}
	// Beyond MaxBuckets the series is refused.
	_, err = ix.AnswerStats(context.Background(), index.StatsQuery{SiteID: SiteA, Interval: searchv1.StatsInterval_STATS_INTERVAL_DAY,
		Filter: &searchv1.AnswerFilter{Time: &searchv1.TimeRange{Start: at(-1001 * day), End: at(day)}}})
	if !errors.Is(err, index.ErrTooManyBuckets) {
		t.Fatalf("1002 daily buckets: %v, want ErrTooManyBuckets", err)
	}
}

func testAnswerIdempotent(t *testing.T, ix index.AnswerIndex) {
	a, _ := loadAnswers(t, ix)
	before := allAnswers(t, ix, index.AnswerQuery{SiteID: SiteA, Limit: 150})
	upsertAnswers(t, ix, a)
	upsertAnswers(t, ix, append(slices.Clone(a[:30]), a[:30]...))
	after := allAnswers(t, ix, index.AnswerQuery{SiteID: SiteA, Limit: 150})
	if len(after) != len(before) {
		t.Fatalf("re-upserting changed the count: %d then %d", len(before), len(after))
	}
	for i := range before {
		if !proto.Equal(before[i], after[i]) {
			t.Fatalf("re-upserting changed %s", before[i].GetId())
		}
	}
	checkStats(t, ix, a, "stats after re-upserts", index.StatsQuery{SiteID: SiteA})
}

func testAnswerDeletes(t *testing.T, ix index.AnswerIndex) {
	ctx := context.Background()
	a, b := loadAnswers(t, ix)
	remaining := slices.Clone(a)
	drop := func(pred func(*sessionsv1.Answer) bool) int64 {
		n := len(remaining)
		remaining = slices.DeleteFunc(remaining, pred)
		return int64(n - len(remaining))
	}
	check := func(step string, n int64, err error, want int64) {
		t.Helper()
		if err != nil || n != want {
			t.Fatalf("%s: deleted %d, %v; want %d", step, n, err, want)
		}
		got := allAnswers(t, ix, index.AnswerQuery{SiteID: SiteA, Limit: 200})
		if !slices.Equal(answerIDs(got), answerIDs(SortedAnswers(remaining, nil, false))) {
			t.Fatalf("after %s: %d answers, want %d", step, len(got), len(remaining))
		}
		res, err := ix.SearchAnswers(ctx, index.AnswerQuery{SiteID: SiteB, Limit: 1})
		if err != nil || res.Total != int64(len(b)) {
			t.Fatalf("after %s on site A, site B has %v answers (%v), want %d", step, res, err, len(b))
		}
		checkStats(t, ix, remaining, "stats after "+step, index.StatsQuery{SiteID: SiteA})
	}
	del := []string{a[0].GetId(), a[1].GetId(), "a_no-such", b[0].GetId()}
	n, err := ix.DeleteAnswers(ctx, SiteA, index.AnswerSelector{AnswerIDs: del})
	check("delete by ids", n, err, drop(func(x *sessionsv1.Answer) bool { return slices.Contains(del, x.GetId()) }))

	visitor := remaining[3].GetVisitorId()
	n, err = ix.DeleteAnswers(ctx, SiteA, index.AnswerSelector{VisitorID: visitor})
	want := drop(func(x *sessionsv1.Answer) bool { return x.GetVisitorId() == visitor })
	if want == 0 {
		t.Fatal("visitor has no answers")
	}
	check("delete by visitor", n, err, want)

	session := remaining[7].GetSessionId()
	n, err = ix.DeleteAnswers(ctx, SiteA, index.AnswerSelector{SessionID: session})
	want = drop(func(x *sessionsv1.Answer) bool { return x.GetSessionId() == session })
	if want == 0 {
		t.Fatal("session has no answers")
	}
	check("delete by session", n, err, want)

	cut := Base.Add(6 * 24 * time.Hour)
	n, err = ix.DeleteAnswers(ctx, SiteA, index.AnswerSelector{GivenBefore: cut})
	want = drop(func(x *sessionsv1.Answer) bool { return x.GetClientTime().AsTime().Before(cut) })
	if want == 0 {
		t.Fatal("no answers before the cut")
	}
	check("delete by age", n, err, want)

	if _, err := ix.DeleteAnswers(ctx, SiteA, index.AnswerSelector{}); err == nil {
		t.Fatal("delete with no selector succeeded")
	}
	if _, err := ix.DeleteAnswers(ctx, SiteA, index.AnswerSelector{WholeSite: true, SessionID: "x"}); err == nil {
		t.Fatal("delete with two selectors succeeded")
	}
	n, err = ix.DeleteAnswers(ctx, SiteA, index.AnswerSelector{WholeSite: true})
	check("delete whole site", n, err, drop(func(*sessionsv1.Answer) bool { return true }))

	// A deleted answer can be indexed again (a re-delivery after a reindex).
	upsertAnswers(t, ix, a[:1])
	remaining = a[:1]
	check("re-upsert", 0, nil, 0)
}

func testAnswerIsolation(t *testing.T, ix index.AnswerIndex) {
	ctx := context.Background()
	a, b := loadAnswers(t, ix)
	// The same answer id in both sites is two documents.
	twin := proto.Clone(a[0]).(*sessionsv1.Answer)
	twin.SiteId = SiteB
	twin.Comment = "only in b"
	upsertAnswers(t, ix, []*sessionsv1.Answer{twin})
	b = append(b, twin)
	for _, f := range []*searchv1.AnswerFilter{
		nil,
		{VisitorId: b[0].GetVisitorId()},
		{SessionId: b[1].GetSessionId()},
		{Page: &searchv1.UrlMatch{Operator: searchv1.UrlMatch_OPERATOR_PREFIX, Value: "https://"}},
	} {
		checkAnswers(t, ix, a, fmt.Sprintf("site A under %v", f), f, false, 100)
		checkStats(t, ix, a, fmt.Sprintf("site A stats under %v", f), index.StatsQuery{SiteID: SiteA, Filter: f})
	}
	got := allAnswers(t, ix, index.AnswerQuery{SiteID: SiteA, Filter: &searchv1.AnswerFilter{SessionId: a[0].GetSessionId()}, Limit: 50})
	for _, x := range got {
		if x.GetId() == a[0].GetId() && x.GetComment() == "only in b" {
			t.Fatal("site B's twin overwrote site A's answer")
		}
	}
	res, err := ix.SearchAnswers(ctx, index.AnswerQuery{SiteID: 3_000_000_999, Limit: 10})
	if err != nil || res.Total != 0 || len(res.Answers) != 0 {
		t.Fatalf("empty site: %v, %v", res, err)
	}
	if n, err := ix.DeleteAnswers(ctx, SiteA, index.AnswerSelector{AnswerIDs: []string{twin.GetId()}}); err != nil || n != 1 {
		t.Fatalf("delete site A's twin: %d, %v", n, err)
	}
	res, err = ix.SearchAnswers(ctx, index.AnswerQuery{SiteID: SiteB, Limit: 200})
	if err != nil || res.Total != int64(len(b)) {
		t.Fatalf("deleting site A's answer touched site B: %v, %v", res, err)
	}
}
