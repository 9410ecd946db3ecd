package search

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	recordingsv1 "github.com/sightlinehq/sightline/gen/sightline/recordings/v1"
	searchv1 "github.com/sightlinehq/sightline/gen/sightline/search/v1"
	sessionsv1 "github.com/sightlinehq/sightline/gen/sightline/sessions/v1"
	trafficv1 "github.com/sightlinehq/sightline/gen/sightline/traffic/v1"
	"github.com/sightlinehq/sightline/platform/pebblelog"
	"github.com/sightlinehq/sightline/siteaccess/siteaccesstest"
	"github.com/sightlinehq/sightline/svc-search/traffic"
	"github.com/sightlinehq/sightline/svc-search/traffic/embedded"
)

// hitChunk is one traffic beacon as ingest's forwarder sends it.
func hitChunk(site int64, session, visitor, pv string, kind sessionsv1.HitKind, at time.Time, url string) *recordingsv1.Chunk {
	c := &recordingsv1.Chunk{
		SiteId: site, OrganizationId: 3_000_000_100, SessionId: session, VisitorId: visitor, PageViewId: pv,
		ServerTime: timestamppb.New(at), ClientTime: timestamppb.New(at), Url: url,
		Client: &sessionsv1.Client{DeviceType: sessionsv1.DeviceType_DEVICE_TYPE_DESKTOP, Browser: "Chrome", Os: "Linux", Country: "DE"},
		Hit:    &sessionsv1.Hit{Kind: kind, Recorded: true, ScreenWidth: 1920, ScreenHeight: 1080},
	}
	switch kind {
	case sessionsv1.HitKind_HIT_KIND_PAGE_LEAVE:
		c.Url = ""
		c.Hit.Duration = durationpb.New(15 * time.Second)
	case sessionsv1.HitKind_HIT_KIND_EVENT:
		c.Url = ""
		c.Hit.Event = "signup"
	}
	return c
}

func pageView(site int64, n int, visitor string, at time.Time, url string) *recordingsv1.Chunk {
	return hitChunk(site, fmt.Sprintf("s_session%06d", n), visitor, fmt.Sprintf("p_view%06d_%d", n, at.UnixNano()%1000), sessionsv1.HitKind_HIT_KIND_PAGE_VIEW, at, url)
}

func appendHits(t *testing.T, tc trafficClient, chunks ...*recordingsv1.Chunk) *trafficv1.AppendHitsResponse {
	t.Helper()
	res, err := tc.AppendHits(t.Context(), &trafficv1.AppendHitsRequest{Chunks: chunks})
	if err != nil {
		t.Fatalf("append hits: %v", err)
	}
	return res
}

func lastDay() *searchv1.TimeRange {
	now := time.Now()
	return &searchv1.TimeRange{Start: timestamppb.New(now.Add(-24 * time.Hour)), End: timestamppb.New(now.Add(time.Minute))}
}

func overview(t *testing.T, tc trafficClient, site int64) *trafficv1.TrafficTotals {
	t.Helper()
	res, err := tc.GetTrafficOverview(t.Context(), &trafficv1.GetTrafficOverviewRequest{SiteId: site, Range: lastDay()})
	if err != nil {
		t.Fatalf("overview: %v", err)
	}
	return res.GetCurrent()
}

func outcomes(res *trafficv1.AppendHitsResponse) []recordingsv1.ChunkOutcome {
	var out []recordingsv1.ChunkOutcome
	for _, r := range res.GetResults() {
		out = append(out, r.GetOutcome())
	}
	return out
}

