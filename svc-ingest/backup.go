package ingest

import (
	"context"
	"fmt"
	"path/filepath"
)

// Backup copies the spools' undelivered records (and dead letters) into
// dir/spool and dir/spool-traffic, the data directory's default layout.
// Take it before recordings' and search's: a record the copy counts as
// delivered is already in their stores.
func (s *Service) Backup(ctx context.Context, dir string) error {
	if err := s.spool.Backup(ctx, filepath.Join(dir, "spool")); err != nil {
		return fmt.Errorf("ingest: %w", err)
	}
	if s.hitSpool != nil {
		if err := s.hitSpool.Backup(ctx, filepath.Join(dir, "spool-traffic")); err != nil {
			return fmt.Errorf("ingest: traffic %w", err)
		}
	}
	return nil
}
