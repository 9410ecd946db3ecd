package traffictest

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	searchv1 "github.com/sightlinehq/sightline/gen/sightline/search/v1"
	sessionsv1 "github.com/sightlinehq/sightline/gen/sightline/sessions/v1"
	trafficv1 "github.com/sightlinehq/sightline/gen/sightline/traffic/v1"
	"github.com/sightlinehq/sightline/svc-search/index"
	"github.com/sightlinehq/sightline/svc-search/traffic"
)

// t0 is a Monday, 10:00 UTC.
var t0 = time.Date(2026, 11, 2, 10, 0, 0, 0, time.UTC)

const shop = "https://shop.example.com"

// handData is a small site whose every figure is computed by hand in
// testHandComputed (see the comments there).
func handData() ([]traffic.Hit, []traffic.Recorded) {
	a := SiteA
	s := func(d time.Duration) time.Time { return t0.Add(d) }
	mobile := pv(a, "s_3", "v_2", "p_4", s(2*time.Hour), shop+"/pricing/", "https://news.ycombinator.com/")
	mobile.Device, mobile.Country, mobile.ScreenW, mobile.ScreenH = sessionsv1.DeviceType_DEVICE_TYPE_MOBILE, "US", 390, 844
	hits := []traffic.Hit{
		// s_1: two page views, a leave each, an event last: 90 s, from google, UTM.
		pv(a, "s_1", "v_1", "p_1", s(0), shop+"/pricing?utm_source=news&utm_medium=email&utm_campaign=launch", "https://www.google.com/search?q=x"),
		pv(a, "s_1", "v_1", "p_2", s(time.Minute), shop+"/checkout", shop+"/pricing"),
		leave(a, "s_1", "v_1", "p_1", s(30*time.Second), 30*time.Second),
		leave(a, "s_1", "v_1", "p_2", s(80*time.Second), 20*time.Second),
		event(a, "s_1", "v_1", "p_2", s(90*time.Second), "signup"),
		// s_2: the same visitor, one page (a bounce) of 10 s, direct.
		pv(a, "s_2", "v_1", "p_3", s(time.Hour), shop+"/", ""),
		leave(a, "s_2", "v_1", "p_3", s(time.Hour+10*time.Second), 10*time.Second),
		// s_3: a mobile bounce without a leave (0 s) from Hacker News.
		mobile,
		// s_4: the next day, three pages, referred by the site itself (direct): 320 s.
		pv(a, "s_4", "v_3", "p_5", s(25*time.Hour), shop+"/docs", shop+"/"),
		pv(a, "s_4", "v_3", "p_6", s(25*time.Hour+10*time.Second), shop+"/pricing", shop+"/docs"),
		pv(a, "s_4", "v_3", "p_7", s(25*time.Hour+20*time.Second), shop+"/pricing?x=1", shop+"/pricing"),
		leave(a, "s_4", "v_3", "p_7", s(25*time.Hour+320*time.Second), 5*time.Minute),
		// s_5: events and a leave only: not a session.
		event(a, "s_5", "v_7", "p_x", s(30*time.Minute), "signup"),
		leave(a, "s_5", "v_7", "p_y", s(31*time.Minute), time.Minute),
		// s_0: the previous period, one bounce.
		pv(a, "s_0", "v_9", "p_0", s(-time.Hour), shop+"/", ""),
	}
	marks := []traffic.Recorded{
		{SiteID: a, SessionID: "s_1", Version: 2, Rage: true},
		{SiteID: a, SessionID: "s_3", Version: 1, Errors: true},
	}
	return hits, marks
}

func rows(dim trafficv1.TrafficDimension, total, sessions int64, rs ...*trafficv1.TrafficRow) *trafficv1.GetTrafficBreakdownResponse {
	return &trafficv1.GetTrafficBreakdownResponse{Dimension: dim, TotalValues: total, Sessions: sessions, Rows: rs}
}

func row(v string, s, pvs, b int64) *trafficv1.TrafficRow {
	return &trafficv1.TrafficRow{Value: v, Sessions: s, PageViews: pvs, Bounces: b}
}

