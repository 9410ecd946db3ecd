// Command benchtrends measures the traffic queries behind the Overview and
// Funnels pages (make bench-trends): one site of -sessions sessions (1M by
// default, about four page views each) over 30 days, loaded into the
// embedded traffic store and into PostgreSQL with the indexes a careful
// engineer would add, then the whole 30-day overview (every tile, the
// previous period, the daily series in the site's zone) and a 4-step
// funnel timed -reps times on each. It prints load times, p50/p95 per
// backend and the embedded/PostgreSQL ratio, checks that both answer the
// same figures, and times how soon a new page view shows in Realtime.
//
// The data: visitors returning for about a third of sessions; pages drawn
// Zipf-skewed from 10,000 ("/", "/pricing", "/checkout" and "/signup" the
// most viewed, then product, blog and docs pages); half the sessions from
// one of 50 referrer domains (Zipf), a sixth with UTM tags; countries,
// devices, browsers, operating systems and screens skewed as in real
// traffic; a leave for most page views; "purchase" events after some
// checkouts; a tenth of sessions recorded. Sessions' derived attributes
// (entry page, referrer domain, UTM, duration) for PostgreSQL come from
// traffictest's reference, so both stores count by the same rules.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	searchv1 "github.com/sightlinehq/sightline/gen/sightline/search/v1"
	sessionsv1 "github.com/sightlinehq/sightline/gen/sightline/sessions/v1"
	trafficv1 "github.com/sightlinehq/sightline/gen/sightline/traffic/v1"
	"github.com/sightlinehq/sightline/internal/dirsize"
	"github.com/sightlinehq/sightline/internal/pgtest"
	"github.com/sightlinehq/sightline/svc-search/cmd/internal/benchrun"
	"github.com/sightlinehq/sightline/svc-search/index"
	"github.com/sightlinehq/sightline/svc-search/traffic"
	"github.com/sightlinehq/sightline/svc-search/traffic/embedded"
	"github.com/sightlinehq/sightline/svc-search/traffic/traffictest"
)

const site = int64(5_000_000_001)

// Goals from the issue.
const (
	goalOverview = 150 * time.Millisecond
	goalFunnel   = 500 * time.Millisecond
)

type config struct {
	sessions int
	reps     int
	pgReps   int
	batch    int
	seed     uint64
	dir      string
	zone     string
	explain  bool
}

func main() {
	var c config
	flag.IntVar(&c.sessions, "sessions", 1_000_000, "sessions of the site (about four page views each)")
	flag.IntVar(&c.reps, "reps", 30, "timed runs of each query per backend (after 3 warm-ups)")
	flag.IntVar(&c.pgReps, "pgreps", 10, "timed runs of each query on PostgreSQL (after 1 warm-up; its funnel takes seconds at 1M)")
	flag.IntVar(&c.batch, "batch", 5000, "sessions per load batch (AddHits / COPY)")
	flag.Uint64Var(&c.seed, "seed", 1, "random seed")
	flag.StringVar(&c.dir, "dir", "", "work directory (default: a temporary one, removed at the end)")
	flag.StringVar(&c.zone, "zone", "Europe/Berlin", "the site's time zone (series buckets)")
	flag.BoolVar(&c.explain, "explain", false, "print PostgreSQL's plans (EXPLAIN ANALYZE) of the funnel and the totals")
	flag.Parse()
	log.SetFlags(0)
	if err := run(context.Background(), c, os.Stdout); err != nil {
		log.Fatalf("benchtrends: %v", err)
	}
}

type printer interface {
	Write(p []byte) (int, error)
}

