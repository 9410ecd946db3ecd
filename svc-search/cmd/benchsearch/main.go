// Command benchsearch measures the embedded sessions index (Bleve, through
// the same index.Index the service uses) against a PostgreSQL table of the
// same sessions with the indexes a careful engineer would add, on the
// multi-filter list queries the dashboard runs. Both engines run in the same
// process, on the same machine, in the same run; it prints p50/p95 per query
// and engine, the ratio, index sizes and indexing rates, and checks that both
// engines return the same totals and the same first page.
//
// Usage (make bench-search):
//
//	go run ./svc-search/cmd/benchsearch -n 1000000
//
// Time: indexing dominates. On the shared 2-core dev machine Bleve indexed
// 700–1,100 sessions/s (version-checked upserts, fsync'd), so the default
// 1,000,000 takes about 17 minutes plus a minute of merging; -n 200000 runs
// in about 5 minutes.
//
// Synthetic data (deterministic for a -seed), modelled on what a Hotjar-like
// tool records:
//
//   - sites: 20, sizes Zipf (s=1.1): the largest holds ~28% of sessions; every
//     query targets the largest site (the worst case).
//   - start time: the last 30 days, uniform over days, diurnal within the day
//     (rate ∝ 1.5+sin), microsecond precision.
//   - device: desktop 60%, mobile 35%, tablet 5%; OS by device (desktop:
//     Windows 70/macOS 25/Linux 5; mobile: iOS 55/Android 45; tablet: iPadOS
//     70/Android 30).
//   - browser: Zipf (s=1.3) over 8 families; country: Zipf (s=1.1) over 60
//     ISO codes (US first).
//   - pages: 1 + geometric(p=0.35) page views (mean ≈ 2.9, max 50) over 250
//     paths drawn Zipf (s=1.05): "/" first, "/pricing" second (≈ 15% of
//     sessions visit it), then product, blog and docs pages; 20% of URLs
//     carry a query string.
//   - duration: log-normal, median 75 s, σ = 1.3 (≈ 55% of sessions last
//     more than 60 s); active time 20–90% of it.
//   - UTM: 25% of sessions, campaign Zipf over 30 campaigns, 4 sources/mediums.
//   - rage clicks 4% of sessions, dead clicks 12%, errors 8%, truncated 1%.
//   - referrer: 45% of sessions, Zipf over 25 domains; identified users 20%
//     with a "plan" attribute; custom events on 15%.
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
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	searchv1 "github.com/sightlinehq/sightline/gen/sightline/search/v1"
	sessionsv1 "github.com/sightlinehq/sightline/gen/sightline/sessions/v1"
	"github.com/sightlinehq/sightline/internal/cpuprofile"
	"github.com/sightlinehq/sightline/internal/dirsize"
	"github.com/sightlinehq/sightline/internal/pgtest"
	"github.com/sightlinehq/sightline/svc-search/cmd/internal/benchrun"
	"github.com/sightlinehq/sightline/svc-search/index"
	"github.com/sightlinehq/sightline/svc-search/index/bleve"
)

const (
	sites     = 20
	firstSite = int64(5_000_000_001)
	pageSize  = 50
)

func main() {
	n := flag.Int("n", 1_000_000, "sessions to generate")
	reps := flag.Int("reps", 40, "timed runs of each query per engine (after 3 warm-ups)")
	batch := flag.Int("batch", 2000, "sessions per index upsert / COPY batch")
	seed := flag.Uint64("seed", 1, "random seed")
	dir := flag.String("dir", "", "work directory (default: a temporary one, removed at the end)")
	compact := flag.Bool("compact", true, "merge the Bleve index to one segment after loading (as PostgreSQL gets ANALYZE)")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile of the query phase to this file")
	flag.Parse()
	log.SetFlags(0)
	if err := run(context.Background(), *n, *reps, *batch, *seed, *dir, *cpuProfile, *compact); err != nil {
		log.Fatalf("benchsearch: %v", err)
	}
}

