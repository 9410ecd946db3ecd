// Package storetest is the one conformance suite of store.Store: every
// backend runs Run against a real instance.
package storetest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	recordingsv1 "github.com/sightlinehq/sightline/gen/sightline/recordings/v1"
	sessionsv1 "github.com/sightlinehq/sightline/gen/sightline/sessions/v1"
	"github.com/sightlinehq/sightline/internal/testseed"
	"github.com/sightlinehq/sightline/svc-recordings/store"
	"github.com/sightlinehq/sightline/svc-recordings/summary"
)

// Run runs the suite. newStore returns a store for one subtest, opened with
// the given per-session limits (zero: none); backends that share a database
// between calls are fine: every subtest uses its own site ids (above 2^31).
func Run(t *testing.T, newStore func(t *testing.T, lim store.Limits) store.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s store.Store)
	}{
		{"AppendAndRead", testAppendAndRead},
		{"Duplicates", testDuplicates},
		{"OutOfOrder", testOutOfOrder},
		{"SitesAreIsolated", testSitesIsolated},
		{"HugeSession", testHugeSession},
		{"Retention", testRetention},
		{"DeleteSession", testDeleteSession},
		{"DeleteVisitor", testDeleteVisitor},
		{"ListPaging", testListPaging},
		{"SiteActivity", testSiteActivity},
		{"OutboxOrder", testOutboxOrder},
		{"Concurrent", testConcurrent},
		{"SameSeqTwoPageViews", testSameSeqTwoPageViews},
		{"TwoPageViewsReordered", testTwoPageViewsReordered},
		{"SessionDetail", testSessionDetail},
		{"HeatBasics", testHeatBasics},
		{"HeatModel", testHeatModel},
		{"HeatRouteSnapshot", testHeatRouteSnapshot},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.fn(t, newStore(t, store.Limits{}))
		})
	}
	for _, tc := range answerTests { // answers.go
		t.Run(tc.name, func(t *testing.T) {
			tc.fn(t, newStore(t, store.Limits{}))
		})
	}
	for _, tc := range coldTests { // cold.go
		t.Run(tc.name, func(t *testing.T) {
			tc.fn(t, newStore(t, store.Limits{}))
		})
	}
	for _, tc := range endingTests { // ending.go
		t.Run(tc.name, func(t *testing.T) {
			tc.fn(t, newStore(t, store.Limits{}))
		})
	}
	t.Run("SessionChunkLimit", func(t *testing.T) {
		testSessionChunkLimit(t, newStore(t, store.Limits{MaxChunks: 3}))
	})
	t.Run("SessionByteLimit", func(t *testing.T) {
		testSessionByteLimit(t, newStore(t, store.Limits{MaxRawBytes: 5000}))
	})
}

var siteMu sync.Mutex
var siteRand = rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 7))

// newSite returns a fresh site id above 2^31.
func newSite() int64 {
	siteMu.Lock()
	defer siteMu.Unlock()
	return 1<<31 + siteRand.Int64N(1<<50)
}

const baseMs = int64(1763890000000)

// Builder makes chunks of one session the way the service would.
type Builder struct {
	Site      int64
	Session   string
	Visitor   string
	ExpiresMs int64
	ServerMs  int64
}

func newBuilder(site int64, n int) *Builder {
	return &Builder{
		Site:     site,
		Session:  fmt.Sprintf("s_%022d", n),
		Visitor:  fmt.Sprintf("v_%022d", n%3),
		ServerMs: time.Now().UnixMilli(),
	}
}

// Chunk builds chunk seq with a few rrweb events, a click among them and
// padding bytes to reach size; its page view changes every ten seqs.
func (b *Builder) Chunk(t testing.TB, seq int64, size int) store.Chunk {
	t.Helper()
	return b.ChunkPV(t, seq, fmt.Sprintf("p_%022d", seq/10), size)
}

// ChunkPV is Chunk of page view pv (a second tab of the session).
func (b *Builder) ChunkPV(t testing.TB, seq int64, pv string, size int) store.Chunk {
	t.Helper()
	ts := baseMs + seq*5000
	evs := []map[string]any{
		{"type": 3, "timestamp": ts, "data": map[string]any{"source": 1, "positions": []any{map[string]any{"x": seq, "y": 2, "id": 1, "timeOffset": 0}}}},
		{"type": 3, "timestamp": ts + 100, "data": map[string]any{"source": 2, "type": 2, "id": 1, "x": 10 * seq, "y": 20}},
		{"type": 3, "timestamp": ts + 200, "data": map[string]any{"source": 0, "adds": []any{}, "removes": []any{}, "texts": []any{}, "attributes": []any{}}},
	}
	if seq%10 == 0 {
		evs = append([]map[string]any{
			{"type": 4, "timestamp": ts, "data": map[string]any{"href": "https://shop.example.com/p" + fmt.Sprint(seq/10), "width": 1280, "height": 720}},
			{"type": 2, "timestamp": ts, "data": map[string]any{"node": map[string]any{"type": 0}, "initialOffset": map[string]any{"top": 0, "left": 0}}},
		}, evs...)
	}
	if pad := size - 400; pad > 0 {
		evs = append(evs, map[string]any{"type": 5, "timestamp": ts + 300, "data": map[string]any{"tag": "pad", "payload": string(bytes.Repeat([]byte("x"), pad))}})
	}
	raw, err := json.Marshal(evs)
	if err != nil {
		t.Fatal(err)
	}
	ch := &recordingsv1.Chunk{
		SiteId: b.Site, OrganizationId: b.Site + 1, SessionId: b.Session, VisitorId: b.Visitor,
		PageViewId: pv, Seq: seq, Url: "https://shop.example.com/p" + fmt.Sprint(seq/10),
		Events: raw, ServerTime: timestamppb.New(time.UnixMilli(b.ServerMs + seq)),
		Client: &sessionsv1.Client{Browser: "Firefox", Country: "FR"},
	}
	st, err := summary.Extract(ch, int64(len(raw)), b.ExpiresMs)
	if err != nil {
		t.Fatal(err)
	}
	return store.Chunk{SiteID: b.Site, SessionID: b.Session, Seq: seq, PageViewID: pv, Data: raw, Stats: st}
}

