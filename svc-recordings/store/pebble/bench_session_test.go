package pebble

import (
	"context"
	"fmt"
	"testing"

	"github.com/sightlinehq/sightline/svc-recordings/store"
)

// BenchmarkAppendNewSession appends the first chunk of a new session each
// time: the path that writes a session's rows and indexes (the open index
// of store.Ending among them), where BenchmarkAppend measures chunks of
// sessions already there.
func BenchmarkAppendNewSession(b *testing.B) {
	base := chunk(b, 1, 0, 0, 20000, true)
	s := open(b, store.Limits{})
	i := 0
	defer cpuPerOp(b)()
	for b.Loop() {
		c := base
		c.SessionID = fmt.Sprintf("s_newsession%012d", i)
		i++
		if _, err := s.Append(context.Background(), []store.Chunk{c}); err != nil {
			b.Fatal(err)
		}
	}
	if err := s.flushHeat(); err != nil {
		b.Fatal(err)
	}
}
