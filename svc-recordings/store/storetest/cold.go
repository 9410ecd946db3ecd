package storetest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/sightlinehq/sightline/svc-recordings/store"
)

var coldTests = []struct {
	name string
	fn   func(t *testing.T, s store.Store)
}{
	{"ColdDueAndDrop", testColdDueAndDrop},
	{"ColdGone", testColdGone},
}

// due lists the due sessions of site at now.
func due(t testing.TB, s store.Store, site int64, now time.Time) []store.ColdRef {
	t.Helper()
	refs, err := s.ColdDue(context.Background(), now, 1000)
	if err != nil {
		t.Fatalf("ColdDue: %v", err)
	}
	var out []store.ColdRef
	for _, r := range refs {
		if r.SiteID == site {
			out = append(out, r)
		}
	}
	return out
}

// testColdDueAndDrop: a session is due from the latest of its chunks'
// cold times, not before; DropChunkData removes exactly the named chunks'
// data (the summary and chunk index stay) and the due entry; a later chunk
// makes the session due again at its own cold time.
func testColdDueAndDrop(t *testing.T, s store.Store) {
	ctx := context.Background()
	site := newSite()
	b := newBuilder(site, 1)
	now := time.Now()
	b.ExpiresMs = now.Add(365 * 24 * time.Hour).UnixMilli()
	c0, c1, c2 := b.Chunk(t, 0, 500), b.Chunk(t, 1, 500), b.Chunk(t, 2, 500)
	cold := now.Add(time.Hour).UnixMilli()
	c0.Stats.ColdMs, c1.Stats.ColdMs, c2.Stats.ColdMs = cold-1000, cold, cold
	appendOK(t, s, c0, c1, c2)
	never := newBuilder(site, 2) // no cold age: never due
	never.ExpiresMs = b.ExpiresMs
	appendOK(t, s, never.Chunk(t, 0, 500))

	if d := due(t, s, site, now); len(d) != 0 {
		t.Fatalf("due before the cold time: %+v", d)
	}
	d := due(t, s, site, time.UnixMilli(cold))
	if len(d) != 1 || d[0] != (store.ColdRef{SiteID: site, SessionID: b.Session, ColdMs: cold}) {
		t.Fatalf("due at the cold time: %+v, want %s at %d", d, b.Session, cold)
	}
	before, err := s.Session(ctx, site, b.Session)
	if err != nil {
		t.Fatal(err)
	}
	keys := []store.ChunkKey{{Seq: 0, PageViewID: c0.PageViewID}, {Seq: 1, PageViewID: c1.PageViewID}}
	for range 2 { // idempotent
		if err := s.DropChunkData(ctx, site, b.Session, cold, keys); err != nil {
			t.Fatalf("DropChunkData: %v", err)
		}
	}
	if got := readAll(t, s, site, b.Session, 0); len(got) != 1 || got[0].Seq != 2 {
		t.Fatalf("after dropping seqs 0 and 1, ReadChunks yields %d chunks", len(got))
	}
	idx, err := s.ChunkIndex(ctx, site, b.Session)
	if err != nil || len(idx) != 3 {
		t.Fatalf("chunk index after the drop: %d entries, %v; want all 3", len(idx), err)
	}
	after, err := s.Session(ctx, site, b.Session)
	if err != nil || after.GetChunkCount() != before.GetChunkCount() || after.GetVersion() != before.GetVersion() {
		t.Fatalf("summary after the drop: %v, %v; before %v", after, err, before)
	}
	if d := due(t, s, site, time.UnixMilli(cold+1)); len(d) != 0 {
		t.Fatalf("still due after the drop: %+v", d)
	}
	// A later chunk with a later cold time: due again, then.
	c3 := b.Chunk(t, 3, 500)
	c3.Stats.ColdMs = cold + 5000
	appendOK(t, s, c3)
	if d := due(t, s, site, time.UnixMilli(cold+4999)); len(d) != 0 {
		t.Fatalf("due before the new chunk's cold time: %+v", d)
	}
	if d := due(t, s, site, time.UnixMilli(cold+5000)); len(d) != 1 || d[0].ColdMs != cold+5000 {
		t.Fatalf("due at the new chunk's cold time: %+v", d)
	}
}

// testColdGone: deleted sessions are never due.
func testColdGone(t *testing.T, s store.Store) {
	ctx := context.Background()
	site := newSite()
	b := newBuilder(site, 3)
	b.ExpiresMs = time.Now().Add(365 * 24 * time.Hour).UnixMilli()
	c := b.Chunk(t, 0, 500)
	c.Stats.ColdMs = time.Now().Add(-time.Hour).UnixMilli()
	appendOK(t, s, c)
	if d := due(t, s, site, time.Now()); len(d) != 1 {
		t.Fatalf("due: %+v", d)
	}
	if err := s.DeleteSession(ctx, site, b.Session); err != nil && !errors.Is(err, store.ErrNotFound) {
		t.Fatal(err)
	}
	if d := due(t, s, site, time.Now()); len(d) != 0 {
		t.Fatalf("a deleted session is due: %+v", d)
	}
}
