package traffictest

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"

	searchv1 "github.com/sightlinehq/sightline/gen/sightline/search/v1"
	sessionsv1 "github.com/sightlinehq/sightline/gen/sightline/sessions/v1"
	trafficv1 "github.com/sightlinehq/sightline/gen/sightline/traffic/v1"
	"github.com/sightlinehq/sightline/internal/testseed"
	"github.com/sightlinehq/sightline/svc-search/traffic"
)

// T is what a check reports to: *testing.T, or a recorder (Failures).
type T interface {
	Helper()
	Errorf(format string, args ...any)
	Fatalf(format string, args ...any)
	Logf(format string, args ...any)
}

type check struct {
	name string
	fn   func(t T, s traffic.Store, seed uint64)
}

func checks() []check {
	return []check{
		{"HandComputed", testHandComputed},
		{"EmptyAndOneSession", testEmptyAndOne},
		{"WithoutPageViews", testWithoutPageViews},
		{"Leaves", testLeaves},
		{"SeriesAcrossDST", testSeriesDST},
		{"RandomOverview", testRandomOverview},
		{"EveryFilter", testEveryFilter},
		{"Breakdowns", testBreakdowns},
		{"Realtime", testRealtime},
		{"FunnelHandComputed", testFunnelHand},
		{"RandomFunnels", testRandomFunnels},
		{"FunnelSessionsPaging", testFunnelPaging},
		{"Recorded", testRecorded},
		{"Deletes", testDeletes},
		{"Sweep", testSweep},
		{"Tenancy", testTenancy},
		{"PerSessionLimits", testLimits},
	}
}

// Run runs the conformance suite; newStore returns a fresh, empty store
// that the suite closes. Random data is seeded by testseed (replay with
// SIGHTLINE_TEST_SEED; the seed is printed with every failure).
func Run(t *testing.T, newStore func(t *testing.T) traffic.Store) {
	for _, c := range checks() {
		t.Run(c.name, func(t *testing.T) {
			s := newStore(t)
			t.Cleanup(func() {
				if err := s.Close(); err != nil {
					t.Errorf("close: %v", err)
				}
			})
			seed := testseed.Seed(t)
			c.fn(seeded{t, seed}, s, seed)
		})
	}
}

// seeded adds the seed to every failure, so a random one can be replayed.
type seeded struct {
	T
	seed uint64
}

func (s seeded) Errorf(f string, args ...any) {
	s.T.Helper()
	s.T.Errorf(f+" (%s=%d)", append(args, testseed.Env, s.seed)...)
}

func (s seeded) Fatalf(f string, args ...any) {
	s.T.Helper()
	s.T.Fatalf(f+" (%s=%d)", append(args, testseed.Env, s.seed)...)
}

// Failures runs the named checks of the suite (every one without names)
// on fresh stores from newStore and answers each failing check's
// messages: how a test proves that the suite catches a broken store.
func Failures(newStore func() traffic.Store, seed uint64, names ...string) map[string][]string {
	out := map[string][]string{}
	for _, c := range checks() {
		if len(names) > 0 && !slices.Contains(names, c.name) {
			continue
		}
		r := &recorder{}
		func() {
			s := newStore()
			defer s.Close()
			defer func() {
				if p := recover(); p != nil && p != errFatal {
					r.msgs = append(r.msgs, fmt.Sprintf("panic: %v", p))
				}
			}()
			c.fn(r, s, seed)
		}()
		if len(r.msgs) > 0 {
			out[c.name] = r.msgs
		}
	}
	return out
}

var errFatal = &struct{ string }{"fatal"}

type recorder struct{ msgs []string }

func (r *recorder) Helper()                   {}
func (r *recorder) Logf(string, ...any)       {}
func (r *recorder) Errorf(f string, a ...any) { r.msgs = append(r.msgs, fmt.Sprintf(f, a...)) }
func (r *recorder) Fatalf(f string, a ...any) {
	r.Errorf(f, a...)
	panic(errFatal)
}

// --- delivery and comparison -------------------------------------------

var ctx = context.Background()

