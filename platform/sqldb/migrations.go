package sqldb

import (
	"context"
	"database/sql"
	"fmt"
	"io/fs"

	"github.com/pressly/goose/v3"

	"github.com/sightlinehq/sightline/platform/storeformat"
)

// Migrations are a backend's goose SQL migrations.
type Migrations struct {
	// FS holds the migration files under Dir (an embed.FS).
	FS  fs.FS
	Dir string
	// Table is goose's version table ("" for goose's default): services
	// that may share a database each keep their own.
	Table string
	// Name names the schema in the refusal of a newer database
	// ("accounts": "accounts schema 7"); "" names it by the table.
	Name string
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
	// Goose runs against a database ahead of its migrations without a
	// word; a binary older than its database would then misread it.
	have, err := pr.GetDBVersion(ctx)
	if err != nil {
		return fmt.Errorf("%s: migrations: database version: %w", backend, err)
	}
	if err := storeformat.Check(m.name()+" schema", have, latest(pr.ListSources())); err != nil {
		return fmt.Errorf("%s: %w", backend, err)
	}
	if _, err := pr.Up(ctx); err != nil {
		return fmt.Errorf("%s: migrate: %w", backend, err)
	}
	return nil
}

func (m Migrations) name() string {
	switch {
	case m.Name != "":
		return m.Name
	case m.Table != "":
		return m.Table
	}
	return "database"
}

// latest is the highest version of the migrations.
func latest(sources []*goose.Source) int64 {
	var v int64
	for _, s := range sources {
		v = max(v, s.Version)
	}
	return v
}