func testHandComputed(t T, s traffic.Store, seed uint64) {
	hits, marks := handData()
	deliver(t, s, rand.New(rand.NewPCG(seed, 1)), hits)
	mark(t, s, marks...)
	q := traffic.Query{SiteID: SiteA, Start: t0, End: t0.Add(48 * time.Hour)}

	// Current: s_1..s_4; visitors v_1, v_2, v_3; page views 2+1+1+3; bounces
	// s_2, s_3; durations 90 s, 10 s, 0, 320 s (lower median 10 s); recorded
	// s_1 (rage) and s_3 (errors). Previous: s_0 alone.
	want := &trafficv1.GetTrafficOverviewResponse{
		Current: &trafficv1.TrafficTotals{Visitors: 3, Sessions: 4, PageViews: 7, ViewsPerSession: 1.75, BounceRate: 0.5, Bounces: 2,
			MedianDuration: durationpb.New(10 * time.Second), RecordedSessions: 2,
			RageClickRate: proto.Float64(0.5), DeadClickRate: proto.Float64(0), ErrorRate: proto.Float64(0.5)},
		Previous: &trafficv1.TrafficTotals{Visitors: 1, Sessions: 1, PageViews: 1, ViewsPerSession: 1, BounceRate: 1, Bounces: 1,
			MedianDuration: durationpb.New(0)},
		Interval: daily,
		Series: []*trafficv1.TrafficBucket{
			{Start: ts(t0.Truncate(24 * time.Hour)), Visitors: 2, Sessions: 3, PageViews: 4},
			{Start: ts(t0.Truncate(24 * time.Hour).Add(24 * time.Hour)), Visitors: 1, Sessions: 1, PageViews: 3},
			{Start: ts(t0.Truncate(24 * time.Hour).Add(48 * time.Hour))},
		},
	}
	report(t, "hand overview, days in UTC", diffOverview(overview(t, s, q, daily), want))

	// Kolkata (+05:30): 10:00 UTC is 15:30 there, so the range touches 2, 3
	// and 4 November; s_4 (11:00 UTC on the 3rd) is on the 3rd.
	kq := q
	kq.Location = loadZone(t, "Asia/Kolkata")
	kday := func(d int) *timestamppb.Timestamp { return ts(time.Date(2026, 11, d, 0, 0, 0, 0, kq.Location)) }
	want.Series = []*trafficv1.TrafficBucket{
		{Start: kday(2), Visitors: 2, Sessions: 3, PageViews: 4},
		{Start: kday(3), Visitors: 1, Sessions: 1, PageViews: 3},
		{Start: kday(4)},
	}
	report(t, "hand overview, days in Kolkata", diffOverview(overview(t, s, kq, daily), want))

	// Hours: 48 buckets, four of them non-empty.
	got := overview(t, s, q, hourly)
	if len(got.GetSeries()) != 48 {
		t.Fatalf("hand overview in hours: %d buckets, want 48", len(got.GetSeries()))
	}
	nonEmpty := map[int][3]int64{0: {1, 1, 2}, 1: {1, 1, 1}, 2: {1, 1, 1}, 25: {1, 1, 3}}
	for i, b := range got.GetSeries() {
		w := nonEmpty[i]
		if !b.GetStart().AsTime().Equal(t0.Add(time.Duration(i)*time.Hour)) || b.GetVisitors() != w[0] || b.GetSessions() != w[1] || b.GetPageViews() != w[2] {
			t.Errorf("hand hour %d: %s v=%d s=%d pv=%d, want %s %v", i, b.GetStart().AsTime(), b.GetVisitors(), b.GetSessions(), b.GetPageViews(), t0.Add(time.Duration(i)*time.Hour), w)
		}
	}

	page := func(p string) string { return shop + p }
	P := trafficv1.TrafficDimension_TRAFFIC_DIMENSION_PAGE
	for _, c := range []struct {
		dim   trafficv1.TrafficDimension
		limit int
		want  *trafficv1.GetTrafficBreakdownResponse
	}{
		// /pricing (p_1, p_4 "/pricing/", p_6, p_7 "?x=1") in s_1, s_3, s_4.
		{P, 10, rows(P, 4, 4, row(page("/pricing"), 3, 4, 1), row(page("/"), 1, 1, 1), row(page("/checkout"), 1, 1, 0), row(page("/docs"), 1, 1, 0))},
		{P, 1, rows(P, 4, 4, row(page("/pricing"), 3, 4, 1))},
		{trafficv1.TrafficDimension_TRAFFIC_DIMENSION_ENTRY_PAGE, 10, rows(trafficv1.TrafficDimension_TRAFFIC_DIMENSION_ENTRY_PAGE, 3, 4,
			row(page("/pricing"), 2, 3, 1), row(page("/"), 1, 1, 1), row(page("/docs"), 1, 3, 0))},
		{trafficv1.TrafficDimension_TRAFFIC_DIMENSION_EXIT_PAGE, 10, rows(trafficv1.TrafficDimension_TRAFFIC_DIMENSION_EXIT_PAGE, 3, 4,
			row(page("/pricing"), 2, 4, 1), row(page("/"), 1, 1, 1), row(page("/checkout"), 1, 2, 0))},
		// s_2 has no referrer and s_4's is the site itself: both direct.
		{trafficv1.TrafficDimension_TRAFFIC_DIMENSION_REFERRER, 10, rows(trafficv1.TrafficDimension_TRAFFIC_DIMENSION_REFERRER, 3, 4,
			row("", 2, 4, 1), row("google.com", 1, 2, 0), row("news.ycombinator.com", 1, 1, 1))},
		{trafficv1.TrafficDimension_TRAFFIC_DIMENSION_UTM_SOURCE, 10, rows(trafficv1.TrafficDimension_TRAFFIC_DIMENSION_UTM_SOURCE, 2, 4,
			row("", 3, 5, 2), row("news", 1, 2, 0))},
		{trafficv1.TrafficDimension_TRAFFIC_DIMENSION_UTM_MEDIUM, 10, rows(trafficv1.TrafficDimension_TRAFFIC_DIMENSION_UTM_MEDIUM, 2, 4,
			row("", 3, 5, 2), row("email", 1, 2, 0))},
		{trafficv1.TrafficDimension_TRAFFIC_DIMENSION_UTM_CAMPAIGN, 10, rows(trafficv1.TrafficDimension_TRAFFIC_DIMENSION_UTM_CAMPAIGN, 2, 4,
			row("", 3, 5, 2), row("launch", 1, 2, 0))},
		{trafficv1.TrafficDimension_TRAFFIC_DIMENSION_COUNTRY, 10, rows(trafficv1.TrafficDimension_TRAFFIC_DIMENSION_COUNTRY, 2, 4,
			row("DE", 3, 6, 1), row("US", 1, 1, 1))},
		{trafficv1.TrafficDimension_TRAFFIC_DIMENSION_DEVICE_TYPE, 10, rows(trafficv1.TrafficDimension_TRAFFIC_DIMENSION_DEVICE_TYPE, 2, 4,
			row(index.DeviceName(sessionsv1.DeviceType_DEVICE_TYPE_DESKTOP), 3, 6, 1), row(index.DeviceName(sessionsv1.DeviceType_DEVICE_TYPE_MOBILE), 1, 1, 1))},
		{trafficv1.TrafficDimension_TRAFFIC_DIMENSION_BROWSER, 10, rows(trafficv1.TrafficDimension_TRAFFIC_DIMENSION_BROWSER, 1, 4, row("Chrome", 4, 7, 2))},
		{trafficv1.TrafficDimension_TRAFFIC_DIMENSION_OS, 10, rows(trafficv1.TrafficDimension_TRAFFIC_DIMENSION_OS, 1, 4, row("macOS", 4, 7, 2))},
		{trafficv1.TrafficDimension_TRAFFIC_DIMENSION_SCREEN_SIZE, 10, rows(trafficv1.TrafficDimension_TRAFFIC_DIMENSION_SCREEN_SIZE, 2, 4,
			row("1920x1080", 3, 6, 1), row("390x844", 1, 1, 1))},
	} {
		got, err := s.Breakdown(ctx, q, c.dim, c.limit)
		if err != nil {
			t.Fatalf("hand breakdown %s: %v", c.dim, err)
		}
		report(t, fmt.Sprintf("hand breakdown %s limit %d", c.dim, c.limit), diffBreakdown(got, c.want))
	}

	// Filters: the sessions each selects, as (sessions, page views).
	for name, c := range map[string]struct {
		f       *trafficv1.TrafficFilter
		ss, pvs int64
	}{
		"direct":        {&trafficv1.TrafficFilter{Direct: true}, 2, 4},
		"referrer":      {&trafficv1.TrafficFilter{ReferrerDomain: "google.com"}, 1, 2},
		"campaign":      {&trafficv1.TrafficFilter{UtmCampaign: "launch"}, 1, 2},
		"visited":       {&trafficv1.TrafficFilter{VisitedPage: &searchv1.UrlMatch{Operator: eq, Value: "/checkout"}}, 1, 2},
		"entry prefix":  {&trafficv1.TrafficFilter{EntryPage: &searchv1.UrlMatch{Operator: searchv1.UrlMatch_OPERATOR_PREFIX, Value: "/pricing"}}, 2, 3},
		"exit key":      {&trafficv1.TrafficFilter{ExitPage: &searchv1.UrlMatch{Operator: eq, Value: shop + "/pricing"}}, 2, 4},
		"mobile":        {&trafficv1.TrafficFilter{DeviceTypes: []sessionsv1.DeviceType{sessionsv1.DeviceType_DEVICE_TYPE_MOBILE}}, 1, 1},
		"screen":        {&trafficv1.TrafficFilter{ScreenSize: "390x844"}, 1, 1},
		"countries":     {&trafficv1.TrafficFilter{Countries: []string{"US", "FR"}}, 1, 1},
		"direct+google": {&trafficv1.TrafficFilter{Direct: true, ReferrerDomain: "google.com"}, 0, 0},
	} {
		fq := q
		fq.Filter = c.f
		got := overview(t, s, fq, daily).GetCurrent()
		if got.GetSessions() != c.ss || got.GetPageViews() != c.pvs {
			t.Errorf("hand filter %s: %d sessions, %d page views; want %d, %d", name, got.GetSessions(), got.GetPageViews(), c.ss, c.pvs)
		}
	}

	// Funnel /pricing… → signup: s_1 (90 s), s_3 ("/pricing/": a path-form
	// EQUALS would not match it) and s_4 stop at /pricing; s_3 is recorded.
	f, err := s.Funnel(ctx, traffic.FunnelQuery{SiteID: SiteA, Start: q.Start, End: q.End, Steps: []*trafficv1.FunnelStep{pageStep(searchv1.UrlMatch_OPERATOR_PREFIX, "/pricing"), eventStep("signup")}})
	if err != nil {
		t.Fatalf("hand funnel: %v", err)
	}
	report(t, "hand funnel", diffFunnel(f, &trafficv1.ComputeFunnelResponse{Steps: []*trafficv1.FunnelStepResult{
		{Sessions: 3, Conversion: 1, StepConversion: 1},
		{Sessions: 1, Conversion: 1.0 / 3, StepConversion: 1.0 / 3, Dropped: 2, DroppedRecorded: 1, MedianTimeFromPrevious: durationpb.New(90 * time.Second)},
	}}))

	// Realtime two minutes after s_4's first page view: its three page
	// views, the first exactly on a minute boundary (the end of minute 27).
	now := t0.Add(25*time.Hour + 2*time.Minute)
	rt, err := s.Realtime(ctx, SiteA, now)
	if err != nil {
		t.Fatalf("hand realtime: %v", err)
	}
	perMinute := make([]int64, 30)
	perMinute[27], perMinute[28] = 1, 2
	report(t, "hand realtime", diffRealtime(rt, &trafficv1.GetRealtimeResponse{AsOf: ts(now), Visitors: 1, PageViews: 3,
		Pages: []*trafficv1.RealtimePage{{Page: page("/pricing"), Visitors: 1}}, PerMinute: perMinute}))
}

