package accounts

import (
	"context"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	accountsv1 "github.com/sightlinehq/sightline/gen/sightline/accounts/v1"
	"github.com/sightlinehq/sightline/platform/telemetry/telemetrytest"
	"github.com/sightlinehq/sightline/sitedomain"
)

func TestSessionLifecycle(t *testing.T) {
	forBackends(t, func(t *testing.T, backend string) {
		e := newEnv(t, backend, nil)
		c := e.client
		r, err := c.SignUp(as(""), &accountsv1.SignUpRequest{Email: "  Ada@Example.COM ", Password: password, Name: "Ada", OrganizationName: "Analytical"})
		if err != nil {
			t.Fatal(err)
		}
		if r.GetUser().GetEmail() != "ada@example.com" {
			t.Fatalf("e-mail not normalised: %q", r.GetUser().GetEmail())
		}
		if !strings.HasPrefix(r.GetSessionToken(), "sls_") || len(r.GetSessionToken()) != 4+43 {
			t.Fatalf("session token %q: want sls_ + 43 base64url characters", r.GetSessionToken())
		}
		if d := time.Until(r.GetExpireTime().AsTime()); d < 13*24*time.Hour || d > 15*24*time.Hour {
			t.Fatalf("session expires in %v, want the 14-day default", d)
		}
		cu, err := c.GetCurrentUser(as(r.GetSessionToken()), &accountsv1.GetCurrentUserRequest{})
		if err != nil {
			t.Fatal(err)
		}
		if cu.GetUser().GetId() != r.GetUser().GetId() || len(cu.GetMemberships()) != 1 ||
			cu.GetMemberships()[0].GetRole() != accountsv1.Role_ROLE_OWNER || cu.GetMemberships()[0].GetOrganizationName() != "Analytical" {
			t.Fatalf("current user = %v", cu)
		}
		// The store keeps only a hash of the token.
		if _, err := e.store.PrincipalForSession(context.Background(), []byte(r.GetSessionToken()), time.Now()); err == nil {
			t.Fatal("the raw token found a session: tokens must be stored hashed")
		}

		_, err = c.LogIn(as(""), &accountsv1.LogInRequest{Email: "ada@example.com", Password: "wrong password!"})
		wantCode(t, err, codes.Unauthenticated, "wrong password")
		_, err = c.LogIn(as(""), &accountsv1.LogInRequest{Email: "nobody@example.com", Password: "wrong password!"})
		wantCode(t, err, codes.Unauthenticated, "unknown e-mail")
		if !strings.Contains(err.Error(), "invalid e-mail or password") {
			t.Fatalf("unknown e-mail error %q should not differ from a wrong password", err)
		}
		li, err := c.LogIn(as(""), &accountsv1.LogInRequest{Email: "ADA@example.com", Password: password})
		if err != nil {
			t.Fatal(err)
		}
		if li.GetSessionToken() == r.GetSessionToken() {
			t.Fatal("log-in reused the sign-up token")
		}
		a, err := c.Authenticate(as(""), &accountsv1.AuthenticateRequest{Credential: &accountsv1.AuthenticateRequest_SessionToken{SessionToken: li.GetSessionToken()}})
		if err != nil {
			t.Fatal(err)
		}
		if a.GetPrincipal().GetUserId() != r.GetUser().GetId() || a.GetPrincipal().GetApiKeyId() != 0 || a.GetExpireTime() == nil {
			t.Fatalf("principal = %v", a)
		}
		// Log out through metadata, then the token is dead everywhere.
		if _, err := c.LogOut(as(li.GetSessionToken()), &accountsv1.LogOutRequest{}); err != nil {
			t.Fatal(err)
		}
		_, err = c.Authenticate(as(""), &accountsv1.AuthenticateRequest{Credential: &accountsv1.AuthenticateRequest_SessionToken{SessionToken: li.GetSessionToken()}})
		wantCode(t, err, codes.Unauthenticated, "authenticate a revoked token")
		_, err = c.GetCurrentUser(as(li.GetSessionToken()), &accountsv1.GetCurrentUserRequest{})
		wantCode(t, err, codes.Unauthenticated, "use a revoked token")
		// The sign-up session is unaffected.
		if _, err := c.GetCurrentUser(as(r.GetSessionToken()), &accountsv1.GetCurrentUserRequest{}); err != nil {
			t.Fatal(err)
		}
		for _, bad := range []string{"", "sls_short", "slk_" + strings.Repeat("A", 43), "Bearer x", strings.Repeat("a", 5000)} {
			_, err := c.GetCurrentUser(as(bad), &accountsv1.GetCurrentUserRequest{})
			wantCode(t, err, codes.Unauthenticated, "credential "+trunc(bad))
		}
		_, err = c.Authenticate(as(""), &accountsv1.AuthenticateRequest{})
		wantCode(t, err, codes.InvalidArgument, "authenticate without credential")

		// Audit: sign-up (the instance's first, so also its operator),
		// failed log-in and log-in are recorded.
		ev, err := c.ListAuditEvents(as(r.GetSessionToken()), &accountsv1.ListAuditEventsRequest{OrganizationId: r.GetOrganization().GetId()})
		if err != nil {
			t.Fatal(err)
		}
		var actions []string
		for _, e := range ev.GetEvents() {
			actions = append(actions, e.GetAction())
			if e.GetIpPrefix() != "203.0.113.0/24" {
				t.Fatalf("audit ip prefix %q, want the truncated x-forwarded-for", e.GetIpPrefix())
			}
		}
		if want := []string{"user.login", "user.login_failed", "user.operator_first", "user.signup"}; !slices.Equal(actions, want) {
			t.Fatalf("audit = %v, want %v", actions, want)
		}
	})
}

