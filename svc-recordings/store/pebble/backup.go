package pebble

import (
	"context"

	"github.com/sightlinehq/sightline/platform/backup"
)

// Backup writes a consistent copy of the store to dir, which must not
// exist (backup.Pebble: a checkpoint, and the format marker the checkpoint
// leaves out); the store keeps serving.
func (s *Store) Backup(_ context.Context, dir string) error {
	if err := backup.Pebble(s.db, dir); err != nil {
		return err
	}
	return format().Write(dir)
}