// TestAppendHitsOutcomes: AppendHits answers one outcome per chunk, in
// order — stored, refused with a reason (the beacon contract) — and a
// re-delivery changes nothing (answered STORED: the store cannot tell);
// what it stored is counted by the queries at once.
func TestAppendHitsOutcomes(t *testing.T) {
	_, tc, _ := serveBoth(t, testConfig(t), Deps{Authorizer: siteaccesstest.AllowAll{}})
	now := time.Now().Add(-time.Minute)
	good := pageView(siteA, 1, "v_visitor001", now, "https://shop.example.com/cart")
	event := hitChunk(siteA, "s_session000001", "v_visitor001", good.PageViewId, sessionsv1.HitKind_HIT_KIND_EVENT, now.Add(time.Second), "")
	noHit := pageView(siteA, 2, "v_visitor002", now, "https://shop.example.com/")
	noHit.Hit = nil
	badID := pageView(siteA, 3, "visitor-without-prefix", now, "https://shop.example.com/")
	notHTTP := pageView(siteA, 4, "v_visitor004", now, "javascript:alert(1)")
	withEvents := pageView(siteA, 5, "v_visitor005", now, "https://shop.example.com/")
	withEvents.Events = []byte(`[]`)
	longEvent := hitChunk(siteA, "s_session000006", "v_visitor006", "p_view000006", sessionsv1.HitKind_HIT_KIND_EVENT, now, "")
	longEvent.Hit.Event = strings.Repeat("e", 101)
	badDevice := pageView(siteA, 7, "v_visitor007", now, "https://shop.example.com/")
	badDevice.Client.DeviceType = 99

	res := appendHits(t, tc, good, event, noHit, badID, notHTTP, withEvents, longEvent, badDevice)
	S, R := recordingsv1.ChunkOutcome_CHUNK_OUTCOME_STORED, recordingsv1.ChunkOutcome_CHUNK_OUTCOME_REFUSED
	if want := []recordingsv1.ChunkOutcome{S, S, R, R, R, R, R, R}; !slices.Equal(outcomes(res), want) {
		t.Fatalf("outcomes %v, want %v (%v)", outcomes(res), want, res.GetResults())
	}
	if res.Stored != 2 || res.Refused != 6 || res.Duplicates != 0 {
		t.Fatalf("counts stored %d refused %d duplicates %d", res.Stored, res.Refused, res.Duplicates)
	}
	for i, r := range res.GetResults()[2:] {
		if !strings.HasPrefix(r.GetReason(), fmt.Sprintf("chunks[%d]: ", i+2)) {
			t.Errorf("refused chunk %d: reason %q does not name it", i+2, r.GetReason())
		}
	}
	// Re-delivered, in another order: nothing changes.
	if res := appendHits(t, tc, event, good); !slices.Equal(outcomes(res), []recordingsv1.ChunkOutcome{S, S}) {
		t.Fatalf("re-delivery outcomes %v", outcomes(res))
	}
	tot := overview(t, tc, siteA)
	if tot.GetSessions() != 1 || tot.GetPageViews() != 1 || tot.GetVisitors() != 1 {
		t.Fatalf("overview after one page view delivered twice: %v", tot)
	}
	rt, err := tc.GetRealtime(t.Context(), &trafficv1.GetRealtimeRequest{SiteId: siteA})
	if err != nil {
		t.Fatal(err)
	}
	if rt.GetVisitors() != 1 || rt.GetPageViews() != 1 || len(rt.GetPerMinute()) != 30 {
		t.Fatalf("realtime: %v", rt)
	}
	// Site B sees none of it.
	if tot := overview(t, tc, siteB); tot.GetSessions() != 0 {
		t.Fatalf("site B counts site A's traffic: %v", tot)
	}
	// Too many chunks in one call is refused as a whole.
	cfg := testConfig(t)
	many := make([]*recordingsv1.Chunk, cfg.Traffic.MaxAppendHits+1)
	for i := range many {
		many[i] = good
	}
	if _, err := tc.AppendHits(t.Context(), &trafficv1.AppendHitsRequest{Chunks: many}); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("%d chunks: %v, want InvalidArgument", len(many), err)
	}
}

// failingStore fails writes while fail is set.
type failingStore struct {
	traffic.Store
	fail bool
}

func (f *failingStore) AddHits(ctx context.Context, hits []traffic.Hit) error {
	if f.fail {
		return errors.New("disk on fire")
	}
	return f.Store.AddHits(ctx, hits)
}

