// Package keyrate limits the rate of events per key (a caller, a client IP,
// a site): a token bucket per key, in memory, the least recently used keys
// forgotten past a bound. Forgetting the least recently used key rather
// than every key keeps a busy caller's empty bucket: a flood of new keys
// cannot hand it a fresh burst.
package keyrate

import (
	"math"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	"golang.org/x/time/rate"
)

// DefaultSize is the number of keys remembered when New is given none.
const DefaultSize = 100_000

// Limiter is a set of token buckets, one per key. Safe for concurrent use.
type Limiter struct {
	limit rate.Limit
	burst int
	lru   *lru.Cache[string, *rate.Limiter]
}

// New allows perSecond events per key with the given burst (≤ 0: the
// per-second rate rounded up, at least 1), remembering up to size keys
// (≤ 0: DefaultSize). A perSecond ≤ 0 disables the limiter: it allows all.
func New(perSecond float64, burst, size int) *Limiter {
	if size <= 0 {
		size = DefaultSize
	}
	if burst <= 0 {
		burst = int(math.Max(1, math.Ceil(perSecond)))
	}
	l, _ := lru.New[string, *rate.Limiter](size) // fails only for size ≤ 0
	return &Limiter{limit: rate.Limit(perSecond), burst: burst, lru: l}
}

// Allow takes one token of key's bucket at now; when none is left it
// returns false and how long until one is.
func (k *Limiter) Allow(key string, now time.Time) (bool, time.Duration) {
	if k == nil || k.limit <= 0 {
		return true, 0
	}
	l, ok := k.lru.Get(key)
	if !ok {
		l = rate.NewLimiter(k.limit, k.burst)
		if prev, found, _ := k.lru.PeekOrAdd(key, l); found {
			l = prev // another caller of the key got here first
		}
	}
	r := l.ReserveN(now, 1)
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return false, d
	}
	return true, 0
}

// Len is the number of keys remembered.
func (k *Limiter) Len() int { return k.lru.Len() }
