package backup

import (
	"archive/tar"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/sightlinehq/sightline/platform/durablefile"
)

// maxManifestBytes bounds the manifest a stream may carry.
const maxManifestBytes = 64 << 20

// Stream writes the staging directory stage to w as a tar of its regular
// files, hashing each as it goes, and ends with the manifest (Format,
// version, created, took, every file's size and SHA-256). The stores must
// not change while it runs: stage holds the stores' copies, not the
// stores.
func Stream(w io.Writer, stage, version string, created time.Time, took time.Duration) (Manifest, error) {
	m := Manifest{Format: Format, Version: version, Created: created.UTC(), Took: took.Round(time.Millisecond).String()}
	tw := tar.NewWriter(w)
	entries, err := os.ReadDir(stage)
	if err != nil {
		return m, fmt.Errorf("backup: read %s: %w", stage, err)
	}
	for _, e := range entries {
		st := Store{Name: e.Name(), Files: []File{}}
		err := filepath.WalkDir(filepath.Join(stage, e.Name()), func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			if !d.Type().IsRegular() {
				return fmt.Errorf("%s: not a regular file or directory", path)
			}
			rel, err := filepath.Rel(stage, path)
			if err != nil {
				return err
			}
			f, err := streamFile(tw, path, filepath.ToSlash(rel))
			if err != nil {
				return err
			}
			st.Files = append(st.Files, f)
			st.Bytes += f.Size
			return nil
		})
		if err != nil {
			return m, fmt.Errorf("backup: %s: %w", e.Name(), err)
		}
		if len(st.Files) > 0 { // an empty store is made again when it opens
			m.Stores = append(m.Stores, st)
		}
	}
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return m, fmt.Errorf("backup: manifest: %w", err)
	}
	if err := tw.WriteHeader(&tar.Header{Name: ManifestName, Mode: 0o600, Size: int64(len(b)), ModTime: created, Typeflag: tar.TypeReg}); err != nil {
		return m, fmt.Errorf("backup: write manifest: %w", err)
	}
	if _, err := tw.Write(b); err != nil {
		return m, fmt.Errorf("backup: write manifest: %w", err)
	}
	if err := tw.Close(); err != nil {
		return m, fmt.Errorf("backup: finish stream: %w", err)
	}
	return m, nil
}

func streamFile(tw *tar.Writer, path, name string) (File, error) {
	f, err := os.Open(path)
	if err != nil {
		return File{}, err
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return File{}, err
	}
	if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o600, Size: info.Size(), ModTime: info.ModTime(), Typeflag: tar.TypeReg}); err != nil {
		return File{}, fmt.Errorf("write %s: %w", name, err)
	}
	h := sha256.New()
	// Exactly the size in the header: a copy that changed under us fails
	// here rather than producing a tar that lies.
	if _, err := io.CopyN(io.MultiWriter(tw, h), f, info.Size()); err != nil {
		return File{}, fmt.Errorf("copy %s: %w", name, err)
	}
	return File{Path: name, Size: info.Size(), SHA256: hex.EncodeToString(h.Sum(nil))}, nil
}

// Receive reads a stream written by Stream into dest, which must be
// missing or empty, and checks every file against the manifest at its end.
// The manifest is written last (and durably, with every file): a
// directory without one is not a backup. On failure what it wrote is
// removed.
func Receive(r io.Reader, dest string) (_ Manifest, err error) {
	if err := emptyDir(dest); err != nil {
		return Manifest{}, err
	}
	defer func() {
		if err != nil {
			err = errors.Join(err, empty(dest))
		}
	}()
	got := map[string]File{}
	var m *Manifest
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return Manifest{}, fmt.Errorf("backup: read stream: %w", err)
		}
		if m != nil {
			return Manifest{}, fmt.Errorf("backup: stream has %q after the manifest", h.Name)
		}
		if h.Typeflag != tar.TypeReg {
			return Manifest{}, fmt.Errorf("backup: stream entry %q is not a regular file", h.Name)
		}
		if h.Name == ManifestName {
			if h.Size > maxManifestBytes {
				return Manifest{}, fmt.Errorf("backup: manifest of %d bytes is over %d", h.Size, maxManifestBytes)
			}
			m = new(Manifest)
			if err := json.NewDecoder(io.LimitReader(tr, h.Size)).Decode(m); err != nil {
				return Manifest{}, fmt.Errorf("backup: manifest: %w", err)
			}
			continue
		}
		if !validPath(h.Name) {
			return Manifest{}, fmt.Errorf("backup: stream entry has an invalid path %q", h.Name)
		}
		if _, dup := got[h.Name]; dup {
			return Manifest{}, fmt.Errorf("backup: stream has %q twice", h.Name)
		}
		f, err := receiveFile(tr, dest, h.Name)
		if err != nil {
			return Manifest{}, err
		}
		got[h.Name] = f
	}
	if m == nil {
		return Manifest{}, errors.New("backup: stream ended without a manifest (the server stopped before the backup finished)")
	}
	if err := m.check(); err != nil {
		return *m, err
	}
	want := m.files()
	if len(want) != len(got) {
		return *m, fmt.Errorf("backup: stream has %d files, its manifest names %d", len(got), len(want))
	}
	for p, f := range want {
		if g, ok := got[p]; !ok || g != f {
			return *m, fmt.Errorf("backup: %s does not match the manifest", p)
		}
	}
	if err := syncTree(dest); err != nil {
		return *m, err
	}
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return *m, fmt.Errorf("backup: manifest: %w", err)
	}
	if err := durablefile.Write(filepath.Join(dest, ManifestName), b, 0o600); err != nil {
		return *m, fmt.Errorf("backup: write manifest: %w", err)
	}
	return *m, nil
}

func receiveFile(r io.Reader, dest, name string) (File, error) {
	f, err := writeNew(filepath.Join(dest, filepath.FromSlash(name)), r)
	if err != nil {
		return File{}, fmt.Errorf("backup: write %s: %w", name, err)
	}
	f.Path = name
	return f, nil
}

// writeNew writes r to a new file at path (and its directory), fsyncs it
// and returns its size and SHA-256.
func writeNew(path string, r io.Reader) (File, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return File{}, err
	}
	out, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return File{}, err
	}
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(out, h), r)
	if err == nil {
		err = out.Sync()
	}
	return File{Size: n, SHA256: hex.EncodeToString(h.Sum(nil))}, errors.Join(err, out.Close())
}

// emptyDir creates dir, or accepts it when it exists and is empty.
func emptyDir(dir string) error {
	ents, err := os.ReadDir(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if err := os.MkdirAll(dir, 0o750); err != nil {
			return fmt.Errorf("backup: %w", err)
		}
		return nil
	case err != nil:
		return fmt.Errorf("backup: %w", err)
	case len(ents) > 0:
		return fmt.Errorf("backup: %s is not empty: give a new or empty directory", dir)
	}
	return nil
}

// empty removes what a failed Receive wrote into dir.
func empty(dir string) error {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	var errs []error
	for _, e := range ents {
		errs = append(errs, os.RemoveAll(filepath.Join(dir, e.Name())))
	}
	return errors.Join(errs...)
}

// syncTree fsyncs every directory under root, so the files' names are as
// durable as their contents.
func syncTree(root string) error {
	return filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return err
		}
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := f.Sync(); err != nil {
			return fmt.Errorf("backup: sync %s: %w", path, err)
		}
		return nil
	})
}
