package elastic

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	searchv1 "github.com/sightlinehq/sightline/gen/sightline/search/v1"
	sessionsv1 "github.com/sightlinehq/sightline/gen/sightline/sessions/v1"
	trafficv1 "github.com/sightlinehq/sightline/gen/sightline/traffic/v1"
	"github.com/sightlinehq/sightline/svc-search/index"
	"github.com/sightlinehq/sightline/svc-search/traffic"
)

func pv(sid, vid, pid string, at time.Time, url, ref string) traffic.Hit {
	return traffic.Hit{SiteID: site, SessionID: sid, VisitorID: vid, PageViewID: pid,
		Kind: sessionsv1.HitKind_HIT_KIND_PAGE_VIEW, Time: at, URL: url, Referrer: ref,
		Device: sessionsv1.DeviceType_DEVICE_TYPE_DESKTOP, Browser: "Chrome", OS: "macOS", Country: "DE", ScreenW: 1920, ScreenH: 1080}
}

func leaveHit(sid, vid, pid string, at time.Time, d time.Duration) traffic.Hit {
	return traffic.Hit{SiteID: site, SessionID: sid, VisitorID: vid, PageViewID: pid, Kind: sessionsv1.HitKind_HIT_KIND_PAGE_LEAVE, Time: at, Duration: d}
}

func eventHit(sid, vid, pid string, at time.Time, name string) traffic.Hit {
	return traffic.Hit{SiteID: site, SessionID: sid, VisitorID: vid, PageViewID: pid, Kind: sessionsv1.HitKind_HIT_KIND_EVENT, Time: at, Event: name}
}

func stored(t *testing.T, f *fakeES, sid string) map[string]any {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	d, ok := f.docs[index.DocID(site, sid)]
	if !ok {
		t.Fatalf("no document for %s", sid)
	}
	return d.source
}

// TestMergeOrderAndRedelivery: whatever the order and repetition of a
// session's hits, the state — and so the document — is the same; leaves
// before their page view count, the largest duration wins.
func TestMergeOrderAndRedelivery(t *testing.T) {
	hits := []traffic.Hit{
		pv("s", "v", "p1", base, "https://a.example/?utm_source=nl&utm_campaign=c1", "https://news.example/x"),
		pv("s", "v", "p2", base.Add(10*time.Second), "https://a.example/b/", "https://a.example/"),
		leaveHit("s", "v", "p2", base.Add(40*time.Second), 20*time.Second),
		leaveHit("s", "v", "p2", base.Add(50*time.Second), 30*time.Second),
		leaveHit("s", "v", "p1", base.Add(9*time.Second), 9*time.Second),
		eventHit("s", "v", "p2", base.Add(45*time.Second), "buy"),
		eventHit("s", "v", "p2", base.Add(45*time.Second), "buy"),
		eventHit("s", "v", "p2", base.Add(46*time.Second), "buy"),
	}
	want := &state{}
	for _, h := range hits {
		want.add(h)
	}
	wantDoc := document(site, "s", want)
	rng := rand.New(rand.NewPCG(1, 2))
	for range 50 {
		in := slices.Clone(hits)
		in = append(in, in[rng.IntN(len(in))], in[rng.IntN(len(in))])
		rng.Shuffle(len(in), func(i, j int) { in[i], in[j] = in[j], in[i] })
		got := &state{}
		for _, h := range in {
			got.add(h)
		}
		// Leaves arriving first record their times on the pending leave;
		// the page view takes them over: same content.
		gd, _ := json.Marshal(document(site, "s", got))
		wd, _ := json.Marshal(wantDoc)
		if string(gd) != string(wd) {
			t.Fatalf("order %v:\n got %s\nwant %s", in, gd, wd)
		}
	}
	if wantDoc[fDuration] != int64(46_000) || wantDoc[fPageCount] != 2 || wantDoc[fBounce] != 0 ||
		wantDoc[fReferrer] != "news.example" || wantDoc[fUTMSource] != "nl" || wantDoc[fUTMCamp] != "c1" ||
		wantDoc[fEntryKey] != "https://a.example/" || wantDoc[fExitKey] != "https://a.example/b" ||
		wantDoc[fScreen] != "1920x1080" || wantDoc[fDevice] != "DEVICE_TYPE_DESKTOP" || len(want.Events) != 2 {
		t.Fatalf("derived document %v", wantDoc)
	}
	// Re-delivering anything changes nothing.
	for _, h := range hits {
		if want.add(h) {
			t.Fatalf("re-delivered %v changed the state", h)
		}
	}
}

