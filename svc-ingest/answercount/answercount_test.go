package answercount

import (
	"context"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	recordingsv1 "github.com/sightlinehq/sightline/gen/sightline/recordings/v1"
	"github.com/sightlinehq/sightline/internal/grpctest"
)

// counter is a small real RecordingsService answering GetAnswerCounts.
type counter struct {
	recordingsv1.UnimplementedRecordingsInternalServiceServer
	mu    sync.Mutex
	n     map[int64]int64
	down  bool
	calls int
}

func (c *counter) GetAnswerCounts(_ context.Context, _ *recordingsv1.GetAnswerCountsRequest) (*recordingsv1.GetAnswerCountsResponse, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls++
	if c.down {
		return nil, status.Error(codes.Unavailable, "down (test)")
	}
	out := map[int64]int64{}
	for k, v := range c.n {
		out[k] = v
	}
	return &recordingsv1.GetAnswerCountsResponse{SurveyResponses: out}, nil
}

func (c *counter) set(down bool, n map[int64]int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.down, c.n = down, n
}

func (c *counter) callCount() int { c.mu.Lock(); defer c.mu.Unlock(); return c.calls }

func start(t *testing.T) (*counter, recordingsv1.RecordingsInternalServiceClient) {
	c := &counter{}
	cc := grpctest.Conn(t, func(s *grpc.Server) { recordingsv1.RegisterRecordingsInternalServiceServer(s, c) })
	return c, recordingsv1.NewRecordingsInternalServiceClient(cc)
}

func TestCache(t *testing.T) {
	srv, client := start(t)
	now := time.Unix(1_763_890_000, 0)
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	var errs int
	c := New(client, Options{TTL: 30 * time.Second, RetryAfter: 5 * time.Second, Now: clock, OnError: func(int64, error) { errs++ }})
	defer c.Close()
	ctx := context.Background()
	const site = int64(5_000_000_001)

	// Recordings down and never asked: no counts, and not asked again
	// before RetryAfter.
	srv.set(true, nil)
	if _, ok := c.Get(ctx, site); ok || srv.callCount() != 1 || errs != 1 {
		t.Fatalf("down: ok=%v calls=%d errs=%d", ok, srv.callCount(), errs)
	}
	if _, ok := c.Get(ctx, site); ok || srv.callCount() != 1 {
		t.Fatalf("asked again within RetryAfter: %d calls", srv.callCount())
	}
	// Back up: counts after RetryAfter, served from memory while fresh.
	srv.set(false, map[int64]int64{9_000_000_000_000_000_001: 41})
	advance(6 * time.Second)
	if n, ok := c.Get(ctx, site); !ok || n[9_000_000_000_000_000_001] != 41 || srv.callCount() != 2 {
		t.Fatalf("up: %v %v calls=%d", n, ok, srv.callCount())
	}
	if _, ok := c.Get(ctx, site); !ok || srv.callCount() != 2 {
		t.Fatalf("fresh entry fetched again: %d calls", srv.callCount())
	}
	// Stale: served at once, refreshed in the background.
	srv.set(false, map[int64]int64{9_000_000_000_000_000_001: 50})
	advance(31 * time.Second)
	if n, _ := c.Get(ctx, site); n[9_000_000_000_000_000_001] != 41 {
		t.Fatalf("stale copy not served: %v", n)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		if n, _ := c.Get(ctx, site); n[9_000_000_000_000_000_001] == 50 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("not refreshed")
		}
		time.Sleep(10 * time.Millisecond)
	}
	// Down again: the last good copy stays.
	srv.set(true, nil)
	advance(31 * time.Second)
	c.Get(ctx, site)
	c.c.Wait()
	if n, ok := c.Get(ctx, site); !ok || n[9_000_000_000_000_000_001] != 50 {
		t.Fatalf("last good copy lost: %v %v", n, ok)
	}
}
