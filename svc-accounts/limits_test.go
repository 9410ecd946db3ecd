package accounts

import (
	"context"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	accountsv1 "github.com/sightlinehq/sightline/gen/sightline/accounts/v1"
	"github.com/sightlinehq/sightline/svc-accounts/store"
)

// TestOperatorLimits drives the instance and per-organisation limits over
// gRPC as an operator: they start from the flags, reach organisations,
// site creation, settings, the public config and ingest's site config (its
// etag changes), survive a restart's flags, and are audited.
func TestOperatorLimits(t *testing.T) {
	forBackends(t, func(t *testing.T, backend string) {
		e := newEnv(t, backend, nil)
		c := e.client
		op := e.signUp("ops@example.com") // the instance's first user: its operator
		alice := e.signUp("alice@example.com")
		asOp := as(op.token)
		want := &accountsv1.Plan{Name: "Starter", SessionsPerDay: 1000, MaxRetentionDays: 30, MaxSeats: 5, MaxSites: 3}

		got, err := c.GetInstanceLimits(asOp, &accountsv1.GetInstanceLimitsRequest{})
		if err != nil {
			t.Fatal(err)
		}
		if !proto.Equal(got.GetLimits(), want) || got.GetSetByOperator() || got.GetUpdateTime() != nil {
			t.Fatalf("limits from the flags = %v", got)
		}

		// Hostile input is refused with the field named.
		for name, tc := range map[string]struct {
			limits *accountsv1.Plan
			msg    string
		}{
			"missing":            {nil, "limits is required"},
			"negative sessions":  {&accountsv1.Plan{SessionsPerDay: -1}, "limits.sessions_per_day"},
			"retention too long": {&accountsv1.Plan{MaxRetentionDays: 3651}, "limits.max_retention_days"},
			"negative seats":     {&accountsv1.Plan{MaxSeats: -5}, "limits.max_seats"},
			"huge sites":         {&accountsv1.Plan{MaxSites: 1<<20 + 1}, "limits.max_sites"},
			"control character":  {&accountsv1.Plan{Name: "a\x00b"}, "limits.name contains control characters"},
			"long name":          {&accountsv1.Plan{Name: strings.Repeat("x", 65)}, "limits.name is longer than 64"},
		} {
			_, err := c.UpdateInstanceLimits(asOp, &accountsv1.UpdateInstanceLimitsRequest{Limits: tc.limits})
			wantCode(t, err, codes.InvalidArgument, name)
			if !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("%s: %v does not say %q", name, err, tc.msg)
			}
			_, err = c.UpdateOrganizationLimits(asOp, &accountsv1.UpdateOrganizationLimitsRequest{OrganizationId: alice.org, Limits: tc.limits})
			wantCode(t, err, codes.InvalidArgument, "organization: "+name)
		}
		_, err = c.UpdateOrganizationLimits(asOp, &accountsv1.UpdateOrganizationLimitsRequest{OrganizationId: 1 << 40, UseDefaults: true})
		wantCode(t, err, codes.NotFound, "unknown organisation")
		_, err = c.UpdateOrganizationLimits(asOp, &accountsv1.UpdateOrganizationLimitsRequest{OrganizationId: -1, UseDefaults: true})
		wantCode(t, err, codes.InvalidArgument, "negative organisation id")

		site := e.shop(alice)
		before, err := c.GetSiteConfig(as(""), &accountsv1.GetSiteConfigRequest{SiteKey: site.GetSiteKey()})
		if err != nil {
			t.Fatal(err)
		}

		// New instance limits: unlimited sessions, one site, 10 days.
		inst := &accountsv1.Plan{SessionsPerDay: 0, MaxRetentionDays: 10, MaxSeats: 0, MaxSites: 1}
		up, err := c.UpdateInstanceLimits(asOp, &accountsv1.UpdateInstanceLimitsRequest{Limits: inst})
		if err != nil || !proto.Equal(up.GetLimits(), inst) {
			t.Fatalf("update = %v, %v", up, err)
		}
		o, err := c.GetOrganization(as(alice.token), &accountsv1.GetOrganizationRequest{OrganizationId: alice.org})
		if err != nil || !proto.Equal(o.GetOrganization().GetPlan(), inst) || o.GetOrganization().GetCustomLimits() {
			t.Fatalf("alice's organisation = %v, %v", o, err)
		}
		_, err = c.CreateSite(as(alice.token), &accountsv1.CreateSiteRequest{OrganizationId: alice.org, Name: "Second"})
		wantCode(t, err, codes.ResourceExhausted, "second site past max_sites 1")
		_, err = c.UpdateSiteSettings(as(alice.token), &accountsv1.UpdateSiteSettingsRequest{SiteId: site.GetId(),
			Settings: &accountsv1.SiteSettings{RetentionDays: 20}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"retention_days"}}})
		wantCode(t, err, codes.InvalidArgument, "retention past the operator's 10 days")
		if !strings.Contains(err.Error(), "between 1 and 10 (the limit set by the operator)") {
			t.Fatalf("retention refusal = %v", err)
		}
		pc, err := c.GetPublicConfig(as(""), &accountsv1.GetPublicConfigRequest{})
		if err != nil || !proto.Equal(pc.GetDefaultPlan(), inst) {
			t.Fatalf("public config = %v, %v", pc.GetDefaultPlan(), err)
		}
		mid, err := c.GetSiteConfig(as(""), &accountsv1.GetSiteConfigRequest{SiteKey: site.GetSiteKey()})
		if err != nil || !proto.Equal(mid.GetPlan(), inst) || mid.GetEtag() == before.GetEtag() {
			t.Fatalf("site config after instance limits = %v (etag before %s), %v", mid, before.GetEtag(), err)
		}
		// Unlimited sessions: a lease is granted whole, with nothing stored.
		l, err := c.LeaseSessionQuota(as(""), &accountsv1.LeaseSessionQuotaRequest{SiteId: site.GetId(), Day: time.Now().UTC().Format(time.DateOnly), Requested: 50})
		if err != nil || l.GetGranted() != 50 || l.GetLimit() != 0 {
			t.Fatalf("unlimited lease = %v, %v", l, err)
		}

		// Alice's own limits.
		own := &accountsv1.Plan{Name: "Hosted Pro", SessionsPerDay: 20, MaxRetentionDays: 90, MaxSeats: 2, MaxSites: 2}
		r, err := c.UpdateOrganizationLimits(asOp, &accountsv1.UpdateOrganizationLimitsRequest{OrganizationId: alice.org, Limits: own})
		if err != nil {
			t.Fatal(err)
		}
		if v := r.GetOrganization(); !proto.Equal(v.GetOrganization().GetPlan(), own) || !v.GetOrganization().GetCustomLimits() || v.GetSiteCount() != 1 || v.GetMemberCount() != 1 {
			t.Fatalf("own limits = %v", v)
		}
		if _, err := c.CreateSite(as(alice.token), &accountsv1.CreateSiteRequest{OrganizationId: alice.org, Name: "Second"}); err != nil {
			t.Fatalf("second site within her own max_sites 2: %v", err)
		}
		after, err := c.GetSiteConfig(as(""), &accountsv1.GetSiteConfigRequest{SiteKey: site.GetSiteKey()})
		if err != nil || !proto.Equal(after.GetPlan(), own) || after.GetEtag() == mid.GetEtag() {
			t.Fatalf("site config after own limits = %v, %v", after, err)
		}
		if l, err := c.LeaseSessionQuota(as(""), &accountsv1.LeaseSessionQuotaRequest{SiteId: site.GetId(), Day: time.Now().UTC().Format(time.DateOnly), Requested: 50}); err != nil || l.GetGranted() != 20 || l.GetLimit() != 20 {
			t.Fatalf("lease under own limit = %v, %v", l, err)
		}

		// The operator's listing, paged.
		page1, err := c.ListOrganizationsForOperator(asOp, &accountsv1.ListOrganizationsForOperatorRequest{PageSize: 1})
		if err != nil || len(page1.GetOrganizations()) != 1 || page1.GetOrganizations()[0].GetOrganization().GetId() != op.org || page1.GetNextPageToken() == "" {
			t.Fatalf("page 1 = %v, %v", page1, err)
		}
		page2, err := c.ListOrganizationsForOperator(asOp, &accountsv1.ListOrganizationsForOperatorRequest{PageSize: 1, PageToken: page1.GetNextPageToken()})
		if err != nil || len(page2.GetOrganizations()) != 1 || page2.GetOrganizations()[0].GetOrganization().GetId() != alice.org ||
			page2.GetOrganizations()[0].GetSiteCount() != 2 || !proto.Equal(page2.GetOrganizations()[0].GetOrganization().GetPlan(), own) {
			t.Fatalf("page 2 = %v, %v", page2, err)
		}
		if p := page1.GetOrganizations()[0].GetOrganization(); !proto.Equal(p.GetPlan(), inst) || p.GetCustomLimits() {
			t.Fatalf("the operator's own organisation = %v, want the instance limits", p)
		}

		// A restart with the flags keeps what the operator set.
		if err := e.svc.applyConfiguredLimits(context.Background()); err != nil {
			t.Fatal(err)
		}
		got, err = c.GetInstanceLimits(asOp, &accountsv1.GetInstanceLimitsRequest{})
		if err != nil || !proto.Equal(got.GetLimits(), inst) || !got.GetSetByOperator() || got.GetUpdateTime() == nil {
			t.Fatalf("limits after a restart = %v, %v", got, err)
		}

		// Back to the defaults.
		r, err = c.UpdateOrganizationLimits(asOp, &accountsv1.UpdateOrganizationLimitsRequest{OrganizationId: alice.org, UseDefaults: true, Limits: own})
		if err != nil || !proto.Equal(r.GetOrganization().GetOrganization().GetPlan(), inst) || r.GetOrganization().GetOrganization().GetCustomLimits() {
			t.Fatalf("back to defaults = %v, %v", r, err)
		}

		// Every change is audited: the organisation's in its log, the
		// instance's outside any organisation.
		ev, err := c.ListAuditEvents(as(alice.token), &accountsv1.ListAuditEventsRequest{OrganizationId: alice.org})
		if err != nil {
			t.Fatal(err)
		}
		var orgChanges []string
		for _, x := range ev.GetEvents() {
			if x.GetAction() == "limits.organization.update" {
				if x.GetActorUserId() != op.id {
					t.Errorf("audit actor = %d, want the operator %d", x.GetActorUserId(), op.id)
				}
				orgChanges = append(orgChanges, x.GetTarget())
			}
		}
		if len(orgChanges) != 2 || !strings.HasSuffix(orgChanges[0], " defaults") || !strings.Contains(orgChanges[1], `name:"Hosted Pro" sessions_per_day:20`) {
			t.Fatalf("organisation limit audit = %q", orgChanges)
		}
		inAudit, err := e.store.ListAuditEvents(context.Background(), 0, store.Page{Limit: 100})
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, x := range inAudit {
			found = found || (x.Action == "limits.instance.update" && x.ActorUserID == op.id && strings.Contains(x.Target, "max_sites:1"))
		}
		if !found {
			t.Fatalf("no instance limit audit event in %+v", inAudit)
		}
	})
}
