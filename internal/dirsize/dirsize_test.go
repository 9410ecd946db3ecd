package dirsize

import (
	"os"
	"path/filepath"
	"testing"
)

func TestOf(t *testing.T) {
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "a", "b"), 0o755); err != nil {
		t.Fatal(err)
	}
	for path, n := range map[string]int{"x": 10, "a/y": 200, "a/b/z": 3000, "a/b/empty": 0} {
		if err := os.WriteFile(filepath.Join(root, path), make([]byte, n), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if got, err := Of(root); err != nil || got != 3210 {
		t.Fatalf("Of = %d, %v; want 3210", got, err)
	}
	if _, err := Of(filepath.Join(root, "missing")); err == nil {
		t.Fatal("a missing directory has a size")
	}
}
