package gateway

import (
	"time"

	"github.com/sightlinehq/sightline/keyrate"
)

// maxLimiters bounds the per-caller limiter table; past it the least
// recently used caller is forgotten (keyrate), so a flood of new callers
// cannot hand an active one a fresh burst.
const maxLimiters = 100_000

// The mailing limit, per IP, of the public routes that only send e-mail
// (resend verification, forgot password): a burst of 10, then 10 a minute.
const (
	mailingRate  = 10.0 / 60
	mailingBurst = 10
)

// limiter is a token bucket per caller (user, API key, or IP before log-in).
type limiter struct{ keys *keyrate.Limiter }

func newLimiter(perSecond float64, burst int) *limiter {
	return &limiter{keys: keyrate.New(perSecond, burst, maxLimiters)}
}

// allow takes a token for key, or says how long until one is free.
func (l *limiter) allow(key string) (time.Duration, bool) {
	ok, wait := l.keys.Allow(key, time.Now())
	return wait, ok
}
