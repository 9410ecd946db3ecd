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