func ts(t time.Time) *timestamppb.Timestamp { return timestamppb.New(t) }

func testEmptyAndOne(t T, s traffic.Store, seed uint64) {
	berlin := loadZone(t, "Europe/Berlin")
	q := traffic.Query{SiteID: SiteA, Start: time.Date(2026, 10, 20, 0, 0, 0, 0, berlin), End: time.Date(2026, 10, 27, 0, 0, 0, 0, berlin), Location: berlin}
	got := overview(t, s, q, daily)
	for _, tot := range []*trafficv1.TrafficTotals{got.GetCurrent(), got.GetPrevious()} {
		if tot == nil {
			t.Fatalf("empty overview: totals missing")
		}
		report(t, "empty overview totals", diffTotals(tot, &trafficv1.TrafficTotals{}))
	}
	if len(got.GetSeries()) != 7 {
		t.Errorf("empty overview: %d buckets, want 7 (every bucket present)", len(got.GetSeries()))
	}
	for i, b := range got.GetSeries() {
		if w := time.Date(2026, 10, 20+i, 0, 0, 0, 0, berlin); !b.GetStart().AsTime().Equal(w) || b.GetSessions() != 0 {
			t.Errorf("empty bucket %d: %s with %d sessions, want %s", i, b.GetStart().AsTime(), b.GetSessions(), w)
		}
	}
	for _, dim := range dimensions {
		b, err := s.Breakdown(ctx, q, dim, 10)
		if err != nil {
			t.Fatalf("empty breakdown: %v", err)
		}
		report(t, "empty breakdown "+dim.String(), diffBreakdown(b, rows(dim, 0, 0)))
	}
	fq := traffic.FunnelQuery{SiteID: SiteA, Start: q.Start, End: q.End, Steps: []*trafficv1.FunnelStep{pageStep(eq, "/"), eventStep("signup"), pageStep(eq, "/x")}}
	f, err := s.Funnel(ctx, fq)
	if err != nil {
		t.Fatalf("empty funnel: %v", err)
	}
	report(t, "empty funnel", diffFunnel(f, &trafficv1.ComputeFunnelResponse{Steps: []*trafficv1.FunnelStepResult{{StepConversion: 1}, {}, {}}}))
	p, err := s.FunnelSessions(ctx, fq, 1, true, nil, 25)
	if err != nil || p.Total != 0 || p.Recorded != 0 || len(p.SessionIDs) != 0 || p.Next != nil {
		t.Errorf("empty funnel sessions: %+v, %v", p, err)
	}
	rt, err := s.Realtime(ctx, SiteA, q.End)
	if err != nil {
		t.Fatalf("empty realtime: %v", err)
	}
	report(t, "empty realtime", diffRealtime(rt, &trafficv1.GetRealtimeResponse{AsOf: ts(q.End), PerMinute: make([]int64, 30)}))

	// One session (a 25-hour day holds it): every figure, against the
	// reference and by hand.
	one := pv(SiteA, "s_one", "v_one", "p_one", time.Date(2026, 10, 25, 2, 30, 0, 0, berlin), shop+"/", "")
	lv := leave(SiteA, "s_one", "v_one", "p_one", one.Time.Add(time.Minute), 42*time.Second)
	ref := load(t, s, rand.New(rand.NewPCG(seed, 2)), Generated{Hits: []traffic.Hit{one, lv}})
	checkOverview(t, s, ref, q, daily)
	checkOverview(t, s, ref, q, hourly)
	got = overview(t, s, q, daily)
	report(t, "one session", diffTotals(got.GetCurrent(), &trafficv1.TrafficTotals{Visitors: 1, Sessions: 1, PageViews: 1, ViewsPerSession: 1, BounceRate: 1, Bounces: 1, MedianDuration: durationpb.New(42 * time.Second)}))
	for _, dim := range dimensions {
		checkBreakdown(t, s, ref, q, dim, 10)
	}
	checkRealtime(t, s, ref, SiteA, one.Time.Add(time.Minute))
}

func testWithoutPageViews(t T, s traffic.Store, seed uint64) {
	h := []traffic.Hit{
		event(SiteA, "s_e", "v_e", "p_e1", t0.Add(time.Minute), "signup"),
		leave(SiteA, "s_e", "v_e", "p_e1", t0.Add(4*time.Minute), 4*time.Minute),
		event(SiteA, "s_e", "v_e", "p_e1", t0.Add(2*time.Minute), "purchase"),
	}
	add(t, s, h...)
	mark(t, s, traffic.Recorded{SiteID: SiteA, SessionID: "s_e", Version: 1, Errors: true})
	q := traffic.Query{SiteID: SiteA, Start: t0.Add(-time.Hour), End: t0.Add(time.Hour)}
	report(t, "events and leaves only", diffTotals(overview(t, s, q, hourly).GetCurrent(), &trafficv1.TrafficTotals{}))
	b, err := s.Breakdown(ctx, q, trafficv1.TrafficDimension_TRAFFIC_DIMENSION_PAGE, 10)
	if err != nil || b.GetTotalValues() != 0 || b.GetSessions() != 0 {
		t.Errorf("events only: breakdown %v, %v", b, err)
	}
	fq := traffic.FunnelQuery{SiteID: SiteA, Start: q.Start, End: q.End, Steps: []*trafficv1.FunnelStep{eventStep("signup"), eventStep("purchase")}}
	if f, err := s.Funnel(ctx, fq); err != nil || f.GetSteps()[0].GetSessions() != 0 {
		t.Errorf("events only: funnel %v, %v", f, err)
	}
	if rt, err := s.Realtime(ctx, SiteA, t0.Add(3*time.Minute)); err != nil || rt.GetVisitors() != 0 || rt.GetPageViews() != 0 {
		t.Errorf("events only: realtime %v, %v", rt, err)
	}
	// Its page view arrives late (and is earliest): the session now starts
	// at it and lasts to its leave's end, 4 minutes (a leave's own time is
	// not an end); it was recorded.
	add(t, s, pv(SiteA, "s_e", "v_e", "p_e1", t0, shop+"/signup", ""))
	want := &trafficv1.TrafficTotals{Visitors: 1, Sessions: 1, PageViews: 1, ViewsPerSession: 1, BounceRate: 1, Bounces: 1,
		MedianDuration: durationpb.New(4 * time.Minute), RecordedSessions: 1, RageClickRate: proto.Float64(0), DeadClickRate: proto.Float64(0), ErrorRate: proto.Float64(1)}
	report(t, "late page view", diffTotals(overview(t, s, q, hourly).GetCurrent(), want))
	f, err := s.Funnel(ctx, fq)
	if err != nil {
		t.Fatalf("funnel: %v", err)
	}
	report(t, "late page view funnel", diffFunnel(f, &trafficv1.ComputeFunnelResponse{Steps: []*trafficv1.FunnelStepResult{
		{Sessions: 1, Conversion: 1, StepConversion: 1},
		{Sessions: 1, Conversion: 1, StepConversion: 1, MedianTimeFromPrevious: durationpb.New(time.Minute)},
	}}))
	// Deleting a session without page views counts nothing.
	add(t, s, event(SiteA, "s_f", "v_f", "p_f", t0, "signup"))
	if n, err := s.Delete(ctx, SiteA, index.Selector{SessionIDs: []string{"s_f"}}); err != nil || n != 0 {
		t.Errorf("delete a session without page views: %d, %v; want 0", n, err)
	}
}

