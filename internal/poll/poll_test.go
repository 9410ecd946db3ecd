package poll

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

// fatalRecorder stands in for a test so that Until's failure can be seen.
type fatalRecorder struct {
	testing.TB
	msg string
}

func (r *fatalRecorder) Helper() {}
func (r *fatalRecorder) Fatalf(f string, args ...any) {
	r.msg = fmt.Sprintf(f, args...)
	panic(r)
}

func until(t *testing.T, within time.Duration, check func() error) (msg string) {
	t.Helper()
	r := &fatalRecorder{TB: t}
	defer func() {
		if p := recover(); p != nil && p != r {
			panic(p)
		} else if p == r {
			msg = r.msg
		}
	}()
	Until(r, within, check)
	return ""
}

func TestUntilReturnsOnceTheStateHolds(t *testing.T) {
	calls := 0
	start := time.Now()
	if msg := until(t, 10*time.Second, func() error {
		if calls++; calls < 3 {
			return errors.New("not yet")
		}
		return nil
	}); msg != "" {
		t.Fatalf("failed: %s", msg)
	}
	if calls != 3 || time.Since(start) > 5*time.Second {
		t.Fatalf("%d calls in %v, want 3, well before the deadline", calls, time.Since(start))
	}
}

func TestUntilFailsWithTheLastAnswerAtTheDeadline(t *testing.T) {
	calls := 0
	start := time.Now()
	msg := until(t, 100*time.Millisecond, func() error { calls++; return fmt.Errorf("state %d", calls) })
	if took := time.Since(start); took < 100*time.Millisecond {
		t.Fatalf("gave up after %v, before the deadline", took)
	}
	if want := fmt.Sprintf("state %d", calls); !strings.Contains(msg, want) || !strings.Contains(msg, "100ms") {
		t.Fatalf("failure %q, want the last answer %q and the deadline", msg, want)
	}
}

// TestUntilChecksOnceMoreAfterTheDeadline: a check that was late only
// because the machine was slow still gets its answer counted.
func TestUntilChecksOnceMoreAfterTheDeadline(t *testing.T) {
	calls := 0
	if msg := until(t, 30*time.Millisecond, func() error {
		if calls++; calls == 1 {
			time.Sleep(60 * time.Millisecond) // a slow first check, past the deadline
			return errors.New("slow")
		}
		return nil
	}); msg != "" || calls != 2 {
		t.Fatalf("%d calls, failure %q: want a second call after the deadline, and success", calls, msg)
	}
}
