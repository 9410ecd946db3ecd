package accounts

import (
	"context"
	"flag"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"

	"google.golang.org/protobuf/proto"

	accountsv1 "github.com/sightlinehq/sightline/gen/sightline/accounts/v1"
	notifyv1 "github.com/sightlinehq/sightline/gen/sightline/notify/v1"
	"github.com/sightlinehq/sightline/internal/grpctest"
	"github.com/sightlinehq/sightline/internal/pgtest"
	"github.com/sightlinehq/sightline/platform/sqldb/sqldbtest"
	"github.com/sightlinehq/sightline/svc-accounts/internal/sqlstore"
	"github.com/sightlinehq/sightline/svc-accounts/store"
	"github.com/sightlinehq/sightline/svc-accounts/store/postgres"
	"github.com/sightlinehq/sightline/svc-accounts/store/sqlite"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

func defaultConfig() Config {
	var c Config
	c.RegisterFlags(flag.NewFlagSet("t", flag.ContinueOnError))
	// Limited, as a hosting provider would configure them, so the tests see
	// every limit bite (the flags' own defaults are unlimited).
	c.DefaultPlan = PlanConfig{Name: "Starter", SessionsPerDay: 1000, MaxRetentionDays: 30, MaxSeats: 5, MaxSites: 3}
	return c
}

var backends = []string{BackendSQLite, BackendPostgres}

// openTestStore opens a fresh store of the backend with ids above 2^31.
func openTestStore(tb testing.TB, backend string) store.Store {
	tb.Helper()
	if backend == BackendSQLite {
		return sqldbtest.Open(tb, func(ctx context.Context) (*sqlite.Store, error) {
			return sqlite.Open(ctx, filepath.Join(tb.TempDir(), "accounts.db"), sqlstore.Telemetry{})
		})
	}
	return sqldbtest.Open(tb, func(ctx context.Context) (*postgres.Store, error) {
		return postgres.Open(ctx, pgtest.Start(tb), postgres.Options{MaxConns: 8}, sqlstore.Telemetry{})
	})
}

type env struct {
	t        testing.TB
	svc      *Service
	store    store.Store
	client   accountsClient
	internal accountsv1.AccountsInternalServiceClient
	reader   *sdkmetric.ManualReader
	notify   *fakeNotify
}

// fakeNotify is a recording stand-in for notify's internal service, served
// over a real socket: it keeps every SendEmail request, and fails them with
// Unavailable while down is set.
type fakeNotify struct {
	notifyv1.UnimplementedNotifyInternalServiceServer
	mu   sync.Mutex
	sent []*notifyv1.SendEmailRequest
	down atomic.Bool
}

func (f *fakeNotify) SendEmail(_ context.Context, req *notifyv1.SendEmailRequest) (*notifyv1.SendEmailResponse, error) {
	if f.down.Load() {
		return nil, status.Error(codes.Unavailable, "notify is down")
	}
	if req.GetIdempotencyKey() == "" || len(req.GetIdempotencyKey()) > 200 {
		return nil, status.Error(codes.InvalidArgument, "idempotency_key is required (at most 200 bytes)")
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.sent = append(f.sent, proto.Clone(req).(*notifyv1.SendEmailRequest))
	return &notifyv1.SendEmailResponse{}, nil
}

// to returns the e-mails sent to addr, oldest first.
func (f *fakeNotify) to(addr string) []*notifyv1.SendEmailRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []*notifyv1.SendEmailRequest
	for _, r := range f.sent {
		if r.GetTo() == addr {
			out = append(out, r)
		}
	}
	return out
}

// count returns how many e-mails were sent in all.
func (f *fakeNotify) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.sent)
}

// verifyToken returns the token of the newest verification e-mail to addr.
func (e *env) verifyToken(addr string) string {
	e.t.Helper()
	ms := e.mails(addr)
	for i := len(ms) - 1; i >= 0; i-- {
		if v := ms[i].GetVerifyEmail(); v != nil {
			return v.GetToken()
		}
	}
	e.t.Fatalf("no verification e-mail to %s", addr)
	return ""
}

// mails returns the e-mails sent to addr once the work sign-ups leave for
// after their answers is done.
func (e *env) mails(addr string) []*notifyv1.SendEmailRequest {
	e.svc.bg.Wait()
	return e.notify.to(addr)
}

// serveAccounts serves both of svc's contracts and returns a client of
// them.
func serveAccounts(tb testing.TB, svc *Service) accountsClient {
	conn := grpctest.Conn(tb, func(srv *grpc.Server) {
		accountsv1.RegisterAccountsServiceServer(srv, svc)
		accountsv1.RegisterAccountsInternalServiceServer(srv, svc.Internal())
	})
	return accountsClient{accountsv1.NewAccountsServiceClient(conn), accountsv1.NewAccountsInternalServiceClient(conn)}
}

// startNotify serves f on 127.0.0.1:0 and returns a client of it.
func startNotify(tb testing.TB, f *fakeNotify) notifyv1.NotifyInternalServiceClient {
	tb.Helper()
	conn := grpctest.Conn(tb, func(srv *grpc.Server) { notifyv1.RegisterNotifyInternalServiceServer(srv, f) })
	return notifyv1.NewNotifyInternalServiceClient(conn)
}

