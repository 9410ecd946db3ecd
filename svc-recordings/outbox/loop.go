package outbox

import (
	"context"
	"log/slog"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/sightlinehq/sightline/platform/depstate"
)

// Loop is how a relay runs its stream, and what both relays are tuned by:
// take a batch (once); while that fails count the failure, mark the
// dependency down and retry the same oldest entries after a backoff that
// doubles from MinBackoff to MaxBackoff; once it works mark the dependency
// up, go on at once while full batches come back, else wait to be woken
// or for Poll, and then for the rest of Window.
type Loop struct {
	// Poll is how often an idle relay looks again without being woken.
	Poll time.Duration
	// Window is the shortest time from one delivery that found entries
	// to the next (0: deliver as soon as woken). Entries written within it
	// wait and go together, so the target commits once per window rather
	// than once per write, and a session changed many times in it is sent
	// once, at its latest version (Relay.Once). The first entry after an
	// idle Window goes at once; a full batch (a backlog) does not wait.
	// It is how long the target may lag behind the store.
	Window time.Duration
	// MaxWindow is how far the window stretches under load (not above
	// Window: it does not). A delivery of at least busyEntries entries that
	// coalesced to half as many items or fewer (sessions that changed
	// several times in the window) doubles it, while the doubled window's
	// entries would still fit in one read; one that coalesced less than a
	// quarter, or found few entries, halves it, down to Window. So a few
	// visitors' sessions reach the target within Window, and under load
	// the target takes each busy session once per MaxWindow, not once per
	// Window (search indexes a session's whole summary each time).
	MaxWindow time.Duration
	// MinBackoff and MaxBackoff bound the wait after a failed delivery.
	MinBackoff, MaxBackoff time.Duration
	// CallTimeout bounds one call to the relay's target.
	CallTimeout time.Duration
	// Failures counts failed attempts (optional).
	Failures metric.Int64Counter
	// Dependency is the target as this relay sees it: up or down, logged
	// at each change and exported by depstate.Register.
	Dependency *depstate.State
	// Tracer starts the span of each batch a poll finds (optional). A
	// poll that finds nothing makes no span: an idle relay exports no
	// traces.
	Tracer trace.Tracer

	wake chan struct{}
	// window is the current window; only run's goroutine (a delivery's
	// span among it) reads and writes it.
	window time.Duration
	// after is time.After; a test replaces it to hold and release the
	// window.
	after func(time.Duration) <-chan time.Time
}

func newLoop(logger *slog.Logger, target string, maxBackoff time.Duration) Loop {
	return Loop{
		Poll: 2 * time.Second, MinBackoff: 100 * time.Millisecond, MaxBackoff: maxBackoff, CallTimeout: 10 * time.Second,
		Dependency: depstate.New(logger, target, "outbox"),
		wake:       make(chan struct{}, 1),
		after:      time.After,
	}
}

// delivery is what one poll did.
type delivery struct {
	entries int // taken from the outbox
	items   int // sent: fewer than entries when a session's changes coalesced
}

// busyEntries is the fewest entries in one window that stretch it: below
// it the target's work per window is small whatever it coalesces.
const busyEntries = 100

// stretch is the window after a delivery d made in window cur, of reads of
// at most batch entries (see MaxWindow).
func (l *Loop) stretch(cur time.Duration, d delivery, batch int) time.Duration {
	switch {
	case l.MaxWindow <= l.Window:
		return l.Window
	case d.entries >= busyEntries && d.items*2 <= d.entries && d.entries*2 < batch:
		return min(cur*2, l.MaxWindow)
	case d.entries < busyEntries || d.items*4 > d.entries*3:
		return max(cur/2, l.Window)
	}
	return cur
}

// run runs once until ctx ends; batch is a full batch's size.
func (l *Loop) run(ctx context.Context, batch int, once func(context.Context) (delivery, error)) error {
	backoff := depstate.Backoff{Min: l.MinBackoff, Max: l.MaxBackoff}
	var last time.Time // the start of the last delivery that found entries
	full := false
	l.window = l.Window
	for {
		if wait := l.window - time.Since(last); l.Window > 0 && !full && wait > 0 {
			select {
			case <-ctx.Done():
				return nil
			case <-l.after(wait):
			}
		}
		began := time.Now()
		d, err := once(ctx)
		switch {
		case ctx.Err() != nil:
			return nil
		case err != nil:
			l.Dependency.Failed(ctx, err)
			if l.Failures != nil {
				l.Failures.Add(ctx, 1)
			}
			if !depstate.Sleep(ctx, backoff.Next()) {
				return nil
			}
			continue
		}
		l.Dependency.OK(ctx)
		backoff.Reset()
		if d.entries > 0 {
			last = began
			l.window = l.stretch(l.window, d, batch)
		}
		if full = d.entries == batch; full {
			continue // more waiting
		}
		select {
		case <-ctx.Done():
			return nil
		case <-l.wake:
		case <-time.After(l.Poll):
		}
	}
}

// work starts the span of a batch a poll found: a root (a relay serves
// no caller), begun when the poll began, linked to the traces of the calls
// that recorded its entries (store.OutboxEntry.Traceparent; "" and repeats
// are skipped), so a batch can be followed from the call that changed a
// session to the target. End it with end(&err), which marks a failure.
func (l *Loop) work(ctx context.Context, name string, began time.Time, entries int, traceparents []string) (context.Context, func(*error)) {
	if l.Tracer == nil {
		return ctx, func(*error) {}
	}
	var links []trace.Link
	seen := map[[2]any]bool{} // trace and span id
	for _, tp := range traceparents {
		if tp == "" {
			continue
		}
		sc := trace.SpanContextFromContext(propagation.TraceContext{}.Extract(context.Background(), propagation.MapCarrier{"traceparent": tp}))
		if k := [2]any{sc.TraceID(), sc.SpanID()}; sc.IsValid() && !seen[k] {
			seen[k] = true
			links = append(links, trace.Link{SpanContext: sc})
		}
	}
	ctx, span := l.Tracer.Start(ctx, name, trace.WithNewRoot(), trace.WithTimestamp(began), trace.WithLinks(links...),
		trace.WithSpanKind(trace.SpanKindProducer), trace.WithAttributes(attribute.Int("outbox.entries", entries), attribute.Int64("outbox.window_ms", l.window.Milliseconds())))
	return ctx, func(errp *error) {
		if err := *errp; err != nil {
			span.RecordError(err)
			span.SetStatus(codes.Error, err.Error())
		}
		span.End()
	}
}

// wakeUp wakes the loop; a wake already pending is enough.
func (l *Loop) wakeUp() {
	select {
	case l.wake <- struct{}{}:
	default:
	}
}
