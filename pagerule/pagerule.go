// Package pagerule is the one definition of "which pages": the page key a
// URL is counted under (heatmaps aggregate by it) and the rules a user
// writes to pick pages (exact, starts with, contains, pattern). Recordings
// (heatmaps) and search (the visited-page filter) both match with it, so a
// heatmap's pages and the recordings it links to are the same pages.
package pagerule

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"unicode/utf8"
)

// MaxKey is the longest page key; longer ones end in a hash of the rest, so
// two long URLs stay apart.
const MaxKey = 240

// MaxValue bounds a rule's value.
const MaxValue = 2048

// Key is the page key of a URL: "scheme://host/path" with the host
// lower-cased, the default port, query and fragment dropped, and a
// trailing slash dropped (except the root's). Pages that differ only in
// query string (utm tags, sort orders) are one page. It answers "" for
// what is not an http(s) URL.
func Key(raw string) string {
	if k, ok := plainKey(raw); ok {
		return k
	}
	return parsedKey(raw)
}

// parsedKey is Key by net/url: the definition, which plainKey must agree
// with (FuzzKey).
func parsedKey(raw string) string {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return ""
	}
	host := strings.ToLower(u.Hostname())
	if p := u.Port(); p != "" && !(u.Scheme == "http" && p == "80") && !(u.Scheme == "https" && p == "443") {
		host = net.JoinHostPort(host, p)
	} else if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	path := u.EscapedPath()
	if path == "" {
		path = "/"
	}
	if len(path) > 1 {
		path = strings.TrimRight(path, "/")
		if path == "" {
			path = "/"
		}
	}
	return clip(u.Scheme + "://" + host + path)
}

// plainKey is Key of the URLs pages mostly have — a lower-case http(s)
// scheme and host of letters, digits, dots and dashes, a path of
// characters net/url leaves as they are, any query, a fragment without
// escapes, no control character — without parsing it (Key was most of
// what a chunk's page costs heatmaps in append profiles); ok is false for
// any other URL, which parsedKey reads.
func plainKey(raw string) (key string, ok bool) {
	var rest string
	switch {
	case strings.HasPrefix(raw, "https://"):
		rest = raw[len("https://"):]
	case strings.HasPrefix(raw, "http://"):
		rest = raw[len("http://"):]
	default:
		return "", false
	}
	i := 0
	for i < len(rest) && hostByte(rest[i]) {
		i++
	}
	if i == 0 || i < len(rest) && rest[i] != '/' && rest[i] != '?' && rest[i] != '#' {
		return "", false
	}
	p := i
	for p < len(rest) && pathByte(rest[p]) {
		p++
	}
	if p < len(rest) && rest[p] != '?' && rest[p] != '#' {
		return "", false
	}
	// What follows the path is dropped, but net/url refuses a URL with a
	// control character anywhere, or a fragment with a bad escape. (Space
	// that Key trims can only follow the path: it ends host and path.)
	frag := false
	for j := p; j < len(rest); j++ {
		c := rest[j]
		if c < 0x20 || c == 0x7f || c == '%' && frag {
			return "", false
		}
		frag = frag || c == '#'
	}
	path := rest[i:p]
	if len(path) > 1 {
		path = strings.TrimRight(path, "/")
	}
	if path == "" {
		path = "/"
	}
	end := len(raw) - len(rest) + i
	if path == rest[i:p] && len(path) > 0 {
		// The key is a prefix of raw: no allocation.
		return clip(raw[:end+len(path)]), true
	}
	return clip(raw[:end] + path), true
}

// hostByte: a byte of a host net/url reads as it is (no upper case, port,
// user info, IPv6 brackets or escapes).
func hostByte(c byte) bool {
	return 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '.' || c == '-'
}

// pathByte: a byte of a path EscapedPath leaves as it is.
func pathByte(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	switch c {
	case '-', '_', '.', '~', '$', '&', '+', ',', '/', ':', ';', '=', '@':
		return true
	}
	return false
}

