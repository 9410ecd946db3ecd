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

// TestApplyOffLeavesTheRuntimeAlone: ratio 0 reports the limit in force
// (none) and sets nothing.
func TestApplyOffLeavesTheRuntimeAlone(t *testing.T) {
	t.Setenv("GOMEMLIMIT", "")
	before := debug.SetMemoryLimit(-1)
	d, err := Apply(context.Background(), 0, slog.Default())
	if err != nil {
		t.Fatal(err)
	}
	if d.From != "off" || d.Limit != before || debug.SetMemoryLimit(-1) != before {
		t.Fatalf("decision %+v, runtime limit %d before", d, before)
	}
}

// TestApplyLeavesAUTOMEMLIMITOff: the library's own switch, set to off in
// the environment, is reported and leaves the runtime's limit alone.
func TestApplyLeavesAUTOMEMLIMITOff(t *testing.T) {
	t.Setenv("GOMEMLIMIT", "")
	t.Setenv("AUTOMEMLIMIT", "off")
	before := debug.SetMemoryLimit(-1)
	d, err := Apply(context.Background(), 0.9, slog.Default())
	if err != nil {
		t.Fatal(err)
	}
	if d.From != "AUTOMEMLIMIT" || d.Limit != before || debug.SetMemoryLimit(-1) != before {
		t.Fatalf("decision %+v, runtime limit %d before", d, before)
	}
}
