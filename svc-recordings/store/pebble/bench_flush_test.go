package pebble

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/sightlinehq/sightline/svc-recordings/heatmap"
	"github.com/sightlinehq/sightline/svc-recordings/store"
)

// BenchmarkHeatFlush merges queued heatmap changes as the flusher does: a
// second's worth of AppendChunks calls (16 calls of 48 chunks on one page,
// 2 clicks over 150 elements and 9 pointer cells per chunk — what
// BenchmarkExtractHeat's batch yields — three device classes), reported
// per chunk: the chunks of one day (a flush's usual case: a week's list is
// its day's), or of two days of one week (its list is their merge). The
// flusher is stopped so that each flush takes exactly the queued calls.
func BenchmarkHeatFlush(b *testing.B) {
	for _, days := range []int{1, 2} {
		b.Run(fmt.Sprintf("days=%d", days), func(b *testing.B) { benchHeatFlush(b, days) })
	}
}

func benchHeatFlush(b *testing.B, days int) {
	const calls, chunks = 16, 48
	s := open(b, store.Limits{})
	stopFlusher(s)
	q := &s.heatq
	rng := rand.New(rand.NewPCG(7, 11))
	zipf := rand.NewZipf(rng, 1.1, 4, 149)
	call := func() map[int64]*siteHeat {
		h := newSiteHeat()
		for range chunks {
			device := int32(1 + rng.IntN(3))
			day := benchFirst + int32(rng.IntN(days))
			for range 2 {
				sel := fmt.Sprintf("body>main>section:nth-of-type(%d)>div.c-card>a.c-link-%d", 1+rng.IntN(19), zipf.Uint64())
				k := heatmap.Key{Page: benchPage, Device: device, Day: day, Kind: heatmap.Click, Cell: heatmap.ClickCell(int8(rng.IntN(101)), int8(rng.IntN(101)), sel)}
				h.both.Add(k, heatmap.Vec{N: 1, X: 700, Y: 400, K: 1, RX: 50, RY: 50}, 1)
				h.both.Add(heatmap.Key{Page: benchPage, Kind: heatmap.Page}, heatmap.Vec{X: 1}, 1)
			}
			x, y := int32(500), int32(400)
			for range 9 {
				x = min(max(x+int32(rng.IntN(5)-2)*20, 0), 980)
				y = min(max(y+int32(rng.IntN(5)-2)*24, 0), 4200)
				h.Add(heatmap.Key{Page: benchPage, Device: device, Day: day, Kind: heatmap.Move, Cell: heatmap.MoveCell(x, y)}, heatmap.Vec{N: int64(1 + rng.IntN(500))}, 1) // listed, as appends do
			}
		}
		return map[int64]*siteHeat{1: h}
	}
	n, seq := 0, int64(0)
	for b.Loop() {
		b.StopTimer()
		for range calls {
			k := newKey(pHeatQueue).u64(seq)
			seq++
			q.items = append(q.items, queuedHeat{key: k, sites: call()})
		}
		n += calls * chunks
		b.StartTimer()
		if err := s.flushHeat(); err != nil {
			b.Fatal(err)
		}
	}
	// Wall time of the flushes alone (making the calls is not timed).
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/1e3/float64(n), "µs/chunk")
}
