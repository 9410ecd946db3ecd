package siteaccess

import (
	"context"
	"net"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	accountsv1 "github.com/sightlinehq/sightline/gen/sightline/accounts/v1"
)

// accounts is a real gRPC AccountsService whose answers the test sets: the
// caller is a member of organisation 1, which owns site 1<<40.
type accounts struct {
	accountsv1.UnimplementedAccountsServiceServer
	mu    sync.Mutex
	err   error // answered by every call while set
	calls int
}

const site = int64(1) << 40

func (a *accounts) answer() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.calls++
	return a.err
}

func (a *accounts) set(err error) { a.mu.Lock(); a.err = err; a.mu.Unlock() }

func (a *accounts) GetSite(_ context.Context, req *accountsv1.GetSiteRequest) (*accountsv1.GetSiteResponse, error) {
	if err := a.answer(); err != nil {
		return nil, err
	}
	if req.GetSiteId() != site {
		return nil, status.Error(codes.NotFound, "site not found")
	}
	return &accountsv1.GetSiteResponse{Site: &accountsv1.Site{Id: site, OrganizationId: 1}}, nil
}

func (a *accounts) GetCurrentUser(context.Context, *accountsv1.GetCurrentUserRequest) (*accountsv1.GetCurrentUserResponse, error) {
	if err := a.answer(); err != nil {
		return nil, err
	}
	return &accountsv1.GetCurrentUserResponse{Memberships: []*accountsv1.Membership{{OrganizationId: 1, Role: accountsv1.Role_ROLE_VIEWER}}}, nil
}

func serve(t *testing.T) (*accounts, *Authorizer, *time.Time) {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	fake := &accounts{}
	srv := grpc.NewServer()
	accountsv1.RegisterAccountsServiceServer(srv, fake)
	go srv.Serve(lis)
	t.Cleanup(srv.Stop)
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	a := New(accountsv1.NewAccountsServiceClient(conn))
	now := time.Unix(1_800_000_000, 0)
	a.now = func() time.Time { return now }
	return fake, a, &now
}

func caller(token string) context.Context {
	return metadata.NewIncomingContext(context.Background(), metadata.Pairs("authorization", "Bearer "+token))
}

// A decision is reused for ttl; while accounts is unreachable it is reused
// for staleTTL; a refusal is never masked and ends the decision.
func TestStaleDecisionsOnlyWhileAccountsIsUnreachable(t *testing.T) {
	fake, a, now := serve(t)
	ctx := caller("tok-a")
	if err := a.AuthorizeSite(ctx, site, false); err != nil {
		t.Fatalf("member read: %v", err)
	}
	if err := a.AuthorizeSite(ctx, site, true); status.Code(err) != codes.PermissionDenied {
		t.Fatalf("viewer write = %v, want PermissionDenied", err)
	}
	if err := a.AuthorizeSite(ctx, site+1, false); status.Code(err) != codes.NotFound {
		t.Fatalf("foreign site = %v, want NotFound", err)
	}

	// Accounts goes down: past ttl the decision is served stale, and the
	// viewer's write is still refused by the stale role.
	fake.set(status.Error(codes.Unavailable, "the accounts database is unreachable"))
	*now = now.Add(time.Minute)
	before := fake.calls
	if err := a.AuthorizeSite(ctx, site, false); err != nil {
		t.Fatalf("read during an outage, decision 1 min old: %v", err)
	}
	if fake.calls == before {
		t.Fatal("a decision older than ttl was used without asking accounts")
	}
	if err := a.AuthorizeSite(ctx, site, true); status.Code(err) != codes.PermissionDenied {
		t.Fatalf("viewer write during an outage = %v, want PermissionDenied", err)
	}
	// A caller never seen before gets the outage, not access.
	if err := a.AuthorizeSite(caller("tok-new"), site, false); status.Code(err) != codes.Unavailable {
		t.Fatalf("unknown caller during an outage = %v, want Unavailable", err)
	}
	// Past staleTTL the outage shows.
	*now = now.Add(staleTTL)
	if err := a.AuthorizeSite(ctx, site, false); status.Code(err) != codes.Unavailable {
		t.Fatalf("read with a decision older than staleTTL = %v, want Unavailable", err)
	}

	// Back up: fresh decision. Then the credential is revoked (accounts
	// refuses it); a later outage must not bring the old decision back.
	fake.set(nil)
	if err := a.AuthorizeSite(ctx, site, false); err != nil {
		t.Fatalf("read after recovery: %v", err)
	}
	fake.set(status.Error(codes.Unauthenticated, "credential revoked"))
	*now = now.Add(ttl)
	if err := a.AuthorizeSite(ctx, site, false); status.Code(err) != codes.Unauthenticated {
		t.Fatalf("revoked credential = %v, want Unauthenticated", err)
	}
	fake.set(status.Error(codes.Unavailable, "down"))
	if err := a.AuthorizeSite(ctx, site, false); status.Code(err) != codes.Unavailable {
		t.Fatalf("revoked credential during a later outage = %v, want Unavailable (no stale access)", err)
	}
}
