package webhook

import (
	"testing"
	"time"
)

func TestBackoffSpansADay(t *testing.T) {
	var base time.Duration
	for n := 1; n < MaxAttempts; n++ {
		base += backoffBase(n)
	}
	if base < 24*time.Hour || base >= 48*time.Hour {
		t.Fatalf("schedule without jitter spans %s", base)
	}
	for range 200 {
		var sum time.Duration
		prev := time.Duration(0)
		for n := 1; n < MaxAttempts; n++ {
			d := Backoff(n)
			b := backoffBase(n)
			if d < b || d > b+b/5 || d > BackoffCap+BackoffCap/5 {
				t.Fatalf("Backoff(%d) = %s, base %s", n, d, b)
			}
			if b < prev {
				t.Fatalf("backoffBase(%d) = %s < %s", n, b, prev)
			}
			prev = b
			sum += d
		}
		if sum < 24*time.Hour || sum >= 48*time.Hour {
			t.Fatalf("the retry schedule spans %s, want [24h, 48h)", sum)
		}
	}
	if Backoff(1) < 30*time.Second || backoffBase(2) != time.Minute || backoffBase(8) != time.Hour || backoffBase(1000) != time.Hour {
		t.Fatalf("schedule: %s %s %s %s", Backoff(1), backoffBase(2), backoffBase(8), backoffBase(1000))
	}
	if d := Backoff(0); d < BackoffBase || d > BackoffBase+BackoffBase/5 {
		t.Fatalf("Backoff(0) = %s", d)
	}
	if d := Backoff(-5); d < BackoffBase {
		t.Fatalf("Backoff(-5) = %s", d)
	}
}
