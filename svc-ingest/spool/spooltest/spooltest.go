// Package spooltest fills a spool for tests and benchmarks that need a
// large backlog.
package spooltest

import (
	"context"
	"sync"
	"testing"
)

// Appender is the spool's Append (an interface, so the spool's own tests
// can use Fill without an import cycle).
type Appender interface {
	Append(ctx context.Context, payload []byte) error
}

// Fill appends rec n times from 8 goroutines, so the spool's group commit
// shares fsyncs as under real load; a failed Append fails tb.
func Fill(tb testing.TB, s Appender, rec []byte, n int) {
	tb.Helper()
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := g; i < n; i += 8 {
				if err := s.Append(context.Background(), rec); err != nil {
					tb.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
}
