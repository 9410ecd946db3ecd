package search

import (
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	searchv1 "github.com/sightlinehq/sightline/gen/sightline/search/v1"
	sessionsv1 "github.com/sightlinehq/sightline/gen/sightline/sessions/v1"
	"github.com/sightlinehq/sightline/siteaccess/siteaccesstest"
	"github.com/sightlinehq/sightline/svc-search/index"
	"github.com/sightlinehq/sightline/svc-search/index/indextest"
)

func loadAnswersRPC(t *testing.T, c searchClient, n int) (a, b []*sessionsv1.Answer) {
	t.Helper()
	a = indextest.GenerateAnswers(1, siteA, "a", n)
	b = indextest.GenerateAnswers(2, siteB, "b", 50)
	upsertAnswers(t, c, append(slices.Clone(a), b...), 400)
	return a, b
}

func ansIDs(as []*sessionsv1.Answer) []string { return idsOf(as, (*sessionsv1.Answer).GetId) }

func TestAnswersOverGRPC(t *testing.T) {
	c, _ := serve(t, testConfig(t), Deps{Authorizer: siteaccesstest.AllowAll{}})
	a, _ := loadAnswersRPC(t, c, 1100)
	ctx := t.Context()
	filter := &searchv1.AnswerFilter{
		Rating:      &searchv1.IntRange{Max: 3},
		DeviceTypes: []sessionsv1.DeviceType{sessionsv1.DeviceType_DEVICE_TYPE_MOBILE, sessionsv1.DeviceType_DEVICE_TYPE_DESKTOP},
	}
	for _, asc := range []bool{false, true} {
		want := indextest.SortedAnswers(a, filter, asc)
		if len(want) < 30 {
			t.Fatalf("test filter too narrow: %d", len(want))
		}
		var got []*sessionsv1.Answer
		req := &searchv1.SearchAnswersRequest{SiteId: siteA, Filter: filter, Ascending: asc, PageSize: 9}
		for {
			res, err := c.SearchAnswers(ctx, req)
			if err != nil {
				t.Fatal(err)
			}
			if res.Total != int64(len(want)) {
				t.Fatalf("total %d want %d", res.Total, len(want))
			}
			got = append(got, res.Answers...)
			if res.NextPageToken == "" {
				break
			}
			req.PageToken = res.NextPageToken
		}
		if !slices.Equal(ansIDs(got), ansIDs(want)) {
			t.Fatalf("asc=%v: paged answers differ from the reference:\n got %v\nwant %v", asc, ansIDs(got), ansIDs(want))
		}
		for i := range got {
			if !proto.Equal(got[i], want[i]) {
				t.Fatalf("answer %s did not round-trip", got[i].GetId())
			}
		}
	}
	// Default page size; a huge one is capped at 1,000.
	res, err := c.SearchAnswers(ctx, &searchv1.SearchAnswersRequest{SiteId: siteA})
	if err != nil || len(res.Answers) != 50 || res.Total != int64(len(a)) {
		t.Fatalf("default page: %d answers, total %d, %v", len(res.GetAnswers()), res.GetTotal(), err)
	}
	res, err = c.SearchAnswers(ctx, &searchv1.SearchAnswersRequest{SiteId: siteA, PageSize: 1 << 30})
	if err != nil || len(res.Answers) != 1000 || res.NextPageToken == "" {
		t.Fatalf("huge page: %d answers, %v; want 1000 and a next page", len(res.GetAnswers()), err)
	}

	berlin, _ := time.LoadLocation("Europe/Berlin")
	for _, req := range []*searchv1.GetAnswerStatsRequest{
		{SiteId: siteA},
		{SiteId: siteA, TimeZone: "Europe/Berlin", Interval: searchv1.StatsInterval_STATS_INTERVAL_WEEK, Filter: &searchv1.AnswerFilter{
			Kind: sessionsv1.AnswerKind_ANSWER_KIND_SURVEY,
			Time: &searchv1.TimeRange{Start: timestamppb.New(indextest.Base.Add(-24 * time.Hour)), End: timestamppb.New(indextest.Base.Add(20 * 24 * time.Hour))},
		}},
		{SiteId: siteA, TimeZone: "America/New_York", Filter: filter},
	} {
		got, err := c.GetAnswerStats(ctx, req)
		if err != nil {
			t.Fatalf("stats %v: %v", req, err)
		}
		loc := time.UTC
		switch req.TimeZone {
		case "Europe/Berlin":
			loc = berlin
		case "America/New_York":
			loc, _ = time.LoadLocation(req.TimeZone)
		}
		want, err := indextest.AnswerStats(a, index.StatsQuery{SiteID: siteA, Filter: req.Filter, Interval: req.Interval, Location: loc})
		if err != nil {
			t.Fatal(err)
		}
		if !proto.Equal(got, want) {
			t.Fatalf("stats %v:\n got %v\nwant %v", req, got, want)
		}
		if len(got.Series) == 0 || got.Total.Answers == 0 {
			t.Fatalf("stats %v are empty", req)
		}
	}
}