func run(ctx context.Context, n, reps, batch int, seed uint64, dir, cpuProfile string, compact bool) error {
	dir, done, err := benchrun.MeasuredWorkDir(n, dir, "benchsearch")
	if err != nil {
		return err
	}
	defer done()
	// PostgreSQL runs as the postgres user when we are root: it must be
	// able to reach its directory below ours.
	if err := os.Chmod(dir, 0o755); err != nil {
		return err
	}
	now := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	gen := newGenerator(seed, now)

	// PostgreSQL first (its server start is the slow part to fail on).
	srv, err := pgtest.StartServer(ctx, filepath.Join(dir, "pg"))
	if err != nil {
		return fmt.Errorf("start postgres: %w", err)
	}
	defer srv.Stop()
	pool, err := pgxpool.New(ctx, srv.DSN())
	if err != nil {
		return err
	}
	defer pool.Close()
	if _, err := pool.Exec(ctx, pgSchema); err != nil {
		return fmt.Errorf("schema: %w", err)
	}

	ix, err := bleve.Open(filepath.Join(dir, "search"))
	if err != nil {
		return err
	}
	defer ix.Close()

	fmt.Printf("benchsearch: N=%d sessions over %d sites, batch %d, %d timed runs per query\n", n, sites, batch, reps)
	var bleveTime, pgTime time.Duration
	bigSite := 0
	load := benchrun.NewBatches(batch, func(buf []*sessionsv1.SessionSummary) error {
		t0 := time.Now()
		if _, err := ix.Upsert(ctx, buf); err != nil {
			return err
		}
		bleveTime += time.Since(t0)
		t0 = time.Now()
		if err := pgCopy(ctx, pool, buf); err != nil {
			return err
		}
		pgTime += time.Since(t0)
		return nil
	}, func(added int) {
		fmt.Printf("  loaded %d/%d (bleve %.0f docs/s, postgres COPY %.0f rows/s)\n", added, n,
			float64(added)/bleveTime.Seconds(), float64(added)/pgTime.Seconds())
	})
	for i := range n {
		s := gen.session(i)
		if s.SiteId == firstSite {
			bigSite++
		}
		if err := load.Add(s); err != nil {
			return err
		}
	}
	if err := load.Close(); err != nil {
		return err
	}
	compactTime, err := benchrun.Compact(ctx, ix, compact)
	if err != nil {
		return err
	}
	t0 := time.Now()
	if _, err := pool.Exec(ctx, pgIndexes); err != nil {
		return fmt.Errorf("indexes: %w", err)
	}
	pgIndexTime := time.Since(t0)
	bleveSize, err := dirsize.Of(filepath.Join(dir, "search", "index"))
	if err != nil {
		return err
	}
	sumSize, err := dirsize.Of(filepath.Join(dir, "search", "summaries.db"))
	if err != nil {
		return err
	}
	var pgSize int64
	if err := pool.QueryRow(ctx, `SELECT pg_total_relation_size('sessions')`).Scan(&pgSize); err != nil {
		return err
	}
	fmt.Printf("largest site: %d sessions (%.0f%%)\n", bigSite, 100*float64(bigSite)/float64(n))
	fmt.Printf("bleve:    indexed %d in %s = %.0f docs/s (version-checked upserts of %d), merged to one segment in %s,\n          index %.1f MiB + summaries (bbolt) %.1f MiB on disk\n",
		n, bleveTime.Round(time.Millisecond), float64(n)/bleveTime.Seconds(), batch, compactTime.Round(time.Millisecond),
		float64(bleveSize)/(1<<20), float64(sumSize)/(1<<20))
	fmt.Printf("postgres: COPY %d in %s = %.0f rows/s, then indexes + ANALYZE in %s, table+indexes %.1f MiB\n",
		n, pgTime.Round(time.Millisecond), float64(n)/pgTime.Seconds(), pgIndexTime.Round(time.Millisecond), float64(pgSize)/(1<<20))

	fmt.Printf("\n%-44s %10s %10s %10s %10s %8s %8s\n", "query (page of 50 + total)", "bleve p50", "bleve p95", "pg p50", "pg p95", "p95 x", "hits")
	stopProfile, err := cpuprofile.Start(cpuProfile)
	if err != nil {
		return err
	}
	defer stopProfile()
	ok := true
	for _, q := range benchQueries(now) {
		bl, total, first, err := timeBleve(ctx, ix, q, reps)
		if err != nil {
			return fmt.Errorf("%s: bleve: %w", q.name, err)
		}
		pg, pgTotal, pgFirst, err := timePG(ctx, pool, q, reps)
		if err != nil {
			return fmt.Errorf("%s: postgres: %w", q.name, err)
		}
		fmt.Printf("%-44s %10s %10s %10s %10s %7.1fx %8d\n", q.name, benchrun.Ms(benchrun.Pct(bl, 50)), benchrun.Ms(benchrun.Pct(bl, 95)), benchrun.Ms(benchrun.Pct(pg, 50)), benchrun.Ms(benchrun.Pct(pg, 95)),
			float64(benchrun.Pct(pg, 95))/float64(benchrun.Pct(bl, 95)), total)
		if total != pgTotal || !slices.Equal(first, pgFirst) {
			ok = false
			fmt.Printf("  MISMATCH: bleve total %d first %v\n           postgres total %d first %v\n", total, head(first), pgTotal, head(pgFirst))
		}
	}
	if !ok {
		return errors.New("engines disagree")
	}
	fmt.Println("\nboth engines returned the same totals and first pages; goal: bleve p95 <= 50 ms and >= 10x faster than postgres")
	return nil
}

