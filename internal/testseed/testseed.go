// Package testseed gives a test that draws random inputs its seed: the one
// in SIGHTLINE_TEST_SEED, to replay a failure, or else a fresh one. Either
// way the seed is logged with the line that replays it, so any run can be
// repeated exactly.
package testseed

import (
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"testing"
)

// Env names the variable that fixes the seed of every test asking for one.
const Env = "SIGHTLINE_TEST_SEED"

// Seed returns the seed for tb and logs it; an unparsable Env fails tb
// rather than silently drawing another seed.
func Seed(tb testing.TB) uint64 {
	tb.Helper()
	seed, err := fromEnv()
	if err != nil {
		tb.Fatal(err)
	}
	tb.Logf("random seed %d (replay with %s=%d)", seed, Env, seed)
	return seed
}

// Rand returns a generator seeded with Seed(tb) on the given stream (tests
// sharing a seed use different streams so they draw different inputs).
func Rand(tb testing.TB, stream uint64) *rand.Rand {
	tb.Helper()
	return rand.New(rand.NewPCG(Seed(tb), stream))
}

func fromEnv() (uint64, error) {
	v, ok := os.LookupEnv(Env)
	if !ok || v == "" {
		return rand.Uint64(), nil
	}
	seed, err := strconv.ParseUint(v, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("testseed: %s=%q is not an unsigned integer: %w", Env, v, err)
	}
	return seed, nil
}
