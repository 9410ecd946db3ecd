package memorylimit

import (
	"context"
	"log/slog"
	"math"
	"runtime/debug"
	"testing"
)

// TestApplyRefusesRatiosOutsideTheUnitInterval: a ratio above 1 would let
// the heap past the container's limit, a negative one or NaN means nothing;
// none changes the runtime's limit.
func TestApplyRefusesRatiosOutsideTheUnitInterval(t *testing.T) {
	t.Setenv("GOMEMLIMIT", "")
	before := debug.SetMemoryLimit(-1)
	for _, r := range []float64{-0.1, 1.01, math.NaN(), math.Inf(1)} {
		if d, err := Apply(context.Background(), r, slog.Default()); err == nil {
			t.Errorf("ratio %v accepted: %+v", r, d)
		}
	}
	if after := debug.SetMemoryLimit(-1); after != before {
		t.Fatalf("the runtime's limit changed from %d to %d", before, after)
	}
}

// TestApplyLeavesTheRuntimeAlone: ratio 0, and the library's own switch
// AUTOMEMLIMIT=off, report the limit in force (none) and why, and set
// nothing.
func TestApplyLeavesTheRuntimeAlone(t *testing.T) {
	for _, tc := range []struct {
		ratio        float64
		automemlimit string
		from         string
	}{
		{0, "", "off"},
		{0.9, "off", "AUTOMEMLIMIT"},
	} {
		t.Run(tc.from, func(t *testing.T) {
			t.Setenv("GOMEMLIMIT", "")
			t.Setenv("AUTOMEMLIMIT", tc.automemlimit)
			before := debug.SetMemoryLimit(-1)
			d, err := Apply(context.Background(), tc.ratio, slog.Default())
			if err != nil {
				t.Fatal(err)
			}
			if d.From != tc.from || d.Limit != before || debug.SetMemoryLimit(-1) != before {
				t.Fatalf("decision %+v, runtime limit %d before; want from %q", d, before, tc.from)
			}
		})
	}
}
