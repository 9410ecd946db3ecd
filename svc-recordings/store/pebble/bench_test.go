package pebble

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sightlinehq/sightline/svc-recordings/heatmap"
	"github.com/sightlinehq/sightline/svc-recordings/store"
	"github.com/sightlinehq/sightline/svc-recordings/summary"
)

// benchDirs are removed after the benchmarks (TestMain).
var benchDirs []string

const (
	benchPage    = "https://shop.example.com/product"
	benchClicks  = 1_000_000
	benchDays    = 30
	benchFirst   = int32(20000)
	clicksPerChk = 100
)

// heatSets are the benchmark stores by spread, built once per process.
var heatSets = map[float64]*heatSet{}

type heatSet struct {
	sync.Once
	s   *Store
	err error
}

// heatStore is a store holding 1M clicks on one page over 30 days, three
// device classes, 40 elements, appended through Append as 10,000 sessions
// of one chunk (stats made directly: extraction is not what is measured).
// Each element's clicks spread over its box around the middle with
// standard deviation spread (in %), so the rows are the distinct (day,
// device, element, place): the wider the spread, the more rows.
func heatStore(b *testing.B, spread float64) *Store {
	heatOnce := heatSets[spread]
	if heatOnce == nil {
		heatOnce = &heatSet{}
		heatSets[spread] = heatOnce
	}
	heatOnce.Do(func() {
		dir, err := os.MkdirTemp("", "heatbench")
		if err != nil {
			heatOnce.err = err
			return
		}
		benchDirs = append(benchDirs, dir)
		s, err := Open(dir, Options{Logger: quiet{}})
		if err != nil {
			heatOnce.err = err
			return
		}
		r := rand.New(rand.NewPCG(1, 2))
		pct := func() int8 { return int8(max(0, min(100, 50+r.NormFloat64()*spread))) }
		var batch []store.Chunk
		for n := range benchClicks / clicksPerChk {
			day := benchFirst + int32(n%benchDays)
			st := summary.ChunkStats{
				Seq: 0, PageViewID: "p_bench000000000000001", VisitorID: fmt.Sprintf("v_%d", n), URL: benchPage,
				ServerMs: int64(day)*86400000 + int64(n), Client: &summary.Client{DeviceType: int32(1 + n%3)}, EventCount: clicksPerChk,
			}
			for i := range clicksPerChk {
				st.Clicks = append(st.Clicks, summary.Click{T: int64(i), X: 1, Y: 1, Resolved: true, H: &summary.Anchor{
					Page: benchPage, Day: day, Sel: fmt.Sprintf("body>main>section:nth-child(%d)>a.button", r.IntN(40)),
					RX: pct(), RY: pct(), X: int32(r.IntN(1000)), Y: int32(r.IntN(4000)), Known: true,
				}})
			}
			batch = append(batch, store.Chunk{SiteID: 1, SessionID: fmt.Sprintf("s_bench%015d", n), PageViewID: st.PageViewID, Data: []byte("x"), Stats: st})
			if len(batch) == 100 {
				if _, err := s.Append(context.Background(), batch); err != nil {
					heatOnce.err = err
					return
				}
				batch = batch[:0]
			}
		}
		heatOnce.s = s
	})
	if heatOnce.err != nil {
		b.Fatal(heatOnce.err)
	}
	return heatOnce.s
}

// BenchmarkHeat reads and sums (heatmap.Sums, as GetHeatmap does) the click
// map of one page over 30 days, every device: 1M clicks, spread over each
// element's box with a standard deviation of 18 % (nearly one row per
// click) or 4 % (clicks bunched on the middle of buttons).
func BenchmarkHeat(b *testing.B) {
	for _, spread := range []float64{18, 4} {
		b.Run(fmt.Sprintf("spread=%v", spread), func(b *testing.B) { benchHeat(b, heatStore(b, spread)) })
	}
}

func benchHeat(b *testing.B, s *Store) {
	run := func(b *testing.B) {
		q := store.HeatQuery{SiteID: 1, Pages: []string{benchPage}, FromDay: benchFirst, ToDay: benchFirst + benchDays - 1, Kinds: []heatmap.Kind{heatmap.Click}}
		var rows int
		defer cpuPerOp(b)()
		for b.Loop() {
			sums := heatmap.Sums{}
			rows = 0
			err := s.Heat(context.Background(), q, func(k heatmap.Kind, c string, v heatmap.Vec) error {
				sums.Add(k, c, v)
				rows++
				return nil
			})
			if err != nil {
				b.Fatal(err)
			}
			var clicks int64
			for _, v := range sums[heatmap.Click] {
				clicks += v.N
			}
			if clicks != benchClicks {
				b.Fatalf("summed %d clicks, want %d", clicks, benchClicks)
			}
		}
		b.ReportMetric(float64(rows), "rows")
	}
	b.Run("merged", run) // as written: merge operands not yet compacted
	if err := s.db.Compact(context.Background(), []byte{pHeat}, []byte{pHeat + 1}, true); err != nil {
		b.Fatal(err)
	}
	b.Run("compacted", run)
	b.Run("scan-only", func(b *testing.B) {
		q := store.HeatQuery{SiteID: 1, Pages: []string{benchPage}, FromDay: benchFirst, ToDay: benchFirst + benchDays - 1, Kinds: []heatmap.Kind{heatmap.Click}}
		defer cpuPerOp(b)()
		for b.Loop() {
			var n int64
			err := s.Heat(context.Background(), q, func(k heatmap.Kind, c string, v heatmap.Vec) error {
				n += v.N
				return nil
			})
			if err != nil || n != benchClicks {
				b.Fatal(err, n)
			}
		}
	})
}

