// Package referrer says where a visit came from: the referrer's domain and
// the landing page's UTM tags. Recordings' session summaries and search's
// traffic counts derive them with this one code, so a traffic row and the
// recordings it links to agree.
package referrer

import (
	"net/url"
	"strings"
)

// MaxUTM bounds a UTM value (bytes).
const MaxUTM = 256

// Domain is the host of a referrer URL, lower-cased, without a leading
// "www."; "" when there is none or it does not parse.
func Domain(ref string) string {
	if ref == "" {
		return ""
	}
	u, err := url.Parse(ref)
	if err != nil {
		return ""
	}
	h := strings.ToLower(u.Hostname())
	return strings.TrimPrefix(h, "www.")
}

// External is the referrer domain a visit landing on pageURL counts
// under: Domain(ref), or "" (direct) when there is no referrer or it is
// the page's own site (the same Domain as the page's).
func External(pageURL, ref string) string {
	d := Domain(ref)
	if d == "" || d == Domain(pageURL) {
		return ""
	}
	return d
}

// UTM answers the utm_source, utm_medium and utm_campaign of a page URL's
// query, each clipped to MaxUTM bytes; "" when absent or the URL does not
// parse.
func UTM(pageURL string) (source, medium, campaign string) {
	u, err := url.Parse(pageURL)
	if err != nil {
		return "", "", ""
	}
	q := u.Query()
	return clip(q.Get("utm_source")), clip(q.Get("utm_medium")), clip(q.Get("utm_campaign"))
}

// clip truncates s to at most MaxUTM bytes without splitting a UTF-8
// sequence.
func clip(s string) string {
	n := MaxUTM
	if len(s) <= n {
		return s
	}
	for n > 0 && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n]
}
