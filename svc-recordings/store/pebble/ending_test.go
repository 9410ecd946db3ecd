package pebble

import (
	"context"
	"testing"
	"time"

	"github.com/sightlinehq/sightline/svc-recordings/store"
	"github.com/sightlinehq/sightline/svc-recordings/store/storetest"
)

func openKeys(t *testing.T, s *Store) int {
	t.Helper()
	n := 0
	if err := s.scan([]byte{pOpen}, nil, func(_, _ []byte) error { n++; return nil }); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestOpenIndexFollowsRemovals: deletion, visitor deletion, retention and
// the end each take a session out of the open index; only the one open
// session is left.
func TestOpenIndexFollowsRemovals(t *testing.T) {
	s := open(t, store.Limits{})
	ctx := context.Background()
	const site = int64(3_000_000_011)
	old := time.Now().Add(-2 * time.Hour).UnixMilli()
	mk := func(id, visitor string, expires int64) *storetest.Builder {
		b := &storetest.Builder{Site: site, Session: id, Visitor: visitor, ServerMs: old, ExpiresMs: expires}
		if _, err := s.Append(ctx, []store.Chunk{b.Chunk(t, 0, 100), b.Chunk(t, 1, 100)}); err != nil {
			t.Fatal(err)
		}
		return b
	}
	mk("s_deleted", "v_1", 0)
	mk("s_visitor", "v_gone", 0)
	mk("s_expired", "v_1", time.Now().Add(-time.Minute).UnixMilli())
	mk("s_ended", "v_1", 0)
	live := mk("s_live", "v_1", 0)
	live.ServerMs = time.Now().UnixMilli()
	if _, err := s.Append(ctx, []store.Chunk{live.Chunk(t, 2, 100)}); err != nil {
		t.Fatal(err)
	}
	if n := openKeys(t, s); n != 5 {
		t.Fatalf("%d open-index rows for 5 sessions (one per session, not per chunk)", n)
	}
	if err := s.DeleteSession(ctx, site, "s_deleted"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.DeleteVisitor(ctx, site, "v_gone"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Sweep(ctx, time.Now()); err != nil {
		t.Fatal(err)
	}
	if n := openKeys(t, s); n != 2 {
		t.Fatalf("%d open-index rows after the removals, want 2", n)
	}
	ended, _, err := s.EndIdleSessions(ctx, time.Now().Add(-time.Hour), 100)
	if err != nil || len(ended) != 1 || ended[0].SessionId != "s_ended" {
		t.Fatalf("ended %v, %v", ended, err)
	}
	if n := openKeys(t, s); n != 1 {
		t.Fatalf("%d open-index rows left, want the live session's", n)
	}
}

// TestNotifyOutboxSurvivesReopen: entries not acknowledged are there after
// the store is closed and opened again, with the same ids; the reopened
// store ends nothing twice.
func TestNotifyOutboxSurvivesReopen(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, Options{Logger: quiet{}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	const site = int64(3_000_000_012)
	b := &storetest.Builder{Site: site, Session: "s_reopen", Visitor: "v_1", ServerMs: time.Now().Add(-2 * time.Hour).UnixMilli()}
	if _, err := s.Append(ctx, []store.Chunk{b.Chunk(t, 0, 100)}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AppendAnswers(ctx, []store.Answer{storetest.Answer(site, b.Session, b.Visitor, "a_reopen", 0, 3, 0, time.Now().UnixMilli())}); err != nil {
		t.Fatal(err)
	}
	if ended, _, err := s.EndIdleSessions(ctx, time.Now().Add(-time.Hour), 10); err != nil || len(ended) != 1 {
		t.Fatalf("ended %v, %v", ended, err)
	}
	before, err := s.NotifyOutboxPending(ctx, 10)
	if err != nil || len(before) != 2 {
		t.Fatalf("pending %v, %v", before, err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = Open(dir, Options{Logger: quiet{}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	after, err := s.NotifyOutboxPending(ctx, 10)
	if err != nil || len(after) != 2 || after[0] != before[0] || after[1] != before[1] {
		t.Fatalf("after reopening: %+v (%v), want %+v", after, err, before)
	}
	if after[0].Type != store.EventFeedbackCreated || after[1].Type != store.EventSessionEnded {
		t.Fatalf("order %+v", after)
	}
	if ended, _, err := s.EndIdleSessions(ctx, time.Now().Add(-time.Hour), 10); err != nil || len(ended) != 0 {
		t.Fatalf("reopened store ended %v again (%v)", ended, err)
	}
}
