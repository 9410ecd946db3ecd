package pebble

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/sightlinehq/sightline/svc-recordings/store"
)

// BenchmarkAppendInFlight is the forwarder's shape with calls in flight:
// callers each append 24 chunks at a time over 64 open sessions, so their
// calls share stripes. What a call holds the stripes for decides whether
// the calls overlap (one call's reads and writes during the other's WAL
// sync) or queue behind each other's sync. Reported per call; the machine's
// fsync sets the scale, so compare runs of one machine.
func BenchmarkAppendInFlight(b *testing.B) {
	for _, callers := range []int{1, 2} {
		b.Run(map[int]string{1: "one-in-flight", 2: "two-in-flight"}[callers], func(b *testing.B) {
			const sessions, perCall = 64, 24
			s := open(b, store.Limits{})
			// The calls are built before the clock starts: building a
			// chunk costs more than storing it.
			calls := make([][]store.Chunk, b.N)
			var seq [sessions]int64
			for i := range calls {
				for j := range perCall {
					n := (i*perCall + j) % sessions
					seq[n]++
					calls[i] = append(calls[i], chunk(b, 1, n, seq[n], 20000, false))
				}
			}
			var next atomic.Int64
			var wg sync.WaitGroup
			b.ResetTimer()
			defer cpuPerOp(b)()
			for range callers {
				wg.Go(func() {
					for i := int(next.Add(1)) - 1; i < len(calls); i = int(next.Add(1)) - 1 {
						if _, err := s.Append(context.Background(), calls[i]); err != nil {
							b.Error(err)
							return
						}
					}
				})
			}
			wg.Wait()
		})
	}
}
