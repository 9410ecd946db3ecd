package accounts

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	accountsv1 "github.com/sightlinehq/sightline/gen/sightline/accounts/v1"
	"github.com/sightlinehq/sightline/internal/pgtest"
	"github.com/sightlinehq/sightline/svc-accounts/internal/sqlstore"
	"github.com/sightlinehq/sightline/svc-accounts/store/postgres"
)

// TestStoppedPostgresIsUnavailable stops a real PostgreSQL under a running
// accounts service: every call that needs the database answers Unavailable
// with a message naming no host — never Unauthenticated, NotFound or
// Internal — and the service recovers by itself when the server returns.
func TestStoppedPostgresIsUnavailable(t *testing.T) {
	srv := pgtest.Private(t)
	ctx := context.Background()
	st, err := postgres.Open(ctx, srv.DSN(), postgres.Options{MaxConns: 4}, sqlstore.Telemetry{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	svc, err := newWithStore(defaultConfig(), Deps{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Version: "test-1"}, st)
	if err != nil {
		t.Fatal(err)
	}
	c := serveAccounts(t, svc)
	e := &env{t: t, svc: svc, store: st, client: c}
	u := e.signUp("down@example.com")

	if err := srv.Stop(); err != nil {
		t.Fatal(err)
	}
	calls := map[string]func() error{
		"Authenticate": func() error {
			_, err := c.Authenticate(as(""), &accountsv1.AuthenticateRequest{Credential: &accountsv1.AuthenticateRequest_SessionToken{SessionToken: u.token}})
			return err
		},
		"GetCurrentUser": func() error { _, err := c.GetCurrentUser(as(u.token), &accountsv1.GetCurrentUserRequest{}); return err },
		"ListSites": func() error {
			_, err := c.ListSites(as(u.token), &accountsv1.ListSitesRequest{OrganizationId: u.org})
			return err
		},
		"CreateSite": func() error {
			_, err := c.CreateSite(as(u.token), &accountsv1.CreateSiteRequest{OrganizationId: u.org, Name: "Shop", Domains: []string{"shop.example.com"}})
			return err
		},
		"LogIn": func() error {
			_, err := c.LogIn(as(""), &accountsv1.LogInRequest{Email: u.email, Password: password})
			return err
		},
		"GetPublicConfig": func() error { _, err := c.GetPublicConfig(as(""), &accountsv1.GetPublicConfigRequest{}); return err },
	}
	for name, call := range calls {
		// Twice: the first call may meet a pooled connection the server
		// closed, the second a refused dial.
		for i := range 2 {
			err := call()
			st := status.Convert(err)
			if st.Code() != codes.Unavailable {
				t.Errorf("%s #%d with PostgreSQL stopped: %v; want Unavailable", name, i, err)
				continue
			}
			if strings.Contains(st.Message(), "127.0.0.1") || strings.Contains(st.Message(), "dial") {
				t.Errorf("%s: message %q leaks internals", name, st.Message())
			}
			// The gateway explains an outage by this phrase.
			if !strings.Contains(st.Message(), "accounts database") {
				t.Errorf("%s: message %q does not name the accounts database", name, st.Message())
			}
		}
	}
	if err := svc.Ready(ctx); err == nil {
		t.Error("Ready with PostgreSQL stopped = nil")
	}

	if err := srv.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, err := c.GetCurrentUser(as(u.token), &accountsv1.GetCurrentUserRequest{})
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("GetCurrentUser 5 s after PostgreSQL returned: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if _, err := c.CreateSite(as(u.token), &accountsv1.CreateSiteRequest{OrganizationId: u.org, Name: "Shop", Domains: []string{"shop.example.com"}}); err != nil {
		t.Fatalf("CreateSite after PostgreSQL returned: %v", err)
	}
}