func head(xs []string) []string {
	if len(xs) > 5 {
		return xs[:5]
	}
	return xs
}

// benchQuery is one list query in both engines' terms.
type benchQuery struct {
	name   string
	filter *searchv1.SessionFilter
	sort   searchv1.SortField
	// where/order are the PostgreSQL equivalent; $1 is the site id.
	where string
	order string
	args  []any
}

func benchQueries(now time.Time) []benchQuery {
	week := now.Add(-7 * 24 * time.Hour)
	rage := true
	return []benchQuery{
		{
			name: "7 days + mobile + visited /pricing",
			filter: &searchv1.SessionFilter{
				StartTime:   &searchv1.TimeRange{Start: timestamppb.New(week)},
				DeviceTypes: []sessionsv1.DeviceType{sessionsv1.DeviceType_DEVICE_TYPE_MOBILE},
				VisitedPage: &searchv1.UrlMatch{Operator: searchv1.UrlMatch_OPERATOR_EQUALS, Value: "/pricing"},
			},
			where: `start_time >= $2 AND device = 'DEVICE_TYPE_MOBILE' AND paths @> ARRAY['/pricing']`,
			order: `start_time DESC, session_id DESC`,
			args:  []any{week},
		},
		{
			name: "country DE + duration > 60s + rage clicks",
			filter: &searchv1.SessionFilter{
				Countries:     []string{"DE"},
				Duration:      &searchv1.DurationRange{Min: durationpb.New(60*time.Second + time.Millisecond)},
				HasRageClicks: &rage,
			},
			where: `country = 'DE' AND duration_ms > 60000 AND rage_clicks > 0`,
			order: `start_time DESC, session_id DESC`,
		},
		{
			name: "utm campaign + browser, by duration",
			filter: &searchv1.SessionFilter{
				UtmCampaign: "spring-sale",
				Browsers:    []string{"Chrome"},
			},
			sort:  searchv1.SortField_SORT_FIELD_DURATION,
			where: `utm_campaign = 'spring-sale' AND browser = 'Chrome'`,
			order: `duration_ms DESC, session_id DESC`,
		},
		{
			name: "14 days + page URL contains \"checkout\"",
			filter: &searchv1.SessionFilter{
				StartTime:   &searchv1.TimeRange{Start: timestamppb.New(now.Add(-14 * 24 * time.Hour))},
				VisitedPage: &searchv1.UrlMatch{Operator: searchv1.UrlMatch_OPERATOR_CONTAINS, Value: "checkout"},
			},
			where: `start_time >= $2 AND EXISTS (SELECT 1 FROM unnest(urls) u WHERE u LIKE '%checkout%')`,
			order: `start_time DESC, session_id DESC`,
			args:  []any{now.Add(-14 * 24 * time.Hour)},
		},
		{
			name: "iOS + US + referrer + errors + 14 days",
			filter: &searchv1.SessionFilter{
				StartTime:      &searchv1.TimeRange{Start: timestamppb.New(now.Add(-14 * 24 * time.Hour))},
				Oses:           []string{"iOS"},
				Countries:      []string{"US"},
				ReferrerDomain: "ref0.example.org",
				HasErrors:      &rage,
			},
			where: `start_time >= $2 AND os = 'iOS' AND country = 'US' AND referrer_domain = 'ref0.example.org' AND errors > 0`,
			order: `start_time DESC, session_id DESC`,
			args:  []any{now.Add(-14 * 24 * time.Hour)},
		},
		{
			name: "30 days + desktop + Safari, by page count",
			filter: &searchv1.SessionFilter{
				StartTime:   &searchv1.TimeRange{Start: timestamppb.New(now.Add(-30 * 24 * time.Hour))},
				DeviceTypes: []sessionsv1.DeviceType{sessionsv1.DeviceType_DEVICE_TYPE_DESKTOP},
				Browsers:    []string{"Safari"},
			},
			sort:  searchv1.SortField_SORT_FIELD_PAGE_COUNT,
			where: `start_time >= $2 AND device = 'DEVICE_TYPE_DESKTOP' AND browser = 'Safari'`,
			order: `page_count DESC, session_id DESC`,
			args:  []any{now.Add(-30 * 24 * time.Hour)},
		},
	}
}

