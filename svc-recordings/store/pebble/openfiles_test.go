package pebble

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sightlinehq/sightline/svc-recordings/store"
	"github.com/sightlinehq/sightline/svc-recordings/store/storetest"
)

// openIn counts the process's open files inside dir (/proc/self/fd).
func openIn(t *testing.T, dir string) int {
	t.Helper()
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, fd := range fds {
		target, err := os.Readlink(filepath.Join("/proc/self/fd", fd.Name()))
		// A file a compaction replaced stays open until its last reader
		// lets go; only live files count.
		if err == nil && strings.HasPrefix(target, dir+"/") && !strings.HasSuffix(target, " (deleted)") {
			n++
		}
	}
	return n
}

// TestMaxOpenFiles: the store keeps about Options.MaxOpenFiles files open
// (Pebble's bound is soft), however many table and blob files reads go
// through; with Pebble's default (what a store took before it was bounded)
// the same reads hold every file open.
func TestMaxOpenFiles(t *testing.T) {
	const bound, flushes = 80, 120
	for _, tc := range []struct {
		name       string
		max        int
		wantAtMost int
	}{
		// Pebble's bound is soft: its cache is sharded, and what it
		// evicts a reader may still hold; settled, up to 93 of 80 here.
		{"bounded", bound, bound * 3 / 2},
		{"default", 1000, 1000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			dir := t.TempDir()
			dir, err := filepath.EvalSymlinks(dir)
			if err != nil {
				t.Fatal(err)
			}
			s, err := Open(dir, Options{Logger: quiet{}, MaxOpenFiles: tc.max})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			const site = 7_000_000_003
			// One flush per session: a table and a blob file each (a chunk
			// of 2,000 events is far above value separation's minimum).
			for n := range flushes {
				b := &storetest.Builder{Site: site, Session: fmt.Sprintf("s_openfiles%011d", n), Visitor: "v_openfiles00000000001", ServerMs: 1_763_890_000_000}
				if _, err := s.Append(ctx, []store.Chunk{b.Chunk(t, 0, 2000)}); err != nil {
					t.Fatal(err)
				}
				if err := s.db.Flush(); err != nil {
					t.Fatal(err)
				}
			}
			// The flushes' compactions done: their outputs, open for
			// writing, are no reads' doing.
			for s.db.Metrics().Compact.NumInProgress > 0 {
				time.Sleep(10 * time.Millisecond)
			}
			m := s.db.Metrics()
			files := m.BlobFiles.LiveCount + uint64(m.Total().TablesCount)
			if files <= bound+60 {
				t.Fatalf("only %d table and blob files: the reads would not need more than the bound", files)
			}
			for n := range flushes {
				read := 0
				if err := s.ReadChunks(ctx, site, fmt.Sprintf("s_openfiles%011d", n), 0, func(store.StoredChunk) error { read++; return nil }); err != nil || read != 1 {
					t.Fatalf("session %d: read %d chunks, %v", n, read, err)
				}
			}
			// Pebble closes the readers its cache evicts in the background:
			// give it a moment.
			open := openIn(t, dir)
			for deadline := time.Now().Add(5 * time.Second); open > tc.wantAtMost && time.Now().Before(deadline); open = openIn(t, dir) {
				time.Sleep(20 * time.Millisecond)
			}
			t.Logf("%d table and blob files, %d open after reading every chunk (MaxOpenFiles %d)", files, open, tc.max)
			if open > tc.wantAtMost {
				t.Fatalf("%d files open in the store's directory, MaxOpenFiles %d", open, tc.max)
			}
			if tc.max == bound && uint64(open) >= files {
				t.Fatalf("every file is open (%d of %d) under a bound of %d", open, files, tc.max)
			}
			if tc.max != bound && open <= bound+60 {
				t.Fatalf("with Pebble's default, %d of %d files open: the bounded case proves nothing", open, files)
			}
		})
	}
}
