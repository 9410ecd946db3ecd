package storetest

import (
	"testing"
	"time"

	"github.com/sightlinehq/sightline/svc-accounts/store"
)

// testLimits checks instance limits and organisations' own: organisations
// follow the instance row once there is one, an operator's row outlives
// the configured defaults written at start, an organisation's own limits
// win until cleared, and 0 seats or sites means unlimited.
func testLimits(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	_, err := s.GetInstanceLimits(ctx)
	wantErr(t, err, store.ErrNotFound, "")
	u, o := signUp(t, s, "lim@example.com")
	_, o2 := signUp(t, s, "lim2@example.com")
	if o.CustomLimits || o.Plan != plan {
		t.Fatalf("before instance limits: %+v, want its own %+v", o, plan)
	}

	flags := store.Plan{SessionsPerDay: 500, MaxRetentionDays: 60, MaxSeats: 2, MaxSites: 1}
	t0 := time.Now().Add(-time.Hour).UTC().Truncate(time.Millisecond)
	l := must(s.PutInstanceLimits(ctx, flags, false, t0)).get(t)
	if l.Plan != flags || l.SetByOperator || !l.UpdateTime.Equal(t0) {
		t.Fatalf("configured limits = %+v", l)
	}
	if g := must(s.GetOrganization(ctx, o.ID)).get(t); g.Plan != flags || g.CustomLimits {
		t.Fatalf("organisation after instance limits = %+v, want %+v", g, flags)
	}
	st := must(s.CreateSite(ctx, store.Site{OrganizationID: o.ID, Name: "L", SiteKey: "k_lim", Settings: settings()}, 1)).get(t)
	if c := must(s.GetSiteConfig(ctx, "k_lim", time.Now())).get(t); c.Plan != flags {
		t.Fatalf("site config plan = %+v, want %+v", c.Plan, flags)
	}

	// An operator's limits replace them; the configured defaults written at
	// the next start do not.
	op := store.Plan{Name: "Hosted", SessionsPerDay: 0, MaxRetentionDays: 365, MaxSeats: 0, MaxSites: 0}
	l = must(s.PutInstanceLimits(ctx, op, true, time.Now())).get(t)
	if l.Plan != op || !l.SetByOperator {
		t.Fatalf("operator limits = %+v", l)
	}
	if l = must(s.PutInstanceLimits(ctx, flags, false, time.Now())).get(t); l.Plan != op || !l.SetByOperator {
		t.Fatalf("configured defaults overwrote the operator's: %+v", l)
	}
	if g := must(s.GetInstanceLimits(ctx)).get(t); g != l {
		t.Fatalf("get = %+v, want %+v", g, l)
	}
	// Unlimited sites and seats.
	for i := range 3 {
		must(s.CreateSite(ctx, store.Site{OrganizationID: o.ID, Name: "More", SiteKey: "k_lim_more" + string(rune('a'+i)), Settings: settings()}, 0)).get(t)
	}
	for _, e := range []string{"seat1@example.com", "seat2@example.com", "seat3@example.com"} {
		addMember(t, s, o.ID, u.ID, e, store.RoleMember)
	}

	// Own limits win over the instance's, for reads, site config and seats.
	own := store.Plan{SessionsPerDay: 10, MaxRetentionDays: 7, MaxSeats: 4, MaxSites: 2}
	v := must(s.SetOrganizationLimits(ctx, o.ID, &own)).get(t)
	if v.Plan != own || !v.CustomLimits || v.ID != o.ID || v.Sites != 4 || v.Members != 4 {
		t.Fatalf("own limits = %+v", v)
	}
	if c := must(s.GetSiteConfig(ctx, st.SiteKey, time.Now())).get(t); c.Plan != own {
		t.Fatalf("site config plan = %+v, want %+v", c.Plan, own)
	}
	u5, _ := signUp(t, s, "seat5@example.com")
	tok := hash("inv-seat5")
	must(s.CreateInvitation(ctx, store.Invitation{OrganizationID: o.ID, Email: "seat5@example.com", Role: store.RoleMember, TokenHash: tok, CreatedBy: u.ID, ExpireTime: time.Now().Add(time.Hour)})).get(t)
	_, err = s.AcceptInvitation(ctx, tok, u5.ID, "seat5@example.com", time.Now())
	wantErr(t, err, store.ErrLimit, "4 seats")
	if g := must(s.GetOrganization(ctx, o2.ID)).get(t); g.Plan != op || g.CustomLimits {
		t.Fatalf("other organisation = %+v, want the instance's %+v", g, op)
	}
	list := must(s.ListAllOrganizations(ctx, store.Page{})).get(t)
	if len(list) != 6 || list[0].ID != o.ID || list[0].Plan != own || list[1].ID != o2.ID || list[1].Plan != op || list[1].Sites != 0 || list[1].Members != 1 {
		t.Fatalf("list = %+v", list)
	}
	if p := must(s.ListAllOrganizations(ctx, store.Page{After: o.ID, Limit: 1})).get(t); len(p) != 1 || p[0].ID != o2.ID {
		t.Fatalf("page after %d = %+v", o.ID, p)
	}

	// Back to the instance's.
	if v = must(s.SetOrganizationLimits(ctx, o.ID, nil)).get(t); v.Plan != op || v.CustomLimits {
		t.Fatalf("back to defaults = %+v", v)
	}
	must(s.AcceptInvitation(ctx, tok, u5.ID, "seat5@example.com", time.Now())).get(t)
	_, err = s.SetOrganizationLimits(ctx, 1<<40, nil)
	wantErr(t, err, store.ErrNotFound, "")
}