func run(ctx context.Context, c config, out printer) error {
	if c.sessions < 100 || c.reps < 1 || c.pgReps < 1 || c.batch < 1 {
		return errors.New("-sessions must be at least 100, -reps, -pgreps and -batch at least 1")
	}
	loc, err := time.LoadLocation(c.zone)
	if err != nil {
		return err
	}
	dir, done, err := benchrun.WorkDir(c.dir, "benchtrends")
	c.dir = dir
	if err != nil {
		return err
	}
	defer done()
	// PostgreSQL runs as the postgres user when we are root: it must be
	// able to reach its directory below ours.
	if err := os.Chmod(c.dir, 0o755); err != nil {
		return err
	}
	printf := func(f string, a ...any) { fmt.Fprintf(out, f, a...) }

	srv, err := pgtest.StartServer(ctx, filepath.Join(c.dir, "pg"))
	if err != nil {
		return fmt.Errorf("start postgres: %w", err)
	}
	defer srv.Stop()
	pcfg, err := pgxpool.ParseConfig(srv.DSN())
	if err != nil {
		return err
	}
	// As one would configure it for analytics queries.
	pcfg.ConnConfig.RuntimeParams["work_mem"] = "128MB"
	pool, err := pgxpool.NewWithConfig(ctx, pcfg)
	if err != nil {
		return err
	}
	defer pool.Close()
	if _, err := pool.Exec(ctx, pgSchema); err != nil {
		return fmt.Errorf("schema: %w", err)
	}
	store, err := embedded.Open(filepath.Join(c.dir, "embedded"), embedded.Options{Logger: quietLog{}})
	if err != nil {
		return err
	}
	defer store.Close()

	// The 30 days end at the current hour, so realtime runs beside them.
	end := time.Now().UTC().Truncate(time.Hour)
	start := end.Add(-30 * 24 * time.Hour)
	printf("benchtrends: %d sessions of one site over 30 days, zone %s, %d timed runs per query (PostgreSQL %d)\n", c.sessions, c.zone, c.reps, c.pgReps)

	gen := newGenerator(c.seed, start, end)
	var embTime, pgTime time.Duration
	var nHits, nViews int
	lastReport := time.Now()
	for from := 0; from < c.sessions; from += c.batch {
		hits, marks := gen.batch(from, min(from+c.batch, c.sessions))
		nHits += len(hits)
		t0 := time.Now()
		for i := 0; i < len(hits); i += 5000 {
			if err := store.AddHits(ctx, hits[i:min(i+5000, len(hits))]); err != nil {
				return fmt.Errorf("embedded add: %w", err)
			}
		}
		if err := store.SetRecorded(ctx, marks); err != nil {
			return fmt.Errorf("embedded marks: %w", err)
		}
		embTime += time.Since(t0)
		t0 = time.Now()
		n, err := pgCopy(ctx, pool, hits, marks)
		if err != nil {
			return err
		}
		nViews += n
		pgTime += time.Since(t0)
		if time.Since(lastReport) > 15*time.Second {
			lastReport = time.Now()
			printf("  loaded %d/%d sessions (embedded %.0f hits/s, postgres %.0f hits/s)\n", from+c.batch, c.sessions,
				float64(nHits)/embTime.Seconds(), float64(nHits)/pgTime.Seconds())
		}
	}
	t0 := time.Now()
	if _, err := pool.Exec(ctx, pgIndexes); err != nil {
		return fmt.Errorf("indexes: %w", err)
	}
	// Index-only scans need the visibility map: VACUUM outside a transaction.
	for _, tbl := range []string{"traffic_sessions", "traffic_page_views", "traffic_events"} {
		if _, err := pool.Exec(ctx, "VACUUM ANALYZE "+tbl); err != nil {
			return fmt.Errorf("vacuum: %w", err)
		}
	}
	pgIndexTime := time.Since(t0)
	var pgSize int64
	if err := pool.QueryRow(ctx, `SELECT pg_total_relation_size('traffic_sessions') + pg_total_relation_size('traffic_page_views') + pg_total_relation_size('traffic_events')`).Scan(&pgSize); err != nil {
		return err
	}
	embSize, err := dirsize.Of(filepath.Join(c.dir, "embedded"))
	if err != nil {
		return err
	}
	printf("data: %d hits (%d page views, %.2f per session)\n", nHits, nViews, float64(nViews)/float64(c.sessions))
	printf("embedded: loaded in %s = %.0f hits/s (AddHits of 5,000), %.1f MiB on disk\n",
		embTime.Round(time.Millisecond), float64(nHits)/embTime.Seconds(), float64(embSize)/(1<<20))
	printf("postgres: COPY in %s = %.0f hits/s, then indexes + VACUUM ANALYZE in %s, tables+indexes %.1f MiB\n",
		pgTime.Round(time.Millisecond), float64(nHits)/pgTime.Seconds(), pgIndexTime.Round(time.Millisecond), float64(pgSize)/(1<<20))

	// The queries.
	q := traffic.Query{SiteID: site, Start: start, End: end, Location: loc}
	iv := traffic.AutoInterval(q.Start, q.End)
	fq := traffic.FunnelQuery{SiteID: site, Start: start, End: end, Steps: funnelSteps}

	// The first (cold) embedded query loads the site from disk: timed apart.
	t0 = time.Now()
	embOV, err := store.Overview(ctx, q, iv)
	if err != nil {
		return err
	}
	printf("embedded: first overview (loads the site) %s\n", benchrun.Ms(time.Since(t0)))
	pgOV, err := pgOverview(ctx, pool, q)
	if err != nil {
		return err
	}
	embF, err := store.Funnel(ctx, fq)
	if err != nil {
		return err
	}
	pgF, err := pgFunnel(ctx, pool, fq)
	if err != nil {
		return err
	}
	mismatch := compare(embOV, pgOV, embF, pgF)
	cur := embOV.GetCurrent()
	printf("overview: %d visitors, %d sessions, %d page views, bounce %.1f%%, median %s, %d buckets; funnel %s\n",
		cur.GetVisitors(), cur.GetSessions(), cur.GetPageViews(), 100*cur.GetBounceRate(), cur.GetMedianDuration().AsDuration(), len(embOV.GetSeries()), funnelLine(embF))

	if c.explain {
		for _, e := range []struct {
			sql  string
			args []any
		}{{pgTotals, []any{site, start, end}}, {funnelSQL(), []any{site, start, end}}} {
			rows, err := pool.Query(ctx, "EXPLAIN (ANALYZE, BUFFERS) "+e.sql, e.args...)
			if err != nil {
				return err
			}
			for rows.Next() {
				var line string
				if err := rows.Scan(&line); err != nil {
					return err
				}
				printf("  %s\n", line)
			}
			rows.Close()
		}
	}

	embOVt, err := timeIt(c.reps, 3, func() error { _, err := store.Overview(ctx, q, iv); return err })
	if err != nil {
		return err
	}
	pgOVt, err := timeIt(c.pgReps, 1, func() error { _, err := pgOverview(ctx, pool, q); return err })
	if err != nil {
		return err
	}
	embFt, err := timeIt(c.reps, 3, func() error { _, err := store.Funnel(ctx, fq); return err })
	if err != nil {
		return err
	}
	pgFt, err := timeIt(c.pgReps, 1, func() error { _, err := pgFunnel(ctx, pool, fq); return err })
	if err != nil {
		return err
	}
	printf("\n%-34s %10s %10s %10s %10s %9s %8s\n", "query", "emb p50", "emb p95", "pg p50", "pg p95", "emb/pg", "goal")
	for _, r := range []struct {
		name     string
		emb, pg  []time.Duration
		goal     time.Duration
		goalText string
	}{
		{"overview 30 days (tiles+prev+series)", embOVt, pgOVt, goalOverview, "150ms"},
		{"4-step funnel 30 days", embFt, pgFt, goalFunnel, "500ms"},
	} {
		ok := "ok"
		if benchrun.Pct(r.emb, 95) > r.goal {
			ok = "MISSED"
		}
		printf("%-34s %10s %10s %10s %10s %8.3fx %8s %s\n", r.name, benchrun.Ms(benchrun.Pct(r.emb, 50)), benchrun.Ms(benchrun.Pct(r.emb, 95)), benchrun.Ms(benchrun.Pct(r.pg, 50)), benchrun.Ms(benchrun.Pct(r.pg, 95)),
			float64(benchrun.Pct(r.emb, 95))/float64(benchrun.Pct(r.pg, 95)), r.goalText, ok)
	}

	// Realtime: a page view added, then polled until Realtime counts it.
	var lat []time.Duration
	for i := range 20 {
		now := time.Now()
		before, err := store.Realtime(ctx, site, now)
		if err != nil {
			return err
		}
		h := traffic.Hit{SiteID: site, SessionID: fmt.Sprintf("s_rt%02d", i), VisitorID: fmt.Sprintf("v_rt%02d", i), PageViewID: fmt.Sprintf("p_rt%02d", i),
			Kind: sessionsv1.HitKind_HIT_KIND_PAGE_VIEW, Time: now, URL: "https://shop.example.com/live", Device: sessionsv1.DeviceType_DEVICE_TYPE_DESKTOP}
		t0 := time.Now()
		if err := store.AddHits(ctx, []traffic.Hit{h}); err != nil {
			return err
		}
		for {
			rt, err := store.Realtime(ctx, site, time.Now())
			if err != nil {
				return err
			}
			if rt.GetPageViews() > before.GetPageViews() {
				break
			}
			if time.Since(t0) > 10*time.Second {
				return errors.New("realtime: a page view not visible after 10 s")
			}
		}
		lat = append(lat, time.Since(t0))
	}
	printf("realtime: page view added → counted by Realtime in p50 %s, p95 %s (goal 5 s end to end)\n", benchrun.Ms(benchrun.Pct(lat, 50)), benchrun.Ms(benchrun.Pct(lat, 95)))
	if mismatch != "" {
		printf("\nMISMATCH between embedded and PostgreSQL:\n%s", mismatch)
		return errors.New("the backends disagree")
	}
	printf("\nboth backends returned the same tiles, previous period, series and funnel; goals: overview p95 <= 150 ms and 4-step funnel p95 <= 500 ms embedded\n")
	return nil
}

