package pebble

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/cockroachdb/pebble/v2"

	"github.com/sightlinehq/sightline/svc-recordings/store"
	"github.com/sightlinehq/sightline/svc-recordings/store/storetest"
)

// TestChunksInBlobFiles: a store an older release made (Pebble's oldest
// format, no blob files) opens at FormatValueSeparation, and the chunks it
// is given afterwards go to blob files (value separation) with their stats, and read back
// whole, before and after a reopen, from a backup of it, and with the
// options an earlier release opens it with.
func TestChunksInBlobFiles(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	old, err := pebble.Open(dir, &pebble.Options{FormatMajorVersion: pebble.FormatMinSupported, Merger: newMerger(nil), Logger: quiet{}})
	if err != nil {
		t.Fatal(err)
	}
	if err := old.Set([]byte("older release"), nil, pebble.Sync); err != nil {
		t.Fatal(err)
	}
	if err := old.Close(); err != nil {
		t.Fatal(err)
	}

	s, err := Open(dir, Options{Logger: quiet{}})
	if err != nil {
		t.Fatal(err)
	}
	if got := s.db.FormatMajorVersion(); got != pebble.FormatValueSeparation {
		t.Fatalf("format after Open = %s, want %s", got, pebble.FormatValueSeparation)
	}
	const site, sessions, perSession = 7_000_000_002, 4, 5
	want, wantStats := map[string][][]byte{}, map[string][][]byte{}
	firstSession := fmt.Sprintf("s_valuesep%012d", 0)
	for n := range sessions {
		b := &storetest.Builder{Site: site, Session: fmt.Sprintf("s_valuesep%012d", n), Visitor: "v_valuesep000000000001", ServerMs: 1_763_890_000_000}
		for seq := range int64(perSession) {
			c := b.Chunk(t, seq, 2000)
			if _, err := s.Append(ctx, []store.Chunk{c}); err != nil {
				t.Fatal(err)
			}
			want[b.Session] = append(want[b.Session], c.Data)
			st, err := c.Stats.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			wantStats[b.Session] = append(wantStats[b.Session], st)
		}
	}
	if err := s.db.Flush(); err != nil {
		t.Fatal(err)
	}
	// The blob files hold the chunk values and the stats (written once,
	// read on rare paths) of 512 bytes or more, and nothing else: the
	// session rows (rewritten at every append) stay in the tables.
	var apart, statsApart, otherBig uint64
	all, err := s.db.NewIter(nil)
	if err != nil {
		t.Fatal(err)
	}
	for all.First(); all.Valid(); all.Next() {
		v, err := all.ValueAndErr()
		if err != nil {
			t.Fatal(err)
		}
		big := len(v) >= valueSeparation().MinimumSize
		switch k := all.Key()[0]; {
		case k == pChunk:
			apart += uint64(len(v))
		case k == pStats && big:
			apart += uint64(len(v))
			statsApart += uint64(len(v))
		case big:
			otherBig += uint64(len(v))
		}
	}
	if err := all.Close(); err != nil {
		t.Fatal(err)
	}
	if otherBig == 0 || statsApart == 0 {
		t.Fatalf("stats of 512 bytes or more: %d bytes, other rows: %d: the test cannot tell what goes apart", statsApart, otherBig)
	}
	m := s.db.Metrics()
	if m.BlobFiles.LiveCount == 0 || m.BlobFiles.ValueSize != apart {
		t.Errorf("after a flush: %d blob files holding %d bytes of values; want the chunks' and stats' %d bytes (and not the other rows' %d)",
			m.BlobFiles.LiveCount, m.BlobFiles.ValueSize, apart, otherBig)
	}
	check := func(name string, s *Store) {
		t.Helper()
		for id, chunks := range want {
			var got [][]byte
			err := s.ReadChunks(ctx, site, id, 0, func(c store.StoredChunk) error {
				got = append(got, bytes.Clone(c.Data))
				return nil
			})
			if err != nil {
				t.Fatalf("%s: ReadChunks %s: %v", name, id, err)
			}
			if len(got) != len(chunks) {
				t.Fatalf("%s: %s has %d chunks, want %d", name, id, len(got), len(chunks))
			}
			for i := range got {
				if !bytes.Equal(got[i], chunks[i]) {
					t.Errorf("%s: %s chunk %d differs from what was appended (%d vs %d bytes)", name, id, i, len(got[i]), len(chunks[i]))
				}
			}
			stats, err := s.stats(site, id)
			if err != nil {
				t.Fatalf("%s: stats of %s: %v", name, id, err)
			}
			if len(stats) != len(wantStats[id]) {
				t.Fatalf("%s: %s has %d stats, want %d", name, id, len(stats), len(wantStats[id]))
			}
			for i := range stats {
				if st, err := stats[i].Marshal(); err != nil || !bytes.Equal(st, wantStats[id][i]) {
					t.Errorf("%s: %s stats %d read back as %s (%v), want %s", name, id, i, st, err, wantStats[id][i])
				}
			}
		}
	}
	check("open", s)
	backup := t.TempDir() + "/recordings"
	if err := s.Backup(ctx, backup); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	// An earlier release opens the database with Pebble's defaults (its
	// oldest format, no value separation) and reads the values in blob files.
	earlier, err := pebble.Open(dir, &pebble.Options{FormatMajorVersion: pebble.FormatMinSupported, Merger: newMerger(nil), Logger: quiet{}})
	if err != nil {
		t.Fatalf("an earlier release's options: %v", err)
	}
	it, err := earlier.NewIter(nil)
	if err != nil {
		t.Fatal(err)
	}
	found := 0
	for it.First(); it.Valid(); it.Next() {
		v, err := it.ValueAndErr()
		if err != nil {
			t.Fatalf("an earlier release's read of %q: %v", it.Key(), err)
		}
		// Sessions share their chunks' events: count values, not matches.
		if slices.ContainsFunc(want[firstSession], func(c []byte) bool { return bytes.Contains(v, c) }) {
			found++
		}
	}
	if err := errors.Join(it.Close(), earlier.Close()); err != nil {
		t.Fatal(err)
	}
	if found != sessions*perSession {
		t.Errorf("an earlier release's options read %d chunk values, want %d", found, sessions*perSession)
	}

	for _, d := range []struct{ name, dir string }{{"reopened", dir}, {"backup", backup}} {
		r, err := Open(d.dir, Options{Logger: quiet{}})
		if err != nil {
			t.Fatal(err)
		}
		check(d.name, r)
		if err := r.Close(); err != nil {
			t.Fatal(err)
		}
	}
}
