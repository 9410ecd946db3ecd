package limits

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	accountsv1 "github.com/sightlinehq/sightline/gen/sightline/accounts/v1"
	"github.com/sightlinehq/sightline/internal/grpctest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestSessions(t *testing.T) {
	s := NewSessions(2, 100, time.Hour, 10)
	k := SessionKey{Site: 5_000_000_001, Session: "s_a"}
	now := time.Date(2026, 11, 23, 23, 0, 0, 0, time.UTC)
	if lim, isNew := s.Check(k, 10, now); lim != "" || !isNew {
		t.Fatal("first batch")
	}
	s.Record(k, 10, now)
	if lim, isNew := s.Check(k, 10, now); lim != "" || isNew {
		t.Fatal("second batch")
	}
	s.Record(k, 10, now)
	if lim, _ := s.Check(k, 10, now); lim != "session_batches" {
		t.Fatalf("third batch: %q", lim)
	}
	s2 := NewSessions(0, 100, time.Hour, 10)
	s2.Record(k, 95, now)
	if lim, _ := s2.Check(k, 10, now); lim != "session_bytes" {
		t.Fatalf("bytes: %q", lim)
	}
	// Idle sessions and a new UTC day count as new.
	if _, isNew := s.Check(k, 1, now.Add(2*time.Hour)); !isNew {
		t.Fatal("idle session not new")
	}
	if _, isNew := s.Check(k, 1, now.Add(90*time.Minute)); !isNew {
		t.Fatal("next day not new")
	}
	if d := UntilMidnightUTC(now); d != time.Hour {
		t.Fatalf("UntilMidnightUTC %v", d)
	}
}

type accounts struct {
	accountsv1.UnimplementedAccountsInternalServiceServer
	mu     sync.Mutex
	limit  int64
	leased map[string]int64
	asks   []int64
	down   bool
}

func (a *accounts) LeaseSessionQuota(_ context.Context, r *accountsv1.LeaseSessionQuotaRequest) (*accountsv1.LeaseSessionQuotaResponse, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.down {
		return nil, status.Error(codes.Unavailable, "down")
	}
	a.asks = append(a.asks, r.GetRequested())
	g := min(r.GetRequested(), a.limit-a.leased[r.GetDay()])
	a.leased[r.GetDay()] += g
	return &accountsv1.LeaseSessionQuotaResponse{Granted: g, Remaining: a.limit - a.leased[r.GetDay()], Limit: a.limit}, nil
}

func TestQuotaLeases(t *testing.T) {
	a := &accounts{limit: 2500, leased: map[string]int64{}}
	cc := grpctest.Conn(t, func(s *grpc.Server) { accountsv1.RegisterAccountsInternalServiceServer(s, a) })
	var leaseErrors int
	q := &Quota{Accounts: accountsv1.NewAccountsInternalServiceClient(cc), Holder: "test", OnLeaseError: func(error) { leaseErrors++ }}
	// Two processes share the quota through accounts.
	q2 := &Quota{Accounts: q.Accounts, Holder: "test2"}
	ctx := context.Background()
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	admitted := 0
	for i := range 3000 {
		qq := q
		if i%2 == 1 {
			qq = q2
		}
		err := qq.Take(ctx, 5_000_000_001, 2500, now)
		if err == nil {
			admitted++
		} else if !errors.Is(err, ErrQuotaExceeded) {
			t.Fatal(err)
		}
	}
	if admitted != 2500 {
		t.Fatalf("admitted %d sessions of a 2500 quota", admitted)
	}
	a.mu.Lock()
	if a.asks[0] != 25 || len(a.asks) > 2500/25+4 {
		t.Fatalf("lease sizes %v (want chunks of 1%%)", a.asks[:3])
	}
	a.mu.Unlock()
	// A new day has a fresh quota.
	if err := q.Take(ctx, 5_000_000_001, 2500, now.Add(13*time.Hour)); err != nil {
		t.Fatalf("next day: %v", err)
	}
	// Unlimited plans never ask.
	if err := q.Take(ctx, 5_000_000_009, 0, now); err != nil {
		t.Fatal(err)
	}
	// Accounts down: fail open, counted.
	a.mu.Lock()
	a.down = true
	a.mu.Unlock()
	if err := q.Take(ctx, 5_000_000_002, 100, now); err != nil || leaseErrors != 1 {
		t.Fatalf("accounts down: %v, %d lease errors", err, leaseErrors)
	}
	if LeaseSize(100) != 10 || LeaseSize(5) != 5 || LeaseSize(1_000_000) != 10_000 {
		t.Fatal("LeaseSize")
	}
}

// TestSessionsConcurrent exercises one session from many goroutines (run
// with -race).
func TestSessionsConcurrent(t *testing.T) {
	s := NewSessions(1_000_000, 1<<40, time.Hour, 10)
	k := SessionKey{Site: 5_000_000_001, Session: "s_a"}
	now := time.Now()
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 500 {
				s.Check(k, 10, now)
				s.Record(k, 10, now)
			}
		}()
	}
	wg.Wait()
	st, _ := s.lru.Get(k)
	if st.batches.Load() != 4000 || st.bytes.Load() != 40000 {
		t.Fatalf("batches %d bytes %d", st.batches.Load(), st.bytes.Load())
	}
}