func TestAPIKeys(t *testing.T) {
	forBackends(t, func(t *testing.T, backend string) {
		e := newEnv(t, backend, nil)
		c := e.client
		owner := e.signUp("keys@example.com")
		admin := e.join(owner, owner.org, "admin@example.com", accountsv1.Role_ROLE_ADMIN)
		_, err := c.CreateApiKey(as(admin.token), &accountsv1.CreateApiKeyRequest{OrganizationId: owner.org, Name: "too strong", Role: accountsv1.Role_ROLE_OWNER})
		wantCode(t, err, codes.PermissionDenied, "admin creating an owner key")
		k, err := c.CreateApiKey(as(admin.token), &accountsv1.CreateApiKeyRequest{OrganizationId: owner.org, Name: "deploys", Role: accountsv1.Role_ROLE_MEMBER})
		if err != nil {
			t.Fatal(err)
		}
		if !wellFormed(k.GetSecret(), apiKeyPrefix) || !strings.HasPrefix(k.GetSecret(), k.GetApiKey().GetPrefix()) || len(k.GetApiKey().GetPrefix()) >= 16 {
			t.Fatalf("secret %q / prefix %q", k.GetSecret(), k.GetApiKey().GetPrefix())
		}
		if k.GetApiKey().GetId() <= 1<<31 {
			t.Fatalf("api key id %d not above 2^31", k.GetApiKey().GetId())
		}
		a, err := c.Authenticate(as(""), &accountsv1.AuthenticateRequest{Credential: &accountsv1.AuthenticateRequest_ApiKey{ApiKey: k.GetSecret()}})
		if err != nil {
			t.Fatal(err)
		}
		p := a.GetPrincipal()
		if p.GetApiKeyId() != k.GetApiKey().GetId() || len(p.GetMemberships()) != 1 || p.GetMemberships()[0].GetRole() != accountsv1.Role_ROLE_MEMBER || p.GetOperator() {
			t.Fatalf("principal = %v", p)
		}
		// The key acts as a member: creates a site, cannot manage keys.
		if _, err := c.CreateSite(as(k.GetSecret()), &accountsv1.CreateSiteRequest{OrganizationId: owner.org, Name: "by key"}); err != nil {
			t.Fatal(err)
		}
		_, err = c.ListApiKeys(as(k.GetSecret()), &accountsv1.ListApiKeysRequest{OrganizationId: owner.org})
		wantCode(t, err, codes.PermissionDenied, "member key listing keys")
		list, err := c.ListApiKeys(as(owner.token), &accountsv1.ListApiKeysRequest{OrganizationId: owner.org})
		if err != nil {
			t.Fatal(err)
		}
		if len(list.GetApiKeys()) != 1 || list.GetApiKeys()[0].GetLastUseTime() == nil {
			t.Fatalf("keys = %v (want last use recorded)", list.GetApiKeys())
		}
		if strings.Contains(list.String(), k.GetSecret()) {
			t.Fatal("ListApiKeys returns the secret")
		}
		if _, err := c.RevokeApiKey(as(owner.token), &accountsv1.RevokeApiKeyRequest{OrganizationId: owner.org, ApiKeyId: k.GetApiKey().GetId()}); err != nil {
			t.Fatal(err)
		}
		_, err = c.GetCurrentUser(as(k.GetSecret()), &accountsv1.GetCurrentUserRequest{})
		wantCode(t, err, codes.Unauthenticated, "revoked key")
		ev, err := c.ListAuditEvents(as(owner.token), &accountsv1.ListAuditEventsRequest{OrganizationId: owner.org, PageSize: 3})
		if err != nil {
			t.Fatal(err)
		}
		if got := ev.GetEvents()[0].GetAction(); got != "api_key.revoke" || ev.GetNextPageToken() == "" {
			t.Fatalf("newest audit event %q (next %q), want api_key.revoke and more pages", got, ev.GetNextPageToken())
		}
		// The second page continues where the first stopped.
		ev2, err := c.ListAuditEvents(as(owner.token), &accountsv1.ListAuditEventsRequest{OrganizationId: owner.org, PageSize: 3, PageToken: ev.GetNextPageToken()})
		if err != nil {
			t.Fatal(err)
		}
		if len(ev2.GetEvents()) == 0 || ev2.GetEvents()[0].GetId() >= ev.GetEvents()[2].GetId() {
			t.Fatalf("second page = %v", ev2.GetEvents())
		}
	})
}