func openEmbedded(t *testing.T) traffic.Store {
	t.Helper()
	st, err := embedded.Open(t.TempDir(), embedded.Options{Logger: pebblelog.New(slog.New(slog.DiscardHandler))})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// TestAppendHitsStoreFailure: a store failure fails the whole call with
// Unavailable (the forwarder retries it), and the retry stores the hits.
func TestAppendHitsStoreFailure(t *testing.T) {
	st := &failingStore{Store: openEmbedded(t), fail: true}
	_, tc, _ := serveBoth(t, testConfig(t), Deps{Authorizer: siteaccesstest.AllowAll{}, Traffic: st})
	pv := pageView(siteA, 1, "v_visitor001", time.Now().Add(-time.Minute), "https://shop.example.com/")
	_, err := tc.AppendHits(t.Context(), &trafficv1.AppendHitsRequest{Chunks: []*recordingsv1.Chunk{pv}})
	if status.Code(err) != codes.Unavailable || strings.Contains(err.Error(), "fire") {
		t.Fatalf("store failure: %v, want Unavailable without the store's words", err)
	}
	st.fail = false
	appendHits(t, tc, pv)
	if tot := overview(t, tc, siteA); tot.GetSessions() != 1 {
		t.Fatalf("after the retry: %v", tot)
	}
}

func summaryOf(site int64, session, visitor string, start time.Time, version int64) *sessionsv1.SessionSummary {
	return &sessionsv1.SessionSummary{
		SiteId: site, SessionId: session, VisitorId: visitor, Version: version,
		StartTime: timestamppb.New(start), Duration: durationpb.New(time.Minute), PageCount: 1,
		EntryUrl: "https://shop.example.com/", RageClickCount: 2,
	}
}

// TestRecordedAndFunnelSessions: the summaries UpsertSessions receives mark
// their traffic sessions recorded; a funnel's drop-off lists them as the
// sessions index's summaries, newest first, in pages bound to the query.
func TestRecordedAndFunnelSessions(t *testing.T) {
	sc, tc, _ := serveBoth(t, testConfig(t), Deps{Authorizer: siteaccesstest.AllowAll{}})
	base := time.Now().Add(-2 * time.Hour)
	var sums []*sessionsv1.SessionSummary
	for i := range 9 {
		at := base.Add(time.Duration(i) * time.Minute)
		home := pageView(siteA, i, fmt.Sprintf("v_visitor%03d", i), at, "https://shop.example.com/")
		chunks := []*recordingsv1.Chunk{home}
		if i%3 == 0 { // 3 of 9 reach the cart
			chunks = append(chunks, hitChunk(siteA, home.SessionId, home.VisitorId, fmt.Sprintf("p_cart%06d", i),
				sessionsv1.HitKind_HIT_KIND_PAGE_VIEW, at.Add(10*time.Second), "https://shop.example.com/cart"))
		}
		appendHits(t, tc, chunks...)
		if i != 8 { // one session is not recorded
			sums = append(sums, summaryOf(siteA, home.SessionId, home.VisitorId, at, 1))
		}
	}
	if _, err := sc.UpsertSessions(t.Context(), &searchv1.UpsertSessionsRequest{Sessions: sums}); err != nil {
		t.Fatal(err)
	}
	tot := overview(t, tc, siteA)
	if tot.GetSessions() != 9 || tot.GetRecordedSessions() != 8 || tot.GetRageClickRate() != 1 {
		t.Fatalf("overview: %v", tot)
	}
	steps := []*trafficv1.FunnelStep{
		{Label: "home", Match: &trafficv1.FunnelStep_Page{Page: &searchv1.UrlMatch{Operator: searchv1.UrlMatch_OPERATOR_EQUALS, Value: "/"}}},
		{Label: "cart", Match: &trafficv1.FunnelStep_Page{Page: &searchv1.UrlMatch{Operator: searchv1.UrlMatch_OPERATOR_EQUALS, Value: "/cart"}}},
	}
	fn, err := tc.ComputeFunnel(t.Context(), &trafficv1.ComputeFunnelRequest{SiteId: siteA, Steps: steps, Range: lastDay()})
	if err != nil {
		t.Fatal(err)
	}
	if s := fn.GetSteps(); len(s) != 2 || s[0].GetSessions() != 9 || s[1].GetSessions() != 3 || s[1].GetDropped() != 6 || s[1].GetDroppedRecorded() != 5 {
		t.Fatalf("funnel: %v", fn)
	}
	// The 5 recorded drop-offs (sessions 1, 2, 4, 5, 7), 2 a page.
	req := &trafficv1.ListFunnelSessionsRequest{SiteId: siteA, Steps: steps, Range: lastDay(), Step: 1, Dropped: true, PageSize: 2}
	var got []string
	var tokens []string
	for range 10 {
		page, err := tc.ListFunnelSessions(t.Context(), req)
		if err != nil {
			t.Fatal(err)
		}
		if page.GetTotal() != 6 || page.GetRecorded() != 5 || len(page.GetSessions()) > 2 {
			t.Fatalf("page: total %d recorded %d, %d sessions", page.GetTotal(), page.GetRecorded(), len(page.GetSessions()))
		}
		for _, s := range page.GetSessions() {
			if s.GetRageClickCount() != 2 {
				t.Fatalf("session %s is not the index's summary: %v", s.GetSessionId(), s)
			}
			got = append(got, s.GetSessionId())
		}
		if page.GetNextPageToken() == "" {
			break
		}
		tokens = append(tokens, page.GetNextPageToken())
		req.PageToken = page.GetNextPageToken()
	}
	want := []string{"s_session000007", "s_session000005", "s_session000004", "s_session000002", "s_session000001"}
	if !slices.Equal(got, want) {
		t.Fatalf("drop-off sessions %v, want %v", got, want)
	}
	// A token is bound to its query and cannot be forged.
	other := proto.Clone(req).(*trafficv1.ListFunnelSessionsRequest)
	other.PageToken, other.Dropped, other.Step = tokens[0], false, 0
	if _, err := tc.ListFunnelSessions(t.Context(), other); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("a token of another query: %v", err)
	}
	for _, bad := range []string{"x", strings.Repeat("A", 2000), tokens[0][:len(tokens[0])-3] + "___", "AAAAAAAAAAAAAAAAAAAA"} {
		req.PageToken = bad
		if _, err := tc.ListFunnelSessions(t.Context(), req); status.Code(err) != codes.InvalidArgument {
			t.Fatalf("token %q: %v", bad, err)
		}
	}
	// A stale summary (lower version) changes no mark.
	stale := summaryOf(siteA, "s_session000001", "v_visitor001", base.Add(time.Minute), 0)
	stale.RageClickCount = 0
	if _, err := sc.UpsertSessions(t.Context(), &searchv1.UpsertSessionsRequest{Sessions: []*sessionsv1.SessionSummary{stale}}); err != nil {
		t.Fatal(err)
	}
	if tot := overview(t, tc, siteA); tot.GetRageClickRate() != 1 {
		t.Fatalf("a stale summary changed the marks: %v", tot)
	}
}

