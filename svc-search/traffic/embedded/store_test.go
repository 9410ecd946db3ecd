package embedded

import (
	"context"
	"fmt"
	"log"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	searchv1 "github.com/sightlinehq/sightline/gen/sightline/search/v1"
	sessionsv1 "github.com/sightlinehq/sightline/gen/sightline/sessions/v1"
	trafficv1 "github.com/sightlinehq/sightline/gen/sightline/traffic/v1"
	"github.com/sightlinehq/sightline/svc-search/index"
	"github.com/sightlinehq/sightline/svc-search/traffic"
)

const siteA = int64(1) << 40

var t0 = time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)

func openStore(t testing.TB, dir string) *Store {
	t.Helper()
	s, err := Open(dir, Options{ParallelRows: 2, Logger: quietLog{}})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func pv(sess, visitor, id, url string, at time.Duration) traffic.Hit {
	return traffic.Hit{
		SiteID: siteA, SessionID: sess, VisitorID: visitor, PageViewID: id, Kind: sessionsv1.HitKind_HIT_KIND_PAGE_VIEW,
		Time: t0.Add(at), URL: url, Device: sessionsv1.DeviceType_DEVICE_TYPE_DESKTOP, Browser: "Chrome", OS: "macOS",
		Country: "DE", ScreenW: 1920, ScreenH: 1080,
	}
}

func leave(sess, visitor, id string, at, d time.Duration) traffic.Hit {
	return traffic.Hit{SiteID: siteA, SessionID: sess, VisitorID: visitor, PageViewID: id, Kind: sessionsv1.HitKind_HIT_KIND_PAGE_LEAVE, Time: t0.Add(at), Duration: d}
}

func ev(sess, visitor, id, name string, at time.Duration) traffic.Hit {
	return traffic.Hit{SiteID: siteA, SessionID: sess, VisitorID: visitor, PageViewID: id, Kind: sessionsv1.HitKind_HIT_KIND_EVENT, Time: t0.Add(at), Event: name}
}

func add(t testing.TB, s traffic.Store, hits ...traffic.Hit) {
	t.Helper()
	if err := s.AddHits(context.Background(), hits); err != nil {
		t.Fatal(err)
	}
}

func day() traffic.Query {
	return traffic.Query{SiteID: siteA, Start: t0.Add(-10 * time.Hour), End: t0.Add(14 * time.Hour)}
}

func handData() []traffic.Hit {
	google := pv("s1", "v1", "p1", "https://shop.test/?utm_source=news&utm_medium=mail", 0)
	google.Referrer = "https://www.Google.com/search"
	own := pv("s2", "v1", "p3", "https://shop.test/cart", time.Hour)
	own.Referrer = "https://shop.test/"
	own.Device = sessionsv1.DeviceType_DEVICE_TYPE_MOBILE
	return []traffic.Hit{
		// s1: two page views, the second's leave before it; an event.
		leave("s1", "v1", "p2", 40*time.Second, 30*time.Second),
		google,
		pv("s1", "v1", "p2", "https://shop.test/cart/", 10*time.Second),
		ev("s1", "v1", "p2", "signup", 20*time.Second),
		leave("s1", "v1", "p2", 41*time.Second, 20*time.Second), // a smaller later leave: max stays
		// s2: one page view (a bounce) by the same visitor, own-siteA referrer (direct).
		own,
		leave("s2", "v1", "p3", time.Hour+5*time.Second, 5*time.Second),
		// s3: only events: not counted.
		ev("s3", "v2", "p9", "signup", 0),
		// s4: another visitor, a non-http page.
		pv("s4", "v3", "p4", "app://home", 2*time.Hour),
		// outside the day: in the previous period.
		pv("s5", "v4", "p5", "https://shop.test/", -20*time.Hour),
	}
}

func TestHandComputed(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, t.TempDir())
	defer s.Close()
	hits := handData()
	add(t, s, hits...)
	add(t, s, hits[3], hits[1]) // re-delivery changes nothing
	if err := s.SetRecorded(ctx, []traffic.Recorded{{SiteID: siteA, SessionID: "s1", Version: 2, Rage: true}, {SiteID: siteA, SessionID: "s1", Version: 1, Errors: true}}); err != nil {
		t.Fatal(err)
	}
	ov, err := s.Overview(ctx, day(), trafficv1.TrafficInterval_TRAFFIC_INTERVAL_HOUR)
	if err != nil {
		t.Fatal(err)
	}
	c := ov.GetCurrent()
	if c.GetVisitors() != 2 || c.GetSessions() != 3 || c.GetPageViews() != 4 || c.GetBounces() != 2 || c.GetRecordedSessions() != 1 {
		t.Fatalf("current = %v", c)
	}
	// Durations: s1 40 s (p2 at 10 s + 30 s), s2 5 s, s4 0: lower median 5 s.
	if c.GetMedianDuration().AsDuration() != 5*time.Second || c.GetRageClickRate() != 1 || c.GetErrorRate() != 0 {
		t.Fatalf("current = %v", c)
	}
	if p := ov.GetPrevious(); p.GetSessions() != 1 || p.GetVisitors() != 1 || p.RageClickRate != nil || p.GetMedianDuration().AsDuration() != 0 {
		t.Fatalf("previous = %v", p)
	}
	if len(ov.GetSeries()) != 24 || ov.GetSeries()[10].GetSessions() != 1 || ov.GetSeries()[10].GetPageViews() != 2 || ov.GetSeries()[11].GetVisitors() != 1 {
		t.Fatalf("series = %v", ov.GetSeries())
	}

	bd := func(dim trafficv1.TrafficDimension, f *trafficv1.TrafficFilter) *trafficv1.GetTrafficBreakdownResponse {
		t.Helper()
		q := day()
		q.Filter = f
		r, err := s.Breakdown(ctx, q, dim, 10)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	ref := bd(trafficv1.TrafficDimension_TRAFFIC_DIMENSION_REFERRER, nil)
	if ref.GetTotalValues() != 2 || ref.GetRows()[0].GetValue() != "" || ref.GetRows()[0].GetSessions() != 2 || ref.GetRows()[1].GetValue() != "google.com" {
		t.Fatalf("referrers = %v", ref)
	}
	pages := bd(trafficv1.TrafficDimension_TRAFFIC_DIMENSION_PAGE, nil)
	want := map[string][3]int64{"https://shop.test/cart": {2, 2, 1}, "https://shop.test/": {1, 1, 0}, "app://home": {1, 1, 1}}
	for _, r := range pages.GetRows() {
		if w := want[r.GetValue()]; w != [3]int64{r.GetSessions(), r.GetPageViews(), r.GetBounces()} {
			t.Errorf("page %q = %v, want %v", r.GetValue(), r, w)
		}
	}
	if pages.GetTotalValues() != 3 || pages.GetSessions() != 3 {
		t.Fatalf("pages = %v", pages)
	}
	if d := bd(trafficv1.TrafficDimension_TRAFFIC_DIMENSION_DEVICE_TYPE, nil); d.GetRows()[0].GetValue() != index.DeviceName(sessionsv1.DeviceType_DEVICE_TYPE_DESKTOP) || d.GetRows()[0].GetSessions() != 2 {
		t.Fatalf("devices = %v", d)
	}
	if u := bd(trafficv1.TrafficDimension_TRAFFIC_DIMENSION_UTM_SOURCE, &trafficv1.TrafficFilter{UtmMedium: "mail"}); u.GetSessions() != 1 || u.GetRows()[0].GetValue() != "news" {
		t.Fatalf("utm = %v", u)
	}
	for name, f := range map[string]*trafficv1.TrafficFilter{
		"direct":  {Direct: true},
		"visited": {VisitedPage: &searchv1.UrlMatch{Operator: searchv1.UrlMatch_OPERATOR_PREFIX, Value: "/cart"}},
		"screen":  {ScreenSize: "1920x1080", Countries: []string{"DE", "FR"}},
	} {
		n := map[string]int64{"direct": 2, "visited": 2, "screen": 3}[name]
		if got := bd(trafficv1.TrafficDimension_TRAFFIC_DIMENSION_COUNTRY, f).GetSessions(); got != n {
			t.Errorf("filter %s: %d sessions, want %d", name, got, n)
		}
	}
	if got := bd(trafficv1.TrafficDimension_TRAFFIC_DIMENSION_COUNTRY, &trafficv1.TrafficFilter{Countries: []string{"XX"}}).GetSessions(); got != 0 {
		t.Errorf("unknown country: %d sessions", got)
	}

	steps := []*trafficv1.FunnelStep{
		{Match: &trafficv1.FunnelStep_Page{Page: &searchv1.UrlMatch{Operator: searchv1.UrlMatch_OPERATOR_CONTAINS, Value: "shop.test"}}},
		{Match: &trafficv1.FunnelStep_Event{Event: "signup"}},
		{Match: &trafficv1.FunnelStep_Page{Page: &searchv1.UrlMatch{Operator: searchv1.UrlMatch_OPERATOR_PREFIX, Value: "/cart"}}},
	}
	fq := traffic.FunnelQuery{SiteID: siteA, Start: day().Start, End: day().End, Steps: steps}
	fr, err := s.Funnel(ctx, fq)
	if err != nil {
		t.Fatal(err)
	}
	// s1 enters at p1 (0 s), signs up at 20 s, never views /cart after it;
	// s2 enters and drops off.
	got := fmt.Sprint(fr.GetSteps()[0].GetSessions(), fr.GetSteps()[1].GetSessions(), fr.GetSteps()[1].GetDropped(), fr.GetSteps()[1].GetDroppedRecorded(), fr.GetSteps()[2].GetDropped(), fr.GetSteps()[2].GetDroppedRecorded())
	if got != "2 1 1 0 1 1" || fr.GetSteps()[1].GetMedianTimeFromPrevious().AsDuration() != 20*time.Second || fr.GetSteps()[2].GetMedianTimeFromPrevious() != nil {
		t.Fatalf("funnel = %s %v", got, fr)
	}
	page, err := s.FunnelSessions(ctx, fq, 2, true, nil, 10)
	if err != nil || page.Total != 1 || page.Recorded != 1 || len(page.SessionIDs) != 1 || page.SessionIDs[0] != "s1" || page.Next != nil {
		t.Fatalf("funnel sessions = %+v, %v", page, err)
	}

	rt, err := s.Realtime(ctx, siteA, t0.Add(time.Hour+2*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if rt.GetVisitors() != 1 || rt.GetPageViews() != 1 || len(rt.GetPages()) != 1 || rt.GetPages()[0].GetPage() != "https://shop.test/cart" || rt.GetPerMinute()[27] != 1 {
		t.Fatalf("realtime = %v", rt)
	}

	// Deletes: by visitor (s1, s2 and the event-only s3 carry v1/v2).
	if n, err := s.Delete(ctx, siteA, index.Selector{VisitorID: "v1"}); err != nil || n != 2 {
		t.Fatalf("delete visitor = %d, %v", n, err)
	}
	if n, err := s.Delete(ctx, siteA, index.Selector{StartedBefore: t0}); err != nil || n != 1 {
		t.Fatalf("delete started before = %d, %v", n, err)
	}
	if n, err := s.Delete(ctx, siteA, index.Selector{SessionIDs: []string{"s4", "nope"}}); err != nil || n != 1 {
		t.Fatalf("delete ids = %d, %v", n, err)
	}
	ov, _ = s.Overview(ctx, day(), trafficv1.TrafficInterval_TRAFFIC_INTERVAL_DAY)
	if ov.GetCurrent().GetSessions() != 0 || ov.GetCurrent().GetMedianDuration() != nil {
		t.Fatalf("after deletes = %v", ov.GetCurrent())
	}
	// A deleted session's later hits start it afresh, without its mark.
	add(t, s, pv("s1", "v1", "p7", "https://shop.test/x", 3*time.Hour))
	ov, _ = s.Overview(ctx, day(), trafficv1.TrafficInterval_TRAFFIC_INTERVAL_DAY)
	if ov.GetCurrent().GetSessions() != 1 || ov.GetCurrent().GetPageViews() != 1 || ov.GetCurrent().GetRecordedSessions() != 0 {
		t.Fatalf("after re-adding = %v", ov.GetCurrent())
	}
	if n, err := s.Delete(ctx, siteA, index.Selector{WholeSite: true}); err != nil || n != 1 {
		t.Fatalf("delete siteA = %d, %v", n, err)
	}
}

func TestMarksBeforeHitsAndSweep(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, t.TempDir())
	defer s.Close()
	// Load the siteA first so the marks and hits update the loaded copy.
	if _, err := s.Overview(ctx, day(), trafficv1.TrafficInterval_TRAFFIC_INTERVAL_DAY); err != nil {
		t.Fatal(err)
	}
	if err := s.SetRecorded(ctx, []traffic.Recorded{{SiteID: siteA, SessionID: "a", Version: 5, Dead: true}}); err != nil {
		t.Fatal(err)
	}
	if err := s.SetRecorded(ctx, []traffic.Recorded{{SiteID: siteA, SessionID: "a", Version: 4}}); err != nil {
		t.Fatal(err)
	}
	short := pv("a", "v", "p1", "https://x.test/", 0)
	short.RetentionDays = 1
	long := pv("b", "v", "p2", "https://x.test/", 0)
	long.RetentionDays = 30
	add(t, s, short, long, pv("c", "v", "p3", "https://x.test/", 0))
	ov, err := s.Overview(ctx, day(), trafficv1.TrafficInterval_TRAFFIC_INTERVAL_DAY)
	if err != nil {
		t.Fatal(err)
	}
	if c := ov.GetCurrent(); c.GetRecordedSessions() != 1 || c.GetDeadClickRate() != 1 || c.GetVisitors() != 1 {
		t.Fatalf("current = %v", c)
	}
	// Two days on: a (1 day) goes; c (default 7 days) and b stay.
	if n, err := s.Sweep(ctx, t0.Add(48*time.Hour), 7*24*time.Hour); err != nil || n != 1 {
		t.Fatalf("sweep = %d, %v", n, err)
	}
	if n, err := s.Sweep(ctx, t0.Add(10*24*time.Hour), 7*24*time.Hour); err != nil || n != 1 {
		t.Fatalf("sweep = %d, %v", n, err)
	}
	ov, _ = s.Overview(ctx, day(), trafficv1.TrafficInterval_TRAFFIC_INTERVAL_DAY)
	if c := ov.GetCurrent(); c.GetSessions() != 1 || c.GetRecordedSessions() != 0 {
		t.Fatalf("after sweeps = %v", c)
	}
}

// TestRestart: a reopened store answers exactly as before.
func TestRestart(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := openStore(t, dir)
	add(t, s, handData()...)
	if err := s.SetRecorded(ctx, []traffic.Recorded{{SiteID: siteA, SessionID: "s2", Version: 1, Errors: true}}); err != nil {
		t.Fatal(err)
	}
	before := dayAnswers(t, s)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openStore(t, dir)
	defer s.Close()
	requireSameAnswers(t, "after reopening", dayAnswers(t, s), before)
}

// dayAnswers is what s answers for day(): the overview, a breakdown and
// realtime (there must be the hand data's 3 sessions).
func dayAnswers(t *testing.T, s *Store) []proto.Message {
	t.Helper()
	ctx := context.Background()
	ov, err := s.Overview(ctx, day(), trafficv1.TrafficInterval_TRAFFIC_INTERVAL_HOUR)
	if err != nil {
		t.Fatal(err)
	}
	bd, err := s.Breakdown(ctx, day(), trafficv1.TrafficDimension_TRAFFIC_DIMENSION_EXIT_PAGE, 5)
	if err != nil {
		t.Fatal(err)
	}
	rt, err := s.Realtime(ctx, siteA, t0.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	return []proto.Message{ov, bd, rt}
}

// requireSameAnswers fails unless got equals want, and want counts the
// hand data's 3 sessions.
func requireSameAnswers(t *testing.T, what string, got, want []proto.Message) {
	t.Helper()
	for i := range want {
		if !proto.Equal(got[i], want[i]) {
			t.Errorf("%s:\n%v\nwant:\n%v", what, got[i], want[i])
		}
	}
	if want[0].(*trafficv1.GetTrafficOverviewResponse).GetCurrent().GetSessions() != 3 {
		t.Fatalf("want = %v", want[0])
	}
}

// TestConcurrentWriters: writers on overlapping sessions and readers at
// once (run with -race); every hit counts once.
func TestConcurrentWriters(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, t.TempDir())
	defer s.Close()
	const writers, sessions = 4, 50
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range sessions {
				sid := fmt.Sprintf("s%d", i)
				// Every writer delivers the same two page views (re-delivery)
				// and one of its own.
				h := []traffic.Hit{
					pv(sid, "v", sid+"a", "https://x.test/a", time.Minute),
					pv(sid, "v", sid+"b", "https://x.test/b", 2*time.Minute),
					pv(sid, "v", fmt.Sprintf("%sw%d", sid, w), "https://x.test/c", 3*time.Minute),
				}
				if err := s.AddHits(ctx, h); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for range 20 {
			if _, err := s.Overview(ctx, day(), trafficv1.TrafficInterval_TRAFFIC_INTERVAL_HOUR); err != nil {
				t.Error(err)
			}
			if _, err := s.Realtime(ctx, siteA, t0.Add(time.Minute)); err != nil {
				t.Error(err)
			}
		}
	}()
	wg.Wait()
	ov, err := s.Overview(ctx, day(), trafficv1.TrafficInterval_TRAFFIC_INTERVAL_HOUR)
	if err != nil {
		t.Fatal(err)
	}
	if c := ov.GetCurrent(); c.GetSessions() != sessions || c.GetPageViews() != sessions*(2+writers) || c.GetVisitors() != 1 {
		t.Fatalf("current = %v", c)
	}
}

func TestRecordRoundTrip(t *testing.T) {
	ss := &session{marked: true, version: 3, flags: flagDead}
	for _, h := range handData() {
		ss.apply(&h)
	}
	got, err := decodeSession(ss.encode(nil))
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(got) != fmt.Sprint(ss) {
		t.Fatalf("round trip:\n%v\n%v", got, ss)
	}
	for n := range len(ss.encode(nil)) {
		if _, err := decodeSession(ss.encode(nil)[:n]); err == nil {
			t.Fatalf("a record cut at %d decoded", n)
		}
	}
}

func TestLowerMedian(t *testing.T) {
	for _, c := range []struct {
		in   []int64
		want int64
	}{{nil, 0}, {[]int64{5}, 5}, {[]int64{3, 1}, 1}, {[]int64{9, 1, 5, 5, 2}, 5}, {[]int64{4, 4, 4, 1, 9, 9}, 4}} {
		if got := lowerMedian(append([]int64(nil), c.in...)); got != c.want {
			t.Errorf("lowerMedian(%v) = %d, want %d", c.in, got, c.want)
		}
	}
	// Large inputs take the radix path: skewed, with ties, wide ranges.
	rng := rand.New(rand.NewPCG(7, 8))
	for _, n := range []int{1 << 16, 100_001, 300_000} {
		for _, spread := range []int64{1, 1000, 1 << 40} {
			v := make([]int64, n)
			for i := range v {
				v[i] = rng.Int64N(spread) * rng.Int64N(3)
			}
			sorted := slices.Sorted(slices.Values(v))
			if got, want := lowerMedian(v), sorted[(n-1)/2]; got != want {
				t.Errorf("lowerMedian of %d values spread %d = %d, want %d", n, spread, got, want)
			}
		}
	}
}

// TestMatchURLsIsMatchURL: the per-URL-id rule results equal index.MatchURL
// on every URL, for every operator, path-form or not.
func TestMatchURLsIsMatchURL(t *testing.T) {
	st := newSite()
	urls := []string{
		"https://shop.test/", "https://Shop.test/Cart/?a=1#x", "http://shop.test:80/cart", "https://shop.test:8443/cart",
		"https://shop.test/product/42/buy", "app://home", "not a url", "%zz", "", "https://shop.test", "HTTPS://SHOP.TEST/cart/",
		"https://shop.test/a%20b", "https://[::1]/x", "file:///etc/passwd",
	}
	for _, u := range urls {
		st.url(u)
	}
	var rules []*searchv1.UrlMatch
	for _, op := range []searchv1.UrlMatch_Operator{0, 1, 2, 3, 4} {
		for _, v := range []string{"/", "/cart", "/cart/", "https://shop.test/cart", "shop.test", "/product/*", "https://shop.test/*", "app://home", "*", "/a%20b", "CART"} {
			rules = append(rules, &searchv1.UrlMatch{Operator: op, Value: v})
		}
	}
	for _, m := range rules {
		got := st.matchURLs(m)
		for id, u := range st.urls.s {
			if want := index.MatchURL(m, u); got[id] != want {
				t.Errorf("rule %v on %q: %v, want %v", m, u, got[id], want)
			}
		}
	}
	// URLs added later extend the kept results.
	m := &searchv1.UrlMatch{Operator: searchv1.UrlMatch_OPERATOR_PREFIX, Value: "/cart"}
	st.matchURLs(m)
	id := st.url("https://other.test/cart/x")
	if got := st.matchURLs(m); len(got) != len(st.urls.s) || !got[id] {
		t.Fatalf("after a new URL: %v", got)
	}
}

// TestBucketIndex: the quarter-hour table answers traffic.BucketStart's
// bucket in zones with DST and half- and quarter-hour offsets.
func TestBucketIndex(t *testing.T) {
	from := time.Date(2026, 3, 20, 0, 0, 0, 0, time.UTC)
	to := time.Date(2026, 11, 5, 0, 0, 0, 0, time.UTC)
	for _, zone := range []string{"UTC", "Europe/Berlin", "America/New_York", "Asia/Kolkata", "Asia/Kathmandu", "Australia/Lord_Howe"} {
		loc, err := time.LoadLocation(zone)
		if err != nil {
			t.Fatal(err)
		}
		for _, iv := range []trafficv1.TrafficInterval{trafficv1.TrafficInterval_TRAFFIC_INTERVAL_DAY, trafficv1.TrafficInterval_TRAFFIC_INTERVAL_WEEK, trafficv1.TrafficInterval_TRAFFIC_INTERVAL_HOUR} {
			end := to
			if iv == trafficv1.TrafficInterval_TRAFFIC_INTERVAL_HOUR {
				end = from.Add(30 * 24 * time.Hour)
			}
			starts, err := traffic.Buckets(from, end, iv, loc)
			if err != nil {
				t.Fatal(err)
			}
			bs := make([]int64, len(starts))
			for i, b := range starts {
				bs[i] = b.UnixNano()
			}
			bi := newBucketIndex(bs, iv, loc)
			if bi.table == nil {
				t.Fatalf("%s %v: no table", zone, iv)
			}
			for at := from; at.Before(end); at = at.Add(7*time.Minute + 13*time.Second) {
				if got, want := starts[bi.of(at.UnixNano())], traffic.BucketStart(at, iv, loc); !got.Equal(want) {
					t.Fatalf("%s %v: %v in bucket %v, want %v", zone, iv, at, got, want)
				}
			}
		}
	}
}

// TestUpdatesEqualReload: a loaded site kept up to date by writes (rows
// growing, moving, marked, deleted; arenas compacted) answers exactly as
// the same data loaded afresh from Pebble.
func TestUpdatesEqualReload(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := openStore(t, dir)
	l, err := s.site(ctx, siteA) // loaded while empty: every write updates it
	if err != nil {
		t.Fatal(err)
	}
	l.s.compactAt = 10
	l.done()
	for round := range 6 {
		var hits []traffic.Hit
		for i := range 40 {
			sid := fmt.Sprintf("s%d", i)
			vis := fmt.Sprintf("v%d", i%7)
			// (A session deleted in one round starts afresh in the next.)
			// Each round adds a page view, some earlier than the session's
			// start so far (the entry page moves), and an event.
			at := time.Duration((i*37+round*53)%300) * time.Second
			h := pv(sid, vis, fmt.Sprintf("%s-%d", sid, round), fmt.Sprintf("https://x.test/p%d?utm_source=r%d", (i+round)%5, round), at)
			h.Referrer = fmt.Sprintf("https://ref%d.test/", round%3)
			hits = append(hits, h, leave(sid, vis, h.PageViewID, at+time.Second, time.Duration(round+1)*time.Second), ev(sid, vis, h.PageViewID, "e", at+time.Second))
		}
		add(t, s, hits...)
		if err := s.SetRecorded(ctx, []traffic.Recorded{{SiteID: siteA, SessionID: fmt.Sprintf("s%d", round), Version: int64(round), Rage: round%2 == 0}}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Delete(ctx, siteA, index.Selector{SessionIDs: []string{fmt.Sprintf("s%d", 39-round)}}); err != nil {
			t.Fatal(err)
		}
	}
	if l.s.waste > len(l.s.itT)/2+10 {
		t.Fatalf("arenas not compacted: %d of %d wasted", l.s.waste, len(l.s.itT))
	}
	steps := []*trafficv1.FunnelStep{
		{Match: &trafficv1.FunnelStep_Page{Page: &searchv1.UrlMatch{Operator: searchv1.UrlMatch_OPERATOR_PREFIX, Value: "/p1"}}},
		{Match: &trafficv1.FunnelStep_Event{Event: "e"}},
		{Match: &trafficv1.FunnelStep_Page{Page: &searchv1.UrlMatch{Operator: searchv1.UrlMatch_OPERATOR_CONTAINS, Value: "p3"}}},
	}
	answers := func(s *Store) []proto.Message {
		var out []proto.Message
		ov, err := s.Overview(ctx, day(), trafficv1.TrafficInterval_TRAFFIC_INTERVAL_HOUR)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, ov)
		for d := range trafficv1.TrafficDimension_TRAFFIC_DIMENSION_SCREEN_SIZE {
			bd, err := s.Breakdown(ctx, day(), d+1, 100)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, bd)
		}
		fr, err := s.Funnel(ctx, traffic.FunnelQuery{SiteID: siteA, Start: day().Start, End: day().End, Steps: steps})
		if err != nil {
			t.Fatal(err)
		}
		return append(out, fr)
	}
	before := answers(s)
	if got := before[0].(*trafficv1.GetTrafficOverviewResponse).GetCurrent(); got.GetSessions() != 39 || got.GetRecordedSessions() != 6 {
		t.Fatalf("current = %v", got)
	}
	s.Close()
	s = openStore(t, dir)
	defer s.Close()
	after := answers(s)
	for i := range before {
		if !proto.Equal(before[i], after[i]) {
			t.Errorf("answer %d kept up to date:\n%v\nloaded afresh:\n%v", i, before[i], after[i])
		}
	}
}

// TestClosed: every call after Close fails cleanly, and Close twice is
// fine.
func TestClosed(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, t.TempDir())
	add(t, s, handData()...)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	errs := []error{s.Ready(ctx), s.AddHits(ctx, handData()), s.SetRecorded(ctx, []traffic.Recorded{{SiteID: siteA, SessionID: "s1"}})}
	_, err := s.Overview(ctx, day(), trafficv1.TrafficInterval_TRAFFIC_INTERVAL_DAY)
	errs = append(errs, err)
	_, err = s.Realtime(ctx, siteA, t0)
	errs = append(errs, err)
	_, err = s.Delete(ctx, siteA, index.Selector{WholeSite: true})
	errs = append(errs, err)
	_, err = s.Sweep(ctx, t0, time.Hour)
	errs = append(errs, err)
	_, err = s.FunnelSessions(ctx, traffic.FunnelQuery{SiteID: siteA, Steps: make([]*trafficv1.FunnelStep, 2)}, 0, false, nil, 5)
	errs = append(errs, err)
	for i, err := range errs {
		if err == nil {
			t.Errorf("call %d after Close: no error", i)
		}
	}
}

