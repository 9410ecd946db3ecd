package pebble

import (
	"context"
	"fmt"
	"testing"

	"github.com/sightlinehq/sightline/svc-recordings/store"
	"github.com/sightlinehq/sightline/svc-recordings/store/storetest"
)

// BenchmarkAppendLongSession appends a chunk to a session that has
// already viewed many pages, with aggregation and without: what the
// session's length costs an append. Every append rewrites the session's
// row (and reads it back when the row cache does not hold it), which keeps
// a page list entry, a page view index and a scroll reach (~250 B of JSON
// together) per page view: at 100 page views the row is ~25 KB and an
// append costs ~3.5x one at the first, with or without aggregation.
// Aggregation adds only what the append changed (heatmap.AddStateChange):
// re-adding every page view's reach back and forth cost 1,000-view
// appends a fifth of their CPU.
func BenchmarkAppendLongSession(b *testing.B) {
	for _, views := range []int{1, 100, 1000} {
		for _, mode := range []string{"aggregated", "not-aggregated"} {
			b.Run(fmt.Sprintf("views-%d/%s", views, mode), func(b *testing.B) {
				s := open(b, store.Limits{})
				s.heatOff = mode != "aggregated"
				bl := &storetest.Builder{Site: 1, Session: "s_longsession0000001", Visitor: "v_longsession0000001", ServerMs: 20000 * 86400000}
				ev := func(seq int64, pv string) store.Chunk {
					ts := 1763890000000 + seq*5000
					return bl.ChunkEvents(b, seq, pv, []map[string]any{
						{"type": 4, "timestamp": ts, "data": map[string]any{"href": "https://shop.example.com/p/" + pv, "width": 1000, "height": 800}},
						{"type": 5, "timestamp": ts, "data": map[string]any{"tag": "sl:view", "payload": map[string]any{"x": 0, "y": 400, "w": 1000, "h": 3000, "v": 800, "d": 1}}},
						{"type": 3, "timestamp": ts + 10, "data": map[string]any{"source": 2, "type": 2, "id": 7, "x": 10, "y": 40}},
						{"type": 5, "timestamp": ts + 11, "data": map[string]any{"tag": "sl:click", "payload": map[string]any{"id": 7, "s": "body>a#buy", "rx": 50, "ry": 50}}},
						// The page answers the click: not a dead click.
						{"type": 3, "timestamp": ts + 50, "data": map[string]any{"source": 0, "adds": []any{}, "removes": []any{}, "texts": []any{}, "attributes": []any{map[string]any{"id": 7, "attributes": map[string]any{"class": "on"}}}}},
					})
				}
				var seq int64
				for v := range views {
					if _, err := s.Append(context.Background(), []store.Chunk{ev(seq, fmt.Sprintf("p_long%014d", v))}); err != nil {
						b.Fatal(err)
					}
					seq++
				}
				last := fmt.Sprintf("p_long%014d", views-1)
				chunks := make([]store.Chunk, 0, 4096)
				for range cap(chunks) {
					chunks = append(chunks, ev(seq, last))
					seq++
				}
				i := 0
				defer cpuPerOp(b)()
				for b.Loop() {
					if i == len(chunks) {
						b.StopTimer()
						for j := range chunks {
							chunks[j] = ev(seq, last)
							seq++
						}
						i = 0
						b.StartTimer()
					}
					if _, err := s.Append(context.Background(), []store.Chunk{chunks[i]}); err != nil {
						b.Fatal(err)
					}
					i++
				}
			})
		}
	}
}
