package ingest

import "net/netip"

// rateKey groups IPv6 clients by /64 (one host's usual allocation).
func rateKey(ip netip.Addr) string {
	if ip.Is6() {
		p, _ := ip.Prefix(64)
		return p.String()
	}
	return ip.String()
}