// deliver adds hits in random order and random batches, then re-delivers
// a random fifth of them: order and duplicates must not matter.
func deliver(t T, s traffic.Store, rng *rand.Rand, hits []traffic.Hit) {
	t.Helper()
	hs := slices.Clone(hits)
	rng.Shuffle(len(hs), func(i, j int) { hs[i], hs[j] = hs[j], hs[i] })
	for len(hs) > 0 {
		n := min(len(hs), 1+rng.IntN(60))
		add(t, s, hs[:n]...)
		hs = hs[n:]
	}
	var again []traffic.Hit
	for _, h := range hits {
		if rng.IntN(5) == 0 {
			again = append(again, h)
		}
	}
	rng.Shuffle(len(again), func(i, j int) { again[i], again[j] = again[j], again[i] })
	if len(again) > 0 {
		add(t, s, again...)
	}
}

func add(t T, s traffic.Store, hits ...traffic.Hit) {
	t.Helper()
	if err := s.AddHits(ctx, hits); err != nil {
		t.Fatalf("add hits: %v", err)
	}
}

func mark(t T, s traffic.Store, marks ...traffic.Recorded) {
	t.Helper()
	if err := s.SetRecorded(ctx, marks); err != nil {
		t.Fatalf("set recorded: %v", err)
	}
}

// load delivers the same data to the store and to a fresh reference.
func load(t T, s traffic.Store, rng *rand.Rand, gs ...Generated) *Reference {
	t.Helper()
	ref := NewReference()
	for _, g := range gs {
		deliver(t, s, rng, g.Hits)
		_ = ref.AddHits(ctx, g.Hits)
		mark(t, s, g.Marks...)
		_ = ref.SetRecorded(ctx, g.Marks)
	}
	return ref
}

const tolerance = 1e-9

func near(a, b float64) bool { return math.Abs(a-b) <= tolerance }

func durStr(d *durationpb.Duration) string {
	if d == nil {
		return "unset"
	}
	return d.AsDuration().String()
}

func optStr(p *float64) string {
	if p == nil {
		return "unset"
	}
	return strconv.FormatFloat(*p, 'g', 6, 64)
}

func optNear(a, b *float64) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return near(*a, *b)
}

func durEq(a, b *durationpb.Duration) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return a.AsDuration() == b.AsDuration()
}

// diffTotals lists how got differs from want.
func diffTotals(got, want *trafficv1.TrafficTotals) []string {
	var d []string
	ints := []struct {
		name string
		g, w int64
	}{
		{"visitors", got.GetVisitors(), want.GetVisitors()},
		{"sessions", got.GetSessions(), want.GetSessions()},
		{"page_views", got.GetPageViews(), want.GetPageViews()},
		{"bounces", got.GetBounces(), want.GetBounces()},
		{"recorded_sessions", got.GetRecordedSessions(), want.GetRecordedSessions()},
	}
	for _, x := range ints {
		if x.g != x.w {
			d = append(d, fmt.Sprintf("%s %d, want %d", x.name, x.g, x.w))
		}
	}
	if !near(got.GetViewsPerSession(), want.GetViewsPerSession()) {
		d = append(d, fmt.Sprintf("views_per_session %g, want %g", got.GetViewsPerSession(), want.GetViewsPerSession()))
	}
	if !near(got.GetBounceRate(), want.GetBounceRate()) {
		d = append(d, fmt.Sprintf("bounce_rate %g, want %g", got.GetBounceRate(), want.GetBounceRate()))
	}
	if !durEq(got.GetMedianDuration(), want.GetMedianDuration()) {
		d = append(d, fmt.Sprintf("median_duration %s, want %s", durStr(got.GetMedianDuration()), durStr(want.GetMedianDuration())))
	}
	for _, x := range []struct {
		name string
		g, w *float64
	}{{"rage_click_rate", got.RageClickRate, want.RageClickRate}, {"dead_click_rate", got.DeadClickRate, want.DeadClickRate}, {"error_rate", got.ErrorRate, want.ErrorRate}} {
		if !optNear(x.g, x.w) {
			d = append(d, fmt.Sprintf("%s %s, want %s", x.name, optStr(x.g), optStr(x.w)))
		}
	}
	return d
}

