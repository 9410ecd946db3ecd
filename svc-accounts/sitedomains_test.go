package accounts

import (
	"slices"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	accountsv1 "github.com/sightlinehq/sightline/gen/sightline/accounts/v1"
)

// Two organisations list the same domain, each on its own "Demo shop"
// (data never mixes: ingest finds a site by its key); within one
// organisation a domain stays on one site, and the refusal names only the
// caller's own site.
func TestDomainSharedAcrossOrganizations(t *testing.T) {
	forBackends(t, func(t *testing.T, backend string) {
		e := newEnv(t, backend, nil)
		c := e.client
		first, second := e.signUp("first@example.com"), e.signUp("second@example.com")
		var sites []*accountsv1.Site
		for _, u := range []user{first, second} {
			r, err := c.CreateSite(as(u.token), &accountsv1.CreateSiteRequest{OrganizationId: u.org, Name: "Demo shop", Domains: []string{"127.0.0.1"}})
			if err != nil {
				t.Fatalf("create the demo shop of organisation %d: %v", u.org, err)
			}
			sites = append(sites, r.GetSite())
		}
		a, err := c.AddSiteDomain(as(second.token), &accountsv1.AddSiteDomainRequest{SiteId: sites[1].GetId(), Domain: "Shop.Example.com"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.AddSiteDomain(as(first.token), &accountsv1.AddSiteDomainRequest{SiteId: sites[0].GetId(), Domain: "shop.example.com"}); err != nil {
			t.Fatalf("first organisation adding the second's domain: %v", err)
		}
		if !slices.Equal(a.GetSite().GetDomains(), []string{"127.0.0.1", "shop.example.com"}) {
			t.Fatalf("second organisation's domains = %v", a.GetSite().GetDomains())
		}
		for i, s := range sites {
			cfg, err := c.GetSiteConfig(as(""), &accountsv1.GetSiteConfigRequest{SiteKey: s.GetSiteKey()})
			if err != nil {
				t.Fatal(err)
			}
			if cfg.GetSiteId() != s.GetId() || cfg.GetOrganizationId() != s.GetOrganizationId() || !slices.Equal(cfg.GetDomains(), []string{"127.0.0.1", "shop.example.com"}) {
				t.Fatalf("config of site %d's key = site %d org %d domains %v", i, cfg.GetSiteId(), cfg.GetOrganizationId(), cfg.GetDomains())
			}
		}
		// Within the second organisation the domain is on its own site.
		blog, err := c.CreateSite(as(second.token), &accountsv1.CreateSiteRequest{OrganizationId: second.org, Name: "Blog"})
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.AddSiteDomain(as(second.token), &accountsv1.AddSiteDomainRequest{SiteId: blog.GetSite().GetId(), Domain: "127.0.0.1"})
		wantMessage(t, err, codes.AlreadyExists, `127.0.0.1 is already on your site "Demo shop"`)
		_, err = c.AddSiteDomain(as(second.token), &accountsv1.AddSiteDomainRequest{SiteId: sites[1].GetId(), Domain: "SHOP.example.com"})
		wantMessage(t, err, codes.AlreadyExists, `shop.example.com is already on your site "Demo shop"`)
		_, err = c.CreateSite(as(first.token), &accountsv1.CreateSiteRequest{OrganizationId: first.org, Name: "Copy", Domains: []string{"x.example.net", "127.0.0.1"}})
		wantMessage(t, err, codes.AlreadyExists, `127.0.0.1 is already on your site "Demo shop"`)
	})
}

// wantMessage checks err's code and its whole message.
func wantMessage(t *testing.T, err error, code codes.Code, msg string) {
	t.Helper()
	if s := status.Convert(err); s.Code() != code || s.Message() != msg {
		t.Fatalf("error = %v %q, want %v %q", s.Code(), s.Message(), code, msg)
	}
}