func appendOK(t testing.TB, s store.Store, chunks ...store.Chunk) []store.AppendResult {
	t.Helper()
	res, err := s.Append(context.Background(), chunks)
	return resultsOK(t, "Append", "chunks", len(chunks), res, err)
}

// resultsOK fails t unless call (Append, AppendAnswers) succeeded with one
// result per item it was given (n items, named what).
func resultsOK(t testing.TB, call, what string, n int, res []store.AppendResult, err error) []store.AppendResult {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", call, err)
	}
	if len(res) != n {
		t.Fatalf("%s answered %d results for %d %s", call, len(res), n, what)
	}
	return res
}

func stored(res []store.AppendResult) int {
	n := 0
	for _, r := range res {
		if r.Stored {
			n++
		}
	}
	return n
}

func readAll(t testing.TB, s store.Store, site int64, session string, from int64) []store.StoredChunk {
	t.Helper()
	var out []store.StoredChunk
	err := s.ReadChunks(context.Background(), site, session, from, func(c store.StoredChunk) error {
		out = append(out, c)
		return nil
	})
	if err != nil {
		t.Fatalf("ReadChunks: %v", err)
	}
	return out
}

func session(t testing.TB, s store.Store, site int64, id string) *sessionsv1.SessionSummary {
	t.Helper()
	sum, err := s.Session(context.Background(), site, id)
	if err != nil {
		t.Fatalf("Session(%d, %s): %v", site, id, err)
	}
	return sum
}

// wantFold checks the stored summary is the fold of the given chunks.
func wantFold(t testing.TB, got *sessionsv1.SessionSummary, chunks []store.Chunk) {
	t.Helper()
	var st []summary.ChunkStats
	for _, c := range chunks {
		st = append(st, c.Stats)
	}
	want := summary.Fold(st).Summary(chunks[0].SiteID, chunks[0].SessionID)
	g := proto.Clone(got).(*sessionsv1.SessionSummary)
	g.Version = 0
	if !proto.Equal(g, want) {
		t.Fatalf("summary is not the fold of the chunks:\n got %v\nwant %v", g, want)
	}
}

func testAppendAndRead(t *testing.T, s store.Store) {
	b := newBuilder(newSite(), 1)
	chunks := []store.Chunk{b.Chunk(t, 0, 2000), b.Chunk(t, 1, 500), b.Chunk(t, 2, 100)}
	if n := stored(appendOK(t, s, chunks...)); n != 3 {
		t.Fatalf("stored %d, want 3", n)
	}
	got := readAll(t, s, b.Site, b.Session, 0)
	if len(got) != 3 {
		t.Fatalf("read %d chunks, want 3", len(got))
	}
	for i, c := range got {
		if c.Seq != int64(i) || !bytes.Equal(c.Data, chunks[i].Data) || c.PageViewID != chunks[i].Stats.PageViewID ||
			c.FirstMs != chunks[i].Stats.FirstMs || c.LastMs != chunks[i].Stats.LastMs {
			t.Fatalf("chunk %d read back differs: seq %d pv %q", i, c.Seq, c.PageViewID)
		}
	}
	if from := readAll(t, s, b.Site, b.Session, 1); len(from) != 2 || from[0].Seq != 1 {
		t.Fatalf("ReadChunks from 1 gave %d chunks", len(from))
	}
	sum := session(t, s, b.Site, b.Session)
	if sum.Version != 1 || sum.ChunkCount != 3 || sum.ClickCount != 3 || sum.VisitorId != b.Visitor {
		t.Fatalf("summary: version %d chunks %d clicks %d visitor %q", sum.Version, sum.ChunkCount, sum.ClickCount, sum.VisitorId)
	}
	wantFold(t, sum, chunks)
	idx, err := s.ChunkIndex(context.Background(), b.Site, b.Session)
	if err != nil {
		t.Fatal(err)
	}
	if len(idx) != 3 || idx[0].FullSnapshotMs == 0 || idx[1].FullSnapshotMs != 0 || idx[2].Seq != 2 {
		t.Fatalf("chunk index %+v", idx)
	}
	if _, err := s.Session(context.Background(), b.Site, "s_nosuchsession0000000"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("unknown session: %v, want ErrNotFound", err)
	}
}