// TestLoadWhileWriting: writes during a site's load (from a snapshot) are
// queued and applied, none lost or applied twice.
func TestLoadWhileWriting(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := openStore(t, dir)
	var hits []traffic.Hit
	for i := range 20_000 {
		sid := fmt.Sprintf("old%d", i)
		hits = append(hits, pv(sid, sid, sid+"a", "https://x.test/a", time.Duration(i)*time.Second))
	}
	add(t, s, hits...)
	s.Close()
	s = openStore(t, dir)
	defer s.Close()
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range 300 {
			// A new session, a second page view of an old one, a delete.
			old := fmt.Sprintf("old%d", i*7)
			add(t, s, pv(fmt.Sprintf("new%d", i), "nv", fmt.Sprintf("n%d", i), "https://x.test/b", time.Minute),
				pv(old, old, old+"b", "https://x.test/c", 30*time.Hour))
			if _, err := s.Delete(ctx, siteA, index.Selector{SessionIDs: []string{fmt.Sprintf("old%d", i*7+1)}}); err != nil {
				t.Error(err)
			}
		}
	}()
	q := traffic.Query{SiteID: siteA, Start: t0.Add(-time.Hour), End: t0.Add(24 * time.Hour)}
	for {
		if _, err := s.Overview(ctx, q, trafficv1.TrafficInterval_TRAFFIC_INTERVAL_DAY); err != nil {
			t.Fatal(err)
		}
		select {
		case <-done:
		default:
			continue
		}
		break
	}
	got, err := s.Overview(ctx, q, trafficv1.TrafficInterval_TRAFFIC_INTERVAL_DAY)
	if err != nil {
		t.Fatal(err)
	}
	if c := got.GetCurrent(); c.GetSessions() != 20_000 || c.GetPageViews() != 20_000+300 {
		t.Fatalf("current = %v", c)
	}
	s.Close()
	s = openStore(t, dir)
	want, err := s.Overview(ctx, q, trafficv1.TrafficInterval_TRAFFIC_INTERVAL_DAY)
	if err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(got, want) {
		t.Fatalf("kept up to date:\n%v\nloaded afresh:\n%v", got.GetCurrent(), want.GetCurrent())
	}
}

