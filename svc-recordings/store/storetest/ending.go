package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	sessionsv1 "github.com/sightlinehq/sightline/gen/sightline/sessions/v1"
	"github.com/sightlinehq/sightline/svc-recordings/store"
)

// endingTests is the Ending section of the suite. Backends that share a
// database between subtests may end other subtests' sessions too: every
// check looks at its own site only.
var endingTests = []struct {
	name string
	fn   func(t *testing.T, s store.Store)
}{
	{"EndIdle", testEndIdle},
	{"EndIdleLimit", testEndIdleLimit},
	{"EndIdleConcurrent", testEndIdleConcurrent},
	{"EndIdleGone", testEndIdleGone},
	{"AnswerEvents", testAnswerEvents},
}

// endAll calls EndIdleSessions until it says nothing is left and answers
// the summaries ended of site.
func endAll(t testing.TB, s store.Store, site int64, idleBefore time.Time, limit int) []*sessionsv1.SessionSummary {
	t.Helper()
	var out []*sessionsv1.SessionSummary
	for range 10000 {
		ended, more, err := s.EndIdleSessions(context.Background(), idleBefore, limit)
		if err != nil {
			t.Fatalf("EndIdleSessions: %v", err)
		}
		if len(ended) > limit {
			t.Fatalf("EndIdleSessions ended %d sessions, limit %d", len(ended), limit)
		}
		for _, e := range ended {
			if e.GetSiteId() == site {
				out = append(out, e)
			}
		}
		if !more {
			return out
		}
	}
	t.Fatal("EndIdleSessions never said it was done")
	return nil
}

// notifyEntries answers the notify outbox's entries of site.
func notifyEntries(t testing.TB, s store.Store, site int64) []store.NotifyEntry {
	t.Helper()
	es, err := s.NotifyOutboxPending(context.Background(), 1000000)
	if err != nil {
		t.Fatalf("NotifyOutboxPending: %v", err)
	}
	var out []store.NotifyEntry
	for _, e := range es {
		if e.SiteID == site {
			out = append(out, e)
		}
	}
	return out
}

func idleBuilder(site int64, n int, idle time.Duration) *Builder {
	b := newBuilder(site, n)
	b.ServerMs = time.Now().Add(-idle).UnixMilli()
	return b
}