// quietLog drops Pebble's informational lines from the bench's output.
type quietLog struct{}

func (quietLog) Infof(string, ...any)      {}
func (quietLog) Errorf(f string, a ...any) { log.Printf("pebble: "+f, a...) }
func (quietLog) Fatalf(f string, a ...any) { log.Fatalf("pebble: "+f, a...) }

// funnelSteps is a shop's purchase funnel: home, a product, checkout,
// the purchase event.
var funnelSteps = []*trafficv1.FunnelStep{
	{Label: "Home", Match: &trafficv1.FunnelStep_Page{Page: &searchv1.UrlMatch{Operator: searchv1.UrlMatch_OPERATOR_EQUALS, Value: "/"}}},
	{Label: "Product", Match: &trafficv1.FunnelStep_Page{Page: &searchv1.UrlMatch{Operator: searchv1.UrlMatch_OPERATOR_PREFIX, Value: "/product/"}}},
	{Label: "Checkout", Match: &trafficv1.FunnelStep_Page{Page: &searchv1.UrlMatch{Operator: searchv1.UrlMatch_OPERATOR_EQUALS, Value: "/checkout"}}},
	{Label: "Purchase", Match: &trafficv1.FunnelStep_Event{Event: "purchase"}},
}

// pgSteps is funnelSteps as conditions on page views (v) or events (e).
var pgSteps = []struct {
	event bool
	where string
}{
	{false, `v.path = '/'`},
	{false, `v.path LIKE '/product/%'`},
	{false, `v.path = '/checkout'`},
	{true, `e.name = 'purchase'`},
}

