package storetest

import (
	"slices"
	"testing"
	"time"

	"github.com/sightlinehq/sightline/svc-accounts/store"
)

// testSiteAccess checks AuthorizeSite answers what PrincipalForSession and
// PrincipalForAPIKey answer, plus the site's owner and the switch.
func testSiteAccess(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	u, o := signUp(t, s, "access@example.com")
	_, other := signUp(t, s, "access2@example.com")
	o2 := must(s.CreateOrganization(ctx, "second", u.ID, plan)).get(t)
	mine := must(s.CreateSite(ctx, store.Site{OrganizationID: o2.ID, Name: "Mine", SiteKey: "k_access1", Settings: settings()}, 3)).get(t)
	theirs := must(s.CreateSite(ctx, store.Site{OrganizationID: other.ID, Name: "Theirs", SiteKey: "k_access2", Settings: settings()}, 3)).get(t)
	now := time.Now()
	must(s.CreateAuthSession(ctx, store.AuthSession{UserID: u.ID, TokenHash: hash("tok"), ExpireTime: now.Add(time.Hour)})).get(t)

	a := must(s.AuthorizeSite(ctx, store.CredentialSession, hash("tok"), mine.ID, now)).get(t)
	p := must(s.PrincipalForSession(ctx, hash("tok"), now)).get(t)
	if a.UserID != u.ID || a.Email != u.Email || a.APIKeyID != 0 || !a.ExpireTime.Equal(p.ExpireTime) || !slices.Equal(a.Memberships, p.Memberships) {
		t.Fatalf("access principal = %+v, want %+v", a.Principal, p)
	}
	if len(a.Memberships) != 2 || a.SiteOrganizationID != o2.ID {
		t.Fatalf("access = %+v, want two memberships and site organisation %d", a, o2.ID)
	}
	if a.Maintenance.Enabled || a.Maintenance.Message != "" || !a.Maintenance.UpdateTime.IsZero() {
		t.Fatalf("maintenance never set = %+v", a.Maintenance)
	}
	// The store does not authorise: another organisation's site is named
	// with its owner, for the service to refuse.
	if a := must(s.AuthorizeSite(ctx, store.CredentialSession, hash("tok"), theirs.ID, now)).get(t); a.SiteOrganizationID != other.ID || a.UserID != u.ID {
		t.Fatalf("foreign site: %+v", a)
	}
	if a := must(s.AuthorizeSite(ctx, store.CredentialSession, hash("tok"), theirs.ID+1000, now)).get(t); a.SiteOrganizationID != 0 || a.UserID != u.ID {
		t.Fatalf("missing site: %+v", a)
	}
	set := must(s.SetMaintenance(ctx, store.Maintenance{Enabled: true, Message: "upgrading"})).get(t)
	a = must(s.AuthorizeSite(ctx, store.CredentialSession, hash("tok"), mine.ID, now)).get(t)
	if !a.Maintenance.Enabled || a.Maintenance.Message != "upgrading" || !a.Maintenance.UpdateTime.Equal(set.UpdateTime) {
		t.Fatalf("maintenance = %+v, set %+v", a.Maintenance, set)
	}
	// A role change shows at once.
	must(s.UpdateMemberRole(ctx, o.ID, u.ID, store.RoleOwner)).get(t)
	_, err := s.AuthorizeSite(ctx, store.CredentialSession, hash("tok"), mine.ID, now.Add(2*time.Hour))
	wantErr(t, err, store.ErrNotFound, "")
	_, err = s.AuthorizeSite(ctx, store.CredentialSession, hash("unknown"), mine.ID, now)
	wantErr(t, err, store.ErrNotFound, "")
	// A session hash is not an API key hash.
	_, err = s.AuthorizeSite(ctx, store.CredentialAPIKey, hash("tok"), mine.ID, now)
	wantErr(t, err, store.ErrNotFound, "")
	if _, err := s.AuthorizeSite(ctx, 0, hash("tok"), mine.ID, now); err == nil {
		t.Fatal("credential kind 0 was accepted")
	}

	k := must(s.CreateAPIKey(ctx, store.APIKey{OrganizationID: o2.ID, Name: "ci", Prefix: "slk_acce", Hash: hash("key"), Role: store.RoleViewer, CreatedBy: u.ID})).get(t)
	a = must(s.AuthorizeSite(ctx, store.CredentialAPIKey, hash("key"), theirs.ID, now)).get(t)
	want := []store.Membership{{OrganizationID: o2.ID, OrganizationName: "second", Role: store.RoleViewer}}
	if a.APIKeyID != k.ID || a.UserID != u.ID || !slices.Equal(a.Memberships, want) || a.SiteOrganizationID != other.ID || !a.Maintenance.Enabled {
		t.Fatalf("api key access = %+v", a)
	}
	if keys := must(s.ListAPIKeys(ctx, o2.ID, store.Page{})).get(t); len(keys) != 1 || keys[0].LastUseTime.IsZero() {
		t.Fatalf("AuthorizeSite did not record the key's use: %+v", keys)
	}
	must(s.RevokeAPIKey(ctx, o2.ID, k.ID, now)).get(t)
	_, err = s.AuthorizeSite(ctx, store.CredentialAPIKey, hash("key"), mine.ID, now)
	wantErr(t, err, store.ErrNotFound, "")
}