func TestMembersAndRoles(t *testing.T) {
	e := newEnv(t, BackendSQLite, nil)
	c := e.client
	owner := e.signUp("boss@example.com")
	admin := e.join(owner, owner.org, "adm@example.com", accountsv1.Role_ROLE_ADMIN)
	mem := e.join(owner, owner.org, "mem@example.com", accountsv1.Role_ROLE_MEMBER)
	// Admins cannot touch owners or make owners.
	_, err := c.UpdateMemberRole(as(admin.token), &accountsv1.UpdateMemberRoleRequest{OrganizationId: owner.org, UserId: owner.id, Role: accountsv1.Role_ROLE_VIEWER})
	wantCode(t, err, codes.PermissionDenied, "admin demoting owner")
	_, err = c.UpdateMemberRole(as(admin.token), &accountsv1.UpdateMemberRoleRequest{OrganizationId: owner.org, UserId: mem.id, Role: accountsv1.Role_ROLE_OWNER})
	wantCode(t, err, codes.PermissionDenied, "admin promoting to owner")
	_, err = c.RemoveMember(as(admin.token), &accountsv1.RemoveMemberRequest{OrganizationId: owner.org, UserId: owner.id})
	wantCode(t, err, codes.PermissionDenied, "admin removing owner")
	r, err := c.UpdateMemberRole(as(admin.token), &accountsv1.UpdateMemberRoleRequest{OrganizationId: owner.org, UserId: mem.id, Role: accountsv1.Role_ROLE_VIEWER})
	if err != nil || r.GetMember().GetRole() != accountsv1.Role_ROLE_VIEWER {
		t.Fatalf("admin demoting member: %v %v", r, err)
	}
	// The role change applies to the member's next request.
	_, err = c.CreateSite(as(mem.token), &accountsv1.CreateSiteRequest{OrganizationId: owner.org, Name: "x"})
	wantCode(t, err, codes.PermissionDenied, "demoted member writing")
	_, err = c.UpdateMemberRole(as(owner.token), &accountsv1.UpdateMemberRoleRequest{OrganizationId: owner.org, UserId: owner.id, Role: accountsv1.Role_ROLE_ADMIN})
	wantCode(t, err, codes.FailedPrecondition, "last owner demoting themself")
	_, err = c.UpdateMemberRole(as(owner.token), &accountsv1.UpdateMemberRoleRequest{OrganizationId: owner.org, UserId: mem.id, Role: accountsv1.Role_ROLE_UNSPECIFIED})
	wantCode(t, err, codes.InvalidArgument, "unspecified role")
	// Anyone may leave.
	if _, err := c.RemoveMember(as(mem.token), &accountsv1.RemoveMemberRequest{OrganizationId: owner.org, UserId: mem.id}); err != nil {
		t.Fatal(err)
	}
	_, err = c.GetOrganization(as(mem.token), &accountsv1.GetOrganizationRequest{OrganizationId: owner.org})
	wantCode(t, err, codes.NotFound, "former member reading the org")
	ev, err := c.ListAuditEvents(as(owner.token), &accountsv1.ListAuditEventsRequest{OrganizationId: owner.org, PageSize: 2})
	if err != nil {
		t.Fatal(err)
	}
	if got := []string{ev.GetEvents()[0].GetAction(), ev.GetEvents()[1].GetAction()}; !slices.Equal(got, []string{"member.remove", "member.role_change"}) {
		t.Fatalf("audit = %v", got)
	}
	// Seats: the default plan has 5; 3 members now (owner, admin, + leaves) -> fill and overflow.
	e.join(owner, owner.org, "s3@example.com", accountsv1.Role_ROLE_VIEWER)
	e.join(owner, owner.org, "s4@example.com", accountsv1.Role_ROLE_VIEWER)
	e.join(owner, owner.org, "s5@example.com", accountsv1.Role_ROLE_VIEWER)
	u6 := e.signUp("s6@example.com")
	inv, err := c.CreateInvitation(as(owner.token), &accountsv1.CreateInvitationRequest{OrganizationId: owner.org, Email: u6.email, Role: accountsv1.Role_ROLE_VIEWER})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.AcceptInvitation(as(u6.token), &accountsv1.AcceptInvitationRequest{Token: inv.GetToken()})
	wantCode(t, err, codes.ResourceExhausted, "sixth seat")
}

