package backup

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// ErrInUse means a running process holds a store of the data directory.
var ErrInUse = errors.New("in use by a running process")

// Restore verifies the backup in from and places its stores in dataDir.
// The processes using dataDir must be stopped: a directory whose stores
// are locked is refused. A data directory that is not empty is refused
// unless force, which replaces the stores the backup holds (an SQLite
// file's -wal and -shm with it) and leaves every other entry alone.
func Restore(from, dataDir string, force bool) (Manifest, error) {
	m, err := Verify(from)
	if err != nil {
		return m, err
	}
	if err := os.MkdirAll(dataDir, 0o750); err != nil {
		return m, fmt.Errorf("restore: %w", err)
	}
	if err := checkNotInUse(dataDir); err != nil {
		return m, err
	}
	ents, err := os.ReadDir(dataDir)
	if err != nil {
		return m, fmt.Errorf("restore: %w", err)
	}
	if len(ents) > 0 && !force {
		names := make([]string, 0, len(ents))
		for _, e := range ents {
			names = append(names, e.Name())
		}
		return m, fmt.Errorf("restore: %s is not empty (%s): give an empty data directory, or --force to replace the stores the backup holds", dataDir, strings.Join(names, ", "))
	}
	// Copied beside the stores first (same file system), then each renamed
	// into place, so a restore cut short leaves whole stores only.
	stage, err := os.MkdirTemp(dataDir, ".restore-")
	if err != nil {
		return m, fmt.Errorf("restore: %w", err)
	}
	defer os.RemoveAll(stage)
	for _, f := range m.files() {
		if err := copyChecked(filepath.Join(from, filepath.FromSlash(f.Path)), filepath.Join(stage, filepath.FromSlash(f.Path)), f); err != nil {
			return m, fmt.Errorf("restore: %w", err)
		}
	}
	if err := syncTree(stage); err != nil {
		return m, fmt.Errorf("restore: %w", err)
	}
	for _, s := range m.Stores {
		target := filepath.Join(dataDir, s.Name)
		for _, suffix := range []string{"", "-wal", "-shm", "-journal"} {
			if err := os.RemoveAll(target + suffix); err != nil {
				return m, fmt.Errorf("restore: replace %s: %w", s.Name, err)
			}
		}
		if err := os.Rename(filepath.Join(stage, s.Name), target); err != nil {
			return m, fmt.Errorf("restore: place %s: %w", s.Name, err)
		}
	}
	if err := syncTree(dataDir); err != nil {
		return m, fmt.Errorf("restore: %w", err)
	}
	return m, nil
}

// copyChecked copies src to dst and fails unless what it copied is f.
func copyChecked(src, dst string, f File) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	got, err := writeNew(dst, in)
	if err != nil {
		return fmt.Errorf("copy %s: %w", f.Path, err)
	}
	if got.Size != f.Size || got.SHA256 != f.SHA256 {
		return fmt.Errorf("%s changed while it was restored", f.Path)
	}
	return nil
}

// checkNotInUse refuses a data directory a process has open: Sightline's
// stores each hold a LOCK file (the spools and file blobs with flock,
// Pebble with a POSIX record lock), so any lock held on one means a
// process is running on it.
func checkNotInUse(dataDir string) error {
	return filepath.WalkDir(dataDir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if rel, _ := filepath.Rel(dataDir, path); strings.Count(rel, string(filepath.Separator)) >= 2 {
				return fs.SkipDir // stores keep their LOCK at their top
			}
			return nil
		}
		if d.Name() != "LOCK" {
			return nil
		}
		locked, err := lockHeld(path)
		if err != nil {
			return fmt.Errorf("restore: check %s: %w", path, err)
		}
		if locked {
			rel, _ := filepath.Rel(dataDir, filepath.Dir(path))
			return fmt.Errorf("restore: %s: %s is %w: stop it first", dataDir, rel, ErrInUse)
		}
		return nil
	})
}

// lockHeld reports whether another process holds path's flock or a POSIX
// write lock on it.
func lockHeld(path string) (bool, error) {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return false, err
	}
	defer f.Close()
	fl := syscall.Flock_t{Type: syscall.F_WRLCK, Whence: io.SeekStart}
	if err := syscall.FcntlFlock(f.Fd(), syscall.F_GETLK, &fl); err != nil {
		return false, err
	}
	if fl.Type != syscall.F_UNLCK {
		return true, nil
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return true, nil
		}
		return false, err
	}
	return false, syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
}