func diffOverview(got, want *trafficv1.GetTrafficOverviewResponse) []string {
	var d []string
	for _, x := range diffTotals(got.GetCurrent(), want.GetCurrent()) {
		d = append(d, "current "+x)
	}
	for _, x := range diffTotals(got.GetPrevious(), want.GetPrevious()) {
		d = append(d, "previous "+x)
	}
	if got.GetInterval() != want.GetInterval() {
		d = append(d, fmt.Sprintf("interval %s, want %s", got.GetInterval(), want.GetInterval()))
	}
	if len(got.GetSeries()) != len(want.GetSeries()) {
		return append(d, fmt.Sprintf("%d buckets, want %d", len(got.GetSeries()), len(want.GetSeries())))
	}
	for i, w := range want.GetSeries() {
		g := got.GetSeries()[i]
		if !g.GetStart().AsTime().Equal(w.GetStart().AsTime()) || g.GetVisitors() != w.GetVisitors() || g.GetSessions() != w.GetSessions() || g.GetPageViews() != w.GetPageViews() {
			d = append(d, fmt.Sprintf("bucket %d: %s v=%d s=%d pv=%d, want %s v=%d s=%d pv=%d", i,
				g.GetStart().AsTime().UTC().Format(time.RFC3339), g.GetVisitors(), g.GetSessions(), g.GetPageViews(),
				w.GetStart().AsTime().UTC().Format(time.RFC3339), w.GetVisitors(), w.GetSessions(), w.GetPageViews()))
		}
	}
	return d
}

func diffBreakdown(got, want *trafficv1.GetTrafficBreakdownResponse) []string {
	var d []string
	if got.GetDimension() != want.GetDimension() {
		d = append(d, fmt.Sprintf("dimension %s, want %s", got.GetDimension(), want.GetDimension()))
	}
	if got.GetTotalValues() != want.GetTotalValues() {
		d = append(d, fmt.Sprintf("total_values %d, want %d", got.GetTotalValues(), want.GetTotalValues()))
	}
	if got.GetSessions() != want.GetSessions() {
		d = append(d, fmt.Sprintf("sessions %d, want %d", got.GetSessions(), want.GetSessions()))
	}
	row := func(r *trafficv1.TrafficRow) string {
		return fmt.Sprintf("%q s=%d pv=%d b=%d", r.GetValue(), r.GetSessions(), r.GetPageViews(), r.GetBounces())
	}
	if len(got.GetRows()) != len(want.GetRows()) {
		d = append(d, fmt.Sprintf("%d rows, want %d", len(got.GetRows()), len(want.GetRows())))
	}
	for i := range max(len(got.GetRows()), len(want.GetRows())) {
		var g, w string
		if i < len(got.GetRows()) {
			g = row(got.GetRows()[i])
		}
		if i < len(want.GetRows()) {
			w = row(want.GetRows()[i])
		}
		if g != w {
			d = append(d, fmt.Sprintf("row %d: %s, want %s", i, g, w))
		}
	}
	return d
}

func diffRealtime(got, want *trafficv1.GetRealtimeResponse) []string {
	var d []string
	if !got.GetAsOf().AsTime().Equal(want.GetAsOf().AsTime()) {
		d = append(d, fmt.Sprintf("as_of %s, want %s", got.GetAsOf().AsTime(), want.GetAsOf().AsTime()))
	}
	if got.GetVisitors() != want.GetVisitors() || got.GetPageViews() != want.GetPageViews() {
		d = append(d, fmt.Sprintf("visitors %d page_views %d, want %d and %d", got.GetVisitors(), got.GetPageViews(), want.GetVisitors(), want.GetPageViews()))
	}
	if !slices.Equal(got.GetPerMinute(), want.GetPerMinute()) {
		d = append(d, fmt.Sprintf("per_minute %v, want %v", got.GetPerMinute(), want.GetPerMinute()))
	}
	page := func(ps []*trafficv1.RealtimePage) string {
		var b strings.Builder
		for _, p := range ps {
			fmt.Fprintf(&b, "%s=%d ", p.GetPage(), p.GetVisitors())
		}
		return b.String()
	}
	if g, w := page(got.GetPages()), page(want.GetPages()); g != w {
		d = append(d, fmt.Sprintf("pages %s, want %s", g, w))
	}
	return d
}

