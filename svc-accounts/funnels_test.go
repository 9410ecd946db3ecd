package accounts

import (
	"strings"
	"sync"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	accountsv1 "github.com/sightlinehq/sightline/gen/sightline/accounts/v1"
	searchv1 "github.com/sightlinehq/sightline/gen/sightline/search/v1"
	trafficv1 "github.com/sightlinehq/sightline/gen/sightline/traffic/v1"
)

func pageStep(label string, op searchv1.UrlMatch_Operator, v string) *trafficv1.FunnelStep {
	return &trafficv1.FunnelStep{Label: label, Match: &trafficv1.FunnelStep_Page{Page: &searchv1.UrlMatch{Operator: op, Value: v}}}
}

func eventStep(label, name string) *trafficv1.FunnelStep {
	return &trafficv1.FunnelStep{Label: label, Match: &trafficv1.FunnelStep_Event{Event: name}}
}

// sampleFunnel has every kind of step, with spaces the service trims.
func sampleFunnel() *accountsv1.Funnel {
	return &accountsv1.Funnel{
		Id: 77, SiteId: 88, // ignored
		Name: "  Checkout ",
		Steps: []*trafficv1.FunnelStep{
			pageStep(" Product ", searchv1.UrlMatch_OPERATOR_PATTERN, "https://shop.example/product/*"),
			pageStep("", searchv1.UrlMatch_OPERATOR_PREFIX, "/cart"),
			eventStep("Paid", " purchase "),
			pageStep("Thanks", searchv1.UrlMatch_OPERATOR_EQUALS, "/thanks"),
		},
	}
}

// wantSample checks f is sampleFunnel as stored (normalised).
func wantSample(t *testing.T, f *accountsv1.Funnel, siteID int64) {
	t.Helper()
	want := &accountsv1.Funnel{
		Name: "Checkout",
		Steps: []*trafficv1.FunnelStep{
			pageStep("Product", searchv1.UrlMatch_OPERATOR_PATTERN, "https://shop.example/product/*"),
			pageStep("", searchv1.UrlMatch_OPERATOR_PREFIX, "/cart"),
			eventStep("Paid", "purchase"),
			pageStep("Thanks", searchv1.UrlMatch_OPERATOR_EQUALS, "/thanks"),
		},
	}
	got := proto.Clone(f).(*accountsv1.Funnel)
	if got.GetId() <= 1<<31 || got.GetSiteId() != siteID || got.GetCreateTime() == nil || got.GetUpdateTime() == nil {
		t.Fatalf("funnel ids/times = %v (site %d)", f, siteID)
	}
	got.Id, got.SiteId, got.CreateTime, got.UpdateTime = 0, 0, nil, nil
	if !proto.Equal(got, want) {
		t.Fatalf("funnel = %v\nwant %v", got, want)
	}
}

