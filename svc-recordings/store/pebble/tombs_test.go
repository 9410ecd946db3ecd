package pebble

import (
	"context"
	"testing"
	"time"

	"github.com/sightlinehq/sightline/svc-recordings/store"
	"github.com/sightlinehq/sightline/svc-recordings/store/storetest"
)

// TestTombstoneFilter: appends skip the tombstone read when the filter says
// none, so the filter must never forget a live tombstone — across a restart
// (rebuilt from disk) and across a sweep's reset (rebuilt without the
// purged ones, with the others).
func TestTombstoneFilter(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	const ttl = time.Hour
	openAt := func() *Store {
		s, err := Open(dir, Options{Logger: quiet{}, TombstoneTTL: ttl})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	s := openAt()
	defer func() { s.Close() }()
	a := &storetest.Builder{Site: 41, Session: "s_tomb_a", Visitor: "v_a", ServerMs: time.Now().UnixMilli()}
	c := &storetest.Builder{Site: 41, Session: "s_tomb_c", Visitor: "v_c", ServerMs: time.Now().UnixMilli()}
	live := &storetest.Builder{Site: 41, Session: "s_tomb_live", Visitor: "v_l", ServerMs: time.Now().UnixMilli()}
	stored := func(s *Store, ch store.Chunk) bool {
		t.Helper()
		res, err := s.Append(ctx, []store.Chunk{ch})
		if err != nil {
			t.Fatal(err)
		}
		return res[0].Stored
	}
	for _, b := range []*storetest.Builder{a, c, live} {
		if !stored(s, b.Chunk(t, 0, 500)) {
			t.Fatalf("%s: first chunk not stored", b.Session)
		}
	}
	if s.tombs.mayHave(s.tombHash(a.Site, a.Session)) {
		t.Fatal("the filter holds a session never deleted: the test proves nothing")
	}
	if err := s.DeleteSession(ctx, a.Site, a.Session); err != nil {
		t.Fatal(err)
	}
	aDeleted := time.Now()
	time.Sleep(5 * time.Millisecond)
	if err := s.DeleteSession(ctx, c.Site, c.Session); err != nil {
		t.Fatal(err)
	}
	if stored(s, a.Chunk(t, 1, 500)) || stored(s, c.Chunk(t, 1, 500)) {
		t.Fatal("a deleted session took a chunk")
	}

	// After a restart the filter comes from the tombstones on disk.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openAt()
	if stored(s, a.Chunk(t, 2, 500)) || stored(s, c.Chunk(t, 2, 500)) {
		t.Fatal("a deleted session took a chunk after a restart")
	}
	if !stored(s, live.Chunk(t, 1, 500)) {
		t.Fatal("a live session's chunk was refused")
	}

	// A sweep past a's tombstone (not c's) purges it and resets the filter.
	if _, err := s.Sweep(ctx, aDeleted.Add(ttl+time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	if s.tombs.mayHave(s.tombHash(a.Site, a.Session)) {
		t.Error("the purged tombstone's bit is still set after the sweep")
	}
	if !s.tombs.mayHave(s.tombHash(c.Site, c.Session)) {
		t.Fatal("the sweep's reset lost a live tombstone")
	}
	if stored(s, c.Chunk(t, 3, 500)) {
		t.Fatal("a deleted session took a chunk after the sweep")
	}
	if !stored(s, a.Chunk(t, 3, 500)) {
		t.Fatal("a session whose tombstone expired was refused")
	}
}

// TestAppendFindsStoredChunksWithoutReading: appends read a chunk's key only
// when it may be stored already; duplicates must still be found — out of
// order, at MaxSeq, and late chunks of an ended session (not in its State).
func TestAppendFindsStoredChunksWithoutReading(t *testing.T) {
	ctx := context.Background()
	s := open(t, store.Limits{})
	b := &storetest.Builder{Site: 42, Session: "s_dups", Visitor: "v_d", ServerMs: time.Now().Add(-3 * time.Hour).UnixMilli()}
	send := func(seqs ...int64) []bool {
		t.Helper()
		var cs []store.Chunk
		for _, q := range seqs {
			cs = append(cs, b.Chunk(t, q, 400))
		}
		res, err := s.Append(ctx, cs)
		if err != nil {
			t.Fatal(err)
		}
		out := make([]bool, len(res))
		for i, r := range res {
			out[i] = r.Stored
		}
		return out
	}
	want := func(got []bool, w ...bool) {
		t.Helper()
		for i := range w {
			if got[i] != w[i] {
				t.Fatalf("stored %v, want %v", got, w)
			}
		}
	}
	want(send(0, 5), true, true)
	want(send(3), true)                               // out of order, below MaxSeq
	want(send(5, 3, 0, 6), false, false, false, true) // duplicates below and at MaxSeq
	ended, _, err := s.EndIdleSessions(ctx, time.Now().Add(-time.Hour), 10)
	if err != nil || len(ended) != 1 {
		t.Fatalf("ended %d sessions (%v), want 1", len(ended), err)
	}
	want(send(9), true)  // a late chunk past the ended State's MaxSeq
	want(send(9), false) // and its re-delivery
	want(send(6, 10), false, true)
}