func funnelLine(f *trafficv1.ComputeFunnelResponse) string {
	var parts []string
	for _, s := range f.GetSteps() {
		p := fmt.Sprintf("%d", s.GetSessions())
		if m := s.GetMedianTimeFromPrevious(); m != nil {
			p += fmt.Sprintf(" (+%s)", m.AsDuration())
		}
		parts = append(parts, p)
	}
	return strings.Join(parts, " → ")
}

// compare lists where PostgreSQL's figures differ from the embedded
// store's ("" when they agree).
func compare(eo, po *trafficv1.GetTrafficOverviewResponse, ef, pf *trafficv1.ComputeFunnelResponse) string {
	var b strings.Builder
	tot := func(name string, e, p *trafficv1.TrafficTotals) {
		es := fmt.Sprintf("v=%d s=%d pv=%d b=%d rec=%d median=%s rage=%.6f dead=%.6f err=%.6f", e.GetVisitors(), e.GetSessions(), e.GetPageViews(), e.GetBounces(), e.GetRecordedSessions(), e.GetMedianDuration().AsDuration(), e.GetRageClickRate(), e.GetDeadClickRate(), e.GetErrorRate())
		ps := fmt.Sprintf("v=%d s=%d pv=%d b=%d rec=%d median=%s rage=%.6f dead=%.6f err=%.6f", p.GetVisitors(), p.GetSessions(), p.GetPageViews(), p.GetBounces(), p.GetRecordedSessions(), p.GetMedianDuration().AsDuration(), p.GetRageClickRate(), p.GetDeadClickRate(), p.GetErrorRate())
		if es != ps {
			fmt.Fprintf(&b, "  %s: embedded %s\n  %s  postgres %s\n", name, es, strings.Repeat(" ", len(name)), ps)
		}
	}
	tot("current", eo.GetCurrent(), po.GetCurrent())
	tot("previous", eo.GetPrevious(), po.GetPrevious())
	if len(eo.GetSeries()) != len(po.GetSeries()) {
		fmt.Fprintf(&b, "  series: embedded %d buckets, postgres %d\n", len(eo.GetSeries()), len(po.GetSeries()))
	} else {
		for i, e := range eo.GetSeries() {
			p := po.GetSeries()[i]
			if !e.GetStart().AsTime().Equal(p.GetStart().AsTime()) || e.GetVisitors() != p.GetVisitors() || e.GetSessions() != p.GetSessions() || e.GetPageViews() != p.GetPageViews() {
				fmt.Fprintf(&b, "  bucket %d: embedded %s %d/%d/%d, postgres %s %d/%d/%d\n", i, e.GetStart().AsTime(), e.GetVisitors(), e.GetSessions(), e.GetPageViews(), p.GetStart().AsTime(), p.GetVisitors(), p.GetSessions(), p.GetPageViews())
			}
		}
	}
	if el, pl := funnelLine(ef), funnelLine(pf); el != pl {
		fmt.Fprintf(&b, "  funnel: embedded %s\n          postgres %s\n", el, pl)
	}
	for i, e := range ef.GetSteps() {
		if i < len(pf.GetSteps()) && (e.GetDropped() != pf.GetSteps()[i].GetDropped() || e.GetDroppedRecorded() != pf.GetSteps()[i].GetDroppedRecorded()) {
			fmt.Fprintf(&b, "  funnel step %d dropped: embedded %d/%d, postgres %d/%d\n", i, e.GetDropped(), e.GetDroppedRecorded(), pf.GetSteps()[i].GetDropped(), pf.GetSteps()[i].GetDroppedRecorded())
		}
	}
	return b.String()
}

func timeIt(reps, warm int, fn func() error) ([]time.Duration, error) {
	var out []time.Duration
	for i := range reps + warm {
		t0 := time.Now()
		if err := fn(); err != nil {
			return nil, err
		}
		if i >= warm {
			out = append(out, time.Since(t0))
		}
	}
	return out, nil
}

func durationMs(v int64) *durationpb.Duration {
	return durationpb.New(time.Duration(v) * time.Millisecond)
}

func timestamp(t time.Time) *timestamppb.Timestamp { return timestamppb.New(t) }

// --- the data --------------------------------------------------------------

type generator struct {
	seed       uint64
	start, end time.Time
	pages      []string
	page       *benchrun.Zipf
	referrers  []string
	referrer   *benchrun.Zipf
	country    *benchrun.Zipf
	browser    *benchrun.Zipf
}