func TestIntern(t *testing.T) {
	in := newIntern()
	for i := range 10_000 {
		if id, added := in.add(fmt.Sprintf("id-%d", i)); !added || id != uint32(i) {
			t.Fatalf("add %d = %d, %v", i, id, added)
		}
	}
	for i := range 10_000 {
		if id, added := in.add(fmt.Sprintf("id-%d", i)); added || id != uint32(i) || in.get(id) != fmt.Sprintf("id-%d", i) {
			t.Fatalf("re-add %d = %d, %v", i, id, added)
		}
	}
	if _, ok := in.find("id-10000"); ok {
		t.Fatal("found what was never added")
	}
	if id, added := in.add(""); !added || in.get(id) != "" {
		t.Fatal("the empty string")
	}
}

// quietLog drops Pebble's informational lines from test output.
type quietLog struct{}

func (quietLog) Infof(string, ...any)      {}
func (quietLog) Errorf(f string, a ...any) { log.Printf(f, a...) }
func (quietLog) Fatalf(f string, a ...any) { log.Fatalf(f, a...) }

// FuzzDecodeSession: a damaged record is an error, never a panic, and
// what decodes re-encodes to itself.
func FuzzDecodeSession(f *testing.F) {
	ss := &session{}
	for _, h := range handData() {
		ss.apply(&h)
	}
	f.Add(ss.encode(nil))
	f.Add([]byte{recordVersion})
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := decodeSession(b)
		if err != nil {
			return
		}
		again, err := decodeSession(got.encode(nil))
		if err != nil || fmt.Sprint(again) != fmt.Sprint(got) {
			t.Fatalf("re-encoding %v: %v, %v", got, again, err)
		}
		_, _ = expired(b, t0, time.Hour)
	})
}