func testLeaves(t T, s traffic.Store, _ uint64) {
	q := traffic.Query{SiteID: SiteA, Start: t0, End: t0.Add(time.Hour)}
	median := func(what string, want time.Duration) {
		t.Helper()
		got := overview(t, s, q, hourly).GetCurrent()
		if !durEq(got.GetMedianDuration(), durationpb.New(want)) {
			t.Errorf("%s: median duration %s, want %s", what, durStr(got.GetMedianDuration()), want)
		}
	}
	// The leave arrives before its page view.
	add(t, s, leave(SiteA, "s_l", "v_l", "p_l", t0.Add(40*time.Second), 40*time.Second))
	add(t, s, pv(SiteA, "s_l", "v_l", "p_l", t0, shop+"/", ""))
	median("leave before its page view", 40*time.Second)
	add(t, s, leave(SiteA, "s_l", "v_l", "p_l", t0.Add(50*time.Second), 10*time.Second))
	median("a shorter second leave", 40*time.Second)
	add(t, s, leave(SiteA, "s_l", "v_l", "p_l", t0.Add(90*time.Second), 70*time.Second+123*time.Millisecond))
	median("a longer third leave", 70*time.Second+123*time.Millisecond)
	// A second page view at 60 s without a leave does not shorten it; an
	// event at 100 s lengthens it.
	add(t, s, pv(SiteA, "s_l", "v_l", "p_l2", t0.Add(60*time.Second), shop+"/x", shop+"/"))
	median("a second page view inside the first's duration", 70*time.Second+123*time.Millisecond)
	add(t, s, event(SiteA, "s_l", "v_l", "p_l2", t0.Add(100*time.Second+999*time.Microsecond), "x"))
	median("an event after every page view's end (truncated to milliseconds)", 100*time.Second)
}

func testSeriesDST(t T, s traffic.Store, seed uint64) {
	berlin := loadZone(t, "Europe/Berlin")
	rng := rand.New(rand.NewPCG(seed, 3))
	spring := Generate(seed, SiteA, "m", 150, time.Date(2026, 3, 26, 0, 0, 0, 0, time.UTC), 6*24*time.Hour)
	autumn := Generate(seed+1, SiteA, "o", 150, time.Date(2026, 10, 22, 0, 0, 0, 0, time.UTC), 6*24*time.Hour)
	hand := []traffic.Hit{
		// Both on Berlin's 23-hour 29 March, on two UTC days.
		pv(SiteA, "s_d1", "v_d1", "p_d1", time.Date(2026, 3, 28, 23, 30, 0, 0, time.UTC), shop+"/", ""),
		pv(SiteA, "s_d2", "v_d2", "p_d2", time.Date(2026, 3, 29, 21, 30, 0, 0, time.UTC), shop+"/", ""),
		// 02:30 CEST and 02:30 CET on 25 October: two hour buckets.
		pv(SiteA, "s_d3", "v_d3", "p_d3", time.Date(2026, 10, 25, 0, 30, 0, 0, time.UTC), shop+"/", ""),
		pv(SiteA, "s_d4", "v_d4", "p_d4", time.Date(2026, 10, 25, 1, 30, 0, 0, time.UTC), shop+"/", ""),
	}
	ref := load(t, s, rng, spring, autumn, Generated{Hits: hand})

	day := traffic.Query{SiteID: SiteA, Start: time.Date(2026, 3, 29, 0, 0, 0, 0, berlin), End: time.Date(2026, 3, 30, 0, 0, 0, 0, berlin), Location: berlin, Filter: &trafficv1.TrafficFilter{Direct: true, EntryPage: &searchv1.UrlMatch{Operator: eq, Value: "/"}, Browsers: []string{"Chrome"}}}
	got := overview(t, s, day, daily)
	if len(got.GetSeries()) != 1 || !got.GetSeries()[0].GetStart().AsTime().Equal(day.Start) {
		t.Errorf("Berlin 29 March: series %v, want one day from %s", got.GetSeries(), day.Start)
	}
	checkOverview(t, s, ref, day, daily)
	if h := overview(t, s, day, hourly); len(h.GetSeries()) != 23 {
		t.Errorf("Berlin 29 March in hours: %d buckets, want 23", len(h.GetSeries()))
	}
	fall := traffic.Query{SiteID: SiteA, Start: time.Date(2026, 10, 25, 0, 0, 0, 0, berlin), End: time.Date(2026, 10, 26, 0, 0, 0, 0, berlin), Location: berlin}
	h := overview(t, s, fall, hourly)
	if len(h.GetSeries()) != 25 {
		t.Fatalf("Berlin 25 October in hours: %d buckets, want 25", len(h.GetSeries()))
	}
	checkOverview(t, s, ref, fall, hourly)
	for _, q := range []traffic.Query{day, fall} {
		for _, iv := range []trafficv1.TrafficInterval{hourly, daily, weekly} {
			checkOverview(t, s, ref, q, iv)
		}
	}
	// Random ranges and zones around both changes.
	for range 30 {
		from := []time.Time{spring.Hits[0].Time, autumn.Hits[0].Time}[rng.IntN(2)].Add(time.Duration(rng.Int64N(int64(5 * 24 * time.Hour)))).Truncate(time.Minute)
		q := traffic.Query{SiteID: SiteA, Start: from, End: from.Add(time.Duration(1+rng.IntN(96)) * time.Hour), Location: loadZone(t, Zones[rng.IntN(len(Zones))])}
		checkOverview(t, s, ref, q, []trafficv1.TrafficInterval{hourly, daily, weekly}[rng.IntN(3)])
	}
}

// randomFilters are single conditions on the generated pools; each
// selects some sessions and not all.
func randomFilters() map[string]*trafficv1.TrafficFilter {
	um := func(op searchv1.UrlMatch_Operator, v string) *searchv1.UrlMatch {
		return &searchv1.UrlMatch{Operator: op, Value: v}
	}
	return map[string]*trafficv1.TrafficFilter{
		"devices":        {DeviceTypes: []sessionsv1.DeviceType{sessionsv1.DeviceType_DEVICE_TYPE_MOBILE, sessionsv1.DeviceType_DEVICE_TYPE_TABLET}},
		"countries":      {Countries: []string{"DE", "IN"}},
		"no country":     {Countries: []string{""}},
		"browsers":       {Browsers: []string{"Safari"}},
		"oses":           {Oses: []string{"iOS", "Android"}},
		"referrer":       {ReferrerDomain: "google.com"},
		"referrer t.co":  {ReferrerDomain: "t.co"},
		"direct":         {Direct: true},
		"utm source":     {UtmSource: "newsletter"},
		"utm medium":     {UtmMedium: "cpc"},
		"utm campaign":   {UtmCampaign: "launch"},
		"visited equals": {VisitedPage: um(eq, "/checkout")},
		"visited key":    {VisitedPage: um(eq, "https://shop.example.com/pricing")},
		"visited prefix": {VisitedPage: um(searchv1.UrlMatch_OPERATOR_PREFIX, "/pricing")},
		"visited pat":    {VisitedPage: um(searchv1.UrlMatch_OPERATOR_PATTERN, "/product/*/buy")},
		"entry contains": {EntryPage: um(searchv1.UrlMatch_OPERATOR_CONTAINS, "utm_source=google")},
		"entry equals":   {EntryPage: um(eq, "/")},
		"exit prefix":    {ExitPage: um(searchv1.UrlMatch_OPERATOR_PREFIX, "/docs")},
		"exit contains":  {ExitPage: um(searchv1.UrlMatch_OPERATOR_CONTAINS, "www.")},
		"screen":         {ScreenSize: "390x844"},
	}
}

func randomQuery(rng *rand.Rand, t T, site int64, filters map[string]*trafficv1.TrafficFilter) (traffic.Query, trafficv1.TrafficInterval) {
	lengths := []time.Duration{time.Hour, 6 * time.Hour, 24 * time.Hour, 48 * time.Hour, 7 * 24 * time.Hour, 30 * 24 * time.Hour, 41 * 24 * time.Hour}
	l := lengths[rng.IntN(len(lengths))]
	start := Base.Add(-5 * 24 * time.Hour).Add(time.Duration(rng.Int64N(int64(35 * 24 * time.Hour)))).Truncate(time.Minute)
	if rng.IntN(4) == 0 {
		start = start.Truncate(24 * time.Hour)
	}
	q := traffic.Query{SiteID: site, Start: start, End: start.Add(l)}
	if rng.IntN(3) > 0 {
		q.Location = loadZone(t, Zones[rng.IntN(len(Zones))])
	}
	if rng.IntN(3) > 0 {
		names := make([]string, 0, len(filters))
		for n := range filters {
			names = append(names, n)
		}
		slices.Sort(names)
		q.Filter = filters[names[rng.IntN(len(names))]]
	}
	iv := traffic.AutoInterval(q.Start, q.End)
	if rng.IntN(2) == 0 && l <= 41*24*time.Hour {
		iv = []trafficv1.TrafficInterval{hourly, daily, weekly}[rng.IntN(3)]
	}
	return q, iv
}

