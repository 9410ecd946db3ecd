// Package depstate is what a background loop (a delivery, a sweep) keeps
// about the dependency it calls: whether it answers, since when it does
// not, and how long to wait before the next try.
//
// A State logs once per change — a warning with the error when the
// dependency starts failing, an info line with how long and how many
// attempts when it answers again — and every attempt in between at debug
// level only, so an outage of an hour is two lines, not thousands. The
// state is exported as the gauge sightline.dependency.up (1 up, 0 down)
// with the dependency and component as attributes.
//
// A Backoff paces the retries: exponential from Min to Max, each wait
// drawn uniformly from [d/2, d] so that many processes do not retry in step.
package depstate

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// GaugeName is the metric every State is exported as.
const GaugeName = "sightline.dependency.up"

// State is one loop's view of one dependency. It starts up. Safe for
// concurrent use.
type State struct {
	dependency, component string
	log                   *slog.Logger
	attrs                 metric.ObserveOption

	mu       sync.Mutex
	down     bool
	since    time.Time // of the first failure of the current outage
	failures int       // failed attempts in the current outage
}

// New returns the state of dependency (what is called, e.g. "search") as
// seen by component (who calls it, e.g. "outbox").
func New(log *slog.Logger, dependency, component string) *State {
	return &State{dependency: dependency, component: component, log: log,
		attrs: metric.WithAttributeSet(attribute.NewSet(attribute.String("dependency", dependency), attribute.String("component", component)))}
}

// Failed records a failed attempt. The first one after success logs a
// warning with err; the others log at debug level.
func (s *State) Failed(ctx context.Context, err error) {
	s.mu.Lock()
	first := !s.down
	if first {
		s.down, s.since, s.failures = true, time.Now(), 0
	}
	s.failures++
	n := s.failures
	s.mu.Unlock()
	if first {
		s.log.WarnContext(ctx, s.component+": "+s.dependency+" is failing; retrying with backoff until it answers",
			"dependency", s.dependency, "component", s.component, "error", err)
		return
	}
	s.log.DebugContext(ctx, s.component+": "+s.dependency+" still failing", "dependency", s.dependency, "component", s.component,
		"attempt", n, "error", err)
}

// OK records a successful attempt. The first one after failures logs, at
// info level, how long the dependency was down and how many attempts
// failed.
func (s *State) OK(ctx context.Context) {
	s.mu.Lock()
	if !s.down {
		s.mu.Unlock()
		return
	}
	down, failures := time.Since(s.since), s.failures
	s.down, s.failures = false, 0
	s.mu.Unlock()
	s.log.InfoContext(ctx, s.component+": "+s.dependency+" answers again", "dependency", s.dependency, "component", s.component,
		"down_for", down.Round(time.Millisecond).String(), "failed_attempts", failures)
}

// Up reports whether the last attempt succeeded (true before any).
func (s *State) Up() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return !s.down
}

// Register adds the gauge sightline.dependency.up to m: each collection
// observes every State that states returns (nil ones are skipped), 1 when
// up and 0 when down. A meter may register it more than once (for states
// made at different times); the series differ by their attributes.
func Register(m metric.Meter, states func() []*State) error {
	_, err := m.Int64ObservableGauge(GaugeName,
		metric.WithDescription("1 while a background loop's dependency answers, 0 while it fails (by dependency and component)."),
		metric.WithInt64Callback(func(_ context.Context, o metric.Int64Observer) error {
			for _, s := range states() {
				if s == nil {
					continue
				}
				v := int64(0)
				if s.Up() {
					v = 1
				}
				o.Observe(v, s.attrs)
			}
			return nil
		}))
	return err
}

// Backoff paces retries: Next doubles from Min up to Max. Not safe for
// concurrent use (one loop owns it).
type Backoff struct {
	Min, Max time.Duration
	cur      time.Duration
}

// Next returns the wait before the next attempt after one more failure:
// uniformly in [d/2, d] where d doubles from Min, capped at Max.
func (b *Backoff) Next() time.Duration {
	b.cur = min(max(2*b.cur, b.Min), b.Max)
	if b.cur <= 0 {
		return 0
	}
	return b.cur/2 + rand.N(b.cur/2+1)
}

// Reset starts again from Min (after a success).
func (b *Backoff) Reset() { b.cur = 0 }

// Sleep waits d or until ctx ends; it reports whether d passed.
func Sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
