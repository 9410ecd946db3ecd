// Package storetest is the conformance suite every store.Store backend
// passes: Run(t, newStore). newStore must return an empty, migrated store
// whose generated ids start above 2^31 (the suite checks).
package storetest

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sightlinehq/sightline/svc-accounts/store"
)

// IDFloor is where newStore must start generated ids.
const IDFloor = int64(1) << 31

var plan = store.Plan{Name: "test", SessionsPerDay: 1000, MaxRetentionDays: 90, MaxSeats: 3, MaxSites: 3}

// Run runs the suite.
func Run(t *testing.T, newStore func(t *testing.T) store.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s store.Store)
	}{
		{"Users", testUsers},
		{"Sessions", testSessions},
		{"SiteAccess", testSiteAccess},
		{"VerifyTokens", testVerifyTokens},
		{"ResetTokens", testResetTokens},
		{"TokenConsumeConcurrent", testTokenConsumeConcurrent},
		{"FirstUserOperatorConcurrent", testFirstUserOperatorConcurrent},
		{"Devices", testDevices},
		{"SiteRecipients", testSiteRecipients},
		{"APIKeys", testAPIKeys},
		{"Organizations", testOrganizations},
		{"Members", testMembers},
		{"Invitations", testInvitations},
		{"Sites", testSites},
		{"SiteDomains", testSiteDomains},
		{"SiteDomainConcurrent", testSiteDomainConcurrent},
		{"SiteConfigAndFlags", testSiteConfigAndFlags},
		{"Surveys", testSurveys},
		{"SurveyLimitConcurrent", testSurveyLimitConcurrent},
		{"Funnels", testFunnels},
		{"FunnelLimitConcurrent", testFunnelLimitConcurrent},
		{"Maintenance", testMaintenance},
		{"Audit", testAudit},
		{"Quota", testQuota},
		{"QuotaConcurrent", testQuotaConcurrent},
		{"Limits", testLimits},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newStore(t)
			tc.fn(t, s)
		})
	}
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func hash(s string) []byte { h := sha256.Sum256([]byte(s)); return h[:] }

type result[T any] struct {
	v   T
	err error
}

func must[T any](v T, err error) result[T] { return result[T]{v, err} }

func (r result[T]) get(t *testing.T) T {
	t.Helper()
	if r.err != nil {
		t.Fatal(r.err)
	}
	return r.v
}

func wantErr(t *testing.T, err, target error, mention string) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("error = %v, want %v", err, target)
	}
	if mention != "" && !strings.Contains(err.Error(), mention) {
		t.Fatalf("error %q does not mention %q", err, mention)
	}
}

func highID(t *testing.T, what string, id int64) {
	t.Helper()
	if id <= IDFloor {
		t.Fatalf("%s id %d is not above 2^31: newStore must start ids above 2^31", what, id)
	}
}

func signUp(t *testing.T, s store.Store, email string) (store.User, store.Organization) {
	t.Helper()
	u, o, err := s.SignUp(ctxT(t), store.User{Email: email, Name: "N " + email, PasswordHash: "$argon2id$x"}, "Org of "+email, plan)
	if err != nil {
		t.Fatal(err)
	}
	return u, o
}

func testUsers(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	before := time.Now().Add(-time.Second)
	u, o := signUp(t, s, "a@example.com")
	highID(t, "user", u.ID)
	highID(t, "organization", o.ID)
	if u.ID == o.ID {
		t.Fatalf("user and organization share id %d: newStore should start tables apart", u.ID)
	}
	// The instance's first user is its operator; nobody after.
	if u.Email != "a@example.com" || u.PasswordHash != "$argon2id$x" || !u.Operator {
		t.Fatalf("first user = %+v, want an operator", u)
	}
	if u2, _ := signUp(t, s, "a2@example.com"); u2.Operator || must(s.GetUser(ctx, u2.ID)).get(t).Operator {
		t.Fatalf("second user = %+v, want no operator", u2)
	}
	if !must(s.GetUser(ctx, u.ID)).get(t).Operator {
		t.Fatal("the first user is not stored as an operator")
	}
	if u.CreateTime.Before(before) || u.CreateTime.Location() != time.UTC {
		t.Fatalf("create time %v: want recent, UTC", u.CreateTime)
	}
	if o.Plan != plan || o.Name != "Org of a@example.com" {
		t.Fatalf("organization = %+v", o)
	}
	got := must(s.GetUser(ctx, u.ID)).get(t)
	if got.Email != u.Email || !got.CreateTime.Equal(u.CreateTime) {
		t.Fatalf("GetUser = %+v, want %+v", got, u)
	}
	got = must(s.GetUserByEmail(ctx, "a@example.com")).get(t)
	if got.ID != u.ID || got.PasswordHash != u.PasswordHash {
		t.Fatalf("GetUserByEmail = %+v", got)
	}
	_, _, err := s.SignUp(ctx, store.User{Email: "a@example.com", PasswordHash: "h"}, "x", plan)
	wantErr(t, err, store.ErrConflict, "")
	_, err = s.GetUser(ctx, u.ID+1_000_000)
	wantErr(t, err, store.ErrNotFound, "")
	_, err = s.GetUserByEmail(ctx, "nobody@example.com")
	wantErr(t, err, store.ErrNotFound, "")
	// A failed sign-up leaves nothing behind: the org count is unchanged.
	orgs := must(s.ListOrganizations(ctx, u.ID, store.Page{})).get(t)
	if len(orgs) != 1 {
		t.Fatalf("user has %d organizations, want 1", len(orgs))
	}
	ms := must(s.ListMemberships(ctx, u.ID)).get(t)
	if len(ms) != 1 || ms[0].Role != store.RoleOwner || ms[0].OrganizationID != o.ID || ms[0].OrganizationName != o.Name {
		t.Fatalf("memberships = %+v", ms)
	}
}

func testSessions(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	u, o := signUp(t, s, "s@example.com")
	o2 := must(s.CreateOrganization(ctx, "second", u.ID, plan)).get(t)
	now := time.Now()
	sess := must(s.CreateAuthSession(ctx, store.AuthSession{UserID: u.ID, TokenHash: hash("tok"), ExpireTime: now.Add(time.Hour)})).get(t)
	highID(t, "auth session", sess.ID)
	p := must(s.PrincipalForSession(ctx, hash("tok"), now)).get(t)
	// u is the store's first user, so an operator, and the principal says so.
	if p.UserID != u.ID || p.Email != u.Email || p.APIKeyID != 0 || !p.Operator {
		t.Fatalf("principal = %+v", p)
	}
	if d := p.ExpireTime.Sub(now.Add(time.Hour)); d < -time.Millisecond || d > time.Millisecond {
		t.Fatalf("expire time %v, want %v", p.ExpireTime, now.Add(time.Hour))
	}
	want := []store.Membership{{OrganizationID: o.ID, OrganizationName: o.Name, Role: store.RoleOwner}, {OrganizationID: o2.ID, OrganizationName: "second", Role: store.RoleOwner}}
	if !slices.Equal(p.Memberships, want) {
		t.Fatalf("memberships = %+v, want %+v", p.Memberships, want)
	}
	// Role changes are visible at once.
	must(s.UpdateMemberRole(ctx, o2.ID, u.ID, store.RoleOwner)).get(t)
	_, err := s.PrincipalForSession(ctx, hash("other"), now)
	wantErr(t, err, store.ErrNotFound, "")
	_, err = s.PrincipalForSession(ctx, hash("tok"), now.Add(2*time.Hour))
	wantErr(t, err, store.ErrNotFound, "")
	if err := s.RevokeAuthSession(ctx, hash("tok"), now); err != nil {
		t.Fatal(err)
	}
	_, err = s.PrincipalForSession(ctx, hash("tok"), now)
	wantErr(t, err, store.ErrNotFound, "")
	if err := s.RevokeAuthSession(ctx, hash("never"), now); err != nil {
		t.Fatalf("revoking an unknown session: %v", err)
	}
	// Expired sessions are deleted; live ones stay.
	must(s.CreateAuthSession(ctx, store.AuthSession{UserID: u.ID, TokenHash: hash("old"), ExpireTime: now.Add(-time.Hour)})).get(t)
	must(s.CreateAuthSession(ctx, store.AuthSession{UserID: u.ID, TokenHash: hash("live"), ExpireTime: now.Add(time.Hour)})).get(t)
	if n := must(s.DeleteExpired(ctx, now)).get(t); n != 1 {
		t.Fatalf("DeleteExpired removed %d rows, want 1", n)
	}
	must(s.PrincipalForSession(ctx, hash("live"), now)).get(t)
	// A user without organisations still authenticates.
	u2, o3 := signUp(t, s, "lonely@example.com")
	must(s.CreateAuthSession(ctx, store.AuthSession{UserID: u2.ID, TokenHash: hash("t2"), ExpireTime: now.Add(time.Hour)})).get(t)
	must(s.CreateOrganization(ctx, "keep", u2.ID, plan)).get(t)
	// Make u2 a member only of "keep" by adding a co-owner to o3 and leaving.
	inv := must(s.CreateInvitation(ctx, store.Invitation{OrganizationID: o3.ID, Email: u.Email, Role: store.RoleOwner, TokenHash: hash("inv"), CreatedBy: u2.ID, ExpireTime: now.Add(time.Hour)})).get(t)
	_ = inv
	must(s.AcceptInvitation(ctx, hash("inv"), u.ID, u.Email, now)).get(t)
	if err := s.RemoveMember(ctx, o3.ID, u2.ID); err != nil {
		t.Fatal(err)
	}
	p = must(s.PrincipalForSession(ctx, hash("t2"), now)).get(t)
	if len(p.Memberships) != 1 || p.Memberships[0].OrganizationName != "keep" {
		t.Fatalf("memberships after leaving = %+v", p.Memberships)
	}
}