func testRandomOverview(t T, s traffic.Store, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 4))
	ref := load(t, s, rng, Generate(seed, SiteA, "a", 300, Base, 30*24*time.Hour), Generate(seed+1, SiteB, "b", 100, Base, 30*24*time.Hour))
	full := traffic.Query{SiteID: SiteA, Start: Base, End: Base.Add(30 * 24 * time.Hour)}
	if n := len(ref.selected(SiteA, full.Start, full.End, nil)); n < 200 {
		t.Fatalf("generator: only %d sessions of site A in range", n)
	}
	checkOverview(t, s, ref, full, daily)
	filters := randomFilters()
	for range 40 {
		q, iv := randomQuery(rng, t, SiteA, filters)
		checkOverview(t, s, ref, q, iv)
	}
}

func testEveryFilter(t T, s traffic.Store, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 5))
	ref := load(t, s, rng, Generate(seed, SiteA, "a", 400, Base, 30*24*time.Hour), Generate(seed+1, SiteB, "b", 100, Base, 30*24*time.Hour))
	q := traffic.Query{SiteID: SiteA, Start: Base.Add(-time.Hour), End: Base.Add(31 * 24 * time.Hour)}
	all := len(ref.selected(SiteA, q.Start, q.End, nil))
	filters := randomFilters()
	names := make([]string, 0, len(filters))
	for n := range filters {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		fq := q
		fq.Filter = filters[n]
		if k := len(ref.selected(SiteA, q.Start, q.End, fq.Filter)); k == 0 || k == all {
			t.Errorf("generator: filter %s selects %d of %d sessions (not a test of it)", n, k, all)
		}
		checkOverview(t, s, ref, fq, weekly)
	}
	// Conditions AND, repeated values OR.
	for range 30 {
		f := &trafficv1.TrafficFilter{}
		for range 2 + rng.IntN(2) {
			proto.Merge(f, filters[names[rng.IntN(len(names))]])
		}
		fq := q
		fq.Filter = f
		checkOverview(t, s, ref, fq, weekly)
	}
}

func testBreakdowns(t T, s traffic.Store, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 6))
	ref := load(t, s, rng, Generate(seed, SiteA, "a", 300, Base, 30*24*time.Hour), Generate(seed+1, SiteB, "b", 100, Base, 30*24*time.Hour))
	full := traffic.Query{SiteID: SiteA, Start: Base, End: Base.Add(30 * 24 * time.Hour)}
	for _, dim := range dimensions {
		for _, limit := range []int{1, 3, 10, traffic.MaxBreakdownRows} {
			checkBreakdown(t, s, ref, full, dim, limit)
		}
	}
	filters := randomFilters()
	for range 30 {
		q, _ := randomQuery(rng, t, SiteA, filters)
		checkBreakdown(t, s, ref, q, dimensions[rng.IntN(len(dimensions))], 1+rng.IntN(12))
	}
}

func testRealtime(t T, s traffic.Store, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 7))
	now := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	// The last 40 minutes, with hits exactly on minute boundaries and on
	// the window's edges.
	g := Generate(seed, SiteA, "r", 200, now.Add(-40*time.Minute), 41*time.Minute)
	var edges []traffic.Hit
	for i, d := range []time.Duration{0, -time.Millisecond, -traffic.RealtimeWindow, -traffic.RealtimeWindow + time.Millisecond, -time.Minute, -29 * time.Minute, -30 * time.Minute, -30*time.Minute + time.Millisecond, time.Millisecond} {
		sid, vid := fmt.Sprintf("s_edge%d", i), fmt.Sprintf("v_edge%d", i%4)
		edges = append(edges, pv(SiteA, sid, vid, "p_edge"+fmt.Sprint(i), now.Add(d), shop+fmt.Sprintf("/edge/%d", i%3), ""))
	}
	// An event in the window counts its visitor.
	edges = append(edges, event(SiteA, "s_edge0", "v_edge0", "p_edge0", now.Add(-time.Second), "x"))
	ref := load(t, s, rng, g, Generate(seed+1, SiteB, "rb", 100, now.Add(-10*time.Minute), 10*time.Minute), Generated{Hits: edges})
	for _, at := range []time.Time{now, now.Add(-time.Millisecond), now.Add(time.Minute), now.Add(-3 * time.Minute), now.Add(-37 * time.Minute), now.Add(2 * time.Hour)} {
		checkRealtime(t, s, ref, SiteA, at)
	}
	checkRealtime(t, s, ref, SiteB, now)
	for range 10 {
		checkRealtime(t, s, ref, SiteA, now.Add(-time.Duration(rng.Int64N(int64(45*time.Minute)))).Truncate(time.Millisecond))
	}
	// More current pages than RealtimePages: the top ones by visitors,
	// then page.
	var many []traffic.Hit
	for i := range traffic.RealtimePages + 6 {
		for j := range 1 + i%4 {
			sid := fmt.Sprintf("s_many%02d_%d", i, j)
			many = append(many, pv(SiteA, sid, "v_"+sid, "p_"+sid, now.Add(-time.Duration(1+i)*time.Second), shop+fmt.Sprintf("/many/%02d", i), ""))
		}
	}
	add(t, s, many...)
	_ = ref.AddHits(ctx, many)
	checkRealtime(t, s, ref, SiteA, now)
	if rt, err := s.Realtime(ctx, SiteA, now); err != nil || len(rt.GetPages()) != traffic.RealtimePages {
		t.Errorf("realtime with %d current pages: %d pages listed, %v; want %d", traffic.RealtimePages+6, len(rt.GetPages()), err, traffic.RealtimePages)
	}

	// Read-your-writes: a page view added now is visible at once.
	add(t, s, pv(SiteA, "s_new", "v_new", "p_new", now.Add(time.Hour), shop+"/new", ""))
	rt, err := s.Realtime(ctx, SiteA, now.Add(time.Hour))
	if err != nil || rt.GetPageViews() != 1 || rt.GetVisitors() != 1 || len(rt.GetPages()) != 1 || rt.GetPages()[0].GetPage() != shop+"/new" {
		t.Errorf("realtime right after a write: %v, %v", rt, err)
	}
}

// funnelData is five sessions whose funnel results are computed by hand
// in testFunnelHand.
func funnelData() ([]traffic.Hit, []traffic.Recorded) {
	at := func(d time.Duration) time.Time { return t0.Add(d) }
	sec := time.Second
	f4 := pv(SiteA, "f4", "v4", "q1", at(0), shop+"/pricing", "")
	f4b := pv(SiteA, "f4", "v4", "q2", at(40*sec), shop+"/checkout", "")
	f4.Device, f4b.Device = sessionsv1.DeviceType_DEVICE_TYPE_MOBILE, sessionsv1.DeviceType_DEVICE_TYPE_MOBILE
	hits := []traffic.Hit{
		// f1: pricing, checkout after 10 s, purchase 10 s later.
		pv(SiteA, "f1", "v1", "q1", at(0), shop+"/pricing", ""),
		pv(SiteA, "f1", "v1", "q2", at(10*sec), shop+"/checkout?step=1", ""),
		event(SiteA, "f1", "v1", "q2", at(20*sec), "purchase"),
		// f2: checkout before pricing (out of order): enters only.
		pv(SiteA, "f2", "v2", "q1", at(0), shop+"/checkout", ""),
		pv(SiteA, "f2", "v2", "q2", at(5*sec), shop+"/pricing", ""),
		// f3: pricing twice, checkout, purchase at checkout's very instant
		// (a page view before an event at one time).
		pv(SiteA, "f3", "v3", "q1", at(0), shop+"/pricing", ""),
		pv(SiteA, "f3", "v3", "q2", at(20*sec), shop+"/pricing?ref=2", ""),
		pv(SiteA, "f3", "v3", "q3", at(30*sec), shop+"/checkout", ""),
		event(SiteA, "f3", "v3", "q3", at(30*sec), "purchase"),
		// f4: mobile, pricing then checkout after 40 s.
		f4, f4b,
		// f5: purchase first, then pricing and checkout 1 s apart.
		pv(SiteA, "f5", "v5", "q0", at(-time.Minute), shop+"/", ""),
		event(SiteA, "f5", "v5", "q0", at(0), "purchase"),
		pv(SiteA, "f5", "v5", "q1", at(1*sec), shop+"/pricing", ""),
		pv(SiteA, "f5", "v5", "q2", at(2*sec), shop+"/checkout", ""),
	}
	marks := []traffic.Recorded{{SiteID: SiteA, SessionID: "f2", Version: 1}, {SiteID: SiteA, SessionID: "f3", Version: 1}, {SiteID: SiteA, SessionID: "f5", Version: 1}}
	return hits, marks
}