func TestSitesDomainsAndConfig(t *testing.T) {
	forBackends(t, func(t *testing.T, backend string) {
		e := newEnv(t, backend, nil)
		c := e.client
		u := e.signUp("sites@example.com")
		op := e.operator("ops@example.com")
		s, err := c.CreateSite(as(u.token), &accountsv1.CreateSiteRequest{OrganizationId: u.org, Name: "  Shop ", Domains: []string{"Shop.Example.com", "*.example.org", "bücher.example"}})
		if err != nil {
			t.Fatal(err)
		}
		site := s.GetSite()
		if site.GetName() != "Shop" || !slices.Equal(site.GetDomains(), []string{"*.example.org", "shop.example.com", "xn--bcher-kva.example"}) {
			t.Fatalf("site = %v", site)
		}
		if !strings.HasPrefix(site.GetSiteKey(), "k_") || len(site.GetSiteKey()) < 22 {
			t.Fatalf("site key %q: want k_ + 20 or more characters", site.GetSiteKey())
		}
		if site.GetId() <= 1<<31 || site.GetOrganizationId() <= 1<<31 {
			t.Fatalf("ids %d/%d not above 2^31", site.GetId(), site.GetOrganizationId())
		}
		st := site.GetSettings()
		if !st.GetRecordingEnabled() || st.GetSampleRate() != 1 || st.GetRetentionDays() != 30 || !st.GetRespectDoNotTrack() {
			t.Fatalf("default settings = %v", st)
		}
		cfg1, err := c.GetSiteConfig(as(""), &accountsv1.GetSiteConfigRequest{SiteKey: site.GetSiteKey()})
		if err != nil {
			t.Fatal(err)
		}
		if cfg1.GetSiteId() != site.GetId() || cfg1.GetOrganizationId() != u.org || cfg1.GetPlan().GetSessionsPerDay() != 1000 ||
			!slices.Equal(cfg1.GetDomains(), site.GetDomains()) || cfg1.GetEtag() == "" {
			t.Fatalf("site config = %v", cfg1)
		}
		if !sitedomain.Match(cfg1.GetDomains(), "a.b.example.org") || sitedomain.Match(cfg1.GetDomains(), "example.org") || !sitedomain.Match(cfg1.GetDomains(), "SHOP.example.com:443") {
			t.Fatal("sitedomain.Match over GetSiteConfig's domains disagrees with the documented rule")
		}
		// Settings: masked update, validation, and the etag moves.
		up, err := c.UpdateSiteSettings(as(u.token), &accountsv1.UpdateSiteSettingsRequest{SiteId: site.GetId(),
			Settings:   &accountsv1.SiteSettings{SampleRate: 0.5, MaskSelectors: []string{".card", " #ssn "}, RecordingEnabled: false},
			UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"sample_rate", "mask_selectors"}}})
		if err != nil {
			t.Fatal(err)
		}
		if up.GetSettings().GetSampleRate() != 0.5 || !up.GetSettings().GetRecordingEnabled() || !slices.Equal(up.GetSettings().GetMaskSelectors(), []string{".card", "#ssn"}) {
			t.Fatalf("masked update = %v", up.GetSettings())
		}
		// Asset capture: unset (on) until a masked update turns it off; canvas is opt-in.
		if up.GetSettings().CaptureAssets != nil || up.GetSettings().GetRecordCanvas() {
			t.Fatalf("new site: capture_assets %v, record_canvas %v; want unset, false", up.GetSettings().CaptureAssets, up.GetSettings().GetRecordCanvas())
		}
		up, err = c.UpdateSiteSettings(as(u.token), &accountsv1.UpdateSiteSettingsRequest{SiteId: site.GetId(),
			Settings:   &accountsv1.SiteSettings{CaptureAssets: new(false), RecordCanvas: true, SampleRate: 0.1, ColdAfterDays: 7},
			UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"capture_assets", "record_canvas", "cold_after_days"}}})
		if err != nil {
			t.Fatal(err)
		}
		if up.GetSettings().CaptureAssets == nil || up.GetSettings().GetCaptureAssets() || !up.GetSettings().GetRecordCanvas() || up.GetSettings().GetSampleRate() != 0.5 || up.GetSettings().GetColdAfterDays() != 7 {
			t.Fatalf("capture/canvas update = %v", up.GetSettings())
		}
		for _, f := range []*accountsv1.FeatureFlag{
			{Name: "heatmaps-v2", Scope: accountsv1.FeatureFlagScope_FEATURE_FLAG_SCOPE_GLOBAL, Enabled: true},
			{Name: "heatmaps-v2", Scope: accountsv1.FeatureFlagScope_FEATURE_FLAG_SCOPE_SITE, ScopeId: site.GetId(), Enabled: false},
			{Name: "rage-clicks", Scope: accountsv1.FeatureFlagScope_FEATURE_FLAG_SCOPE_ORGANIZATION, ScopeId: u.org, Enabled: true},
		} {
			tok := u.token
			if f.GetScope() == accountsv1.FeatureFlagScope_FEATURE_FLAG_SCOPE_GLOBAL {
				tok = op.token
			}
			if _, err := c.SetFeatureFlag(as(tok), &accountsv1.SetFeatureFlagRequest{Flag: f}); err != nil {
				t.Fatal(err)
			}
		}
		cfg2, err := c.GetSiteConfig(as(""), &accountsv1.GetSiteConfigRequest{SiteKey: site.GetSiteKey()})
		if err != nil {
			t.Fatal(err)
		}
		if cfg2.GetEtag() == cfg1.GetEtag() || cfg2.GetSettings().GetSampleRate() != 0.5 || !slices.Equal(cfg2.GetFeatureFlags(), []string{"rage-clicks"}) ||
			cfg2.GetSettings().CaptureAssets == nil || cfg2.GetSettings().GetCaptureAssets() || !cfg2.GetSettings().GetRecordCanvas() || cfg2.GetSettings().GetColdAfterDays() != 7 {
			t.Fatalf("config after changes = %v (etag before %s)", cfg2, cfg1.GetEtag())
		}
		cfg3, _ := c.GetSiteConfig(as(""), &accountsv1.GetSiteConfigRequest{SiteKey: site.GetSiteKey()})
		if cfg3.GetEtag() != cfg2.GetEtag() {
			t.Fatal("etag changes without a change")
		}
		pc, err := c.GetPublicConfig(as(""), &accountsv1.GetPublicConfigRequest{})
		if err != nil {
			t.Fatal(err)
		}
		if pc.GetVersion() != "test-1" || !slices.Equal(pc.GetFeatureFlags(), []string{"heatmaps-v2"}) || !pc.GetSignupEnabled() || pc.GetDefaultPlan().GetMaxSites() != 3 {
			t.Fatalf("public config = %v", pc)
		}
		// Domains: add, remove, duplicates across the organisation's sites.
		s2, err := c.CreateSite(as(u.token), &accountsv1.CreateSiteRequest{OrganizationId: u.org, Name: "Blog"})
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.AddSiteDomain(as(u.token), &accountsv1.AddSiteDomainRequest{SiteId: s2.GetSite().GetId(), Domain: "SHOP.example.com"})
		wantMessage(t, err, codes.AlreadyExists, `shop.example.com is already on your site "Shop"`)
		_, err = c.CreateSite(as(u.token), &accountsv1.CreateSiteRequest{OrganizationId: u.org, Name: "Thief", Domains: []string{"x.example.net", "*.example.org"}})
		wantMessage(t, err, codes.AlreadyExists, `*.example.org is already on your site "Shop"`)
		if _, err := c.RemoveSiteDomain(as(u.token), &accountsv1.RemoveSiteDomainRequest{SiteId: site.GetId(), Domain: "shop.example.com"}); err != nil {
			t.Fatal(err)
		}
		a, err := c.AddSiteDomain(as(u.token), &accountsv1.AddSiteDomainRequest{SiteId: s2.GetSite().GetId(), Domain: "shop.example.com"})
		if err != nil || !slices.Equal(a.GetSite().GetDomains(), []string{"shop.example.com"}) {
			t.Fatalf("re-adding a freed domain: %v %v", a, err)
		}
		// Site limit of the plan (3).
		if _, err := c.CreateSite(as(u.token), &accountsv1.CreateSiteRequest{OrganizationId: u.org, Name: "Third"}); err != nil {
			t.Fatal(err)
		}
		_, err = c.CreateSite(as(u.token), &accountsv1.CreateSiteRequest{OrganizationId: u.org, Name: "Fourth"})
		wantCode(t, err, codes.ResourceExhausted, "fourth site")
		// Paging through sites.
		var names []string
		tok := ""
		for {
			l, err := c.ListSites(as(u.token), &accountsv1.ListSitesRequest{OrganizationId: u.org, PageSize: 2, PageToken: tok})
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range l.GetSites() {
				names = append(names, s.GetName())
			}
			if tok = l.GetNextPageToken(); tok == "" {
				break
			}
		}
		if !slices.Equal(names, []string{"Shop", "Blog", "Third"}) {
			t.Fatalf("paged sites = %v", names)
		}
		// Delete: the key stops working.
		if _, err := c.DeleteSite(as(u.token), &accountsv1.DeleteSiteRequest{SiteId: site.GetId()}); err != nil {
			t.Fatal(err)
		}
		_, err = c.GetSiteConfig(as(""), &accountsv1.GetSiteConfigRequest{SiteKey: site.GetSiteKey()})
		wantCode(t, err, codes.NotFound, "deleted site's key")
	})
}

