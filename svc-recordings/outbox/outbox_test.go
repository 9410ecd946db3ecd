package outbox

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	searchv1 "github.com/sightlinehq/sightline/gen/sightline/search/v1"
	sessionsv1 "github.com/sightlinehq/sightline/gen/sightline/sessions/v1"
	"github.com/sightlinehq/sightline/internal/grpctest"
	"github.com/sightlinehq/sightline/svc-recordings/store"
	"github.com/sightlinehq/sightline/svc-recordings/store/pebble"
	"github.com/sightlinehq/sightline/svc-recordings/store/storetest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// search is a real SearchService on a socket logging each call; it fails
// while down is set and refuses the session or answer whose id is reject.
type search struct {
	searchv1.UnimplementedSearchInternalServiceServer
	mu     sync.Mutex
	down   bool
	reject string
	log    []string
	bytes  []int // each upsert call's request size
}

func (s *search) UpsertSessions(ctx context.Context, req *searchv1.UpsertSessionsRequest) (*searchv1.UpsertSessionsResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.down {
		return nil, status.Error(codes.Unavailable, "down")
	}
	line := "upsert"
	for _, x := range req.Sessions {
		if x.SessionId == s.reject {
			return nil, status.Error(codes.InvalidArgument, "bad summary")
		}
	}
	for _, x := range req.Sessions {
		line += fmt.Sprintf(" %s@%d", x.SessionId, x.Version)
	}
	s.log = append(s.log, line)
	s.bytes = append(s.bytes, proto.Size(req))
	return &searchv1.UpsertSessionsResponse{Upserted: int32(len(req.Sessions))}, nil
}

func (s *search) DeleteSessions(ctx context.Context, req *searchv1.DeleteSessionsRequest) (*searchv1.DeleteSessionsResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.down {
		return nil, status.Error(codes.Unavailable, "down")
	}
	s.log = append(s.log, fmt.Sprintf("delete %v", req.GetSessionIds().GetIds()))
	return &searchv1.DeleteSessionsResponse{Deleted: 1}, nil
}

// openStore opens a Pebble store for the test, closed when the test and
// every cleanup registered after this one (a running relay's) are done.
func openStore(t *testing.T) *pebble.Store {
	t.Helper()
	st, err := pebble.Open(t.TempDir(), pebble.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := st.Close(); err != nil {
			t.Errorf("closing the store: %v", err)
		}
	})
	return st
}

// serve runs a gRPC server with what register puts on it, on a socket
// for the test, and answers a client for it.
func serve[C any](t *testing.T, register func(*grpc.Server), client func(grpc.ClientConnInterface) C) C {
	t.Helper()
	return client(grpctest.Conn(t, register))
}

// serveSearch serves sr on a socket for the test and answers a client.
func serveSearch(t *testing.T, sr *search) searchv1.SearchInternalServiceClient {
	t.Helper()
	return serve(t, func(s *grpc.Server) { searchv1.RegisterSearchInternalServiceServer(s, sr) }, searchv1.NewSearchInternalServiceClient)
}