func testAPIKeys(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	u, o := signUp(t, s, "k@example.com")
	_, other := signUp(t, s, "k2@example.com")
	k := must(s.CreateAPIKey(ctx, store.APIKey{OrganizationID: o.ID, Name: "ci", Prefix: "slk_abcd", Hash: hash("key"), Role: store.RoleMember, CreatedBy: u.ID})).get(t)
	highID(t, "api key", k.ID)
	if !k.LastUseTime.IsZero() || !k.RevokeTime.IsZero() || k.Role != store.RoleMember || k.Name != "ci" || k.Prefix != "slk_abcd" {
		t.Fatalf("api key = %+v", k)
	}
	now := time.Now()
	p := must(s.PrincipalForAPIKey(ctx, hash("key"), now)).get(t)
	if p.APIKeyID != k.ID || p.UserID != u.ID || len(p.Memberships) != 1 ||
		p.Memberships[0] != (store.Membership{OrganizationID: o.ID, OrganizationName: o.Name, Role: store.RoleMember}) {
		t.Fatalf("principal = %+v", p)
	}
	keys := must(s.ListAPIKeys(ctx, o.ID, store.Page{})).get(t)
	if len(keys) != 1 || keys[0].LastUseTime.IsZero() {
		t.Fatalf("last use not recorded: %+v", keys)
	}
	if !slices.Equal(keys[0].Hash, hash("key")) {
		t.Fatalf("hash not stored")
	}
	if got := must(s.ListAPIKeys(ctx, other.ID, store.Page{})).get(t); len(got) != 0 {
		t.Fatalf("other org lists %d keys", len(got))
	}
	_, err := s.RevokeAPIKey(ctx, other.ID, k.ID, now)
	wantErr(t, err, store.ErrNotFound, "")
	r := must(s.RevokeAPIKey(ctx, o.ID, k.ID, now)).get(t)
	if r.RevokeTime.IsZero() {
		t.Fatal("revoke time not set")
	}
	r2 := must(s.RevokeAPIKey(ctx, o.ID, k.ID, now.Add(time.Hour))).get(t)
	if !r2.RevokeTime.Equal(r.RevokeTime) {
		t.Fatalf("second revoke moved revoke time %v -> %v", r.RevokeTime, r2.RevokeTime)
	}
	_, err = s.PrincipalForAPIKey(ctx, hash("key"), now)
	wantErr(t, err, store.ErrNotFound, "")
	_, err = s.PrincipalForAPIKey(ctx, hash("nokey"), now)
	wantErr(t, err, store.ErrNotFound, "")
}

func testOrganizations(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	u, o := signUp(t, s, "o@example.com")
	var ids []int64
	ids = append(ids, o.ID)
	for i := range 4 {
		n := must(s.CreateOrganization(ctx, fmt.Sprintf("org %d", i), u.ID, plan)).get(t)
		highID(t, "organization", n.ID)
		ids = append(ids, n.ID)
	}
	_, _ = signUp(t, s, "other@example.com")
	var got []int64
	p := store.Page{Limit: 2}
	for {
		page := must(s.ListOrganizations(ctx, u.ID, p)).get(t)
		for _, x := range page {
			got = append(got, x.ID)
		}
		if len(page) < p.Limit {
			break
		}
		p.After = page[len(page)-1].ID
	}
	if !slices.Equal(got, ids) {
		t.Fatalf("paged organizations = %v, want %v", got, ids)
	}
	r := must(s.RenameOrganization(ctx, o.ID, "renamed")).get(t)
	if r.Name != "renamed" || r.ID != o.ID || r.Plan != plan {
		t.Fatalf("renamed = %+v", r)
	}
	if g := must(s.GetOrganization(ctx, o.ID)).get(t); g.Name != "renamed" {
		t.Fatalf("get after rename = %+v", g)
	}
	_, err := s.RenameOrganization(ctx, o.ID+77, "x")
	wantErr(t, err, store.ErrNotFound, "")
	_, err = s.GetOrganization(ctx, o.ID+77)
	wantErr(t, err, store.ErrNotFound, "")
}

func addMember(t *testing.T, s store.Store, org, inviter int64, email string, role store.Role) store.User {
	t.Helper()
	ctx := ctxT(t)
	u, _ := signUp(t, s, email)
	tok := hash("inv-" + email)
	must(s.CreateInvitation(ctx, store.Invitation{OrganizationID: org, Email: email, Role: role, TokenHash: tok, CreatedBy: inviter, ExpireTime: time.Now().Add(time.Hour)})).get(t)
	must(s.AcceptInvitation(ctx, tok, u.ID, email, time.Now())).get(t)
	return u
}

func testMembers(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	owner, o := signUp(t, s, "m@example.com")
	v := addMember(t, s, o.ID, owner.ID, "v@example.com", store.RoleViewer)
	ms := must(s.ListMembers(ctx, o.ID, store.Page{})).get(t)
	if len(ms) != 2 || ms[0].User.ID != owner.ID || ms[0].Role != store.RoleOwner || ms[1].User.ID != v.ID || ms[1].Role != store.RoleViewer {
		t.Fatalf("members = %+v", ms)
	}
	if ms[1].User.PasswordHash != "" {
		t.Fatal("ListMembers leaks password hashes")
	}
	if ms[1].JoinTime.IsZero() {
		t.Fatal("join time not set")
	}
	if page := must(s.ListMembers(ctx, o.ID, store.Page{After: owner.ID, Limit: 10})).get(t); len(page) != 1 || page[0].User.ID != v.ID {
		t.Fatalf("members after owner = %+v", page)
	}
	// The last owner can be neither demoted nor removed.
	_, err := s.UpdateMemberRole(ctx, o.ID, owner.ID, store.RoleAdmin)
	wantErr(t, err, store.ErrPrecondition, "")
	wantErr(t, s.RemoveMember(ctx, o.ID, owner.ID), store.ErrPrecondition, "")
	m := must(s.UpdateMemberRole(ctx, o.ID, v.ID, store.RoleOwner)).get(t)
	if m.Role != store.RoleOwner || m.User.ID != v.ID {
		t.Fatalf("updated = %+v", m)
	}
	must(s.UpdateMemberRole(ctx, o.ID, owner.ID, store.RoleAdmin)).get(t)
	if g := must(s.GetMember(ctx, o.ID, owner.ID)).get(t); g.Role != store.RoleAdmin {
		t.Fatalf("role = %v", g.Role)
	}
	if err := s.RemoveMember(ctx, o.ID, owner.ID); err != nil {
		t.Fatal(err)
	}
	_, err = s.GetMember(ctx, o.ID, owner.ID)
	wantErr(t, err, store.ErrNotFound, "")
	wantErr(t, s.RemoveMember(ctx, o.ID, owner.ID), store.ErrNotFound, "")
	_, err = s.UpdateMemberRole(ctx, o.ID, owner.ID, store.RoleViewer)
	wantErr(t, err, store.ErrNotFound, "")
	_, err = s.UpdateMemberRole(ctx, o.ID+99, v.ID, store.RoleViewer)
	wantErr(t, err, store.ErrNotFound, "")

	// Two owners demoting each other at once never leave zero owners.
	a, o2 := signUp(t, s, "race@example.com")
	b := addMember(t, s, o2.ID, a.ID, "race2@example.com", store.RoleOwner)
	var wg sync.WaitGroup
	for _, id := range []int64{a.ID, b.ID} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, _ = s.UpdateMemberRole(ctx, o2.ID, id, store.RoleViewer)
		}()
	}
	wg.Wait()
	owners := 0
	for _, m := range must(s.ListMembers(ctx, o2.ID, store.Page{})).get(t) {
		if m.Role == store.RoleOwner {
			owners++
		}
	}
	if owners != 1 {
		t.Fatalf("after concurrent demotions: %d owners, want 1", owners)
	}
}