func timeBleve(ctx context.Context, ix *bleve.Index, q benchQuery, reps int) ([]time.Duration, int64, []string, error) {
	var out []time.Duration
	var total int64
	var first []string
	for i := range reps + 3 {
		t0 := time.Now()
		res, err := ix.Search(ctx, index.Query{SiteID: firstSite, Filter: q.filter, Sort: q.sort, Limit: pageSize})
		d := time.Since(t0)
		if err != nil {
			return nil, 0, nil, err
		}
		if i >= 3 {
			out = append(out, d)
		}
		total = res.Total
		first = first[:0]
		for _, s := range res.Sessions {
			first = append(first, s.GetSessionId())
		}
	}
	return out, total, first, nil
}

func timePG(ctx context.Context, pool *pgxpool.Pool, q benchQuery, reps int) ([]time.Duration, int64, []string, error) {
	args := append([]any{firstSite}, q.args...)
	list := `SELECT session_id, summary FROM sessions WHERE site_id = $1 AND ` + q.where + ` ORDER BY ` + q.order + fmt.Sprintf(` LIMIT %d`, pageSize)
	count := `SELECT count(*) FROM sessions WHERE site_id = $1 AND ` + q.where
	var out []time.Duration
	var total int64
	var first []string
	for i := range reps + 3 {
		t0 := time.Now()
		rows, err := pool.Query(ctx, list, args...)
		if err != nil {
			return nil, 0, nil, err
		}
		first = first[:0]
		for rows.Next() {
			var id string
			var raw []byte
			if err := rows.Scan(&id, &raw); err != nil {
				return nil, 0, nil, err
			}
			// Decode like the index does, so both pay for materialising hits.
			s := &sessionsv1.SessionSummary{}
			if err := proto.Unmarshal(raw, s); err != nil {
				return nil, 0, nil, err
			}
			first = append(first, id)
		}
		if err := rows.Err(); err != nil {
			return nil, 0, nil, err
		}
		if err := pool.QueryRow(ctx, count, args...).Scan(&total); err != nil {
			return nil, 0, nil, err
		}
		if i >= 3 {
			out = append(out, time.Since(t0))
		}
	}
	return out, total, first, nil
}