func TestBadInput(t *testing.T) {
	e := newEnv(t, BackendSQLite, nil)
	c := e.client
	e.signUp("first@example.com") // the instance's operator: u is an ordinary user
	u := e.signUp("input@example.com")
	s, err := c.CreateSite(as(u.token), &accountsv1.CreateSiteRequest{OrganizationId: u.org, Name: "S", Domains: []string{"s.example.com"}})
	if err != nil {
		t.Fatal(err)
	}
	site := s.GetSite().GetId()
	long := strings.Repeat("x", 101)
	ctx := as(u.token)
	cases := []struct {
		name    string
		call    func() error
		code    codes.Code
		message string
	}{
		{"signup empty email", func() error {
			_, err := c.SignUp(as(""), &accountsv1.SignUpRequest{Password: password})
			return err
		}, codes.InvalidArgument, "email must not be empty"},
		{"signup malformed email", func() error {
			_, err := c.SignUp(as(""), &accountsv1.SignUpRequest{Email: "not-an-email", Password: password})
			return err
		}, codes.InvalidArgument, "not a valid address"},
		{"signup email with display name", func() error {
			_, err := c.SignUp(as(""), &accountsv1.SignUpRequest{Email: "Bob <bob@example.com>", Password: password})
			return err
		}, codes.InvalidArgument, "not a valid address"},
		{"signup email without dotted domain", func() error {
			_, err := c.SignUp(as(""), &accountsv1.SignUpRequest{Email: "bob@localhost", Password: password})
			return err
		}, codes.InvalidArgument, "not a valid address"},
		{"signup oversized email", func() error {
			_, err := c.SignUp(as(""), &accountsv1.SignUpRequest{Email: strings.Repeat("a", 250) + "@example.com", Password: password})
			return err
		}, codes.InvalidArgument, "longer than 254"},
		{"signup short password", func() error {
			_, err := c.SignUp(as(""), &accountsv1.SignUpRequest{Email: "p@example.com", Password: "short"})
			return err
		}, codes.InvalidArgument, "at least 10 characters"},
		{"signup password equals email", func() error {
			_, err := c.SignUp(as(""), &accountsv1.SignUpRequest{Email: "longname@example.com", Password: "LongName@Example.com"})
			return err
		}, codes.InvalidArgument, "must not be your e-mail"},
		{"signup oversized password", func() error {
			_, err := c.SignUp(as(""), &accountsv1.SignUpRequest{Email: "p@example.com", Password: strings.Repeat("p", 257)})
			return err
		}, codes.InvalidArgument, "longer than 256 bytes"},
		{"signup duplicate answers as a new sign-up (TestSignUpVerificationOff: 409)", func() error {
			r, err := c.SignUp(as(""), &accountsv1.SignUpRequest{Email: "INPUT@example.com", Password: password})
			if err == nil && (!r.GetVerificationRequired() || r.GetSessionToken() != "") {
				return status.Errorf(codes.Internal, "duplicate sign-up answered %v", r)
			}
			return err
		}, codes.OK, ""},
		{"org empty name", func() error {
			_, err := c.CreateOrganization(ctx, &accountsv1.CreateOrganizationRequest{Name: "   "})
			return err
		}, codes.InvalidArgument, "name must not be empty"},
		{"org oversized name", func() error {
			_, err := c.CreateOrganization(ctx, &accountsv1.CreateOrganizationRequest{Name: long})
			return err
		}, codes.InvalidArgument, "longer than 100"},
		{"org control characters", func() error {
			_, err := c.UpdateOrganization(ctx, &accountsv1.UpdateOrganizationRequest{OrganizationId: u.org, Name: "a\x00b"})
			return err
		}, codes.InvalidArgument, "control characters"},
		{"org id zero", func() error {
			_, err := c.GetOrganization(ctx, &accountsv1.GetOrganizationRequest{})
			return err
		}, codes.InvalidArgument, "organization_id"},
		{"site empty name", func() error {
			_, err := c.CreateSite(ctx, &accountsv1.CreateSiteRequest{OrganizationId: u.org})
			return err
		}, codes.InvalidArgument, "name must not be empty"},
		{"site oversized name", func() error {
			_, err := c.UpdateSite(ctx, &accountsv1.UpdateSiteRequest{SiteId: site, Name: long})
			return err
		}, codes.InvalidArgument, "longer than 100"},
		{"site duplicate domain in request", func() error {
			_, err := c.CreateSite(ctx, &accountsv1.CreateSiteRequest{OrganizationId: u.org, Name: "d", Domains: []string{"a.example.com", "A.example.com"}})
			return err
		}, codes.InvalidArgument, "listed twice"},
		{"domain with scheme", func() error {
			_, err := c.AddSiteDomain(ctx, &accountsv1.AddSiteDomainRequest{SiteId: site, Domain: "https://shop.example.com"})
			return err
		}, codes.InvalidArgument, "without a scheme"},
		{"domain with path", func() error {
			_, err := c.AddSiteDomain(ctx, &accountsv1.AddSiteDomainRequest{SiteId: site, Domain: "shop.example.com/cart"})
			return err
		}, codes.InvalidArgument, "no path, port or user"},
		{"domain with port", func() error {
			_, err := c.AddSiteDomain(ctx, &accountsv1.AddSiteDomainRequest{SiteId: site, Domain: "shop.example.com:8080"})
			return err
		}, codes.InvalidArgument, "no path, port or user"},
		{"domain wildcard on public suffix", func() error {
			_, err := c.AddSiteDomain(ctx, &accountsv1.AddSiteDomainRequest{SiteId: site, Domain: "*.co.uk"})
			return err
		}, codes.InvalidArgument, "public suffix"},
		{"domain bare wildcard TLD", func() error {
			_, err := c.AddSiteDomain(ctx, &accountsv1.AddSiteDomainRequest{SiteId: site, Domain: "*.com"})
			return err
		}, codes.InvalidArgument, "too broad"},
		{"domain inner wildcard", func() error {
			_, err := c.AddSiteDomain(ctx, &accountsv1.AddSiteDomainRequest{SiteId: site, Domain: "a.*.example.com"})
			return err
		}, codes.InvalidArgument, "wildcard"},
		{"domain empty label", func() error {
			_, err := c.AddSiteDomain(ctx, &accountsv1.AddSiteDomainRequest{SiteId: site, Domain: "a..example.com"})
			return err
		}, codes.InvalidArgument, "not a valid host name"},
		{"domain underscore", func() error {
			_, err := c.AddSiteDomain(ctx, &accountsv1.AddSiteDomainRequest{SiteId: site, Domain: "bad_host.example.com"})
			return err
		}, codes.InvalidArgument, "not a valid host name"},
		{"domain empty", func() error {
			_, err := c.AddSiteDomain(ctx, &accountsv1.AddSiteDomainRequest{SiteId: site, Domain: " "})
			return err
		}, codes.InvalidArgument, "must not be empty"},
		{"domain oversized", func() error {
			_, err := c.AddSiteDomain(ctx, &accountsv1.AddSiteDomainRequest{SiteId: site, Domain: strings.Repeat("a.", 130) + "com"})
			return err
		}, codes.InvalidArgument, "longer than 253"},
		{"domain already on the site", func() error {
			_, err := c.AddSiteDomain(ctx, &accountsv1.AddSiteDomainRequest{SiteId: site, Domain: "s.example.com"})
			return err
		}, codes.AlreadyExists, `s.example.com is already on your site "S"`},
		{"remove absent domain", func() error {
			_, err := c.RemoveSiteDomain(ctx, &accountsv1.RemoveSiteDomainRequest{SiteId: site, Domain: "absent.example.com"})
			return err
		}, codes.NotFound, "absent.example.com"},
		{"unknown site key", func() error {
			_, err := c.GetSiteConfig(as(""), &accountsv1.GetSiteConfigRequest{SiteKey: "k_doesnotexist000000000"})
			return err
		}, codes.NotFound, "no site has key"},
		{"malformed site key", func() error {
			_, err := c.GetSiteConfig(as(""), &accountsv1.GetSiteConfigRequest{SiteKey: "k_<script>"})
			return err
		}, codes.InvalidArgument, "site_key is malformed"},
		{"empty site key", func() error {
			_, err := c.GetSiteConfig(as(""), &accountsv1.GetSiteConfigRequest{})
			return err
		}, codes.InvalidArgument, "site_key is required"},
		{"oversized site key", func() error {
			_, err := c.GetSiteConfig(as(""), &accountsv1.GetSiteConfigRequest{SiteKey: "k_" + strings.Repeat("a", 100)})
			return err
		}, codes.InvalidArgument, "site_key is malformed"},
		{"unknown site id", func() error {
			_, err := c.GetSite(ctx, &accountsv1.GetSiteRequest{SiteId: 1 << 40})
			return err
		}, codes.NotFound, "not found"},
		{"bad page token", func() error {
			_, err := c.ListSites(ctx, &accountsv1.ListSitesRequest{OrganizationId: u.org, PageToken: "garbage!"})
			return err
		}, codes.InvalidArgument, "page_token"},
		{"negative page size", func() error {
			_, err := c.ListSites(ctx, &accountsv1.ListSitesRequest{OrganizationId: u.org, PageSize: -1})
			return err
		}, codes.InvalidArgument, "page_size"},
		{"sample rate above 1", func() error {
			_, err := c.UpdateSiteSettings(ctx, &accountsv1.UpdateSiteSettingsRequest{SiteId: site, Settings: &accountsv1.SiteSettings{SampleRate: 1.5},
				UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"sample_rate"}}})
			return err
		}, codes.InvalidArgument, "sample_rate"},
		{"retention above plan", func() error {
			_, err := c.UpdateSiteSettings(ctx, &accountsv1.UpdateSiteSettingsRequest{SiteId: site, Settings: &accountsv1.SiteSettings{RetentionDays: 365},
				UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"retention_days"}}})
			return err
		}, codes.InvalidArgument, "between 1 and 30"},
		{"cold age past the retention", func() error {
			_, err := c.UpdateSiteSettings(ctx, &accountsv1.UpdateSiteSettingsRequest{SiteId: site, Settings: &accountsv1.SiteSettings{ColdAfterDays: 31},
				UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"cold_after_days"}}})
			return err
		}, codes.InvalidArgument, "cold_after_days must be between 0 (never) and 30"},
		{"negative cold age", func() error {
			_, err := c.UpdateSiteSettings(ctx, &accountsv1.UpdateSiteSettingsRequest{SiteId: site, Settings: &accountsv1.SiteSettings{ColdAfterDays: -1},
				UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"cold_after_days"}}})
			return err
		}, codes.InvalidArgument, "cold_after_days"},
		{"unknown mask path", func() error {
			_, err := c.UpdateSiteSettings(ctx, &accountsv1.UpdateSiteSettingsRequest{SiteId: site, Settings: &accountsv1.SiteSettings{},
				UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"owner"}}})
			return err
		}, codes.InvalidArgument, `unknown field "owner"`},
		{"selector with markup", func() error {
			_, err := c.UpdateSiteSettings(ctx, &accountsv1.UpdateSiteSettingsRequest{SiteId: site, Settings: &accountsv1.SiteSettings{BlockSelectors: []string{"</script>"}},
				UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"block_selectors"}}})
			return err
		}, codes.InvalidArgument, "block_selectors[0]"},
		{"too many selectors", func() error {
			_, err := c.UpdateSiteSettings(ctx, &accountsv1.UpdateSiteSettingsRequest{SiteId: site, Settings: &accountsv1.SiteSettings{MaskSelectors: make([]string, 101)},
				UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"mask_selectors"}}})
			return err
		}, codes.InvalidArgument, "at most 100"},
		{"flag bad name", func() error {
			_, err := c.SetFeatureFlag(ctx, &accountsv1.SetFeatureFlagRequest{Flag: &accountsv1.FeatureFlag{Name: "Bad Name", Scope: accountsv1.FeatureFlagScope_FEATURE_FLAG_SCOPE_ORGANIZATION, ScopeId: u.org}})
			return err
		}, codes.InvalidArgument, "flag name"},
		{"flag no scope", func() error {
			_, err := c.ListFeatureFlags(ctx, &accountsv1.ListFeatureFlagsRequest{})
			return err
		}, codes.InvalidArgument, "scope must be"},
		{"invitation malformed email", func() error {
			_, err := c.CreateInvitation(ctx, &accountsv1.CreateInvitationRequest{OrganizationId: u.org, Email: "@@", Role: accountsv1.Role_ROLE_VIEWER})
			return err
		}, codes.InvalidArgument, "not a valid address"},
		{"invitation bad token", func() error {
			_, err := c.AcceptInvitation(ctx, &accountsv1.AcceptInvitationRequest{Token: "nope"})
			return err
		}, codes.InvalidArgument, "invitation token"},
		{"lease bad day", func() error {
			_, err := c.LeaseSessionQuota(as(""), &accountsv1.LeaseSessionQuotaRequest{SiteId: site, Day: "2020-13-01", Requested: 1})
			return err
		}, codes.InvalidArgument, "YYYY-MM-DD"},
		{"lease far day", func() error {
			_, err := c.LeaseSessionQuota(as(""), &accountsv1.LeaseSessionQuotaRequest{SiteId: site, Day: "2001-01-01", Requested: 1})
			return err
		}, codes.InvalidArgument, "within a day"},
		{"lease zero", func() error {
			_, err := c.LeaseSessionQuota(as(""), &accountsv1.LeaseSessionQuotaRequest{SiteId: site, Day: time.Now().UTC().Format(time.DateOnly)})
			return err
		}, codes.InvalidArgument, "requested must be positive"},
		{"lease unknown site", func() error {
			_, err := c.LeaseSessionQuota(as(""), &accountsv1.LeaseSessionQuotaRequest{SiteId: 1 << 40, Day: time.Now().UTC().Format(time.DateOnly), Requested: 1})
			return err
		}, codes.NotFound, "site"},
		{"maintenance message too long", func() error {
			_, err := c.SetMaintenance(ctx, &accountsv1.SetMaintenanceRequest{Message: strings.Repeat("m", 501)})
			return err
		}, codes.PermissionDenied, "operators"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call()
			st := status.Convert(err)
			if st.Code() != tc.code || !strings.Contains(st.Message(), tc.message) {
				t.Fatalf("got %v %q, want %v containing %q", st.Code(), st.Message(), tc.code, tc.message)
			}
		})
	}
}

