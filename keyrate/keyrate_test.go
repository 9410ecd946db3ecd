package keyrate_test

import (
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/sightlinehq/sightline/keyrate"
)

func TestAllow(t *testing.T) {
	k := keyrate.New(2, 3, 10)
	now := time.Now()
	for i := range 3 {
		if ok, _ := k.Allow("a", now); !ok {
			t.Fatalf("burst request %d refused", i)
		}
	}
	ok, wait := k.Allow("a", now)
	if ok || wait <= 0 || wait > time.Second {
		t.Fatalf("over burst: %v %v", ok, wait)
	}
	if ok, _ := k.Allow("b", now); !ok {
		t.Fatal("keys share a bucket")
	}
	if ok, _ := k.Allow("a", now.Add(600*time.Millisecond)); !ok {
		t.Fatal("bucket did not refill")
	}
	if ok, _ := keyrate.New(0, 0, 0).Allow("x", now); !ok {
		t.Fatal("disabled limiter refused")
	}
	var nilLimiter *keyrate.Limiter
	if ok, _ := nilLimiter.Allow("x", now); !ok {
		t.Fatal("nil limiter refused")
	}
}

func TestDefaultBurst(t *testing.T) {
	now := time.Now()
	for _, c := range []struct {
		perSecond float64
		want      int
	}{{0.1, 1}, {2.5, 3}, {10, 10}} {
		k := keyrate.New(c.perSecond, 0, 0)
		n := 0
		for ok, _ := k.Allow("a", now); ok; ok, _ = k.Allow("a", now) {
			n++
		}
		if n != c.want {
			t.Errorf("New(%v, 0, 0) allowed a burst of %d, want %d", c.perSecond, n, c.want)
		}
	}
}

// A flood of new keys does not give an exhausted, busy key a fresh burst:
// only the least recently used keys are forgotten, and the bound holds.
func TestBoundedKeepsBusyKeys(t *testing.T) {
	const size = 100
	k := keyrate.New(1, 5, size)
	now := time.Now()
	for range 5 {
		k.Allow("abuser", now)
	}
	for i := range 10 * size {
		if ok, _ := k.Allow("abuser", now); ok {
			t.Fatalf("the exhausted key got a token back after %d new keys", i)
		}
		if ok, _ := k.Allow("k"+strconv.Itoa(i), now); !ok {
			t.Fatalf("new key %d refused", i)
		}
		if k.Len() > size {
			t.Fatalf("%d keys remembered, bound %d", k.Len(), size)
		}
	}
	// A key not used since is forgotten, and starts afresh.
	k.Allow("idle", now)
	for range 5 {
		k.Allow("idle", now)
	}
	for i := range size {
		k.Allow("n"+strconv.Itoa(i), now)
	}
	if ok, _ := k.Allow("idle", now); !ok {
		t.Fatal("a forgotten key was still refused")
	}
}

func TestConcurrentFirstUse(t *testing.T) {
	k := keyrate.New(1, 10, 0)
	now := time.Now()
	var wg sync.WaitGroup
	var mu sync.Mutex
	allowed := 0
	for range 50 {
		wg.Go(func() {
			if ok, _ := k.Allow("same", now); ok {
				mu.Lock()
				allowed++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if allowed != 10 {
		t.Fatalf("%d of 50 concurrent first requests allowed, want the burst of 10 (one bucket)", allowed)
	}
}
