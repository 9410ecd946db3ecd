// Package durablefile writes small files (cursors, keys, secrets) so that
// a crash leaves the old content or the new, never a torn or empty file:
// the data goes to a temporary file beside the target, is fsync'd, and is
// then renamed (or linked) into place and the directory fsync'd.
package durablefile

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// Write replaces path with data.
func Write(path string, data []byte, perm os.FileMode) error {
	tmp, err := writeAside(path, data, perm)
	if err != nil {
		return err
	}
	defer os.Remove(tmp)
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("durablefile: %w", err)
	}
	return SyncDir(filepath.Dir(path))
}

// Create writes data to path unless the file exists, and returns what path
// holds afterwards: of several processes creating it at once, every one
// reads the first one's data.
func Create(path string, data []byte, perm os.FileMode) ([]byte, error) {
	tmp, err := writeAside(path, data, perm)
	if err != nil {
		return nil, err
	}
	defer os.Remove(tmp)
	if err := os.Link(tmp, path); err != nil && !errors.Is(err, os.ErrExist) {
		return nil, fmt.Errorf("durablefile: %w", err)
	}
	if err := SyncDir(filepath.Dir(path)); err != nil {
		return nil, err
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("durablefile: %w", err)
	}
	return b, nil
}

// writeAside writes data to a new temporary file in path's directory and
// fsyncs it.
func writeAside(path string, data []byte, perm os.FileMode) (string, error) {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return "", fmt.Errorf("durablefile: %w", err)
	}
	err = f.Chmod(perm)
	if err == nil {
		_, err = f.Write(data)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(f.Name())
		return "", fmt.Errorf("durablefile: write %s: %w", filepath.Base(path), err)
	}
	return f.Name(), nil
}

// SyncDir fsyncs a directory, making the entries created, renamed or
// removed in it durable.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("durablefile: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("durablefile: sync %s: %w", dir, err)
	}
	return nil
}
