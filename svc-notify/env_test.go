package notify

import (
	"context"
	"flag"
	"io"
	"log/slog"
	"net"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	accountsv1 "github.com/sightlinehq/sightline/gen/sightline/accounts/v1"
	notifyv1 "github.com/sightlinehq/sightline/gen/sightline/notify/v1"
	"github.com/sightlinehq/sightline/siteaccess"
	accounts "github.com/sightlinehq/sightline/svc-accounts"
)

const testPassword = "correct horse battery"

// rpcEnv is real accounts and a real notify, each served over a loopback
// gRPC socket, with the users of two organisations.
type rpcEnv struct {
	t      *testing.T
	svc    *Service
	client notifyv1.NotifyServiceClient
	acc    accountsv1.AccountsServiceClient

	// Organisation A: owner, admin, member, viewer; its site; API keys
	// with the admin and viewer roles.
	owner, admin, member, viewer rpcUser
	site                         int64
	adminKey, viewerKey          string
	// mallory owns organisation B with siteB; ops is an instance
	// operator in no organisation.
	mallory rpcUser
	siteB   int64
	ops     rpcUser
}

type rpcUser struct {
	id    int64
	org   int64
	token string
}

// as is a context carrying a credential as the gateway forwards it ("" for
// none).
func as(token string) context.Context {
	ctx := context.Background()
	if token == "" {
		return ctx
	}
	return metadata.NewOutgoingContext(ctx, metadata.Pairs("authorization", "Bearer "+token))
}

func serveGRPC(t *testing.T, register func(*grpc.Server)) *grpc.ClientConn {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	register(srv)
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.Serve(lis) }()
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		conn.Close()
		srv.Stop()
		<-done
	})
	return conn
}

