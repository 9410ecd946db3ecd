package pebble

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"

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

// indexActivity answers the last activity a session's open-index row holds
// (ok false without a row or a value).
func indexActivity(t testing.TB, s *Store, site int64, session string) (int64, bool) {
	t.Helper()
	v, ok, err := s.get(partition(pOpen, site, session))
	if err != nil {
		t.Fatal(err)
	}
	a := openActivity(v)
	return a, ok && a > 0
}

// TestOpenIndexKeepsActivity: every append that moves a session's last
// activity writes it into the open index, which the sweep judges by; an
// index row without one (written before the value existed) is judged by
// the session's row, as before.
func TestOpenIndexKeepsActivity(t *testing.T) {
	s := open(t, store.Limits{})
	ctx := context.Background()
	const site = int64(3_000_000_012)
	t0 := time.Now().Add(-3 * time.Hour).UnixMilli()
	b := &storetest.Builder{Site: site, Session: "s_activity", Visitor: "v_1", ServerMs: t0}
	want := func(what string) {
		t.Helper()
		row, err := s.loadRow(site, b.Session)
		if err != nil || row == nil {
			t.Fatalf("%s: row %v %v", what, row, err)
		}
		got, ok := indexActivity(t, s, site, b.Session)
		if !ok || got != row.State.LastActivityMs() || got <= 0 {
			t.Fatalf("%s: open index says %d (%v), the row %d", what, got, ok, row.State.LastActivityMs())
		}
	}
	if _, err := s.Append(ctx, []store.Chunk{b.Chunk(t, 0, 100)}); err != nil {
		t.Fatal(err)
	}
	want("first chunk")
	b.ServerMs = t0 + 2*time.Hour.Milliseconds()
	if _, err := s.Append(ctx, []store.Chunk{b.Chunk(t, 2, 100)}); err != nil {
		t.Fatal(err)
	}
	want("a later chunk")
	late, _ := indexActivity(t, s, site, b.Session)
	b.ServerMs = t0 + time.Minute.Milliseconds()
	if _, err := s.Append(ctx, []store.Chunk{b.Chunk(t, 1, 100)}); err != nil {
		t.Fatal(err)
	}
	want("an earlier chunk arriving late")
	if got, _ := indexActivity(t, s, site, b.Session); got != late {
		t.Fatalf("an earlier chunk moved the activity from %d to %d", late, got)
	}
	// Active after the cut by the index: not ended; idle by it: ended.
	if ended, _, err := s.EndIdleSessions(ctx, time.UnixMilli(late-1000), 10); err != nil || len(ended) != 0 {
		t.Fatalf("a session active after the cut was ended: %v %v", ended, err)
	}
	if ended, _, err := s.EndIdleSessions(ctx, time.UnixMilli(late+1), 10); err != nil || len(ended) != 1 {
		t.Fatalf("the idle session: ended %v %v", ended, err)
	}
	// The index decides which rows a pass reads: a session the index says
	// is active is passed over without reading its row (here, a row idle
	// for hours: a pass that read it would end it).
	pb := &storetest.Builder{Site: site, Session: "s_passedover", Visitor: "v_3", ServerMs: t0}
	if _, err := s.Append(ctx, []store.Chunk{pb.Chunk(t, 0, 100)}); err != nil {
		t.Fatal(err)
	}
	if err := s.db.Set(partition(pOpen, site, pb.Session), openValue(time.Now().UnixMilli()), pebble.Sync); err != nil {
		t.Fatal(err)
	}
	if ended, _, err := s.EndIdleSessions(ctx, time.Now().Add(-time.Hour), 10); err != nil || len(ended) != 0 {
		t.Fatalf("a session active by the index: ended %v %v (its row was read)", ended, err)
	}
	if err := s.DeleteSession(ctx, site, pb.Session); err != nil {
		t.Fatal(err)
	}
	// Index rows without a value: judged by the session's row.
	for _, id := range []string{"s_legacyidle", "s_legacylive"} {
		lb := &storetest.Builder{Site: site, Session: id, Visitor: "v_2", ServerMs: t0}
		if id == "s_legacylive" {
			lb.ServerMs = time.Now().UnixMilli()
		}
		if _, err := s.Append(ctx, []store.Chunk{lb.Chunk(t, 0, 100)}); err != nil {
			t.Fatal(err)
		}
		if err := s.db.Set(partition(pOpen, site, id), nil, pebble.Sync); err != nil {
			t.Fatal(err)
		}
	}
	ended, _, err := s.EndIdleSessions(ctx, time.Now().Add(-time.Hour), 10)
	if err != nil || len(ended) != 1 || ended[0].GetSessionId() != "s_legacyidle" {
		t.Fatalf("legacy index rows: ended %v %v, want s_legacyidle only", ended, err)
	}
}

// BenchmarkEndIdleSessions is one sweep pass over open sessions none of
// which is idle, as under steady load: judged by the open index's activity
// (now) and by reading each session's row (index rows without a value, as
// every pass did before), in the same run.
func BenchmarkEndIdleSessions(b *testing.B) {
	const sessions = 20_000
	for _, mode := range []string{"index", "rows"} {
		b.Run(mode, func(b *testing.B) {
			s := open(b, store.Limits{})
			ctx := context.Background()
			const site = int64(3_000_000_013)
			now := time.Now().UnixMilli()
			var batch []store.Chunk
			for i := range sessions {
				bl := &storetest.Builder{Site: site, Session: fmt.Sprintf("s_bench%012d", i), Visitor: "v_1", ServerMs: now}
				batch = append(batch, bl.Chunk(b, 0, 2000))
				if len(batch) == 256 || i == sessions-1 {
					if _, err := s.Append(ctx, batch); err != nil {
						b.Fatal(err)
					}
					batch = batch[:0]
				}
				if mode == "rows" {
					if err := s.db.Set(partition(pOpen, site, bl.Session), nil, pebble.NoSync); err != nil {
						b.Fatal(err)
					}
				}
			}
			if err := s.db.Flush(); err != nil {
				b.Fatal(err)
			}
			cut := time.UnixMilli(now - time.Hour.Milliseconds())
			defer cpuPerOp(b)()
			for b.Loop() {
				if ended, _, err := s.EndIdleSessions(ctx, cut, 1000); err != nil || len(ended) != 0 {
					b.Fatalf("ended %d: %v", len(ended), err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N)/sessions*1000, "ns/session")
		})
	}
}
