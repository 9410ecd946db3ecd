package blob_test

import (
	"context"
	"io"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sightlinehq/sightline/blob"
	"github.com/sightlinehq/sightline/blob/fsblob"
)

func openFS(t *testing.T, dir string) *fsblob.Store {
	t.Helper()
	s, err := fsblob.Open(fsblob.Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Error(err)
		}
	})
	return s
}

// TestCopy: every object arrives with its bytes and content type, and
// what dst held under other keys stays.
func TestCopy(t *testing.T) {
	ctx := context.Background()
	src, dst := openFS(t, filepath.Join(t.TempDir(), "src")), openFS(t, filepath.Join(t.TempDir(), "dst"))
	objects := map[string][2]string{
		"site/1/a.css":       {"body{color:red}", "text/css"},
		"site/1/fonts/b.ttf": {strings.Repeat("\x00font", 1000), "font/ttf"},
		"site/2/c.png":       {"\x89PNG", "image/png"},
	}
	for key, o := range objects {
		if err := src.Put(ctx, key, strings.NewReader(o[0]), int64(len(o[0])), o[1]); err != nil {
			t.Fatal(err)
		}
	}
	if err := dst.Put(ctx, "kept", strings.NewReader("x"), 1, ""); err != nil {
		t.Fatal(err)
	}
	n, bytes, err := blob.Copy(ctx, dst, src)
	if err != nil || n != 3 || bytes != int64(15+5000+4) {
		t.Fatalf("Copy = %d objects, %d bytes, %v; want 3, %d", n, bytes, err, 15+5000+4)
	}
	for key, o := range objects {
		r, info, err := dst.Get(ctx, key)
		if err != nil {
			t.Fatalf("%s: %v", key, err)
		}
		b, err := io.ReadAll(r)
		r.Close()
		if err != nil || string(b) != o[0] || info.ContentType != o[1] {
			t.Errorf("%s copied as %.20q (%s), %v; want %.20q (%s)", key, b, info.ContentType, err, o[0], o[1])
		}
	}
	if _, err := dst.Stat(ctx, "kept"); err != nil {
		t.Errorf("Copy lost dst's own object: %v", err)
	}
}
