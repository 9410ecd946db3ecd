package lastgood

import (
	"context"
	"errors"
	"runtime"
	"sync/atomic"
	"testing"
	"time"
)

var errRefused = errors.New("refused")

// TestPolicies walks one key through a good copy, a stale one refreshed in
// the background, a failure that keeps the copy, and a kept refusal.
func TestPolicies(t *testing.T) {
	var now atomic.Int64
	now.Store(time.Unix(1_763_890_000, 0).UnixNano())
	var calls atomic.Int32
	var fail atomic.Pointer[error] // what Fetch answers; nil: the value
	var version atomic.Int64
	c := New(Options[string, int64]{
		TTL: 10 * time.Second,
		Now: func() time.Time { return time.Unix(0, now.Load()) },
		Fetch: func(_ context.Context, k string) (int64, error) {
			calls.Add(1)
			if err := fail.Load(); err != nil {
				return 0, *err
			}
			return version.Load(), nil
		},
		Failed: func(_ string, err error, last *int64) (time.Duration, error) {
			if errors.Is(err, errRefused) {
				return 5 * time.Second, errRefused
			}
			if last != nil {
				return 0, nil
			}
			return 0, err
		},
	})
	defer c.Close()
	ctx := context.Background()
	get := func(want int64, wantErr error, wantCalls int32) {
		t.Helper()
		v, err := c.Get(ctx, "k")
		c.Wait()
		if !errors.Is(err, wantErr) || (err == nil && v != want) || calls.Load() != wantCalls {
			t.Fatalf("Get = %d, %v after %d calls; want %d, %v after %d", v, err, calls.Load(), want, wantErr, wantCalls)
		}
	}
	version.Store(1)
	get(1, nil, 1)
	get(1, nil, 1) // fresh: from memory
	version.Store(2)
	now.Add(int64(11 * time.Second))
	get(1, nil, 2) // stale: served, refreshed behind
	get(2, nil, 2)
	now.Add(int64(11 * time.Second))
	down := errors.New("down")
	fail.Store(&down)
	get(2, nil, 3) // stale and the refresh fails: the last good copy
	get(2, nil, 4) // not re-stamped (keep 0): another refresh
	refused := errRefused
	fail.Store(&refused)
	get(2, nil, 5) // the refresh is refused: the refusal replaces the copy
	get(0, errRefused, 5)
	now.Add(int64(6 * time.Second))
	fail.Store(&down)
	get(0, down, 6) // the refusal expired and no copy is left
	canceled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := c.Get(canceled, "other"); !errors.Is(err, context.Canceled) && !errors.Is(err, down) {
		t.Fatalf("Get with a cancelled context: %v", err)
	}
}

// TestOneRefreshPerKey: while a stale key's refresh is slow, more Gets of
// it are served the stale copy and start no further refresh goroutine.
func TestOneRefreshPerKey(t *testing.T) {
	var now atomic.Int64
	now.Store(time.Unix(1_763_890_000, 0).UnixNano())
	release := make(chan struct{})
	var calls atomic.Int32
	c := New(Options[string, int64]{
		TTL: 10 * time.Second,
		Now: func() time.Time { return time.Unix(0, now.Load()) },
		Fetch: func(ctx context.Context, k string) (int64, error) {
			if calls.Add(1) > 1 {
				select {
				case <-release:
				case <-ctx.Done():
				}
			}
			return 7, nil
		},
		Failed: func(string, error, *int64) (time.Duration, error) { return 0, errRefused },
	})
	defer c.Close()
	ctx := context.Background()
	if v, err := c.Get(ctx, "k"); err != nil || v != 7 {
		t.Fatalf("Get = %d, %v", v, err)
	}
	now.Add(int64(11 * time.Second))
	before := runtime.NumGoroutine()
	for range 1000 {
		if v, err := c.Get(ctx, "k"); err != nil || v != 7 {
			t.Fatalf("stale Get = %d, %v", v, err)
		}
	}
	// One refresh blocked in Fetch; allow a little slack for the runtime.
	if grew := runtime.NumGoroutine() - before; grew > 5 {
		t.Fatalf("%d goroutines more after 1000 stale Gets, want one refresh", grew)
	}
	close(release)
	c.Wait()
	if calls.Load() != 2 {
		t.Fatalf("%d fetches, want the first and one refresh", calls.Load())
	}
}
