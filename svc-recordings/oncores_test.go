package recordings

import (
	"fmt"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
)

// TestOnCoresCallsEachOnce: every index once, on several goroutines.
func TestOnCoresCallsEachOnce(t *testing.T) {
	const n = 1000
	var seen [n]atomic.Int32
	onCores(n, func(i int) { seen[i].Add(1) })
	for i := range seen {
		if got := seen[i].Load(); got != 1 {
			t.Fatalf("index %d called %d times", i, got)
		}
	}
}

// TestOnCoresPanicKeepsWorkerStack: a worker's panic reaches the caller
// with its value and the stack of the goroutine where it happened.
func TestOnCoresPanicKeepsWorkerStack(t *testing.T) {
	if runtime.GOMAXPROCS(0) < 2 {
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(2))
	}
	defer func() {
		p := recover()
		wp, ok := p.(workerPanic)
		if !ok {
			t.Fatalf("recovered %T %v, want a workerPanic", p, p)
		}
		msg := wp.Error()
		if !strings.HasPrefix(msg, "chunk 7 is broken [in a worker goroutine:") || !strings.Contains(msg, "panicAt") {
			t.Fatalf("panic text lacks the value or the worker's frame:\n%s", msg)
		}
	}()
	onCores(64, func(i int) { panicAt(i, 7) })
	t.Fatal("onCores returned after a worker panicked")
}

//go:noinline
func panicAt(i, at int) {
	if i == at {
		panic(fmt.Sprintf("chunk %d is broken", i))
	}
}
