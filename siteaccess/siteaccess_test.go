package siteaccess

import (
	"context"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	accountsv1 "github.com/sightlinehq/sightline/gen/sightline/accounts/v1"
	"github.com/sightlinehq/sightline/platform/rpc"
)

// accounts is a real gRPC AccountsInternalService whose answers the test
// sets: the caller is a viewer of organisation 1, which owns site 1<<40.
type accounts struct {
	accountsv1.UnimplementedAccountsInternalServiceServer
	mu    sync.Mutex
	err   error // answered by every call while set
	calls int
	last  *accountsv1.AuthorizeSiteRequest
}

const site = int64(1) << 40

func (a *accounts) set(err error) { a.mu.Lock(); a.err = err; a.mu.Unlock() }

func (a *accounts) count() int { a.mu.Lock(); defer a.mu.Unlock(); return a.calls }

func (a *accounts) AuthorizeSite(_ context.Context, req *accountsv1.AuthorizeSiteRequest) (*accountsv1.AuthorizeSiteResponse, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.calls++
	a.last = req
	if a.err != nil {
		return nil, a.err
	}
	if req.GetSiteId() != site {
		return nil, status.Error(codes.NotFound, "site not found")
	}
	p := &accountsv1.Principal{UserId: 1 << 33}
	if req.GetApiKey() != "" {
		p.ApiKeyId = 1 << 34
	}
	return &accountsv1.AuthorizeSiteResponse{Principal: p, OrganizationId: 1, Role: accountsv1.Role_ROLE_VIEWER}, nil
}

func serve(t *testing.T) (*accounts, *Authorizer, *time.Time) {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	fake := &accounts{}
	srv := grpc.NewServer()
	accountsv1.RegisterAccountsInternalServiceServer(srv, fake)
	go srv.Serve(lis)
	t.Cleanup(srv.Stop)
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	a := New(accountsv1.NewAccountsInternalServiceClient(conn))
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
	ctx := caller("sls_a")
	if err := a.AuthorizeSite(ctx, site, false); err != nil {
		t.Fatalf("member read: %v", err)
	}
	if n := fake.count(); n != 1 {
		t.Fatalf("first decision asked accounts %d times, want once", n)
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
	before := fake.count()
	if err := a.AuthorizeSite(ctx, site, false); err != nil {
		t.Fatalf("read during an outage, decision 1 min old: %v", err)
	}
	if fake.count() == before {
		t.Fatal("a decision older than ttl was used without asking accounts")
	}
	if err := a.AuthorizeSite(ctx, site, true); status.Code(err) != codes.PermissionDenied {
		t.Fatalf("viewer write during an outage = %v, want PermissionDenied", err)
	}
	// A caller never seen before gets the outage, not access.
	if err := a.AuthorizeSite(caller("sls_new"), site, false); status.Code(err) != codes.Unavailable {
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

// One AuthorizeSite call per cache miss, carrying the credential in the
// field of its kind; Site reports what accounts said; a credential of no
// known kind is refused without asking.
func TestOneCallPerDecision(t *testing.T) {
	fake, a, now := serve(t)
	for i := 0; i < 3; i++ {
		acc, err := a.Site(caller("slk_key"), site)
		if err != nil {
			t.Fatal(err)
		}
		if acc != (Access{OrganizationID: 1, Role: accountsv1.Role_ROLE_VIEWER, UserID: 1 << 33, APIKeyID: 1 << 34}) {
			t.Fatalf("API key's access = %+v", acc)
		}
	}
	if n := fake.count(); n != 1 {
		t.Fatalf("three checks within ttl asked accounts %d times, want once", n)
	}
	if fake.last.GetApiKey() != "slk_key" || fake.last.GetSessionToken() != "" || fake.last.GetSiteId() != site {
		t.Fatalf("request = %v", fake.last)
	}
	if _, err := a.Site(caller("sls_tok"), site); err != nil {
		t.Fatal(err)
	}
	if n := fake.count(); n != 2 || fake.last.GetSessionToken() != "sls_tok" {
		t.Fatalf("another credential: %d calls, request %v", n, fake.last)
	}
	*now = now.Add(ttl)
	if _, err := a.Site(caller("sls_tok"), site); err != nil || fake.count() != 3 {
		t.Fatalf("a decision ttl old was reused (calls %d, err %v)", fake.count(), err)
	}
	for _, md := range []metadata.MD{
		metadata.Pairs("authorization", "Bearer tok-of-no-kind"),
		metadata.Pairs("authorization", "Basic c2xzX3g="),
		metadata.Pairs("authorization", "Bearer sls_a", "authorization", "Bearer sls_b"),
		{},
	} {
		_, err := a.Site(metadata.NewIncomingContext(context.Background(), md), site)
		if status.Code(err) != codes.Unauthenticated {
			t.Fatalf("%v: %v, want Unauthenticated", md, err)
		}
	}
	if n := fake.count(); n != 3 {
		t.Fatalf("malformed credentials reached accounts (%d calls)", n)
	}
}

// TestMeshCredentialRefusalIsNotTheCallers: accounts refusing this
// process's service credential (the processes hold different secrets) is
// answered Internal, never Unauthenticated (which would sign the dashboard
// user out), and leaves no decision behind.
func TestMeshCredentialRefusalIsNotTheCallers(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	fake := &accounts{}
	srv, _ := rpc.NewServer(nil, nil, rpc.ServerOptions{ServiceSecret: strings.Repeat("a", 64)})
	accountsv1.RegisterAccountsInternalServiceServer(srv, fake)
	go srv.Serve(lis)
	t.Cleanup(srv.Stop)
	conn, err := rpc.Dial(lis.Addr().String(), nil, rpc.ClientOptions{ServiceSecret: strings.Repeat("b", 64)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	a := New(accountsv1.NewAccountsInternalServiceClient(conn))
	_, err = a.Site(caller("sls_viewer"), site)
	if status.Code(err) != codes.Internal || !strings.Contains(status.Convert(err).Message(), "service-secret-file") {
		t.Fatalf("with a refused service credential: %v, want Internal naming server.service-secret-file", err)
	}
	if fake.count() != 0 {
		t.Fatalf("the refused call reached accounts' handler %d times", fake.count())
	}
	if len(a.cache) != 0 {
		t.Fatalf("a refused call left %d decisions", len(a.cache))
	}
}