func testFunnelHand(t T, s traffic.Store, seed uint64) {
	hits, marks := funnelData()
	deliver(t, s, rand.New(rand.NewPCG(seed, 8)), hits)
	mark(t, s, marks...)
	q := traffic.FunnelQuery{SiteID: SiteA, Start: t0.Add(-time.Hour), End: t0.Add(time.Hour),
		Steps: []*trafficv1.FunnelStep{pageStep(eq, "/pricing"), pageStep(eq, "/checkout"), eventStep("purchase")}}
	d := durationpb.New
	sec := time.Second
	funnel := func(name string, q traffic.FunnelQuery, want ...*trafficv1.FunnelStepResult) {
		t.Helper()
		got, err := s.Funnel(ctx, q)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		report(t, name, diffFunnel(got, &trafficv1.ComputeFunnelResponse{Steps: want}))
	}
	// Entered: all five. Checkout: f1 (10 s), f3 (30 s), f4 (40 s), f5 (1 s)
	// — lower median 10 s; f2 dropped (recorded). Purchase: f1 (10 s), f3
	// (0 s) — lower median 0 s; f4 and f5 dropped (f5 recorded).
	funnel("hand funnel", q,
		&trafficv1.FunnelStepResult{Sessions: 5, Conversion: 1, StepConversion: 1},
		&trafficv1.FunnelStepResult{Sessions: 4, Conversion: 0.8, StepConversion: 0.8, Dropped: 1, DroppedRecorded: 1, MedianTimeFromPrevious: d(10 * sec)},
		&trafficv1.FunnelStepResult{Sessions: 2, Conversion: 0.4, StepConversion: 0.5, Dropped: 2, DroppedRecorded: 1, MedianTimeFromPrevious: d(0)},
	)
	mobile := q
	mobile.DeviceTypes = []sessionsv1.DeviceType{sessionsv1.DeviceType_DEVICE_TYPE_MOBILE}
	funnel("hand funnel, mobile", mobile,
		&trafficv1.FunnelStepResult{Sessions: 1, Conversion: 1, StepConversion: 1},
		&trafficv1.FunnelStepResult{Sessions: 1, Conversion: 1, StepConversion: 1, MedianTimeFromPrevious: d(40 * sec)},
		&trafficv1.FunnelStepResult{Sessions: 0, Conversion: 0, StepConversion: 0, Dropped: 1},
	)
	// A repeated step needs a second, later matching page view: f3 only
	// (20 s); f2's pricing is its first.
	rep := q
	rep.Steps = []*trafficv1.FunnelStep{pageStep(eq, "/pricing"), pageStep(eq, "/pricing")}
	funnel("hand funnel, repeated step", rep,
		&trafficv1.FunnelStepResult{Sessions: 5, Conversion: 1, StepConversion: 1},
		&trafficv1.FunnelStepResult{Sessions: 1, Conversion: 0.2, StepConversion: 0.2, Dropped: 4, DroppedRecorded: 2, MedianTimeFromPrevious: d(20 * sec)},
	)
	// Event first: purchase then checkout — f5 (purchase at 0, checkout
	// 2 s later); f1 and f3 purchase last. The range excludes nobody.
	ev := q
	ev.Steps = []*trafficv1.FunnelStep{eventStep("purchase"), pageStep(searchv1.UrlMatch_OPERATOR_CONTAINS, "checkout")}
	funnel("hand funnel, event first", ev,
		&trafficv1.FunnelStepResult{Sessions: 3, Conversion: 1, StepConversion: 1},
		&trafficv1.FunnelStepResult{Sessions: 1, Conversion: 1.0 / 3, StepConversion: 1.0 / 3, Dropped: 2, DroppedRecorded: 1, MedianTimeFromPrevious: d(2 * sec)},
	)
	// The range is by session start: f5 starts a minute before t0.
	late := q
	late.Start = t0
	funnel("hand funnel, f5 out of range", late,
		&trafficv1.FunnelStepResult{Sessions: 4, Conversion: 1, StepConversion: 1},
		&trafficv1.FunnelStepResult{Sessions: 3, Conversion: 0.75, StepConversion: 0.75, Dropped: 1, DroppedRecorded: 1, MedianTimeFromPrevious: d(30 * sec)},
		&trafficv1.FunnelStepResult{Sessions: 2, Conversion: 0.5, StepConversion: 2.0 / 3, Dropped: 1, MedianTimeFromPrevious: d(0)},
	)
	// The sessions behind the numbers: reached checkout, recorded: f3, f5
	// (f5 started earlier, so f3 first); dropped at purchase: f4, f5.
	page := func(step int, dropped bool) traffic.FunnelPage {
		t.Helper()
		p, err := s.FunnelSessions(ctx, q, step, dropped, nil, 10)
		if err != nil {
			t.Fatalf("funnel sessions: %v", err)
		}
		return p
	}
	if p := page(1, false); p.Total != 4 || p.Recorded != 2 || !slices.Equal(p.SessionIDs, []string{"f3", "f5"}) || p.Next != nil {
		t.Errorf("reached checkout: %+v, want 4 in all, recorded [f3 f5]", p)
	}
	if p := page(2, true); p.Total != 2 || p.Recorded != 1 || !slices.Equal(p.SessionIDs, []string{"f5"}) {
		t.Errorf("dropped at purchase: %+v, want 2 in all, recorded [f5]", p)
	}
	if p := page(1, true); p.Total != 1 || p.Recorded != 1 || !slices.Equal(p.SessionIDs, []string{"f2"}) {
		t.Errorf("dropped at checkout: %+v, want [f2]", p)
	}
}

// randomSteps draws a funnel of 2–MaxSteps steps from the generated
// pools, sometimes repeating one.
func randomSteps(rng *rand.Rand) []*trafficv1.FunnelStep {
	var steps []*trafficv1.FunnelStep
	for range traffic.MinSteps + rng.IntN(traffic.MaxSteps-traffic.MinSteps+1) {
		switch {
		case len(steps) > 0 && rng.IntN(6) == 0:
			steps = append(steps, steps[len(steps)-1])
		case rng.IntN(3) == 0:
			steps = append(steps, eventStep(Events[rng.IntN(len(Events))]))
		default:
			ops := []searchv1.UrlMatch_Operator{eq, searchv1.UrlMatch_OPERATOR_PREFIX, searchv1.UrlMatch_OPERATOR_CONTAINS, searchv1.UrlMatch_OPERATOR_PATTERN}
			v := Paths[rng.IntN(len(Paths))]
			op := ops[rng.IntN(len(ops))]
			if op == searchv1.UrlMatch_OPERATOR_PATTERN {
				v = "/*"
				if rng.IntN(2) == 0 {
					v = "/pricing*"
				}
			}
			steps = append(steps, pageStep(op, v))
		}
	}
	return steps
}

