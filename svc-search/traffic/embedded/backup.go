package embedded

import (
	"context"
	"fmt"

	"github.com/cockroachdb/pebble/v2"
)

// Backup writes a consistent copy of the store to dir, which must not
// exist: a Pebble checkpoint with the WAL flushed first (the in-memory
// columns are rebuilt from Pebble when a site is first queried).
func (s *Store) Backup(ctx context.Context, dir string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := s.enter(); err != nil {
		return err
	}
	defer s.life.RUnlock()
	if err := s.db.Checkpoint(dir, pebble.WithFlushedWAL()); err != nil {
		return fmt.Errorf("traffic embedded: checkpoint to %s: %w", dir, err)
	}
	return nil
}