func TestFunnelsCRUD(t *testing.T) {
	forBackends(t, func(t *testing.T, backend string) {
		e := newEnv(t, backend, nil)
		c := e.client
		owner := e.signUp("funnels@a.example")
		admin := e.join(owner, owner.org, "admin@a.example", accountsv1.Role_ROLE_ADMIN)
		member := e.join(owner, owner.org, "member@a.example", accountsv1.Role_ROLE_MEMBER)
		viewer := e.join(owner, owner.org, "viewer@a.example", accountsv1.Role_ROLE_VIEWER)
		siteID := e.shop(owner).GetId()

		// Members and viewers read but do not write.
		_, err := c.CreateFunnel(as(member.token), &accountsv1.CreateFunnelRequest{SiteId: siteID, Funnel: sampleFunnel()})
		wantCode(t, err, codes.PermissionDenied, "member creates a funnel")

		cr, err := c.CreateFunnel(as(admin.token), &accountsv1.CreateFunnelRequest{SiteId: siteID, Funnel: sampleFunnel()})
		if err != nil {
			t.Fatal(err)
		}
		a := cr.GetFunnel()
		wantSample(t, a, siteID)
		second := sampleFunnel()
		second.Name = "Signup"
		second.Steps = []*trafficv1.FunnelStep{eventStep("", "signup_start"), eventStep("", "signup_done")}
		cr2, err := c.CreateFunnel(as(owner.token), &accountsv1.CreateFunnelRequest{SiteId: siteID, Funnel: second})
		if err != nil {
			t.Fatal(err)
		}
		b := cr2.GetFunnel()

		g, err := c.GetFunnel(as(viewer.token), &accountsv1.GetFunnelRequest{SiteId: siteID, FunnelId: a.GetId()})
		if err != nil {
			t.Fatal(err)
		}
		if !proto.Equal(g.GetFunnel(), a) {
			t.Fatalf("get = %v, want %v", g.GetFunnel(), a)
		}
		l, err := c.ListFunnels(as(member.token), &accountsv1.ListFunnelsRequest{SiteId: siteID})
		if err != nil {
			t.Fatal(err)
		}
		if len(l.GetFunnels()) != 2 || l.GetFunnels()[0].GetId() != b.GetId() || !proto.Equal(l.GetFunnels()[1], a) {
			t.Fatalf("list (newest first) = %v", l.GetFunnels())
		}

		// Update replaces name and steps; the id and create time stay.
		ed := proto.Clone(a).(*accountsv1.Funnel)
		ed.Name = "Checkout v2"
		ed.Steps = ed.Steps[1:3]
		_, err = c.UpdateFunnel(as(member.token), &accountsv1.UpdateFunnelRequest{SiteId: siteID, FunnelId: a.GetId(), Funnel: ed})
		wantCode(t, err, codes.PermissionDenied, "member updates a funnel")
		up, err := c.UpdateFunnel(as(admin.token), &accountsv1.UpdateFunnelRequest{SiteId: siteID, FunnelId: a.GetId(), Funnel: ed})
		if err != nil {
			t.Fatal(err)
		}
		u := up.GetFunnel()
		if u.GetId() != a.GetId() || u.GetName() != "Checkout v2" || len(u.GetSteps()) != 2 || u.GetSteps()[1].GetEvent() != "purchase" ||
			!u.GetCreateTime().AsTime().Equal(a.GetCreateTime().AsTime()) || !u.GetUpdateTime().AsTime().After(a.GetUpdateTime().AsTime()) {
			t.Fatalf("updated = %v (was %v)", u, a)
		}
		if g, err := c.GetFunnel(as(owner.token), &accountsv1.GetFunnelRequest{SiteId: siteID, FunnelId: a.GetId()}); err != nil || !proto.Equal(g.GetFunnel(), u) {
			t.Fatalf("get after update = %v, %v; want %v", g.GetFunnel(), err, u)
		}
		_, err = c.UpdateFunnel(as(owner.token), &accountsv1.UpdateFunnelRequest{SiteId: siteID, FunnelId: b.GetId() + 999, Funnel: ed})
		wantCode(t, err, codes.NotFound, "update a missing funnel")

		// A funnel id under another site of the same organisation: not found.
		other, err := c.CreateSite(as(owner.token), &accountsv1.CreateSiteRequest{OrganizationId: owner.org, Name: "Blog"})
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.GetFunnel(as(owner.token), &accountsv1.GetFunnelRequest{SiteId: other.GetSite().GetId(), FunnelId: a.GetId()})
		wantCode(t, err, codes.NotFound, "a funnel through another site")
		_, err = c.DeleteFunnel(as(owner.token), &accountsv1.DeleteFunnelRequest{SiteId: other.GetSite().GetId(), FunnelId: a.GetId()})
		wantCode(t, err, codes.NotFound, "delete a funnel through another site")

		_, err = c.DeleteFunnel(as(viewer.token), &accountsv1.DeleteFunnelRequest{SiteId: siteID, FunnelId: a.GetId()})
		wantCode(t, err, codes.PermissionDenied, "viewer deletes a funnel")
		if _, err := c.DeleteFunnel(as(admin.token), &accountsv1.DeleteFunnelRequest{SiteId: siteID, FunnelId: a.GetId()}); err != nil {
			t.Fatal(err)
		}
		_, err = c.GetFunnel(as(owner.token), &accountsv1.GetFunnelRequest{SiteId: siteID, FunnelId: a.GetId()})
		wantCode(t, err, codes.NotFound, "a deleted funnel")
		_, err = c.DeleteFunnel(as(owner.token), &accountsv1.DeleteFunnelRequest{SiteId: siteID, FunnelId: a.GetId()})
		wantCode(t, err, codes.NotFound, "delete a deleted funnel")
		if l, err := c.ListFunnels(as(owner.token), &accountsv1.ListFunnelsRequest{SiteId: siteID}); err != nil || len(l.GetFunnels()) != 1 || l.GetFunnels()[0].GetId() != b.GetId() {
			t.Fatalf("list after delete = %v, %v", l.GetFunnels(), err)
		}

		// Audit events name the funnel.
		ev, err := c.ListAuditEvents(as(owner.token), &accountsv1.ListAuditEventsRequest{OrganizationId: owner.org, PageSize: 50})
		if err != nil {
			t.Fatal(err)
		}
		count := map[string]int{}
		for _, x := range ev.GetEvents() {
			if strings.HasPrefix(x.GetAction(), "funnel.") {
				count[x.GetAction()]++
				if !strings.Contains(x.GetTarget(), "funnel:") || !strings.Contains(x.GetTarget(), "site:") {
					t.Errorf("audit target %q does not name the funnel and site", x.GetTarget())
				}
			}
		}
		if count["funnel.create"] != 2 || count["funnel.update"] != 1 || count["funnel.delete"] != 1 {
			t.Fatalf("funnel audit events = %v, want 2 create, 1 update, 1 delete", count)
		}

		// Deleting the site takes its funnels along.
		if _, err := c.DeleteSite(as(owner.token), &accountsv1.DeleteSiteRequest{SiteId: siteID}); err != nil {
			t.Fatal(err)
		}
		left, err := e.store.ListFunnels(t.Context(), siteID)
		if err != nil || len(left) != 0 {
			t.Fatalf("%d funnels outlive their site (%v)", len(left), err)
		}
	})
}