// TestDeleteReachesTraffic: DeleteSessions' selector removes the traffic
// sessions too (a visitor's deletion reaches every store), only the
// site's.
func TestDeleteReachesTraffic(t *testing.T) {
	sc, tc, _ := serveBoth(t, testConfig(t), Deps{Authorizer: siteaccesstest.AllowAll{}})
	at := time.Now().Add(-time.Minute)
	appendHits(t, tc,
		pageView(siteA, 1, "v_gone0001", at, "https://shop.example.com/"),
		pageView(siteA, 2, "v_gone0001", at, "https://shop.example.com/a"),
		pageView(siteA, 3, "v_kept0001", at, "https://shop.example.com/b"),
		pageView(siteB, 4, "v_gone0001", at, "https://b.example.com/"),
	)
	if _, err := sc.DeleteSessions(t.Context(), &searchv1.DeleteSessionsRequest{SiteId: siteA,
		Selector: &searchv1.DeleteSessionsRequest_VisitorId{VisitorId: "v_gone0001"}}); err != nil {
		t.Fatal(err)
	}
	if tot := overview(t, tc, siteA); tot.GetSessions() != 1 || tot.GetVisitors() != 1 {
		t.Fatalf("site A after deleting a visitor: %v", tot)
	}
	if tot := overview(t, tc, siteB); tot.GetSessions() != 1 {
		t.Fatalf("site B's session of the same visitor id was deleted: %v", tot)
	}
	rt, err := tc.GetRealtime(t.Context(), &trafficv1.GetRealtimeRequest{SiteId: siteA})
	if err != nil || rt.GetVisitors() != 1 {
		t.Fatalf("realtime after the delete: %v %v", rt, err)
	}
	if _, err := sc.DeleteSessions(t.Context(), &searchv1.DeleteSessionsRequest{SiteId: siteA,
		Selector: &searchv1.DeleteSessionsRequest_WholeSite{WholeSite: true}}); err != nil {
		t.Fatal(err)
	}
	if tot := overview(t, tc, siteA); tot.GetSessions() != 0 {
		t.Fatalf("site A after deleting the site: %v", tot)
	}
}

// TestTrafficSweep: the retention sweep removes sessions whose last hit
// is older than their retention (the hits' own, else the default).
func TestTrafficSweep(t *testing.T) {
	cfg := testConfig(t)
	cfg.Traffic.DefaultRetention = 30 * 24 * time.Hour
	_, tc, svc := serveBoth(t, cfg, Deps{Authorizer: siteaccesstest.AllowAll{}})
	old := time.Now().Add(-3 * 24 * time.Hour)
	short := pageView(siteA, 1, "v_visitor001", old, "https://shop.example.com/")
	short.RetentionDays = 1
	byDefault := pageView(siteA, 2, "v_visitor002", old, "https://shop.example.com/")
	ancient := pageView(siteA, 3, "v_visitor003", old.Add(-60*24*time.Hour), "https://shop.example.com/")
	appendHits(t, tc, short, byDefault, ancient)
	r := &searchv1.TimeRange{Start: timestamppb.New(old.Add(-100 * 24 * time.Hour)), End: timestamppb.New(time.Now())}
	count := func() int64 {
		res, err := tc.GetTrafficOverview(t.Context(), &trafficv1.GetTrafficOverviewRequest{SiteId: siteA, Range: r})
		if err != nil {
			t.Fatal(err)
		}
		return res.GetCurrent().GetSessions()
	}
	if n := count(); n != 3 {
		t.Fatalf("%d sessions before the sweep", n)
	}
	svc.sweepOnce(t.Context())
	if n := count(); n != 1 {
		t.Fatalf("%d sessions after the sweep, want the one within the default retention", n)
	}
}

