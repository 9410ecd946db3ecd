package accounts

import (
	"context"
	"testing"

	"google.golang.org/grpc/metadata"

	accountsv1 "github.com/sightlinehq/sightline/gen/sightline/accounts/v1"
)

// The benchmarks call the service in process (no gRPC hop) so they measure
// what accounts adds: validation, the store round trips and the response.

type benchFixture struct {
	e       *env
	user    user
	siteID  int64
	siteKey string
	apiKey  string
}

func newBenchFixture(b *testing.B, backend string) *benchFixture {
	e := newEnv(b, backend, nil)
	u := e.signUp("bench@example.com")
	s, err := e.client.CreateSite(as(u.token), &accountsv1.CreateSiteRequest{OrganizationId: u.org, Name: "Bench",
		Domains: []string{"bench.example.com", "*.bench.example.org"}})
	if err != nil {
		b.Fatal(err)
	}
	k, err := e.client.CreateApiKey(as(u.token), &accountsv1.CreateApiKeyRequest{OrganizationId: u.org, Name: "bench", Role: accountsv1.Role_ROLE_VIEWER})
	if err != nil {
		b.Fatal(err)
	}
	for _, name := range []string{"a", "b", "c"} {
		if _, err := e.client.SetFeatureFlag(as(u.token), &accountsv1.SetFeatureFlagRequest{Flag: &accountsv1.FeatureFlag{Name: name,
			Scope: accountsv1.FeatureFlagScope_FEATURE_FLAG_SCOPE_ORGANIZATION, ScopeId: u.org, Enabled: true}}); err != nil {
			b.Fatal(err)
		}
	}
	return &benchFixture{e: e, user: u, siteID: s.GetSite().GetId(), siteKey: s.GetSite().GetSiteKey(), apiKey: k.GetSecret()}
}

func forBenchBackends(b *testing.B, fn func(b *testing.B, f *benchFixture)) {
	for _, backend := range backends {
		b.Run(backend, func(b *testing.B) { fn(b, newBenchFixture(b, backend)) })
	}
}

func BenchmarkGetSiteConfig(b *testing.B) {
	forBenchBackends(b, func(b *testing.B, f *benchFixture) {
		ctx := context.Background()
		req := &accountsv1.GetSiteConfigRequest{SiteKey: f.siteKey}
		b.ReportAllocs()
		for b.Loop() {
			r, err := f.e.svc.GetSiteConfig(ctx, req)
			if err != nil || len(r.GetDomains()) != 2 || len(r.GetFeatureFlags()) != 3 {
				b.Fatal(r, err)
			}
		}
	})
}

func BenchmarkAuthenticate(b *testing.B) {
	forBenchBackends(b, func(b *testing.B, f *benchFixture) {
		ctx := context.Background()
		for _, c := range []struct {
			name string
			req  *accountsv1.AuthenticateRequest
		}{
			{"session", &accountsv1.AuthenticateRequest{Credential: &accountsv1.AuthenticateRequest_SessionToken{SessionToken: f.user.token}}},
			{"api_key", &accountsv1.AuthenticateRequest{Credential: &accountsv1.AuthenticateRequest_ApiKey{ApiKey: f.apiKey}}},
		} {
			b.Run(c.name, func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					r, err := f.e.svc.Authenticate(ctx, c.req)
					if err != nil || len(r.GetPrincipal().GetMemberships()) != 1 {
						b.Fatal(r, err)
					}
				}
			})
		}
	})
}

// BenchmarkGetSite is the access check other services make with a
// dashboard caller's metadata: caller lookup plus the site read.
func BenchmarkGetSite(b *testing.B) {
	forBenchBackends(b, func(b *testing.B, f *benchFixture) {
		ctx := metadata.NewIncomingContext(context.Background(), metadata.Pairs("authorization", "Bearer "+f.user.token))
		req := &accountsv1.GetSiteRequest{SiteId: f.siteID}
		b.ReportAllocs()
		for b.Loop() {
			if _, err := f.e.svc.GetSite(ctx, req); err != nil {
				b.Fatal(err)
			}
		}
	})
}
