package siteconfig

import "github.com/sightlinehq/sightline/sitedomain"

// MatchDomain reports whether host (from an Origin header or a page URL)
// is allowed by the site's domain patterns: sitedomain.Match, the rule
// accounts validates the patterns against, so the dashboard and the edge
// agree on what a domain allows.
func MatchDomain(patterns []string, host string) bool {
	return sitedomain.Match(patterns, host)
}
