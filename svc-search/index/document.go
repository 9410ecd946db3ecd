package index

import (
	sessionsv1 "github.com/sightlinehq/sightline/gen/sightline/sessions/v1"
)

// Keyword names a single-valued keyword of a session's document.
type Keyword int

// The single-valued keywords, in Document.Keywords.
const (
	KeywordVisitor Keyword = iota
	KeywordEntry
	KeywordEntryPath
	KeywordEntryKey
	KeywordExit
	KeywordExitPath
	KeywordExitKey
	KeywordBrowser
	KeywordOS
	KeywordCountry
	KeywordReferrer
	KeywordUTMSource
	KeywordUTMMedium
	KeywordUTMCampaign
	KeywordUser
	NumKeywords
)

// Document is what a session's summary is found by, derived once here so
// every index finds the same sessions for a filter; each backend stores it
// under its own field names and types, next to the summary's numbers.
type Document struct {
	// Keywords are the single-valued keywords, by Keyword; "" when the
	// summary has none (not indexed).
	Keywords [NumKeywords]string
	// Pages are the distinct page URLs in the order of their first view;
	// Paths and PageKeys their distinct paths (PagePath) and keys (PageKey).
	Pages, Paths, PageKeys []string
	// Attrs are the user attributes as AttributeTerm.
	Attrs []string
	// Device is the device type's name (DeviceName).
	Device string
}

// SessionDocument derives the document of a session's summary.
func SessionDocument(s *sessionsv1.SessionSummary) Document {
	var d Document
	seen := make(map[string]bool, 3*len(s.GetPages()))
	for _, p := range s.GetPages() {
		u := p.GetUrl()
		if u == "" || seen[u] {
			continue
		}
		seen[u] = true
		d.Pages = append(d.Pages, u)
		// Prefixes keep a URL, a path and a key of equal text apart.
		if path := PagePath(u); path != "" && !seen["\x00"+path] {
			seen["\x00"+path] = true
			d.Paths = append(d.Paths, path)
		}
		if k := PageKey(u); !seen["\x01"+k] {
			seen["\x01"+k] = true
			d.PageKeys = append(d.PageKeys, k)
		}
	}
	for _, a := range s.GetUserAttributes() {
		d.Attrs = append(d.Attrs, AttributeTerm(a.GetKey(), a.GetValue()))
	}
	c := s.GetClient()
	d.Device = DeviceName(c.GetDeviceType())
	d.Keywords = [NumKeywords]string{
		KeywordVisitor:     s.GetVisitorId(),
		KeywordEntry:       s.GetEntryUrl(),
		KeywordEntryPath:   PagePath(s.GetEntryUrl()),
		KeywordEntryKey:    PageKey(s.GetEntryUrl()),
		KeywordExit:        s.GetExitUrl(),
		KeywordExitPath:    PagePath(s.GetExitUrl()),
		KeywordExitKey:     PageKey(s.GetExitUrl()),
		KeywordBrowser:     c.GetBrowser(),
		KeywordOS:          c.GetOs(),
		KeywordCountry:     c.GetCountry(),
		KeywordReferrer:    s.GetReferrerDomain(),
		KeywordUTMSource:   s.GetUtmSource(),
		KeywordUTMMedium:   s.GetUtmMedium(),
		KeywordUTMCampaign: s.GetUtmCampaign(),
		KeywordUser:        s.GetUserId(),
	}
	return d
}

// SetKeywords sets each present keyword of d in doc under its name in
// names (a backend's field names, by Keyword).
func (d *Document) SetKeywords(doc map[string]any, names *[NumKeywords]string) {
	for k, v := range d.Keywords {
		if v != "" {
			doc[names[k]] = v
		}
	}
}