// TestSweepLoopRuns: Run sweeps at start and every interval until its
// context ends.
func TestSweepLoopRuns(t *testing.T) {
	cfg := testConfig(t)
	cfg.Traffic.SweepInterval = time.Second
	reader := sdkmetric.NewManualReader()
	_, tc, svc := serveBoth(t, cfg, Deps{Authorizer: siteaccesstest.AllowAll{}, MeterProvider: sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))})
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx) }()
	// Written after the first sweep ran, swept by a later one.
	for deadline := time.Now().Add(5 * time.Second); counterSums(t, reader)["search.traffic.sweeps"]["error=false;"] == 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("no sweep at start within 5 s")
		}
	}
	pv := pageView(siteA, 1, "v_visitor001", time.Now().Add(-400*24*time.Hour), "https://shop.example.com/")
	appendHits(t, tc, pv)
	r := &searchv1.TimeRange{Start: timestamppb.New(time.Now().Add(-401 * 24 * time.Hour)), End: timestamppb.New(time.Now().Add(-399 * 24 * time.Hour))}
	deadline := time.Now().Add(5 * time.Second)
	for {
		res, err := tc.GetTrafficOverview(t.Context(), &trafficv1.GetTrafficOverviewRequest{SiteId: siteA, Range: r})
		if err != nil {
			t.Fatal(err)
		}
		if res.GetCurrent().GetSessions() == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the sweep loop did not remove an expired session within 5 s")
		}
		time.Sleep(100 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("run: %v", err)
	}
}

