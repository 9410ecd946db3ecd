package gateway_test

import (
	"testing"
	"time"
)

// waitFor polls check until it answers nil, failing t with its last answer
// once within has passed: the tests wait for a state, not for a time.
func waitFor(t testing.TB, within time.Duration, check func() error) {
	t.Helper()
	for deadline := time.Now().Add(within); ; time.Sleep(50 * time.Millisecond) {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("not within %v: %v", within, err)
		}
	}
}
