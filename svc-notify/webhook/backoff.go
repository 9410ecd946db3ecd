package webhook

import (
	"math/rand/v2"
	"time"
)

// The retry schedule: the wait after failed attempt n is
// BackoffBase × 2^(n-1), at most BackoffCap, plus up to a fifth more of
// random jitter (so receivers that come back are not hit by every queued
// delivery at once). Attempts stop after MaxAttempts: 30 s, 1 m, 2 m, …,
// 32 m, then hourly — the waits between the 31 attempts add up to a little
// over 24 hours (24 h 3.5 m without jitter, at most ~28.9 h with).
const (
	BackoffBase = 30 * time.Second
	BackoffCap  = time.Hour
	MaxAttempts = 31
)

// Backoff is the wait after failed attempt n (1-based) before the next.
func Backoff(attempt int) time.Duration {
	d := backoffBase(attempt)
	return d + rand.N(d/5+1)
}

// backoffBase is the schedule without jitter.
func backoffBase(attempt int) time.Duration {
	if attempt < 1 {
		attempt = 1
	}
	d := BackoffBase
	for i := 1; i < attempt && d < BackoffCap; i++ {
		d *= 2
	}
	return min(d, BackoffCap)
}