const pgSchema = `
CREATE TABLE sessions (
	site_id         bigint      NOT NULL,
	session_id      text        NOT NULL,
	visitor_id      text        NOT NULL,
	version         bigint      NOT NULL,
	start_time      timestamptz NOT NULL,
	duration_ms     bigint      NOT NULL,
	active_ms       bigint      NOT NULL,
	page_count      int         NOT NULL,
	paths           text[]      NOT NULL,
	urls            text[]      NOT NULL,
	entry_path      text,
	exit_path       text,
	device          text        NOT NULL,
	browser         text,
	os              text,
	country         text,
	referrer_domain text,
	utm_source      text,
	utm_medium      text,
	utm_campaign    text,
	user_id         text,
	rage_clicks     int         NOT NULL,
	dead_clicks     int         NOT NULL,
	errors          int         NOT NULL,
	truncated       boolean     NOT NULL,
	summary         bytea       NOT NULL,
	PRIMARY KEY (site_id, session_id)
)`

// pgIndexes are built after the load, as one would for a bulk import: the
// list's default order, one composite index per common equality filter
// ending in the sort column, a partial index for the rare flag, a GIN index
// for "visited page" (path equality), and fresh statistics. "URL contains"
// has no practical B-tree/GIN form over an array (pg_trgm needs an
// immutable expression per element), so it filters the rows the other
// conditions leave, as it would in production.
const pgIndexes = `
CREATE INDEX sessions_site_start   ON sessions (site_id, start_time DESC, session_id DESC);
CREATE INDEX sessions_site_device  ON sessions (site_id, device, start_time DESC);
CREATE INDEX sessions_site_country ON sessions (site_id, country, start_time DESC);
CREATE INDEX sessions_site_browser ON sessions (site_id, browser, start_time DESC);
CREATE INDEX sessions_site_utm     ON sessions (site_id, utm_campaign, duration_ms DESC) WHERE utm_campaign IS NOT NULL;
CREATE INDEX sessions_site_dur     ON sessions (site_id, duration_ms DESC);
CREATE INDEX sessions_site_rage    ON sessions (site_id, start_time DESC) WHERE rage_clicks > 0;
CREATE INDEX sessions_paths        ON sessions USING gin (paths);
ANALYZE sessions;`

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func pgCopy(ctx context.Context, pool *pgxpool.Pool, ss []*sessionsv1.SessionSummary) error {
	rows := make([][]any, 0, len(ss))
	for _, s := range ss {
		raw, err := proto.Marshal(s)
		if err != nil {
			return err
		}
		var paths, urls []string
		for _, p := range s.Pages {
			if p.Url != "" && !slices.Contains(urls, p.Url) {
				urls = append(urls, p.Url)
			}
			if path := index.PagePath(p.Url); path != "" && !slices.Contains(paths, path) {
				paths = append(paths, path)
			}
		}
		c := s.Client
		rows = append(rows, []any{
			s.SiteId, s.SessionId, s.VisitorId, s.Version, s.StartTime.AsTime(),
			s.Duration.AsDuration().Milliseconds(), s.ActiveDuration.AsDuration().Milliseconds(), s.PageCount,
			paths, urls, nullable(index.PagePath(s.EntryUrl)), nullable(index.PagePath(s.ExitUrl)),
			index.DeviceName(c.DeviceType), nullable(c.Browser), nullable(c.Os), nullable(c.Country),
			nullable(s.ReferrerDomain), nullable(s.UtmSource), nullable(s.UtmMedium), nullable(s.UtmCampaign), nullable(s.UserId),
			s.RageClickCount, s.DeadClickCount, s.ErrorCount, s.Truncated, raw,
		})
	}
	_, err := pool.CopyFrom(ctx, pgx.Identifier{"sessions"}, []string{
		"site_id", "session_id", "visitor_id", "version", "start_time", "duration_ms", "active_ms", "page_count",
		"paths", "urls", "entry_path", "exit_path", "device", "browser", "os", "country", "referrer_domain",
		"utm_source", "utm_medium", "utm_campaign", "user_id", "rage_clicks", "dead_clicks", "errors", "truncated", "summary",
	}, pgx.CopyFromRows(rows))
	if err != nil {
		return fmt.Errorf("copy: %w", err)
	}
	return nil
}