func testDuplicates(t *testing.T, s store.Store) {
	b := newBuilder(newSite(), 2)
	c0, c1 := b.Chunk(t, 0, 300), b.Chunk(t, 1, 300)
	appendOK(t, s, c0, c1)
	before := session(t, s, b.Site, b.Session)
	// Re-delivery, also with different bytes under the same key: the first
	// write wins. A duplicate inside one call counts once.
	changed := b.Chunk(t, 1, 3000)
	c2 := b.Chunk(t, 2, 300)
	res := appendOK(t, s, c0, changed, c2, c2)
	if res[0].Stored || res[1].Stored || !res[2].Stored || res[3].Stored {
		t.Fatalf("results %+v, want only the first c2 stored", res)
	}
	got := readAll(t, s, b.Site, b.Session, 0)
	if len(got) != 3 || !bytes.Equal(got[1].Data, c1.Data) {
		t.Fatalf("duplicate overwrote a chunk (%d chunks)", len(got))
	}
	after := session(t, s, b.Site, b.Session)
	if after.Version != before.Version+1 || after.ChunkCount != 3 {
		t.Fatalf("version %d→%d chunks %d", before.Version, after.Version, after.ChunkCount)
	}
	// Only duplicates: nothing changes, version included.
	res = appendOK(t, s, c0, c1, c2)
	if stored(res) != 0 {
		t.Fatalf("pure re-delivery stored %d", stored(res))
	}
	if again := session(t, s, b.Site, b.Session); again.Version != after.Version || !proto.Equal(again, after) {
		t.Fatalf("re-delivery changed the summary (version %d→%d)", after.Version, again.Version)
	}
	wantFold(t, after, []store.Chunk{c0, c1, c2})
}

func testOutOfOrder(t *testing.T, s store.Store) {
	site := newSite()
	inOrder, shuffled := newBuilder(site, 3), newBuilder(site, 4)
	shuffled.Visitor = inOrder.Visitor
	var a, bb []store.Chunk
	for i := range int64(12) {
		a = append(a, inOrder.Chunk(t, i, 300))
		c := shuffled.Chunk(t, i, 300)
		c.SessionID = inOrder.Session + "x" // its own session
		bb = append(bb, c)
	}
	for _, c := range a {
		appendOK(t, s, c)
	}
	perm := []int{5, 2, 11, 0, 1, 7, 3, 4, 10, 9, 6, 8}
	// Some singly, some in one call.
	for _, i := range perm[:6] {
		appendOK(t, s, bb[i])
	}
	var rest []store.Chunk
	for _, i := range perm[6:] {
		rest = append(rest, bb[i])
	}
	appendOK(t, s, rest...)
	sa := session(t, s, site, inOrder.Session)
	sb := session(t, s, site, inOrder.Session+"x")
	sa.Version, sb.Version, sb.SessionId = 0, 0, sa.SessionId
	if !proto.Equal(sa, sb) {
		t.Fatalf("order of arrival changed the summary:\n in order %v\n shuffled %v", sa, sb)
	}
	got := readAll(t, s, site, inOrder.Session+"x", 0)
	for i, c := range got {
		if c.Seq != int64(i) || !bytes.Equal(c.Data, bb[i].Data) {
			t.Fatalf("chunk %d out of order (seq %d)", i, c.Seq)
		}
	}
	if len(got) != 12 {
		t.Fatalf("read %d chunks", len(got))
	}
}

func testSitesIsolated(t *testing.T, s store.Store) {
	b1, b2 := newBuilder(newSite(), 5), newBuilder(newSite(), 5) // same session id
	appendOK(t, s, b1.Chunk(t, 0, 300), b2.Chunk(t, 0, 300), b2.Chunk(t, 1, 300))
	if n := session(t, s, b1.Site, b1.Session).ChunkCount; n != 1 {
		t.Fatalf("site 1 sees %d chunks", n)
	}
	if n := len(readAll(t, s, b2.Site, b2.Session, 0)); n != 2 {
		t.Fatalf("site 2 reads %d chunks", n)
	}
	// A session id that extends another's is its own partition.
	b3 := &Builder{Site: b1.Site, Session: b1.Session + "0", Visitor: b1.Visitor, ServerMs: b1.ServerMs}
	appendOK(t, s, b3.Chunk(t, 7, 300))
	if n := len(readAll(t, s, b1.Site, b1.Session, 0)); n != 1 {
		t.Fatalf("prefix session leaks: %d chunks", n)
	}
}

func testHugeSession(t *testing.T, s store.Store) {
	b := newBuilder(newSite(), 6)
	const n = 1500
	var chunks []store.Chunk
	for i := range int64(n) {
		chunks = append(chunks, b.Chunk(t, i, 1500))
	}
	// Mostly in order in batches of 50, with every batch reversed inside.
	for i := 0; i < n; i += 50 {
		batch := slices.Clone(chunks[i:min(i+50, n)])
		slices.Reverse(batch)
		if got := stored(appendOK(t, s, batch...)); got != len(batch) {
			t.Fatalf("stored %d of %d", got, len(batch))
		}
	}
	got := readAll(t, s, b.Site, b.Session, 0)
	if len(got) != n {
		t.Fatalf("read %d chunks, want %d", len(got), n)
	}
	for i := range got {
		if got[i].Seq != int64(i) {
			t.Fatalf("chunk %d has seq %d", i, got[i].Seq)
		}
	}
	sum := session(t, s, b.Site, b.Session)
	if sum.ChunkCount != n || sum.ClickCount != n {
		t.Fatalf("summary chunks %d clicks %d", sum.ChunkCount, sum.ClickCount)
	}
	wantFold(t, sum, chunks)
}

