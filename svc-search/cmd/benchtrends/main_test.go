package main

import (
	"bytes"
	"io"
	"testing"

	"go.uber.org/goleak"

	"github.com/sightlinehq/sightline/internal/pgtest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestSmoke runs the whole bench small, so it never rots: both backends
// load, answer the same figures, and the table is printed. (Its own
// temporary directory: t.TempDir's parent is not reachable by the
// postgres user the server runs as under root.)
func TestSmoke(t *testing.T) {
	pgtest.Smoke(t, func(out io.Writer) error {
		return run(t.Context(), config{sessions: 2000, reps: 2, pgReps: 2, batch: 700, seed: 7, zone: "America/New_York"}, out)
	}, "2000 sessions", "overview 30 days", "4-step funnel", "realtime: page view added", "both backends returned the same")
}

func TestFlagsChecked(t *testing.T) {
	if err := run(t.Context(), config{sessions: 10, reps: 1, pgReps: 1, batch: 1, zone: "UTC"}, &bytes.Buffer{}); err == nil {
		t.Error("10 sessions accepted")
	}
	if err := run(t.Context(), config{sessions: 1000, reps: 1, pgReps: 1, batch: 1, zone: "Mars/Olympus"}, &bytes.Buffer{}); err == nil {
		t.Error("an unknown zone accepted")
	}
}
