package sqldb

import (
	"context"
	"database/sql"
	"fmt"
)

// BackupSQLite writes a consistent copy of the SQLite database db to path,
// which must not exist, with VACUUM INTO: one read transaction, so writers
// (WAL mode) go on while it runs, and the copy is compact and needs no WAL.
func BackupSQLite(ctx context.Context, db *sql.DB, path string) error {
	if _, err := db.ExecContext(ctx, "VACUUM INTO ?", path); err != nil {
		return fmt.Errorf("sqlite: backup to %s: %w", path, err)
	}
	return nil
}