func testRetention(t *testing.T, s store.Store) {
	ctx := context.Background()
	site := newSite()
	old := newBuilder(site, 7)
	old.ServerMs = time.Now().Add(-3 * 24 * time.Hour).UnixMilli()
	old.ExpiresMs = time.Now().Add(-2 * 24 * time.Hour).UnixMilli()
	live := newBuilder(site, 8)
	live.ExpiresMs = time.Now().Add(time.Hour).UnixMilli()
	appendOK(t, s, old.Chunk(t, 0, 300), live.Chunk(t, 0, 300))
	if _, err := s.Session(ctx, site, old.Session); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("expired session: %v, want ErrNotFound", err)
	}
	page, err := s.ListSessions(ctx, site, "", 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Sessions) != 1 || page.Sessions[0].SessionId != live.Session {
		t.Fatalf("listing has %d sessions, want only the live one", len(page.Sessions))
	}
	if _, err := s.Sweep(ctx, time.Now()); err != nil {
		t.Fatal(err)
	}
	if n := len(readAll(t, s, site, old.Session, 0)); n != 0 {
		t.Fatalf("swept session still has %d chunks", n)
	}
	session(t, s, site, live.Session)
	// A later chunk extends the session's life.
	live.ExpiresMs = time.Now().Add(48 * time.Hour).UnixMilli()
	appendOK(t, s, live.Chunk(t, 1, 300))
	if _, err := s.Sweep(ctx, time.Now().Add(2*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if n := session(t, s, site, live.Session).ChunkCount; n != 2 {
		t.Fatalf("extended session has %d chunks", n)
	}
	// Sweep reports a deletion to the outbox.
	if !outboxHas(t, s, func(e store.OutboxEntry) bool {
		return e.Kind == store.OutboxDeleteSessions && e.SiteID == site && slices.Contains(e.SessionIDs, old.Session)
	}) {
		t.Fatalf("no outbox deletion for the expired session")
	}
}

func outboxHas(t *testing.T, s store.Store, match func(store.OutboxEntry) bool) bool {
	t.Helper()
	es, err := s.OutboxPending(context.Background(), 100000)
	if err != nil {
		t.Fatal(err)
	}
	return slices.ContainsFunc(es, match)
}

func testDeleteSession(t *testing.T, s store.Store) {
	ctx := context.Background()
	b := newBuilder(newSite(), 9)
	c0 := b.Chunk(t, 0, 300)
	appendOK(t, s, c0, b.Chunk(t, 1, 300))
	if err := s.DeleteSession(ctx, b.Site, b.Session); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Session(ctx, b.Site, b.Session); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("deleted session: %v", err)
	}
	if n := len(readAll(t, s, b.Site, b.Session, 0)); n != 0 {
		t.Fatalf("deleted session has %d chunks", n)
	}
	if err := s.DeleteSession(ctx, b.Site, b.Session); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("second delete: %v, want ErrNotFound", err)
	}
	// A re-delivered chunk does not bring it back.
	if res := appendOK(t, s, c0); res[0].Stored {
		t.Fatalf("re-delivery resurrected a deleted session")
	}
	if _, err := s.Session(ctx, b.Site, b.Session); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("deleted session after re-delivery: %v", err)
	}
	if !outboxHas(t, s, func(e store.OutboxEntry) bool {
		return e.Kind == store.OutboxDeleteSessions && e.SiteID == b.Site && slices.Equal(e.SessionIDs, []string{b.Session})
	}) {
		t.Fatalf("no outbox deletion")
	}
}

func testDeleteVisitor(t *testing.T, s store.Store) {
	ctx := context.Background()
	site := newSite()
	var mine []*Builder
	for i := range 3 {
		b := newBuilder(site, 100+i)
		b.Visitor = "v_target000000000000000"
		mine = append(mine, b)
		appendOK(t, s, b.Chunk(t, 0, 300), b.Chunk(t, 1, 300))
	}
	other := newBuilder(site, 200)
	other.Visitor = "v_other00000000000000000"
	otherSite := newBuilder(newSite(), 201)
	otherSite.Visitor = mine[0].Visitor
	appendOK(t, s, other.Chunk(t, 0, 300), otherSite.Chunk(t, 0, 300))
	ids, err := s.DeleteVisitor(ctx, site, mine[0].Visitor)
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(ids)
	if want := []string{mine[0].Session, mine[1].Session, mine[2].Session}; !slices.Equal(ids, want) {
		t.Fatalf("deleted sessions %v, want %v", ids, want)
	}
	for _, b := range mine {
		if _, err := s.Session(ctx, site, b.Session); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("visitor session survived: %v", err)
		}
		if c := readAll(t, s, site, b.Session, 0); len(c) != 0 {
			t.Fatalf("visitor chunks survived")
		}
		if res := appendOK(t, s, b.Chunk(t, 0, 300)); res[0].Stored {
			t.Fatalf("re-delivery resurrected a visitor's session")
		}
	}
	session(t, s, site, other.Session)
	session(t, s, otherSite.Site, otherSite.Session)
	if ids, err := s.DeleteVisitor(ctx, site, mine[0].Visitor); err != nil || len(ids) != 0 {
		t.Fatalf("second DeleteVisitor: %v, %v", ids, err)
	}
	if !outboxHas(t, s, func(e store.OutboxEntry) bool {
		return e.Kind == store.OutboxDeleteVisitor && e.SiteID == site && e.VisitorID == mine[0].Visitor
	}) {
		t.Fatalf("no outbox visitor deletion")
	}
}