var (
	countries = strings.Fields(`US DE GB FR IN BR CA NL ES IT AU PL SE JP MX TR BE CH AT DK NO FI IE PT CZ RO HU GR IL
		ZA AR CL CO PE NG KE EG SA AE SG MY ID TH VN PH KR TW HK NZ UA BG HR SK SI LT LV EE IS LU`)
	browsers  = []string{"Chrome", "Safari", "Edge", "Firefox", "Samsung Internet", "Opera", ""}
	sources   = []string{"google", "newsletter", "facebook", "linkedin", "twitter"}
	mediums   = []string{"cpc", "email", "social", "referral"}
	campaigns = []string{"spring-sale", "black-friday", "launch-2026", "retarget", "webinar", "brand", "podcast", "winback"}
)

func newGenerator(seed uint64, start, end time.Time) *generator {
	g := &generator{seed: seed, start: start, end: end}
	g.pages = benchrun.Paths([]string{"/", "/pricing", "/checkout", "/signup", "/blog"}, 10_000, "/docs/section-%d/page")
	g.page = benchrun.NewZipf(len(g.pages), 1.05)
	for i := range 50 {
		g.referrers = append(g.referrers, fmt.Sprintf("https://www.referrer-%02d.example/path?q=%d", i, i))
	}
	g.referrers[0], g.referrers[1], g.referrers[2] = "https://www.google.com/", "https://news.ycombinator.com/item?id=1", "https://t.co/x"
	g.referrer = benchrun.NewZipf(len(g.referrers), 1.2)
	g.country = benchrun.NewZipf(len(countries), 1.1)
	g.browser = benchrun.NewZipf(len(browsers), 1.3)
	return g
}

// batch generates sessions [from, to): each from its own stream, so a
// batch is the same whatever the batch size.
func (g *generator) batch(from, to int) ([]traffic.Hit, []traffic.Recorded) {
	var hits []traffic.Hit
	var marks []traffic.Recorded
	span := g.end.Sub(g.start)
	for i := from; i < to; i++ {
		rng := rand.New(rand.NewPCG(g.seed, uint64(i)))
		// Daily rhythm: more sessions in the afternoon (UTC).
		var t time.Time
		for {
			t = g.start.Add(time.Duration(rng.Int64N(int64(span)))).Truncate(time.Millisecond)
			h := float64(t.Hour()) + float64(t.Minute())/60
			if rng.Float64() < 0.55+0.45*math.Sin((h-9)/24*2*math.Pi) {
				break
			}
		}
		visitor := i
		if i > 0 && rng.IntN(3) == 0 { // a returning visitor
			visitor = rng.IntN(i)
		}
		device := sessionsv1.DeviceType_DEVICE_TYPE_DESKTOP
		osName := []string{"Windows", "Windows", "macOS", "Linux"}[rng.IntN(4)]
		screen := [][2]int32{{1920, 1080}, {1440, 900}, {2560, 1440}, {1366, 768}}[rng.IntN(4)]
		switch r := rng.IntN(100); {
		case r < 40:
			device = sessionsv1.DeviceType_DEVICE_TYPE_MOBILE
			osName, screen = []string{"iOS", "Android"}[rng.IntN(2)], [][2]int32{{390, 844}, {412, 915}, {375, 667}}[rng.IntN(3)]
		case r < 45:
			device = sessionsv1.DeviceType_DEVICE_TYPE_TABLET
			osName, screen = "iPadOS", [2]int32{820, 1180}
		}
		if rng.IntN(20) == 0 {
			screen = [2]int32{}
		}
		base := traffic.Hit{
			SiteID: site, OrganizationID: site + 7, SessionID: fmt.Sprintf("s_%07d", i), VisitorID: fmt.Sprintf("v_%07d", visitor),
			Device: device, Browser: browsers[g.browser.Draw(rng)], OS: osName, Country: countries[g.country.Draw(rng)],
			ScreenW: screen[0], ScreenH: screen[1], Recorded: rng.IntN(10) == 0,
		}
		// About four page views on average, a third of sessions bounce.
		np := 1
		if rng.IntN(100) >= 35 {
			np = 2
			for rng.Float64() > 1/4.6 && np < 60 {
				np++
			}
		}
		ref := ""
		if rng.IntN(2) == 0 {
			ref = g.referrers[g.referrer.Draw(rng)]
		}
		for j := range np {
			path := g.pages[g.page.Draw(rng)]
			u := "https://shop.example.com" + path
			if j == 0 && rng.IntN(6) == 0 {
				u += "?utm_source=" + sources[rng.IntN(len(sources))] + "&utm_medium=" + mediums[rng.IntN(len(mediums))] + "&utm_campaign=" + campaigns[rng.IntN(len(campaigns))]
			}
			pv := base
			pv.Kind, pv.PageViewID, pv.Time, pv.URL, pv.Referrer = sessionsv1.HitKind_HIT_KIND_PAGE_VIEW, fmt.Sprintf("p_%07d_%02d", i, j), t, u, ref
			hits = append(hits, pv)
			ref = u
			stay := time.Duration(2000+rng.IntN(120_000)) * time.Millisecond
			if rng.IntN(10) < 7 {
				l := base
				l.Kind, l.PageViewID, l.Time, l.Duration = sessionsv1.HitKind_HIT_KIND_PAGE_LEAVE, pv.PageViewID, t.Add(stay), stay
				hits = append(hits, l)
			}
			if path == "/checkout" && rng.IntN(10) < 3 {
				e := base
				e.Kind, e.PageViewID, e.Time, e.Event = sessionsv1.HitKind_HIT_KIND_EVENT, pv.PageViewID, t.Add(stay/2), "purchase"
				hits = append(hits, e)
			}
			if path == "/signup" && rng.IntN(2) == 0 {
				e := base
				e.Kind, e.PageViewID, e.Time, e.Event = sessionsv1.HitKind_HIT_KIND_EVENT, pv.PageViewID, t.Add(stay/3), "signup"
				hits = append(hits, e)
			}
			t = t.Add(stay + time.Duration(rng.IntN(5000))*time.Millisecond)
		}
		if base.Recorded {
			marks = append(marks, traffic.Recorded{SiteID: site, SessionID: base.SessionID, Version: 1,
				Rage: rng.IntN(8) == 0, Dead: rng.IntN(5) == 0, Errors: rng.IntN(6) == 0})
		}
	}
	return hits, marks
}