func testInvitations(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	owner, o := signUp(t, s, "i@example.com")
	now := time.Now()
	inv := must(s.CreateInvitation(ctx, store.Invitation{OrganizationID: o.ID, Email: "new@example.com", Role: store.RoleMember, TokenHash: hash("t1"), CreatedBy: owner.ID, ExpireTime: now.Add(time.Hour)})).get(t)
	highID(t, "invitation", inv.ID)
	must(s.CreateInvitation(ctx, store.Invitation{OrganizationID: o.ID, Email: "late@example.com", Role: store.RoleMember, TokenHash: hash("t2"), CreatedBy: owner.ID, ExpireTime: now.Add(-time.Minute)})).get(t)
	list := must(s.ListInvitations(ctx, o.ID, now, store.Page{})).get(t)
	if len(list) != 1 || list[0].ID != inv.ID || list[0].Email != "new@example.com" || list[0].Role != store.RoleMember {
		t.Fatalf("pending = %+v", list)
	}
	u, _ := signUp(t, s, "new@example.com")
	mallory, _ := signUp(t, s, "mallory@example.com")
	_, err := s.AcceptInvitation(ctx, hash("t1"), mallory.ID, mallory.Email, now)
	wantErr(t, err, store.ErrNotFound, "")
	_, err = s.AcceptInvitation(ctx, hash("t2"), u.ID, "late@example.com", now)
	wantErr(t, err, store.ErrNotFound, "")
	m := must(s.AcceptInvitation(ctx, hash("t1"), u.ID, u.Email, now)).get(t)
	if m.OrganizationID != o.ID || m.Role != store.RoleMember || m.OrganizationName != o.Name {
		t.Fatalf("membership = %+v", m)
	}
	_, err = s.AcceptInvitation(ctx, hash("t1"), u.ID, u.Email, now)
	wantErr(t, err, store.ErrNotFound, "")
	if l := must(s.ListInvitations(ctx, o.ID, now, store.Page{})).get(t); len(l) != 0 {
		t.Fatalf("accepted invitation still pending: %+v", l)
	}
	// Already a member.
	must(s.CreateInvitation(ctx, store.Invitation{OrganizationID: o.ID, Email: u.Email, Role: store.RoleAdmin, TokenHash: hash("t3"), CreatedBy: owner.ID, ExpireTime: now.Add(time.Hour)})).get(t)
	_, err = s.AcceptInvitation(ctx, hash("t3"), u.ID, u.Email, now)
	wantErr(t, err, store.ErrConflict, "")
	// Seats: plan has 3; owner + u = 2; one more fits, the next does not.
	addMember(t, s, o.ID, owner.ID, "third@example.com", store.RoleViewer)
	f, _ := signUp(t, s, "fourth@example.com")
	must(s.CreateInvitation(ctx, store.Invitation{OrganizationID: o.ID, Email: f.Email, Role: store.RoleViewer, TokenHash: hash("t4"), CreatedBy: owner.ID, ExpireTime: now.Add(time.Hour)})).get(t)
	_, err = s.AcceptInvitation(ctx, hash("t4"), f.ID, f.Email, now)
	wantErr(t, err, store.ErrLimit, "")
	// Revoke.
	i5 := must(s.CreateInvitation(ctx, store.Invitation{OrganizationID: o.ID, Email: "x@example.com", Role: store.RoleViewer, TokenHash: hash("t5"), CreatedBy: owner.ID, ExpireTime: now.Add(time.Hour)})).get(t)
	_, other := signUp(t, s, "otherorg@example.com")
	wantErr(t, s.RevokeInvitation(ctx, other.ID, i5.ID, now), store.ErrNotFound, "")
	if err := s.RevokeInvitation(ctx, o.ID, i5.ID, now); err != nil {
		t.Fatal(err)
	}
	wantErr(t, s.RevokeInvitation(ctx, o.ID, i5.ID, now), store.ErrNotFound, "")
	x, _ := signUp(t, s, "x@example.com")
	_, err = s.AcceptInvitation(ctx, hash("t5"), x.ID, x.Email, now)
	wantErr(t, err, store.ErrNotFound, "")
}

func settings() store.SiteSettings {
	return store.SiteSettings{RecordingEnabled: true, SampleRate: 0.25, MaskAllText: true,
		MaskSelectors: []string{".secret"}, BlockSelectors: []string{"#ads", "iframe"}, UnmaskSelectors: []string{"input[name=q]"},
		RetentionDays: 30, RespectDoNotTrack: true, RequireConsent: true, CaptureAssets: new(false), RecordCanvas: true,
		Feedback: &store.FeedbackWidget{Enabled: true, Position: 2, Color: "#0a7cff", Language: "de", TabLabel: "Feedback",
			Title: "Wie war's?", CommentPrompt: "Sag's uns", Thanks: "Danke!", AllowElement: true,
			Pages: []store.PageRule{{Op: 3, Value: "/shop/"}, {Op: 4, Value: "https://example.com/*/cart"}}},
		TimeZone: "America/Argentina/Buenos_Aires"}
}

// sameSettings compares settings by value (CaptureAssets is a pointer).
func sameSettings(a, b store.SiteSettings) bool { return reflect.DeepEqual(a, b) }

func testSites(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	_, o := signUp(t, s, "site@example.com")
	_, o2 := signUp(t, s, "site2@example.com")
	st := must(s.CreateSite(ctx, store.Site{OrganizationID: o.ID, Name: "Shop", SiteKey: "k_one", Domains: []string{"shop.example.com", "*.example.org"}, Settings: settings()}, 3)).get(t)
	highID(t, "site", st.ID)
	if st.Name != "Shop" || st.SiteKey != "k_one" || st.OrganizationID != o.ID ||
		!slices.Equal(st.Domains, []string{"*.example.org", "shop.example.com"}) {
		t.Fatalf("site = %+v", st)
	}
	if !sameSettings(st.Settings, settings()) {
		t.Fatalf("settings = %+v, want %+v", st.Settings, settings())
	}
	g := must(s.GetSite(ctx, st.ID)).get(t)
	if g.ID != st.ID || !slices.Equal(g.Domains, st.Domains) || !sameSettings(g.Settings, settings()) {
		t.Fatalf("get = %+v", g)
	}
	// A domain on another site of the organisation conflicts, naming that
	// site; nothing of the failed site remains.
	_, err := s.CreateSite(ctx, store.Site{OrganizationID: o.ID, Name: "Twice", SiteKey: "k_two", Domains: []string{"new.example.net", "shop.example.com"}, Settings: settings()}, 3)
	wantInUse(t, err, "shop.example.com", "Shop")
	if l := must(s.ListSites(ctx, o.ID, store.Page{})).get(t); len(l) != 1 {
		t.Fatalf("failed create left %d sites, want 1", len(l))
	}
	// Another organisation may list the same domain on its own site.
	twin := must(s.CreateSite(ctx, store.Site{OrganizationID: o2.ID, Name: "Twin", SiteKey: "k_two", Domains: []string{"new.example.net", "shop.example.com"}, Settings: settings()}, 3)).get(t)
	if twin.OrganizationID != o2.ID || !slices.Equal(twin.Domains, []string{"new.example.net", "shop.example.com"}) {
		t.Fatalf("second organisation's site = %+v", twin)
	}
	// Site key unique.
	_, err = s.CreateSite(ctx, store.Site{OrganizationID: o2.ID, Name: "Dup", SiteKey: "k_one", Settings: settings()}, 3)
	wantErr(t, err, store.ErrConflict, "")
	// Limit.
	must(s.CreateSite(ctx, store.Site{OrganizationID: o.ID, Name: "B", SiteKey: "k_b", Settings: settings()}, 3)).get(t)
	c := must(s.CreateSite(ctx, store.Site{OrganizationID: o.ID, Name: "C", SiteKey: "k_c", Domains: []string{"c.example.com"}, Settings: settings()}, 3)).get(t)
	_, err = s.CreateSite(ctx, store.Site{OrganizationID: o.ID, Name: "D", SiteKey: "k_d", Settings: settings()}, 3)
	wantErr(t, err, store.ErrLimit, "")
	_, err = s.CreateSite(ctx, store.Site{OrganizationID: o.ID + 5, Name: "D", SiteKey: "k_d", Settings: settings()}, 3)
	wantErr(t, err, store.ErrNotFound, "")
	// Paging with domains.
	var names []string
	var doms [][]string
	p := store.Page{Limit: 2}
	for {
		page := must(s.ListSites(ctx, o.ID, p)).get(t)
		for _, x := range page {
			names = append(names, x.Name)
			doms = append(doms, x.Domains)
		}
		if len(page) < p.Limit {
			break
		}
		p.After = page[len(page)-1].ID
	}
	if !slices.Equal(names, []string{"Shop", "B", "C"}) || len(doms[0]) != 2 || len(doms[1]) != 0 || !slices.Equal(doms[2], []string{"c.example.com"}) {
		t.Fatalf("list = %v %v", names, doms)
	}
	r := must(s.RenameSite(ctx, st.ID, "Shop 2")).get(t)
	if r.Name != "Shop 2" || len(r.Domains) != 2 || r.UpdateTime.Before(st.UpdateTime) {
		t.Fatalf("renamed = %+v", r)
	}
	ns := settings()
	ns.SampleRate, ns.MaskSelectors, ns.RecordingEnabled = 1, nil, false
	ns.CaptureAssets, ns.RecordCanvas, ns.TimeZone = nil, false, "Asia/Kathmandu"
	u := must(s.UpdateSiteSettings(ctx, st.ID, ns)).get(t)
	if !sameSettings(u.Settings, ns) {
		t.Fatalf("updated settings = %+v, want %+v", u.Settings, ns)
	}
	_, err = s.UpdateSiteSettings(ctx, st.ID+999, ns)
	wantErr(t, err, store.ErrNotFound, "")
	_, err = s.RenameSite(ctx, st.ID+999, "x")
	wantErr(t, err, store.ErrNotFound, "")
	// Delete frees the domains and key lookups.
	must(s.SetFeatureFlag(ctx, store.FeatureFlag{Name: "f", Scope: store.ScopeSite, ScopeID: c.ID, Enabled: true})).get(t)
	must(s.LeaseSessionQuota(ctx, c.ID, "2030-01-01", 5, 10)).get(t)
	if err := s.DeleteSite(ctx, c.ID); err != nil {
		t.Fatal(err)
	}
	wantErr(t, s.DeleteSite(ctx, c.ID), store.ErrNotFound, "")
	_, err = s.GetSite(ctx, c.ID)
	wantErr(t, err, store.ErrNotFound, "")
	_, err = s.GetSiteConfig(ctx, "k_c", time.Now())
	wantErr(t, err, store.ErrNotFound, "")
	if f := must(s.ListFeatureFlags(ctx, store.ScopeSite, c.ID)).get(t); len(f) != 0 {
		t.Fatalf("deleted site's flags remain: %+v", f)
	}
	must(s.CreateSite(ctx, store.Site{OrganizationID: o.ID, Name: "Reuse", SiteKey: "k_r", Domains: []string{"c.example.com"}, Settings: settings()}, 3)).get(t)
}

