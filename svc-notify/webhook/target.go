package webhook

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strings"
	"syscall"
	"time"
)

// MaxURLBytes bounds a webhook URL.
const MaxURLBytes = 2048

// ErrForbiddenTarget is wrapped when a URL names, or a host resolves to, an
// address that is not public (loopback, private, link-local, …) and private
// targets are not allowed: webhook URLs come from users, who must not reach
// the operator's internal network through Sightline.
var ErrForbiddenTarget = errors.New("webhook: target is not a public address")

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
	nat64   = netip.MustParsePrefix("64:ff9b::/96")
	sixTo4  = netip.MustParsePrefix("2002::/16")
	teredo  = netip.MustParsePrefix("2001::/32")
	privTLD = []string{"localhost", "local", "internal", "home.arpa"}
)

// PublicAddr reports whether deliveries may go to ip: global unicast and
// outside every special-purpose range. IPv4-mapped, NAT64, 6to4 and Teredo
// addresses are judged by the IPv4 address they carry.
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

// CheckURL says whether raw may be a webhook's URL, with a message fit for
// the user who typed it: an absolute http or https URL of at most
// MaxURLBytes with a host, no user name or password and no fragment. Unless
// allowPrivate, a host that is a non-public IP literal, "localhost" or a
// name under .localhost, .local, .internal or .home.arpa is refused
// (wrapping ErrForbiddenTarget). Names are resolved only when a delivery
// dials (Sender), where every address is checked again.
func CheckURL(raw string, allowPrivate bool) error {
	if raw == "" {
		return errors.New("webhook URL is required")
	}
	if len(raw) > MaxURLBytes {
		return fmt.Errorf("webhook URL is longer than %d bytes", MaxURLBytes)
	}
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("webhook URL is not a valid URL: %w", unwrapURLError(err))
	}
	if u.Scheme != "https" && u.Scheme != "http" {
		return errors.New("webhook URL must start with https:// (or http://)")
	}
	if u.Opaque != "" || u.Host == "" {
		return errors.New("webhook URL has no host")
	}
	if u.User != nil {
		return errors.New("webhook URL must not contain a user name or password")
	}
	if u.Fragment != "" || strings.Contains(raw, "#") {
		return errors.New("webhook URL must not contain a fragment (#…)")
	}
	host := u.Hostname()
	if host == "" {
		return errors.New("webhook URL has no host")
	}
	if p := u.Port(); p != "" {
		if n, err := parsePort(p); err != nil || n == 0 {
			return fmt.Errorf("webhook URL has an invalid port %q", p)
		}
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		if !allowPrivate && !PublicAddr(ip) {
			return fmt.Errorf("%w: %s is a %s address; use a publicly reachable URL", ErrForbiddenTarget, ip.Unmap(), addrKind(ip))
		}
		return nil
	}
	name := strings.TrimSuffix(strings.ToLower(host), ".")
	if err := checkHostname(name); err != nil {
		return err
	}
	if !allowPrivate {
		for _, tld := range privTLD {
			if name == tld || strings.HasSuffix(name, "."+tld) {
				return fmt.Errorf("%w: %s names this network, not the internet; use a publicly reachable URL", ErrForbiddenTarget, host)
			}
		}
	}
	return nil
}

// checkHostname refuses what is neither a DNS name nor an IP literal; in
// particular numeric forms such as "2130706433" or "0x7f.1" that some
// resolvers (inet_aton) read as IPv4 addresses.
func checkHostname(name string) error {
	if len(name) > 253 {
		return errors.New("webhook URL's host name is longer than 253 bytes")
	}
	labels := strings.Split(name, ".")
	for _, l := range labels {
		if l == "" || len(l) > 63 {
			return fmt.Errorf("webhook URL's host %q is not a valid host name", name)
		}
		for i := 0; i < len(l); i++ {
			c := l[i]
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return fmt.Errorf("webhook URL's host %q is not a valid host name (internationalised names must be in punycode, xn--…)", name)
			}
		}
	}
	if numericLabel(labels[len(labels)-1]) {
		return fmt.Errorf("webhook URL's host %q is not a valid IP address or host name", name)
	}
	return nil
}

// numericLabel: all digits, or 0x + hex (no top-level domain looks so).
func numericLabel(l string) bool {
	if rest, ok := strings.CutPrefix(l, "0x"); ok {
		l = rest
		for i := 0; i < len(l); i++ {
			c := l[i]
			if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
				return false
			}
		}
		return true
	}
	for i := 0; i < len(l); i++ {
		if l[i] < '0' || l[i] > '9' {
			return false
		}
	}
	return true
}

func parsePort(p string) (int, error) {
	if len(p) > 5 {
		return 0, errors.New("port too long")
	}
	n := 0
	for i := 0; i < len(p); i++ {
		if p[i] < '0' || p[i] > '9' {
			return 0, errors.New("port not numeric")
		}
		n = n*10 + int(p[i]-'0')
	}
	if n > 65535 {
		return 0, errors.New("port out of range")
	}
	return n, nil
}

// addrKind names why an address is not public, for the user.
func addrKind(ip netip.Addr) string {
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

func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// Resolver looks up a host's addresses (*net.Resolver is one; tests give
// their own to make a public-looking name resolve to a private address).
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// guardedDialer connects only to public addresses. It resolves the host
// itself and dials the checked address, so a second lookup cannot answer
// differently (DNS rebinding), and the socket's Control hook checks the
// address once more just before connect.
type guardedDialer struct {
	resolver Resolver
	dialer   net.Dialer
	// afterGuard, when set (tests only), sees every address the guard let
	// through just before connect, and may stop the connect.
	afterGuard func(address string) error
}

func newGuardedDialer(r Resolver, connectTimeout time.Duration, afterGuard func(string) error) *guardedDialer {
	if r == nil {
		r = net.DefaultResolver
	}
	g := &guardedDialer{resolver: r, afterGuard: afterGuard}
	g.dialer = net.Dialer{Timeout: connectTimeout, KeepAlive: 30 * time.Second, Control: g.control}
	return g
}

// control runs after the socket is made and before it connects.
func (g *guardedDialer) control(_, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil || !PublicAddr(ap.Addr()) {
		return fmt.Errorf("%w: %s", ErrForbiddenTarget, address)
	}
	if g.afterGuard != nil {
		return g.afterGuard(address)
	}
	return nil
}

// DialContext resolves addr's host, refuses it when any of its addresses
// is not public (a name mixing public and private answers is a rebinding
// attempt), then dials the addresses in turn.
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
			return nil, fmt.Errorf("webhook: resolve %s: %w", host, err)
		}
		if len(ips) == 0 {
			return nil, fmt.Errorf("webhook: resolve %s: no addresses", host)
		}
	}
	for _, ip := range ips {
		if !PublicAddr(ip) {
			return nil, fmt.Errorf("%w: %s resolves to %s (%s)", ErrForbiddenTarget, host, ip.Unmap(), addrKind(ip))
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