// TestFunnelLimitPerSite: 100 funnels per site, also when the last few
// are created at once.
func TestFunnelLimitPerSite(t *testing.T) {
	e := newEnv(t, BackendSQLite, nil)
	owner := e.signUp("limit@a.example")
	siteID := e.shop(owner).GetId()
	const racers = 10
	for i := range maxFunnelsPerSite - racers/2 {
		if _, err := e.client.CreateFunnel(as(owner.token), &accountsv1.CreateFunnelRequest{SiteId: siteID, Funnel: sampleFunnel()}); err != nil {
			t.Fatalf("funnel %d: %v", i, err)
		}
	}
	var wg sync.WaitGroup
	codesOf := make([]codes.Code, racers)
	for i := range racers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := e.client.CreateFunnel(as(owner.token), &accountsv1.CreateFunnelRequest{SiteId: siteID, Funnel: sampleFunnel()})
			codesOf[i] = code(err)
		}()
	}
	wg.Wait()
	n := map[codes.Code]int{}
	for _, c := range codesOf {
		n[c]++
	}
	if n[codes.OK] != racers/2 || n[codes.ResourceExhausted] != racers-racers/2 {
		t.Fatalf("racing creates answered %v; want %d OK and %d ResourceExhausted", n, racers/2, racers-racers/2)
	}
	_, err := e.client.CreateFunnel(as(owner.token), &accountsv1.CreateFunnelRequest{SiteId: siteID, Funnel: sampleFunnel()})
	wantCode(t, err, codes.ResourceExhausted, "funnel 101")
	if !strings.Contains(err.Error(), "100") {
		t.Fatalf("limit error %q does not say the limit", err)
	}
	l, err := e.client.ListFunnels(as(owner.token), &accountsv1.ListFunnelsRequest{SiteId: siteID})
	if err != nil {
		t.Fatal(err)
	}
	if len(l.GetFunnels()) != maxFunnelsPerSite {
		t.Fatalf("listed %d funnels, want %d", len(l.GetFunnels()), maxFunnelsPerSite)
	}
}

