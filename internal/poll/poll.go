// Package poll is how a test waits for a state instead of sleeping for a
// fixed time and hoping it was long enough: it asks again until the state
// holds or a generous deadline passes.
package poll

import (
	"testing"
	"time"
)

// Interval is the pause between two checks.
const Interval = 20 * time.Millisecond

// Until calls check every Interval until it answers nil, and fails tb with
// check's last answer once within has passed (check runs at least once, and
// once more at or after the deadline).
func Until(tb testing.TB, within time.Duration, check func() error) {
	tb.Helper()
	for deadline := time.Now().Add(within); ; time.Sleep(Interval) {
		late := time.Now().After(deadline)
		err := check()
		if err == nil {
			return
		}
		if late {
			tb.Fatalf("not within %v: %v", within, err)
		}
	}
}
