package spool

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/sightlinehq/sightline/platform/storeformat"
)

// TestFormatMarker: a spool directory and its backup are marked with
// FormatVersion; a spool marked by a newer Sightline is refused before
// recovery touches a segment, and one written before markers opens with
// its records.
func TestFormatMarker(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, err := Open(Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Append(ctx, []byte("accepted")); err != nil {
		t.Fatal(err)
	}
	backupDir := filepath.Join(t.TempDir(), "spool")
	if err := s.Backup(ctx, backupDir); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	want := strconv.Itoa(FormatVersion) + "\n"
	for _, d := range []string{dir, backupDir} {
		if b, err := os.ReadFile(filepath.Join(d, storeformat.FileName)); err != nil || string(b) != want {
			t.Errorf("%s marks format %q, %v; want %q", d, b, err, want)
		}
	}

	// A newer spool: refused, its segment untouched (recovery would
	// rewrite a segment whose header it does not know).
	seg := filepath.Join(dir, "0000000000000001.seg")
	newer := []byte("SLSPOOL9 a record of a newer format")
	if err := os.WriteFile(seg, newer, 0o640); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, storeformat.FileName), []byte(strconv.Itoa(FormatVersion+1)), 0o644); err != nil {
		t.Fatal(err)
	}
	s, err = Open(Options{Dir: dir})
	if err == nil {
		s.Close()
	}
	var tooNew *storeformat.TooNewError
	if !errors.As(err, &tooNew) || tooNew.Store != "spool format" || tooNew.Stored != FormatVersion+1 {
		t.Fatalf("a spool of a newer format: %v, want a TooNewError", err)
	}
	if b, _ := os.ReadFile(seg); !bytes.Equal(b, newer) {
		t.Errorf("the refused open changed the newer segment to %q", b)
	}

	// Before markers: the backup without its marker opens with the record.
	if err := os.Remove(filepath.Join(backupDir, storeformat.FileName)); err != nil {
		t.Fatal(err)
	}
	b, err := Open(Options{Dir: backupDir})
	if err != nil {
		t.Fatalf("a spool without a marker: %v", err)
	}
	defer b.Close()
	if st := b.Stats(); st.Records != 1 {
		t.Errorf("the spool without a marker holds %d records, want 1", st.Records)
	}
}