func diffFunnel(got, want *trafficv1.ComputeFunnelResponse) []string {
	var d []string
	if len(got.GetSteps()) != len(want.GetSteps()) {
		return []string{fmt.Sprintf("%d steps, want %d", len(got.GetSteps()), len(want.GetSteps()))}
	}
	for i, w := range want.GetSteps() {
		g := got.GetSteps()[i]
		if g.GetSessions() != w.GetSessions() || g.GetDropped() != w.GetDropped() || g.GetDroppedRecorded() != w.GetDroppedRecorded() ||
			!near(g.GetConversion(), w.GetConversion()) || !near(g.GetStepConversion(), w.GetStepConversion()) ||
			!durEq(g.GetMedianTimeFromPrevious(), w.GetMedianTimeFromPrevious()) {
			d = append(d, fmt.Sprintf("step %d: sessions %d conv %g step %g dropped %d/%d median %s; want %d %g %g %d/%d %s", i,
				g.GetSessions(), g.GetConversion(), g.GetStepConversion(), g.GetDropped(), g.GetDroppedRecorded(), durStr(g.GetMedianTimeFromPrevious()),
				w.GetSessions(), w.GetConversion(), w.GetStepConversion(), w.GetDropped(), w.GetDroppedRecorded(), durStr(w.GetMedianTimeFromPrevious())))
		}
	}
	return d
}

func report(t T, what string, d []string) {
	t.Helper()
	if len(d) > 0 {
		if len(d) > 8 {
			d = append(d[:8], fmt.Sprintf("… and %d more", len(d)-8))
		}
		t.Errorf("%s:\n  %s", what, strings.Join(d, "\n  "))
	}
}

func overview(t T, s traffic.Store, q traffic.Query, iv trafficv1.TrafficInterval) *trafficv1.GetTrafficOverviewResponse {
	t.Helper()
	got, err := s.Overview(ctx, q, iv)
	if err != nil {
		t.Fatalf("overview %s: %v", describe(q), err)
	}
	return got
}

func checkOverview(t T, s traffic.Store, ref *Reference, q traffic.Query, iv trafficv1.TrafficInterval) {
	t.Helper()
	want, err := ref.Overview(ctx, q, iv)
	if err != nil {
		t.Fatalf("reference overview: %v", err)
	}
	report(t, "overview "+describe(q)+" "+iv.String(), diffOverview(overview(t, s, q, iv), want))
}

func checkBreakdown(t T, s traffic.Store, ref *Reference, q traffic.Query, dim trafficv1.TrafficDimension, limit int) {
	t.Helper()
	got, err := s.Breakdown(ctx, q, dim, limit)
	if err != nil {
		t.Fatalf("breakdown %s %s: %v", dim, describe(q), err)
	}
	want, _ := ref.Breakdown(ctx, q, dim, limit)
	report(t, fmt.Sprintf("breakdown %s limit %d %s", dim, limit, describe(q)), diffBreakdown(got, want))
}

func checkFunnel(t T, s traffic.Store, ref *Reference, q traffic.FunnelQuery) {
	t.Helper()
	got, err := s.Funnel(ctx, q)
	if err != nil {
		t.Fatalf("funnel %s: %v", describeFunnel(q), err)
	}
	want, _ := ref.Funnel(ctx, q)
	report(t, "funnel "+describeFunnel(q), diffFunnel(got, want))
}

func checkRealtime(t T, s traffic.Store, ref *Reference, site int64, now time.Time) {
	t.Helper()
	got, err := s.Realtime(ctx, site, now)
	if err != nil {
		t.Fatalf("realtime: %v", err)
	}
	want, _ := ref.Realtime(ctx, site, now)
	report(t, "realtime at "+now.UTC().Format(time.RFC3339Nano), diffRealtime(got, want))
}

func describe(q traffic.Query) string {
	return fmt.Sprintf("site %d [%s, %s) in %s filter {%v}", q.SiteID, q.Start.UTC().Format(time.RFC3339), q.End.UTC().Format(time.RFC3339), q.Loc(), q.Filter)
}

