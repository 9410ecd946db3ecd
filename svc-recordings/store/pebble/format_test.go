package pebble

import (
	"testing"

	"github.com/sightlinehq/sightline/platform/storeformat/storeformattest"
)

func TestFormatMarker(t *testing.T) {
	storeformattest.Run(t, format(),
		func(dir string) (*Store, error) { return Open(dir, Options{Logger: quiet{}}) },
		func(s *Store, dir string) error { return s.Backup(t.Context(), dir) }, nil)
}
