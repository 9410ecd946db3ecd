// Package backup is the format of a Sightline backup: a directory laid out
// like a data directory (one entry per store: accounts.db, recordings/,
// spool/, …) and a manifest.json naming every file with its size and
// SHA-256. The running process writes the stores into a staging directory
// (each store's own Backup method) and streams it as a tar whose last
// entry is the manifest; Receive writes it to the backup directory and
// checks every file against the manifest; Restore checks a backup again
// and places its stores in a data directory.
package backup

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// Format is the version of the backup layout this build writes and the
// newest it reads. Bump it when a store's layout changes in a way an older
// build cannot open.
const Format = 1

// ManifestName is the manifest's file name in a backup directory.
const ManifestName = "manifest.json"

// Manifest describes a backup.
type Manifest struct {
	Format  int       `json:"format"`
	Version string    `json:"version"` // the Sightline build that wrote it
	Created time.Time `json:"created"`
	// Took is how long the stores took to copy, in the running process.
	Took   string  `json:"took"`
	Stores []Store `json:"stores"`
}

// Store is one top-level entry of the backup (a store's file or directory,
// named as in the data directory).
type Store struct {
	Name  string `json:"name"`
	Bytes int64  `json:"bytes"`
	Files []File `json:"files"`
}

// File is one regular file, by its slash-separated path in the backup.
type File struct {
	Path   string `json:"path"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

func hashFile(path string) (File, error) {
	f, err := os.Open(path)
	if err != nil {
		return File{}, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return File{}, fmt.Errorf("read %s: %w", path, err)
	}
	return File{Size: n, SHA256: hex.EncodeToString(h.Sum(nil))}, nil
}

// files lists every file of the manifest by path.
func (m Manifest) files() map[string]File {
	out := map[string]File{}
	for _, s := range m.Stores {
		for _, f := range s.Files {
			out[f.Path] = f
		}
	}
	return out
}

// check refuses a manifest this build cannot read or whose paths leave
// the backup directory.
func (m Manifest) check() error {
	if m.Format > Format {
		return fmt.Errorf("backup: written by Sightline %s in backup format %d; this build (format %d) cannot read it: restore it with Sightline %s or newer", m.Version, m.Format, Format, m.Version)
	}
	if m.Format < 1 {
		return fmt.Errorf("backup: manifest has no valid format (%d)", m.Format)
	}
	if len(m.Stores) == 0 {
		return errors.New("backup: manifest lists no store")
	}
	for _, s := range m.Stores {
		if !validName(s.Name) {
			return fmt.Errorf("backup: manifest names an invalid store %q", s.Name)
		}
		for _, f := range s.Files {
			if !validPath(f.Path) || (f.Path != s.Name && !strings.HasPrefix(f.Path, s.Name+"/")) {
				return fmt.Errorf("backup: manifest names an invalid file %q in store %q", f.Path, s.Name)
			}
		}
	}
	return nil
}

func validName(name string) bool {
	return name != "" && name != "." && name != ".." && name != ManifestName && !strings.ContainsAny(name, `/\`)
}

// validPath accepts a clean, relative, slash-separated path.
func validPath(p string) bool {
	return p != "" && filepath.IsLocal(filepath.FromSlash(p)) && p == filepath.ToSlash(filepath.Clean(filepath.FromSlash(p))) && !strings.Contains(p, `\`)
}

// ReadManifest reads and checks dir's manifest.
func ReadManifest(dir string) (Manifest, error) {
	var m Manifest
	b, err := os.ReadFile(filepath.Join(dir, ManifestName))
	if errors.Is(err, fs.ErrNotExist) {
		return m, fmt.Errorf("backup: %s has no %s: not a backup, or one that did not finish", dir, ManifestName)
	}
	if err != nil {
		return m, fmt.Errorf("backup: %w", err)
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return m, fmt.Errorf("backup: %s: %w", ManifestName, err)
	}
	return m, m.check()
}

// Verify reads dir's manifest and checks every file it names (size and
// SHA-256), and that the stores hold no file it does not name.
func Verify(dir string) (Manifest, error) {
	m, err := ReadManifest(dir)
	if err != nil {
		return m, err
	}
	want := m.files()
	var errs []error
	for _, s := range m.Stores {
		root := filepath.Join(dir, s.Name)
		err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() {
				return nil
			}
			rel, err := filepath.Rel(dir, path)
			if err != nil {
				return err
			}
			if _, ok := want[filepath.ToSlash(rel)]; !ok {
				errs = append(errs, fmt.Errorf("%s: not in the manifest", filepath.ToSlash(rel)))
			}
			return nil
		})
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", s.Name, err))
		}
	}
	paths := make([]string, 0, len(want))
	for p := range want {
		paths = append(paths, p)
	}
	slices.Sort(paths)
	for _, p := range paths {
		f := want[p]
		got, err := hashFile(filepath.Join(dir, filepath.FromSlash(p)))
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("%s: %w", p, err))
		case got.Size != f.Size:
			errs = append(errs, fmt.Errorf("%s: %d bytes, the manifest says %d", p, got.Size, f.Size))
		case got.SHA256 != f.SHA256:
			errs = append(errs, fmt.Errorf("%s: checksum mismatch (damaged or changed since the backup)", p))
		}
	}
	if len(errs) > 0 {
		return m, fmt.Errorf("backup: %s does not match its manifest: %w", dir, errors.Join(errs...))
	}
	return m, nil
}

// Backuper is a store that writes a consistent copy of itself to path
// (which must not exist yet) while it goes on serving.
type Backuper interface {
	Backup(ctx context.Context, path string) error
}
