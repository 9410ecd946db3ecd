package outbox

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	notifyv1 "github.com/sightlinehq/sightline/gen/sightline/notify/v1"
	"github.com/sightlinehq/sightline/svc-recordings/store"
	"github.com/sightlinehq/sightline/svc-recordings/store/storetest"
)

// notifier is a real NotifyInternalService on a socket logging each call's
// event ids; it fails while down and refuses a call holding reject.
type notifier struct {
	notifyv1.UnimplementedNotifyInternalServiceServer
	mu     sync.Mutex
	down   bool
	reject string
	calls  [][]string
}

func (n *notifier) PublishEvents(ctx context.Context, req *notifyv1.PublishEventsRequest) (*notifyv1.PublishEventsResponse, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.down {
		return nil, status.Error(codes.Unavailable, "down")
	}
	if len(req.GetEvents()) > MaxEvents {
		return nil, status.Error(codes.InvalidArgument, "too many events")
	}
	var ids []string
	for _, e := range req.GetEvents() {
		if e.GetId() == n.reject {
			return nil, status.Error(codes.InvalidArgument, "bad event")
		}
		ids = append(ids, e.GetId())
	}
	n.calls = append(n.calls, ids)
	return &notifyv1.PublishEventsResponse{}, nil
}

func serveNotifier(t *testing.T, n *notifier) notifyv1.NotifyInternalServiceClient {
	t.Helper()
	return serve(t, func(s *grpc.Server) { notifyv1.RegisterNotifyInternalServiceServer(s, n) }, notifyv1.NewNotifyInternalServiceClient)
}

// endedSessions stores n sessions idle for two hours and ends them.
func endedSessions(t *testing.T, st store.Store, site int64, n int) []string {
	t.Helper()
	ctx := context.Background()
	var ids []string
	for i := range n {
		b := &storetest.Builder{Site: site, Session: fmt.Sprintf("s_relay%016d", i), Visitor: "v_aaaaaaaaaaaa", ServerMs: time.Now().Add(-2 * time.Hour).UnixMilli()}
		if _, err := st.Append(ctx, []store.Chunk{b.Chunk(t, 0, 100)}); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, b.Session)
	}
	for {
		_, more, err := st.EndIdleSessions(ctx, time.Now().Add(-time.Hour), 1000)
		if err != nil {
			t.Fatal(err)
		}
		if !more {
			return ids
		}
	}
}

// TestNotifyRelayBatchesSkipsAndRefuses: 1,200 events go in calls of at
// most 500, in order; a deleted session's event is skipped; one event
// notify refuses is dropped alone; a down notify changes nothing.
func TestNotifyRelayBatchesSkipsAndRefuses(t *testing.T) {
	st := openStore(t)
	const site = int64(3_000_000_001)
	ids := endedSessions(t, st, site, 1200)
	ctx := context.Background()
	if err := st.DeleteSession(ctx, site, ids[7]); err != nil {
		t.Fatal(err)
	}
	n := &notifier{down: true, reject: fmt.Sprintf("session.ended:%d:%s", site, ids[3])}
	r := NewNotify(st, serveNotifier(t, n), slog.New(slog.NewTextHandler(io.Discard, nil)))
	failsWhileDown(t, r.Once, st.NotifyOutboxDepth, 1200)
	n.mu.Lock()
	n.down = false
	n.mu.Unlock()
	total := 0
	for {
		k, err := r.Once(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if k == 0 {
			break
		}
		total += k
	}
	if total != 1200 {
		t.Fatalf("relay took %d entries, want 1200", total)
	}
	var got []string
	for _, c := range n.calls {
		if len(c) > MaxEvents {
			t.Fatalf("a call carried %d events", len(c))
		}
		got = append(got, c...)
	}
	var want []string
	for i, id := range ids {
		if i != 3 && i != 7 {
			want = append(want, fmt.Sprintf("session.ended:%d:%s", site, id))
		}
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("notify got %d events (first %v), want %d in order", len(got), got[:min(3, len(got))], len(want))
	}
	if d, _ := st.NotifyOutboxDepth(ctx); d != 0 {
		t.Fatalf("depth after publishing %d", d)
	}
}

// TestNotifyRelayWithoutClientDiscards: no notify, no growth.
func TestNotifyRelayWithoutClientDiscards(t *testing.T) {
	st := openStore(t)
	endedSessions(t, st, 3_000_000_002, 3)
	r := NewNotify(st, nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if k, err := r.Once(context.Background()); err != nil || k != 3 {
		t.Fatalf("Once: %d, %v", k, err)
	}
	if d, _ := st.NotifyOutboxDepth(context.Background()); d != 0 {
		t.Fatalf("depth %d without a client", d)
	}
}
