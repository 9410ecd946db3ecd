package elastic_test

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	searchv1 "github.com/sightlinehq/sightline/gen/sightline/search/v1"
	sessionsv1 "github.com/sightlinehq/sightline/gen/sightline/sessions/v1"
	"github.com/sightlinehq/sightline/svc-search/index"
	"github.com/sightlinehq/sightline/svc-search/index/elastic"
	"github.com/sightlinehq/sightline/svc-search/index/elastic/estest"
	"github.com/sightlinehq/sightline/svc-search/index/indextest"
)

// TestAnswersConformance runs the answers suite against a real
// Elasticsearch when ELASTICSEARCH_URL is set.
func TestAnswersConformance(t *testing.T) {
	addrs := estest.Addresses(t, "")
	indextest.RunAnswers(t, func(t *testing.T) index.AnswerIndex {
		ix, err := elastic.OpenAnswers(t.Context(), elastic.Config{Addresses: addrs, IndexPrefix: estest.Prefix(t, addrs, "answers"), Replicas: 0})
		if err != nil {
			t.Fatal(err)
		}
		return ix
	})
}

// everyAnswerFilter sets every condition of an AnswerFilter.
func everyAnswerFilter() *searchv1.AnswerFilter {
	yes := true
	return &searchv1.AnswerFilter{
		Time:        &searchv1.TimeRange{Start: timestamppb.New(base), End: timestamppb.New(base.Add(14 * 24 * time.Hour))},
		Kind:        sessionsv1.AnswerKind_ANSWER_KIND_SURVEY,
		SurveyIds:   []int64{4_000_000_001, 4_000_000_002},
		Rating:      &searchv1.IntRange{Max: 2},
		NpsGroups:   []searchv1.NpsGroup{searchv1.NpsGroup_NPS_GROUP_DETRACTOR},
		Page:        &searchv1.UrlMatch{Operator: searchv1.UrlMatch_OPERATOR_CONTAINS, Value: "check*out?"},
		DeviceTypes: []sessionsv1.DeviceType{sessionsv1.DeviceType_DEVICE_TYPE_MOBILE},
		HasText:     &yes,
		SessionId:   "s-1",
		VisitorId:   "v-1",
	}
}

func TestAnswersBodiesGolden(t *testing.T) {
	estest.Golden(t, "answers_template", elastic.AnswersTemplateBody("sightline", 3, 1))
	for name, q := range map[string]index.AnswerQuery{
		"answers_search_all_filters": {SiteID: site, Filter: everyAnswerFilter(), Limit: 50},
		"answers_search_after_asc": {SiteID: site, Limit: 10, Ascending: true, After: &index.AnswerCursor{Time: base.UnixNano(), ID: "a_1"},
			Filter: &searchv1.AnswerFilter{Page: &searchv1.UrlMatch{Operator: searchv1.UrlMatch_OPERATOR_EQUALS, Value: "https://Shop.example.com/p/?utm_source=x"}}},
	} {
		body, err := elastic.AnswerSearchBody(q)
		estest.SearchBody(t, name, body, err, q.SiteID)
	}
	berlin, _ := time.LoadLocation("Europe/Berlin")
	q := index.StatsQuery{SiteID: site, Filter: everyAnswerFilter(), Interval: searchv1.StatsInterval_STATS_INTERVAL_WEEK, Location: berlin}
	body, err := elastic.AnswerStatsBody(q, base, base.Add(14*24*time.Hour-time.Nanosecond), searchv1.StatsInterval_STATS_INTERVAL_WEEK, true)
	if err != nil {
		t.Fatal(err)
	}
	estest.Golden(t, "answers_stats_week_berlin", body)
	estest.SiteFirst(t, "stats", body["query"], site)
	body, err = elastic.AnswerBoundsBody(site, &searchv1.AnswerFilter{VisitorId: "v"})
	if err != nil {
		t.Fatal(err)
	}
	estest.Golden(t, "answers_bounds", body)
	estest.DeleteBodies(t, site, elastic.AnswerDeleteBody, map[string]index.AnswerSelector{
		"answers_delete_ids":     {AnswerIDs: []string{"a_1", "a_2"}},
		"answers_delete_session": {SessionID: "s-1"},
		"answers_delete_visitor": {VisitorID: "v-1"},
		"answers_delete_before":  {GivenBefore: base},
		"answers_delete_site":    {WholeSite: true},
	})
	if _, err := elastic.AnswerSearchBody(index.AnswerQuery{SiteID: site}); err == nil {
		t.Fatal("zero limit accepted")
	}
}