func TestFunnelBadInput(t *testing.T) {
	e := newEnv(t, BackendSQLite, nil)
	owner := e.signUp("bad@a.example")
	siteID := e.shop(owner).GetId()
	cr, err := e.client.CreateFunnel(as(owner.token), &accountsv1.CreateFunnelRequest{SiteId: siteID, Funnel: sampleFunnel()})
	if err != nil {
		t.Fatal(err)
	}
	long := func(n int) string { return strings.Repeat("é", n) }
	with := func(change func(f *accountsv1.Funnel)) *accountsv1.Funnel {
		f := sampleFunnel()
		change(f)
		return f
	}
	page := func(op searchv1.UrlMatch_Operator, v string) *trafficv1.FunnelStep { return pageStep("", op, v) }
	steps := func(n int) []*trafficv1.FunnelStep {
		out := make([]*trafficv1.FunnelStep, n)
		for i := range out {
			out[i] = eventStep("", "e")
		}
		return out
	}
	eq := searchv1.UrlMatch_OPERATOR_EQUALS
	cases := []struct {
		name    string
		funnel  *accountsv1.Funnel
		mention string
	}{
		{"no funnel", nil, "funnel is required"},
		{"blank name", with(func(f *accountsv1.Funnel) { f.Name = "  \t " }), "funnel.name"},
		{"long name", with(func(f *accountsv1.Funnel) { f.Name = long(101) }), "funnel.name is longer than 100"},
		{"control in name", with(func(f *accountsv1.Funnel) { f.Name = "a\nb" }), "funnel.name contains control"},
		{"one step", with(func(f *accountsv1.Funnel) { f.Steps = steps(1) }), "want 2 to 8 steps, got 1"},
		{"nine steps", with(func(f *accountsv1.Funnel) { f.Steps = steps(9) }), "want 2 to 8 steps, got 9"},
		// On the wire a nil step is an empty one, and a nil page an empty rule.
		{"nil step", with(func(f *accountsv1.Funnel) { f.Steps[1] = nil }), "funnel.steps[1] needs a page rule or an event"},
		{"no match", with(func(f *accountsv1.Funnel) { f.Steps[2] = &trafficv1.FunnelStep{Label: "x"} }), "funnel.steps[2] needs a page rule or an event"},
		{"long label", with(func(f *accountsv1.Funnel) { f.Steps[0].Label = long(101) }), "funnel.steps[0].label is longer than 100"},
		{"control in label", with(func(f *accountsv1.Funnel) { f.Steps[0].Label = "a\x07" }), "funnel.steps[0].label contains control"},
		{"nil page", with(func(f *accountsv1.Funnel) { f.Steps[1].Match = &trafficv1.FunnelStep_Page{} }), "funnel.steps[1].page.operator"},
		{"no operator", with(func(f *accountsv1.Funnel) { f.Steps[1] = page(0, "/x") }), "funnel.steps[1].page.operator"},
		{"unknown operator", with(func(f *accountsv1.Funnel) { f.Steps[1] = page(42, "/x") }), "funnel.steps[1].page.operator"},
		{"empty page value", with(func(f *accountsv1.Funnel) { f.Steps[1] = page(eq, "") }), "funnel.steps[1].page.value"},
		{"long page value", with(func(f *accountsv1.Funnel) { f.Steps[1] = page(eq, "/"+strings.Repeat("a", 2048)) }), "funnel.steps[1].page.value: longer than 2048"},
		{"pattern with many stars", with(func(f *accountsv1.Funnel) {
			f.Steps[1] = page(searchv1.UrlMatch_OPERATOR_PATTERN, strings.Repeat("*a", 17))
		}), "funnel.steps[1].page.value"},
		{"empty event", with(func(f *accountsv1.Funnel) { f.Steps[2] = eventStep("", " ") }), "funnel.steps[2].event must not be empty"},
		{"long event", with(func(f *accountsv1.Funnel) { f.Steps[2] = eventStep("", long(101)) }), "funnel.steps[2].event is longer than 100"},
		{"control in event", with(func(f *accountsv1.Funnel) { f.Steps[2] = eventStep("", "sign\x00up") }), "funnel.steps[2].event contains control"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.client.CreateFunnel(as(owner.token), &accountsv1.CreateFunnelRequest{SiteId: siteID, Funnel: tc.funnel})
			wantCode(t, err, codes.InvalidArgument, "create "+tc.name)
			if !strings.Contains(err.Error(), tc.mention) {
				t.Fatalf("create: error %q does not mention %q", err, tc.mention)
			}
			_, err = e.client.UpdateFunnel(as(owner.token), &accountsv1.UpdateFunnelRequest{SiteId: siteID, FunnelId: cr.GetFunnel().GetId(), Funnel: tc.funnel})
			wantCode(t, err, codes.InvalidArgument, "update "+tc.name)
			if !strings.Contains(err.Error(), tc.mention) {
				t.Fatalf("update: error %q does not mention %q", err, tc.mention)
			}
		})
	}
	// What a gRPC client cannot send (it refuses to marshal invalid UTF-8)
	// another caller of checkFunnel could.
	for _, f := range []*accountsv1.Funnel{
		with(func(f *accountsv1.Funnel) { f.Name = "a\xffb" }),
		with(func(f *accountsv1.Funnel) { f.Steps[0].Label = "a\xffb" }),
		with(func(f *accountsv1.Funnel) { f.Steps[2] = eventStep("", "a\xffb") }),
		with(func(f *accountsv1.Funnel) { f.Steps[1] = page(eq, "/a\xffb") }),
	} {
		_, err := checkFunnel(f)
		wantCode(t, err, codes.InvalidArgument, "invalid UTF-8")
		if !strings.Contains(err.Error(), "UTF-8") {
			t.Fatalf("error %q does not say UTF-8", err)
		}
	}
	if _, err := checkFunnel(with(func(f *accountsv1.Funnel) { f.Steps[1] = nil })); !strings.Contains(err.Error(), "funnel.steps[1] is empty") {
		t.Fatalf("nil step: %v", err)
	}
	if _, err := checkFunnel(with(func(f *accountsv1.Funnel) { f.Steps[1].Match = &trafficv1.FunnelStep_Page{} })); !strings.Contains(err.Error(), "funnel.steps[1].page is empty") {
		t.Fatalf("nil page: %v", err)
	}
	// Ids.
	for _, id := range []int64{0, -1} {
		_, err := e.client.GetFunnel(as(owner.token), &accountsv1.GetFunnelRequest{SiteId: siteID, FunnelId: id})
		wantCode(t, err, codes.InvalidArgument, "get funnel id")
		_, err = e.client.UpdateFunnel(as(owner.token), &accountsv1.UpdateFunnelRequest{SiteId: siteID, FunnelId: id, Funnel: sampleFunnel()})
		wantCode(t, err, codes.InvalidArgument, "update funnel id")
		_, err = e.client.DeleteFunnel(as(owner.token), &accountsv1.DeleteFunnelRequest{SiteId: siteID, FunnelId: id})
		wantCode(t, err, codes.InvalidArgument, "delete funnel id")
		_, err = e.client.ListFunnels(as(owner.token), &accountsv1.ListFunnelsRequest{SiteId: id})
		wantCode(t, err, codes.InvalidArgument, "list funnels of site id")
	}
	// Nothing bad was stored; the first funnel is intact.
	g, err := e.client.GetFunnel(as(owner.token), &accountsv1.GetFunnelRequest{SiteId: siteID, FunnelId: cr.GetFunnel().GetId()})
	if err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(g.GetFunnel(), cr.GetFunnel()) {
		t.Fatalf("a refused update changed the funnel: %v", g.GetFunnel())
	}
	if l, err := e.client.ListFunnels(as(owner.token), &accountsv1.ListFunnelsRequest{SiteId: siteID}); err != nil || len(l.GetFunnels()) != 1 {
		t.Fatalf("funnels after refused creates = %d, %v", len(l.GetFunnels()), err)
	}
	// Eight steps and 100-character texts are fine (the limits are inclusive).
	ok := with(func(f *accountsv1.Funnel) {
		f.Name = long(100)
		f.Steps = steps(8)
		f.Steps[0].Label = long(100)
		f.Steps[1] = eventStep("", long(100))
		f.Steps[2] = page(eq, "/"+strings.Repeat("a", 2047))
	})
	if _, err := e.client.CreateFunnel(as(owner.token), &accountsv1.CreateFunnelRequest{SiteId: siteID, Funnel: ok}); err != nil {
		t.Fatalf("funnel at the limits: %v", err)
	}
}

