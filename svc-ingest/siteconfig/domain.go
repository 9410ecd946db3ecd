package siteconfig

import "strings"

// MatchDomain reports whether host matches one of the site's domain
// patterns: "example.com" matches exactly, "*.example.com" matches any
// subdomain but not the apex. Comparison is case-insensitive; a trailing dot
// and a port on host are ignored.
//
// It has the semantics of accounts.MatchDomain; ingest keeps its own copy so
// that the edge does not link the accounts service and its stores.
func MatchDomain(patterns []string, host string) bool {
	host = strings.ToLower(strings.TrimSuffix(stripPort(host), "."))
	if host == "" {
		return false
	}
	for _, p := range patterns {
		p = strings.ToLower(strings.TrimSuffix(strings.TrimSpace(p), "."))
		if rest, ok := strings.CutPrefix(p, "*."); ok {
			if rest != "" && len(host) > len(rest)+1 && strings.HasSuffix(host, rest) && host[len(host)-len(rest)-1] == '.' {
				return true
			}
			continue
		}
		if p == host {
			return true
		}
	}
	return false
}

func stripPort(host string) string {
	if strings.HasPrefix(host, "[") { // [v6]:port
		if i := strings.IndexByte(host, ']'); i > 0 {
			return host[1:i]
		}
		return host
	}
	if i := strings.LastIndexByte(host, ':'); i >= 0 && strings.Count(host, ":") == 1 {
		return host[:i]
	}
	return host
}
