package backup

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// stage makes a staging directory like a process's: a file store, a
// directory store with a nested file, and an empty directory.
func stage(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	files := map[string]string{
		"accounts.db":            "sqlite bytes",
		"recordings/000001.sst":  strings.Repeat("sst", 1000),
		"recordings/MANIFEST-01": "manifest",
		"search/index/store/a":   "segment",
	}
	for name, body := range files {
		path := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(filepath.Join(dir, "outbox"), 0o750); err != nil {
		t.Fatal(err)
	}
	return dir
}

func streamed(t *testing.T, dir string) []byte {
	t.Helper()
	var buf bytes.Buffer
	if _, err := Stream(&buf, dir, "v1.2.3", time.Now(), time.Second); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestStreamReceiveVerifyRestore(t *testing.T) {
	src := stage(t)
	dst := filepath.Join(t.TempDir(), "backup")
	m, err := Receive(bytes.NewReader(streamed(t, src)), dst)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range m.Stores {
		names = append(names, s.Name)
	}
	if strings.Join(names, ",") != "accounts.db,recordings,search" {
		t.Errorf("stores %v, want accounts.db, recordings, search (an empty directory is no store)", names)
	}
	if m.Format != Format || m.Version != "v1.2.3" || m.Stores[1].Bytes != 3008 {
		t.Errorf("manifest %+v", m)
	}
	if _, err := Verify(dst); err != nil {
		t.Fatal(err)
	}

	data := t.TempDir()
	if _, err := Restore(dst, data, false); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"accounts.db", "recordings/000001.sst", "search/index/store/a"} {
		want, _ := os.ReadFile(filepath.Join(src, name))
		if got, err := os.ReadFile(filepath.Join(data, name)); err != nil || !bytes.Equal(got, want) {
			t.Errorf("restored %s = %.20q, %v", name, got, err)
		}
	}

	// Not empty: refused, then replaced with force, an SQLite file's
	// stale WAL with it, other entries kept.
	if _, err := Restore(dst, data, false); err == nil || !strings.Contains(err.Error(), "not empty") {
		t.Errorf("restore into a non-empty data dir: %v", err)
	}
	for name, body := range map[string]string{"accounts.db": "newer", "accounts.db-wal": "wal", "keep": "mine"} {
		if err := os.WriteFile(filepath.Join(data, name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := Restore(dst, data, true); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(data, "accounts.db")); string(b) != "sqlite bytes" {
		t.Errorf("forced restore left accounts.db = %q", b)
	}
	if _, err := os.Stat(filepath.Join(data, "accounts.db-wal")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("forced restore left accounts.db-wal: %v", err)
	}
	if b, _ := os.ReadFile(filepath.Join(data, "keep")); string(b) != "mine" {
		t.Errorf("forced restore touched another entry: %q", b)
	}

	// A store locked by a process (flock, as the spool and file blobs
	// take it) is refused, even with force.
	lock, err := os.OpenFile(filepath.Join(data, "recordings", "LOCK"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		t.Fatal(err)
	}
	if _, err := Restore(dst, data, true); !errors.Is(err, ErrInUse) {
		t.Errorf("restore into a locked data dir: %v, want ErrInUse", err)
	}
}

func TestVerifyRefuses(t *testing.T) {
	src := stage(t)
	fresh := func() string {
		dst := filepath.Join(t.TempDir(), "backup")
		if _, err := Receive(bytes.NewReader(streamed(t, src)), dst); err != nil {
			t.Fatal(err)
		}
		return dst
	}
	editManifest := func(dir string, edit func(*Manifest)) {
		var m Manifest
		b, _ := os.ReadFile(filepath.Join(dir, ManifestName))
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatal(err)
		}
		edit(&m)
		b, _ = json.Marshal(m)
		if err := os.WriteFile(filepath.Join(dir, ManifestName), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	cases := map[string]struct {
		damage func(dir string)
		want   string
	}{
		"changed byte": {func(dir string) {
			if err := os.WriteFile(filepath.Join(dir, "accounts.db"), []byte("sqlite bytez"), 0o600); err != nil {
				t.Fatal(err)
			}
		}, "checksum mismatch"},
		"truncated": {func(dir string) {
			if err := os.Truncate(filepath.Join(dir, "recordings", "000001.sst"), 10); err != nil {
				t.Fatal(err)
			}
		}, "10 bytes, the manifest says 3000"},
		"missing file": {func(dir string) { os.Remove(filepath.Join(dir, "search", "index", "store", "a")) }, "search/index/store/a"},
		"extra file": {func(dir string) {
			if err := os.WriteFile(filepath.Join(dir, "recordings", "x"), nil, 0o600); err != nil {
				t.Fatal(err)
			}
		}, "recordings/x: not in the manifest"},
		"no manifest":  {func(dir string) { os.Remove(filepath.Join(dir, ManifestName)) }, "not a backup"},
		"newer format": {func(dir string) { editManifest(dir, func(m *Manifest) { m.Format = Format + 1 }) }, "cannot read it: restore it with Sightline v1.2.3 or newer"},
		"path escapes": {func(dir string) {
			editManifest(dir, func(m *Manifest) { m.Stores[0].Files[0].Path = "../accounts.db" })
		}, "invalid file"},
		"foreign store": {func(dir string) {
			editManifest(dir, func(m *Manifest) { m.Stores[0].Files[0].Path = "search/index/store/a" })
		}, "invalid file"},
		"store is a dot": {func(dir string) { editManifest(dir, func(m *Manifest) { m.Stores[0].Name = ".." }) }, "invalid store"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			dir := fresh()
			c.damage(dir)
			_, err := Verify(dir)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Verify = %v, want an error saying %q", err, c.want)
			}
			if _, err := Restore(dir, t.TempDir(), false); err == nil {
				t.Error("Restore accepted what Verify refuses")
			}
		})
	}
}

// TestReceiveRefusesHostileStreams: what a stream may not carry is refused
// and nothing is left in the backup directory.
func TestReceiveRefusesHostileStreams(t *testing.T) {
	entry := func(tw *tar.Writer, h *tar.Header, body string) {
		h.Size = int64(len(body))
		if h.Typeflag == 0 {
			h.Typeflag = tar.TypeReg
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte(body)); err != nil {
			t.Fatal(err)
		}
	}
	manifest := func(files ...File) string {
		b, _ := json.Marshal(Manifest{Format: Format, Stores: []Store{{Name: "a", Files: files}}})
		return string(b)
	}
	okFile := File{Path: "a/f", Size: 1, SHA256: "ca978112ca1bbdcafac231b39a23dc4da786eff8147c4e72b9807785afee48bb"} // "a"
	cases := map[string]struct {
		write func(tw *tar.Writer)
		want  string
	}{
		"escaping path": {func(tw *tar.Writer) { entry(tw, &tar.Header{Name: "../evil"}, "x") }, "invalid path"},
		"absolute path": {func(tw *tar.Writer) { entry(tw, &tar.Header{Name: "/etc/evil"}, "x") }, "invalid path"},
		"symlink": {func(tw *tar.Writer) {
			entry(tw, &tar.Header{Name: "a/l", Typeflag: tar.TypeSymlink, Linkname: "/etc/passwd"}, "")
		}, "not a regular file"},
		"no manifest": {func(tw *tar.Writer) { entry(tw, &tar.Header{Name: "a/f"}, "a") }, "without a manifest"},
		"after the manifest": {func(tw *tar.Writer) {
			entry(tw, &tar.Header{Name: ManifestName}, manifest(okFile))
			entry(tw, &tar.Header{Name: "a/f"}, "a")
		}, "after the manifest"},
		"twice": {func(tw *tar.Writer) {
			entry(tw, &tar.Header{Name: "a/f"}, "a")
			entry(tw, &tar.Header{Name: "a/f"}, "a")
		}, "twice"},
		"content differs": {func(tw *tar.Writer) {
			entry(tw, &tar.Header{Name: "a/f"}, "b")
			entry(tw, &tar.Header{Name: ManifestName}, manifest(okFile))
		}, "does not match the manifest"},
		"file missing": {func(tw *tar.Writer) {
			entry(tw, &tar.Header{Name: ManifestName}, manifest(okFile))
		}, "has 0 files, its manifest names 1"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			var buf bytes.Buffer
			tw := tar.NewWriter(&buf)
			c.write(tw)
			if err := tw.Close(); err != nil {
				t.Fatal(err)
			}
			dst := t.TempDir()
			_, err := Receive(&buf, dst)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Receive = %v, want an error saying %q", err, c.want)
			}
			if ents, _ := os.ReadDir(dst); len(ents) > 0 {
				t.Errorf("a refused stream left %v", ents)
			}
		})
	}

	notEmpty := t.TempDir()
	if err := os.WriteFile(filepath.Join(notEmpty, "x"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Receive(bytes.NewReader(nil), notEmpty); err == nil || !strings.Contains(err.Error(), "not empty") {
		t.Errorf("Receive into a non-empty directory: %v", err)
	}
}
