package testseed

import (
	"fmt"
	"strings"
	"testing"
)

// logRecorder captures what Seed logs and whether it failed the test.
type logRecorder struct {
	testing.TB
	logs   []string
	failed string
}

func (r *logRecorder) Helper()                    {}
func (r *logRecorder) Logf(f string, args ...any) { r.logs = append(r.logs, fmt.Sprintf(f, args...)) }
func (r *logRecorder) Fatal(args ...any)          { r.failed = "fatal"; panic(r) }

func seedOf(t *testing.T) (seed uint64, r *logRecorder) {
	t.Helper()
	r = &logRecorder{TB: t}
	defer func() {
		if p := recover(); p != nil && p != r {
			panic(p)
		}
	}()
	return Seed(r), r
}

func TestSeedFromEnvIsReplayed(t *testing.T) {
	t.Setenv(Env, "18446744073709551615")
	seed, r := seedOf(t)
	if seed != 18446744073709551615 || r.failed != "" {
		t.Fatalf("seed %d (failed %q), want the one in %s", seed, r.failed, Env)
	}
	if len(r.logs) != 1 || !strings.Contains(r.logs[0], Env+"=18446744073709551615") {
		t.Fatalf("logged %q, want one line naming how to replay", r.logs)
	}
	if a, b := Rand(t, 1).Uint64(), Rand(t, 1).Uint64(); a != b {
		t.Fatalf("the same seed and stream drew %d then %d", a, b)
	}
	if a, b := Rand(t, 1).Uint64(), Rand(t, 2).Uint64(); a == b {
		t.Fatalf("streams 1 and 2 both drew %d", a)
	}
}

func TestSeedIsFreshWithoutEnv(t *testing.T) {
	t.Setenv(Env, "")
	a, ra := seedOf(t)
	b, _ := seedOf(t)
	if a == b {
		t.Fatalf("two draws gave the same seed %d", a)
	}
	if len(ra.logs) != 1 {
		t.Fatalf("a fresh seed was not logged: %q", ra.logs)
	}
}

func TestSeedRefusesAMalformedEnv(t *testing.T) {
	for _, v := range []string{"x", "-1", "1.5", "18446744073709551616"} {
		t.Setenv(Env, v)
		if _, r := seedOf(t); r.failed == "" {
			t.Errorf("%s=%q was accepted", Env, v)
		}
	}
}
