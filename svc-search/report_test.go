package search

import (
	"cmp"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	searchv1 "github.com/sightlinehq/sightline/gen/sightline/search/v1"
	sessionsv1 "github.com/sightlinehq/sightline/gen/sightline/sessions/v1"
	"github.com/sightlinehq/sightline/siteaccess/siteaccesstest"
	"github.com/sightlinehq/sightline/svc-search/index"
	"github.com/sightlinehq/sightline/svc-search/index/indextest"
)

// serveInternal starts the embedded service (serve: its SearchService to
// load documents, its SearchInternalService, on one loopback gRPC socket)
// and returns the internal client too.
func serveInternal(t *testing.T) (searchClient, searchv1.SearchInternalServiceClient) {
	t.Helper()
	c, _ := serve(t, testConfig(t), Deps{Authorizer: siteaccesstest.AllowAll{}})
	return c, c.SearchInternalServiceClient
}

func upsert(t *testing.T, c searchClient, ss []*sessionsv1.SessionSummary, as []*sessionsv1.Answer) {
	t.Helper()
	upsertSessions(t, c, ss, 400)
	upsertAnswers(t, c, as, 400)
}

func window(from, to time.Time) (*timestamppb.Timestamp, *timestamppb.Timestamp) {
	return timestamppb.New(from), timestamppb.New(to)
}

