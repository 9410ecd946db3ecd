package pebble

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/sightlinehq/sightline/platform/storeformat"
)

// TestFormatMarker: a store directory is marked with FormatVersion, and so
// is a backup of it; one marked by a newer Sightline is refused before
// Pebble opens it, and one written before markers opens.
func TestFormatMarker(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "recordings")
	s, err := Open(dir, Options{Logger: quiet{}})
	if err != nil {
		t.Fatal(err)
	}
	copyDir := filepath.Join(t.TempDir(), "copy")
	if err := s.Backup(t.Context(), copyDir); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	want := strconv.Itoa(FormatVersion) + "\n"
	for _, d := range []string{dir, copyDir} {
		if b, err := os.ReadFile(filepath.Join(d, storeformat.FileName)); err != nil || string(b) != want {
			t.Errorf("%s marks format %q, %v; want %q", d, b, err, want)
		}
	}

	// Before markers: opens.
	if err := os.Remove(filepath.Join(copyDir, storeformat.FileName)); err != nil {
		t.Fatal(err)
	}
	c, err := Open(copyDir, Options{Logger: quiet{}})
	if err != nil {
		t.Fatalf("a directory without a marker: %v", err)
	}
	c.Close()

	if err := os.WriteFile(filepath.Join(dir, storeformat.FileName), []byte(strconv.Itoa(FormatVersion+1)), 0o644); err != nil {
		t.Fatal(err)
	}
	s, err = Open(dir, Options{Logger: quiet{}})
	if err == nil {
		s.Close()
	}
	var tooNew *storeformat.TooNewError
	if !errors.As(err, &tooNew) || tooNew.Store != "recordings format" || tooNew.Stored != FormatVersion+1 {
		t.Fatalf("a store of a newer format: %v, want a TooNewError", err)
	}
}
