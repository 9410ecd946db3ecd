package spool

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/sightlinehq/sightline/platform/storeformat/storeformattest"
)

// TestFormatMarker: the spool's marker (storeformattest), and a newer
// spool is refused before recovery rewrites a segment whose header it does
// not know.
func TestFormatMarker(t *testing.T) {
	storeformattest.Run(t, format(),
		func(dir string) (*Spool, error) {
			s, err := Open(Options{Dir: dir})
			if err == nil {
				err = s.Append(t.Context(), []byte("accepted"))
			}
			return s, err
		},
		func(s *Spool, dir string) error { return s.Backup(t.Context(), dir) },
		func(t *testing.T, dir string) func(t *testing.T) {
			seg := filepath.Join(dir, "0000000000000001.seg")
			newer := []byte("SLSPOOL9 a record of a newer format")
			if err := os.WriteFile(seg, newer, 0o640); err != nil {
				t.Fatal(err)
			}
			return func(t *testing.T) {
				if b, _ := os.ReadFile(seg); !bytes.Equal(b, newer) {
					t.Errorf("the refused open changed the newer segment to %q", b)
				}
			}
		})
}
