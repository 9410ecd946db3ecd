package sqlite

import (
	"context"

	"github.com/sightlinehq/sightline/platform/sqldb"
)

// Backup writes a consistent copy of the database to path, which must not
// exist, while the store keeps serving.
func (s *Store) Backup(ctx context.Context, path string) error {
	return sqldb.BackupSQLite(ctx, s.db, path)
}