func newEnv(tb testing.TB, backend string, tweak func(*Config)) *env {
	tb.Helper()
	cfg := defaultConfig()
	if tweak != nil {
		tweak(&cfg)
	}
	if err := cfg.Validate(); err != nil {
		tb.Fatal(err)
	}
	st := openTestStore(tb, backend)
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	tb.Cleanup(func() { _ = mp.Shutdown(context.Background()) })
	fn := &fakeNotify{}
	svc, err := newWithStore(cfg, Deps{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), MeterProvider: mp, Version: "test-1",
		Notify: startNotify(tb, fn)}, st)
	if err != nil {
		tb.Fatal(err)
	}
	if err := svc.applyConfiguredLimits(context.Background()); err != nil {
		tb.Fatal(err)
	}
	c := serveAccounts(tb, svc)
	return &env{t: tb, svc: svc, store: st, client: c, internal: c.AccountsInternalServiceClient, reader: reader, notify: fn}
}

// as returns a context carrying tok as the caller and ip as the client.
func as(tok string) context.Context {
	return asIP(tok, "203.0.113.7")
}

func asIP(tok, ip string) context.Context {
	md := metadata.Pairs("x-forwarded-for", ip)
	if tok != "" {
		md.Set("authorization", "Bearer "+tok)
	}
	return metadata.NewOutgoingContext(context.Background(), md)
}

const password = "correct horse battery"

type user struct {
	id    int64
	org   int64
	email string
	token string
}

// signUp signs a user up and, unless they were logged in at once (the
// instance's first user, or verification off), follows the verification
// e-mail the way a person would.
func (e *env) signUp(email string) user {
	e.t.Helper()
	r, err := e.client.SignUp(as(""), &accountsv1.SignUpRequest{Email: email, Password: password, Name: "User " + email})
	if err != nil {
		e.t.Fatalf("sign up %s: %v", email, err)
	}
	if !r.GetVerificationRequired() {
		return user{id: r.GetUser().GetId(), org: r.GetOrganization().GetId(), email: email, token: r.GetSessionToken()}
	}
	v, err := e.client.VerifyEmail(as(""), &accountsv1.VerifyEmailRequest{Token: e.verifyToken(strings.ToLower(strings.TrimSpace(email)))})
	if err != nil {
		e.t.Fatalf("verify %s: %v", email, err)
	}
	cu, err := e.client.GetCurrentUser(as(v.GetSessionToken()), &accountsv1.GetCurrentUserRequest{})
	if err != nil || len(cu.GetMemberships()) != 1 {
		e.t.Fatalf("current user after verifying %s: %v %v", email, cu, err)
	}
	return user{id: v.GetUser().GetId(), org: cu.GetMemberships()[0].GetOrganizationId(), email: email, token: v.GetSessionToken()}
}

// join makes a new user a member of org with role, through an invitation.
func (e *env) join(inviter user, org int64, email string, role accountsv1.Role) user {
	e.t.Helper()
	u := e.signUp(email)
	inv, err := e.client.CreateInvitation(as(inviter.token), &accountsv1.CreateInvitationRequest{OrganizationId: org, Email: email, Role: role})
	if err != nil {
		e.t.Fatalf("invite %s: %v", email, err)
	}
	if _, err := e.client.AcceptInvitation(as(u.token), &accountsv1.AcceptInvitationRequest{Token: inv.GetToken()}); err != nil {
		e.t.Fatalf("accept %s: %v", email, err)
	}
	return u
}

// shop creates a site named "Shop" in u's organisation.
func (e *env) shop(u user) *accountsv1.Site {
	e.t.Helper()
	r, err := e.client.CreateSite(as(u.token), &accountsv1.CreateSiteRequest{OrganizationId: u.org, Name: "Shop"})
	if err != nil {
		e.t.Fatalf("create site: %v", err)
	}
	return r.GetSite()
}

// operator creates an operator user through Admin and logs them in.
func (e *env) operator(email string) user {
	e.t.Helper()
	a := &Admin{cfg: e.svc.cfg, store: e.store}
	id, org, err := a.CreateUser(context.Background(), email, password, "", true)
	if err != nil {
		e.t.Fatal(err)
	}
	r, err := e.client.LogIn(as(""), &accountsv1.LogInRequest{Email: email, Password: password})
	if err != nil {
		e.t.Fatal(err)
	}
	return user{id: id, org: org, email: email, token: r.GetSessionToken()}
}

func code(err error) codes.Code { return status.Code(err) }

func wantCode(t testing.TB, err error, want codes.Code, what string) {
	t.Helper()
	if got := code(err); got != want {
		t.Fatalf("%s: code %v (%v), want %v", what, got, err, want)
	}
}

func forBackends(t *testing.T, fn func(t *testing.T, backend string)) {
	for _, b := range backends {
		t.Run(b, func(t *testing.T) { fn(t, b) })
	}
}

// sentCount is how many e-mails were sent, once sign-ups' work is done.
func (e *env) sentCount() int {
	e.svc.bg.Wait()
	return e.notify.count()
}

// accountsClient calls both of the service's contracts, as the gateway
// and the other services do.
type accountsClient struct {
	accountsv1.AccountsServiceClient
	accountsv1.AccountsInternalServiceClient
}