// --- PostgreSQL --------------------------------------------------------------

// The schema a careful engineer would write for these queries: one row
// per session with its derived attributes (kept up to date on write, as
// the stores do), page views and events in their own tables for pages and
// funnels. Texts compare bytewise (the server's locale is C), as the Go
// side orders them.
const pgSchema = `
CREATE TABLE traffic_sessions (
	site_id         bigint      NOT NULL,
	session_id      text        NOT NULL,
	visitor_id      text        NOT NULL,
	start_time      timestamptz NOT NULL,
	duration_ms     bigint      NOT NULL,
	page_views      int         NOT NULL,
	entry_page      text        NOT NULL,
	exit_page       text        NOT NULL,
	referrer_domain text        NOT NULL,
	utm_source      text        NOT NULL,
	utm_medium      text        NOT NULL,
	utm_campaign    text        NOT NULL,
	country         text        NOT NULL,
	device          text        NOT NULL,
	browser         text        NOT NULL,
	os              text        NOT NULL,
	screen          text        NOT NULL,
	recorded        boolean     NOT NULL,
	rage            boolean     NOT NULL,
	dead            boolean     NOT NULL,
	errors          boolean     NOT NULL,
	PRIMARY KEY (site_id, session_id)
);
CREATE TABLE traffic_page_views (
	site_id      bigint      NOT NULL,
	session_id   text        NOT NULL,
	page_view_id text        NOT NULL,
	visitor_id   text        NOT NULL,
	time         timestamptz NOT NULL,
	url          text        NOT NULL,
	page         text        NOT NULL,
	path         text        NOT NULL,
	duration_ms  bigint      NOT NULL,
	PRIMARY KEY (site_id, page_view_id)
);
CREATE TABLE traffic_events (
	site_id      bigint      NOT NULL,
	session_id   text        NOT NULL,
	page_view_id text        NOT NULL,
	visitor_id   text        NOT NULL,
	time         timestamptz NOT NULL,
	name         text        NOT NULL
)`

// pgIndexes are built after the load, as for a bulk import: sessions by
// (site, start) covering every column the overview reads (index-only
// scans), page views and events by (site, session, time) covering what a
// funnel's timeline needs, page views by (site, time) for realtime, a BRIN
// index on time for range scans of old data, and fresh statistics.
const pgIndexes = `
CREATE INDEX traffic_sessions_site_start ON traffic_sessions (site_id, start_time)
	INCLUDE (visitor_id, page_views, duration_ms, recorded, rage, dead, errors);
CREATE INDEX traffic_page_views_site_session ON traffic_page_views (site_id, session_id, time) INCLUDE (page_view_id, path);
CREATE INDEX traffic_page_views_site_time ON traffic_page_views (site_id, time);
CREATE INDEX traffic_page_views_time_brin ON traffic_page_views USING brin (time);
CREATE INDEX traffic_events_site_session ON traffic_events (site_id, session_id, time) INCLUDE (page_view_id, name);`

