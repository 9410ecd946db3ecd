// Package netguard keeps outbound connections made on behalf of users
// (webhook deliveries, page-asset fetches) off addresses that are not
// public: loopback, private, link-local and the other special-purpose
// ranges, so that nobody reaches the operator's internal network through
// Sightline (SSRF). PublicAddr judges one address; Dialer resolves a host
// itself, refuses it when any answer is not allowed and checks the address
// once more at connect time.
package netguard

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"syscall"
	"time"
)

// ErrForbidden is wrapped when a connection would go to an address that is
// not allowed (unless Config.Forbidden names the caller's own error).
var ErrForbidden = errors.New("netguard: target is not a public address")

// nonPublic are special-purpose ranges (IANA registries) besides what
// netip's predicates cover.
var nonPublic = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),       // "this network"
	netip.MustParsePrefix("100.64.0.0/10"),   // CGNAT shared space
	netip.MustParsePrefix("192.0.0.0/24"),    // IETF protocol assignments
	netip.MustParsePrefix("192.0.2.0/24"),    // documentation
	netip.MustParsePrefix("198.18.0.0/15"),   // benchmarking
	netip.MustParsePrefix("198.51.100.0/24"), // documentation
	netip.MustParsePrefix("203.0.113.0/24"),  // documentation
	netip.MustParsePrefix("240.0.0.0/4"),     // reserved, and broadcast
	netip.MustParsePrefix("::/96"),           // IPv4-compatible (deprecated)
	netip.MustParsePrefix("64:ff9b:1::/48"),  // local-use NAT64
	netip.MustParsePrefix("2001:2::/48"),     // benchmarking
	netip.MustParsePrefix("100::/64"),        // discard
	netip.MustParsePrefix("2001:db8::/32"),   // documentation
	netip.MustParsePrefix("fec0::/10"),       // deprecated site-local
}

var (
	nat64  = netip.MustParsePrefix("64:ff9b::/96")
	sixTo4 = netip.MustParsePrefix("2002::/16")
	teredo = netip.MustParsePrefix("2001::/32")
)

// PublicAddr reports whether ip is global unicast and outside every
// special-purpose range. IPv4-mapped, NAT64, 6to4 and Teredo addresses are
// judged by the IPv4 address they carry.
func PublicAddr(ip netip.Addr) bool {
	ip = ip.Unmap().WithZone("")
	if !ip.IsValid() {
		return false
	}
	if ip.Is6() {
		b := ip.As16()
		switch {
		case nat64.Contains(ip):
			return PublicAddr(netip.AddrFrom4([4]byte(b[12:16])))
		case sixTo4.Contains(ip):
			return PublicAddr(netip.AddrFrom4([4]byte(b[2:6])))
		case teredo.Contains(ip):
			// The client's address is the last 32 bits, inverted.
			return PublicAddr(netip.AddrFrom4([4]byte{^b[12], ^b[13], ^b[14], ^b[15]}))
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

// AddrKind names why an address is not public, for a message to a user.
func AddrKind(ip netip.Addr) string {
	ip = ip.Unmap()
	switch {
	case ip.IsLoopback():
		return "loopback"
	case ip.IsPrivate():
		return "private"
	case ip.IsLinkLocalUnicast(), ip.IsLinkLocalMulticast():
		return "link-local"
	case ip.IsUnspecified():
		return "unspecified"
	case ip.IsMulticast():
		return "multicast"
	}
	return "reserved"
}

// Resolver looks up a host's addresses (*net.Resolver is one; tests give
// their own to make a public-looking name resolve to a private address).
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// Config says what a Dialer lets through and how it connects.
type Config struct {
	// Resolver looks up hosts (nil: the system's).
	Resolver Resolver
	// AllowPrivate lets every address through (the checks are off).
	AllowPrivate bool
	// Allow are non-public ranges let through all the same (an operator's
	// internal sites).
	Allow []netip.Prefix
	// ConnectTimeout and KeepAlive are net.Dialer's.
	ConnectTimeout time.Duration
	KeepAlive      time.Duration
	// Forbidden is the error wrapped on a refusal (nil: ErrForbidden).
	Forbidden error
	// Prefix starts resolve errors ("webhook" gives "webhook: resolve …").
	Prefix string
	// AfterGuard, when set (tests), sees every address the guard let
	// through just before connect, and may stop the connect: tests use it
	// so that even a broken guard sends nothing beyond loopback.
	AfterGuard func(address string) error
}

// Dialer connects only to allowed addresses. It resolves the host itself
// and dials the checked address, so a second lookup cannot answer
// differently (DNS rebinding), and the socket's Control hook checks the
// address once more just before connect.
type Dialer struct {
	cfg    Config
	dialer net.Dialer
}

// NewDialer builds a Dialer from cfg.
func NewDialer(cfg Config) *Dialer {
	if cfg.Resolver == nil {
		cfg.Resolver = net.DefaultResolver
	}
	if cfg.Forbidden == nil {
		cfg.Forbidden = ErrForbidden
	}
	if cfg.Prefix == "" {
		cfg.Prefix = "netguard"
	}
	d := &Dialer{cfg: cfg}
	d.dialer = net.Dialer{Timeout: cfg.ConnectTimeout, KeepAlive: cfg.KeepAlive, Control: d.Control}
	return d
}

// Allowed reports whether the dialer may connect to ip.
func (d *Dialer) Allowed(ip netip.Addr) bool {
	if d.cfg.AllowPrivate || PublicAddr(ip) {
		return true
	}
	ip = ip.Unmap()
	for _, p := range d.cfg.Allow {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// Control runs after the socket is made and before it connects (it is
// net.Dialer's Control hook).
func (d *Dialer) Control(_, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil || !d.Allowed(ap.Addr()) {
		return fmt.Errorf("%w: %s", d.cfg.Forbidden, address)
	}
	if d.cfg.AfterGuard != nil {
		return d.cfg.AfterGuard(address)
	}
	return nil
}

// DialContext resolves addr's host, refuses it when any of its addresses
// is not allowed (a name mixing public and private answers is a rebinding
// attempt), then dials the addresses in turn.
func (d *Dialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	var ips []netip.Addr
	if ip, err := netip.ParseAddr(host); err == nil {
		ips = []netip.Addr{ip}
	} else {
		ips, err = d.cfg.Resolver.LookupNetIP(ctx, "ip", host)
		if err != nil {
			return nil, fmt.Errorf("%s: resolve %s: %w", d.cfg.Prefix, host, err)
		}
		if len(ips) == 0 {
			return nil, fmt.Errorf("%s: resolve %s: no addresses", d.cfg.Prefix, host)
		}
	}
	for _, ip := range ips {
		if !d.Allowed(ip) {
			return nil, fmt.Errorf("%w: %s resolves to %s (%s)", d.cfg.Forbidden, host, ip.Unmap(), AddrKind(ip))
		}
	}
	var errs []error
	for _, ip := range ips {
		c, err := d.dialer.DialContext(ctx, network, net.JoinHostPort(ip.Unmap().String(), port))
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