func TestAnswersDeleteOverGRPC(t *testing.T) {
	c, _ := serve(t, testConfig(t), Deps{Authorizer: siteaccesstest.AllowAll{}})
	a, b := loadAnswersRPC(t, c, 300)
	ctx := t.Context()
	total := func(site int64) int64 {
		r, err := c.SearchAnswers(ctx, &searchv1.SearchAnswersRequest{SiteId: site, PageSize: 1})
		if err != nil {
			t.Fatal(err)
		}
		return r.Total
	}
	for _, req := range []*searchv1.DeleteAnswersRequest{
		{SiteId: siteA, Selector: &searchv1.DeleteAnswersRequest_AnswerIds{AnswerIds: &searchv1.AnswerIds{Ids: []string{a[0].Id, b[0].Id}}}},
		{SiteId: siteA, Selector: &searchv1.DeleteAnswersRequest_SessionId{SessionId: a[10].SessionId}},
		{SiteId: siteA, Selector: &searchv1.DeleteAnswersRequest_VisitorId{VisitorId: a[20].VisitorId}},
		{SiteId: siteA, Selector: &searchv1.DeleteAnswersRequest_GivenBefore{GivenBefore: timestamppb.New(indextest.Base.Add(3 * 24 * time.Hour))}},
		{SiteId: siteA, Selector: &searchv1.DeleteAnswersRequest_WholeSite{WholeSite: true}},
	} {
		res, err := c.DeleteAnswers(ctx, req)
		if err != nil || res.Deleted == 0 {
			t.Fatalf("delete %v: %v, %v", req, res, err)
		}
	}
	if total(siteA) != 0 || total(siteB) != int64(len(b)) {
		t.Fatalf("after deleting site A: A has %d, B has %d (want 0, %d)", total(siteA), total(siteB), len(b))
	}
	for _, bad := range []*searchv1.DeleteAnswersRequest{
		{SiteId: siteA},
		{SiteId: 0, Selector: &searchv1.DeleteAnswersRequest_WholeSite{WholeSite: true}},
		{SiteId: siteA, Selector: &searchv1.DeleteAnswersRequest_WholeSite{}},
		{SiteId: siteA, Selector: &searchv1.DeleteAnswersRequest_VisitorId{}},
		{SiteId: siteA, Selector: &searchv1.DeleteAnswersRequest_SessionId{SessionId: strings.Repeat("s", 513)}},
		{SiteId: siteA, Selector: &searchv1.DeleteAnswersRequest_AnswerIds{AnswerIds: &searchv1.AnswerIds{}}},
		{SiteId: siteA, Selector: &searchv1.DeleteAnswersRequest_AnswerIds{AnswerIds: &searchv1.AnswerIds{Ids: make([]string, 1001)}}},
		{SiteId: siteA, Selector: &searchv1.DeleteAnswersRequest_GivenBefore{GivenBefore: &timestamppb.Timestamp{Seconds: -1e12}}},
	} {
		if _, err := c.DeleteAnswers(ctx, bad); status.Code(err) != codes.InvalidArgument {
			t.Errorf("delete %v: %v, want InvalidArgument", bad, err)
		}
	}
}

