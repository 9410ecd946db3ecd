package ingest

import (
	"net/http"
	"net/netip"
	"strings"
)

// clientIP is the visitor's address: the peer, or, when the peer is a
// trusted proxy, the right-most X-Forwarded-For entry that is not one.
func (s *Service) clientIP(r *http.Request) netip.Addr {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return netip.Addr{}
	}
	ip := ap.Addr().Unmap()
	if !s.trusted(ip) {
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
			if !s.trusted(a) {
				return a
			}
			ip = a
		}
	}
	return ip
}

func (s *Service) fromTrustedProxy(r *http.Request) bool {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	return err == nil && s.trusted(ap.Addr().Unmap())
}

func (s *Service) trusted(ip netip.Addr) bool {
	for _, p := range s.cfg.trusted {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// rateKey groups IPv6 clients by /64 (one host's usual allocation).
func rateKey(ip netip.Addr) string {
	if ip.Is6() {
		p, _ := ip.Prefix(64)
		return p.String()
	}
	return ip.String()
}
