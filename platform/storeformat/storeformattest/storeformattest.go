// Package storeformattest checks a store's use of its storeformat.Marker:
// the suite every store with a FORMAT file runs.
package storeformattest

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/sightlinehq/sightline/platform/storeformat"
)

// Run checks, with open opening (creating) in a directory the store m
// marks and backup copying it to a directory that does not exist: a new
// store and its backup are marked with m.Version; a copy without the
// marker (written before markers) opens; a store marked with a newer
// version is refused with a TooNewError naming m.Store. newer, when set,
// writes in the store's directory what a newer release would before that
// open, and answers a check that the refusal left it as it was.
func Run[S io.Closer](t *testing.T, m storeformat.Marker, open func(dir string) (S, error), backup func(s S, dir string) error,
	newer func(t *testing.T, dir string) (unchanged func(t *testing.T))) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "store")
	s, err := open(dir)
	if err != nil {
		t.Fatal(err)
	}
	copyDir := filepath.Join(t.TempDir(), "copy")
	if err := backup(s, copyDir); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	want := strconv.FormatInt(m.Version, 10) + "\n"
	for _, d := range []string{dir, copyDir} {
		if b, err := os.ReadFile(filepath.Join(d, storeformat.FileName)); err != nil || string(b) != want {
			t.Errorf("%s marks format %q, %v; want %q", d, b, err, want)
		}
	}

	if err := os.Remove(filepath.Join(copyDir, storeformat.FileName)); err != nil {
		t.Fatal(err)
	}
	c, err := open(copyDir)
	if err != nil {
		t.Fatalf("a directory without a marker: %v", err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}

	if err := os.WriteFile(filepath.Join(dir, storeformat.FileName), []byte(strconv.FormatInt(m.Version+1, 10)), 0o644); err != nil {
		t.Fatal(err)
	}
	var unchanged func(t *testing.T)
	if newer != nil {
		unchanged = newer(t, dir)
	}
	s, err = open(dir)
	if err == nil {
		s.Close()
	}
	var tooNew *storeformat.TooNewError
	if !errors.As(err, &tooNew) || tooNew.Store != m.Store+" format" || tooNew.Stored != m.Version+1 || tooNew.Binary != m.Version {
		t.Fatalf("a store of format %d opened by a binary of format %d: %v, want a TooNewError", m.Version+1, m.Version, err)
	}
	if unchanged != nil {
		unchanged(t)
	}
}
