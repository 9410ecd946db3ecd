package main

import (
	"bytes"
	"io"
	"testing"

	"go.uber.org/goleak"

	"github.com/sightlinehq/sightline/internal/pgtest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestSmoke runs the whole bench small, so it never rots: every row is
// printed and every delivery verified. (Its own temporary directory:
// t.TempDir's parent is not reachable by the postgres user the server
// runs as under root.)
func TestSmoke(t *testing.T) {
	pgtest.Smoke(t, func(out io.Writer) error { return run(t.Context(), 50, 60, 4, "", out) },
		"webhook deliveries, sqlite", "digest fan-out, sqlite", "webhook deliveries, postgres", "digest fan-out, postgres", "bare signed POSTs")
}

func TestFlagsChecked(t *testing.T) {
	if err := run(t.Context(), 0, 10, 1, "", &bytes.Buffer{}); err == nil {
		t.Error("0 deliveries accepted")
	}
}
