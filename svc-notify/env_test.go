package notify

import (
	"context"
	"flag"
	"io"
	"log/slog"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	accountsv1 "github.com/sightlinehq/sightline/gen/sightline/accounts/v1"
	notifyv1 "github.com/sightlinehq/sightline/gen/sightline/notify/v1"
	"github.com/sightlinehq/sightline/internal/grpctest"
	"github.com/sightlinehq/sightline/siteaccess"
	"github.com/sightlinehq/sightline/svc-accounts/accountstest"
)

// rpcEnv is real accounts and a real notify, each served over a loopback
// gRPC socket, with the users of two organisations.
type rpcEnv struct {
	t      *testing.T
	svc    *Service
	client notifyv1.NotifyServiceClient

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
func as(token string) context.Context { return accountstest.As(token) }

// runService runs svc until the test ends, then stops it (Run must return
// nil) and closes it with closeFn.
func runService(t *testing.T, svc *Service, closeFn func() error) {
	ctx, stop := context.WithCancel(context.Background())
	ran := make(chan error, 1)
	go func() { ran <- svc.Run(ctx) }()
	t.Cleanup(func() {
		stop()
		if err := <-ran; err != nil {
			t.Errorf("notify Run: %v", err)
		}
		if err := closeFn(); err != nil {
			t.Errorf("notify close: %v", err)
		}
	})
}

// newRPCEnv starts accounts (accountstest: SQLite, its users and sites)
// and notify (SQLite) in a temporary directory; tweak adjusts notify's
// configuration.
func newRPCEnv(t *testing.T, tweak func(*Config)) *rpcEnv {
	t.Helper()
	ctx := context.Background()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	acc := accountstest.Start(t)

	var cfg Config
	cfg.RegisterFlags(flag.NewFlagSet("notify", flag.ContinueOnError))
	if tweak != nil {
		tweak(&cfg)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	svc, err := New(ctx, cfg, Deps{
		Logger: log, DataDir: t.TempDir(),
		AccountsInternal: acc.Internal,
		Authorizer:       siteaccess.New(acc.Internal),
	})
	if err != nil {
		t.Fatal(err)
	}
	runService(t, svc, svc.Close)
	nconn := grpctest.Conn(t, func(s *grpc.Server) { notifyv1.RegisterNotifyServiceServer(s, svc) })

	e := &rpcEnv{t: t, svc: svc, client: notifyv1.NewNotifyServiceClient(nconn),
		owner: rpcUserOf(acc.Owner), viewer: rpcUserOf(acc.Viewer), mallory: rpcUserOf(acc.Mallory), ops: rpcUserOf(acc.Ops),
		site: acc.SiteA, siteB: acc.SiteB, viewerKey: acc.ViewerKey}
	e.admin = rpcUserOf(acc.Join("admin@a.example", accountsv1.Role_ROLE_ADMIN))
	e.member = rpcUserOf(acc.Join("member@a.example", accountsv1.Role_ROLE_MEMBER))
	e.adminKey, _ = acc.APIKey(roleName(accountsv1.Role_ROLE_ADMIN), accountsv1.Role_ROLE_ADMIN)
	return e
}

func rpcUserOf(u accountstest.User) rpcUser { return rpcUser{id: u.ID, org: u.Org, token: u.Token} }

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