func testEndIdle(t *testing.T, s store.Store) {
	ctx := context.Background()
	site := newSite()
	idle, active := idleBuilder(site, 1, 2*time.Hour), newBuilder(site, 2)
	appendOK(t, s, idle.Chunk(t, 0, 300), idle.Chunk(t, 1, 300), active.Chunk(t, 0, 300))
	before := session(t, s, site, idle.Session)
	if before.EndedTime != nil {
		t.Fatalf("a new session is ended: %v", before.EndedTime)
	}

	start := time.Now()
	ended := endAll(t, s, site, time.Now().Add(-time.Hour), 100)
	if len(ended) != 1 || ended[0].GetSessionId() != idle.Session {
		t.Fatalf("ended %v, want only the idle session", ended)
	}
	final := session(t, s, site, idle.Session)
	if !proto.Equal(final, ended[0]) {
		t.Fatalf("stored summary differs from the one EndIdleSessions answered:\n%v\n%v", final, ended[0])
	}
	if et := final.GetEndedTime().AsTime(); et.Before(start.Add(-time.Second)) || et.After(time.Now().Add(time.Second)) {
		t.Fatalf("ended_time %v, want about now", et)
	}
	if final.Version != before.Version+1 {
		t.Fatalf("ending made version %d from %d, want one more", final.Version, before.Version)
	}
	wantFold(t, withoutEnd(final), []store.Chunk{idle.Chunk(t, 0, 300), idle.Chunk(t, 1, 300)})
	if session(t, s, site, active.Session).EndedTime != nil {
		t.Fatal("the active session was ended")
	}
	if !outboxHas(t, s, func(e store.OutboxEntry) bool {
		return e.Kind == store.OutboxUpsert && e.Summary.GetSessionId() == idle.Session && e.Summary.GetEndedTime() != nil && e.Summary.GetVersion() == final.Version
	}) {
		t.Fatal("no outbox upsert carries the ended summary to search")
	}
	es := notifyEntries(t, s, site)
	if len(es) != 1 || es[0].Type != store.EventSessionEnded || es[0].SessionID != idle.Session {
		t.Fatalf("notify outbox %+v, want one session.ended of %s", es, idle.Session)
	}
	if got, want := es[0].EventID(), fmt.Sprintf("session.ended:%d:%s", site, idle.Session); got != want {
		t.Fatalf("event id %q, want %q", got, want)
	}

	// Once: a second pass ends nothing.
	if again := endAll(t, s, site, time.Now().Add(-time.Hour), 100); len(again) != 0 {
		t.Fatalf("a second pass ended %v", again)
	}
	if n := len(notifyEntries(t, s, site)); n != 1 {
		t.Fatalf("a second pass left %d notify entries", n)
	}

	// Final: a late chunk is stored and replayed, the summary stays.
	late := idle.Chunk(t, 2, 300)
	if res := appendOK(t, s, late); !res[0].Stored {
		t.Fatalf("late chunk of an ended session not stored: %+v", res[0])
	}
	if res := appendOK(t, s, late); res[0].Stored || res[0].Refused != nil {
		t.Fatalf("late chunk again: %+v, want a duplicate", res[0])
	}
	if n := len(readAll(t, s, site, idle.Session, 0)); n != 3 {
		t.Fatalf("ended session replays %d chunks, want 3", n)
	}
	if got := session(t, s, site, idle.Session); !proto.Equal(got, final) {
		t.Fatalf("a late chunk changed the final summary:\n got %v\nwant %v", got, final)
	}
	// An out-of-order one too (it would refold an open session).
	idle2 := *idle
	early := idle2.ChunkPV(t, 1, "p_early00000000000000000", 300)
	if res := appendOK(t, s, early); !res[0].Stored {
		t.Fatalf("out-of-order late chunk not stored: %+v", res[0])
	}
	if got := session(t, s, site, idle.Session); !proto.Equal(got, final) {
		t.Fatalf("an out-of-order late chunk changed the final summary:\n got %v\nwant %v", got, final)
	}
	// An answer is stored and published, and changes the summary no more.
	appendAnswersOK(t, s, Answer(site, idle.Session, idle.Visitor, answerID(1), 0, 1, 0, baseMs))
	if got := session(t, s, site, idle.Session); !proto.Equal(got, final) {
		t.Fatalf("an answer changed the final summary:\n got %v\nwant %v", got, final)
	}
	if es := notifyEntries(t, s, site); len(es) != 2 || es[1].Type != store.EventFeedbackCreated || es[1].AnswerID != answerID(1) {
		t.Fatalf("notify outbox %+v, want session.ended then feedback.created", es)
	}
	// Listings show the end too.
	page, err := s.ListSessions(ctx, site, "", 10)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range page.Sessions {
		if p.GetSessionId() == idle.Session && p.GetEndedTime() == nil {
			t.Fatal("listing lost ended_time")
		}
	}

	// Ack removes, depth counts.
	depth, err := s.NotifyOutboxDepth(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if depth < 2 {
		t.Fatalf("notify outbox depth %d, want at least 2", depth)
	}
	if err := s.NotifyOutboxAck(ctx, notifyEntries(t, s, site)); err != nil {
		t.Fatal(err)
	}
	if n := len(notifyEntries(t, s, site)); n != 0 {
		t.Fatalf("%d notify entries left after ack", n)
	}
	if d, err := s.NotifyOutboxDepth(ctx); err != nil || d != depth-2 {
		t.Fatalf("depth after ack %d, %v; want %d", d, err, depth-2)
	}
}

func withoutEnd(sum *sessionsv1.SessionSummary) *sessionsv1.SessionSummary {
	c := proto.Clone(sum).(*sessionsv1.SessionSummary)
	c.EndedTime = nil
	return c
}

func testEndIdleLimit(t *testing.T, s store.Store) {
	site := newSite()
	want := map[string]bool{}
	for i := range 7 {
		b := idleBuilder(site, 10+i, 3*time.Hour)
		appendOK(t, s, b.Chunk(t, 0, 300))
		want[b.Session] = true
	}
	ended := endAll(t, s, site, time.Now().Add(-time.Hour), 2)
	got := map[string]bool{}
	for _, e := range ended {
		if got[e.GetSessionId()] {
			t.Fatalf("session %s ended twice", e.GetSessionId())
		}
		got[e.GetSessionId()] = true
	}
	if len(got) != len(want) {
		t.Fatalf("ended %d of %d idle sessions in passes of 2", len(got), len(want))
	}
	if n := len(notifyEntries(t, s, site)); n != len(want) {
		t.Fatalf("%d session.ended entries, want %d", n, len(want))
	}
	if _, _, err := s.EndIdleSessions(context.Background(), time.Now(), 0); err == nil {
		t.Fatal("limit 0 accepted")
	}
}

func testEndIdleConcurrent(t *testing.T, s store.Store) {
	site := newSite()
	const sessions = 24
	var bs []*Builder
	for i := range sessions {
		b := idleBuilder(site, 100+i, 2*time.Hour)
		bs = append(bs, b)
		appendOK(t, s, b.Chunk(t, 0, 300))
	}
	var mu sync.Mutex
	seen := map[string]int{}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for w := range 4 {
		wg.Go(func() {
			for range 100 {
				ended, more, err := s.EndIdleSessions(context.Background(), time.Now().Add(-time.Hour), 5)
				if err != nil {
					errs <- err
					return
				}
				mu.Lock()
				for _, e := range ended {
					if e.GetSiteId() == site {
						seen[e.GetSessionId()]++
					}
				}
				mu.Unlock()
				if !more {
					return
				}
			}
		})
		// Appends race with the passes: an in-order chunk of an idle
		// session, which either lands before the end (and counts) or after
		// (and is stored, final).
		wg.Go(func() {
			for i := w; i < sessions; i += 4 {
				if _, err := s.Append(context.Background(), []store.Chunk{bs[i].Chunk(t, 1, 300)}); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	for id, n := range seen {
		if n != 1 {
			t.Fatalf("session %s ended %d times", id, n)
		}
	}
	if len(seen) != sessions {
		t.Fatalf("ended %d of %d sessions", len(seen), sessions)
	}
	if n := len(notifyEntries(t, s, site)); n != sessions {
		t.Fatalf("%d session.ended entries, want %d", n, sessions)
	}
	for _, b := range bs {
		if n := len(readAll(t, s, site, b.Session, 0)); n != 2 {
			t.Fatalf("session %s has %d chunks, want 2", b.Session, n)
		}
	}
}

// testEndIdleGone: deleted and expired sessions are not ended, and
// entries of sessions deleted after their end stay for the relay to skip.
func testEndIdleGone(t *testing.T, s store.Store) {
	ctx := context.Background()
	site := newSite()
	deleted := idleBuilder(site, 1, 2*time.Hour)
	expired := idleBuilder(site, 2, 3*24*time.Hour)
	expired.ExpiresMs = time.Now().Add(-time.Hour).UnixMilli()
	swept := idleBuilder(site, 3, 3*24*time.Hour)
	swept.ExpiresMs = time.Now().Add(-time.Hour).UnixMilli()
	visitor := idleBuilder(site, 4, 2*time.Hour)
	visitor.Visitor = "v_gonevisitor0000000000"
	endedThenDeleted := idleBuilder(site, 5, 2*time.Hour)
	appendOK(t, s, deleted.Chunk(t, 0, 300), expired.Chunk(t, 0, 300), swept.Chunk(t, 0, 300),
		visitor.Chunk(t, 0, 300), endedThenDeleted.Chunk(t, 0, 300))
	if err := s.DeleteSession(ctx, site, deleted.Session); err != nil {
		t.Fatal(err)
	}
	if _, err := s.DeleteVisitor(ctx, site, visitor.Visitor); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Sweep(ctx, time.Now()); err != nil {
		t.Fatal(err)
	}
	ended := endAll(t, s, site, time.Now().Add(-time.Hour), 100)
	if len(ended) != 1 || ended[0].GetSessionId() != endedThenDeleted.Session {
		t.Fatalf("ended %v, want only %s", ended, endedThenDeleted.Session)
	}
	if err := s.DeleteSession(ctx, site, endedThenDeleted.Session); err != nil {
		t.Fatal(err)
	}
	es := notifyEntries(t, s, site)
	if len(es) != 1 || es[0].SessionID != endedThenDeleted.Session {
		t.Fatalf("notify entries %+v, want the one of the deleted ended session", es)
	}
	if _, err := s.Session(ctx, site, endedThenDeleted.Session); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("deleted ended session: %v", err)
	}
	// A re-delivered chunk of it stays out, and makes no open session.
	appendOK(t, s, endedThenDeleted.Chunk(t, 0, 300))
	if again := endAll(t, s, site, time.Now().Add(-time.Hour), 100); len(again) != 0 {
		t.Fatalf("a pass after the deletions ended %v", again)
	}
}

func testAnswerEvents(t *testing.T, s store.Store) {
	site := newSite()
	b := newBuilder(site, 1)
	appendOK(t, s, b.Chunk(t, 0, 300))
	fb := Answer(site, b.Session, b.Visitor, answerID(1), 0, 2, 0, baseMs)
	sv := Answer(site, b.Session, b.Visitor, answerID(2), 77, 0, 9, baseMs+1)
	orphan := Answer(site, "s_noframes000000000000", b.Visitor, answerID(3), 0, 5, 0, baseMs+2)
	appendAnswersOK(t, s, fb, sv, orphan)
	appendAnswersOK(t, s, fb, sv) // duplicates publish nothing more
	es := notifyEntries(t, s, site)
	want := map[string]string{answerID(1): store.EventFeedbackCreated, answerID(2): store.EventSurveyResponseCreated, answerID(3): store.EventFeedbackCreated}
	if len(es) != len(want) {
		t.Fatalf("notify entries %+v, want %d", es, len(want))
	}
	for _, e := range es {
		if want[e.AnswerID] != e.Type {
			t.Fatalf("entry %+v: type %q, want %q", e, e.Type, want[e.AnswerID])
		}
		if got, w := e.EventID(), fmt.Sprintf("answer.created:%d:%s", site, e.AnswerID); got != w {
			t.Fatalf("event id %q, want %q", got, w)
		}
		delete(want, e.AnswerID)
	}
	// An open session's summary still takes its answers.
	if sum := session(t, s, site, b.Session); sum.FeedbackCount != 1 || sum.SurveyResponseCount != 1 {
		t.Fatalf("open session's tally: %v", tallyOf(sum))
	}
}
