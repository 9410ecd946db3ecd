package pebble

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/sightlinehq/sightline/internal/busy"
	"github.com/sightlinehq/sightline/svc-recordings/store"
)

// TestBackupWhileAppending: a checkpoint taken while sessions are appended
// opens as a store holding every session appended before it began, and
// the store goes on taking appends after it.
func TestBackupWhileAppending(t *testing.T) {
	ctx := context.Background()
	s := open(t, store.Limits{})
	const site, before = 7_000_000_001, 50
	appendSession := func(n int) error {
		c := chunk(t, site, n, 0, 20000, false)
		_, err := s.Append(ctx, []store.Chunk{c})
		return err
	}
	for n := range before {
		if err := appendSession(n); err != nil {
			t.Fatal(err)
		}
	}
	dir := filepath.Join(t.TempDir(), "recordings")
	busy.During(t, func(i int) error { return appendSession(before + i) }, func() error { return s.Backup(ctx, dir) })
	if err := s.Backup(ctx, dir); err == nil {
		t.Error("a second backup into the same directory succeeded")
	}

	b, err := Open(dir, Options{Logger: quiet{}})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	for n := range before {
		id := fmt.Sprintf("s_pebbleheat%010d", n)
		sum, err := b.Session(ctx, site, id)
		if err != nil || sum.GetSessionId() != id {
			t.Errorf("backup's session %s = %v, %v", id, sum, err)
		}
		idx, err := b.ChunkIndex(ctx, site, id)
		if err != nil || len(idx) != 1 {
			t.Errorf("backup's chunks of %s = %v, %v; want 1", id, idx, err)
		}
	}
	if err := appendSession(1_000_000); err != nil {
		t.Errorf("append after the backup: %v", err)
	}
}