func TestMergeCapsAndMarks(t *testing.T) {
	st := &state{}
	for i := range traffic.MaxPageViewsPerSession + 3 {
		st.add(pv("s", "v", fmt.Sprintf("p%04d", i), base.Add(time.Duration(i)*time.Second), "https://a.example/", ""))
	}
	for i := range traffic.MaxEventsPerSession + 3 {
		st.add(eventHit("s", "v", "p0000", base.Add(time.Duration(i)*time.Millisecond), "e"))
	}
	if len(st.PVs) != traffic.MaxPageViewsPerSession || len(st.Events) != traffic.MaxEventsPerSession {
		t.Fatalf("kept %d page views, %d events", len(st.PVs), len(st.Events))
	}
	// A leave of a kept page view still updates its duration.
	if !st.add(leaveHit("s", "v", "p0499", base.Add(time.Hour), 2*time.Hour)) || st.PVs[499].Dur != int64(2*time.Hour) {
		t.Fatal("leave of a kept page view ignored")
	}
	if st.add(leaveHit("s", "v", "p0000", base, 48*time.Hour)); st.PVs[0].Dur != int64(traffic.MaxLeave) {
		t.Fatalf("duration not capped: %v", time.Duration(st.PVs[0].Dur))
	}
	now := time.Now()
	if !st.setMark(traffic.Recorded{Version: 5, Rage: true}, now) || st.setMark(traffic.Recorded{Version: 4}, now) ||
		st.setMark(traffic.Recorded{Version: 5, Rage: true}, now) || !st.setMark(traffic.Recorded{Version: 6, Errors: true}, now) {
		t.Fatal("mark versions")
	}
	if d := document(site, "s", st); d[fRage] != false || d[fErrors] != true || d[fRecorded] != true {
		t.Fatalf("marks %v %v %v", d[fRage], d[fErrors], d[fRecorded])
	}
}

// TestWritesOnTheWire: hits and marks go through mget and one guarded
// bulk; re-delivery writes nothing; a conflict is re-read and re-merged;
// a mark before the first hit applies once it arrives.
func TestWritesOnTheWire(t *testing.T) {
	f, s := newFake(t)
	ctx := t.Context()
	if err := s.SetRecorded(ctx, []traffic.Recorded{{SiteID: site, SessionID: "s1", Version: 2, Dead: true}}); err != nil {
		t.Fatal(err)
	}
	if d := stored(t, f, "s1"); d[fRecorded] != true || d[fPageCount] != nil {
		t.Fatalf("mark-only document %v", d)
	}
	hits := []traffic.Hit{
		pv("s1", "v1", "p1", base, "https://a.example/", ""),
		leaveHit("s1", "v1", "p1", base.Add(5*time.Second), 5*time.Second),
		pv("s2", "v2", "p9", base.Add(time.Minute), "https://a.example/x", "https://www.search.example/"),
	}
	if err := s.AddHits(ctx, hits); err != nil {
		t.Fatal(err)
	}
	if d := stored(t, f, "s1"); d[fRecorded] != true || d[fDead] != true || d[fPageCount] != float64(1) || d[fDuration] != float64(5000) {
		t.Fatalf("s1 %v", d)
	}
	if d := stored(t, f, "s2"); d[fReferrer] != "search.example" || d[fVisitor] != "v2" {
		t.Fatalf("s2 %v", d)
	}
	if r := f.last("/sl-traffic/_bulk"); !strings.Contains(r.query, "refresh=wait_for") || !strings.Contains(r.query, "require_alias=true") {
		t.Fatalf("bulk query %q", r.query)
	}
	bulks := f.count("/sl-traffic/_bulk")
	if err := s.AddHits(ctx, hits); err != nil {
		t.Fatal(err)
	}
	if n := f.count("/sl-traffic/_bulk"); n != bulks {
		t.Fatalf("re-delivery wrote %d bulks", n-bulks)
	}
	// Someone else writes s1 between our read and our write: 409, read
	// again, merge again.
	f.mu.Lock()
	f.conflictOnce[index.DocID(site, "s1")] = true
	f.mu.Unlock()
	if err := s.AddHits(ctx, []traffic.Hit{pv("s1", "v1", "p2", base.Add(time.Second), "https://a.example/2", "")}); err != nil {
		t.Fatal(err)
	}
	if d := stored(t, f, "s1"); d[fPageCount] != float64(2) {
		t.Fatalf("after a conflict: %v", d)
	}
}

