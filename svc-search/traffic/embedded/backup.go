package embedded

import (
	"context"

	"github.com/sightlinehq/sightline/platform/backup"
)

// Backup writes a consistent copy of the store to dir, which must not
// exist (backup.Pebble: a checkpoint); the in-memory columns are rebuilt
// from Pebble when a site is first queried.
func (s *Store) Backup(_ context.Context, dir string) error {
	if err := s.enter(); err != nil {
		return err
	}
	defer s.life.RUnlock()
	if err := backup.Pebble(s.db, dir); err != nil {
		return err
	}
	// The checkpoint leaves out the format marker.
	return format().Write(dir)
}