func clip(k string) string {
	if len(k) <= MaxKey {
		return k
	}
	sum := sha256.Sum256([]byte(k))
	n := MaxKey - 17
	for n > 0 && !utf8.RuneStart(k[n]) {
		n--
	}
	return k[:n] + "~" + hex.EncodeToString(sum[:8])
}

// Op is how a rule matches.
type Op int

// Rule operators (search.v1.UrlMatch.Operator has the same numbers).
const (
	Equals   Op = 1
	Contains Op = 2
	Prefix   Op = 3
	Pattern  Op = 4
)

// Rule picks pages.
type Rule struct {
	Op    Op
	Value string
}

// Check validates a rule a user wrote.
func (r Rule) Check() error {
	switch {
	case r.Op < Equals || r.Op > Pattern:
		return errors.New("operator: must be equals, contains, prefix or pattern")
	case r.Value == "":
		return errors.New("value: required")
	case len(r.Value) > MaxValue:
		return fmt.Errorf("value: longer than %d bytes", MaxValue)
	case !utf8.ValidString(r.Value):
		return errors.New("value: not valid UTF-8")
	case r.Op == Pattern && strings.Count(r.Value, "*") > 16:
		return errors.New("value: at most 16 * in a pattern")
	}
	return nil
}

// Exact answers the one page key an Equals rule names (its value as a
// URL's key, or the value itself when it is not a URL), and false for
// other operators and path-form rules (a path names a page on every host).
func (r Rule) Exact() (string, bool) {
	if r.Op != Equals || r.PathForm() {
		return "", false
	}
	if k := Key(r.Value); k != "" {
		return k, true
	}
	return r.Value, true
}

// ForKeys is the rule as heatmaps apply it to page keys: its value spelled
// as keys are (Normal), so that a rule typed as people read URLs picks
// the keys browsers recorded. Search matches visited URLs as they were
// recorded (not only http(s) ones), with the rule as written (Match).
func (r Rule) ForKeys() Rule { return Rule{Op: r.Op, Value: Normal(r.Value)} }

// MatchKey tells whether a page key is picked by a rule made ForKeys: as
// Match, and a Contains rule may also differ from the key in the case of
// its host (keys hold hosts lower-cased; "Shop.example.com/a" names one).
func (r Rule) MatchKey(key string) bool {
	return r.Match(key) || (r.Op == Contains && containsFoldingHost(key, r.Value))
}