// generator draws the synthetic sessions described in the package comment.
type generator struct {
	rng                                        *rand.Rand
	now                                        time.Time
	site, browser, country, path, camp, refDom *benchrun.Zipf
	paths                                      []string
}

var (
	browsers = []string{"Chrome", "Safari", "Edge", "Firefox", "Samsung Internet", "Opera", "Yandex", "UC Browser"}
	// countries: ISO codes, most frequent first.
	countries = strings.Fields(`US DE GB FR IN BR CA NL ES IT AU PL SE JP MX TR BE CH AT DK NO FI IE PT CZ RO HU GR IL
		ZA AR CL CO PE NG KE EG SA AE SG MY ID TH VN PH KR TW HK NZ UA RU BG HR SK SI LT LV EE IS LU`)
	campaigns = []string{"spring-sale", "black-friday", "launch-2026", "retarget", "webinar", "newsletter-11", "brand",
		"competitor", "summer", "onboarding", "partners", "podcast", "youtube-pre", "reddit", "linkedin-abm",
		"trial-ext", "winback", "holiday", "pricing-test", "docs-promo", "case-study", "ebook", "g2", "capterra",
		"affiliates", "tiktok", "meetup", "conf-2026", "free-tools", "q4-push"}
	sources = []string{"google", "newsletter", "facebook", "linkedin"}
	mediums = []string{"cpc", "email", "social", "referral"}
)

func newGenerator(seed uint64, now time.Time) *generator {
	g := &generator{rng: rand.New(rand.NewPCG(seed, 0x5e55)), now: now}
	g.site = benchrun.NewZipf(sites, 1.1)
	g.browser = benchrun.NewZipf(len(browsers), 1.3)
	g.country = benchrun.NewZipf(len(countries), 1.1)
	g.camp = benchrun.NewZipf(len(campaigns), 1.0)
	g.refDom = benchrun.NewZipf(25, 1.2)
	g.paths = benchrun.Paths([]string{"/", "/pricing", "/features", "/signup", "/login", "/blog", "/docs", "/contact", "/about", "/checkout"}, 250, "/docs/page-%d")
	g.path = benchrun.NewZipf(len(g.paths), 1.05)
	return g
}

func (g *generator) pick(p []float64) int {
	x := g.rng.Float64()
	for i, w := range p {
		if x < w {
			return i
		}
		x -= w
	}
	return len(p) - 1
}