// pgCopy loads one batch's hits: its sessions as the counting rules
// derive them (the reference evaluation), their page views and events.
// It answers the page views loaded.
func pgCopy(ctx context.Context, pool *pgxpool.Pool, hits []traffic.Hit, marks []traffic.Recorded) (int, error) {
	ref := traffictest.NewReference()
	if err := ref.AddHits(ctx, hits); err != nil {
		return 0, err
	}
	if err := ref.SetRecorded(ctx, marks); err != nil {
		return 0, err
	}
	leaves := map[string]time.Duration{}
	for _, h := range hits {
		if h.Kind == sessionsv1.HitKind_HIT_KIND_PAGE_LEAVE {
			leaves[h.PageViewID] = max(leaves[h.PageViewID], h.Duration)
		}
	}
	var sessions, views, events [][]any
	for _, s := range ref.Sessions(site) {
		sessions = append(sessions, []any{s.SiteID, s.ID, s.VisitorID, s.Start, s.Duration.Milliseconds(), len(s.Views),
			s.Entry, s.Exit, s.Referrer, s.Source, s.Medium, s.Campaign, s.Country, index.DeviceName(s.Device), s.Browser, s.OS, s.Screen,
			s.Recorded, s.Mark.Rage, s.Mark.Dead, s.Mark.Errors})
		for _, v := range s.Views {
			views = append(views, []any{v.SiteID, v.SessionID, v.PageViewID, v.VisitorID, v.Time, v.URL, index.PageKey(v.URL), index.PagePath(v.URL), leaves[v.PageViewID].Milliseconds()})
		}
	}
	for _, h := range hits {
		if h.Kind == sessionsv1.HitKind_HIT_KIND_EVENT {
			events = append(events, []any{h.SiteID, h.SessionID, h.PageViewID, h.VisitorID, h.Time, h.Event})
		}
	}
	for _, t := range []struct {
		name string
		cols []string
		rows [][]any
	}{
		{"traffic_sessions", []string{"site_id", "session_id", "visitor_id", "start_time", "duration_ms", "page_views", "entry_page", "exit_page",
			"referrer_domain", "utm_source", "utm_medium", "utm_campaign", "country", "device", "browser", "os", "screen", "recorded", "rage", "dead", "errors"}, sessions},
		{"traffic_page_views", []string{"site_id", "session_id", "page_view_id", "visitor_id", "time", "url", "page", "path", "duration_ms"}, views},
		{"traffic_events", []string{"site_id", "session_id", "page_view_id", "visitor_id", "time", "name"}, events},
	} {
		if _, err := pool.CopyFrom(ctx, pgx.Identifier{t.name}, t.cols, pgx.CopyFromRows(t.rows)); err != nil {
			return 0, fmt.Errorf("copy %s: %w", t.name, err)
		}
	}
	return len(views), nil
}

const pgTotals = `
SELECT count(DISTINCT visitor_id), count(*), coalesce(sum(page_views), 0), count(*) FILTER (WHERE page_views = 1),
	percentile_disc(0.5) WITHIN GROUP (ORDER BY duration_ms),
	count(*) FILTER (WHERE recorded), count(*) FILTER (WHERE recorded AND rage),
	count(*) FILTER (WHERE recorded AND dead), count(*) FILTER (WHERE recorded AND errors)
FROM traffic_sessions WHERE site_id = $1 AND start_time >= $2 AND start_time < $3`

// pgSeries buckets by the zone's days (date_trunc with a time zone).
const pgSeries = `
SELECT date_trunc('day', start_time, $4) AS b, count(DISTINCT visitor_id), count(*), sum(page_views)
FROM traffic_sessions WHERE site_id = $1 AND start_time >= $2 AND start_time < $3
GROUP BY b ORDER BY b`

