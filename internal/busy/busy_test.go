package busy

import (
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sightlinehq/sightline/internal/poll"
)

func TestRunStepsUntilStopped(t *testing.T) {
	var n atomic.Int64
	stop := Run(t, func(i int) error {
		if int64(i) != n.Load() {
			return errors.New("steps out of order")
		}
		n.Add(1)
		return nil
	})
	poll.Until(t, 5*time.Second, func() error {
		if n.Load() < 100 {
			return errors.New("fewer than 100 steps")
		}
		return nil
	})
	stop()
	after := n.Load()
	stop() // a second stop is harmless
	if n.Load() != after {
		t.Errorf("steps ran after stop: %d, then %d", after, n.Load())
	}
}

func TestDuringRunsBoth(t *testing.T) {
	var steps atomic.Int64
	During(t, func(int) error { steps.Add(1); return nil }, func() error {
		poll.Until(t, 5*time.Second, func() error {
			if steps.Load() == 0 {
				return errors.New("no step while do runs")
			}
			return nil
		})
		return nil
	})
	r := &recorder{TB: t}
	failed := func() (fatal bool) {
		defer func() { fatal = recover() == errFatal }()
		During(r, func(int) error { return nil }, func() error { return errors.New("do failed") })
		return false
	}()
	if !failed {
		t.Error("During did not fail the test when do failed")
	}
}

var errFatal = errors.New("fatal")

// recorder stands in for a test so that a failing step can be seen.
type recorder struct {
	testing.TB
	errs atomic.Int64
}

func (r *recorder) Errorf(string, ...any) { r.errs.Add(1) }
func (r *recorder) Fatal(...any)          { panic(errFatal) }
func (r *recorder) Helper()               {}

func TestFailingStepFailsTheTestAndEnds(t *testing.T) {
	r := &recorder{TB: t}
	var steps atomic.Int64
	stop := Run(r, func(int) error {
		steps.Add(1)
		return errors.New("write failed")
	})
	poll.Until(t, 5*time.Second, func() error {
		if r.errs.Load() == 0 {
			return errors.New("no failure reported")
		}
		return nil
	})
	stop()
	if r.errs.Load() != 1 || steps.Load() != 1 {
		t.Errorf("%d failures after %d steps; want the loop to end at the first", r.errs.Load(), steps.Load())
	}
}
