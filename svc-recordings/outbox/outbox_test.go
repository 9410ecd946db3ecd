package outbox

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	searchv1 "github.com/sightlinehq/sightline/gen/sightline/search/v1"
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
	st, err := pebble.Open(t.TempDir(), pebble.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
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
	want := []string{"upsert s_aaaaaaaaaaaa@2 s_bbbbbbbbbbbb@1", "delete [s_aaaaaaaaaaaa]", "upsert s_bbbbbbbbbbbb@2"}
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

func TestRelayDropsOnlyWhatSearchRefuses(t *testing.T) {
	st, err := pebble.Open(t.TempDir(), pebble.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
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
