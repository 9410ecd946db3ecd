package pgtest

import (
	"bytes"
	"errors"
	"io"
	"os"
	"strings"
	"testing"
)

// Smoke runs a benchmark command small (run starts its own PostgreSQL and
// prints to out), so it never rots: run must succeed and print every want.
// Without PostgreSQL binaries it skips, as Start does, except under
// CI=true.
func Smoke(tb testing.TB, run func(out io.Writer) error, wants ...string) {
	tb.Helper()
	var out bytes.Buffer
	err := run(&out)
	if errors.Is(err, ErrNoBinaries) && os.Getenv("CI") != "true" {
		tb.Skip(err)
	}
	if err != nil {
		tb.Fatalf("bench: %v\n%s", err, out.String())
	}
	for _, want := range wants {
		if !strings.Contains(out.String(), want) {
			tb.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	tb.Log(out.String())
}
