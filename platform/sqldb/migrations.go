package sqldb

import (
	"context"
	"database/sql"
	"fmt"
	"io/fs"

	"github.com/pressly/goose/v3"
)

// Migrations are a backend's goose SQL migrations.
type Migrations struct {
	// FS holds the migration files under Dir (an embed.FS).
	FS  fs.FS
	Dir string
	// Table is goose's version table ("" for goose's default): services
	// that may share a database each keep their own.
	Table string
}

// up applies the migrations to db with goose in dialect; backend names the
// database in errors ("postgres"), extra adds provider options.
func (m Migrations) up(ctx context.Context, db *sql.DB, dialect goose.Dialect, backend string, extra ...goose.ProviderOption) error {
	dir, err := fs.Sub(m.FS, m.Dir)
	if err != nil {
		return fmt.Errorf("%s: migrations: %w", backend, err)
	}
	opts := append([]goose.ProviderOption{goose.WithDisableGlobalRegistry(true)}, extra...)
	if m.Table != "" {
		opts = append(opts, goose.WithTableName(m.Table))
	}
	pr, err := goose.NewProvider(dialect, db, dir, opts...)
	if err != nil {
		return fmt.Errorf("%s: migrations: %w", backend, err)
	}
	if _, err := pr.Up(ctx); err != nil {
		return fmt.Errorf("%s: migrate: %w", backend, err)
	}
	return nil
}