func TestAnswersUpsertValidation(t *testing.T) {
	cfg := testConfig(t)
	cfg.MaxUpsertBatch = 10
	c, _ := serve(t, cfg, Deps{Authorizer: siteaccesstest.AllowAll{}})
	ctx := t.Context()
	docs := indextest.GenerateAnswers(3, siteA, "u", 11)
	if _, err := c.UpsertAnswers(ctx, &searchv1.UpsertAnswersRequest{Answers: docs}); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("oversized batch: %v", err)
	}
	bad := func(mut func(a *sessionsv1.Answer)) *sessionsv1.Answer {
		a := proto.Clone(docs[0]).(*sessionsv1.Answer)
		mut(a)
		return a
	}
	eleven := int32(11)
	for i, a := range []*sessionsv1.Answer{
		bad(func(a *sessionsv1.Answer) { a.SiteId = 0 }),
		bad(func(a *sessionsv1.Answer) { a.Id = "" }),
		bad(func(a *sessionsv1.Answer) { a.Id = strings.Repeat("x", 513) }),
		bad(func(a *sessionsv1.Answer) { a.ClientTime = nil }),
		bad(func(a *sessionsv1.Answer) { a.ClientTime = &timestamppb.Timestamp{Seconds: -5} }),
		bad(func(a *sessionsv1.Answer) { a.Kind = 0 }),
		bad(func(a *sessionsv1.Answer) { a.Kind = 7 }),
		bad(func(a *sessionsv1.Answer) { a.Kind, a.SurveyId = sessionsv1.AnswerKind_ANSWER_KIND_SURVEY, 0 }),
		bad(func(a *sessionsv1.Answer) { a.Rating = 6 }),
		bad(func(a *sessionsv1.Answer) { a.Nps = &eleven }),
		bad(func(a *sessionsv1.Answer) { a.Url = strings.Repeat("u", 9000) }),
		bad(func(a *sessionsv1.Answer) { a.Comment = strings.Repeat("c", 8001) }),
		bad(func(a *sessionsv1.Answer) { a.Selector = strings.Repeat("div>", 60) }),
		bad(func(a *sessionsv1.Answer) { a.Answers = make([]*sessionsv1.QuestionAnswer, 101) }),
		bad(func(a *sessionsv1.Answer) { a.Client = &sessionsv1.Client{DeviceType: 99} }),
	} {
		_, err := c.UpsertAnswers(ctx, &searchv1.UpsertAnswersRequest{Answers: []*sessionsv1.Answer{docs[1], a}})
		if status.Code(err) != codes.InvalidArgument || !strings.Contains(status.Convert(err).Message(), "answers[1]") {
			t.Errorf("bad answer %d: %v, want InvalidArgument naming answers[1]", i, err)
		}
	}
	if res, err := c.UpsertAnswers(ctx, &searchv1.UpsertAnswersRequest{Answers: docs[:10]}); err != nil || res.Upserted != 10 {
		t.Fatalf("upsert: %v, %v", res, err)
	}
}

