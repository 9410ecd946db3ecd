// Package storeformat is how an embedded store marks the version of what
// it writes, so that a binary older than the data refuses it instead of
// misreading it (a downgrade): TooNewError is the one message every store
// gives, and Marker is the version file for stores that have no version of
// their own (Pebble, the spool).
package storeformat

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/sightlinehq/sightline/platform/durablefile"
)

// TooNewError reports state written by a newer Sightline than this binary.
type TooNewError struct {
	// Store names the store and what is versioned ("accounts schema",
	// "recordings format").
	Store          string
	Stored, Binary int64
}

func (e *TooNewError) Error() string {
	return fmt.Sprintf("written by a newer Sightline (%s %d, this binary knows %d): run that release or restore a backup taken before the upgrade",
		e.Store, e.Stored, e.Binary)
}

// Check returns a TooNewError when stored is above known.
func Check(store string, stored, known int64) error {
	if stored > known {
		return &TooNewError{Store: store, Stored: stored, Binary: known}
	}
	return nil
}

// FileName is the marker's name in a store's directory.
const FileName = "FORMAT"

// Marker is the format version file of a store directory.
type Marker struct {
	// Store names the store in errors ("recordings").
	Store string
	// Version is the format this binary writes (1 is the first; a
	// directory without the file holds version 1, written before markers).
	Version int64
}

// Open checks the marker in dir (creating dir) and records m.Version
// there: a newer version is refused with a TooNewError; an older or
// missing one is what this binary reads (its store upgrades it, if it
// must, before writing), so it is replaced.
func (m Marker) Open(dir string) error {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return fmt.Errorf("%s: create %s: %w", m.Store, dir, err)
	}
	path := filepath.Join(dir, FileName)
	stored := int64(1)
	b, err := os.ReadFile(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return fmt.Errorf("%s: read %s: %w", m.Store, path, err)
	default:
		stored, err = strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
		if err != nil || stored < 1 {
			return fmt.Errorf("%s: %s holds %q, not a format version", m.Store, path, strings.TrimSpace(string(b)))
		}
	}
	if err := Check(m.Store+" format", stored, m.Version); err != nil {
		return fmt.Errorf("%s in %s: %w", m.Store, dir, err)
	}
	if b != nil && stored == m.Version {
		return nil
	}
	return m.Write(dir)
}

// Write records m.Version in dir: in a store's directory, or in a copy
// of it that a backup made without the marker (a Pebble checkpoint).
func (m Marker) Write(dir string) error {
	path := filepath.Join(dir, FileName)
	if err := durablefile.Write(path, []byte(strconv.FormatInt(m.Version, 10)+"\n"), 0o644); err != nil {
		return fmt.Errorf("%s: write %s: %w", m.Store, path, err)
	}
	return nil
}