// BenchmarkHeatWide reads a click map over a rule matching 10,001 pages
// (a pattern over a shop's pages), every device, 40 days: a busy home page
// (200 sessions over 30 days) and 10,000 product pages of one session
// each, on days spread over a year, so about one in nine has rows in the
// range: the seeks per page, device and kind are what it costs.
// "with-frustration" also reads the rage and dead rows every click map
// reads (heatmap.Reads); "click" only the kind and its sessions;
// "device-sessions" the Sessions rows of each device class apart, the
// reads GetHeatmap makes for the device switch; "map-without-sessions"
// what a click map reads beside them (its sessions are the classes' sum).
func BenchmarkHeatWide(b *testing.B) {
	s := open(b, store.Limits{})
	for n := range 200 {
		c := chunk(b, 1, n, 0, 20400+int32(n%30), true)
		if _, err := s.Append(context.Background(), []store.Chunk{c}); err != nil {
			b.Fatal(err)
		}
	}
	pages := []string{"https://shop.example.com/"}
	var cs []store.Chunk
	for i := range 10000 {
		page := fmt.Sprintf("https://shop.example.com/product/%05d", i)
		pages = append(pages, page)
		cs = append(cs, chunkOn(b, page, 1, 1000+i, 0, 20430-int32(i*37%365), i%50 == 0))
		if len(cs) == 100 {
			if _, err := s.Append(context.Background(), cs); err != nil {
				b.Fatal(err)
			}
			cs = cs[:0]
		}
	}
	for _, v := range []struct {
		name  string
		kinds []heatmap.Kind
	}{
		{"click", []heatmap.Kind{heatmap.Click, heatmap.Sessions}},
		{"with-frustration", heatmap.Reads(heatmap.Click)},
		{"map-without-sessions", []heatmap.Kind{heatmap.Click, heatmap.Rage, heatmap.Dead}},
	} {
		b.Run(v.name, func(b *testing.B) {
			q := store.HeatQuery{SiteID: 1, Pages: pages, Devices: []int32{1, 2, 3}, FromDay: 20390, ToDay: 20430, Kinds: v.kinds}
			defer cpuPerOp(b)()
			for b.Loop() {
				if err := s.Heat(context.Background(), q, func(heatmap.Kind, string, heatmap.Vec) error { return nil }); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	b.Run("device-sessions", func(b *testing.B) {
		defer cpuPerOp(b)()
		for b.Loop() {
			for _, d := range []int32{1, 2, 3} {
				q := store.HeatQuery{SiteID: 1, Pages: pages, Devices: []int32{d}, FromDay: 20390, ToDay: 20430, Kinds: []heatmap.Kind{heatmap.Sessions}}
				if err := s.Heat(context.Background(), q, func(heatmap.Kind, string, heatmap.Vec) error { return nil }); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
}

// BenchmarkAppend appends one chunk (in order, to one of 64 sessions)
// carrying what a real chunk carries for heatmaps (sl:view, clicks with
// sl:click, pointer movement, scroll reach, a snapshot), with aggregation
// and without it (the same chunks, the store told to skip it): the
// difference is what aggregation costs an append. "plain" appends the
// chunks stripped of heatmap data, for scale; "reread" is "aggregated"
// with the row cache emptied before each append (each reads its session's
// row back from the database, as before the cache).
func BenchmarkAppend(b *testing.B) {
	base := chunk(b, 1, 0, 0, 20000, true)
	if base.Stats.Heat == nil || len(base.Stats.Clicks) == 0 || base.Stats.Clicks[0].H == nil {
		b.Fatal("the chunk carries no heatmap data")
	}
	for _, mode := range []string{"aggregated", "not-aggregated", "plain", "reread"} {
		b.Run(mode, func(b *testing.B) {
			s := open(b, store.Limits{})
			s.heatOff = mode != "aggregated" && mode != "reread"
			seq := map[int]int64{}
			i := 0
			defer cpuPerOp(b)()
			for b.Loop() {
				n := i % 64
				i++
				c := base
				c.SessionID = fmt.Sprintf("s_appendbench%010d", n)
				c.Seq = seq[n]
				seq[n]++
				c.Stats.Seq = c.Seq
				c.Stats.Clicks = append([]summary.Click(nil), base.Stats.Clicks...)
				if mode == "plain" {
					c.Stats.Heat = nil
					for j := range c.Stats.Clicks {
						c.Stats.Clicks[j].H = nil
					}
				}
				if mode == "reread" {
					s.rows = rowCache{}
				}
				if _, err := s.Append(context.Background(), []store.Chunk{c}); err != nil {
					b.Fatal(err)
				}
			}
			// Queued changes are merged within the measurement.
			if err := s.flushHeat(); err != nil {
				b.Fatal(err)
			}
		})
	}
}

// cpuPerOp reports the process's CPU time per op: on a machine shared with
// other work, wall time says more about the neighbours than about the code.
func cpuPerOp(b *testing.B) func() {
	cpu := func() time.Duration {
		var ru syscall.Rusage
		if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
			b.Fatal(err)
		}
		return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	start := cpu()
	return func() {
		b.ReportMetric(float64(cpu()-start)/float64(time.Millisecond)/float64(b.N), "cpu-ms/op")
	}
}
