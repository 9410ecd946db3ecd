package assets

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"syscall"
	"time"
)

// ErrForbiddenTarget is returned when a fetch would connect to an address
// that is not public (loopback, private, link-local, ...): the fetcher
// takes URLs from recorded pages, which anyone can make name any host.
var ErrForbiddenTarget = errors.New("assets: target address is not public")

// nonPublic are the ranges a fetch never connects to (besides what
// netip's predicates cover), from the IANA special-purpose registries.
var nonPublic = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),       // "this network"
	netip.MustParsePrefix("100.64.0.0/10"),   // CGNAT shared space
	netip.MustParsePrefix("192.0.0.0/24"),    // IETF protocol assignments
	netip.MustParsePrefix("192.0.2.0/24"),    // documentation
	netip.MustParsePrefix("198.18.0.0/15"),   // benchmarking
	netip.MustParsePrefix("198.51.100.0/24"), // documentation
	netip.MustParsePrefix("203.0.113.0/24"),  // documentation
	netip.MustParsePrefix("240.0.0.0/4"),     // reserved, and broadcast
	netip.MustParsePrefix("64:ff9b:1::/48"),  // local-use NAT64
	netip.MustParsePrefix("100::/64"),        // discard
	netip.MustParsePrefix("2001:db8::/32"),   // documentation
	netip.MustParsePrefix("fec0::/10"),       // deprecated site-local
}

// PublicAddr reports whether a fetch may connect to ip: a global unicast
// address outside every special-purpose range. IPv4-mapped, NAT64
// (64:ff9b::/96), 6to4 (2002::/16) and Teredo addresses are judged by the
// IPv4 address they carry.
func PublicAddr(ip netip.Addr) bool {
	ip = ip.Unmap().WithZone("")
	if !ip.IsValid() {
		return false
	}
	if ip.Is6() {
		b := ip.As16()
		switch {
		case netip.MustParsePrefix("64:ff9b::/96").Contains(ip):
			return PublicAddr(netip.AddrFrom4([4]byte(b[12:16])))
		case netip.MustParsePrefix("2002::/16").Contains(ip):
			return PublicAddr(netip.AddrFrom4([4]byte(b[2:6])))
		case netip.MustParsePrefix("2001::/32").Contains(ip):
			// Teredo: the client's address is the last 32 bits, inverted.
			v4 := [4]byte{^b[12], ^b[13], ^b[14], ^b[15]}
			return PublicAddr(netip.AddrFrom4(v4))
		}
	}
	if !ip.IsGlobalUnicast() || ip.IsPrivate() || ip.IsLoopback() || ip.IsLinkLocalUnicast() ||
		ip.IsMulticast() || ip.IsUnspecified() {
		return false
	}
	for _, p := range nonPublic {
		if p.Contains(ip) {
			return false
		}
	}
	return true
}

// Resolver looks up a host's addresses (*net.Resolver is one; tests give
// their own to name private addresses without DNS).
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// guardedDialer connects only to addresses PublicAddr accepts (unless
// allowPrivate). It resolves the host itself and dials the checked address,
// so no second lookup can answer differently (DNS rebinding); the socket's
// Control hook checks the address once more just before connect.
type guardedDialer struct {
	resolver     Resolver
	allowPrivate bool
	// allow are ranges an operator opened besides public addresses.
	allow  []netip.Prefix
	dialer net.Dialer
	// afterGuard, when set (tests only), sees every address the guard let
	// through, just before connect: tests use it to make sure that even a
	// broken guard sends nothing beyond loopback.
	afterGuard func(address string) error
}

func newGuardedDialer(r Resolver, allowPrivate bool, allow []netip.Prefix, connectTimeout time.Duration) *guardedDialer {
	if r == nil {
		r = net.DefaultResolver
	}
	g := &guardedDialer{resolver: r, allowPrivate: allowPrivate, allow: allow}
	g.dialer = net.Dialer{Timeout: connectTimeout, Control: g.control}
	return g
}

func (g *guardedDialer) allowed(ip netip.Addr) bool {
	if g.allowPrivate || PublicAddr(ip) {
		return true
	}
	ip = ip.Unmap()
	for _, p := range g.allow {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// control runs after the socket is made and before it connects.
func (g *guardedDialer) control(network, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("%w: %s", ErrForbiddenTarget, address)
	}
	if !g.allowed(ap.Addr()) {
		return fmt.Errorf("%w: %s", ErrForbiddenTarget, ap.Addr())
	}
	if g.afterGuard != nil {
		return g.afterGuard(address)
	}
	return nil
}

// DialContext resolves addr's host, refuses it when any of its addresses
// is not allowed (a name that mixes public and private answers is a
// rebinding attempt), then dials the addresses in turn.
func (g *guardedDialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	var ips []netip.Addr
	if ip, err := netip.ParseAddr(host); err == nil {
		ips = []netip.Addr{ip}
	} else {
		ips, err = g.resolver.LookupNetIP(ctx, "ip", host)
		if err != nil {
			return nil, fmt.Errorf("assets: resolve %s: %w", host, err)
		}
		if len(ips) == 0 {
			return nil, fmt.Errorf("assets: resolve %s: no addresses", host)
		}
	}
	for _, ip := range ips {
		if !g.allowed(ip) {
			return nil, fmt.Errorf("%w: %s resolves to %s", ErrForbiddenTarget, host, ip.Unmap())
		}
	}
	var errs []error
	for _, ip := range ips {
		c, err := g.dialer.DialContext(ctx, network, net.JoinHostPort(ip.Unmap().String(), port))
		if err == nil {
			return c, nil
		}
		errs = append(errs, err)
		if ctx.Err() != nil {
			break
		}
	}
	return nil, errors.Join(errs...)
}