func TestLoginRateLimits(t *testing.T) {
	e := newEnv(t, BackendSQLite, func(c *Config) {
		c.Login.AccountBurst, c.Login.AccountPerMinute = 3, 0.001
		c.Login.IPBurst, c.Login.IPPerMinute = 5, 0.001
	})
	c := e.client
	e.signUp("victim@example.com") // one IP token used by sign-up
	for i := range 3 {
		_, err := c.LogIn(asIP("", "198.51.100.1"), &accountsv1.LogInRequest{Email: "victim@example.com", Password: "guess number " + string(rune('a'+i))})
		wantCode(t, err, codes.Unauthenticated, "guess")
	}
	// The account is now limited, even from a fresh IP and with the right password.
	_, err := c.LogIn(asIP("", "198.51.100.2"), &accountsv1.LogInRequest{Email: "victim@example.com", Password: password})
	wantCode(t, err, codes.ResourceExhausted, "per-account limit")
	// Per IP: spraying many accounts from one IP stops at the IP burst.
	var last error
	for i := range 6 {
		_, last = c.LogIn(asIP("", "192.0.2.9"), &accountsv1.LogInRequest{Email: "spray" + string(rune('a'+i)) + "@example.com", Password: "whatever12"})
	}
	wantCode(t, last, codes.ResourceExhausted, "per-IP limit")
	// The metric counts failures by reason.
	byReason := telemetrytest.SumBy(t, e.reader, "accounts.login.failures", "reason")
	if byReason["bad_credentials"] != 3+5 || byReason["rate_limited"] != 2 {
		t.Fatalf("login failures by reason = %v, want 8 bad_credentials and 2 rate_limited", byReason)
	}
}

