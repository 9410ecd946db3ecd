package sqldb

import "io/fs"

// Migrations are a backend's goose SQL migrations.
type Migrations struct {
	// FS holds the migration files under Dir (an embed.FS).
	FS  fs.FS
	Dir string
	// Table is goose's version table ("" for goose's default): services
	// that may share a database each keep their own.
	Table string
}