func describeFunnel(q traffic.FunnelQuery) string {
	var steps []string
	for _, st := range q.Steps {
		if e, ok := st.GetMatch().(*trafficv1.FunnelStep_Event); ok {
			steps = append(steps, "event:"+e.Event)
		} else {
			steps = append(steps, st.GetPage().GetOperator().String()+":"+st.GetPage().GetValue())
		}
	}
	return fmt.Sprintf("site %d [%s, %s) devices %v steps %v", q.SiteID, q.Start.UTC().Format(time.RFC3339), q.End.UTC().Format(time.RFC3339), q.DeviceTypes, steps)
}

// --- builders -----------------------------------------------------------

func pv(site int64, sid, vid, pid string, at time.Time, url, ref string) traffic.Hit {
	return traffic.Hit{SiteID: site, OrganizationID: site + 7, SessionID: sid, VisitorID: vid, PageViewID: pid,
		Kind: sessionsv1.HitKind_HIT_KIND_PAGE_VIEW, Time: at, URL: url, Referrer: ref,
		Device: sessionsv1.DeviceType_DEVICE_TYPE_DESKTOP, Browser: "Chrome", OS: "macOS", Country: "DE", ScreenW: 1920, ScreenH: 1080}
}

func leave(site int64, sid, vid, pid string, at time.Time, d time.Duration) traffic.Hit {
	return traffic.Hit{SiteID: site, OrganizationID: site + 7, SessionID: sid, VisitorID: vid, PageViewID: pid,
		Kind: sessionsv1.HitKind_HIT_KIND_PAGE_LEAVE, Time: at, Duration: d}
}

func event(site int64, sid, vid, pid string, at time.Time, name string) traffic.Hit {
	return traffic.Hit{SiteID: site, OrganizationID: site + 7, SessionID: sid, VisitorID: vid, PageViewID: pid,
		Kind: sessionsv1.HitKind_HIT_KIND_EVENT, Time: at, Event: name}
}

func pageStep(op searchv1.UrlMatch_Operator, v string) *trafficv1.FunnelStep {
	return &trafficv1.FunnelStep{Label: v, Match: &trafficv1.FunnelStep_Page{Page: &searchv1.UrlMatch{Operator: op, Value: v}}}
}

func eventStep(name string) *trafficv1.FunnelStep {
	return &trafficv1.FunnelStep{Label: name, Match: &trafficv1.FunnelStep_Event{Event: name}}
}

var eq = searchv1.UrlMatch_OPERATOR_EQUALS

func loadZone(t T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatalf("zone %s: %v", name, err)
	}
	return loc
}

// Zones the random checks draw from: UTC, two with hour-long DST changes,
// one half an hour off UTC, one with half-hour DST changes.
var Zones = []string{"UTC", "Europe/Berlin", "America/New_York", "Asia/Kolkata", "Australia/Lord_Howe"}

var (
	hourly = trafficv1.TrafficInterval_TRAFFIC_INTERVAL_HOUR
	daily  = trafficv1.TrafficInterval_TRAFFIC_INTERVAL_DAY
	weekly = trafficv1.TrafficInterval_TRAFFIC_INTERVAL_WEEK
)

var dimensions = []trafficv1.TrafficDimension{
	trafficv1.TrafficDimension_TRAFFIC_DIMENSION_PAGE, trafficv1.TrafficDimension_TRAFFIC_DIMENSION_ENTRY_PAGE,
	trafficv1.TrafficDimension_TRAFFIC_DIMENSION_EXIT_PAGE, trafficv1.TrafficDimension_TRAFFIC_DIMENSION_REFERRER,
	trafficv1.TrafficDimension_TRAFFIC_DIMENSION_UTM_SOURCE, trafficv1.TrafficDimension_TRAFFIC_DIMENSION_UTM_MEDIUM,
	trafficv1.TrafficDimension_TRAFFIC_DIMENSION_UTM_CAMPAIGN, trafficv1.TrafficDimension_TRAFFIC_DIMENSION_COUNTRY,
	trafficv1.TrafficDimension_TRAFFIC_DIMENSION_DEVICE_TYPE, trafficv1.TrafficDimension_TRAFFIC_DIMENSION_BROWSER,
	trafficv1.TrafficDimension_TRAFFIC_DIMENSION_OS, trafficv1.TrafficDimension_TRAFFIC_DIMENSION_SCREEN_SIZE,
}