// TestTrafficHostileRequests: every bad request is InvalidArgument with a
// message naming what is wrong.
func TestTrafficHostileRequests(t *testing.T) {
	_, tc, _ := serveBoth(t, testConfig(t), Deps{Authorizer: siteaccesstest.AllowAll{}})
	ctx := t.Context()
	now := time.Now()
	rng := func(start, end time.Time) *searchv1.TimeRange {
		return &searchv1.TimeRange{Start: timestamppb.New(start), End: timestamppb.New(end)}
	}
	page := func(v string) *trafficv1.FunnelStep {
		return &trafficv1.FunnelStep{Match: &trafficv1.FunnelStep_Page{Page: &searchv1.UrlMatch{Operator: searchv1.UrlMatch_OPERATOR_PREFIX, Value: v}}}
	}
	event := func(v string) *trafficv1.FunnelStep {
		return &trafficv1.FunnelStep{Match: &trafficv1.FunnelStep_Event{Event: v}}
	}
	two := []*trafficv1.FunnelStep{page("/"), event("signup")}
	day := rng(now.Add(-24*time.Hour), now)
	ov := func(change func(*trafficv1.GetTrafficOverviewRequest)) func() error {
		return func() error {
			r := &trafficv1.GetTrafficOverviewRequest{SiteId: siteA, Range: day}
			change(r)
			_, err := tc.GetTrafficOverview(ctx, r)
			return err
		}
	}
	bd := func(change func(*trafficv1.GetTrafficBreakdownRequest)) func() error {
		return func() error {
			r := &trafficv1.GetTrafficBreakdownRequest{SiteId: siteA, Range: day, Dimension: trafficv1.TrafficDimension_TRAFFIC_DIMENSION_PAGE}
			change(r)
			_, err := tc.GetTrafficBreakdown(ctx, r)
			return err
		}
	}
	fn := func(change func(*trafficv1.ComputeFunnelRequest)) func() error {
		return func() error {
			r := &trafficv1.ComputeFunnelRequest{SiteId: siteA, Range: day, Steps: two}
			change(r)
			_, err := tc.ComputeFunnel(ctx, r)
			return err
		}
	}
	fs := func(change func(*trafficv1.ListFunnelSessionsRequest)) func() error {
		return func() error {
			r := &trafficv1.ListFunnelSessionsRequest{SiteId: siteA, Range: day, Steps: two, Step: 1}
			change(r)
			_, err := tc.ListFunnelSessions(ctx, r)
			return err
		}
	}
	cases := map[string]struct {
		call func() error
		want string
	}{
		"overview: no range":        {ov(func(r *trafficv1.GetTrafficOverviewRequest) { r.Range = nil }), "range.start and range.end"},
		"overview: open end":        {ov(func(r *trafficv1.GetTrafficOverviewRequest) { r.Range = &searchv1.TimeRange{Start: day.Start} }), "both required"},
		"overview: start after end": {ov(func(r *trafficv1.GetTrafficOverviewRequest) { r.Range = rng(now, now.Add(-time.Hour)) }), "before range.end"},
		"overview: empty range":     {ov(func(r *trafficv1.GetTrafficOverviewRequest) { r.Range = rng(now, now) }), "before range.end"},
		"overview: 401 days":        {ov(func(r *trafficv1.GetTrafficOverviewRequest) { r.Range = rng(now.Add(-401*24*time.Hour), now) }), "at most 400 days"},
		"overview: year 3000": {ov(func(r *trafficv1.GetTrafficOverviewRequest) {
			r.Range = rng(now, time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC))
		}), "range.end"},
		"overview: bad nanos": {ov(func(r *trafficv1.GetTrafficOverviewRequest) {
			r.Range = &searchv1.TimeRange{Start: &timestamppb.Timestamp{Nanos: -1}, End: day.End}
		}), "range.start"},
		"overview: hours over a year": {ov(func(r *trafficv1.GetTrafficOverviewRequest) {
			r.Range = rng(now.Add(-300*24*time.Hour), now)
			r.Interval = trafficv1.TrafficInterval_TRAFFIC_INTERVAL_HOUR
		}), "buckets"},
		"overview: unknown interval": {ov(func(r *trafficv1.GetTrafficOverviewRequest) { r.Interval = 9 }), "interval"},
		"overview: zone":             {ov(func(r *trafficv1.GetTrafficOverviewRequest) { r.TimeZone = "Mars/Olympus" }), "time_zone"},
		"overview: Local":            {ov(func(r *trafficv1.GetTrafficOverviewRequest) { r.TimeZone = "Local" }), "time_zone"},
		"overview: zone path":        {ov(func(r *trafficv1.GetTrafficOverviewRequest) { r.TimeZone = "../../etc/passwd" }), "time_zone"},
		"overview: site zero":        {ov(func(r *trafficv1.GetTrafficOverviewRequest) { r.SiteId = 0 }), "site_id"},
		"overview: unknown device": {ov(func(r *trafficv1.GetTrafficOverviewRequest) {
			r.Filter = &trafficv1.TrafficFilter{DeviceTypes: []sessionsv1.DeviceType{42}}
		}), "device_types[0]"},
		"overview: 51 countries": {ov(func(r *trafficv1.GetTrafficOverviewRequest) {
			r.Filter = &trafficv1.TrafficFilter{Countries: make([]string, 51)}
		}), "at most 50"},
		"overview: empty browser": {ov(func(r *trafficv1.GetTrafficOverviewRequest) {
			r.Filter = &trafficv1.TrafficFilter{Browsers: []string{""}}
		}), "browsers[0] is empty"},
		"overview: huge utm": {ov(func(r *trafficv1.GetTrafficOverviewRequest) {
			r.Filter = &trafficv1.TrafficFilter{UtmSource: strings.Repeat("u", 600)}
		}), "utm_source"},
		"overview: direct and domain": {ov(func(r *trafficv1.GetTrafficOverviewRequest) {
			r.Filter = &trafficv1.TrafficFilter{Direct: true, ReferrerDomain: "a.com"}
		}), "exclude each other"},
		"overview: page no value": {ov(func(r *trafficv1.GetTrafficOverviewRequest) {
			r.Filter = &trafficv1.TrafficFilter{VisitedPage: &searchv1.UrlMatch{Operator: 1}}
		}), "visited_page.value"},
		"overview: 17 stars": {ov(func(r *trafficv1.GetTrafficOverviewRequest) {
			r.Filter = &trafficv1.TrafficFilter{ExitPage: &searchv1.UrlMatch{Operator: searchv1.UrlMatch_OPERATOR_PATTERN, Value: strings.Repeat("*/", 17)}}
		}), "exit_page"},
		"breakdown: no dimension":   {bd(func(r *trafficv1.GetTrafficBreakdownRequest) { r.Dimension = 0 }), "dimension"},
		"breakdown: unknown dim":    {bd(func(r *trafficv1.GetTrafficBreakdownRequest) { r.Dimension = 77 }), "dimension"},
		"breakdown: negative limit": {bd(func(r *trafficv1.GetTrafficBreakdownRequest) { r.Limit = -1 }), "limit"},
		"breakdown: huge limit":     {bd(func(r *trafficv1.GetTrafficBreakdownRequest) { r.Limit = 1001 }), "limit"},
		"breakdown: no range":       {bd(func(r *trafficv1.GetTrafficBreakdownRequest) { r.Range = nil }), "range"},
		"funnel: one step":          {fn(func(r *trafficv1.ComputeFunnelRequest) { r.Steps = two[:1] }), "2 to 8 steps"},
		"funnel: nine steps":        {fn(func(r *trafficv1.ComputeFunnelRequest) { r.Steps = slices.Repeat(two, 5)[:9] }), "2 to 8 steps"},
		"funnel: empty step":        {fn(func(r *trafficv1.ComputeFunnelRequest) { r.Steps = []*trafficv1.FunnelStep{page("/"), {}} }), "steps[1] needs"},
		"funnel: empty event":       {fn(func(r *trafficv1.ComputeFunnelRequest) { r.Steps = []*trafficv1.FunnelStep{page("/"), event("")} }), "steps[1].event"},
		"funnel: long event": {fn(func(r *trafficv1.ComputeFunnelRequest) {
			r.Steps = []*trafficv1.FunnelStep{page("/"), event(strings.Repeat("é", 101))}
		}), "steps[1].event"},
		"funnel: page no operator": {fn(func(r *trafficv1.ComputeFunnelRequest) {
			r.Steps = []*trafficv1.FunnelStep{page("/"), {Match: &trafficv1.FunnelStep_Page{Page: &searchv1.UrlMatch{Value: "/x"}}}}
		}), "steps[1].page.operator"},
		"funnel: empty page rule": {fn(func(r *trafficv1.ComputeFunnelRequest) {
			r.Steps = []*trafficv1.FunnelStep{page("/"), {Match: &trafficv1.FunnelStep_Page{Page: &searchv1.UrlMatch{}}}}
		}), "steps[1].page needs"},
		"funnel: huge page": {fn(func(r *trafficv1.ComputeFunnelRequest) {
			r.Steps = []*trafficv1.FunnelStep{page("/"), page(strings.Repeat("p", 5000))}
		}), "steps[1].page"},
		"funnel: long label": {fn(func(r *trafficv1.ComputeFunnelRequest) {
			r.Steps = []*trafficv1.FunnelStep{page("/"), {Label: strings.Repeat("l", 101), Match: two[1].Match}}
		}), "steps[1].label"},
		"funnel: unknown device":      {fn(func(r *trafficv1.ComputeFunnelRequest) { r.DeviceTypes = []sessionsv1.DeviceType{0} }), "device_types[0]"},
		"funnel: 401 days":            {fn(func(r *trafficv1.ComputeFunnelRequest) { r.Range = rng(now.Add(-401*24*time.Hour), now) }), "400 days"},
		"sessions: step out of range": {fs(func(r *trafficv1.ListFunnelSessionsRequest) { r.Step = 2 }), "step 2"},
		"sessions: negative step":     {fs(func(r *trafficv1.ListFunnelSessionsRequest) { r.Step = -1 }), "step -1"},
		"sessions: dropped at 0":      {fs(func(r *trafficv1.ListFunnelSessionsRequest) { r.Step = 0; r.Dropped = true }), "dropped needs step 1"},
		"sessions: negative size":     {fs(func(r *trafficv1.ListFunnelSessionsRequest) { r.PageSize = -1 }), "page_size"},
		"sessions: bad token":         {fs(func(r *trafficv1.ListFunnelSessionsRequest) { r.PageToken = "!!" }), "page_token"},
		"sessions: no steps":          {fs(func(r *trafficv1.ListFunnelSessionsRequest) { r.Steps = nil }), "steps"},
		"realtime: site zero":         {func() error { _, err := tc.GetRealtime(ctx, &trafficv1.GetRealtimeRequest{}); return err }, "site_id"},
	}
	for name, c := range cases {
		err := c.call()
		if status.Code(err) != codes.InvalidArgument || !strings.Contains(status.Convert(err).Message(), c.want) {
			t.Errorf("%s: %v, want InvalidArgument mentioning %q", name, err, c.want)
		}
	}
	// Page sizes past the limit are capped, not refused.
	if err := fs(func(r *trafficv1.ListFunnelSessionsRequest) { r.PageSize = 5000 })(); err != nil {
		t.Errorf("a page size past the limit: %v", err)
	}
	// A valid request of every kind works on an empty site.
	for name, call := range map[string]func() error{
		"overview":  ov(func(r *trafficv1.GetTrafficOverviewRequest) { r.TimeZone = "Europe/Berlin" }),
		"breakdown": bd(func(r *trafficv1.GetTrafficBreakdownRequest) {}),
		"funnel":    fn(func(r *trafficv1.ComputeFunnelRequest) {}),
		"sessions":  fs(func(r *trafficv1.ListFunnelSessionsRequest) { r.Dropped = true }),
	} {
		if err := call(); err != nil {
			t.Errorf("valid %s: %v", name, err)
		}
	}
}

