package accounts

import (
	"context"
	"slices"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	accountsv1 "github.com/sightlinehq/sightline/gen/sightline/accounts/v1"
)

const skip = codes.Code(999)

// authzCase calls one RPC on organisation A's objects as different callers.
type authzCase struct {
	method string
	call   func(ctx context.Context) error
	// Expected codes for a user of another organisation, a viewer of A, an
	// API key of A with the viewer role, and a caller without credentials.
	foreign, viewer, viewerKey, anon codes.Code
}

// TestAuthorizationEveryRPC walks every RPC of the service: a caller from
// another organisation gets NotFound for A's objects, a viewer gets
// PermissionDenied for writes, a missing credential Unauthenticated.
func TestAuthorizationEveryRPC(t *testing.T) {
	forBackends(t, func(t *testing.T, backend string) {
		e := newEnv(t, backend, nil)
		c := e.client
		owner := e.signUp("owner@a.example")
		viewer := e.join(owner, owner.org, "viewer@a.example", accountsv1.Role_ROLE_VIEWER)
		member := e.join(owner, owner.org, "member@a.example", accountsv1.Role_ROLE_MEMBER)
		mallory := e.signUp("mallory@b.example")
		orgA := owner.org
		bSite, err := c.CreateSite(as(mallory.token), &accountsv1.CreateSiteRequest{OrganizationId: mallory.org, Name: "B shop"})
		if err != nil {
			t.Fatal(err)
		}
		siteB := bSite.GetSite().GetId()

		site, err := c.CreateSite(as(owner.token), &accountsv1.CreateSiteRequest{OrganizationId: orgA, Name: "A shop", Domains: []string{"shop.a.example"}})
		if err != nil {
			t.Fatal(err)
		}
		siteID := site.GetSite().GetId()
		key, err := c.CreateApiKey(as(owner.token), &accountsv1.CreateApiKeyRequest{OrganizationId: orgA, Name: "ci", Role: accountsv1.Role_ROLE_MEMBER})
		if err != nil {
			t.Fatal(err)
		}
		viewerKey, err := c.CreateApiKey(as(owner.token), &accountsv1.CreateApiKeyRequest{OrganizationId: orgA, Name: "ro", Role: accountsv1.Role_ROLE_VIEWER})
		if err != nil {
			t.Fatal(err)
		}
		inv, err := c.CreateInvitation(as(owner.token), &accountsv1.CreateInvitationRequest{OrganizationId: orgA, Email: "invitee@a.example", Role: accountsv1.Role_ROLE_MEMBER})
		if err != nil {
			t.Fatal(err)
		}
		survey, err := c.CreateSurvey(as(owner.token), &accountsv1.CreateSurveyRequest{SiteId: siteID, Survey: sampleSurvey()})
		if err != nil {
			t.Fatal(err)
		}
		surveyID := survey.GetSurvey().GetId()
		funnel, err := c.CreateFunnel(as(owner.token), &accountsv1.CreateFunnelRequest{SiteId: siteID, Funnel: sampleFunnel()})
		if err != nil {
			t.Fatal(err)
		}
		funnelID := funnel.GetFunnel().GetId()
		// B's own funnel, for the "A's funnel through B's site" cases below.
		if _, err := c.CreateFunnel(as(mallory.token), &accountsv1.CreateFunnelRequest{SiteId: siteB, Funnel: sampleFunnel()}); err != nil {
			t.Fatal(err)
		}
		orgFlag := &accountsv1.FeatureFlag{Name: "beta", Scope: accountsv1.FeatureFlagScope_FEATURE_FLAG_SCOPE_ORGANIZATION, ScopeId: orgA, Enabled: true}
		siteFlag := &accountsv1.FeatureFlag{Name: "beta", Scope: accountsv1.FeatureFlagScope_FEATURE_FLAG_SCOPE_SITE, ScopeId: siteID, Enabled: true}
		globalFlag := &accountsv1.FeatureFlag{Name: "beta", Scope: accountsv1.FeatureFlagScope_FEATURE_FLAG_SCOPE_GLOBAL, Enabled: true}
		const (
			OK = codes.OK
			NF = codes.NotFound
			PD = codes.PermissionDenied
			UA = codes.Unauthenticated
		)
		call := func(f func(ctx context.Context) error) func(ctx context.Context) error { return f }
		cases := []authzCase{
			// Public RPCs: no caller needed. (Internal ones are behind the
			// service credential: TestInternalServicesNeedTheServiceCredential.)
			{"SignUp", call(func(ctx context.Context) error {
				_, err := c.SignUp(ctx, &accountsv1.SignUpRequest{Email: "owner@a.example", Password: password})
				return err // the e-mail is taken, and the answer does not say so, whoever asks
			}), codes.OK, codes.OK, codes.OK, codes.OK},
			{"VerifyEmail", call(func(ctx context.Context) error {
				_, err := c.VerifyEmail(ctx, &accountsv1.VerifyEmailRequest{Token: "slv_" + strings.Repeat("A", 43)})
				return err // needs no credential; an unknown token is a bad link for anyone
			}), codes.InvalidArgument, codes.InvalidArgument, codes.InvalidArgument, codes.InvalidArgument},
			{"ResendVerification", call(func(ctx context.Context) error {
				_, err := c.ResendVerification(ctx, &accountsv1.ResendVerificationRequest{Email: "owner@a.example"})
				return err
			}), codes.OK, codes.OK, codes.OK, codes.OK},
			{"RequestPasswordReset", call(func(ctx context.Context) error {
				_, err := c.RequestPasswordReset(ctx, &accountsv1.RequestPasswordResetRequest{Email: "nobody@a.example"})
				return err
			}), codes.OK, codes.OK, codes.OK, codes.OK},
			{"ResetPassword", call(func(ctx context.Context) error {
				_, err := c.ResetPassword(ctx, &accountsv1.ResetPasswordRequest{Token: "slr_" + strings.Repeat("A", 43), Password: password})
				return err
			}), codes.InvalidArgument, codes.InvalidArgument, codes.InvalidArgument, codes.InvalidArgument},
			{"LogIn", call(func(ctx context.Context) error {
				_, err := c.LogIn(ctx, &accountsv1.LogInRequest{Email: "owner@a.example", Password: "not the password"})
				return err
			}), UA, UA, UA, UA},
			{"GetPublicConfig", call(func(ctx context.Context) error {
				_, err := c.GetPublicConfig(ctx, &accountsv1.GetPublicConfigRequest{})
				return err
			}), OK, OK, OK, OK},
			// The caller's own data.
			{"LogOut", call(func(ctx context.Context) error {
				_, err := c.LogOut(ctx, &accountsv1.LogOutRequest{SessionToken: "sls_not-a-token"})
				return err
			}), codes.InvalidArgument, codes.InvalidArgument, codes.InvalidArgument, codes.InvalidArgument},
			{"GetCurrentUser", call(func(ctx context.Context) error {
				_, err := c.GetCurrentUser(ctx, &accountsv1.GetCurrentUserRequest{})
				return err
			}), OK, OK, OK, UA},
			{"CreateOrganization", call(func(ctx context.Context) error {
				_, err := c.CreateOrganization(ctx, &accountsv1.CreateOrganizationRequest{Name: "side project"})
				return err
			}), OK, OK, PD, UA},
			{"ListOrganizations", call(func(ctx context.Context) error {
				r, err := c.ListOrganizations(ctx, &accountsv1.ListOrganizationsRequest{})
				if err == nil && ctx.Value(foreignKey{}) != nil {
					for _, o := range r.GetOrganizations() {
						if o.GetId() == orgA {
							t.Errorf("foreign caller lists organization A")
						}
					}
				}
				return err
			}), OK, OK, OK, UA},
			{"AcceptInvitation", call(func(ctx context.Context) error {
				_, err := c.AcceptInvitation(ctx, &accountsv1.AcceptInvitationRequest{Token: inv.GetToken()})
				return err // addressed to invitee@a.example only
			}), NF, NF, PD, UA},
			{"GetMaintenance", call(func(ctx context.Context) error {
				_, err := c.GetMaintenance(ctx, &accountsv1.GetMaintenanceRequest{})
				return err
			}), OK, OK, OK, UA},
			// Operators only.
			{"SetMaintenance", call(func(ctx context.Context) error {
				_, err := c.SetMaintenance(ctx, &accountsv1.SetMaintenanceRequest{Enabled: true})
				return err
			}), PD, PD, PD, UA},
			{"SetFeatureFlag/global", call(func(ctx context.Context) error {
				_, err := c.SetFeatureFlag(ctx, &accountsv1.SetFeatureFlagRequest{Flag: globalFlag})
				return err
			}), PD, PD, PD, UA},
			{"GetInstanceLimits", call(func(ctx context.Context) error {
				_, err := c.GetInstanceLimits(ctx, &accountsv1.GetInstanceLimitsRequest{})
				return err
			}), PD, PD, PD, UA},
			{"UpdateInstanceLimits", call(func(ctx context.Context) error {
				_, err := c.UpdateInstanceLimits(ctx, &accountsv1.UpdateInstanceLimitsRequest{Limits: &accountsv1.Plan{MaxSites: 100}})
				return err
			}), PD, PD, PD, UA},
			{"ListOrganizationsForOperator", call(func(ctx context.Context) error {
				_, err := c.ListOrganizationsForOperator(ctx, &accountsv1.ListOrganizationsForOperatorRequest{})
				return err
			}), PD, PD, PD, UA},
			{"UpdateOrganizationLimits", call(func(ctx context.Context) error {
				_, err := c.UpdateOrganizationLimits(ctx, &accountsv1.UpdateOrganizationLimitsRequest{OrganizationId: orgA, Limits: &accountsv1.Plan{MaxSites: 100}})
				return err
			}), PD, PD, PD, UA},
			// Not even an organisation's owner (mallory owns B) may raise its limits.
			{"UpdateOrganizationLimits/own", call(func(ctx context.Context) error {
				_, err := c.UpdateOrganizationLimits(ctx, &accountsv1.UpdateOrganizationLimitsRequest{OrganizationId: mallory.org, UseDefaults: true})
				return err
			}), PD, PD, PD, UA},
			// Organisation A's objects.
			{"GetOrganization", call(func(ctx context.Context) error {
				_, err := c.GetOrganization(ctx, &accountsv1.GetOrganizationRequest{OrganizationId: orgA})
				return err
			}), NF, OK, OK, UA},
			{"UpdateOrganization", call(func(ctx context.Context) error {
				_, err := c.UpdateOrganization(ctx, &accountsv1.UpdateOrganizationRequest{OrganizationId: orgA, Name: "pwned"})
				return err
			}), NF, PD, PD, UA},
			{"ListMembers", call(func(ctx context.Context) error {
				_, err := c.ListMembers(ctx, &accountsv1.ListMembersRequest{OrganizationId: orgA})
				return err
			}), NF, OK, OK, UA},
			{"UpdateMemberRole", call(func(ctx context.Context) error {
				_, err := c.UpdateMemberRole(ctx, &accountsv1.UpdateMemberRoleRequest{OrganizationId: orgA, UserId: member.id, Role: accountsv1.Role_ROLE_ADMIN})
				return err
			}), NF, PD, PD, UA},
			{"RemoveMember", call(func(ctx context.Context) error {
				_, err := c.RemoveMember(ctx, &accountsv1.RemoveMemberRequest{OrganizationId: orgA, UserId: member.id})
				return err
			}), NF, PD, PD, UA},
			{"CreateInvitation", call(func(ctx context.Context) error {
				_, err := c.CreateInvitation(ctx, &accountsv1.CreateInvitationRequest{OrganizationId: orgA, Email: "x@b.example", Role: accountsv1.Role_ROLE_VIEWER})
				return err
			}), NF, PD, PD, UA},
			{"ListInvitations", call(func(ctx context.Context) error {
				_, err := c.ListInvitations(ctx, &accountsv1.ListInvitationsRequest{OrganizationId: orgA})
				return err
			}), NF, PD, PD, UA},
			{"RevokeInvitation", call(func(ctx context.Context) error {
				_, err := c.RevokeInvitation(ctx, &accountsv1.RevokeInvitationRequest{OrganizationId: orgA, InvitationId: inv.GetInvitation().GetId()})
				return err
			}), NF, PD, PD, UA},
			{"CreateSite", call(func(ctx context.Context) error {
				_, err := c.CreateSite(ctx, &accountsv1.CreateSiteRequest{OrganizationId: orgA, Name: "x"})
				return err
			}), NF, PD, PD, UA},
			{"GetSite", call(func(ctx context.Context) error {
				_, err := c.GetSite(ctx, &accountsv1.GetSiteRequest{SiteId: siteID})
				return err
			}), NF, OK, OK, UA},
			{"ListSites", call(func(ctx context.Context) error {
				_, err := c.ListSites(ctx, &accountsv1.ListSitesRequest{OrganizationId: orgA})
				return err
			}), NF, OK, OK, UA},
			{"UpdateSite", call(func(ctx context.Context) error {
				_, err := c.UpdateSite(ctx, &accountsv1.UpdateSiteRequest{SiteId: siteID, Name: "pwned"})
				return err
			}), NF, PD, PD, UA},
			{"DeleteSite", call(func(ctx context.Context) error {
				_, err := c.DeleteSite(ctx, &accountsv1.DeleteSiteRequest{SiteId: siteID})
				return err
			}), NF, PD, PD, UA},
			{"AddSiteDomain", call(func(ctx context.Context) error {
				_, err := c.AddSiteDomain(ctx, &accountsv1.AddSiteDomainRequest{SiteId: siteID, Domain: "evil.example"})
				return err
			}), NF, PD, PD, UA},
			{"RemoveSiteDomain", call(func(ctx context.Context) error {
				_, err := c.RemoveSiteDomain(ctx, &accountsv1.RemoveSiteDomainRequest{SiteId: siteID, Domain: "shop.a.example"})
				return err
			}), NF, PD, PD, UA},
			{"GetSiteSettings", call(func(ctx context.Context) error {
				_, err := c.GetSiteSettings(ctx, &accountsv1.GetSiteSettingsRequest{SiteId: siteID})
				return err
			}), NF, OK, OK, UA},
			{"UpdateSiteSettings", call(func(ctx context.Context) error {
				_, err := c.UpdateSiteSettings(ctx, &accountsv1.UpdateSiteSettingsRequest{SiteId: siteID,
					Settings: &accountsv1.SiteSettings{RecordingEnabled: false}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"recording_enabled"}}})
				return err
			}), NF, PD, PD, UA},
			{"ListSurveys", call(func(ctx context.Context) error {
				r, err := c.ListSurveys(ctx, &accountsv1.ListSurveysRequest{SiteId: siteID})
				if err == nil && len(r.GetSurveys()) != 1 {
					t.Errorf("ListSurveys answered %d surveys, want 1", len(r.GetSurveys()))
				}
				return err
			}), NF, OK, OK, UA},
			{"GetSurvey", call(func(ctx context.Context) error {
				_, err := c.GetSurvey(ctx, &accountsv1.GetSurveyRequest{SiteId: siteID, SurveyId: surveyID})
				return err
			}), NF, OK, OK, UA},
			{"GetSurvey/through-site-B", call(func(ctx context.Context) error {
				// A's survey id under B's site (B's owner's own): not found.
				_, err := c.GetSurvey(ctx, &accountsv1.GetSurveyRequest{SiteId: siteB, SurveyId: surveyID})
				return err
			}), NF, NF, NF, UA},
			{"UpdateSurvey/through-site-B", call(func(ctx context.Context) error {
				_, err := c.UpdateSurvey(ctx, &accountsv1.UpdateSurveyRequest{SiteId: siteB, SurveyId: surveyID, Survey: sampleSurvey()})
				return err
			}), NF, NF, NF, UA},
			{"DeleteSurvey/through-site-B", call(func(ctx context.Context) error {
				_, err := c.DeleteSurvey(ctx, &accountsv1.DeleteSurveyRequest{SiteId: siteB, SurveyId: surveyID})
				return err
			}), NF, NF, NF, UA},
			{"CreateSurvey", call(func(ctx context.Context) error {
				_, err := c.CreateSurvey(ctx, &accountsv1.CreateSurveyRequest{SiteId: siteID, Survey: sampleSurvey()})
				return err
			}), NF, PD, PD, UA},
			{"UpdateSurvey", call(func(ctx context.Context) error {
				sv := sampleSurvey()
				sv.Name = "pwned"
				_, err := c.UpdateSurvey(ctx, &accountsv1.UpdateSurveyRequest{SiteId: siteID, SurveyId: surveyID, Survey: sv})
				return err
			}), NF, PD, PD, UA},
			{"DeleteSurvey", call(func(ctx context.Context) error {
				_, err := c.DeleteSurvey(ctx, &accountsv1.DeleteSurveyRequest{SiteId: siteID, SurveyId: surveyID})
				return err
			}), NF, PD, PD, UA},
			{"ListFunnels", call(func(ctx context.Context) error {
				r, err := c.ListFunnels(ctx, &accountsv1.ListFunnelsRequest{SiteId: siteID})
				if err == nil && len(r.GetFunnels()) != 1 {
					t.Errorf("ListFunnels answered %d funnels, want 1", len(r.GetFunnels()))
				}
				return err
			}), NF, OK, OK, UA},
			{"GetFunnel", call(func(ctx context.Context) error {
				_, err := c.GetFunnel(ctx, &accountsv1.GetFunnelRequest{SiteId: siteID, FunnelId: funnelID})
				return err
			}), NF, OK, OK, UA},
			{"GetFunnel/through-site-B", call(func(ctx context.Context) error {
				// A's funnel id under B's site (B's owner's own): not found.
				_, err := c.GetFunnel(ctx, &accountsv1.GetFunnelRequest{SiteId: siteB, FunnelId: funnelID})
				return err
			}), NF, NF, NF, UA},
			{"UpdateFunnel/through-site-B", call(func(ctx context.Context) error {
				_, err := c.UpdateFunnel(ctx, &accountsv1.UpdateFunnelRequest{SiteId: siteB, FunnelId: funnelID, Funnel: sampleFunnel()})
				return err
			}), NF, NF, NF, UA},
			{"DeleteFunnel/through-site-B", call(func(ctx context.Context) error {
				_, err := c.DeleteFunnel(ctx, &accountsv1.DeleteFunnelRequest{SiteId: siteB, FunnelId: funnelID})
				return err
			}), NF, NF, NF, UA},
			{"CreateFunnel", call(func(ctx context.Context) error {
				_, err := c.CreateFunnel(ctx, &accountsv1.CreateFunnelRequest{SiteId: siteID, Funnel: sampleFunnel()})
				return err
			}), NF, PD, PD, UA},
			{"UpdateFunnel", call(func(ctx context.Context) error {
				f := sampleFunnel()
				f.Name = "pwned"
				_, err := c.UpdateFunnel(ctx, &accountsv1.UpdateFunnelRequest{SiteId: siteID, FunnelId: funnelID, Funnel: f})
				return err
			}), NF, PD, PD, UA},
			{"DeleteFunnel", call(func(ctx context.Context) error {
				_, err := c.DeleteFunnel(ctx, &accountsv1.DeleteFunnelRequest{SiteId: siteID, FunnelId: funnelID})
				return err
			}), NF, PD, PD, UA},
			{"CreateApiKey", call(func(ctx context.Context) error {
				_, err := c.CreateApiKey(ctx, &accountsv1.CreateApiKeyRequest{OrganizationId: orgA, Name: "x", Role: accountsv1.Role_ROLE_VIEWER})
				return err
			}), NF, PD, PD, UA},
			{"ListApiKeys", call(func(ctx context.Context) error {
				_, err := c.ListApiKeys(ctx, &accountsv1.ListApiKeysRequest{OrganizationId: orgA})
				return err
			}), NF, PD, PD, UA},
			{"RevokeApiKey", call(func(ctx context.Context) error {
				_, err := c.RevokeApiKey(ctx, &accountsv1.RevokeApiKeyRequest{OrganizationId: orgA, ApiKeyId: key.GetApiKey().GetId()})
				return err
			}), NF, PD, PD, UA},
			{"ListFeatureFlags", call(func(ctx context.Context) error {
				_, err := c.ListFeatureFlags(ctx, &accountsv1.ListFeatureFlagsRequest{Scope: accountsv1.FeatureFlagScope_FEATURE_FLAG_SCOPE_ORGANIZATION, ScopeId: orgA})
				return err
			}), NF, OK, OK, UA},
			{"ListFeatureFlags/site", call(func(ctx context.Context) error {
				_, err := c.ListFeatureFlags(ctx, &accountsv1.ListFeatureFlagsRequest{Scope: accountsv1.FeatureFlagScope_FEATURE_FLAG_SCOPE_SITE, ScopeId: siteID})
				return err
			}), NF, OK, OK, UA},
			{"SetFeatureFlag", call(func(ctx context.Context) error {
				_, err := c.SetFeatureFlag(ctx, &accountsv1.SetFeatureFlagRequest{Flag: orgFlag})
				return err
			}), NF, PD, PD, UA},
			{"SetFeatureFlag/site", call(func(ctx context.Context) error {
				_, err := c.SetFeatureFlag(ctx, &accountsv1.SetFeatureFlagRequest{Flag: siteFlag})
				return err
			}), NF, PD, PD, UA},
			{"ListAuditEvents", call(func(ctx context.Context) error {
				_, err := c.ListAuditEvents(ctx, &accountsv1.ListAuditEventsRequest{OrganizationId: orgA})
				return err
			}), NF, PD, PD, UA},
		}

		// Every RPC of the service is in the table.
		covered := map[string]bool{}
		for _, tc := range cases {
			name := tc.method
			if i := slices.Index([]byte(name), '/'); i >= 0 {
				name = name[:i]
			}
			covered[name] = true
		}
		for _, m := range accountsv1.AccountsService_ServiceDesc.Methods {
			if !covered[m.MethodName] {
				t.Errorf("RPC %s has no authorization case", m.MethodName)
			}
		}

		for _, tc := range cases {
			t.Run(tc.method, func(t *testing.T) {
				for _, who := range []struct {
					name string
					ctx  context.Context
					want codes.Code
				}{
					{"foreign user", context.WithValue(as(mallory.token), foreignKey{}, true), tc.foreign},
					{"viewer", as(viewer.token), tc.viewer},
					{"viewer API key", as(viewerKey.GetSecret()), tc.viewerKey},
					{"no credential", as(""), tc.anon},
				} {
					if who.want == skip {
						continue
					}
					if got := code(tc.call(who.ctx)); got != who.want {
						t.Errorf("%s as %s: code %v, want %v", tc.method, who.name, got, who.want)
					}
				}
			})
		}

		// Nothing the refused callers tried took effect.
		g, err := c.GetSite(as(owner.token), &accountsv1.GetSiteRequest{SiteId: siteID})
		if err != nil {
			t.Fatal(err)
		}
		if g.GetSite().GetName() != "A shop" || !slices.Equal(g.GetSite().GetDomains(), []string{"shop.a.example"}) || !g.GetSite().GetSettings().GetRecordingEnabled() {
			t.Fatalf("site changed by unauthorised callers: %v", g.GetSite())
		}
		ms, err := c.ListMembers(as(owner.token), &accountsv1.ListMembersRequest{OrganizationId: orgA})
		if err != nil {
			t.Fatal(err)
		}
		if len(ms.GetMembers()) != 3 {
			t.Fatalf("members = %d, want 3", len(ms.GetMembers()))
		}
		for _, m := range ms.GetMembers() {
			if m.GetUser().GetId() == member.id && m.GetRole() != accountsv1.Role_ROLE_MEMBER {
				t.Fatalf("member's role changed to %v", m.GetRole())
			}
		}
		sv, err := c.ListSurveys(as(owner.token), &accountsv1.ListSurveysRequest{SiteId: siteID})
		if err != nil {
			t.Fatal(err)
		}
		if len(sv.GetSurveys()) != 1 || sv.GetSurveys()[0].GetName() != "Checkout NPS" {
			t.Fatalf("surveys changed by unauthorised callers: %v", sv.GetSurveys())
		}
		fl, err := c.ListFunnels(as(owner.token), &accountsv1.ListFunnelsRequest{SiteId: siteID})
		if err != nil {
			t.Fatal(err)
		}
		if len(fl.GetFunnels()) != 1 || !proto.Equal(fl.GetFunnels()[0], funnel.GetFunnel()) {
			t.Fatalf("funnels changed by unauthorised callers: %v", fl.GetFunnels())
		}
		keys, err := c.ListApiKeys(as(owner.token), &accountsv1.ListApiKeysRequest{OrganizationId: orgA})
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range keys.GetApiKeys() {
			if k.GetRevokeTime() != nil {
				t.Fatalf("key %d revoked by an unauthorised caller", k.GetId())
			}
		}
		pc, err := c.GetPublicConfig(as(""), &accountsv1.GetPublicConfigRequest{})
		if err != nil {
			t.Fatal(err)
		}
		if pc.GetMaintenance().GetEnabled() || len(pc.GetFeatureFlags()) != 0 || pc.GetDefaultPlan().GetMaxSites() != 3 {
			t.Fatalf("global state changed by non-operators: %v", pc)
		}
		if o, err := c.GetOrganization(as(owner.token), &accountsv1.GetOrganizationRequest{OrganizationId: orgA}); err != nil || o.GetOrganization().GetCustomLimits() || o.GetOrganization().GetPlan().GetMaxSites() != 3 {
			t.Fatalf("A's limits changed by non-operators: %v, %v", o, err)
		}

		// An operator may do what the others may not.
		op := e.operator("ops@example.com")
		if _, err := c.SetMaintenance(as(op.token), &accountsv1.SetMaintenanceRequest{Enabled: true, Message: "upgrade"}); err != nil {
			t.Fatal(err)
		}
		if _, err := c.SetFeatureFlag(as(op.token), &accountsv1.SetFeatureFlagRequest{Flag: globalFlag}); err != nil {
			t.Fatal(err)
		}
		// But an operator is no member of A.
		_, err = c.GetSite(as(op.token), &accountsv1.GetSiteRequest{SiteId: siteID})
		wantCode(t, err, codes.NotFound, "operator reading A's site")
	})
}

type foreignKey struct{}