// TestConcurrentWriters: writers racing on one session lose nothing
// (optimistic concurrency against the fake's sequence numbers).
func TestConcurrentWriters(t *testing.T) {
	f, s := newFake(t)
	var wg sync.WaitGroup
	const writers, each = 6, 5
	errs := make(chan error, writers)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				id := fmt.Sprintf("p%d-%d", w, i)
				if err := s.AddHits(t.Context(), []traffic.Hit{pv("hot", "v", id, base.Add(time.Duration(w*each+i)*time.Second), "https://a.example/", "")}); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if d := stored(t, f, "hot"); d[fPageCount] != float64(writers*each) {
		t.Fatalf("page_count %v, want %d", d[fPageCount], writers*each)
	}
}

func TestFunnelRealtimeDeleteSweep(t *testing.T) {
	f, s := newFake(t)
	ctx := t.Context()
	at := func(m int) time.Time { return base.Add(time.Duration(m) * time.Minute) }
	var hits []traffic.Hit
	// s1: home → product → buy (recorded); s2: home → product (recorded);
	// s3: home only; s4: product → home (never reaches step 2 after step
	// 1... it does not enter at all: step 1 is home); s5: outside range.
	hits = append(hits,
		pv("s1", "v1", "a1", at(0), "https://a.example/", ""), pv("s1", "v1", "a2", at(1), "https://a.example/product/1", ""),
		eventHit("s1", "v1", "a2", at(3), "buy"),
		pv("s2", "v2", "b1", at(10), "https://a.example/", ""), pv("s2", "v2", "b2", at(12), "https://a.example/product/2", ""),
		pv("s3", "v3", "c1", at(20), "https://a.example/", ""),
		pv("s4", "v4", "d1", at(30), "https://a.example/product/3", ""), pv("s4", "v4", "d2", at(31), "https://a.example/", ""),
		pv("s5", "v5", "e1", at(-60), "https://a.example/", ""),
	)
	if err := s.AddHits(ctx, hits); err != nil {
		t.Fatal(err)
	}
	if err := s.SetRecorded(ctx, []traffic.Recorded{{SiteID: site, SessionID: "s1", Version: 1}, {SiteID: site, SessionID: "s2", Version: 1}}); err != nil {
		t.Fatal(err)
	}
	steps := []*trafficv1.FunnelStep{
		{Match: &trafficv1.FunnelStep_Page{Page: &searchv1.UrlMatch{Operator: searchv1.UrlMatch_OPERATOR_EQUALS, Value: "https://a.example/"}}},
		{Match: &trafficv1.FunnelStep_Page{Page: &searchv1.UrlMatch{Operator: searchv1.UrlMatch_OPERATOR_PREFIX, Value: "/product/"}}},
		{Match: &trafficv1.FunnelStep_Event{Event: "buy"}},
	}
	q := traffic.FunnelQuery{SiteID: site, Start: at(0), End: at(60), Steps: steps}
	res, err := s.Funnel(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	got := fmt.Sprint(res.Steps[0].Sessions, res.Steps[1].Sessions, res.Steps[2].Sessions, res.Steps[1].Dropped, res.Steps[2].Dropped,
		res.Steps[2].DroppedRecorded, res.Steps[1].MedianTimeFromPrevious.AsDuration(), res.Steps[2].MedianTimeFromPrevious.AsDuration(),
		res.Steps[1].Conversion, res.Steps[2].StepConversion)
	// s4 enters at d2 (home at 31) and reaches nothing after: 4 entered.
	if want := "4 2 1 2 1 1 1m0s 2m0s 0.5 0.5"; got != want {
		t.Fatalf("funnel %s, want %s", got, want)
	}
	page, err := s.FunnelSessions(ctx, q, 1, false, nil, 1)
	if err != nil {
		t.Fatal(err)
	}
	if page.Total != 2 || page.Recorded != 2 || !slices.Equal(page.SessionIDs, []string{"s2"}) || page.Next == nil || page.Next.SessionID != "s2" {
		t.Fatalf("page 1 %+v", page)
	}
	page, err = s.FunnelSessions(ctx, q, 1, false, page.Next, 1)
	if err != nil || !slices.Equal(page.SessionIDs, []string{"s1"}) || page.Next != nil {
		t.Fatalf("page 2 %+v %v", page, err)
	}
	if page, err = s.FunnelSessions(ctx, q, 2, true, nil, 10); err != nil || page.Total != 1 || !slices.Equal(page.SessionIDs, []string{"s2"}) {
		t.Fatalf("dropped at 3: %+v %v", page, err)
	}
	if _, err := s.FunnelSessions(ctx, q, 0, true, nil, 10); err == nil {
		t.Fatal("dropped at step 0 accepted")
	}

	rt, err := s.Realtime(ctx, site, at(32))
	if err != nil {
		t.Fatal(err)
	}
	// Window (27, 32]: s4's two page views; per minute i covers
	// (32-(30-i), 32-(29-i)]: d2 at 31 is i=28, d1 at 30 i=27, c1 at 20
	// i=17, b2 at 12 i=9, b1 at 10 i=7; a1, a2 (0, 1) are too old.
	want := make([]int64, 30)
	want[28], want[27], want[17], want[9], want[7] = 1, 1, 1, 1, 1
	if rt.Visitors != 1 || rt.PageViews != 2 || len(rt.Pages) != 1 || rt.Pages[0].Page != "https://a.example/" ||
		!slices.Equal(rt.PerMinute, want) {
		t.Fatalf("realtime %v", rt)
	}

	n, err := s.Delete(ctx, site, index.Selector{VisitorID: "v3"})
	if err != nil || n != 1 {
		t.Fatalf("delete visitor: %d %v", n, err)
	}
	if err := s.SetRecorded(ctx, []traffic.Recorded{{SiteID: site, SessionID: "only-mark", Version: 1}}); err != nil {
		t.Fatal(err)
	}
	n, err = s.Delete(ctx, site, index.Selector{SessionIDs: []string{"s1", "only-mark"}})
	if err != nil || n != 1 {
		t.Fatalf("delete ids: %d %v", n, err)
	}
	n, err = s.Delete(ctx, site, index.Selector{StartedBefore: at(0)})
	if err != nil || n != 1 {
		t.Fatalf("delete before: %d %v", n, err)
	}
	// s2 at 10 m and s4 at 31 m remain; with 1 day default retention a
	// sweep at base+1d+11m removes s2 only.
	n, err = s.Sweep(ctx, base.Add(24*time.Hour+13*time.Minute), 24*time.Hour)
	if err != nil || n != 1 {
		t.Fatalf("sweep: %d %v", n, err)
	}
	f.mu.Lock()
	left := len(f.docs)
	f.mu.Unlock()
	if left != 1 {
		t.Fatalf("%d documents left, want s4", left)
	}
	if r := f.last("/sl-traffic/_delete_by_query"); r.query != "conflicts=proceed&refresh=true" && !strings.Contains(r.query, "refresh=true") {
		t.Fatalf("sweep query %q", r.query)
	}
	n, err = s.Delete(ctx, site, index.Selector{WholeSite: true})
	if err != nil || n != 1 {
		t.Fatalf("delete site: %d %v", n, err)
	}
}

// TestExactMedian: the k-th duration is exact whatever the estimate —
// inside the window, beyond it below, above it, and off by more than a
// window (the walk).
func TestExactMedian(t *testing.T) {
	_, s := newFake(t)
	ctx := t.Context()
	rng := rand.New(rand.NewPCG(3, 4))
	var hits []traffic.Hit
	var durs []int64
	for i := range 700 {
		d := time.Duration(rng.IntN(400)) * time.Second
		sid := fmt.Sprintf("s%03d", i)
		hits = append(hits, pv(sid, "v", sid+"p", base.Add(time.Duration(i)*time.Second), "https://a.example/", ""),
			leaveHit(sid, "v", sid+"p", base, d))
		durs = append(durs, d.Milliseconds())
	}
	if err := s.AddHits(ctx, hits); err != nil {
		t.Fatal(err)
	}
	slices.Sort(durs)
	fq, err := FilterQuery(site, base, base.Add(time.Hour), nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []int64{0, 1, 349, 350, 699} {
		for _, est := range []float64{-1, 0, 1000.5, float64(durs[k]), float64(durs[k] + 1), 200_000, 399_000, 1e9} {
			got, err := s.nth(ctx, site, fq, k, est)
			if err != nil {
				t.Fatal(err)
			}
			if got != durs[k] {
				t.Fatalf("k=%d estimate %v: %d, want %d", k, est, got, durs[k])
			}
		}
	}
}

// TestOverviewAndBreakdownParsing: recorded-shape aggregation responses
// become tiles, an exact median, every bucket of the series, and rows.
func TestOverviewAndBreakdownParsing(t *testing.T) {
	f, s := newFake(t)
	ctx := t.Context()
	// Three sessions of 0 s, 5 s and 9 s for the exact median's requests.
	for i, d := range []time.Duration{0, 5 * time.Second, 9 * time.Second} {
		sid := fmt.Sprintf("m%d", i)
		if err := s.AddHits(ctx, []traffic.Hit{pv(sid, "v", sid, base.Add(time.Duration(i)*time.Hour), "https://a.example/", ""), leaveHit(sid, "v", sid, base, d)}); err != nil {
			t.Fatal(err)
		}
	}
	raw, err := os.ReadFile("testdata/overview_response.json")
	if err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	f.aggResponse = string(raw)
	f.mu.Unlock()
	q := traffic.Query{SiteID: site, Start: base, End: base.Add(3 * time.Hour)}
	ov, err := s.Overview(ctx, q, trafficv1.TrafficInterval_TRAFFIC_INTERVAL_HOUR)
	if err != nil {
		t.Fatal(err)
	}
	c, p := ov.Current, ov.Previous
	if c.Sessions != 3 || c.Visitors != 2 || c.PageViews != 7 || c.Bounces != 1 || c.RecordedSessions != 2 ||
		*c.RageClickRate != 0.5 || *c.DeadClickRate != 0 || *c.ErrorRate != 1 || c.ViewsPerSession != 7.0/3 ||
		c.MedianDuration.AsDuration() != 5*time.Second {
		t.Fatalf("current %v", c)
	}
	if p.Sessions != 0 || p.MedianDuration != nil || p.RageClickRate != nil || p.ViewsPerSession != 0 {
		t.Fatalf("previous %v", p)
	}
	if len(ov.Series) != 3 || ov.Series[0].Sessions != 2 || ov.Series[1].Sessions != 0 || ov.Series[2].PageViews != 3 ||
		!ov.Series[1].Start.AsTime().Equal(base.Add(time.Hour)) {
		t.Fatalf("series %v", ov.Series)
	}

	raw, err = os.ReadFile("testdata/breakdown_page_response.json")
	if err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	f.aggResponse = string(raw)
	f.mu.Unlock()
	bd, err := s.Breakdown(ctx, q, trafficv1.TrafficDimension_TRAFFIC_DIMENSION_PAGE, 2)
	if err != nil {
		t.Fatal(err)
	}
	if bd.Sessions != 3 || bd.TotalValues != 5 || len(bd.Rows) != 2 || bd.Rows[0].Value != "https://a.example/" ||
		bd.Rows[0].Sessions != 3 || bd.Rows[0].PageViews != 4 || bd.Rows[0].Bounces != 1 || bd.Rows[1].Bounces != 0 {
		t.Fatalf("page breakdown %v", bd)
	}
	raw, err = os.ReadFile("testdata/breakdown_referrer_response.json")
	if err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	f.aggResponse = string(raw)
	f.mu.Unlock()
	bd, err = s.Breakdown(ctx, q, trafficv1.TrafficDimension_TRAFFIC_DIMENSION_REFERRER, 10)
	if err != nil {
		t.Fatal(err)
	}
	if bd.Sessions != 3 || bd.TotalValues != 2 || len(bd.Rows) != 2 || bd.Rows[0].Value != "" || bd.Rows[0].Sessions != 2 ||
		bd.Rows[0].PageViews != 5 || bd.Rows[0].Bounces != 1 || bd.Rows[1].Value != "search.example" {
		t.Fatalf("referrer breakdown %v", bd)
	}
}

// TooComplex is how Elasticsearch refuses a wildcard whose automaton is
// too big to determinize.
const tooComplex = `{"error":{"root_cause":[{"type":"too_complex_to_determinize_exception","reason":"Determinizing automaton would require more than 10000 states."}],"type":"search_phase_execution_exception","reason":"all shards failed"},"status":400}`

func TestErrors(t *testing.T) {
	f, s := newFake(t)
	ctx := t.Context()
	f.mu.Lock()
	f.errorResponse = tooComplex
	f.mu.Unlock()
	q := traffic.Query{SiteID: site, Start: base, End: base.Add(time.Hour), Filter: &trafficv1.TrafficFilter{
		VisitedPage: &searchv1.UrlMatch{Operator: searchv1.UrlMatch_OPERATOR_PATTERN, Value: "*a*b*c*"}}}
	if _, err := s.Breakdown(ctx, q, trafficv1.TrafficDimension_TRAFFIC_DIMENSION_PAGE, 5); !errors.Is(err, index.ErrTooComplex) {
		t.Fatalf("breakdown: %v, want ErrTooComplex", err)
	}
	if _, err := s.Funnel(ctx, traffic.FunnelQuery{SiteID: site, Start: base, End: base.Add(time.Hour), Steps: []*trafficv1.FunnelStep{
		{Match: &trafficv1.FunnelStep_Page{Page: q.Filter.VisitedPage}}, {Match: &trafficv1.FunnelStep_Event{Event: "x"}}}}); !errors.Is(err, index.ErrTooComplex) {
		t.Fatalf("funnel: %v, want ErrTooComplex", err)
	}
	f.mu.Lock()
	f.errorResponse = `{"error":{"type":"index_not_found_exception","reason":"no such index [sl-traffic]"},"status":404}`
	f.mu.Unlock()
	if _, err := s.Realtime(ctx, site, base); err == nil || errors.Is(err, index.ErrTooComplex) || !strings.Contains(err.Error(), "index_not_found") {
		t.Fatalf("other failure: %v", err)
	}
	// A bulk item refused for another reason than a conflict fails the
	// write; a multi-get answering other ids than asked is refused.
	items := []bulkItem{{key: docKey{site, "a"}}}
	var out bulkResponse
	if err := json.Unmarshal([]byte(`{"errors":true,"items":[{"index":{"_id":"3000000001/a","status":400,"error":{"type":"mapper_parsing_exception","reason":"bad"}}}]}`), &out); err != nil {
		t.Fatal(err)
	}
	if _, err := parseBulk(items, out); err == nil || !strings.Contains(err.Error(), "mapper_parsing_exception") {
		t.Fatalf("bulk item 400: %v", err)
	}
	if _, err := parseBulk(append(items, items...), out); err == nil {
		t.Fatal("bulk answering fewer items accepted")
	}
	var mg mgetResponse
	if err := json.Unmarshal([]byte(`{"docs":[{"_id":"3000000001/other","found":false}]}`), &mg); err != nil {
		t.Fatal(err)
	}
	if _, err := parseMget([]docKey{{site, "a"}}, mg); err == nil {
		t.Fatal("foreign mget document accepted")
	}
}

// TestLargeBulkSplit: big sessions (500 page views of 2 KB URLs each) are
// written in several bulk requests of bounded size, none lost.
func TestLargeBulkSplit(t *testing.T) {
	f, s := newFake(t)
	long := "https://a.example/" + strings.Repeat("x", traffic.MaxURL-len("https://a.example/")-4)
	var hits []traffic.Hit
	const sessions = 12
	for i := range sessions {
		sid := fmt.Sprintf("big%02d", i)
		for j := range traffic.MaxPageViewsPerSession {
			hits = append(hits, pv(sid, "v", fmt.Sprintf("%s-%03d", sid, j), base.Add(time.Duration(j)*time.Second), fmt.Sprintf("%s%04d", long, j), ""))
		}
	}
	if err := s.AddHits(t.Context(), hits); err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	var bulks, largest int
	for _, r := range f.requests {
		if r.path == "/sl-traffic/_bulk" {
			bulks++
			largest = max(largest, len(r.body))
		}
	}
	f.mu.Unlock()
	if bulks < 3 || largest > maxBulkBytes {
		t.Fatalf("%d bulk requests, largest %d bytes (limit %d)", bulks, largest, maxBulkBytes)
	}
	for i := range sessions {
		if d := stored(t, f, fmt.Sprintf("big%02d", i)); d[fPageCount] != float64(traffic.MaxPageViewsPerSession) {
			t.Fatalf("session %d: page_count %v", i, d[fPageCount])
		}
	}
}
