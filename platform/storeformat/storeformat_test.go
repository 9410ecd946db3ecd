package storeformat_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sightlinehq/sightline/platform/storeformat"
)

func TestMarker(t *testing.T) {
	m := storeformat.Marker{Store: "recordings", Version: 2}
	read := func(dir string) string {
		t.Helper()
		b, err := os.ReadFile(filepath.Join(dir, storeformat.FileName))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}

	// A directory from before markers holds version 1: it opens and is
	// marked with this binary's version.
	dir := t.TempDir()
	if err := m.Open(dir); err != nil {
		t.Fatalf("no marker: %v", err)
	}
	if got := read(dir); got != "2\n" {
		t.Errorf("marker after open = %q, want %q", got, "2\n")
	}
	for _, v := range []string{"1\n", "2"} {
		if err := os.WriteFile(filepath.Join(dir, storeformat.FileName), []byte(v), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := m.Open(dir); err != nil {
			t.Errorf("marker %q: %v", v, err)
		}
	}

	// Newer: refused, with both versions and what to do; the marker stays.
	if err := os.WriteFile(filepath.Join(dir, storeformat.FileName), []byte("3\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	err := m.Open(dir)
	var tooNew *storeformat.TooNewError
	if !errors.As(err, &tooNew) || tooNew.Stored != 3 || tooNew.Binary != 2 {
		t.Fatalf("marker 3 opened by a binary of version 2: %v, want a TooNewError", err)
	}
	for _, want := range []string{"written by a newer Sightline", "recordings format 3, this binary knows 2", "restore a backup"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("refusal %q does not say %q", err, want)
		}
	}
	if got := read(dir); got != "3\n" {
		t.Errorf("a refused open rewrote the marker to %q", got)
	}

	// Garbage is an error, not version 1.
	for _, v := range []string{"", "x", "0", "-4", "99999999999999999999"} {
		if err := os.WriteFile(filepath.Join(dir, storeformat.FileName), []byte(v), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := m.Open(dir); err == nil || errors.As(err, &tooNew) {
			t.Errorf("marker %q: %v, want a plain error", v, err)
		}
	}
}

func TestCheck(t *testing.T) {
	if err := storeformat.Check("accounts schema", 6, 6); err != nil {
		t.Errorf("same version: %v", err)
	}
	if err := storeformat.Check("accounts schema", 5, 6); err != nil {
		t.Errorf("older version: %v", err)
	}
	err := storeformat.Check("accounts schema", 7, 6)
	want := "written by a newer Sightline (accounts schema 7, this binary knows 6): run that release or restore a backup taken before the upgrade"
	if err == nil || err.Error() != want {
		t.Errorf("newer version: %v, want %q", err, want)
	}
}