// TestSiteReportKnownCounts seeds a day of a site with numbers chosen by
// hand, and another site with the same shapes that must not count.
func TestSiteReportKnownCounts(t *testing.T) {
	c, ic := serveInternal(t)
	day := time.Date(2026, 11, 29, 0, 0, 0, 0, time.UTC)
	var ss []*sessionsv1.SessionSummary
	n := 0
	add := func(site int64, start time.Duration, rage, dead, errs int32, paths ...string) {
		n++
		at := day.Add(start)
		s := &sessionsv1.SessionSummary{
			SiteId: site, SessionId: "s" + string(rune('a'+n%26)) + strings.Repeat("x", n/26) + "-" + time.Duration(n).String(),
			VisitorId: "v", Version: 1, StartTime: timestamppb.New(at), EndTime: timestamppb.New(at.Add(time.Minute)),
			Duration: durationpb.New(time.Minute), RageClickCount: rage, DeadClickCount: dead, ErrorCount: errs,
			PageCount: int32(len(paths)),
		}
		for _, p := range paths {
			s.Pages = append(s.Pages, &sessionsv1.PageView{Url: "https://shop.example.com" + p, StartTime: timestamppb.New(at)})
		}
		s.EntryUrl, s.ExitUrl = s.Pages[0].Url, s.Pages[len(s.Pages)-1].Url
		ss = append(ss, s)
	}
	for _, site := range []int64{siteA, siteB} {
		// In the window (the 29th):
		add(site, 1*time.Hour, 2, 0, 0, "/checkout", "/cart")     // rage
		add(site, 2*time.Hour, 1, 3, 4, "/checkout", "/checkout") // rage + dead + errors: once, /checkout once
		add(site, 3*time.Hour, 0, 1, 0, "/cart")                  // dead
		add(site, 4*time.Hour, 0, 0, 2, "/checkout", "/pay")      // errors
		add(site, 5*time.Hour, 0, 0, 0, "/checkout")              // calm
		add(site, 6*time.Hour, 0, 0, 0, "/", "/cart")             // calm
		add(site, 23*time.Hour+59*time.Minute, 0, 0, 1, "/pay")   // errors, last minute of the window
	}
	// Outside the window, only on site A: the day before (frustrated) and
	// the next day (the last session, ending at 12:01 on the 30th).
	add(siteA, -time.Hour, 5, 5, 5, "/checkout")
	add(siteA, 24*time.Hour, 1, 0, 0, "/checkout")
	add(siteA, 36*time.Hour, 0, 0, 0, "/")
	// Site B's own last session is later still: it must not leak into A's.
	add(siteB, 72*time.Hour, 0, 0, 0, "/")

	answer := func(site int64, id string, at time.Duration, kind sessionsv1.AnswerKind, rating int32, nps *int32) *sessionsv1.Answer {
		a := &sessionsv1.Answer{Id: "a_" + id, SiteId: site, Kind: kind, ClientTime: timestamppb.New(day.Add(at)), Rating: rating, Nps: nps, Url: "https://shop.example.com/"}
		if kind == sessionsv1.AnswerKind_ANSWER_KIND_SURVEY {
			a.SurveyId = 6_000_000_001
		}
		return a
	}
	fb, sv := sessionsv1.AnswerKind_ANSWER_KIND_FEEDBACK, sessionsv1.AnswerKind_ANSWER_KIND_SURVEY
	var as []*sessionsv1.Answer
	for _, site := range []int64{siteA, siteB} {
		p := "A"
		if site == siteB {
			p = "B"
		}
		as = append(as,
			answer(site, p+"fb1", time.Hour, fb, 1, nil),
			answer(site, p+"fb2", 2*time.Hour, fb, 4, nil),
			answer(site, p+"fb3", 3*time.Hour, fb, 0, nil), // unrated: counted, not averaged
			answer(site, p+"fb4", 4*time.Hour, fb, 5, nil),
			// NPS: 3 promoters, 1 passive, 2 detractors of 6 → +16.7 → 17.
			answer(site, p+"sv1", time.Hour, sv, 0, proto.Int32(10)),
			answer(site, p+"sv2", time.Hour, sv, 0, proto.Int32(9)),
			answer(site, p+"sv3", time.Hour, sv, 0, proto.Int32(9)),
			answer(site, p+"sv4", time.Hour, sv, 0, proto.Int32(7)),
			answer(site, p+"sv5", time.Hour, sv, 0, proto.Int32(6)),
			answer(site, p+"sv6", time.Hour, sv, 0, proto.Int32(0)),
			answer(site, p+"sv7", time.Hour, sv, 3, nil), // no NPS question
		)
	}
	// Outside the window on site A.
	as = append(as, answer(siteA, "old", -time.Hour, fb, 1, nil), answer(siteA, "new", 25*time.Hour, sv, 0, proto.Int32(0)))
	upsert(t, c, ss, as)

	start, end := window(day, day.Add(24*time.Hour))
	got, err := ic.GetSiteReport(t.Context(), &searchv1.GetSiteReportRequest{SiteId: siteA, StartTime: start, EndTime: end, TopPages: 10})
	if err != nil {
		t.Fatal(err)
	}
	want := &searchv1.GetSiteReportResponse{
		Sessions: 7, SessionsWithRageClicks: 2, SessionsWithErrors: 3,
		TopPages: []*searchv1.PageFrustration{
			{Url: "/checkout", FrustratedSessions: 3, Sessions: 4},
			{Url: "/cart", FrustratedSessions: 2, Sessions: 3},
			{Url: "/pay", FrustratedSessions: 2, Sessions: 2},
		},
		FeedbackAnswers: 4, FeedbackAverage: 3.33, SurveyAnswers: 7, Nps: proto.Int32(17),
		LastSessionTime: timestamppb.New(day.Add(36*time.Hour + time.Minute)),
	}
	if !proto.Equal(got, want) {
		t.Fatalf("report of site A:\n got %v\nwant %v", got, want)
	}

	// top_pages cuts the list (ties by path); 0 asks for none.
	got, err = ic.GetSiteReport(t.Context(), &searchv1.GetSiteReportRequest{SiteId: siteA, StartTime: start, EndTime: end, TopPages: 2})
	if err != nil || len(got.TopPages) != 2 || got.TopPages[1].Url != "/cart" {
		t.Fatalf("top 2: %v %v", got.GetTopPages(), err)
	}
	got, err = ic.GetSiteReport(t.Context(), &searchv1.GetSiteReportRequest{SiteId: siteA, StartTime: start, EndTime: end})
	if err != nil || len(got.TopPages) != 0 || got.Sessions != 7 {
		t.Fatalf("top 0: %v %v", got, err)
	}

	// An empty window and a site with nothing: zeros, no NPS, no last time.
	s2, e2 := window(day.Add(-30*24*time.Hour), day.Add(-29*24*time.Hour))
	got, err = ic.GetSiteReport(t.Context(), &searchv1.GetSiteReportRequest{SiteId: siteA, StartTime: s2, EndTime: e2, TopPages: 5})
	if err != nil || got.Sessions != 0 || len(got.TopPages) != 0 || got.Nps != nil || got.FeedbackAverage != 0 || got.LastSessionTime == nil {
		t.Fatalf("empty window: %v %v", got, err)
	}
	got, err = ic.GetSiteReport(t.Context(), &searchv1.GetSiteReportRequest{SiteId: 9_000_000_009, StartTime: start, EndTime: end, TopPages: 5})
	if err != nil || !proto.Equal(got, &searchv1.GetSiteReportResponse{}) {
		t.Fatalf("unknown site: %v %v", got, err)
	}
}