func TestLeaseQuotaConcurrent(t *testing.T) {
	forBackends(t, func(t *testing.T, backend string) {
		e := newEnv(t, backend, nil)
		u := e.signUp("quota@example.com")
		s, err := e.client.CreateSite(as(u.token), &accountsv1.CreateSiteRequest{OrganizationId: u.org, Name: "Q"})
		if err != nil {
			t.Fatal(err)
		}
		day := time.Now().UTC().Format(time.DateOnly)
		var total atomic.Int64
		var wg sync.WaitGroup
		errs := make(chan error, 24)
		for w := range 24 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					r, err := e.client.LeaseSessionQuota(as(""), &accountsv1.LeaseSessionQuotaRequest{SiteId: s.GetSite().GetId(), Day: day, Requested: 17, Holder: "ingest-" + string(rune('a'+w))})
					if err != nil {
						errs <- err
						return
					}
					if r.GetLimit() != 1000 || r.GetGranted() > 17 {
						errs <- status.Errorf(codes.Internal, "lease = %v", r)
						return
					}
					total.Add(r.GetGranted())
					if r.GetGranted() == 0 {
						return
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		if total.Load() != 1000 {
			t.Fatalf("granted %d in total, want exactly the limit 1000", total.Load())
		}
	})
}

// TestPublicConfigFirstRunAndIngestURL: a store without users is a first
// run (the dashboard opens on sign-up) until someone signs up; the public
// ingest URL is the configured one.
func TestPublicConfigFirstRunAndIngestURL(t *testing.T) {
	ctx := context.Background()
	cfg := defaultConfig()
	cfg.SignupVerifyEmail = false
	cfg.PublicIngestURL = "https://rec.example.com"
	spans := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))
	defer tp.Shutdown(ctx)
	svc, err := New(ctx, cfg, Deps{DataDir: t.TempDir(), TracerProvider: tp})
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Close()
	pc, err := svc.GetPublicConfig(ctx, &accountsv1.GetPublicConfigRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if !pc.GetFirstRun() || pc.GetPublicIngestUrl() != "https://rec.example.com" {
		t.Fatalf("fresh instance: first_run %v, public_ingest_url %q", pc.GetFirstRun(), pc.GetPublicIngestUrl())
	}
	if _, err := svc.SignUp(ctx, &accountsv1.SignUpRequest{Email: "first@example.com", Password: "correct horse battery", OrganizationName: "First"}); err != nil {
		t.Fatal(err)
	}
	if pc, err = svc.GetPublicConfig(ctx, &accountsv1.GetPublicConfigRequest{}); err != nil {
		t.Fatal(err)
	}
	if pc.GetFirstRun() {
		t.Fatal("first_run after the first sign-up")
	}
	// Past the first run, the public config (every dashboard load) no
	// longer counts users.
	counts := func() (n int) {
		for _, sp := range spans.Ended() {
			if sp.Name() == "accounts.store.CountUsers" {
				n++
			}
		}
		return n
	}
	before := counts()
	for range 3 {
		if pc, err = svc.GetPublicConfig(ctx, &accountsv1.GetPublicConfigRequest{}); err != nil || pc.GetFirstRun() {
			t.Fatalf("first_run %v, %v", pc.GetFirstRun(), err)
		}
	}
	if before == 0 || counts() != before {
		t.Fatalf("CountUsers store calls: %d before, %d after three more public configs; want some, then none", before, counts())
	}
}