// TestAnswersHostileQueries sends what an attacker or a buggy client would.
func TestAnswersHostileQueries(t *testing.T) {
	c, _ := serve(t, testConfig(t), Deps{Authorizer: siteaccesstest.AllowAll{}})
	loadAnswersRPC(t, c, 200)
	loadRPC(t, c)
	ctx := t.Context()
	first, err := c.SearchAnswers(ctx, &searchv1.SearchAnswersRequest{SiteId: siteA, PageSize: 5})
	if err != nil || first.NextPageToken == "" {
		t.Fatalf("first page: %v", err)
	}
	sessionsPage, err := c.SearchSessions(ctx, &searchv1.SearchSessionsRequest{SiteId: siteA, PageSize: 5})
	if err != nil || sessionsPage.NextPageToken == "" {
		t.Fatalf("sessions page: %v", err)
	}
	f := func(mut func(*searchv1.AnswerFilter)) *searchv1.AnswerFilter {
		x := &searchv1.AnswerFilter{}
		mut(x)
		return x
	}
	filters := map[string]*searchv1.AnswerFilter{
		"rating 6":         f(func(x *searchv1.AnswerFilter) { x.Rating = &searchv1.IntRange{Max: 6} }),
		"rating negative":  f(func(x *searchv1.AnswerFilter) { x.Rating = &searchv1.IntRange{Min: -1} }),
		"rating inverted":  f(func(x *searchv1.AnswerFilter) { x.Rating = &searchv1.IntRange{Min: 4, Max: 2} }),
		"nps unspecified":  f(func(x *searchv1.AnswerFilter) { x.NpsGroups = []searchv1.NpsGroup{0} }),
		"nps unknown":      f(func(x *searchv1.AnswerFilter) { x.NpsGroups = []searchv1.NpsGroup{8} }),
		"kind unknown":     f(func(x *searchv1.AnswerFilter) { x.Kind = 5 }),
		"survey negative":  f(func(x *searchv1.AnswerFilter) { x.SurveyIds = []int64{-3} }),
		"too many surveys": f(func(x *searchv1.AnswerFilter) { x.SurveyIds = make([]int64, 51) }),
		"device unknown":   f(func(x *searchv1.AnswerFilter) { x.DeviceTypes = []sessionsv1.DeviceType{77} }),
		"page no operator": f(func(x *searchv1.AnswerFilter) { x.Page = &searchv1.UrlMatch{Value: "/"} }),
		"page empty": f(func(x *searchv1.AnswerFilter) {
			x.Page = &searchv1.UrlMatch{Operator: searchv1.UrlMatch_OPERATOR_PREFIX}
		}),
		"long visitor": f(func(x *searchv1.AnswerFilter) { x.VisitorId = strings.Repeat("v", 513) }),
		"inverted time": f(func(x *searchv1.AnswerFilter) {
			x.Time = &searchv1.TimeRange{Start: timestamppb.New(indextest.Base.Add(time.Hour)), End: timestamppb.New(indextest.Base)}
		}),
		"year 1": f(func(x *searchv1.AnswerFilter) {
			x.Time = &searchv1.TimeRange{Start: timestamppb.New(time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC))}
		}),
	}
	for name, filter := range filters {
		if _, err := c.SearchAnswers(ctx, &searchv1.SearchAnswersRequest{SiteId: siteA, Filter: filter}); status.Code(err) != codes.InvalidArgument {
			t.Errorf("search %s: %v, want InvalidArgument", name, err)
		}
		if _, err := c.GetAnswerStats(ctx, &searchv1.GetAnswerStatsRequest{SiteId: siteA, Filter: filter}); status.Code(err) != codes.InvalidArgument {
			t.Errorf("stats %s: %v, want InvalidArgument", name, err)
		}
	}
	for name, req := range map[string]*searchv1.SearchAnswersRequest{
		"no site":             {},
		"negative page":       {SiteId: siteA, PageSize: -1},
		"bogus token":         {SiteId: siteA, PageToken: "!!"},
		"huge token":          {SiteId: siteA, PageToken: strings.Repeat("A", 5000)},
		"sessions token":      {SiteId: siteA, PageSize: 5, PageToken: sessionsPage.NextPageToken},
		"token other site":    {SiteId: siteB, PageSize: 5, PageToken: first.NextPageToken},
		"token other order":   {SiteId: siteA, PageSize: 5, Ascending: true, PageToken: first.NextPageToken},
		"token other filter":  {SiteId: siteA, PageSize: 5, PageToken: first.NextPageToken, Filter: &searchv1.AnswerFilter{Kind: 1}},
		"token tampered time": {SiteId: siteA, PageSize: 5, PageToken: encodeAnswerToken(answerToken{queryHash: queryHash(siteA, nil), cursor: index.AnswerCursor{Time: -1, ID: "x"}})},
	} {
		if _, err := c.SearchAnswers(ctx, req); status.Code(err) != codes.InvalidArgument {
			t.Errorf("%s: %v, want InvalidArgument", name, err)
		}
	}
	// An answers token is not a sessions token either.
	if _, err := c.SearchSessions(ctx, &searchv1.SearchSessionsRequest{SiteId: siteA, PageSize: 5, PageToken: first.NextPageToken}); status.Code(err) != codes.InvalidArgument {
		t.Errorf("answers token on sessions: %v", err)
	}
	day := 24 * time.Hour
	for name, req := range map[string]*searchv1.GetAnswerStatsRequest{
		"no site":       {},
		"zone unknown":  {SiteId: siteA, TimeZone: "Mars/Olympus_Mons"},
		"zone local":    {SiteId: siteA, TimeZone: "Local"},
		"zone path":     {SiteId: siteA, TimeZone: "../../../etc/passwd"},
		"zone absolute": {SiteId: siteA, TimeZone: "/usr/share/zoneinfo/UTC"},
		"zone long":     {SiteId: siteA, TimeZone: strings.Repeat("Europe/", 20)},
		"interval":      {SiteId: siteA, Interval: 9},
		"1001 days": {SiteId: siteA, Interval: searchv1.StatsInterval_STATS_INTERVAL_DAY, Filter: &searchv1.AnswerFilter{
			Time: &searchv1.TimeRange{Start: timestamppb.New(indextest.Base), End: timestamppb.New(indextest.Base.Add(1001 * day))}}},
		"weeks since 1970": {SiteId: siteA, Filter: &searchv1.AnswerFilter{
			Time: &searchv1.TimeRange{Start: timestamppb.New(time.Unix(0, 0)), End: timestamppb.New(indextest.Base)}}},
	} {
		_, err := c.GetAnswerStats(ctx, req)
		if st := status.Convert(err); st.Code() != codes.InvalidArgument || st.Message() == "" {
			t.Errorf("stats %s: %v, want InvalidArgument with a message", name, err)
		}
	}
	// Accepted: 400 days by day, 20 years by month, a real zone.
	for _, req := range []*searchv1.GetAnswerStatsRequest{
		{SiteId: siteA, Interval: searchv1.StatsInterval_STATS_INTERVAL_DAY, TimeZone: "Asia/Kathmandu", Filter: &searchv1.AnswerFilter{
			Time: &searchv1.TimeRange{Start: timestamppb.New(indextest.Base.Add(-200 * day)), End: timestamppb.New(indextest.Base.Add(200 * day))}}},
		{SiteId: siteA, Interval: searchv1.StatsInterval_STATS_INTERVAL_MONTH, Filter: &searchv1.AnswerFilter{
			Time: &searchv1.TimeRange{Start: timestamppb.New(indextest.Base.Add(-3650 * day)), End: timestamppb.New(indextest.Base.Add(3650 * day))}}},
	} {
		res, err := c.GetAnswerStats(ctx, req)
		if err != nil || len(res.Series) < 240 || res.Total.Answers != 200 {
			t.Fatalf("stats %v: %d buckets, %v", req, len(res.GetSeries()), err)
		}
	}
	// The session filter's rating range is checked the same way.
	if _, err := c.SearchSessions(ctx, &searchv1.SearchSessionsRequest{SiteId: siteA, Filter: &searchv1.SessionFilter{FeedbackRating: &searchv1.IntRange{Max: 9}}}); status.Code(err) != codes.InvalidArgument {
		t.Errorf("sessions feedback_rating 9: %v", err)
	}
	// Literal text never matches as syntax.
	for _, v := range []string{".*", "*", "?", "' OR 1=1 --", `\`} {
		r, err := c.SearchAnswers(ctx, &searchv1.SearchAnswersRequest{SiteId: siteA, Filter: &searchv1.AnswerFilter{
			VisitorId: v, Page: &searchv1.UrlMatch{Operator: searchv1.UrlMatch_OPERATOR_CONTAINS, Value: v}}})
		if err != nil || r.Total != 0 {
			t.Fatalf("literal %q: %v, %v", v, r.GetTotal(), err)
		}
	}
}

func TestAnswersAuthorizer(t *testing.T) {
	auth := &denyAll{}
	c, _ := serve(t, testConfig(t), Deps{Authorizer: auth})
	loadAnswersRPC(t, c, 20) // internal RPC: not authorized per site
	ctx := t.Context()
	if _, err := c.SearchAnswers(ctx, &searchv1.SearchAnswersRequest{SiteId: siteA}); status.Code(err) != codes.NotFound {
		t.Fatalf("answers of a foreign site: %v, want NotFound", err)
	}
	if _, err := c.GetAnswerStats(ctx, &searchv1.GetAnswerStatsRequest{SiteId: siteB}); status.Code(err) != codes.NotFound {
		t.Fatalf("stats of a foreign site: %v, want NotFound", err)
	}
	if _, err := c.DeleteAnswers(ctx, &searchv1.DeleteAnswersRequest{SiteId: siteA, Selector: &searchv1.DeleteAnswersRequest_WholeSite{WholeSite: true}}); err != nil {
		t.Fatalf("internal delete: %v", err)
	}
	if !slices.Equal(auth.calls, []int64{siteA, siteB}) {
		t.Fatalf("authorizer calls %v", auth.calls)
	}
}