// TestSiteReportMatchesReference compares generated sites' reports with
// numbers computed from the documents themselves.
func TestSiteReportMatchesReference(t *testing.T) {
	c, ic := serveInternal(t)
	a := indextest.Generate(1, siteA, "a", 400)
	b := indextest.Generate(2, siteB, "b", 100)
	aa := indextest.GenerateAnswers(1, siteA, "a", 500)
	ba := indextest.GenerateAnswers(2, siteB, "b", 100)
	upsert(t, c, append(slices.Clone(a), b...), append(slices.Clone(aa), ba...))
	for _, w := range [][2]time.Time{
		{indextest.Base, indextest.Base.Add(30 * 24 * time.Hour)},
		{indextest.Base.Add(5 * 24 * time.Hour), indextest.Base.Add(12 * 24 * time.Hour)},
		{indextest.Base.Add(9*24*time.Hour + 7*time.Hour), indextest.Base.Add(10 * 24 * time.Hour)},
	} {
		start, end := window(w[0], w[1])
		got, err := ic.GetSiteReport(t.Context(), &searchv1.GetSiteReportRequest{SiteId: siteA, StartTime: start, EndTime: end, TopPages: 50})
		if err != nil {
			t.Fatal(err)
		}
		want := referenceReport(a, aa, w[0], w[1], 50)
		if want.Sessions < 5 || len(want.TopPages) == 0 {
			t.Fatalf("window %v too narrow to test: %v", w, want)
		}
		if !proto.Equal(got, want) {
			t.Fatalf("window %v:\n got %v\nwant %v", w, got, want)
		}
	}
}

// referenceReport computes a report by brute force.
func referenceReport(ss []*sessionsv1.SessionSummary, as []*sessionsv1.Answer, from, to time.Time, top int) *searchv1.GetSiteReportResponse {
	in := func(ts *timestamppb.Timestamp) bool { t := ts.AsTime(); return !t.Before(from) && t.Before(to) }
	r := &searchv1.GetSiteReportResponse{}
	frustrated, visits := map[string]int64{}, map[string]int64{}
	var last time.Time
	for _, s := range ss {
		if e := s.GetEndTime().AsTime(); e.After(last) {
			last = e
		}
		if !in(s.GetStartTime()) {
			continue
		}
		r.Sessions++
		if s.GetRageClickCount() > 0 {
			r.SessionsWithRageClicks++
		}
		if s.GetErrorCount() > 0 {
			r.SessionsWithErrors++
		}
		bad := s.GetRageClickCount() > 0 || s.GetDeadClickCount() > 0 || s.GetErrorCount() > 0
		seen := map[string]bool{}
		for _, p := range s.GetPages() {
			path := index.PagePath(p.GetUrl())
			if path == "" || seen[path] {
				continue
			}
			seen[path] = true
			visits[path]++
			if bad {
				frustrated[path]++
			}
		}
	}
	if !last.IsZero() {
		r.LastSessionTime = timestamppb.New(last)
	}
	for path, k := range frustrated {
		r.TopPages = append(r.TopPages, &searchv1.PageFrustration{Url: path, FrustratedSessions: k, Sessions: visits[path]})
	}
	slices.SortFunc(r.TopPages, func(x, y *searchv1.PageFrustration) int {
		return cmp.Or(cmp.Compare(y.FrustratedSessions, x.FrustratedSessions), strings.Compare(x.Url, y.Url))
	})
	r.TopPages = r.TopPages[:min(top, len(r.TopPages))]
	var rated, sum, p, d, scored int64
	for _, a := range as {
		if !in(a.GetClientTime()) {
			continue
		}
		switch a.GetKind() {
		case sessionsv1.AnswerKind_ANSWER_KIND_FEEDBACK:
			r.FeedbackAnswers++
			if a.GetRating() > 0 {
				rated++
				sum += int64(a.GetRating())
			}
		case sessionsv1.AnswerKind_ANSWER_KIND_SURVEY:
			r.SurveyAnswers++
			if a.Nps != nil {
				scored++
				switch {
				case a.GetNps() >= 9:
					p++
				case a.GetNps() <= 6:
					d++
				}
			}
		}
	}
	if rated > 0 {
		r.FeedbackAverage = math.Round(float64(sum)*100/float64(rated)) / 100
	}
	if scored > 0 {
		r.Nps = proto.Int32(int32(math.Round(float64(p-d) * 100 / float64(scored))))
	}
	return r
}

