package notify

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/sightlinehq/sightline/platform/backup"
	"github.com/sightlinehq/sightline/platform/durablefile"
)

// Backup copies the embedded database (River's queue and notify's tables)
// into dir as notify.db, and the signing key as notify.key when it lives
// in the data directory (nothing of PostgreSQL, which is backed up with
// its own tools, nor of notify.secret-file). The mail outbox directory of
// a development setup is not copied.
func (s *Service) Backup(ctx context.Context, dir string) error {
	if b, ok := s.store.(backup.Backuper); ok {
		if err := b.Backup(ctx, filepath.Join(dir, "notify.db")); err != nil {
			return fmt.Errorf("notify: %w", err)
		}
	}
	if s.cfg.SecretFile == "" {
		if err := durablefile.Write(filepath.Join(dir, "notify.key"), s.key, 0o600); err != nil {
			return fmt.Errorf("notify: backup key: %w", err)
		}
	}
	return nil
}