// pgOverview runs the three statements in one round trip.
func pgOverview(ctx context.Context, pool *pgxpool.Pool, q traffic.Query) (*trafficv1.GetTrafficOverviewResponse, error) {
	prevStart := q.Start.Add(-q.End.Sub(q.Start))
	b := &pgx.Batch{}
	b.Queue(pgTotals, q.SiteID, q.Start, q.End)
	b.Queue(pgTotals, q.SiteID, prevStart, q.Start)
	b.Queue(pgSeries, q.SiteID, q.Start, q.End, q.Loc().String())
	res := pool.SendBatch(ctx, b)
	defer res.Close()
	out := &trafficv1.GetTrafficOverviewResponse{Interval: trafficv1.TrafficInterval_TRAFFIC_INTERVAL_DAY}
	for _, dst := range []**trafficv1.TrafficTotals{&out.Current, &out.Previous} {
		var visitors, sessions, views, bounces, recorded, rage, dead, errs int64
		var median *int64
		if err := res.QueryRow().Scan(&visitors, &sessions, &views, &bounces, &median, &recorded, &rage, &dead, &errs); err != nil {
			return nil, fmt.Errorf("totals: %w", err)
		}
		t := &trafficv1.TrafficTotals{Visitors: visitors, Sessions: sessions, PageViews: views, Bounces: bounces, RecordedSessions: recorded}
		if sessions > 0 {
			t.ViewsPerSession = float64(views) / float64(sessions)
			t.BounceRate = float64(bounces) / float64(sessions)
			t.MedianDuration = durationMs(*median)
		}
		if recorded > 0 {
			r, d, e := float64(rage)/float64(recorded), float64(dead)/float64(recorded), float64(errs)/float64(recorded)
			t.RageClickRate, t.DeadClickRate, t.ErrorRate = &r, &d, &e
		}
		*dst = t
	}
	rows, err := res.Query()
	if err != nil {
		return nil, fmt.Errorf("series: %w", err)
	}
	got := map[int64]*trafficv1.TrafficBucket{}
	for rows.Next() {
		var at time.Time
		bk := &trafficv1.TrafficBucket{}
		if err := rows.Scan(&at, &bk.Visitors, &bk.Sessions, &bk.PageViews); err != nil {
			return nil, err
		}
		got[at.UnixNano()] = bk
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	// Every bucket, empty ones included.
	starts, err := traffic.Buckets(q.Start, q.End, out.Interval, q.Loc())
	if err != nil {
		return nil, err
	}
	for _, s := range starts {
		bk := got[s.UnixNano()]
		if bk == nil {
			bk = &trafficv1.TrafficBucket{}
		}
		bk.Start = timestamp(s)
		out.Series = append(out.Series, bk)
	}
	return out, nil
}

// pgFunnel finds, step by step, each session's first matching hit after
// the previous step's (row comparison in timeline order: time, page views
// before events, page view id, event name), over the sessions in range.
func pgFunnel(ctx context.Context, pool *pgxpool.Pool, q traffic.FunnelQuery) (*trafficv1.ComputeFunnelResponse, error) {
	rows, err := pool.Query(ctx, funnelSQL(), q.SiteID, q.Start, q.End)
	if err != nil {
		return nil, fmt.Errorf("funnel: %w", err)
	}
	defer rows.Close()
	n := len(pgSteps)
	reached, recorded, median := make([]int64, n), make([]int64, n), make([]*int64, n)
	for rows.Next() {
		var k int
		var c, r int64
		var m *int64
		if err := rows.Scan(&k, &c, &r, &m); err != nil {
			return nil, err
		}
		reached[k], recorded[k], median[k] = c, r, m
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	out := &trafficv1.ComputeFunnelResponse{Steps: traffic.FunnelSteps(reached, recorded)}
	for k := 1; k < n; k++ {
		if reached[k] > 0 && median[k] != nil {
			out.Steps[k].MedianTimeFromPrevious = durationMs(*median[k])
		}
	}
	return out, nil
}

// funnelSQL is pgFunnel's statement ($1 site, $2 and $3 the range):
// step 1 is each session's first matching hit (DISTINCT ON over the
// matching rows of the sessions in range); each later step looks up, per
// session that reached the previous one, its first matching hit after
// that one in timeline order (a row comparison: time, page views before
// events, page view id, event name) through the (site, session, time)
// indexes — only sessions still in the funnel are read.
func funnelSQL() string {
	var b strings.Builder
	b.WriteString(`WITH s AS MATERIALIZED (
	SELECT session_id, recorded FROM traffic_sessions WHERE site_id = $1 AND start_time >= $2 AND start_time < $3)`)
	for k, st := range pgSteps {
		if k == 0 {
			if st.event {
				fmt.Fprintf(&b, `,
st0 AS MATERIALIZED (SELECT DISTINCT ON (e.session_id) e.session_id, s.recorded, e.time, true AS ev, e.page_view_id AS pv, e.name, 0::bigint AS gap
	FROM traffic_events e JOIN s USING (session_id) WHERE e.site_id = $1 AND %s
	ORDER BY e.session_id, e.time, e.page_view_id, e.name)`, st.where)
			} else {
				fmt.Fprintf(&b, `,
st0 AS MATERIALIZED (SELECT DISTINCT ON (v.session_id) v.session_id, s.recorded, v.time, false AS ev, v.page_view_id AS pv, ''::text AS name, 0::bigint AS gap
	FROM traffic_page_views v JOIN s USING (session_id) WHERE v.site_id = $1 AND %s
	ORDER BY v.session_id, v.time, v.page_view_id)`, st.where)
			}
			continue
		}
		next := `SELECT v.time, false AS ev, v.page_view_id AS pv, ''::text AS name FROM traffic_page_views v
		WHERE v.site_id = $1 AND v.session_id = p.session_id AND %s AND (v.time, false, v.page_view_id, ''::text) > (p.time, p.ev, p.pv, p.name)
		ORDER BY v.time, v.page_view_id LIMIT 1`
		if st.event {
			next = `SELECT e.time, true AS ev, e.page_view_id AS pv, e.name FROM traffic_events e
		WHERE e.site_id = $1 AND e.session_id = p.session_id AND %s AND (e.time, true, e.page_view_id, e.name) > (p.time, p.ev, p.pv, p.name)
		ORDER BY e.time, e.page_view_id, e.name LIMIT 1`
		}
		fmt.Fprintf(&b, `,
st%d AS MATERIALIZED (SELECT p.session_id, p.recorded, c.time, c.ev, c.pv, c.name, floor(extract(epoch FROM c.time - p.time) * 1000)::bigint AS gap
	FROM st%d p CROSS JOIN LATERAL (
		`+next+`) c)`, k, k-1, st.where)
	}
	b.WriteString("\n")
	for k := range pgSteps {
		sel := "SELECT"
		if k > 0 {
			sel = "UNION ALL SELECT"
		}
		fmt.Fprintf(&b, "%s %d, count(*), count(*) FILTER (WHERE recorded), percentile_disc(0.5) WITHIN GROUP (ORDER BY gap) FROM st%d\n", sel, k, k)
	}
	return b.String()
}
