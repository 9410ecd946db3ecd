package siteconfig

import svcaccounts "github.com/sightlinehq/sightline/svc-accounts"

// MatchDomain reports whether host (from an Origin header or a page URL;
// case, a trailing dot and a port are ignored) is one of the site's domain
// patterns as accounts stores them: "example.com" matches exactly,
// "*.example.com" any subdomain but not the apex. It is accounts' own
// matcher, so the dashboard and the edge agree on what a domain allows.
func MatchDomain(patterns []string, host string) bool {
	return svcaccounts.MatchDomain(patterns, host)
}
