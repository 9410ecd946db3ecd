package embedded

import (
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	searchv1 "github.com/sightlinehq/sightline/gen/sightline/search/v1"
	sessionsv1 "github.com/sightlinehq/sightline/gen/sightline/sessions/v1"
	trafficv1 "github.com/sightlinehq/sightline/gen/sightline/traffic/v1"
	"github.com/sightlinehq/sightline/svc-search/traffic"
)

// go test -run XXX -bench . -benchtime 30x ./svc-search/traffic/embedded/
// builds (once, into -bench.dir when given, so later runs reuse it) one
// site of -bench.sessions sessions with about four page views each over
// 30 days, and times the whole overview and a 4-step funnel over them.
var (
	benchSessions = flag.Int("bench.sessions", 1_000_000, "sessions of the benchmark's site")
	benchDir      = flag.String("bench.dir", "", "directory of the benchmark's store (reused when it holds one)")
)

var benchStart = time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC)

const benchSite = int64(5_000_000_001)

// genBench delivers n sessions' hits to s in batches: Zipf-skewed pages
// among 10,000, 50 referrers, UTM tags on a share of entries, and a few
// countries, devices, browsers and events.
func genBench(tb testing.TB, s *Store, n int) {
	rng := rand.New(rand.NewPCG(1, 2))
	zipf := rand.NewZipf(rand.New(rand.NewPCG(3, 4)), 1.1, 1, 9_999)
	countries := []string{"US", "DE", "IN", "BR", "FR", "GB", "JP", "CA", "ES", "IT", ""}
	browsers := []string{"Chrome", "Safari", "Firefox", "Edge", "Samsung Internet", ""}
	oses := []string{"Windows", "macOS", "iOS", "Android", "Linux", ""}
	devices := []sessionsv1.DeviceType{sessionsv1.DeviceType_DEVICE_TYPE_DESKTOP, sessionsv1.DeviceType_DEVICE_TYPE_DESKTOP, sessionsv1.DeviceType_DEVICE_TYPE_MOBILE, sessionsv1.DeviceType_DEVICE_TYPE_TABLET}
	screens := [][2]int32{{1920, 1080}, {1440, 900}, {390, 844}, {412, 915}, {1280, 800}, {0, 0}}
	page := func() string {
		switch p := zipf.Uint64(); p {
		case 0:
			return "https://shop.example.com/"
		case 1:
			return "https://shop.example.com/pricing"
		case 2:
			return "https://shop.example.com/checkout"
		default:
			return fmt.Sprintf("https://shop.example.com/product/%d", p)
		}
	}
	var batch []traffic.Hit
	flush := func() {
		if err := s.AddHits(context.Background(), batch); err != nil {
			tb.Fatal(err)
		}
		batch = batch[:0]
	}
	span := 30 * 24 * time.Hour
	for i := range n {
		sid := fmt.Sprintf("s_%08d", i)
		base := traffic.Hit{
			SiteID: benchSite, SessionID: sid, VisitorID: fmt.Sprintf("v_%08d", rng.IntN(n*6/10+1)),
			Device: devices[rng.IntN(len(devices))], Browser: browsers[rng.IntN(len(browsers))], OS: oses[rng.IntN(len(oses))],
			Country: countries[rng.IntN(len(countries))],
		}
		sc := screens[rng.IntN(len(screens))]
		base.ScreenW, base.ScreenH = sc[0], sc[1]
		t := benchStart.Add(time.Duration(rng.Int64N(int64(span))) / time.Millisecond * time.Millisecond)
		np := 1 + rng.IntN(7) // about four on average
		for j := range np {
			h := base
			h.Kind, h.PageViewID, h.Time, h.URL = sessionsv1.HitKind_HIT_KIND_PAGE_VIEW, fmt.Sprintf("p_%08d_%d", i, j), t, page()
			if j == 0 {
				if r := rng.IntN(60); r < 50 {
					h.Referrer = fmt.Sprintf("https://www.ref%d.example.org/x", r)
				}
				if rng.IntN(5) == 0 {
					h.URL += fmt.Sprintf("?utm_source=src%d&utm_medium=cpc&utm_campaign=c%d", rng.IntN(8), rng.IntN(20))
				}
			}
			batch = append(batch, h)
			d := time.Duration(rng.IntN(120_000)) * time.Millisecond
			l := base
			l.Kind, l.PageViewID, l.Time, l.Duration = sessionsv1.HitKind_HIT_KIND_PAGE_LEAVE, h.PageViewID, t.Add(d), d
			batch = append(batch, l)
			if j == 1 && rng.IntN(3) == 0 {
				e := base
				e.Kind, e.PageViewID, e.Time, e.Event = sessionsv1.HitKind_HIT_KIND_EVENT, h.PageViewID, t.Add(time.Second), "signup"
				batch = append(batch, e)
			}
			t = t.Add(d)
		}
		if len(batch) >= 20_000 {
			flush()
		}
	}
	flush()
	var marks []traffic.Recorded
	for i := 0; i < n; i += 10 {
		marks = append(marks, traffic.Recorded{SiteID: benchSite, SessionID: fmt.Sprintf("s_%08d", i), Version: 1, Rage: i%30 == 0})
	}
	if err := s.SetRecorded(context.Background(), marks); err != nil {
		tb.Fatal(err)
	}
}

var (
	benchOnce  sync.Once
	benchStore *Store
)