// TestRemovedRowsReclaimed: once removed sessions' rows outnumber the
// live ones, the site's copy is dropped and loaded afresh, with the same
// answers.
func TestRemovedRowsReclaimed(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, t.TempDir())
	defer s.Close()
	var hits []traffic.Hit
	var gone []string
	for i := range 120_000 {
		id := fmt.Sprintf("s%d", i)
		hits = append(hits, pv(id, "v", id, "https://x.test/", time.Duration(i)*time.Millisecond))
		if i%4 != 0 {
			gone = append(gone, id)
		}
	}
	add(t, s, hits...)
	if _, err := s.Overview(ctx, day(), trafficv1.TrafficInterval_TRAFFIC_INTERVAL_DAY); err != nil {
		t.Fatal(err)
	}
	s.smu.Lock()
	before := s.sites[siteA]
	s.smu.Unlock()
	if n, err := s.Delete(ctx, siteA, index.Selector{SessionIDs: gone}); err != nil || n != int64(len(gone)) {
		t.Fatalf("delete = %d, %v", n, err)
	}
	s.smu.Lock()
	after := s.sites[siteA]
	s.smu.Unlock()
	if before == nil || after != nil {
		t.Fatalf("the copy with %d of %d rows removed was kept", before.s.dead, len(before.s.rows))
	}
	ov, err := s.Overview(ctx, day(), trafficv1.TrafficInterval_TRAFFIC_INTERVAL_DAY)
	if err != nil {
		t.Fatal(err)
	}
	if got := ov.GetCurrent().GetSessions(); got != 30_000 {
		t.Fatalf("sessions = %d", got)
	}
	l, err := s.site(ctx, siteA)
	if err != nil {
		t.Fatal(err)
	}
	defer l.done()
	if len(l.s.rows) != 30_000 || l.s.dead != 0 {
		t.Fatalf("reloaded copy: %d rows, %d dead", len(l.s.rows), l.s.dead)
	}
}