func testListPaging(t *testing.T, s store.Store) {
	ctx := context.Background()
	siteA, siteB := newSite(), newSite()
	want := map[string]bool{}
	for i := range 23 {
		b := newBuilder(siteA, 300+i)
		appendOK(t, s, b.Chunk(t, 0, 200))
		want[b.Session] = true
	}
	bOther := newBuilder(siteB, 400)
	appendOK(t, s, bOther.Chunk(t, 0, 200))
	seen := map[string]bool{}
	token, pages := "", 0
	for {
		p, err := s.ListSessions(ctx, siteA, token, 10)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		if len(p.Sessions) > 10 {
			t.Fatalf("page of %d", len(p.Sessions))
		}
		for _, sum := range p.Sessions {
			if sum.SiteId != siteA || seen[sum.SessionId] || !want[sum.SessionId] {
				t.Fatalf("unexpected or repeated session %d/%s", sum.SiteId, sum.SessionId)
			}
			if sum.Version < 1 || sum.ChunkCount != 1 {
				t.Fatalf("listed summary version %d chunks %d", sum.Version, sum.ChunkCount)
			}
			seen[sum.SessionId] = true
		}
		if p.Next == "" {
			break
		}
		token = p.Next
		if pages > 10 {
			t.Fatal("paging does not end")
		}
	}
	if len(seen) != 23 || pages < 3 {
		t.Fatalf("listed %d sessions in %d pages", len(seen), pages)
	}
	if _, err := s.ListSessions(ctx, siteA, "not a token!", 10); !errors.Is(err, store.ErrBadToken) {
		t.Fatalf("a garbage token: %v, want ErrBadToken", err)
	}
	// Site 0 lists every site.
	found := false
	token = ""
	for i := 0; i < 100000 && !found; i++ {
		p, err := s.ListSessions(ctx, 0, token, 500)
		if err != nil {
			t.Fatal(err)
		}
		for _, sum := range p.Sessions {
			found = found || (sum.SiteId == siteB && sum.SessionId == bOther.Session)
		}
		if token = p.Next; token == "" {
			break
		}
	}
	if !found {
		t.Fatal("listing all sites misses a session")
	}
}

