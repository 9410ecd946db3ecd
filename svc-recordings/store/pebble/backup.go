package pebble

import (
	"context"

	"github.com/sightlinehq/sightline/platform/backup"
)

// Backup writes a consistent copy of the store to dir, which must not
// exist (backup.Pebble: a checkpoint); the store keeps serving.
func (s *Store) Backup(_ context.Context, dir string) error {
	return backup.Pebble(s.db, dir)
}