// newRPCEnv starts accounts (SQLite) and notify (SQLite) in a temporary
// directory; tweak adjusts notify's configuration.
func newRPCEnv(t *testing.T, tweak func(*Config)) *rpcEnv {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))

	var acfg accounts.Config
	acfg.RegisterFlags(flag.NewFlagSet("accounts", flag.ContinueOnError))
	acfg.SignupVerifyEmail = false // sign-up logs in at once: the users below need sessions
	adm, err := accounts.OpenAdmin(ctx, acfg, dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := adm.CreateUser(ctx, "ops@ops.example", testPassword, "", true); err != nil {
		t.Fatal(err)
	}
	if err := adm.Close(); err != nil {
		t.Fatal(err)
	}
	asvc, err := accounts.New(ctx, acfg, accounts.Deps{Logger: log, Version: "test", DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { asvc.Close() })
	aconn := serveGRPC(t, func(s *grpc.Server) {
		accountsv1.RegisterAccountsServiceServer(s, asvc)
		accountsv1.RegisterAccountsInternalServiceServer(s, asvc.Internal())
	})
	acc := accountsv1.NewAccountsServiceClient(aconn)

	var cfg Config
	cfg.RegisterFlags(flag.NewFlagSet("notify", flag.ContinueOnError))
	if tweak != nil {
		tweak(&cfg)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	svc, err := New(ctx, cfg, Deps{
		Logger: log, DataDir: dir,
		AccountsInternal: accountsv1.NewAccountsInternalServiceClient(aconn),
		Authorizer:       siteaccess.New(accountsv1.NewAccountsInternalServiceClient(aconn)),
	})
	if err != nil {
		t.Fatal(err)
	}
	rctx, stop := context.WithCancel(ctx)
	ran := make(chan error, 1)
	go func() { ran <- svc.Run(rctx) }()
	t.Cleanup(func() {
		stop()
		if err := <-ran; err != nil && rctx.Err() == nil {
			t.Errorf("notify Run: %v", err)
		}
		svc.Close()
	})
	nconn := serveGRPC(t, func(s *grpc.Server) { notifyv1.RegisterNotifyServiceServer(s, svc) })

	e := &rpcEnv{t: t, svc: svc, client: notifyv1.NewNotifyServiceClient(nconn), acc: acc}
	e.owner = e.signUp("owner@a.example")
	e.admin = e.join("admin@a.example", accountsv1.Role_ROLE_ADMIN)
	e.member = e.join("member@a.example", accountsv1.Role_ROLE_MEMBER)
	e.viewer = e.join("viewer@a.example", accountsv1.Role_ROLE_VIEWER)
	e.mallory = e.signUp("mallory@b.example")
	e.site = e.createSite(e.owner, "A shop")
	e.siteB = e.createSite(e.mallory, "B shop")
	e.adminKey = e.apiKey(accountsv1.Role_ROLE_ADMIN)
	e.viewerKey = e.apiKey(accountsv1.Role_ROLE_VIEWER)
	r, err := acc.LogIn(as(""), &accountsv1.LogInRequest{Email: "ops@ops.example", Password: testPassword})
	if err != nil {
		t.Fatal(err)
	}
	e.ops = rpcUser{id: r.GetUser().GetId(), token: r.GetSessionToken()}
	return e
}

func (e *rpcEnv) signUp(email string) rpcUser {
	e.t.Helper()
	r, err := e.acc.SignUp(as(""), &accountsv1.SignUpRequest{Email: email, Password: testPassword, Name: "User " + email})
	if err != nil {
		e.t.Fatalf("sign up %s: %v", email, err)
	}
	if r.GetSessionToken() == "" {
		e.t.Fatalf("sign up %s: no session (verification required?)", email)
	}
	return rpcUser{id: r.GetUser().GetId(), org: r.GetOrganization().GetId(), token: r.GetSessionToken()}
}

// join signs a user up and brings them into the owner's organisation.
func (e *rpcEnv) join(email string, role accountsv1.Role) rpcUser {
	e.t.Helper()
	u := e.signUp(email)
	inv, err := e.acc.CreateInvitation(as(e.owner.token), &accountsv1.CreateInvitationRequest{OrganizationId: e.owner.org, Email: email, Role: role})
	if err != nil {
		e.t.Fatalf("invite %s: %v", email, err)
	}
	if _, err := e.acc.AcceptInvitation(as(u.token), &accountsv1.AcceptInvitationRequest{Token: inv.GetToken()}); err != nil {
		e.t.Fatalf("accept %s: %v", email, err)
	}
	return u
}

func (e *rpcEnv) createSite(u rpcUser, name string) int64 {
	e.t.Helper()
	r, err := e.acc.CreateSite(as(u.token), &accountsv1.CreateSiteRequest{OrganizationId: u.org, Name: name})
	if err != nil {
		e.t.Fatal(err)
	}
	return r.GetSite().GetId()
}

func (e *rpcEnv) apiKey(role accountsv1.Role) string {
	e.t.Helper()
	r, err := e.acc.CreateApiKey(as(e.owner.token), &accountsv1.CreateApiKeyRequest{OrganizationId: e.owner.org, Name: roleName(role), Role: role})
	if err != nil {
		e.t.Fatal(err)
	}
	return r.GetSecret()
}

// webhook creates a webhook on site A as the owner.
func (e *rpcEnv) webhook() *notifyv1.Webhook {
	e.t.Helper()
	r, err := e.client.CreateWebhook(as(e.owner.token), &notifyv1.CreateWebhookRequest{SiteId: e.site, Url: "https://hooks.example.com/sightline", Events: []string{"session.ended"}})
	if err != nil {
		e.t.Fatal(err)
	}
	return r.GetWebhook()
}

// rule creates an alert rule on site A for u.
func (e *rpcEnv) rule(u rpcUser) *notifyv1.AlertRule {
	e.t.Helper()
	r, err := e.client.CreateAlertRule(as(u.token), &notifyv1.CreateAlertRuleRequest{Rule: &notifyv1.AlertRule{
		SiteId: e.site, Enabled: true, Condition: &notifyv1.AlertRule_NoData{NoData: &notifyv1.NoDataCondition{Hours: 6}},
	}})
	if err != nil {
		e.t.Fatal(err)
	}
	return r.GetRule()
}

func code(err error) codes.Code { return status.Code(err) }