// TestAnswerDocument: every field is mapped, the answer round-trips, and a
// feedback answer carries no survey id (the per-survey terms skip it).
func TestAnswerDocument(t *testing.T) {
	template := elastic.AnswersTemplateBody("x", 1, 0)
	sawSurvey, sawFeedback := false, false
	for _, a := range indextest.GenerateAnswers(1, site, "d", 40) {
		item, err := elastic.AnswerBulkItem(a)
		if err != nil {
			t.Fatal(err)
		}
		if item.DocumentID != index.AnswerDocID(site, a.Id) || item.Routing != fmt.Sprint(site) || item.Action != "index" {
			t.Fatalf("bulk item %+v", item)
		}
		doc, raw := estest.MappedDocument(t, template, item)
		pb, _ := base64.StdEncoding.DecodeString(doc["answer"].(string))
		back := &sessionsv1.Answer{}
		if err := proto.Unmarshal(pb, back); err != nil || !proto.Equal(back, a) {
			t.Fatalf("answer does not round-trip: %v", err)
		}
		_, hasSurvey := doc["survey_id"]
		if a.Kind == sessionsv1.AnswerKind_ANSWER_KIND_FEEDBACK {
			sawFeedback = true
			if hasSurvey {
				t.Fatalf("feedback document carries survey_id: %s", raw)
			}
		} else {
			sawSurvey = true
			if !hasSurvey || doc["survey_id"] != float64(a.SurveyId) {
				t.Fatalf("survey document %s", raw)
			}
		}
		if doc["has_text"] != index.HasText(a) || doc["rating"] != float64(a.Rating) {
			t.Fatalf("document %s", raw)
		}
	}
	if !sawSurvey || !sawFeedback {
		t.Fatal("generated answers lack a kind")
	}
}