func TestMigrateAndAdmin(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	cfg := defaultConfig()
	if err := Migrate(ctx, cfg, dir); err != nil {
		t.Fatal(err)
	}
	a, err := OpenAdmin(ctx, cfg, dir)
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = a.CreateUser(ctx, "root@example.com", "short", "", true)
	if code(err) != codes.InvalidArgument {
		t.Fatalf("weak admin password accepted: %v", err)
	}
	uid, oid, err := a.CreateUser(ctx, " Root@Example.com", password, "Ops", true)
	if err != nil {
		t.Fatal(err)
	}
	if uid == 0 || oid == 0 {
		t.Fatalf("ids %d %d", uid, oid)
	}
	if err := a.SetMaintenance(ctx, true, "db upgrade"); err != nil {
		t.Fatal(err)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	// The service on the same data dir sees both.
	svc, err := New(ctx, cfg, Deps{DataDir: dir, Version: "v"})
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Close()
	if err := svc.Ready(ctx); err != nil {
		t.Fatal(err)
	}
	pc, err := svc.GetPublicConfig(ctx, &accountsv1.GetPublicConfigRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if !pc.GetMaintenance().GetEnabled() || pc.GetMaintenance().GetMessage() != "db upgrade" {
		t.Fatalf("maintenance = %v", pc.GetMaintenance())
	}
	if pc.GetFirstRun() {
		t.Fatal("first_run with a user in the store")
	}
	li, err := svc.LogIn(ctx, &accountsv1.LogInRequest{Email: "root@example.com", Password: password})
	if err != nil {
		t.Fatal(err)
	}
	if !li.GetUser().GetOperator() {
		t.Fatal("admin-created user is not an operator")
	}
	if _, err := filepath.Glob(filepath.Join(dir, "accounts.db")); err != nil {
		t.Fatal(err)
	}
}

func TestConfigValidate(t *testing.T) {
	good := defaultConfig()
	if err := good.Validate(); err != nil {
		t.Fatalf("defaults do not validate: %v", err)
	}
	for name, tweak := range map[string]func(*Config){
		"postgres without dsn": func(c *Config) { c.Backend = BackendPostgres },
		"unknown backend":      func(c *Config) { c.Backend = "mysql" },
		"weak password policy": func(c *Config) { c.PasswordMinLength = 6 },
		"negative sessions":    func(c *Config) { c.DefaultPlan.SessionsPerDay = -1 },
		"negative seats":       func(c *Config) { c.DefaultPlan.MaxSeats = -1 },
		"retention too long":   func(c *Config) { c.DefaultPlan.MaxRetentionDays = 4000 },
		"huge sites":           func(c *Config) { c.DefaultPlan.MaxSites = 1 << 40 },
		"huge page":            func(c *Config) { c.MaxPageSize = 5000 },
		"tiny session ttl":     func(c *Config) { c.SessionTTL = time.Second },
	} {
		c := defaultConfig()
		tweak(&c)
		if err := c.Validate(); err == nil {
			t.Errorf("%s: Validate accepted it", name)
		}
	}
}

func TestRunStopsWithContext(t *testing.T) {
	e := newEnv(t, BackendSQLite, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.svc.Run(ctx) }()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after its context ended")
	}
}

// TestTelemetry: store calls make spans and feed the latency histogram.
func TestTelemetry(t *testing.T) {
	ctx := context.Background()
	spans := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))
	defer tp.Shutdown(ctx)
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	defer mp.Shutdown(ctx)
	svc, err := New(ctx, defaultConfig(), Deps{DataDir: t.TempDir(), TracerProvider: tp, MeterProvider: mp})
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Close()
	if _, err := svc.GetPublicConfig(ctx, &accountsv1.GetPublicConfigRequest{}); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range spans.Ended() {
		names = append(names, s.Name())
	}
	if !slices.Contains(names, "accounts.store.GetMaintenance") || !slices.Contains(names, "accounts.store.ListFeatureFlags") {
		t.Fatalf("spans = %v, want store spans", names)
	}
	ops := telemetrytest.By(t, reader, "accounts.store.duration", "op", "db.system")
	if ops["GetMaintenance/sqlite"] != 1 || ops["ListFeatureFlags/sqlite"] != 1 {
		t.Fatalf("store latency histogram counts by op and db.system = %v", ops)
	}
	for k := range ops {
		if !strings.HasSuffix(k, "/sqlite") {
			t.Fatalf("a sample of another db.system: %v", ops)
		}
	}
}
