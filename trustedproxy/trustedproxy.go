// Package trustedproxy finds the client of an HTTP request that may have
// come through reverse proxies: X-Forwarded-For and X-Forwarded-Proto are
// believed only from the proxies the operator lists, since anyone else can
// write them.
package trustedproxy

import (
	"fmt"
	"net/http"
	"net/netip"
	"strings"
)

// List holds the networks of the trusted proxies.
type List []netip.Prefix

// Parse reads a comma list of CIDRs or bare addresses (one host each);
// flag names the setting in errors.
func Parse(flag, list string) (List, error) {
	var l List
	for _, s := range strings.Split(list, ",") {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		p, err := netip.ParsePrefix(s)
		if err != nil {
			a, err2 := netip.ParseAddr(s)
			if err2 != nil {
				return nil, fmt.Errorf("%s: %q: %w", flag, s, err)
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		l = append(l, p.Masked())
	}
	return l, nil
}

// Contains reports whether ip is a trusted proxy.
func (l List) Contains(ip netip.Addr) bool {
	for _, p := range l {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// ClientIP is the client's address: the peer, or, when the peer is a
// trusted proxy, the right-most X-Forwarded-For entry that is not one. The
// zero Addr when the peer is not an address.
func (l List) ClientIP(r *http.Request) netip.Addr {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return netip.Addr{}
	}
	ip := ap.Addr().Unmap()
	if !l.Contains(ip) {
		return ip
	}
	xff := r.Header.Values("X-Forwarded-For")
	for i := len(xff) - 1; i >= 0; i-- {
		parts := strings.Split(xff[i], ",")
		for j := len(parts) - 1; j >= 0; j-- {
			a, err := netip.ParseAddr(strings.TrimSpace(parts[j]))
			if err != nil {
				return ip // garbage from an untrusted hop: stop at what we know
			}
			a = a.Unmap()
			if !l.Contains(a) {
				return a
			}
			ip = a
		}
	}
	return ip
}

// FromProxy reports whether the peer of r is a trusted proxy (whose
// X-Forwarded-Proto may be believed).
func (l List) FromProxy(r *http.Request) bool {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	return err == nil && l.Contains(ap.Addr().Unmap())
}