// TestTrafficAuthorizer: every public traffic RPC asks the authorizer
// first, so a foreign site is NotFound whatever the request holds (a bad
// one too); AppendHits, internal, is not authorized per site.
func TestTrafficAuthorizer(t *testing.T) {
	auth := &denyAll{}
	_, tc, _ := serveBoth(t, testConfig(t), Deps{Authorizer: auth})
	ctx := t.Context()
	appendHits(t, tc, pageView(siteA, 1, "v_visitor001", time.Now(), "https://shop.example.com/"))
	calls := map[string]func() error{
		"overview": func() error {
			_, err := tc.GetTrafficOverview(ctx, &trafficv1.GetTrafficOverviewRequest{SiteId: siteA, Range: lastDay()})
			return err
		},
		"overview without range": func() error {
			_, err := tc.GetTrafficOverview(ctx, &trafficv1.GetTrafficOverviewRequest{SiteId: siteA})
			return err
		},
		"breakdown": func() error {
			_, err := tc.GetTrafficBreakdown(ctx, &trafficv1.GetTrafficBreakdownRequest{SiteId: siteA, Range: lastDay(), Dimension: 1})
			return err
		},
		"realtime": func() error {
			_, err := tc.GetRealtime(ctx, &trafficv1.GetRealtimeRequest{SiteId: siteA})
			return err
		},
		"funnel": func() error {
			_, err := tc.ComputeFunnel(ctx, &trafficv1.ComputeFunnelRequest{SiteId: siteA})
			return err
		},
		"funnel sessions": func() error {
			_, err := tc.ListFunnelSessions(ctx, &trafficv1.ListFunnelSessionsRequest{SiteId: siteA, PageToken: "forged"})
			return err
		},
	}
	for name, call := range calls {
		if err := call(); status.Code(err) != codes.NotFound {
			t.Errorf("%s of a foreign site: %v, want NotFound", name, err)
		}
	}
	if len(auth.calls) != len(calls) {
		t.Fatalf("authorizer called %d times for %d calls", len(auth.calls), len(calls))
	}
}