func TestSiteReportValidation(t *testing.T) {
	_, ic := serveInternal(t)
	day := time.Date(2026, 11, 29, 0, 0, 0, 0, time.UTC)
	ts := timestamppb.New
	for name, req := range map[string]*searchv1.GetSiteReportRequest{
		"no site":       {StartTime: ts(day), EndTime: ts(day.Add(time.Hour))},
		"negative site": {SiteId: -1, StartTime: ts(day), EndTime: ts(day.Add(time.Hour))},
		"no start":      {SiteId: siteA, EndTime: ts(day)},
		"no end":        {SiteId: siteA, StartTime: ts(day)},
		"empty window":  {SiteId: siteA, StartTime: ts(day), EndTime: ts(day)},
		"inverted":      {SiteId: siteA, StartTime: ts(day), EndTime: ts(day.Add(-time.Hour))},
		"too long":      {SiteId: siteA, StartTime: ts(day.Add(-401 * 24 * time.Hour)), EndTime: ts(day)},
		"bad timestamp": {SiteId: siteA, StartTime: &timestamppb.Timestamp{Seconds: 1, Nanos: -5}, EndTime: ts(day)},
		"year 9999":     {SiteId: siteA, StartTime: ts(day), EndTime: &timestamppb.Timestamp{Seconds: 253402300799}},
		"top pages 51":  {SiteId: siteA, StartTime: ts(day), EndTime: ts(day.Add(time.Hour)), TopPages: 51},
		"top pages < 0": {SiteId: siteA, StartTime: ts(day), EndTime: ts(day.Add(time.Hour)), TopPages: -1},
	} {
		_, err := ic.GetSiteReport(t.Context(), req)
		if status.Code(err) != codes.InvalidArgument || status.Convert(err).Message() == "" {
			t.Errorf("%s: %v, want InvalidArgument with a message", name, err)
		}
	}
	// The longest window and the most pages are fine.
	if _, err := ic.GetSiteReport(t.Context(), &searchv1.GetSiteReportRequest{SiteId: siteA, StartTime: ts(day.Add(-400 * 24 * time.Hour)), EndTime: ts(day), TopPages: 50}); err != nil {
		t.Fatalf("400 days, 50 pages: %v", err)
	}
}

// BenchmarkSiteReport: one month's report of a site of 2,000 sessions and
// 1,000 answers, over gRPC (a digest asks for one per user and site).
func BenchmarkSiteReport(b *testing.B) {
	svc := newLocal(b, defaultConfig())
	ss := indextest.Generate(1, siteA, "a", 2000)
	for len(ss) > 0 {
		k := min(500, len(ss))
		if _, err := svc.UpsertSessions(b.Context(), &searchv1.UpsertSessionsRequest{Sessions: ss[:k]}); err != nil {
			b.Fatal(err)
		}
		ss = ss[k:]
	}
	if _, err := svc.UpsertAnswers(b.Context(), &searchv1.UpsertAnswersRequest{Answers: indextest.GenerateAnswers(1, siteA, "a", 1000)}); err != nil {
		b.Fatal(err)
	}
	start, end := window(indextest.Base, indextest.Base.Add(30*24*time.Hour))
	req := &searchv1.GetSiteReportRequest{SiteId: siteA, StartTime: start, EndTime: end, TopPages: 5}
	ix := svc.Internal()
	for b.Loop() {
		if _, err := ix.GetSiteReport(b.Context(), req); err != nil {
			b.Fatal(err)
		}
	}
}
