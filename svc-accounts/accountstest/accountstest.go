// Package accountstest runs a real accounts service for the tests of the
// services that authorise dashboard callers through it (recordings,
// search): SQLite in a temporary directory with ids above 2^31, served on a
// loopback gRPC socket behind the mesh's service credential, holding two
// organisations with their users, API keys and sites. Walk calls every RPC
// of a public service as each kind of caller.
package accountstest

import (
	"context"
	"flag"
	"io"
	"log/slog"
	"path/filepath"
	"testing"

	"google.golang.org/grpc/metadata"

	accountsv1 "github.com/sightlinehq/sightline/gen/sightline/accounts/v1"
	"github.com/sightlinehq/sightline/internal/grpctest"
	"github.com/sightlinehq/sightline/platform/rpc"
	accounts "github.com/sightlinehq/sightline/svc-accounts"
	"github.com/sightlinehq/sightline/svc-accounts/internal/sqlstore"
	"github.com/sightlinehq/sightline/svc-accounts/store/sqlite"
)

// IDStart puts every id accounts generates above 2^31.
const IDStart = 3_000_000_000

const password = "correct horse battery"

// Env is a running accounts with organisation A (Owner, Viewer, API keys
// with the member and viewer roles, a revoked key, SiteA), organisation B
// (Mallory, SiteB) and an operator (Ops).
type Env struct {
	// Accounts and Internal share one connection that carries the service
	// credential, as every connection between Sightline's processes does.
	Accounts accountsv1.AccountsServiceClient
	Internal accountsv1.AccountsInternalServiceClient

	Owner, Viewer User
	SiteA         int64
	// MemberKey and ViewerKey are API keys of A; RevokedKey was revoked
	// before its first use.
	MemberKey, ViewerKey, RevokedKey string

	Mallory User
	SiteB   int64

	// Ops is an instance operator (made through accounts' Admin, before
	// any sign-up) who acts in no organisation of the tests.
	Ops User

	t testing.TB
}

// User is a signed-in user and the organisation they signed up with.
type User struct {
	ID, Org int64
	Token   string
}

// As is a context carrying a dashboard credential as the gateway forwards
// it ("" for none).
func As(token string) context.Context {
	if token == "" {
		return context.Background()
	}
	return metadata.NewOutgoingContext(context.Background(), metadata.Pairs("authorization", "Bearer "+token))
}

// Start starts accounts and fills it; everything stops when the test ends.
func Start(t testing.TB) *Env {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	st, err := sqlite.Open(ctx, filepath.Join(dir, "accounts.db"), sqlstore.Telemetry{})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.StartIDsAt(ctx, IDStart); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}

	var cfg accounts.Config
	cfg.RegisterFlags(flag.NewFlagSet("accounts", flag.ContinueOnError))
	cfg.SignupVerifyEmail = false // sign-up logs in at once: the users below need sessions
	adm, err := accounts.OpenAdmin(ctx, cfg, dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := adm.CreateUser(ctx, opsEmail, password, "", true); err != nil {
		t.Fatal(err)
	}
	if err := adm.Close(); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	svc, err := accounts.New(ctx, cfg, accounts.Deps{Logger: log, Version: "test", DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	// Cleanups run last first: the connection closes, the server stops,
	// then the service closes.
	t.Cleanup(func() {
		if err := svc.Close(); err != nil {
			t.Errorf("accounts close: %v", err)
		}
	})
	secret := rpc.NewServiceSecret()
	srv, _ := rpc.NewServer(nil, log, rpc.ServerOptions{ServiceSecret: secret})
	accountsv1.RegisterAccountsServiceServer(srv, svc)
	accountsv1.RegisterAccountsInternalServiceServer(srv, svc.Internal())
	conn, err := rpc.Dial(grpctest.ServeServer(t, srv), nil, rpc.ClientOptions{ServiceSecret: secret})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })

	e := &Env{Accounts: accountsv1.NewAccountsServiceClient(conn), Internal: accountsv1.NewAccountsInternalServiceClient(conn), t: t}
	e.Owner = e.signUp("owner@a.example")
	e.Viewer = e.Join("viewer@a.example", accountsv1.Role_ROLE_VIEWER)
	e.Mallory = e.signUp("mallory@b.example")
	e.SiteA = e.createSite(e.Owner, "A shop")
	e.SiteB = e.createSite(e.Mallory, "B shop")
	e.MemberKey, _ = e.APIKey("member", accountsv1.Role_ROLE_MEMBER)
	e.ViewerKey, _ = e.APIKey("viewer", accountsv1.Role_ROLE_VIEWER)
	var revoked int64
	e.RevokedKey, revoked = e.APIKey("revoked", accountsv1.Role_ROLE_ADMIN)
	if _, err := e.Accounts.RevokeApiKey(As(e.Owner.Token), &accountsv1.RevokeApiKeyRequest{OrganizationId: e.Owner.Org, ApiKeyId: revoked}); err != nil {
		t.Fatal(err)
	}
	r, err := e.Accounts.LogIn(As(""), &accountsv1.LogInRequest{Email: opsEmail, Password: password})
	if err != nil {
		t.Fatal(err)
	}
	e.Ops = User{ID: r.GetUser().GetId(), Token: r.GetSessionToken()}
	return e
}

const opsEmail = "ops@ops.example"

func (e *Env) signUp(email string) User {
	e.t.Helper()
	r, err := e.Accounts.SignUp(As(""), &accountsv1.SignUpRequest{Email: email, Password: password, Name: "User " + email})
	if err != nil {
		e.t.Fatalf("sign up %s: %v", email, err)
	}
	if r.GetSessionToken() == "" {
		e.t.Fatalf("sign up %s: no session (verification required?)", email)
	}
	return User{ID: r.GetUser().GetId(), Org: r.GetOrganization().GetId(), Token: r.GetSessionToken()}
}

// Join signs a user up and brings them into A with role.
func (e *Env) Join(email string, role accountsv1.Role) User {
	e.t.Helper()
	u := e.signUp(email)
	inv, err := e.Accounts.CreateInvitation(As(e.Owner.Token), &accountsv1.CreateInvitationRequest{OrganizationId: e.Owner.Org, Email: email, Role: role})
	if err != nil {
		e.t.Fatalf("invite %s: %v", email, err)
	}
	if _, err := e.Accounts.AcceptInvitation(As(u.Token), &accountsv1.AcceptInvitationRequest{Token: inv.GetToken()}); err != nil {
		e.t.Fatalf("accept %s: %v", email, err)
	}
	return u
}

func (e *Env) createSite(u User, name string) int64 {
	e.t.Helper()
	r, err := e.Accounts.CreateSite(As(u.Token), &accountsv1.CreateSiteRequest{OrganizationId: u.Org, Name: name})
	if err != nil {
		e.t.Fatal(err)
	}
	return r.GetSite().GetId()
}

// APIKey makes an API key of A and answers its secret and id.
func (e *Env) APIKey(name string, role accountsv1.Role) (string, int64) {
	e.t.Helper()
	r, err := e.Accounts.CreateApiKey(As(e.Owner.Token), &accountsv1.CreateApiKeyRequest{OrganizationId: e.Owner.Org, Name: name, Role: role})
	if err != nil {
		e.t.Fatal(err)
	}
	return r.GetSecret(), r.GetApiKey().GetId()
}