// wantInUse checks err is the conflict of domain already on the caller's
// own site, named in the message.
func wantInUse(t *testing.T, err error, domain, site string) {
	t.Helper()
	var e *store.DomainInUseError
	if !errors.As(err, &e) || !errors.Is(err, store.ErrConflict) {
		t.Fatalf("error = %v, want a DomainInUseError matching ErrConflict", err)
	}
	if want := fmt.Sprintf("%s is already on your site %q", domain, site); err.Error() != want {
		t.Fatalf("error %q, want %q", err, want)
	}
}

func testSiteDomains(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	_, o := signUp(t, s, "d@example.com")
	a := must(s.CreateSite(ctx, store.Site{OrganizationID: o.ID, Name: "A", SiteKey: "k_a", Domains: []string{"a.example.com"}, Settings: settings()}, 3)).get(t)
	b := must(s.CreateSite(ctx, store.Site{OrganizationID: o.ID, Name: "B", SiteKey: "k_b", Settings: settings()}, 3)).get(t)
	got := must(s.AddSiteDomain(ctx, a.ID, "*.a.example.com", 3)).get(t)
	if !slices.Equal(got.Domains, []string{"*.a.example.com", "a.example.com"}) {
		t.Fatalf("domains = %v", got.Domains)
	}
	if got.UpdateTime.Before(a.UpdateTime) {
		t.Fatal("update time did not move")
	}
	_, err := s.AddSiteDomain(ctx, b.ID, "a.example.com", 3)
	wantInUse(t, err, "a.example.com", "A")
	_, err = s.AddSiteDomain(ctx, a.ID, "a.example.com", 3)
	wantInUse(t, err, "a.example.com", "A")
	must(s.AddSiteDomain(ctx, a.ID, "third.example.com", 3)).get(t)
	_, err = s.AddSiteDomain(ctx, a.ID, "fourth.example.com", 3)
	wantErr(t, err, store.ErrLimit, "")
	_, err = s.AddSiteDomain(ctx, a.ID+1000, "x.example.com", 3)
	wantErr(t, err, store.ErrNotFound, "")
	got = must(s.RemoveSiteDomain(ctx, a.ID, "a.example.com")).get(t)
	if !slices.Equal(got.Domains, []string{"*.a.example.com", "third.example.com"}) {
		t.Fatalf("after remove = %v", got.Domains)
	}
	_, err = s.RemoveSiteDomain(ctx, a.ID, "a.example.com")
	wantErr(t, err, store.ErrNotFound, "")
	_, err = s.RemoveSiteDomain(ctx, b.ID, "third.example.com")
	wantErr(t, err, store.ErrNotFound, "")
	must(s.AddSiteDomain(ctx, b.ID, "a.example.com", 3)).get(t)
	testDomainsAcrossOrganizations(t, s)
}

// testDomainsAcrossOrganizations: two organisations each add one domain,
// and each site key still finds its own site with its own domains.
func testDomainsAcrossOrganizations(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	_, o1 := signUp(t, s, "shop1@example.com")
	_, o2 := signUp(t, s, "shop2@example.com")
	s1 := must(s.CreateSite(ctx, store.Site{OrganizationID: o1.ID, Name: "Demo shop", SiteKey: "k_shop1", Domains: []string{"one.example.com"}, Settings: settings()}, 3)).get(t)
	s2 := must(s.CreateSite(ctx, store.Site{OrganizationID: o2.ID, Name: "Demo shop", SiteKey: "k_shop2", Settings: settings()}, 3)).get(t)
	must(s.AddSiteDomain(ctx, s1.ID, "127.0.0.1", 3)).get(t)
	if got := must(s.AddSiteDomain(ctx, s2.ID, "127.0.0.1", 3)).get(t); !slices.Equal(got.Domains, []string{"127.0.0.1"}) {
		t.Fatalf("second organisation's domains = %v", got.Domains)
	}
	// Within the second organisation it is taken now, by its own site.
	other := must(s.CreateSite(ctx, store.Site{OrganizationID: o2.ID, Name: "Blog", SiteKey: "k_blog2", Settings: settings()}, 3)).get(t)
	_, err := s.AddSiteDomain(ctx, other.ID, "127.0.0.1", 3)
	wantInUse(t, err, "127.0.0.1", "Demo shop")
	for _, w := range []struct {
		key     string
		site    store.Site
		domains []string
	}{{"k_shop1", s1, []string{"127.0.0.1", "one.example.com"}}, {"k_shop2", s2, []string{"127.0.0.1"}}} {
		c := must(s.GetSiteConfig(ctx, w.key, time.Now())).get(t)
		if c.Site.ID != w.site.ID || c.Site.OrganizationID != w.site.OrganizationID || !slices.Equal(c.Site.Domains, w.domains) {
			t.Fatalf("config of %s = site %d org %d domains %v, want site %d org %d domains %v",
				w.key, c.Site.ID, c.Site.OrganizationID, c.Site.Domains, w.site.ID, w.site.OrganizationID, w.domains)
		}
	}
	// Removing it from one organisation leaves the other's.
	must(s.RemoveSiteDomain(ctx, s1.ID, "127.0.0.1")).get(t)
	if g := must(s.GetSite(ctx, s2.ID)).get(t); !slices.Equal(g.Domains, []string{"127.0.0.1"}) {
		t.Fatalf("other organisation's domains after a remove = %v", g.Domains)
	}
	// Deleting the second organisation's site frees the domain there only.
	if err := s.DeleteSite(ctx, s2.ID); err != nil {
		t.Fatal(err)
	}
	must(s.AddSiteDomain(ctx, other.ID, "127.0.0.1", 3)).get(t)
}

// testSiteDomainConcurrent: one domain added at once to six sites of an
// organisation and to a site of another lands on exactly one site of the
// first and on the other's; every loser is told of its own organisation's
// site only (or of none, when it lost a race past the check).
func testSiteDomainConcurrent(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	_, o := signUp(t, s, "race@example.com")
	_, other := signUp(t, s, "race-other@example.com")
	var sites []store.Site
	for i := range 6 {
		sites = append(sites, must(s.CreateSite(ctx, store.Site{OrganizationID: o.ID, Name: fmt.Sprint("S", i), SiteKey: fmt.Sprint("k_race", i), Settings: settings()}, 6)).get(t))
	}
	theirs := must(s.CreateSite(ctx, store.Site{OrganizationID: other.ID, Name: "Theirs", SiteKey: "k_race_other", Settings: settings()}, 3)).get(t)
	errs := make([]error, len(sites)+1)
	var wg sync.WaitGroup
	for i, st := range append(slices.Clone(sites), theirs) {
		wg.Go(func() {
			_, errs[i] = s.AddSiteDomain(ctx, st.ID, "race.example.com", 3)
		})
	}
	wg.Wait()
	if errs[len(sites)] != nil {
		t.Fatalf("the other organisation's add: %v", errs[len(sites)])
	}
	winner := -1
	for i, err := range errs[:len(sites)] {
		if err == nil {
			if winner >= 0 {
				t.Fatalf("sites %d and %d of one organisation both got the domain", winner, i)
			}
			winner = i
		}
	}
	if winner < 0 {
		t.Fatalf("no site got the domain: %v", errs)
	}
	for i, err := range errs[:len(sites)] {
		var e *store.DomainInUseError
		switch {
		case i == winner:
		case !errors.As(err, &e) || !errors.Is(err, store.ErrConflict) || e.Domain != "race.example.com":
			t.Fatalf("loser %d: %v, want a DomainInUseError", i, err)
		case e.Site != "" && e.Site != sites[winner].Name:
			t.Fatalf("loser %d is told of site %q, want %q or none", i, e.Site, sites[winner].Name)
		}
	}
	for i, st := range sites {
		if got := must(s.GetSite(ctx, st.ID)).get(t).Domains; (i == winner) != slices.Equal(got, []string{"race.example.com"}) || (i != winner && len(got) != 0) {
			t.Fatalf("site %d's domains = %v (winner %d)", i, got, winner)
		}
	}
}