// TestAnswersOnTheWire: the backend's requests (setup, bulk, search,
// bounds then stats) against a fake cluster, and how it reads the
// aggregations back.
func TestAnswersOnTheWire(t *testing.T) {
	as := indextest.GenerateAnswers(3, site, "w", 3)
	hit := func(a *sessionsv1.Answer) string {
		pb, _ := proto.Marshal(a)
		return fmt.Sprintf(`{"_id":%q,"_source":{"answer":%q}}`, index.AnswerDocID(site, a.Id), base64.StdEncoding.EncodeToString(pb))
	}
	day := base.UnixMilli()
	fake := &fakeES{search: fmt.Sprintf(`{"hits":{"total":{"value":7,"relation":"eq"},"hits":[%s,%s]},
		"aggregations":{
			"first":{"value":%d,"value_as_string":"2026-03-01T10:00:00.123456789Z"},
			"last":{"value":%d,"value_as_string":"2026-03-02T10:00:00Z"},
			"ratings":{"buckets":[{"key":5,"doc_count":3},{"key":1,"doc_count":1},{"key":0,"doc_count":3}]},
			"nps":{"buckets":[{"key":"NPS_GROUP_PROMOTER","doc_count":2},{"key":"NPS_GROUP_DETRACTOR","doc_count":1}]},
			"surveys":{"buckets":[{"key":9000000000000000001,"doc_count":4},{"key":4000000001,"doc_count":1}]},
			"series":{"buckets":[
				{"key":%d,"doc_count":5,"ratings":{"buckets":[{"key":5,"doc_count":3}]},"nps":{"buckets":[{"key":"NPS_GROUP_PROMOTER","doc_count":2}]}},
				{"key":%d,"doc_count":2,"ratings":{"buckets":[{"key":1,"doc_count":1}]},"nps":{"buckets":[{"key":"NPS_GROUP_DETRACTOR","doc_count":1}]}}]}}}`,
		hit(as[0]), hit(as[1]), day, day, day, day+24*3600*1000)}
	srv := httptest.NewServer(fake)
	defer srv.Close()
	ctx := t.Context()
	ix, err := elastic.OpenAnswers(ctx, elastic.Config{Addresses: []string{srv.URL}, IndexPrefix: "sl"})
	if err != nil {
		t.Fatal(err)
	}
	defer ix.Close()
	if c := fake.find(t, "/sl-answers-000001"); !strings.Contains(string(c.body), `"sl-answers":{"is_write_index":true}`) {
		t.Fatalf("first answers index created without the write alias: %s", c.body)
	}
	fake.find(t, "/_index_template/sl-answers")

	if n, err := ix.UpsertAnswers(ctx, as); err != nil || n != 3 {
		t.Fatalf("upsert: %d, %v", n, err)
	}
	bulk := fake.find(t, "/sl-answers/_bulk")
	if !strings.Contains(bulk.query, "require_alias=true") || strings.Contains(string(bulk.body), `"version"`) {
		t.Fatalf("bulk %s?%s", bulk.path, bulk.query)
	}

	res, err := ix.SearchAnswers(ctx, index.AnswerQuery{SiteID: site, Limit: 1})
	if err != nil {
		t.Fatal(err)
	}
	if res.Total != 7 || len(res.Answers) != 1 || !proto.Equal(res.Answers[0], as[0]) || res.Next == nil || res.Next.ID != as[0].Id {
		t.Fatalf("search result %+v", res)
	}
	if req := fake.find(t, "/sl-answers/_search"); req.query != "routing="+fmt.Sprint(site) {
		t.Fatalf("search routing %q", req.query)
	}
	if _, err := ix.SearchAnswers(ctx, index.AnswerQuery{SiteID: site + 1, Limit: 5}); err == nil {
		t.Fatal("hit of another site returned")
	}

	// An open range: bounds first, then the stats, both routed.
	st, err := ix.AnswerStats(ctx, index.StatsQuery{SiteID: site, Interval: searchv1.StatsInterval_STATS_INTERVAL_DAY})
	if err != nil {
		t.Fatal(err)
	}
	fake.mu.Lock()
	var bodies []map[string]any
	for _, r := range fake.requests {
		if strings.HasSuffix(r.path, "/_search") {
			var b map[string]any
			_ = json.Unmarshal(r.body, &b)
			bodies = append(bodies, b)
		}
	}
	fake.mu.Unlock()
	last := bodies[len(bodies)-1]["aggs"].(map[string]any)
	prev := bodies[len(bodies)-2]["aggs"].(map[string]any)
	if prev["first"] == nil || last["series"] == nil {
		t.Fatalf("want a bounds request then a stats request, got %v then %v", prev, last)
	}
	hist := last["series"].(map[string]any)["date_histogram"].(map[string]any)
	if hist["time_zone"] != "UTC" || hist["calendar_interval"] != "day" || hist["min_doc_count"] != float64(0) {
		t.Fatalf("histogram %v", hist)
	}
	n := func(v float64) *float64 { return &v }(33.3)
	want := &searchv1.GetAnswerStatsResponse{
		Interval: searchv1.StatsInterval_STATS_INTERVAL_DAY,
		Total: &searchv1.AnswerCounts{Answers: 7, RatingCounts: []int64{1, 0, 0, 0, 3}, Detractors: 1, Promoters: 2,
			Nps: n, MeanRating: func() *float64 { v := 4.0; return &v }()},
		Series: []*searchv1.AnswerBucket{
			{Start: timestamppb.New(base), Counts: &searchv1.AnswerCounts{Answers: 5, RatingCounts: []int64{0, 0, 0, 0, 3}, Promoters: 2,
				Nps: func() *float64 { v := 100.0; return &v }(), MeanRating: func() *float64 { v := 5.0; return &v }()}},
			{Start: timestamppb.New(base.Add(24 * time.Hour)), Counts: &searchv1.AnswerCounts{Answers: 2, RatingCounts: []int64{1, 0, 0, 0, 0}, Detractors: 1,
				Nps: func() *float64 { v := -100.0; return &v }(), MeanRating: func() *float64 { v := 1.0; return &v }()}},
		},
		Surveys: []*searchv1.SurveyCount{{SurveyId: 9_000_000_000_000_000_001, Answers: 4}, {SurveyId: 4_000_000_001, Answers: 1}},
	}
	if !proto.Equal(st, want) {
		t.Fatalf("stats\n got %v\nwant %v", st, want)
	}

	if d, err := ix.DeleteAnswers(ctx, site, index.AnswerSelector{SessionID: "s"}); err != nil || d != 3 {
		t.Fatalf("delete: %d, %v", d, err)
	}
	if del := fake.find(t, "/sl-answers/_delete_by_query"); !strings.Contains(del.query, "routing="+fmt.Sprint(site)) || !strings.Contains(del.query, "conflicts=proceed") {
		t.Fatalf("delete query %q", del.query)
	}
	if err := ix.Ready(ctx); err == nil {
		t.Fatal("ready although the fake has no alias")
	}
}