// counterSums reads every int64 counter of reader: name, then attributes
// ("k=v;" in order), then value.
func counterSums(t *testing.T, reader sdkmetric.Reader) map[string]map[string]int64 {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(t.Context(), &rm); err != nil {
		t.Fatal(err)
	}
	sums := map[string]map[string]int64{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if s, ok := m.Data.(metricdata.Sum[int64]); ok {
				sums[m.Name] = map[string]int64{}
				for _, dp := range s.DataPoints {
					key := ""
					for _, kv := range dp.Attributes.ToSlice() {
						key += string(kv.Key) + "=" + kv.Value.String() + ";"
					}
					sums[m.Name][key] += dp.Value
				}
			}
		}
	}
	return sums
}

// TestTrafficTelemetry: traffic RPCs are counted with their codes, hits by
// outcome, sweeps by error, and every traffic store call is a span.
func TestTrafficTelemetry(t *testing.T) {
	deps := Deps{Authorizer: siteaccesstest.AllowAll{}}
	reader, spans := recordTelemetry(t, &deps)
	sc, tc, svc := serveBoth(t, testConfig(t), deps)
	ctx := t.Context()
	good := pageView(siteA, 1, "v_visitor001", time.Now(), "https://shop.example.com/")
	bad := pageView(siteA, 2, "v_visitor002", time.Now(), "ftp://shop.example.com/")
	appendHits(t, tc, good, bad)
	overview(t, tc, siteA)
	_, _ = tc.GetTrafficOverview(ctx, &trafficv1.GetTrafficOverviewRequest{SiteId: siteA})
	if _, err := sc.UpsertSessions(ctx, &searchv1.UpsertSessionsRequest{Sessions: []*sessionsv1.SessionSummary{
		summaryOf(siteA, good.SessionId, good.VisitorId, time.Now(), 1)}}); err != nil {
		t.Fatal(err)
	}
	svc.sweepOnce(ctx)

	sums := counterSums(t, reader)
	for name, want := range map[string]map[string]int64{
		"search.traffic.hits":   {"outcome=stored;": 1, "outcome=refused;": 1},
		"search.traffic.sweeps": {"error=false;": 1},
	} {
		for k, v := range want {
			if sums[name][k] != v {
				t.Errorf("%s{%s} = %d, want %d (all: %v)", name, k, sums[name][k], v, sums[name])
			}
		}
	}
	waitRPCCalls(t, reader, map[string]int64{"code=OK;rpc=AppendHits;": 1, "code=OK;rpc=GetTrafficOverview;": 1, "code=INVALID_ARGUMENT;rpc=GetTrafficOverview;": 1})
	names := map[string]int{}
	for _, sp := range spans.Ended() {
		names[sp.Name()]++
	}
	for _, n := range []string{"search.index.traffic.add_hits", "search.index.traffic.overview", "search.index.traffic.set_recorded", "search.index.traffic.sweep"} {
		if names[n] != 1 {
			t.Errorf("%d %s spans, want 1 (all: %v)", names[n], n, names)
		}
	}
}
