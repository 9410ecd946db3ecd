package accounts

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/sightlinehq/sightline/platform/backup"
)

// Backup copies the embedded database into dir as accounts.db (nothing
// for PostgreSQL, which is backed up with its own tools).
func (s *Service) Backup(ctx context.Context, dir string) error {
	b, ok := s.store.(backup.Backuper)
	if !ok {
		return nil
	}
	if err := b.Backup(ctx, filepath.Join(dir, "accounts.db")); err != nil {
		return fmt.Errorf("accounts: %w", err)
	}
	return nil
}
