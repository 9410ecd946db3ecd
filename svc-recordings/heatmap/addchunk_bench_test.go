package heatmap

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/sightlinehq/sightline/svc-recordings/summary"
)

// BenchmarkAddChunk is an append call's aggregation of its chunks (48, as
// bench-heatmaps' calls): each chunk as the tracker's batches make them
// (eleven resting places of the pointer, two clicks on a product page),
// added into the call's map, which a flush then clears for the next call.
// Per chunk.
func BenchmarkAddChunk(b *testing.B) {
	const perCall = 48
	rng := rand.New(rand.NewPCG(1, 2))
	const page = "https://shop.example.com/product/*"
	chunks := make([]summary.ChunkStats, 4*perCall)
	for i := range chunks {
		st := &chunks[i]
		st.ServerMs = 1763890000000
		st.Client = &summary.Client{DeviceType: 1}
		st.Heat = &summary.Heat{Pages: []string{page}}
		for range 11 {
			st.Heat.Moves = append(st.Heat.Moves, summary.Move{X: int32(rng.IntN(50) * summary.MoveXStep), Y: int32(rng.IntN(60) * summary.MoveYStep), N: int32(1 + rng.IntN(8))})
		}
		for c := range 2 {
			st.Clicks = append(st.Clicks, summary.Click{H: &summary.Anchor{Page: page, Day: 20415,
				Sel: fmt.Sprintf("body>main>section:nth-of-type(%d)>div.c-card>a.c-link-%d", 1+rng.IntN(5), c), RX: int8(rng.IntN(100)), RY: int8(rng.IntN(100)), Known: true, X: 500, Y: 900}})
		}
	}
	d := make(Deltas, perCall*14)
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		for i := range perCall {
			AddChunk(d, &chunks[(n*perCall+i)%len(chunks)], 1)
		}
		if len(d) == 0 {
			b.Fatal("nothing added")
		}
		clear(d)
		n++
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*perCall), "ns/chunk")
}
