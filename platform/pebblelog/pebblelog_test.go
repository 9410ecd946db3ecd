package pebblelog_test

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"

	"github.com/cockroachdb/pebble/v2"

	"github.com/sightlinehq/sightline/platform/pebblelog"
)

var _ pebble.Logger = pebblelog.Logger{}

func TestLevels(t *testing.T) {
	var buf bytes.Buffer
	l := pebblelog.New(slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})))
	l.Infof("replayed %d", 3)
	l.Errorf("bad %s", "x")
	func() {
		defer func() {
			if r := recover(); r != "pebble: dead 1" {
				t.Errorf("Fatalf panicked with %v, want %q", r, "pebble: dead 1")
			}
		}()
		l.Fatalf("dead %d", 1)
	}()
	got := buf.String()
	for _, want := range []string{`level=DEBUG msg="pebble: replayed 3"`, `level=ERROR msg="pebble: bad x"`, `level=ERROR msg="pebble: fatal: dead 1"`} {
		if !strings.Contains(got, want) {
			t.Errorf("log lacks %q:\n%s", want, got)
		}
	}
}
