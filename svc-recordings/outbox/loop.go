package outbox

import (
	"context"
	"time"

	"go.opentelemetry.io/otel/metric"

	"github.com/sightlinehq/sightline/platform/depstate"
)

// loop is what each relay's Run does with its stream: take a batch (once),
// and while that fails count the failure, mark the dependency down and
// retry the same oldest entries after a backoff that doubles from
// MinBackoff to MaxBackoff; once it works mark the dependency up, go on at
// once while full batches come back, else wait for a wake or Poll.
type loop struct {
	batch                  int
	poll                   time.Duration
	minBackoff, maxBackoff time.Duration
	failures               metric.Int64Counter
	dependency             *depstate.State
	wake                   <-chan struct{}
}

func (l loop) run(ctx context.Context, once func(context.Context) (int, error)) error {
	backoff := depstate.Backoff{Min: l.minBackoff, Max: l.maxBackoff}
	for {
		n, err := once(ctx)
		switch {
		case ctx.Err() != nil:
			return nil
		case err != nil:
			l.dependency.Failed(ctx, err)
			if l.failures != nil {
				l.failures.Add(ctx, 1)
			}
			if !depstate.Sleep(ctx, backoff.Next()) {
				return nil
			}
			continue
		}
		l.dependency.OK(ctx)
		backoff.Reset()
		if n == l.batch {
			continue // more waiting
		}
		select {
		case <-ctx.Done():
			return nil
		case <-l.wake:
		case <-time.After(l.poll):
		}
	}
}

// wakeUp wakes a loop waiting on wake; a wake already pending is enough.
func wakeUp(wake chan struct{}) {
	select {
	case wake <- struct{}{}:
	default:
	}
}