// Normal spells a rule's value as page keys are spelled, so that a rule
// typed as people read URLs ("/café/menu", "https://Shop.example.com/a b")
// matches the keys browsers recorded ("/caf%C3%A9/menu",
// "https://shop.example.com/a%20b"): after the scheme and host (of a
// URL-form value: lower-cased, as Key does), what a browser
// percent-encodes in a path (non-ASCII bytes, controls, space,
// " < > ` { }) is encoded and a "%" that starts no escape becomes "%25".
// Escapes already there stay as written, so a value spelled as a key is
// left as it is (FuzzForKeys); "*" stays a wildcard.
func Normal(v string) string {
	var b strings.Builder
	h := httpHostEnd(v)
	b.WriteString(strings.ToLower(v[:h]))
	for i := h; i < len(v); i++ {
		c := v[i]
		switch {
		case c == '%' && i+2 < len(v) && isHex(v[i+1]) && isHex(v[i+2]):
			b.WriteString(v[i : i+3])
			i += 2
		case c == '%' || c < 0x21 || c >= 0x7f || strings.IndexByte("\"<>`{}", c) >= 0:
			fmt.Fprintf(&b, "%%%02X", c)
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// httpHostEnd answers where the scheme and host of an http(s) URL end, 0
// when s is not one.
func httpHostEnd(s string) int {
	scheme, _, ok := strings.Cut(s, "://")
	if !ok || !(strings.EqualFold(scheme, "http") || strings.EqualFold(scheme, "https")) {
		return 0
	}
	return hostEnd(s)
}

// LiteralPrefix answers a prefix that every page key a rule made ForKeys
// matches starts with ("" when there is none: Contains and path-form
// rules), so a walk of the key-ordered page dictionary can start and stop
// there.
func (r Rule) LiteralPrefix() string {
	switch {
	case r.PathForm() || r.Op == Contains:
		return ""
	case r.Op == Equals:
		k, _ := r.Exact()
		return k
	case r.Op == Pattern:
		p, _, _ := strings.Cut(r.Value, "*")
		return p
	}
	return r.Value
}

// PathForm tells whether the rule compares paths rather than whole URLs:
// a value starting with "/" ("/product/*") for every operator but Contains,
// as search's visited-page filter does.
func (r Rule) PathForm() bool { return r.Op != Contains && strings.HasPrefix(r.Value, "/") }

// Match tells whether s (a page key or a full URL) is picked by the rule.
// Comparisons are of bytes (case matters), as in search's filter; an Equals
// rule compares page keys (so the query string never matters), and a
// path-form rule (PathForm) compares s's path.
func (r Rule) Match(s string) bool {
	if r.PathForm() {
		s = path(s)
	}
	switch r.Op {
	case Equals:
		if r.PathForm() {
			return s == trimSlash(r.Value)
		}
		k, _ := r.Exact()
		if ks := Key(s); ks != "" {
			return ks == k
		}
		return s == k
	case Contains:
		return strings.Contains(s, r.Value)
	case Prefix:
		return strings.HasPrefix(s, r.Value)
	case Pattern:
		return Glob(r.Value, s)
	}
	return false
}

// containsFoldingHost tells whether s holds v with the case of its host
// ignored (a host typed in capitals still names it, "Shop.example.com/a"
// too) while the path's case counts. Only a match starting in the host
// can differ, so at most a host's length of starts is tried.
func containsFoldingHost(s, v string) bool {
	host := hostEnd(s)
	for i := 0; i < host && i+len(v) <= len(s); i++ {
		ok := true
		for j := 0; j < len(v) && ok; j++ {
			a, b := s[i+j], v[j]
			ok = a == b || (i+j < host && lowerASCII(a) == lowerASCII(b))
		}
		if ok {
			return true
		}
	}
	return false
}

func lowerASCII(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// hostEnd answers where the scheme and host of a URL end (0 when s is not
// one).
func hostEnd(s string) int {
	i := strings.Index(s, "://")
	if i < 0 {
		return 0
	}
	if j := strings.IndexAny(s[i+3:], "/?#"); j >= 0 {
		return i + 3 + j
	}
	return len(s)
}

// path is the path of a URL or page key ("/" when empty), or "" when s is
// not an http(s) URL.
func path(s string) string {
	k := Key(s)
	if k == "" {
		return ""
	}
	i := strings.Index(k, "://")
	if j := strings.IndexByte(k[i+3:], '/'); j >= 0 {
		return k[i+3+j:]
	}
	return "/"
}

func trimSlash(p string) string {
	if len(p) > 1 {
		if t := strings.TrimRight(p, "/"); t != "" {
			return t
		}
		return "/"
	}
	return p
}

// Glob reports whether s matches pattern as a whole, "*" matching any run of
// bytes (possibly empty) and every other byte itself. It runs in
// O(len(pattern)·len(s)) at worst, without backtracking blow-ups.
func Glob(pattern, s string) bool {
	p, i := 0, 0
	star, mark := -1, 0
	for i < len(s) {
		switch {
		case p < len(pattern) && pattern[p] == '*':
			star, mark = p, i
			p++
		case p < len(pattern) && pattern[p] == s[i]:
			p++
			i++
		case star >= 0:
			p = star + 1
			mark++
			i = mark
		default:
			return false
		}
	}
	for p < len(pattern) && pattern[p] == '*' {
		p++
	}
	return p == len(pattern)
}
