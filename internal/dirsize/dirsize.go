// Package dirsize measures what a directory holds on disk, for the
// benchmarks that report bytes per stored unit.
package dirsize

import (
	"fmt"
	"io/fs"
	"path/filepath"
)

// Of is the total size of the files under root (root itself when it is a
// file). Nothing should be writing there: a file that vanishes during the
// walk is an error.
func Of(root string) (int64, error) {
	var total int64
	err := filepath.WalkDir(root, func(_ string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		total += fi.Size()
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("dirsize: %w", err)
	}
	return total, nil
}