func testSiteActivity(t *testing.T, s store.Store) {
	ctx := context.Background()
	site := newSite()
	last, n, err := s.SiteActivity(ctx, site, time.Now().Add(-24*time.Hour))
	if err != nil || !last.IsZero() || n != 0 {
		t.Fatalf("empty site: %v %d %v", last, n, err)
	}
	start := time.Now()
	b1, b2 := newBuilder(site, 500), newBuilder(site, 501)
	b2.ServerMs = b1.ServerMs + 60_000
	appendOK(t, s, b1.Chunk(t, 0, 200), b2.Chunk(t, 3, 200))
	appendOK(t, s, b1.Chunk(t, 1, 200))
	last, n, err = s.SiteActivity(ctx, site, start.Add(-time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if n != 2 || last.UnixMilli() != b2.ServerMs+3 {
		t.Fatalf("activity: last %v (want %v) sessions %d (want 2)", last.UnixMilli(), b2.ServerMs+3, n)
	}
	if _, n, _ = s.SiteActivity(ctx, site, time.Now().Add(time.Hour)); n != 0 {
		t.Fatalf("sessions begun in the future: %d", n)
	}
}

func testOutboxOrder(t *testing.T, s store.Store) {
	ctx := context.Background()
	b := newBuilder(newSite(), 600)
	for i := range int64(5) {
		appendOK(t, s, b.Chunk(t, i, 200))
	}
	appendOK(t, s, b.Chunk(t, 2, 200)) // duplicate: no entry
	es, err := s.OutboxPending(ctx, 1000000)
	if err != nil {
		t.Fatal(err)
	}
	var mine []store.OutboxEntry
	for _, e := range es {
		if e.SiteID == b.Site {
			mine = append(mine, e)
		}
	}
	if len(mine) != 5 {
		t.Fatalf("%d outbox entries, want 5", len(mine))
	}
	// Entry i records version i+1; it may carry that summary or a later
	// one (the store's choice), never an earlier one, and the last is the
	// newest.
	checkUpserts := func(es []store.OutboxEntry, first int64) {
		t.Helper()
		prev := int64(0)
		for i, e := range es {
			v := e.Summary.GetVersion()
			if e.Kind != store.OutboxUpsert || v < first+int64(i) || v < prev || e.Summary.GetChunkCount() != int32(v) || e.Summary.GetSessionId() != b.Session {
				t.Fatalf("entry %d: kind %d version %d chunks %d session %q", i, e.Kind, v, e.Summary.GetChunkCount(), e.Summary.GetSessionId())
			}
			prev = v
		}
		if last := es[len(es)-1].Summary.GetVersion(); last != 5 {
			t.Fatalf("last entry's version %d, want 5", last)
		}
	}
	checkUpserts(mine, 1)
	depth, err := s.OutboxDepth(ctx)
	if err != nil || depth < 5 {
		t.Fatalf("depth %d, %v", depth, err)
	}
	if err := s.OutboxAck(ctx, mine[:3]); err != nil {
		t.Fatal(err)
	}
	es, err = s.OutboxPending(ctx, 1000000)
	if err != nil {
		t.Fatal(err)
	}
	var left []store.OutboxEntry
	for _, e := range es {
		if e.SiteID == b.Site {
			left = append(left, e)
		}
	}
	if len(left) != 2 || left[0].ID != mine[3].ID || left[1].ID != mine[4].ID {
		t.Fatalf("after ack %d entries left, want entries 4 and 5", len(left))
	}
	checkUpserts(left, 4)
	if d2, _ := s.OutboxDepth(ctx); d2 != depth-3 {
		t.Fatalf("depth after ack %d, want %d", d2, depth-3)
	}
}

func testConcurrent(t *testing.T, s store.Store) {
	site := newSite()
	const sessions, perSession = 4, 30
	var builders []*Builder
	var all []store.Chunk
	for i := range sessions {
		b := newBuilder(site, 700+i)
		builders = append(builders, b)
		for q := range int64(perSession) {
			all = append(all, b.Chunk(t, q, 300))
		}
	}
	// Every chunk delivered twice, by 6 writers in random order.
	work := append(slices.Clone(all), all...)
	testseed.Rand(t, 15).Shuffle(len(work), func(i, j int) { work[i], work[j] = work[j], work[i] })
	var wg sync.WaitGroup
	var mu sync.Mutex
	total := 0
	errs := make(chan error, 6)
	for w := range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w * 4; i < len(work); i += 6 * 4 {
				res, err := s.Append(context.Background(), work[i:min(i+4, len(work))])
				if err != nil {
					errs <- err
					return
				}
				mu.Lock()
				total += stored(res)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if total != sessions*perSession {
		t.Fatalf("stored %d, want %d (each key exactly once)", total, sessions*perSession)
	}
	for i, b := range builders {
		sum := session(t, s, site, b.Session)
		wantFold(t, sum, all[i*perSession:(i+1)*perSession])
	}
}

// testSameSeqTwoPageViews: two tabs of one session allocated the same seqs.
// Both tabs' chunks are kept and read back in key order (seq, then page
// view id); an exact re-delivery is a duplicate.
func testSameSeqTwoPageViews(t *testing.T, s store.Store) {
	ctx := context.Background()
	b := newBuilder(newSite(), 800)
	const pvA, pvB = "p_tabaaaaaaaaaaaaaaaaaaa", "p_tabbbbbbbbbbbbbbbbbbbb"
	a0, b0 := b.ChunkPV(t, 0, pvA, 300), b.ChunkPV(t, 0, pvB, 400)
	a1, b1 := b.ChunkPV(t, 1, pvA, 500), b.ChunkPV(t, 1, pvB, 600)
	// Tab B's seq 0 first, then tab A's (an equal seq after the first
	// chunk), then both seq 1 in one call in reverse key order.
	if res := appendOK(t, s, b0); !res[0].Stored {
		t.Fatalf("first chunk not stored: %+v", res)
	}
	if res := appendOK(t, s, a0); !res[0].Stored || res[0].Refused != nil {
		t.Fatalf("the other tab's chunk of the same seq: %+v, want stored", res)
	}
	if res := appendOK(t, s, b1, a1); !res[0].Stored || !res[1].Stored {
		t.Fatalf("seq 1 of both tabs: %+v", res)
	}
	want := []store.Chunk{a0, b0, a1, b1}
	got := readAll(t, s, b.Site, b.Session, 0)
	if len(got) != len(want) {
		t.Fatalf("read %d chunks, want %d", len(got), len(want))
	}
	for i, c := range got {
		if c.Seq != want[i].Seq || c.PageViewID != want[i].PageViewID || !bytes.Equal(c.Data, want[i].Data) {
			t.Fatalf("chunk %d read back as (%d, %s), want (%d, %s), bytes equal %v", i, c.Seq, c.PageViewID, want[i].Seq, want[i].PageViewID, bytes.Equal(c.Data, want[i].Data))
		}
	}
	if from := readAll(t, s, b.Site, b.Session, 1); len(from) != 2 || from[0].PageViewID != pvA || from[1].PageViewID != pvB {
		t.Fatalf("ReadChunks from seq 1 gave %d chunks, want both page views of seq 1", len(from))
	}
	idx, err := s.ChunkIndex(ctx, b.Site, b.Session)
	if err != nil {
		t.Fatal(err)
	}
	if len(idx) != 4 || idx[0].PageViewID != pvA || idx[1].PageViewID != pvB || idx[1].Seq != 0 || idx[3].Seq != 1 || idx[3].PageViewID != pvB {
		t.Fatalf("chunk index %+v", idx)
	}
	sum := session(t, s, b.Site, b.Session)
	if sum.ChunkCount != 4 {
		t.Fatalf("summary counts %d chunks, want 4", sum.ChunkCount)
	}
	wantFold(t, sum, want)
	// Exact re-delivery (also with other bytes under the same key) is a
	// duplicate and changes nothing.
	changed := b.ChunkPV(t, 1, pvB, 3000)
	res := appendOK(t, s, a0, changed, b0)
	if stored(res) != 0 || res[0].Refused != nil || res[1].Refused != nil {
		t.Fatalf("re-delivery: %+v, want duplicates", res)
	}
	if again := readAll(t, s, b.Site, b.Session, 0); len(again) != 4 || !bytes.Equal(again[3].Data, b1.Data) {
		t.Fatalf("re-delivery changed the chunks (%d)", len(again))
	}
	if again := session(t, s, b.Site, b.Session); !proto.Equal(again, sum) {
		t.Fatalf("re-delivery changed the summary (version %d→%d)", sum.Version, again.Version)
	}
}

// testTwoPageViewsReordered: the summary of a two-tab session is the same
// whatever the order and grouping in which its chunks arrive.
func testTwoPageViewsReordered(t *testing.T, s store.Store) {
	site := newSite()
	const pvA, pvB = "p_tabaaaaaaaaaaaaaaaaaaa", "p_tabbbbbbbbbbbbbbbbbbbb"
	var chunks []store.Chunk
	ref := newBuilder(site, 810)
	for q := range int64(6) {
		chunks = append(chunks, ref.ChunkPV(t, q, pvA, 300), ref.ChunkPV(t, q, pvB, 300))
	}
	orders := [][]int{
		{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11},
		{1, 0, 3, 2, 5, 4, 7, 6, 9, 8, 11, 10},
		{11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0},
		{6, 1, 8, 0, 11, 3, 2, 10, 4, 9, 7, 5},
	}
	var first *sessionsv1.SessionSummary
	for n, order := range orders {
		sess := fmt.Sprintf("s_reorder%013d", n)
		var in []store.Chunk
		for _, i := range order {
			c := chunks[i]
			c.SessionID = sess
			in = append(in, c)
		}
		// Singly, then the rest in one call.
		for _, c := range in[:5] {
			appendOK(t, s, c)
		}
		if got := stored(appendOK(t, s, in[5:]...)); got != 7 {
			t.Fatalf("order %d: stored %d of the last 7", n, got)
		}
		sum := session(t, s, site, sess)
		sum.Version, sum.SessionId = 0, ""
		if sum.ChunkCount != 12 {
			t.Fatalf("order %d: %d chunks", n, sum.ChunkCount)
		}
		if first == nil {
			first = sum
			wantFold(t, session(t, s, site, sess), in)
			continue
		}
		if !proto.Equal(sum, first) {
			t.Fatalf("order %v changed the summary:\n got %v\nwant %v", order, sum, first)
		}
	}
}

// testSessionChunkLimit: a store opened with Limits{MaxChunks: 3}.
func testSessionChunkLimit(t *testing.T, s store.Store) {
	b := newBuilder(newSite(), 820)
	other := newBuilder(b.Site, 821)
	c := make([]store.Chunk, 6)
	for i := range c {
		c[i] = b.Chunk(t, int64(i), 300)
	}
	appendOK(t, s, c[0], c[1])
	// One call: a re-delivery, three new chunks of the full session (out of
	// order) and a chunk of another session. Admission is in key order:
	// seq 2 fits, 3 and 4 do not.
	res := appendOK(t, s, c[4], c[1], c[2], other.Chunk(t, 0, 300), c[3])
	if !res[2].Stored || res[2].Refused != nil {
		t.Fatalf("seq 2 (the third chunk): %+v, want stored", res[2])
	}
	if res[1].Stored || res[1].Refused != nil {
		t.Fatalf("re-delivered seq 1: %+v, want a duplicate", res[1])
	}
	for _, i := range []int{0, 4} {
		if res[i].Stored || !errors.Is(res[i].Refused, store.ErrSessionChunks) {
			t.Fatalf("result %d: %+v, want refused with ErrSessionChunks", i, res[i])
		}
	}
	if !res[3].Stored {
		t.Fatalf("another session's chunk in the same call: %+v, want stored", res[3])
	}
	// Full: a stored chunk is still a duplicate, a new one is refused again.
	res = appendOK(t, s, c[0], c[5])
	if res[0].Stored || res[0].Refused != nil || !errors.Is(res[1].Refused, store.ErrSessionChunks) {
		t.Fatalf("full session: %+v", res)
	}
	if got := readAll(t, s, b.Site, b.Session, 0); len(got) != 3 || got[2].Seq != 2 {
		t.Fatalf("read %d chunks, want seqs 0..2", len(got))
	}
	sum := session(t, s, b.Site, b.Session)
	if sum.ChunkCount != 3 {
		t.Fatalf("summary counts %d chunks, want 3", sum.ChunkCount)
	}
	wantFold(t, sum, c[:3])
}

// testSessionByteLimit: a store opened with Limits{MaxRawBytes: 5000}.
func testSessionByteLimit(t *testing.T, s store.Store) {
	b := newBuilder(newSite(), 830)
	c0, c1, c2, c3 := b.Chunk(t, 0, 2000), b.Chunk(t, 1, 2000), b.Chunk(t, 2, 2000), b.Chunk(t, 3, 300)
	if c0.Stats.RawBytes+c1.Stats.RawBytes > 5000 || c0.Stats.RawBytes+c1.Stats.RawBytes+c2.Stats.RawBytes <= 5000 ||
		c0.Stats.RawBytes+c1.Stats.RawBytes+c3.Stats.RawBytes > 5000 {
		t.Fatalf("chunk sizes %d %d %d %d do not fit the test", c0.Stats.RawBytes, c1.Stats.RawBytes, c2.Stats.RawBytes, c3.Stats.RawBytes)
	}
	res := appendOK(t, s, c0, c1, c2)
	if !res[0].Stored || !res[1].Stored || res[2].Stored || !errors.Is(res[2].Refused, store.ErrSessionBytes) {
		t.Fatalf("results %+v, want the third refused with ErrSessionBytes", res)
	}
	// A smaller chunk still fits; the refused one stays refused.
	res = appendOK(t, s, c2, c3)
	if !errors.Is(res[0].Refused, store.ErrSessionBytes) || !res[1].Stored {
		t.Fatalf("results %+v", res)
	}
	sum := session(t, s, b.Site, b.Session)
	if sum.ChunkCount != 3 {
		t.Fatalf("summary counts %d chunks, want 3", sum.ChunkCount)
	}
	wantFold(t, sum, []store.Chunk{c0, c1, c3})
}

// ChunkEvents is a chunk of page view pv holding the given rrweb events.
func (b *Builder) ChunkEvents(t testing.TB, seq int64, pv string, evs []map[string]any) store.Chunk {
	t.Helper()
	raw, err := json.Marshal(evs)
	if err != nil {
		t.Fatal(err)
	}
	ch := &recordingsv1.Chunk{
		SiteId: b.Site, OrganizationId: b.Site + 1, SessionId: b.Session, VisitorId: b.Visitor,
		PageViewId: pv, Seq: seq, Url: "https://shop.example.com/", Events: raw,
		ServerTime: timestamppb.New(time.UnixMilli(b.ServerMs + seq)),
	}
	st, err := summary.Extract(ch, int64(len(raw)), b.ExpiresMs)
	if err != nil {
		t.Fatal(err)
	}
	return store.Chunk{SiteID: b.Site, SessionID: b.Session, Seq: seq, PageViewID: pv, Data: raw, Stats: st}
}

// testSessionDetail: the frustrations are stored with the summary, read with
// it in one call, and are the fold's whatever the order of arrival.
func testSessionDetail(t *testing.T, s store.Store) {
	ctx := context.Background()
	site := newSite()
	pv := "p_0000000000000000000001"
	clickAt := func(ts int64, x int) map[string]any {
		return map[string]any{"type": 3, "timestamp": ts, "data": map[string]any{"source": 2, "type": 2, "id": 9, "x": x, "y": 40}}
	}
	move := func(ts int64) map[string]any {
		return map[string]any{"type": 3, "timestamp": ts, "data": map[string]any{"source": 1, "positions": []any{}}}
	}
	evs := [][]map[string]any{
		{{"type": 4, "timestamp": baseMs, "data": map[string]any{"href": "https://shop.example.com/", "width": 1280, "height": 720}},
			// A dead click near the chunk's end: the next chunk decides it.
			{"type": 2, "timestamp": baseMs, "data": map[string]any{"node": map[string]any{"type": 0, "id": 1}}}, clickAt(baseMs+4000, 500)},
		// Rage: three clicks within a second.
		{move(baseMs + 6000), clickAt(baseMs+7000, 100), clickAt(baseMs+7200, 102), clickAt(baseMs+7400, 101), move(baseMs + 9000)},
	}
	in, shuffled := newBuilder(site, 5), newBuilder(site, 6)
	var a, b []store.Chunk
	for i, e := range evs {
		a = append(a, in.ChunkEvents(t, int64(i), pv, e))
		b = append(b, shuffled.ChunkEvents(t, int64(i), pv, e))
	}
	appendOK(t, s, a...)
	appendOK(t, s, b[1])
	appendOK(t, s, b[0], b[1]) // the second again: a duplicate
	for _, id := range []string{in.Session, shuffled.Session} {
		sum, fs, err := s.SessionDetail(ctx, site, id)
		if err != nil {
			t.Fatalf("SessionDetail: %v", err)
		}
		if !proto.Equal(sum, session(t, s, site, id)) {
			t.Fatalf("SessionDetail's summary differs from Session's")
		}
		if sum.RageClickCount != 1 || sum.DeadClickCount != 1 || len(fs) != 2 {
			t.Fatalf("%s: rage %d dead %d, list %v", id, sum.RageClickCount, sum.DeadClickCount, fs)
		}
		dead, rage := fs[0], fs[1]
		if dead.GetKind() != recordingsv1.FrustrationKind_FRUSTRATION_KIND_DEAD || dead.GetTime().AsTime().UnixMilli() != baseMs+4000 ||
			dead.GetX() != 500 || dead.GetNodeId() != 9 || dead.GetPageViewId() != pv || dead.GetClicks() != 1 {
			t.Fatalf("dead click %v", dead)
		}
		if rage.GetKind() != recordingsv1.FrustrationKind_FRUSTRATION_KIND_RAGE || rage.GetTime().AsTime().UnixMilli() != baseMs+7000 || rage.GetClicks() != 3 {
			t.Fatalf("rage click %v", rage)
		}
	}
	if _, _, err := s.SessionDetail(ctx, site, "s_nosuchsession00000000"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("SessionDetail of no session: %v", err)
	}
}
