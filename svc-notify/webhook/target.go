package webhook

import (
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"strings"

	"github.com/sightlinehq/sightline/netguard"
)

// MaxURLBytes bounds a webhook URL.
const MaxURLBytes = 2048

// ErrForbiddenTarget is wrapped when a URL names, or a host resolves to, an
// address that is not public (loopback, private, link-local, …) and private
// targets are not allowed: webhook URLs come from users, who must not reach
// the operator's internal network through Sightline.
var ErrForbiddenTarget = errors.New("webhook: target is not a public address")

// privTLD are names of this network, not the internet.
var privTLD = []string{"localhost", "local", "internal", "home.arpa"}

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
		if !allowPrivate && !netguard.PublicAddr(ip) {
			return fmt.Errorf("%w: %s is a %s address; use a publicly reachable URL", ErrForbiddenTarget, ip.Unmap(), netguard.AddrKind(ip))
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

func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// Resolver looks up a host's addresses (*net.Resolver is one; tests give
// their own to make a public-looking name resolve to a private address).
type Resolver = netguard.Resolver