func testSiteConfigAndFlags(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	_, o := signUp(t, s, "cfg@example.com")
	_, o2 := signUp(t, s, "cfg2@example.com")
	st := must(s.CreateSite(ctx, store.Site{OrganizationID: o.ID, Name: "A", SiteKey: "k_cfg", Domains: []string{"b.example.com", "a.example.com"}, Settings: settings()}, 3)).get(t)
	other := must(s.CreateSite(ctx, store.Site{OrganizationID: o2.ID, Name: "O", SiteKey: "k_oth", Settings: settings()}, 3)).get(t)
	for _, f := range []store.FeatureFlag{
		{Name: "global-on", Scope: store.ScopeGlobal, Enabled: true},
		{Name: "global-off-org-on", Scope: store.ScopeGlobal, Enabled: false},
		{Name: "global-off-org-on", Scope: store.ScopeOrganization, ScopeID: o.ID, Enabled: true},
		{Name: "org-on-site-off", Scope: store.ScopeOrganization, ScopeID: o.ID, Enabled: true},
		{Name: "org-on-site-off", Scope: store.ScopeSite, ScopeID: st.ID, Enabled: false},
		{Name: "site-on", Scope: store.ScopeSite, ScopeID: st.ID, Enabled: true},
		{Name: "other-site", Scope: store.ScopeSite, ScopeID: other.ID, Enabled: true},
		{Name: "other-org", Scope: store.ScopeOrganization, ScopeID: o2.ID, Enabled: true},
	} {
		got := must(s.SetFeatureFlag(ctx, f)).get(t)
		if got != f {
			t.Fatalf("set flag = %+v, want %+v", got, f)
		}
	}
	c := must(s.GetSiteConfig(ctx, "k_cfg", time.Now())).get(t)
	if c.Site.ID != st.ID || c.Site.OrganizationID != o.ID || c.Plan != plan || !slices.Equal(c.Site.Domains, []string{"a.example.com", "b.example.com"}) {
		t.Fatalf("config = %+v", c)
	}
	if !sameSettings(c.Site.Settings, settings()) {
		t.Fatalf("config settings = %+v", c.Site.Settings)
	}
	if want := []string{"global-off-org-on", "global-on", "site-on"}; !slices.Equal(c.Flags, want) {
		t.Fatalf("effective flags = %v, want %v", c.Flags, want)
	}
	_, err := s.GetSiteConfig(ctx, "k_missing", time.Now())
	wantErr(t, err, store.ErrNotFound, "")
	// Overwrite.
	must(s.SetFeatureFlag(ctx, store.FeatureFlag{Name: "global-on", Scope: store.ScopeGlobal, Enabled: false})).get(t)
	g := must(s.ListFeatureFlags(ctx, store.ScopeGlobal, 0)).get(t)
	if len(g) != 2 || g[0].Name != "global-off-org-on" || g[1].Name != "global-on" || g[1].Enabled {
		t.Fatalf("global flags = %+v", g)
	}
	if of := must(s.ListFeatureFlags(ctx, store.ScopeOrganization, o.ID)).get(t); len(of) != 2 {
		t.Fatalf("org flags = %+v", of)
	}
	if c := must(s.GetSiteConfig(ctx, "k_cfg", time.Now())).get(t); slices.Contains(c.Flags, "global-on") {
		t.Fatalf("disabled flag still effective: %v", c.Flags)
	}
}

func testMaintenance(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	m := must(s.GetMaintenance(ctx)).get(t)
	if m.Enabled || m.Message != "" {
		t.Fatalf("default maintenance = %+v", m)
	}
	set := must(s.SetMaintenance(ctx, store.Maintenance{Enabled: true, Message: "upgrading"})).get(t)
	got := must(s.GetMaintenance(ctx)).get(t)
	if !got.Enabled || got.Message != "upgrading" || !got.UpdateTime.Equal(set.UpdateTime) || got.UpdateTime.IsZero() {
		t.Fatalf("maintenance = %+v, set %+v", got, set)
	}
	must(s.SetMaintenance(ctx, store.Maintenance{})).get(t)
	if got := must(s.GetMaintenance(ctx)).get(t); got.Enabled || got.Message != "" {
		t.Fatalf("maintenance after off = %+v", got)
	}
}

