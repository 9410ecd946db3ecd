package pebble

import (
	"context"
	"fmt"

	"github.com/cockroachdb/pebble/v2"
)

// Backup writes a consistent copy of the store to dir, which must not
// exist: a Pebble checkpoint (sstables hard-linked when dir is on the same
// file system), after flushing the WAL so every write acknowledged before
// the call is in it. The store keeps serving meanwhile.
func (s *Store) Backup(ctx context.Context, dir string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := s.db.Checkpoint(dir, pebble.WithFlushedWAL()); err != nil {
		return fmt.Errorf("pebble: checkpoint to %s: %w", dir, err)
	}
	return nil
}
