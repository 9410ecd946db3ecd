package main

import (
	"bytes"
	"errors"
	"os"
	"strings"
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
	var out bytes.Buffer
	err := run(t.Context(), 50, 60, 4, "", &out)
	if errors.Is(err, pgtest.ErrNoBinaries) && os.Getenv("CI") != "true" {
		t.Skip(err)
	}
	if err != nil {
		t.Fatalf("bench: %v\n%s", err, out.String())
	}
	for _, want := range []string{"webhook deliveries, sqlite", "digest fan-out, sqlite", "webhook deliveries, postgres", "digest fan-out, postgres", "bare signed POSTs"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	t.Log(out.String())
}

func TestFlagsChecked(t *testing.T) {
	if err := run(t.Context(), 0, 10, 1, "", &bytes.Buffer{}); err == nil {
		t.Error("0 deliveries accepted")
	}
}
