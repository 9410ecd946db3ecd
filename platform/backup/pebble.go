package backup

import (
	"fmt"

	"github.com/cockroachdb/pebble/v2"
)

// Pebble writes a consistent copy of db to dir, which must not exist: a
// checkpoint (sstables hard-linked when dir is on the same file system),
// after flushing the WAL so every write acknowledged before the call is in
// it. db keeps serving meanwhile.
func Pebble(db *pebble.DB, dir string) error {
	if err := db.Checkpoint(dir, pebble.WithFlushedWAL()); err != nil {
		return fmt.Errorf("pebble checkpoint to %s: %w", dir, err)
	}
	return nil
}
