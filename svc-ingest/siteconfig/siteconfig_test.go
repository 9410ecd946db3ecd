package siteconfig

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
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

type accounts struct {
	accountsv1.UnimplementedAccountsInternalServiceServer
	calls atomic.Int64
	down  atomic.Bool
	delay time.Duration
}

func (a *accounts) GetSiteConfig(_ context.Context, r *accountsv1.GetSiteConfigRequest) (*accountsv1.GetSiteConfigResponse, error) {
	a.calls.Add(1)
	time.Sleep(a.delay) // a slow accounts, so concurrent misses overlap
	if a.down.Load() {
		return nil, status.Error(codes.Unavailable, "down")
	}
	if r.GetSiteKey() != "k_known" {
		return nil, status.Error(codes.NotFound, "no such site")
	}
	return &accountsv1.GetSiteConfigResponse{SiteId: 5_000_000_001, SiteKey: "k_known", Etag: "e"}, nil
}

func serve(t *testing.T, a *accounts) accountsv1.AccountsInternalServiceClient {
	cc := grpctest.Conn(t, func(s *grpc.Server) { accountsv1.RegisterAccountsInternalServiceServer(s, a) })
	return accountsv1.NewAccountsInternalServiceClient(cc)
}

func TestCache(t *testing.T) {
	a := &accounts{delay: 30 * time.Millisecond}
	var now atomic.Int64
	now.Store(time.Now().UnixNano())
	clock := func() time.Time { return time.Unix(0, now.Load()) }
	c := New(serve(t, a), Options{TTL: time.Minute, NegativeTTL: 5 * time.Second, Now: clock})
	defer c.Close()
	ctx := context.Background()

	// A miss from many requests at once is one call (singleflight).
	var wg sync.WaitGroup
	for range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if s, err := c.Get(ctx, "k_known"); err != nil || s.GetSiteId() != 5_000_000_001 {
				t.Errorf("Get: %v %v", s, err)
			}
		}()
	}
	wg.Wait()
	if n := a.calls.Load(); n != 1 {
		t.Fatalf("%d calls for one miss", n)
	}
	// Fresh: no call.
	if _, err := c.Get(ctx, "k_known"); err != nil {
		t.Fatal(err)
	}
	if a.calls.Load() != 1 {
		t.Fatal("fresh entry fetched again")
	}
	// Unknown keys are remembered briefly; malformed keys never reach accounts.
	for range 3 {
		if _, err := c.Get(ctx, "k_unknown"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("unknown: %v", err)
		}
	}
	if _, err := c.Get(ctx, "bad key!"); !errors.Is(err, ErrNotFound) {
		t.Fatal(err)
	}
	if n := a.calls.Load(); n != 2 {
		t.Fatalf("%d calls, want 2 (negative caching)", n)
	}
	now.Add(int64(6 * time.Second))
	if _, err := c.Get(ctx, "k_unknown"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown after expiry: %v", err)
	}
	if n := a.calls.Load(); n != 3 {
		t.Fatalf("negative entry not expired: %d calls", n)
	}
	// Stale with accounts down: the last good copy keeps being served.
	a.down.Store(true)
	now.Add(int64(2 * time.Minute))
	for range 3 {
		if s, err := c.Get(ctx, "k_known"); err != nil || s.GetSiteKey() != "k_known" {
			t.Fatalf("stale-if-error: %v %v", s, err)
		}
		c.c.Wait() // the background refresh has failed
	}
	if a.calls.Load() < 4 {
		t.Fatal("stale entry was not refreshed in the background")
	}
	// Never seen and accounts down: unavailable, not "unknown".
	if _, err := c.Get(ctx, "k_other"); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("uncached with accounts down: %v", err)
	}
}
