package accounts

import (
	"strings"
	"testing"

	"google.golang.org/grpc/codes"

	accountsv1 "github.com/sightlinehq/sightline/gen/sightline/accounts/v1"
)

// TestAuthorizeSite: one call names the caller, the site's organisation,
// the caller's role there and the maintenance switch; another
// organisation's site (for a user or an API key) is NotFound, a credential
// that is no longer good Unauthenticated, bad input InvalidArgument.
func TestAuthorizeSite(t *testing.T) {
	forBackends(t, func(t *testing.T, backend string) {
		e := newEnv(t, backend, nil)
		c := e.client
		op := e.operator("op@a.example")
		owner := e.signUp("owner@a.example")
		viewer := e.join(owner, owner.org, "viewer@a.example", accountsv1.Role_ROLE_VIEWER)
		mallory := e.signUp("mallory@b.example")
		newSite := func(u user, name string) int64 {
			t.Helper()
			r, err := c.CreateSite(as(u.token), &accountsv1.CreateSiteRequest{OrganizationId: u.org, Name: name})
			if err != nil {
				t.Fatal(err)
			}
			return r.GetSite().GetId()
		}
		siteA, siteB := newSite(owner, "A shop"), newSite(mallory, "B shop")
		newKey := func(u user, role accountsv1.Role) *accountsv1.CreateApiKeyResponse {
			t.Helper()
			k, err := c.CreateApiKey(as(u.token), &accountsv1.CreateApiKeyRequest{OrganizationId: u.org, Name: "ci", Role: role})
			if err != nil {
				t.Fatal(err)
			}
			return k
		}
		keyA, keyB := newKey(owner, accountsv1.Role_ROLE_VIEWER), newKey(mallory, accountsv1.Role_ROLE_ADMIN)
		session := func(tok string, site int64) *accountsv1.AuthorizeSiteRequest {
			return &accountsv1.AuthorizeSiteRequest{Credential: &accountsv1.AuthorizeSiteRequest_SessionToken{SessionToken: tok}, SiteId: site}
		}
		apiKey := func(key string, site int64) *accountsv1.AuthorizeSiteRequest {
			return &accountsv1.AuthorizeSiteRequest{Credential: &accountsv1.AuthorizeSiteRequest_ApiKey{ApiKey: key}, SiteId: site}
		}
		authorize := func(req *accountsv1.AuthorizeSiteRequest) *accountsv1.AuthorizeSiteResponse {
			t.Helper()
			r, err := e.internal.AuthorizeSite(as(""), req)
			if err != nil {
				t.Fatalf("AuthorizeSite(%v): %v", req, err)
			}
			return r
		}

		r := authorize(session(owner.token, siteA))
		if r.GetPrincipal().GetUserId() != owner.id || r.GetPrincipal().GetApiKeyId() != 0 || r.GetOrganizationId() != owner.org ||
			r.GetRole() != accountsv1.Role_ROLE_OWNER || r.GetExpireTime() == nil || r.GetMaintenance().GetEnabled() {
			t.Fatalf("owner: %v", r)
		}
		if ms := r.GetPrincipal().GetMemberships(); len(ms) != 1 || ms[0].GetOrganizationId() != owner.org {
			t.Fatalf("owner's memberships: %v", ms)
		}
		r = authorize(session(viewer.token, siteA))
		if r.GetPrincipal().GetUserId() != viewer.id || r.GetRole() != accountsv1.Role_ROLE_VIEWER || r.GetOrganizationId() != owner.org {
			t.Fatalf("viewer: %v", r)
		}
		// The viewer also owns an organisation of their own: the role is
		// the one in the site's organisation.
		if len(r.GetPrincipal().GetMemberships()) != 2 {
			t.Fatalf("viewer's memberships: %v", r.GetPrincipal().GetMemberships())
		}
		r = authorize(apiKey(keyA.GetSecret(), siteA))
		if r.GetPrincipal().GetApiKeyId() != keyA.GetApiKey().GetId() || r.GetRole() != accountsv1.Role_ROLE_VIEWER ||
			r.GetOrganizationId() != owner.org || r.GetExpireTime() != nil {
			t.Fatalf("API key: %v", r)
		}

		refusals := []struct {
			what string
			req  *accountsv1.AuthorizeSiteRequest
			want codes.Code
		}{
			{"owner of A, B's site", session(owner.token, siteB), codes.NotFound},
			{"viewer of A, B's site", session(viewer.token, siteB), codes.NotFound},
			{"B's user, A's site", session(mallory.token, siteA), codes.NotFound},
			{"B's API key (admin), A's site", apiKey(keyB.GetSecret(), siteA), codes.NotFound},
			{"A's API key, B's site", apiKey(keyA.GetSecret(), siteB), codes.NotFound},
			// An operator sees only their own organisations' sites here.
			{"operator, A's site", session(op.token, siteA), codes.NotFound},
			{"a site that does not exist", session(owner.token, siteB+1_000_000), codes.NotFound},
			{"unknown session", session("sls_"+strings.Repeat("A", secretLen), siteA), codes.Unauthenticated},
			{"malformed session", session("sls_short", siteA), codes.Unauthenticated},
			{"API key sent as a session", session(keyA.GetSecret(), siteA), codes.Unauthenticated},
			{"session sent as an API key", apiKey(owner.token, siteA), codes.Unauthenticated},
			{"no credential", &accountsv1.AuthorizeSiteRequest{SiteId: siteA}, codes.InvalidArgument},
			{"no site", session(owner.token, 0), codes.InvalidArgument},
			{"negative site", session(owner.token, -siteA), codes.InvalidArgument},
		}
		for _, tc := range refusals {
			_, err := e.internal.AuthorizeSite(as(""), tc.req)
			wantCode(t, err, tc.want, tc.what)
		}

		// The maintenance switch rides along.
		if _, err := c.SetMaintenance(as(op.token), &accountsv1.SetMaintenanceRequest{Enabled: true, Message: "upgrading"}); err != nil {
			t.Fatal(err)
		}
		if m := authorize(session(viewer.token, siteA)).GetMaintenance(); !m.GetEnabled() || m.GetMessage() != "upgrading" || m.GetUpdateTime() == nil {
			t.Fatalf("maintenance: %v", m)
		}

		// Changes show at once: a removed member, a revoked key, a session
		// logged out.
		if _, err := c.RemoveMember(as(owner.token), &accountsv1.RemoveMemberRequest{OrganizationId: owner.org, UserId: viewer.id}); err != nil {
			t.Fatal(err)
		}
		_, err := e.internal.AuthorizeSite(as(""), session(viewer.token, siteA))
		wantCode(t, err, codes.NotFound, "removed viewer")
		if _, err := c.RevokeApiKey(as(owner.token), &accountsv1.RevokeApiKeyRequest{OrganizationId: owner.org, ApiKeyId: keyA.GetApiKey().GetId()}); err != nil {
			t.Fatal(err)
		}
		_, err = e.internal.AuthorizeSite(as(""), apiKey(keyA.GetSecret(), siteA))
		wantCode(t, err, codes.Unauthenticated, "revoked API key")
		if _, err := c.LogOut(as(owner.token), &accountsv1.LogOutRequest{SessionToken: owner.token}); err != nil {
			t.Fatal(err)
		}
		_, err = e.internal.AuthorizeSite(as(""), session(owner.token, siteA))
		wantCode(t, err, codes.Unauthenticated, "logged-out session")
	})
}