// fixture opens the benchmark's store, building it when its directory is
// new, and loads the site (timed, with the heap it took).
func fixture(b *testing.B) *Store {
	benchOnce.Do(func() {
		dir := *benchDir
		if dir == "" {
			var err error
			if dir, err = os.MkdirTemp("", "trafficbench"); err != nil {
				b.Fatal(err)
			}
		}
		marker := filepath.Join(dir, fmt.Sprintf("built-%d", *benchSessions))
		if _, err := os.Stat(marker); err != nil {
			s := openStore(b, filepath.Join(dir, "db"))
			t := time.Now()
			genBench(b, s, *benchSessions)
			fmt.Printf("built %d sessions in %v\n", *benchSessions, time.Since(t).Round(time.Millisecond))
			s.Close()
			if err := os.WriteFile(marker, nil, 0o644); err != nil {
				b.Fatal(err)
			}
		}
		s := openStore(b, filepath.Join(dir, "db"))
		var m0, m1 runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&m0)
		t, c := time.Now(), cpuTime()
		l, err := s.site(context.Background(), benchSite)
		if err != nil {
			b.Fatal(err)
		}
		l.done()
		took, cpu := time.Since(t), cpuTime()-c
		runtime.GC()
		runtime.ReadMemStats(&m1)
		live := 0
		pvs := 0
		for i := range l.s.rows {
			live++
			pvs += int(l.s.rows[i].pvs)
		}
		fmt.Printf("loaded %d sessions / %d page views from Pebble in %v (CPU %v); heap %d MB\n", live, pvs, took.Round(time.Millisecond), cpu.Round(time.Millisecond), (m1.HeapAlloc-m0.HeapAlloc)>>20)
		benchStore = s
	})
	return benchStore
}

// cpuTime is the process's user and system CPU time so far: on a shared
// machine it says what a query costs where wall time says how busy the
// machine was.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func timed(b *testing.B, fn func()) {
	var ds []time.Duration
	c0 := cpuTime()
	b.ResetTimer()
	for range b.N {
		t := time.Now()
		fn()
		ds = append(ds, time.Since(t))
	}
	b.StopTimer()
	b.ReportMetric(float64((cpuTime()-c0).Microseconds())/1000/float64(b.N), "cpu-ms/op")
	slices.Sort(ds)
	b.ReportMetric(float64(ds[len(ds)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(ds[(len(ds)*95+99)/100-1].Microseconds())/1000, "p95-ms")
}

func BenchmarkOverview(b *testing.B) {
	s := fixture(b)
	q := traffic.Query{SiteID: benchSite, Start: benchStart, End: benchStart.Add(30 * 24 * time.Hour), Location: mustLoc(b, "Europe/Berlin")}
	timed(b, func() {
		r, err := s.Overview(context.Background(), q, trafficv1.TrafficInterval_TRAFFIC_INTERVAL_DAY)
		if err != nil || r.GetCurrent().GetSessions() == 0 {
			b.Fatal(r.GetCurrent(), err)
		}
	})
}

func BenchmarkOverviewFiltered(b *testing.B) {
	s := fixture(b)
	q := traffic.Query{SiteID: benchSite, Start: benchStart, End: benchStart.Add(30 * 24 * time.Hour),
		Filter: &trafficv1.TrafficFilter{Countries: []string{"US", "DE"}, VisitedPage: &searchv1.UrlMatch{Operator: searchv1.UrlMatch_OPERATOR_PREFIX, Value: "/product/1"}}}
	timed(b, func() {
		if _, err := s.Overview(context.Background(), q, trafficv1.TrafficInterval_TRAFFIC_INTERVAL_HOUR); err != nil {
			b.Fatal(err)
		}
	})
}

func BenchmarkBreakdownPage(b *testing.B) {
	s := fixture(b)
	q := traffic.Query{SiteID: benchSite, Start: benchStart, End: benchStart.Add(30 * 24 * time.Hour)}
	timed(b, func() {
		if _, err := s.Breakdown(context.Background(), q, trafficv1.TrafficDimension_TRAFFIC_DIMENSION_PAGE, 10); err != nil {
			b.Fatal(err)
		}
	})
}

func BenchmarkFunnel(b *testing.B) {
	s := fixture(b)
	q := traffic.FunnelQuery{SiteID: benchSite, Start: benchStart, End: benchStart.Add(30 * 24 * time.Hour), Steps: []*trafficv1.FunnelStep{
		{Match: &trafficv1.FunnelStep_Page{Page: &searchv1.UrlMatch{Operator: searchv1.UrlMatch_OPERATOR_PREFIX, Value: "/product/"}}},
		{Match: &trafficv1.FunnelStep_Event{Event: "signup"}},
		{Match: &trafficv1.FunnelStep_Page{Page: &searchv1.UrlMatch{Operator: searchv1.UrlMatch_OPERATOR_EQUALS, Value: "https://shop.example.com/pricing"}}},
		{Match: &trafficv1.FunnelStep_Page{Page: &searchv1.UrlMatch{Operator: searchv1.UrlMatch_OPERATOR_PATTERN, Value: "/check*"}}},
	}}
	timed(b, func() {
		r, err := s.Funnel(context.Background(), q)
		if err != nil || r.GetSteps()[3].GetSessions() == 0 {
			b.Fatal(r, err)
		}
	})
}

func BenchmarkRealtime(b *testing.B) {
	s := fixture(b)
	now := benchStart.Add(30*24*time.Hour - time.Minute)
	timed(b, func() {
		if _, err := s.Realtime(context.Background(), benchSite, now); err != nil {
			b.Fatal(err)
		}
	})
}

func mustLoc(tb testing.TB, name string) *time.Location {
	l, err := time.LoadLocation(name)
	if err != nil {
		tb.Fatal(err)
	}
	return l
}

// BenchmarkSweepNothingDue: Sweep reads every record's header.
func BenchmarkSweepNothingDue(b *testing.B) {
	s := fixture(b)
	timed(b, func() {
		if n, err := s.Sweep(context.Background(), benchStart, 365*24*time.Hour); err != nil || n != 0 {
			b.Fatal(n, err)
		}
	})
}
