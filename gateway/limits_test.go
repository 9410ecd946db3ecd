package gateway

import (
	"strconv"
	"testing"
)

// TestLimiterKeepsAnActiveCallerPastTheBound: the table is bounded, but a
// flood of new callers (more than maxLimiters) no longer resets it, so a
// caller that has used up its burst and keeps calling stays refused.
func TestLimiterKeepsAnActiveCallerPastTheBound(t *testing.T) {
	l := newLimiter(0.001, 3) // no refill during the test
	for i := range 3 {
		if _, ok := l.allow("ip:abuser"); !ok {
			t.Fatalf("burst request %d refused", i)
		}
	}
	for i := range maxLimiters + maxLimiters/10 {
		if _, ok := l.allow("ip:" + strconv.Itoa(i)); !ok {
			t.Fatalf("new caller %d refused", i)
		}
		if i%1000 == 0 {
			if wait, ok := l.allow("ip:abuser"); ok || wait <= 0 {
				t.Fatalf("after %d new callers the exhausted caller was allowed again (wait %v)", i+1, wait)
			}
		}
	}
	if n := l.keys.Len(); n > maxLimiters {
		t.Fatalf("%d callers remembered, bound %d", n, maxLimiters)
	}
}
