// Package sitedomain holds the rules for a site's domain patterns: the
// stored form accounts validates a pattern into (Normalize) and the test
// the edge applies to an Origin or page host (Match). Accounts and ingest
// share it so the dashboard and the edge agree on what a domain allows,
// without ingest importing accounts (and its database drivers).
package sitedomain

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"

	"golang.org/x/net/idna"
	"golang.org/x/net/publicsuffix"
)

// MaxLen bounds a pattern in bytes, as DNS bounds a name.
const MaxLen = 253

var profile = idna.New(idna.MapForLookup(), idna.BidiRule(), idna.ValidateLabels(true),
	idna.StrictDomainName(true), idna.VerifyDNSLength(true), idna.Transitional(false))

// Normalize validates a site domain pattern and returns its stored
// form: an exact host ("shop.example.com", "bücher.example" → punycode,
// "localhost", an IPv4 address) or a wildcard "*.example.com". Schemes,
// paths, ports, user info and wildcards on a public suffix ("*.com",
// "*.co.uk") are refused.
func Normalize(v string) (string, error) {
	v = strings.TrimSuffix(strings.ToLower(strings.TrimSpace(v)), ".")
	if v == "" {
		return "", errors.New("domain must not be empty")
	}
	if len(v) > MaxLen {
		return "", fmt.Errorf("domain %q is longer than %d characters", trunc(v), MaxLen)
	}
	if strings.Contains(v, "://") {
		return "", fmt.Errorf("domain %q must be a host name without a scheme (e.g. shop.example.com)", trunc(v))
	}
	if strings.HasSuffix(v, ".") { // "x.com.." would be stored as "x.com.", which no host matches
		return "", fmt.Errorf("domain %q has an empty label", trunc(v))
	}
	if strings.ContainsAny(v, "/?#@:[] \t\\") {
		return "", fmt.Errorf("domain %q must be a bare host name: no path, port or user", trunc(v))
	}
	if a, err := netip.ParseAddr(v); err == nil && a.Is4() {
		return v, nil
	}
	wild := false
	if rest, ok := strings.CutPrefix(v, "*."); ok {
		wild, v = true, rest
	}
	if strings.Contains(v, "*") {
		return "", fmt.Errorf("domain %q: a wildcard is only allowed as the whole first label (*.example.com)", trunc(v))
	}
	ascii, err := profile.ToASCII(v)
	if err != nil {
		return "", fmt.Errorf("domain %q is not a valid host name: %w", trunc(v), err)
	}
	if wild {
		if !strings.Contains(ascii, ".") {
			return "", fmt.Errorf("wildcard *.%s is too broad: use at least *.example.com", ascii)
		}
		if _, err := publicsuffix.EffectiveTLDPlusOne(ascii); err != nil {
			return "", fmt.Errorf("wildcard *.%s covers a public suffix", ascii)
		}
		return "*." + ascii, nil
	}
	return ascii, nil
}

// trunc keeps an error message about a long input readable.
func trunc(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}

// Match reports whether host (as in an Origin or Referer: case, a
// trailing dot and a port are ignored) is allowed by patterns in their
// stored form. An exact pattern matches only that host. A wildcard
// "*.example.com" matches every subdomain at any depth — a.example.com and
// a.b.example.com — but NOT the apex example.com itself (as Hotjar does);
// add "example.com" as well to allow the apex.
func Match(patterns []string, host string) bool {
	host = strings.ToLower(host)
	if strings.HasPrefix(host, "[") { // [v6]:port
		if i := strings.IndexByte(host, ']'); i > 0 {
			host = host[1:i]
		}
	} else if i := strings.LastIndexByte(host, ':'); i >= 0 && strings.Count(host, ":") == 1 {
		host = host[:i]
	}
	host = strings.TrimSuffix(host, ".")
	if host == "" {
		return false
	}
	for _, p := range patterns {
		if rest, ok := strings.CutPrefix(p, "*."); ok {
			if len(host) > len(rest)+1 && strings.HasSuffix(host, rest) && host[len(host)-len(rest)-1] == '.' {
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
