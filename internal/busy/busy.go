// Package busy keeps a store busy while a test does something else to it
// (a backup under writes): one goroutine repeats a step until stopped.
package busy

import (
	"sync"
	"testing"
)

// Run calls step(0), step(1), … in a goroutine until the returned stop is
// called, which waits for the step in progress. A step's error fails tb
// (t.Error, safe from the goroutine) and ends the loop.
func Run(tb testing.TB, step func(i int) error) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-done:
				return
			default:
			}
			if err := step(i); err != nil {
				tb.Errorf("busy step %d: %v", i, err)
				return
			}
		}
	}()
	var once sync.Once
	return func() {
		once.Do(func() { close(done) })
		wg.Wait()
	}
}

// During runs do while step repeats (Run), and fails tb with do's error.
func During(tb testing.TB, step func(i int) error, do func() error) {
	tb.Helper()
	stop := Run(tb, step)
	err := do()
	stop()
	if err != nil {
		tb.Fatal(err)
	}
}