func randomFunnel(rng *rand.Rand, site int64) traffic.FunnelQuery {
	start := Base.Add(time.Duration(rng.Int64N(int64(20 * 24 * time.Hour))))
	q := traffic.FunnelQuery{SiteID: site, Start: start, End: start.Add(time.Duration(1+rng.IntN(20)) * 24 * time.Hour), Steps: randomSteps(rng)}
	if rng.IntN(3) == 0 {
		q.Start, q.End = Base, Base.Add(30*24*time.Hour)
	}
	if rng.IntN(3) == 0 {
		q.DeviceTypes = []sessionsv1.DeviceType{Devices[rng.IntN(len(Devices))]}
	}
	return q
}

func testRandomFunnels(t T, s traffic.Store, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 9))
	ref := load(t, s, rng, Generate(seed, SiteA, "a", 400, Base, 30*24*time.Hour), Generate(seed+1, SiteB, "b", 100, Base, 30*24*time.Hour))
	reachedSecond := 0
	for range 40 {
		q := randomFunnel(rng, SiteA)
		checkFunnel(t, s, ref, q)
		if f, _ := ref.Funnel(ctx, q); f.GetSteps()[1].GetSessions() > 0 {
			reachedSecond++
		}
	}
	if reachedSecond < 5 {
		t.Errorf("generator: only %d of 40 random funnels had a session reach step 2", reachedSecond)
	}
}

func testFunnelPaging(t T, s traffic.Store, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 10))
	ref := load(t, s, rng, Generate(seed, SiteA, "a", 400, Base, 30*24*time.Hour), Generate(seed+1, SiteB, "b", 50, Base, 30*24*time.Hour))
	// Ties in start time: sessions at one instant, ordered by id.
	var ties []traffic.Hit
	var tieMarks []traffic.Recorded
	for i := range 7 {
		sid := fmt.Sprintf("s_tie%d", i)
		ties = append(ties, pv(SiteA, sid, "v_tie", "p_tie"+fmt.Sprint(i), Base.Add(24*time.Hour), shop+"/pricing", ""))
		tieMarks = append(tieMarks, traffic.Recorded{SiteID: SiteA, SessionID: sid, Version: 1})
	}
	add(t, s, ties...)
	mark(t, s, tieMarks...)
	_ = ref.AddHits(ctx, ties)
	_ = ref.SetRecorded(ctx, tieMarks)
	queries := []traffic.FunnelQuery{{SiteID: SiteA, Start: Base, End: Base.Add(30 * 24 * time.Hour), Steps: []*trafficv1.FunnelStep{pageStep(searchv1.UrlMatch_OPERATOR_PREFIX, "/"), pageStep(searchv1.UrlMatch_OPERATOR_PREFIX, "/pricing")}}}
	for range 6 {
		queries = append(queries, randomFunnel(rng, SiteA))
	}
	for _, q := range queries {
		for step := range q.Steps {
			for _, dropped := range []bool{false, true} {
				if dropped && step == 0 {
					continue
				}
				want, _ := ref.FunnelSessions(ctx, q, step, dropped, nil, 1<<30)
				limit := 1 + rng.IntN(9)
				var ids []string
				var after *traffic.FunnelCursor
				for pages := 0; ; pages++ {
					p, err := s.FunnelSessions(ctx, q, step, dropped, after, limit)
					if err != nil {
						t.Fatalf("funnel sessions: %v", err)
					}
					if p.Total != want.Total || p.Recorded != want.Recorded {
						t.Errorf("funnel sessions step %d dropped %v %s: total %d recorded %d, want %d %d", step, dropped, describeFunnel(q), p.Total, p.Recorded, want.Total, want.Recorded)
					}
					if len(p.SessionIDs) > limit {
						t.Fatalf("page of %d ids, limit %d", len(p.SessionIDs), limit)
					}
					ids = append(ids, p.SessionIDs...)
					if p.Next != nil && len(ids) >= len(want.SessionIDs) {
						t.Errorf("funnel sessions step %d dropped %v: a next cursor after the last of %d ids", step, dropped, len(want.SessionIDs))
						break
					}
					if p.Next == nil || pages > 500 {
						break
					}
					if len(p.SessionIDs) == 0 {
						t.Fatalf("an empty page with a next cursor")
					}
					after = p.Next
				}
				if !slices.Equal(ids, want.SessionIDs) {
					t.Errorf("funnel sessions step %d dropped %v limit %d %s: paged %d ids %v, want %d %v", step, dropped, limit, describeFunnel(q), len(ids), head(ids), len(want.SessionIDs), head(want.SessionIDs))
				}
			}
		}
	}
}

func head(xs []string) []string {
	if len(xs) > 8 {
		return xs[:8]
	}
	return xs
}

func testRecorded(t T, s traffic.Store, seed uint64) {
	q := traffic.Query{SiteID: SiteA, Start: t0, End: t0.Add(time.Hour)}
	rates := func(what string, recorded int64, rage, dead, errs *float64) {
		t.Helper()
		got := overview(t, s, q, hourly).GetCurrent()
		if got.GetRecordedSessions() != recorded || !optNear(got.RageClickRate, rage) || !optNear(got.DeadClickRate, dead) || !optNear(got.ErrorRate, errs) {
			t.Errorf("%s: recorded %d rage %s dead %s errors %s; want %d %s %s %s", what, got.GetRecordedSessions(),
				optStr(got.RageClickRate), optStr(got.DeadClickRate), optStr(got.ErrorRate), recorded, optStr(rage), optStr(dead), optStr(errs))
		}
	}
	f := proto.Float64
	// Marked before its first hit.
	mark(t, s, traffic.Recorded{SiteID: SiteA, SessionID: "s_r1", Version: 2, Rage: true})
	rates("a mark alone", 0, nil, nil, nil)
	add(t, s, pv(SiteA, "s_r1", "v_r", "p_r1", t0, shop+"/", ""), pv(SiteA, "s_r2", "v_r", "p_r2", t0.Add(time.Minute), shop+"/", ""))
	rates("marked before its hits", 1, f(1), f(0), f(0))
	// Marked after; a stale version changes nothing; a newer one replaces.
	mark(t, s, traffic.Recorded{SiteID: SiteA, SessionID: "s_r2", Version: 5, Dead: true, Errors: true})
	rates("marked after its hits", 2, f(0.5), f(0.5), f(0.5))
	mark(t, s, traffic.Recorded{SiteID: SiteA, SessionID: "s_r1", Version: 1, Dead: true})
	rates("a stale version", 2, f(0.5), f(0.5), f(0.5))
	mark(t, s, traffic.Recorded{SiteID: SiteA, SessionID: "s_r1", Version: 3})
	rates("a newer version", 2, f(0), f(0.5), f(0.5))
	// Another site's mark of the same session id counts nowhere.
	mark(t, s, traffic.Recorded{SiteID: SiteB, SessionID: "s_r1", Version: 9, Rage: true})
	rates("another site's mark", 2, f(0), f(0.5), f(0.5))

	// Random data, marks in random order (stale ones included), some before
	// the hits.
	rng := rand.New(rand.NewPCG(seed, 11))
	g := Generate(seed, SiteA, "k", 300, Base, 30*24*time.Hour)
	var marks []traffic.Recorded
	for _, m := range g.Marks {
		marks = append(marks, m)
		old := m
		old.Version--
		old.Rage, old.Dead, old.Errors = !m.Rage, !m.Dead, !m.Errors
		marks = append(marks, old)
	}
	rng.Shuffle(len(marks), func(i, j int) { marks[i], marks[j] = marks[j], marks[i] })
	half := len(marks) / 2
	mark(t, s, marks[:half]...)
	deliver(t, s, rng, g.Hits)
	mark(t, s, marks[half:]...)
	ref := NewReference()
	_ = ref.SetRecorded(ctx, marks)
	_ = ref.AddHits(ctx, g.Hits)
	_ = ref.AddHits(ctx, []traffic.Hit{pv(SiteA, "s_r1", "v_r", "p_r1", t0, shop+"/", ""), pv(SiteA, "s_r2", "v_r", "p_r2", t0.Add(time.Minute), shop+"/", "")})
	_ = ref.SetRecorded(ctx, []traffic.Recorded{{SiteID: SiteA, SessionID: "s_r1", Version: 3}, {SiteID: SiteA, SessionID: "s_r2", Version: 5, Dead: true, Errors: true}})
	for range 10 {
		q, iv := randomQuery(rng, t, SiteA, randomFilters())
		checkOverview(t, s, ref, q, iv)
	}
	for range 10 {
		checkFunnel(t, s, ref, randomFunnel(rng, SiteA))
	}
}