func (g *generator) session(i int) *sessionsv1.SessionSummary {
	r := g.rng
	site := firstSite + int64(g.site.Draw(r))
	// Diurnal start time by rejection sampling, microsecond precision.
	var start time.Time
	for {
		off := time.Duration(r.Int64N(int64(30 * 24 * time.Hour)))
		hour := float64(off%(24*time.Hour)) / float64(time.Hour)
		if r.Float64()*2.5 < 1.5+math.Sin((hour-8)/24*2*math.Pi) {
			start = g.now.Add(-off).Truncate(time.Microsecond)
			break
		}
	}
	device := []sessionsv1.DeviceType{sessionsv1.DeviceType_DEVICE_TYPE_DESKTOP, sessionsv1.DeviceType_DEVICE_TYPE_MOBILE,
		sessionsv1.DeviceType_DEVICE_TYPE_TABLET}[g.pick([]float64{0.60, 0.35, 0.05})]
	var os string
	switch device {
	case sessionsv1.DeviceType_DEVICE_TYPE_DESKTOP:
		os = []string{"Windows", "macOS", "Linux"}[g.pick([]float64{0.70, 0.25, 0.05})]
	case sessionsv1.DeviceType_DEVICE_TYPE_MOBILE:
		os = []string{"iOS", "Android"}[g.pick([]float64{0.55, 0.45})]
	default:
		os = []string{"iPadOS", "Android"}[g.pick([]float64{0.70, 0.30})]
	}
	dur := time.Duration(math.Exp(math.Log(75)+1.3*r.NormFloat64()) * float64(time.Second)).Truncate(time.Millisecond)
	dur = max(dur, time.Second)
	np := 1
	for np < 50 && r.Float64() > 0.35 {
		np++
	}
	host := fmt.Sprintf("https://site%d.example.com", site-firstSite)
	pages := make([]*sessionsv1.PageView, np)
	for j := range np {
		u := host + g.paths[g.path.Draw(r)]
		if r.IntN(5) == 0 {
			u += fmt.Sprintf("?v=%d", r.IntN(20))
		}
		pages[j] = &sessionsv1.PageView{Url: u, StartTime: timestamppb.New(start.Add(time.Duration(j) * dur / time.Duration(np)))}
	}
	s := &sessionsv1.SessionSummary{
		SiteId: site, OrganizationId: site, SessionId: fmt.Sprintf("s%09d", i), VisitorId: fmt.Sprintf("v%08d", r.IntN(max(1, i/2+1))),
		Version: 1 + int64(r.IntN(20)), StartTime: timestamppb.New(start), EndTime: timestamppb.New(start.Add(dur)),
		Duration: durationpb.New(dur), ActiveDuration: durationpb.New(time.Duration(float64(dur) * (0.2 + 0.7*r.Float64()))),
		Pages: pages, PageCount: int32(np), EntryUrl: pages[0].Url, ExitUrl: pages[np-1].Url,
		ClickCount: int32(r.IntN(60)),
		Client: &sessionsv1.Client{DeviceType: device, Browser: browsers[g.browser.Draw(r)], Os: os,
			Country: countries[g.country.Draw(r)]},
		Truncated: r.IntN(100) == 0,
	}
	if r.IntN(100) < 4 {
		s.RageClickCount = int32(1 + r.IntN(4))
	}
	if r.IntN(100) < 12 {
		s.DeadClickCount = int32(1 + r.IntN(5))
	}
	if r.IntN(100) < 8 {
		s.ErrorCount = int32(1 + r.IntN(5))
	}
	if r.IntN(100) < 25 {
		s.UtmCampaign = campaigns[g.camp.Draw(r)]
		s.UtmSource, s.UtmMedium = sources[r.IntN(len(sources))], mediums[r.IntN(len(mediums))]
	}
	if r.IntN(100) < 45 {
		s.ReferrerDomain = fmt.Sprintf("ref%d.example.org", g.refDom.Draw(r))
	}
	if r.IntN(100) < 20 {
		s.UserId = fmt.Sprintf("u%07d", r.IntN(200_000))
		s.UserAttributes = []*sessionsv1.Attribute{{Key: "plan", Value: []string{"free", "pro", "team"}[r.IntN(3)]}}
	}
	if r.IntN(100) < 15 {
		s.CustomEvents = []string{fmt.Sprintf("event_%d", r.IntN(10))}
	}
	return s
}