func TestRelayCoalescesInOrderAndRetries(t *testing.T) {
	st := openStore(t)
	sr := &search{down: true}
	client := serveSearch(t, sr)

	ctx := context.Background()
	now := time.Now().UnixMilli()
	a := &storetest.Builder{Site: 3_000_000_001, Session: "s_aaaaaaaaaaaa", Visitor: "v_aaaaaaaaaaaa", ServerMs: now}
	b := &storetest.Builder{Site: 3_000_000_001, Session: "s_bbbbbbbbbbbb", Visitor: "v_bbbbbbbbbbbb", ServerMs: now}
	for _, c := range []store.Chunk{a.Chunk(t, 0, 100), a.Chunk(t, 1, 100), b.Chunk(t, 0, 100)} {
		if _, err := st.Append(ctx, []store.Chunk{c}); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.DeleteSession(ctx, a.Site, a.Session); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Append(ctx, []store.Chunk{b.Chunk(t, 1, 100)}); err != nil {
		t.Fatal(err)
	}

	r := New(st, client, slog.New(slog.NewTextHandler(io.Discard, nil)))
	failsWhileDown(t, r.Once, st.OutboxDepth, 5)
	sr.mu.Lock()
	sr.down = false
	sr.mu.Unlock()
	n, err := r.Once(ctx)
	if err != nil || n != 5 {
		t.Fatalf("Once: %d, %v", n, err)
	}
	// Pebble lists an upsert with its session's summary as read: a is
	// deleted by then (its upserts list none and are skipped), b is at 2.
	want := []string{"upsert s_bbbbbbbbbbbb@2", "delete [s_aaaaaaaaaaaa]", "upsert s_bbbbbbbbbbbb@2"}
	if fmt.Sprint(sr.log) != fmt.Sprint(want) {
		t.Fatalf("search saw %q, want %q", sr.log, want)
	}
	if d, _ := st.OutboxDepth(ctx); d != 0 {
		t.Fatalf("depth after delivery %d", d)
	}
	if n, err := r.Once(ctx); n != 0 || err != nil {
		t.Fatalf("empty outbox: %d %v", n, err)
	}
}

// TestRelaySplitsCalls: one delivery reads the whole outbox (180 entries,
// three chunks of each of 60 sessions) and sends each session once, at its
// latest version, in calls of at most CallSize summaries and CallBytes
// bytes, in the order the sessions were first written; a summary larger
// than CallBytes goes alone.
func TestRelaySplitsCalls(t *testing.T) {
	st := openStore(t)
	sr := &search{}
	ctx := context.Background()
	const sessions, perSession = 60, 3
	var order []string
	for seq := range int64(perSession) {
		for i := range sessions {
			b := &storetest.Builder{Site: 3_000_000_001, Session: fmt.Sprintf("s_%012d", i), Visitor: "v_aaaaaaaaaaaa", ServerMs: time.Now().UnixMilli()}
			// Page views of growing URLs, so summaries differ in size.
			if _, err := st.Append(ctx, []store.Chunk{b.ChunkPV(t, seq, fmt.Sprintf("p_%012d_%s", seq, strings.Repeat("x", i)), 100)}); err != nil {
				t.Fatal(err)
			}
			if seq == 0 {
				order = append(order, b.Session)
			}
		}
	}
	pending, err := st.OutboxPending(ctx, 1)
	if err != nil || len(pending) != 1 {
		t.Fatalf("OutboxPending: %v %v", pending, err)
	}
	one := proto.Size(pending[0].Summary)

	r := New(st, serveSearch(t, sr), slog.New(slog.NewTextHandler(io.Discard, nil)))
	// Summaries are listed at their last version (one is session 0's,
	// the smallest): some calls full by count, some by bytes.
	r.CallSize, r.CallBytes = 7, 8*one
	if n, err := r.Once(ctx); err != nil || n != sessions*perSession {
		t.Fatalf("Once: %d, %v; want all %d entries in one delivery", n, err, sessions*perSession)
	}
	var got []string
	byCount, byBytes := 0, 0 // calls the next summary would have put over one limit
	for i, line := range sr.log {
		ids := strings.Fields(strings.TrimPrefix(line, "upsert"))
		if len(ids) == 0 || len(ids) > r.CallSize || sr.bytes[i] > r.CallBytes {
			t.Fatalf("call %d: %d summaries, %d bytes; want 1 to %d and at most %d bytes", i, len(ids), sr.bytes[i], r.CallSize, r.CallBytes)
		}
		if len(ids) == r.CallSize {
			byCount++
		} else if i < len(sr.log)-1 {
			byBytes++
		}
		got = append(got, ids...)
	}
	if byCount == 0 || byBytes == 0 {
		t.Fatalf("calls ended by the count limit %d, by the byte limit %d: want both exercised (sizes %v)", byCount, byBytes, sr.bytes)
	}
	var want []string
	for _, s := range order {
		want = append(want, fmt.Sprintf("%s@%d", s, perSession))
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("search saw %q\nwant %q", got, want)
	}
	t.Logf("%d entries, %d sessions: %d calls of %v bytes", sessions*perSession, sessions, len(sr.log), sr.bytes)
	if d, _ := st.OutboxDepth(ctx); d != 0 {
		t.Fatalf("depth after delivery %d", d)
	}

	sums := []*sessionsv1.SessionSummary{pending[0].Summary, pending[0].Summary}
	if cs := calls(sums, 500, 1); len(cs) != 2 || len(cs[0]) != 1 || len(cs[1]) != 1 {
		t.Fatalf("summaries over the byte limit: %d calls, want one each", len(cs))
	}
}

func TestRelayDropsOnlyWhatSearchRefuses(t *testing.T) {
	st := openStore(t)
	sr := &search{reject: "s_poison0000000"}
	client := serveSearch(t, sr)
	ctx := context.Background()
	now := time.Now().UnixMilli()
	for _, id := range []string{"s_good00000001", "s_poison0000000", "s_good00000002"} {
		b := &storetest.Builder{Site: 3_000_000_001, Session: id, Visitor: "v_aaaaaaaaaaaa", ServerMs: now}
		if _, err := st.Append(ctx, []store.Chunk{b.Chunk(t, 0, 100)}); err != nil {
			t.Fatal(err)
		}
	}
	r := New(st, client, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if n, err := r.Once(ctx); err != nil || n != 3 {
		t.Fatalf("Once: %d %v", n, err)
	}
	want := []string{"upsert s_good00000001@1", "upsert s_good00000002@1"}
	if fmt.Sprint(sr.log) != fmt.Sprint(want) {
		t.Fatalf("search saw %q, want %q", sr.log, want)
	}
	if d, _ := st.OutboxDepth(ctx); d != 0 {
		t.Fatalf("a refused summary blocks the outbox: depth %d", d)
	}
}

// failsWhileDown checks that a delivery (once) to a target that is down
// fails with Unavailable and leaves the outbox (depth) at want entries.
func failsWhileDown(t *testing.T, once func(context.Context) (int, error), depth func(context.Context) (int64, error), want int64) {
	t.Helper()
	ctx := context.Background()
	if _, err := once(ctx); status.Code(err) != codes.Unavailable {
		t.Fatalf("delivery to a target that is down: %v, want Unavailable", err)
	}
	if d, err := depth(ctx); err != nil || d != want {
		t.Fatalf("a failed delivery changed the outbox: depth %d (%v), want %d", d, err, want)
	}
}

// listed is a store whose sessions' outbox lists given entries, each
// with a summary of its own version, as ScyllaDB's lists them (Pebble's
// lists each session's summary as read, one version per page).
type listed struct {
	store.Store
	entries []store.OutboxEntry
	acked   int
}

func (l *listed) OutboxPending(context.Context, int) ([]store.OutboxEntry, error) {
	return l.entries, nil
}

func (l *listed) OutboxAck(_ context.Context, es []store.OutboxEntry) error {
	l.acked += len(es)
	return nil
}

// TestRelayKeepsLatestVersion: in a run of upserts each session goes once,
// at the highest version listed, in the order first listed; a deletion
// ends the run.
func TestRelayKeepsLatestVersion(t *testing.T) {
	sr := &search{}
	up := func(session string, v int64) store.OutboxEntry {
		return store.OutboxEntry{Kind: store.OutboxUpsert, SiteID: 1, Summary: &sessionsv1.SessionSummary{SiteId: 1, SessionId: session, Version: v}}
	}
	st := &listed{Store: openStore(t), entries: []store.OutboxEntry{
		up("s_a", 1), up("s_b", 1), up("s_a", 3), up("s_a", 2),
		{Kind: store.OutboxDeleteSessions, SiteID: 1, SessionIDs: []string{"s_x"}},
		up("s_b", 2), up("s_a", 4),
	}}
	r := New(st, serveSearch(t, sr), slog.New(slog.NewTextHandler(io.Discard, nil)))
	if n, err := r.Once(context.Background()); err != nil || n != 7 || st.acked != 7 {
		t.Fatalf("Once: %d (%d acked), %v", n, st.acked, err)
	}
	want := []string{"upsert s_a@3 s_b@1", "delete [s_x]", "upsert s_b@2 s_a@4"}
	if fmt.Sprint(sr.log) != fmt.Sprint(want) {
		t.Fatalf("search saw %q, want %q", sr.log, want)
	}
}