func TestSiteTimeZone(t *testing.T) {
	forBackends(t, func(t *testing.T, backend string) {
		e := newEnv(t, backend, nil)
		c := e.client
		owner := e.signUp("tz@a.example")
		site := e.shop(owner)
		siteID := site.GetId()
		if tz := site.GetSettings().GetTimeZone(); tz != "" {
			t.Fatalf("a new site's zone = %q, want \"\" (UTC)", tz)
		}
		mask := &fieldmaskpb.FieldMask{Paths: []string{"time_zone"}}
		set := func(tz string) (*accountsv1.UpdateSiteSettingsResponse, error) {
			return c.UpdateSiteSettings(as(owner.token), &accountsv1.UpdateSiteSettingsRequest{SiteId: siteID,
				Settings: &accountsv1.SiteSettings{TimeZone: tz}, UpdateMask: mask})
		}
		for _, tz := range []string{"Europe/Berlin", "America/Argentina/Buenos_Aires", "Etc/GMT+5", "UTC", "America/Port-au-Prince", ""} {
			up, err := set(tz)
			if err != nil {
				t.Fatalf("set %q: %v", tz, err)
			}
			if got := up.GetSettings().GetTimeZone(); got != tz {
				t.Fatalf("set %q answered %q", tz, got)
			}
			// The mask touched only the zone.
			if !up.GetSettings().GetRecordingEnabled() || up.GetSettings().GetRetentionDays() == 0 {
				t.Fatalf("setting the zone changed other settings: %v", up.GetSettings())
			}
			g, err := c.GetSiteSettings(as(owner.token), &accountsv1.GetSiteSettingsRequest{SiteId: siteID})
			if err != nil {
				t.Fatal(err)
			}
			if got := g.GetSettings().GetTimeZone(); got != tz {
				t.Fatalf("after setting %q, GetSiteSettings says %q", tz, got)
			}
			cfg, err := c.GetSiteConfig(as(""), &accountsv1.GetSiteConfigRequest{SiteKey: site.GetSiteKey()})
			if err != nil {
				t.Fatal(err)
			}
			if got := cfg.GetSettings().GetTimeZone(); got != tz {
				t.Fatalf("after setting %q, GetSiteConfig says %q", tz, got)
			}
		}
		if _, err := set(" Asia/Tokyo "); err != nil {
			t.Fatal(err)
		}
		for _, tz := range []string{
			"Local", "localtime", "posixrules", "posix/Europe/Berlin", "right/UTC",
			"../../../../etc/passwd", "Europe/../Europe/Berlin", "/usr/share/zoneinfo/UTC", "/etc/localtime",
			`Europe\Berlin`, "Europe/Berlin\x00", "Europe//Berlin", "Europe/", "Europe/Nowhere", "europe/berlin",
			"Europe/Berlin.", "+01:00", "GMT+01:00", strings.Repeat("A", 65), "Éurope/Berlin",
		} {
			_, err := set(tz)
			wantCode(t, err, codes.InvalidArgument, "zone "+tz)
			if !strings.Contains(err.Error(), "settings.time_zone") {
				t.Fatalf("zone %q: error %q does not name the field", tz, err)
			}
		}
		g, err := c.GetSiteSettings(as(owner.token), &accountsv1.GetSiteSettingsRequest{SiteId: siteID})
		if err != nil {
			t.Fatal(err)
		}
		if got := g.GetSettings().GetTimeZone(); got != "Asia/Tokyo" {
			t.Fatalf("refused zones changed the stored one to %q (want the trimmed Asia/Tokyo)", got)
		}
	})
}