func testDeletes(t T, s traffic.Store, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 12))
	ga, gb := Generate(seed, SiteA, "a", 300, Base, 30*24*time.Hour), Generate(seed+1, SiteB, "b", 100, Base, 30*24*time.Hour)
	ref := load(t, s, rng, ga, gb)
	full := traffic.Query{SiteID: SiteA, Start: Base.Add(-time.Hour), End: Base.Add(31 * 24 * time.Hour)}
	fullB := full
	fullB.SiteID = SiteB
	verify := func(what string) {
		t.Helper()
		checkOverview(t, s, ref, full, weekly)
		checkOverview(t, s, ref, fullB, weekly)
		checkBreakdown(t, s, ref, full, trafficv1.TrafficDimension_TRAFFIC_DIMENSION_PAGE, 1000)
		checkFunnel(t, s, ref, traffic.FunnelQuery{SiteID: SiteA, Start: full.Start, End: full.End, Steps: []*trafficv1.FunnelStep{pageStep(searchv1.UrlMatch_OPERATOR_PREFIX, "/"), eventStep("signup")}})
	}
	del := func(what string, site int64, sel index.Selector) {
		t.Helper()
		want, _ := ref.Delete(ctx, site, sel)
		got, err := s.Delete(ctx, site, sel)
		if err != nil {
			t.Fatalf("delete %s: %v", what, err)
		}
		if got != want {
			t.Errorf("delete %s: %d sessions, want %d", what, got, want)
		}
		verify("after deleting " + what)
	}
	ss := ref.Sessions(SiteA)
	slices.SortFunc(ss, func(a, b *Session) int { return a.Start.Compare(b.Start) })
	// Ids: three that exist, one without a page view, one unknown, and one
	// of site B's (which site A's delete must not touch).
	ids := []string{ss[0].ID, ss[5].ID, ss[9].ID, "s_nothing", ref.Sessions(SiteB)[0].ID}
	for _, h := range ga.Hits {
		if h.Kind == sessionsv1.HitKind_HIT_KIND_EVENT && !slices.ContainsFunc(ss, func(x *Session) bool { return x.ID == h.SessionID }) {
			ids = append(ids, h.SessionID)
			break
		}
	}
	del("by session ids", SiteA, index.Selector{SessionIDs: ids})
	del("by visitor", SiteA, index.Selector{VisitorID: ss[20].VisitorID})
	del("by visitor of another site", SiteB, index.Selector{VisitorID: ss[21].VisitorID})
	del("started before", SiteA, index.Selector{StartedBefore: ss[40].Start})
	// Hits of a deleted session arriving later start it afresh (without
	// its mark or its earlier hits).
	var again []traffic.Hit
	for _, h := range ga.Hits {
		if h.SessionID == ss[0].ID && h.Kind != sessionsv1.HitKind_HIT_KIND_PAGE_VIEW {
			again = append(again, h)
		}
	}
	again = append(again, pv(SiteA, ss[0].ID, ss[0].VisitorID, "p_again", Base.Add(29*24*time.Hour), shop+"/again", ""))
	add(t, s, again...)
	_ = ref.AddHits(ctx, again)
	verify("hits after a delete")
	del("whole site", SiteA, index.Selector{WholeSite: true})
	if got := overview(t, s, full, weekly).GetCurrent().GetSessions(); got != 0 {
		t.Errorf("after deleting the whole site: %d sessions", got)
	}
	if n, err := s.Delete(ctx, SiteA, index.Selector{}); err == nil {
		t.Errorf("delete without a selector: %d, no error", n)
	}
}

func testSweep(t T, s traffic.Store, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 13))
	ga, gb := Generate(seed, SiteA, "a", 300, Base, 30*24*time.Hour), Generate(seed+1, SiteB, "b", 100, Base, 30*24*time.Hour)
	// A session whose latest hit plus its retention is exactly now stays.
	edge := pv(SiteA, "s_edge", "v_edge", "p_edge", Base, shop+"/", "")
	edge.RetentionDays = 10
	ref := load(t, s, rng, ga, gb, Generated{Hits: []traffic.Hit{edge}})
	full := traffic.Query{SiteID: SiteA, Start: Base.Add(-time.Hour), End: Base.Add(31 * 24 * time.Hour)}
	for _, now := range []time.Time{Base.Add(10 * 24 * time.Hour), Base.Add(40 * 24 * time.Hour), Base.Add(70 * 24 * time.Hour), Base.Add(200 * 24 * time.Hour)} {
		want, _ := ref.Sweep(ctx, now, 45*24*time.Hour)
		got, err := s.Sweep(ctx, now, 45*24*time.Hour)
		if err != nil {
			t.Fatalf("sweep: %v", err)
		}
		if got != want {
			t.Errorf("sweep at %s: %d sessions, want %d", now, got, want)
		}
		checkOverview(t, s, ref, full, weekly)
		fb := full
		fb.SiteID = SiteB
		checkOverview(t, s, ref, fb, weekly)
	}
}

func testTenancy(t T, s traffic.Store, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 14))
	// Both sites use the same session, visitor and page view ids.
	ga, gb := Generate(seed, SiteA, "x", 200, Base, 30*24*time.Hour), Generate(seed+1, SiteB, "x", 200, Base, 30*24*time.Hour)
	ref := load(t, s, rng, ga, gb)
	for _, site := range []int64{SiteA, SiteB, SiteA + 1000} {
		q := traffic.Query{SiteID: site, Start: Base, End: Base.Add(30 * 24 * time.Hour)}
		checkOverview(t, s, ref, q, daily)
		for _, dim := range dimensions {
			checkBreakdown(t, s, ref, q, dim, 20)
		}
		checkFunnel(t, s, ref, traffic.FunnelQuery{SiteID: site, Start: q.Start, End: q.End, Steps: []*trafficv1.FunnelStep{pageStep(searchv1.UrlMatch_OPERATOR_PREFIX, "/p"), pageStep(searchv1.UrlMatch_OPERATOR_PREFIX, "/")}})
		checkRealtime(t, s, ref, site, Base.Add(10*24*time.Hour))
	}
	if n, _ := s.Delete(ctx, SiteA+1000, index.Selector{WholeSite: true}); n != 0 {
		t.Errorf("deleting an empty site: %d sessions", n)
	}
	want, _ := ref.Delete(ctx, SiteA, index.Selector{WholeSite: true})
	if got, err := s.Delete(ctx, SiteA, index.Selector{WholeSite: true}); err != nil || got != want {
		t.Errorf("delete site A: %d, %v; want %d", got, err, want)
	}
	checkOverview(t, s, ref, traffic.Query{SiteID: SiteB, Start: Base, End: Base.Add(30 * 24 * time.Hour)}, daily)
}

func testLimits(t T, s traffic.Store, _ uint64) {
	var hits []traffic.Hit
	for i := range traffic.MaxPageViewsPerSession + 100 {
		hits = append(hits, pv(SiteA, "s_big", "v_big", fmt.Sprintf("p_%04d", i), t0.Add(time.Duration(i)*time.Second), shop+fmt.Sprintf("/%d", i), ""))
	}
	for i := range 20 {
		add(t, s, hits[i*30:min(len(hits), (i+1)*30)]...)
	}
	add(t, s, hits...)
	q := traffic.Query{SiteID: SiteA, Start: t0, End: t0.Add(2 * time.Hour)}
	if got := overview(t, s, q, hourly).GetCurrent(); got.GetSessions() != 1 || got.GetPageViews() != traffic.MaxPageViewsPerSession {
		t.Errorf("a session of %d page views: %d sessions, %d page views; want 1 and %d", len(hits), got.GetSessions(), got.GetPageViews(), traffic.MaxPageViewsPerSession)
	}
}