func testAudit(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	u, o := signUp(t, s, "audit@example.com")
	_, o2 := signUp(t, s, "audit2@example.com")
	for i := range 5 {
		if err := s.AppendAudit(ctx, store.AuditEvent{OrganizationID: o.ID, ActorUserID: u.ID, Action: fmt.Sprintf("a.%d", i), Target: "site:1", IPPrefix: "10.0.0.0/24"}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.AppendAudit(ctx, store.AuditEvent{OrganizationID: o2.ID, Action: "other"}); err != nil {
		t.Fatal(err)
	}
	if err := s.AppendAudit(ctx, store.AuditEvent{Action: "user.login_failed", Target: "email"}); err != nil {
		t.Fatal(err)
	}
	var actions []string
	p := store.Page{Limit: 2}
	for {
		page := must(s.ListAuditEvents(ctx, o.ID, p)).get(t)
		for _, e := range page {
			highID(t, "audit event", e.ID)
			if e.OrganizationID != o.ID || e.ActorUserID != u.ID || e.IPPrefix != "10.0.0.0/24" || e.CreateTime.IsZero() {
				t.Fatalf("event = %+v", e)
			}
			actions = append(actions, e.Action)
		}
		if len(page) < p.Limit {
			break
		}
		p.Before = page[len(page)-1].ID
	}
	if !slices.Equal(actions, []string{"a.4", "a.3", "a.2", "a.1", "a.0"}) {
		t.Fatalf("audit = %v", actions)
	}
	// Organisation 0: the events of none.
	if none := must(s.ListAuditEvents(ctx, 0, store.Page{})).get(t); len(none) != 1 || none[0].Action != "user.login_failed" || none[0].OrganizationID != 0 {
		t.Fatalf("events of no organisation = %+v", none)
	}
}

func testQuota(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	_, o := signUp(t, s, "q@example.com")
	st := must(s.CreateSite(ctx, store.Site{OrganizationID: o.ID, Name: "Q", SiteKey: "k_q", Settings: settings()}, 3)).get(t)
	for i, c := range []struct{ req, granted, remaining int64 }{
		{40, 40, 60}, {50, 50, 10}, {50, 10, 0}, {5, 0, 0},
	} {
		l := must(s.LeaseSessionQuota(ctx, st.ID, "2030-06-01", c.req, 100)).get(t)
		if l.Granted != c.granted || l.Remaining != c.remaining || l.Limit != 100 {
			t.Fatalf("lease %d (req %d) = %+v, want granted %d remaining %d", i, c.req, l, c.granted, c.remaining)
		}
	}
	// Another day is a fresh quota; a first lease larger than the limit is capped.
	if l := must(s.LeaseSessionQuota(ctx, st.ID, "2030-06-02", 500, 100)).get(t); l.Granted != 100 || l.Remaining != 0 {
		t.Fatalf("capped first lease = %+v", l)
	}
	// A raised limit (plan upgrade) grants the difference.
	if l := must(s.LeaseSessionQuota(ctx, st.ID, "2030-06-01", 30, 120)).get(t); l.Granted != 20 || l.Remaining != 0 {
		t.Fatalf("lease after upgrade = %+v", l)
	}
}

func testQuotaConcurrent(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	_, o := signUp(t, s, "qc@example.com")
	st := must(s.CreateSite(ctx, store.Site{OrganizationID: o.ID, Name: "Q", SiteKey: "k_qc", Settings: settings()}, 3)).get(t)
	const limit, workers, each = 1000, 16, 20
	var total atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range each {
				l, err := s.LeaseSessionQuota(ctx, st.ID, "2030-07-01", 7, limit)
				if err != nil {
					errs <- err
					return
				}
				if l.Granted < 0 || l.Granted > 7 {
					errs <- fmt.Errorf("granted %d of 7", l.Granted)
					return
				}
				total.Add(l.Granted)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	// Demand (16*20*7 = 2240) exceeds the limit: exactly the limit is granted.
	if total.Load() != limit {
		t.Fatalf("granted %d in total, want exactly %d", total.Load(), limit)
	}
}

// twoOrgSites signs up <key>@ and <key>2@example.com and makes a site in
// each one's organisation (keys k_<key> and k_<key>o).
func twoOrgSites(t *testing.T, s store.Store, key string) (st, other store.Site) {
	t.Helper()
	ctx := ctxT(t)
	_, o := signUp(t, s, key+"@example.com")
	_, o2 := signUp(t, s, key+"2@example.com")
	st = must(s.CreateSite(ctx, store.Site{OrganizationID: o.ID, Name: "S", SiteKey: "k_" + key, Settings: settings()}, 3)).get(t)
	other = must(s.CreateSite(ctx, store.Site{OrganizationID: o2.ID, Name: "O", SiteKey: "k_" + key + "o", Settings: settings()}, 3)).get(t)
	return st, other
}

func testSurveys(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	st, other := twoOrgSites(t, s, "sv")
	before := time.Now().Add(-time.Second)
	// Definitions are opaque bytes, returned as given (JSON-looking ones too:
	// PostgreSQL must not normalise them).
	def := func(name string) []byte { return []byte(`{"name":  "` + name + `", "z":1, "a":2}`) }
	end := time.Now().Add(time.Hour).Truncate(time.Millisecond).UTC()
	a := must(s.CreateSurvey(ctx, store.Survey{SiteID: st.ID, Status: store.SurveyActive, Definition: def("a")}, 3)).get(t)
	highID(t, "survey", a.ID)
	if a.ID == st.ID || a.SiteID != st.ID || a.Status != store.SurveyActive || !a.EndTime.IsZero() || string(a.Definition) != string(def("a")) ||
		a.CreateTime.Before(before) || a.CreateTime.Location() != time.UTC || !a.UpdateTime.Equal(a.CreateTime) {
		t.Fatalf("created = %+v", a)
	}
	b := must(s.CreateSurvey(ctx, store.Survey{SiteID: st.ID, Status: 1, EndTime: end, Definition: def("b")}, 3)).get(t)
	if !b.EndTime.Equal(end) || b.ID <= a.ID {
		t.Fatalf("created with end = %+v, want end %v", b, end)
	}
	g := must(s.GetSurvey(ctx, st.ID, b.ID)).get(t)
	if g.ID != b.ID || !g.EndTime.Equal(end) || g.EndTime.Location() != time.UTC || string(g.Definition) != string(def("b")) || g.Status != 1 {
		t.Fatalf("get = %+v", g)
	}
	// Another site's id space: not found, named.
	_, err := s.GetSurvey(ctx, other.ID, b.ID)
	wantErr(t, err, store.ErrNotFound, "")
	_, err = s.CreateSurvey(ctx, store.Survey{SiteID: st.ID + 12345, Status: 1, Definition: def("x")}, 3)
	wantErr(t, err, store.ErrNotFound, "")
	// Newest first.
	l := must(s.ListSurveys(ctx, st.ID)).get(t)
	if len(l) != 2 || l[0].ID != b.ID || l[1].ID != a.ID || string(l[1].Definition) != string(def("a")) {
		t.Fatalf("list = %+v", l)
	}
	if l := must(s.ListSurveys(ctx, other.ID)).get(t); len(l) != 0 {
		t.Fatalf("other site lists %d surveys", len(l))
	}
	// Limit per site.
	c := must(s.CreateSurvey(ctx, store.Survey{SiteID: st.ID, Status: store.SurveyActive, EndTime: time.Now().Add(-time.Minute), Definition: def("c")}, 3)).get(t)
	_, err = s.CreateSurvey(ctx, store.Survey{SiteID: st.ID, Status: 1, Definition: def("d")}, 3)
	wantErr(t, err, store.ErrLimit, "")
	// The config carries the active, unended ones only: a (active, open), not
	// b (draft) nor c (ended).
	cfg := must(s.GetSiteConfig(ctx, "k_sv", time.Now())).get(t)
	if len(cfg.Surveys) != 1 || cfg.Surveys[0].ID != a.ID || string(cfg.Surveys[0].Definition) != string(def("a")) {
		t.Fatalf("config surveys = %+v, want only %d", cfg.Surveys, a.ID)
	}
	// Update: b becomes active; end time cleared; the definition replaced.
	time.Sleep(2 * time.Millisecond) // the clock moves on, so the update time must too
	u := must(s.UpdateSurvey(ctx, store.Survey{ID: b.ID, SiteID: st.ID, Status: store.SurveyActive, Definition: def("b2")})).get(t)
	if u.Status != store.SurveyActive || !u.EndTime.IsZero() || string(u.Definition) != string(def("b2")) ||
		!u.CreateTime.Equal(b.CreateTime) || !u.UpdateTime.After(b.UpdateTime) {
		t.Fatalf("updated = %+v (was %+v)", u, b)
	}
	// A conditional update against a stale update time changes nothing.
	_, err = s.UpdateSurvey(ctx, store.Survey{ID: b.ID, SiteID: st.ID, Status: 1, Definition: def("stale"), UpdateTime: b.UpdateTime})
	wantErr(t, err, store.ErrPrecondition, "")
	_, err = s.UpdateSurvey(ctx, store.Survey{ID: b.ID + 999, SiteID: st.ID, Status: 1, Definition: def("x"), UpdateTime: b.UpdateTime})
	wantErr(t, err, store.ErrNotFound, "")
	if g := must(s.GetSurvey(ctx, st.ID, b.ID)).get(t); string(g.Definition) != string(def("b2")) || !g.UpdateTime.Equal(u.UpdateTime) {
		t.Fatalf("a stale update changed the survey: %+v", g)
	}
	u2 := must(s.UpdateSurvey(ctx, store.Survey{ID: b.ID, SiteID: st.ID, Status: store.SurveyActive, Definition: def("b2"), UpdateTime: u.UpdateTime})).get(t)
	if !u2.UpdateTime.After(u.UpdateTime) {
		t.Fatalf("conditional update time %v is not after %v", u2.UpdateTime, u.UpdateTime)
	}
	cfg = must(s.GetSiteConfig(ctx, "k_sv", time.Now())).get(t)
	if len(cfg.Surveys) != 2 || cfg.Surveys[0].ID != b.ID || cfg.Surveys[1].ID != a.ID {
		t.Fatalf("config surveys after update = %+v", cfg.Surveys)
	}
	// An end time in the past (by the caller's clock) drops it.
	if cfg := must(s.GetSiteConfig(ctx, "k_sv", time.Now().Add(2*time.Hour))).get(t); len(cfg.Surveys) != 2 {
		t.Fatalf("open-ended surveys must stay: %+v", cfg.Surveys)
	}
	must(s.UpdateSurvey(ctx, store.Survey{ID: a.ID, SiteID: st.ID, Status: store.SurveyActive, EndTime: end, Definition: def("a")})).get(t)
	if cfg := must(s.GetSiteConfig(ctx, "k_sv", end.Add(time.Millisecond))).get(t); len(cfg.Surveys) != 1 || cfg.Surveys[0].ID != b.ID {
		t.Fatalf("config after a's end = %+v", cfg.Surveys)
	}
	// Updating or deleting through another site finds nothing and changes nothing.
	_, err = s.UpdateSurvey(ctx, store.Survey{ID: a.ID, SiteID: other.ID, Status: 1, Definition: def("pwned")})
	wantErr(t, err, store.ErrNotFound, "")
	wantErr(t, s.DeleteSurvey(ctx, other.ID, a.ID), store.ErrNotFound, "")
	if g := must(s.GetSurvey(ctx, st.ID, a.ID)).get(t); string(g.Definition) != string(def("a")) {
		t.Fatalf("foreign update changed %s", g.Definition)
	}
	if err := s.DeleteSurvey(ctx, st.ID, c.ID); err != nil {
		t.Fatal(err)
	}
	wantErr(t, s.DeleteSurvey(ctx, st.ID, c.ID), store.ErrNotFound, "")
	_, err = s.GetSurvey(ctx, st.ID, c.ID)
	wantErr(t, err, store.ErrNotFound, "")
	// A freed slot can be used again.
	must(s.CreateSurvey(ctx, store.Survey{SiteID: st.ID, Status: 1, Definition: def("d")}, 3)).get(t)
	// Deleting the site deletes its surveys.
	if err := s.DeleteSite(ctx, st.ID); err != nil {
		t.Fatal(err)
	}
	_, err = s.GetSurvey(ctx, st.ID, a.ID)
	wantErr(t, err, store.ErrNotFound, "")
	if l := must(s.ListSurveys(ctx, st.ID)).get(t); len(l) != 0 {
		t.Fatalf("deleted site's surveys remain: %d", len(l))
	}
}

// testSurveyLimitConcurrent: concurrent creates never pass the per-site
// limit.
func testSurveyLimitConcurrent(t *testing.T, s store.Store) {
	siteLimitRace(t, s, "svc", func(ctx context.Context, site int64, i, limit int) error {
		_, err := s.CreateSurvey(ctx, store.Survey{SiteID: site, Status: 1, Definition: []byte(fmt.Sprint(i))}, limit)
		return err
	}, func(ctx context.Context, site int64) (int, error) {
		l, err := s.ListSurveys(ctx, site)
		return len(l), err
	})
}

// siteLimitRace races 12 creates of a site's objects on a fresh site
// under a limit of 5 (racingCreates) and checks 5 are listed; key names
// the user and site.
func siteLimitRace(t *testing.T, s store.Store, key string, create func(ctx context.Context, site int64, i, limit int) error, list func(ctx context.Context, site int64) (int, error)) {
	t.Helper()
	ctx := ctxT(t)
	_, o := signUp(t, s, key+"@example.com")
	st := must(s.CreateSite(ctx, store.Site{OrganizationID: o.ID, Name: "S", SiteKey: "k_" + key, Settings: settings()}, 3)).get(t)
	const limit = 5
	racingCreates(t, 12, limit, func(i int) error { return create(ctx, st.ID, i, limit) })
	if n := must(list(ctx, st.ID)).get(t); n != limit {
		t.Fatalf("listed %d, want %d", n, limit)
	}
}

func testFunnels(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	st, other := twoOrgSites(t, s, "fn")
	before := time.Now().Add(-time.Second)
	// Steps are opaque bytes, returned as given (JSON-looking ones too:
	// PostgreSQL must not normalise them).
	steps := func(v string) []byte { return []byte(`{"steps":  [{"event": "` + v + `"}], "z":1, "a":2}`) }
	a := must(s.CreateFunnel(ctx, store.Funnel{SiteID: st.ID, Name: "Checkout ✓", Steps: steps("a")}, 3)).get(t)
	highID(t, "funnel", a.ID)
	if a.ID == st.ID || a.SiteID != st.ID || a.Name != "Checkout ✓" || string(a.Steps) != string(steps("a")) ||
		a.CreateTime.Before(before) || a.CreateTime.Location() != time.UTC || !a.UpdateTime.Equal(a.CreateTime) {
		t.Fatalf("created = %+v", a)
	}
	b := must(s.CreateFunnel(ctx, store.Funnel{SiteID: st.ID, Name: "b", Steps: steps("b")}, 3)).get(t)
	if b.ID <= a.ID {
		t.Fatalf("second funnel id %d not above %d", b.ID, a.ID)
	}
	g := must(s.GetFunnel(ctx, st.ID, b.ID)).get(t)
	if g.ID != b.ID || g.SiteID != st.ID || g.Name != "b" || string(g.Steps) != string(steps("b")) ||
		!g.CreateTime.Equal(b.CreateTime) || g.CreateTime.Location() != time.UTC {
		t.Fatalf("get = %+v, want %+v", g, b)
	}
	// Another site's id space: not found; a missing site: not found.
	_, err := s.GetFunnel(ctx, other.ID, b.ID)
	wantErr(t, err, store.ErrNotFound, "")
	_, err = s.CreateFunnel(ctx, store.Funnel{SiteID: st.ID + 12345, Name: "x", Steps: steps("x")}, 3)
	wantErr(t, err, store.ErrNotFound, "")
	// Newest first.
	l := must(s.ListFunnels(ctx, st.ID)).get(t)
	if len(l) != 2 || l[0].ID != b.ID || l[1].ID != a.ID || string(l[1].Steps) != string(steps("a")) || l[1].Name != a.Name {
		t.Fatalf("list = %+v", l)
	}
	if l := must(s.ListFunnels(ctx, other.ID)).get(t); len(l) != 0 {
		t.Fatalf("other site lists %d funnels", len(l))
	}
	// Limit per site.
	c := must(s.CreateFunnel(ctx, store.Funnel{SiteID: st.ID, Name: "c", Steps: steps("c")}, 3)).get(t)
	_, err = s.CreateFunnel(ctx, store.Funnel{SiteID: st.ID, Name: "d", Steps: steps("d")}, 3)
	wantErr(t, err, store.ErrLimit, "")
	// The limit is per site: the other site still has room.
	must(s.CreateFunnel(ctx, store.Funnel{SiteID: other.ID, Name: "o", Steps: steps("o")}, 3)).get(t)
	// Update replaces name and steps, keeps the create time, moves the
	// update time forward (twice in a row too: never the same version).
	u := must(s.UpdateFunnel(ctx, store.Funnel{ID: b.ID, SiteID: st.ID, Name: "b2", Steps: steps("b2")})).get(t)
	if u.ID != b.ID || u.Name != "b2" || string(u.Steps) != string(steps("b2")) || !u.CreateTime.Equal(b.CreateTime) ||
		!u.UpdateTime.After(b.UpdateTime) || u.UpdateTime.Location() != time.UTC {
		t.Fatalf("updated = %+v (was %+v)", u, b)
	}
	u2 := must(s.UpdateFunnel(ctx, store.Funnel{ID: b.ID, SiteID: st.ID, Name: "b3", Steps: steps("b3")})).get(t)
	if !u2.UpdateTime.After(u.UpdateTime) {
		t.Fatalf("update time %v is not after %v", u2.UpdateTime, u.UpdateTime)
	}
	if g := must(s.GetFunnel(ctx, st.ID, b.ID)).get(t); g.Name != "b3" || string(g.Steps) != string(steps("b3")) || !g.UpdateTime.Equal(u2.UpdateTime) {
		t.Fatalf("get after update = %+v, want %+v", g, u2)
	}
	_, err = s.UpdateFunnel(ctx, store.Funnel{ID: b.ID + 999, SiteID: st.ID, Name: "x", Steps: steps("x")})
	wantErr(t, err, store.ErrNotFound, "")
	// Updating or deleting through another site finds nothing and changes nothing.
	_, err = s.UpdateFunnel(ctx, store.Funnel{ID: a.ID, SiteID: other.ID, Name: "pwned", Steps: steps("pwned")})
	wantErr(t, err, store.ErrNotFound, "")
	wantErr(t, s.DeleteFunnel(ctx, other.ID, a.ID), store.ErrNotFound, "")
	if g := must(s.GetFunnel(ctx, st.ID, a.ID)).get(t); g.Name != a.Name || string(g.Steps) != string(steps("a")) {
		t.Fatalf("foreign update changed %+v", g)
	}
	if err := s.DeleteFunnel(ctx, st.ID, c.ID); err != nil {
		t.Fatal(err)
	}
	wantErr(t, s.DeleteFunnel(ctx, st.ID, c.ID), store.ErrNotFound, "")
	_, err = s.GetFunnel(ctx, st.ID, c.ID)
	wantErr(t, err, store.ErrNotFound, "")
	// A freed slot can be used again.
	must(s.CreateFunnel(ctx, store.Funnel{SiteID: st.ID, Name: "d", Steps: steps("d")}, 3)).get(t)
	// Deleting the site deletes its funnels, and only its.
	if err := s.DeleteSite(ctx, st.ID); err != nil {
		t.Fatal(err)
	}
	_, err = s.GetFunnel(ctx, st.ID, a.ID)
	wantErr(t, err, store.ErrNotFound, "")
	if l := must(s.ListFunnels(ctx, st.ID)).get(t); len(l) != 0 {
		t.Fatalf("deleted site's funnels remain: %d", len(l))
	}
	if l := must(s.ListFunnels(ctx, other.ID)).get(t); len(l) != 1 {
		t.Fatalf("other site's funnels = %d, want 1", len(l))
	}
}

// racingCreates runs workers creates at once under limit: exactly limit
// pass, every other one fails with ErrLimit.
func racingCreates(t *testing.T, workers, limit int, create func(i int) error) {
	t.Helper()
	var ok, limited atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for i := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := create(i)
			switch {
			case err == nil:
				ok.Add(1)
			case errors.Is(err, store.ErrLimit):
				limited.Add(1)
			default:
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if ok.Load() != int64(limit) || limited.Load() != int64(workers-limit) {
		t.Fatalf("created %d, limited %d; want %d and %d", ok.Load(), limited.Load(), limit, workers-limit)
	}
}

// testFunnelLimitConcurrent: concurrent creates never pass the per-site
// limit.
func testFunnelLimitConcurrent(t *testing.T, s store.Store) {
	siteLimitRace(t, s, "fnc", func(ctx context.Context, site int64, i, limit int) error {
		_, err := s.CreateFunnel(ctx, store.Funnel{SiteID: site, Name: fmt.Sprint(i), Steps: []byte(fmt.Sprint(i))}, limit)
		return err
	}, func(ctx context.Context, site int64) (int, error) {
		l, err := s.ListFunnels(ctx, site)
		return len(l), err
	})
}

func testVerifyTokens(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	if n := must(s.CountUsers(ctx)).get(t); n != 0 {
		t.Fatalf("CountUsers on an empty store = %d", n)
	}
	u, _ := signUp(t, s, "v@example.com")
	if !u.EmailVerifyTime.IsZero() {
		t.Fatalf("user signed up without a verify time is verified: %v", u.EmailVerifyTime)
	}
	verified := time.Now().Add(-time.Hour).UTC().Truncate(time.Millisecond)
	u2, _, err := s.SignUp(ctx, store.User{Email: "w@example.com", PasswordHash: "h", EmailVerifyTime: verified}, "w", plan)
	if err != nil {
		t.Fatal(err)
	}
	if got := must(s.GetUser(ctx, u2.ID)).get(t); got.EmailVerifyTime.Truncate(time.Millisecond) != verified {
		t.Fatalf("verify time %v, want %v", got.EmailVerifyTime, verified)
	}
	if n := must(s.CountUsers(ctx)).get(t); n != 2 {
		t.Fatalf("CountUsers = %d, want 2", n)
	}
	now := time.Now()
	_, err = s.LatestUserToken(ctx, u.ID, store.TokenVerify)
	wantErr(t, err, store.ErrNotFound, "")
	tok := must(s.CreateUserToken(ctx, store.UserToken{UserID: u.ID, Kind: store.TokenVerify, TokenHash: hash("v1"), ExpireTime: now.Add(time.Hour)})).get(t)
	highID(t, "user token", tok.ID)
	if tok.UserID != u.ID || tok.Kind != store.TokenVerify || !tok.UseTime.IsZero() || tok.CreateTime.IsZero() {
		t.Fatalf("token = %+v", tok)
	}
	must(s.CreateUserToken(ctx, store.UserToken{UserID: u.ID, Kind: store.TokenVerify, TokenHash: hash("v2"), ExpireTime: now.Add(-time.Second)})).get(t)
	if got := must(s.LatestUserToken(ctx, u.ID, store.TokenVerify)).get(t); !slices.Equal(got.TokenHash, hash("v2")) {
		t.Fatalf("latest token = %+v, want v2", got)
	}
	_, err = s.CreateUserToken(ctx, store.UserToken{UserID: u.ID + 1_000_000, Kind: store.TokenVerify, TokenHash: hash("x"), ExpireTime: now.Add(time.Hour)})
	wantErr(t, err, store.ErrNotFound, "")
	_, err = s.CreateUserToken(ctx, store.UserToken{UserID: u.ID, Kind: store.TokenVerify, TokenHash: hash("v1"), ExpireTime: now.Add(time.Hour)})
	if err == nil {
		t.Fatal("a duplicate token hash was stored")
	}
	// Expired, unknown and wrong-kind tokens verify nothing.
	_, err = s.VerifyEmail(ctx, hash("v2"), now)
	wantErr(t, err, store.ErrNotFound, "")
	_, err = s.VerifyEmail(ctx, hash("nope"), now)
	wantErr(t, err, store.ErrNotFound, "")
	_, err = s.ResetPassword(ctx, hash("v1"), "new", now)
	wantErr(t, err, store.ErrNotFound, "")
	if got := must(s.GetUser(ctx, u.ID)).get(t); !got.EmailVerifyTime.IsZero() || got.PasswordHash != "$argon2id$x" {
		t.Fatalf("a failed consume changed the user: %+v", got)
	}
	v := must(s.VerifyEmail(ctx, hash("v1"), now)).get(t)
	if v.ID != u.ID || v.EmailVerifyTime.IsZero() || v.EmailVerifyTime.Location() != time.UTC {
		t.Fatalf("verified user = %+v", v)
	}
	if got := must(s.LatestUserToken(ctx, u.ID, store.TokenVerify)).get(t); !got.UseTime.IsZero() {
		t.Fatalf("v2 was never used, got %+v", got)
	}
	// Single use.
	_, err = s.VerifyEmail(ctx, hash("v1"), now)
	wantErr(t, err, store.ErrNotFound, "")
	// A second verification keeps the first time.
	must(s.CreateUserToken(ctx, store.UserToken{UserID: u.ID, Kind: store.TokenVerify, TokenHash: hash("v3"), ExpireTime: now.Add(time.Hour)})).get(t)
	again := must(s.VerifyEmail(ctx, hash("v3"), now.Add(time.Minute))).get(t)
	if !again.EmailVerifyTime.Equal(v.EmailVerifyTime) {
		t.Fatalf("verify time moved from %v to %v", v.EmailVerifyTime, again.EmailVerifyTime)
	}
	// Expired tokens are swept with sessions.
	n := must(s.DeleteExpired(ctx, now)).get(t)
	if n != 1 {
		t.Fatalf("DeleteExpired removed %d rows, want the one expired token", n)
	}
}

func testResetTokens(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	u, _ := signUp(t, s, "r@example.com")
	other, _ := signUp(t, s, "o@example.com")
	now := time.Now()
	for _, tok := range []string{"s1", "s2"} {
		must(s.CreateAuthSession(ctx, store.AuthSession{UserID: u.ID, TokenHash: hash(tok), ExpireTime: now.Add(time.Hour)})).get(t)
	}
	must(s.CreateAuthSession(ctx, store.AuthSession{UserID: other.ID, TokenHash: hash("o1"), ExpireTime: now.Add(time.Hour)})).get(t)
	must(s.CreateUserToken(ctx, store.UserToken{UserID: u.ID, Kind: store.TokenReset, TokenHash: hash("r1"), ExpireTime: now.Add(time.Hour)})).get(t)
	_, err := s.VerifyEmail(ctx, hash("r1"), now)
	wantErr(t, err, store.ErrNotFound, "")
	_, err = s.ResetPassword(ctx, hash("r1"), "$argon2id$new", now.Add(2*time.Hour))
	wantErr(t, err, store.ErrNotFound, "")
	got := must(s.ResetPassword(ctx, hash("r1"), "$argon2id$new", now)).get(t)
	if got.ID != u.ID || got.PasswordHash != "$argon2id$new" || got.EmailVerifyTime.IsZero() {
		t.Fatalf("reset user = %+v", got)
	}
	for _, tok := range []string{"s1", "s2"} {
		_, err := s.PrincipalForSession(ctx, hash(tok), now)
		wantErr(t, err, store.ErrNotFound, "")
	}
	must(s.PrincipalForSession(ctx, hash("o1"), now)).get(t)
	_, err = s.ResetPassword(ctx, hash("r1"), "$argon2id$again", now)
	wantErr(t, err, store.ErrNotFound, "")
	_, err = s.GetUserToken(ctx, store.TokenReset, hash("r1"), now)
	wantErr(t, err, store.ErrNotFound, "")
	if got := must(s.GetUser(ctx, u.ID)).get(t); got.PasswordHash != "$argon2id$new" {
		t.Fatalf("a used token changed the password to %q", got.PasswordHash)
	}
}

func testTokenConsumeConcurrent(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	u, _ := signUp(t, s, "c@example.com")
	now := time.Now()
	for round := range 5 {
		tok := hash(fmt.Sprintf("race-%d", round))
		must(s.CreateUserToken(ctx, store.UserToken{UserID: u.ID, Kind: store.TokenReset, TokenHash: tok, ExpireTime: now.Add(time.Hour)})).get(t)
		var wins, losses atomic.Int32
		var wg sync.WaitGroup
		for i := range 4 {
			wg.Go(func() {
				_, err := s.ResetPassword(ctx, tok, fmt.Sprintf("$argon2id$%d", i), now)
				switch {
				case err == nil:
					wins.Add(1)
				case errors.Is(err, store.ErrNotFound):
					losses.Add(1)
				default:
					t.Errorf("concurrent consume: %v", err)
				}
			})
		}
		wg.Wait()
		if wins.Load() != 1 || losses.Load() != 3 {
			t.Fatalf("round %d: %d consumes won, %d lost; want exactly one winner", round, wins.Load(), losses.Load())
		}
	}
}

// testFirstUserOperatorConcurrent: N sign-ups racing on a fresh store make
// exactly one operator (the store decides inside its insert transaction),
// and every one of them succeeds.
func testFirstUserOperatorConcurrent(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	const n = 8
	var wg sync.WaitGroup
	users := make([]store.User, n)
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			u, _, err := s.SignUp(ctx, store.User{Email: fmt.Sprintf("race%d@example.com", i), PasswordHash: "h"}, fmt.Sprintf("Org %d", i), plan)
			if err != nil {
				t.Errorf("sign-up %d: %v", i, err)
			}
			users[i] = u
		})
	}
	close(start)
	wg.Wait()
	if t.Failed() {
		return
	}
	var operators int
	for _, u := range users {
		stored := must(s.GetUser(ctx, u.ID)).get(t)
		if stored.Operator != u.Operator {
			t.Fatalf("user %d: SignUp answered operator=%v, stored %v", u.ID, u.Operator, stored.Operator)
		}
		if stored.Operator {
			operators++
		}
	}
	if operators != 1 {
		t.Fatalf("%d racing first sign-ups made %d operators, want exactly 1", n, operators)
	}
	if got := must(s.CountUsers(ctx)).get(t); got != n {
		t.Fatalf("CountUsers = %d, want %d", got, n)
	}
}

func testDevices(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	u, _ := signUp(t, s, "d@example.com")
	now := time.Now()
	if d := must(s.RecordUserDevice(ctx, u.ID, hash("firefox/linux"), now)).get(t); !d.New || !d.First {
		t.Fatalf("first device = %+v, want new and first", d)
	}
	if d := must(s.RecordUserDevice(ctx, u.ID, hash("firefox/linux"), now.Add(time.Minute))).get(t); d.New || d.First {
		t.Fatalf("known device = %+v, want neither new nor first", d)
	}
	if d := must(s.RecordUserDevice(ctx, u.ID, hash("chrome/android"), now)).get(t); !d.New || d.First {
		t.Fatalf("second device = %+v, want new, not first", d)
	}
	// Devices are per user.
	u2, _ := signUp(t, s, "d2@example.com")
	if d := must(s.RecordUserDevice(ctx, u2.ID, hash("firefox/linux"), now)).get(t); !d.New || !d.First {
		t.Fatalf("another user's first device = %+v", d)
	}
	_, err := s.RecordUserDevice(ctx, u.ID+1_000_000, hash("x"), now)
	wantErr(t, err, store.ErrNotFound, "")
}

func testSiteRecipients(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	big := plan
	big.MaxSeats = 10
	owner, o := must2(t)(s.SignUp(ctx, store.User{Email: "owner@example.com", Name: "N owner@example.com", PasswordHash: "h"}, "Org", big))
	now := time.Now()
	verify := func(u store.User) {
		tok := hash("verify-" + u.Email)
		must(s.CreateUserToken(ctx, store.UserToken{UserID: u.ID, Kind: store.TokenVerify, TokenHash: tok, ExpireTime: now.Add(time.Hour)})).get(t)
		must(s.VerifyEmail(ctx, tok, now)).get(t)
	}
	verify(owner)
	admin := addMember(t, s, o.ID, owner.ID, "admin@example.com", store.RoleAdmin)
	verify(admin)
	viewer := addMember(t, s, o.ID, owner.ID, "viewer@example.com", store.RoleViewer)
	verify(viewer)
	unverified := addMember(t, s, o.ID, owner.ID, "unverified@example.com", store.RoleAdmin)
	stranger, _ := signUp(t, s, "stranger@example.com")
	verify(stranger)
	site := must(s.CreateSite(ctx, store.Site{OrganizationID: o.ID, Name: "Shop", SiteKey: "k_rcpt", Settings: settings()}, 3)).get(t)
	ids := func(rs []store.Recipient) []int64 {
		var out []int64
		for _, r := range rs {
			out = append(out, r.UserID)
		}
		return out
	}
	all := must(s.ListSiteRecipients(ctx, site.ID, nil, 0)).get(t)
	if want := []int64{owner.ID, admin.ID, viewer.ID}; !slices.Equal(ids(all), want) {
		t.Fatalf("recipients = %v, want %v (verified members only)", ids(all), want)
	}
	if all[1].Email != "admin@example.com" || all[1].Role != store.RoleAdmin || all[1].Name != "N admin@example.com" {
		t.Fatalf("recipient = %+v", all[1])
	}
	admins := must(s.ListSiteRecipients(ctx, site.ID, nil, store.RoleAdmin)).get(t)
	if want := []int64{owner.ID, admin.ID}; !slices.Equal(ids(admins), want) {
		t.Fatalf("admins = %v, want %v", ids(admins), want)
	}
	named := must(s.ListSiteRecipients(ctx, site.ID, []int64{viewer.ID, unverified.ID, stranger.ID, 42}, store.RoleOwner)).get(t)
	if want := []int64{viewer.ID}; !slices.Equal(ids(named), want) {
		t.Fatalf("named = %v, want %v (min_role ignored when users are named)", ids(named), want)
	}
	must(0, s.RemoveMember(ctx, o.ID, viewer.ID)).get(t)
	named = must(s.ListSiteRecipients(ctx, site.ID, []int64{viewer.ID}, 0)).get(t)
	if len(named) != 0 {
		t.Fatalf("a former member is still a recipient: %+v", named)
	}
	_, err := s.ListSiteRecipients(ctx, site.ID+1_000_000, nil, 0)
	wantErr(t, err, store.ErrNotFound, "")
}

func must2(t *testing.T) func(store.User, store.Organization, error) (store.User, store.Organization) {
	return func(u store.User, o store.Organization, err error) (store.User, store.Organization) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return u, o
	}
}
