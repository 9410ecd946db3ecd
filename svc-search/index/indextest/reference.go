package indextest

import (
	"cmp"
	"slices"
	"strings"
	"time"

	searchv1 "github.com/sightlinehq/sightline/gen/sightline/search/v1"
	sessionsv1 "github.com/sightlinehq/sightline/gen/sightline/sessions/v1"
	"github.com/sightlinehq/sightline/svc-search/index"
)

// Matches is the reference semantics of a filter, evaluated in memory: the
// suite compares every backend's answers with it.
func Matches(f *searchv1.SessionFilter, s *sessionsv1.SessionSummary) bool {
	if f == nil {
		return true
	}
	if tr := f.GetStartTime(); tr != nil {
		st := s.GetStartTime().AsTime()
		if tr.Start != nil && st.Before(tr.Start.AsTime()) {
			return false
		}
		if tr.End != nil && !st.Before(tr.End.AsTime()) {
			return false
		}
	}
	if !durIn(f.GetDuration(), s.GetDuration().AsDuration()) || !durIn(f.GetActiveDuration(), s.GetActiveDuration().AsDuration()) {
		return false
	}
	var pages []string
	for _, p := range s.GetPages() {
		if p.GetUrl() != "" {
			pages = append(pages, p.GetUrl())
		}
	}
	if !urlIn(f.GetVisitedPage(), pages) || !urlIn(f.GetEntryPage(), nonEmpty(s.GetEntryUrl())) || !urlIn(f.GetExitPage(), nonEmpty(s.GetExitUrl())) {
		return false
	}
	if pc := f.GetPageCount(); pc != nil {
		n := int64(s.GetPageCount())
		if n < pc.Min || (pc.Max != 0 && n > pc.Max) {
			return false
		}
	}
	c := s.GetClient()
	if len(f.GetDeviceTypes()) > 0 && !slices.ContainsFunc(f.GetDeviceTypes(), func(d sessionsv1.DeviceType) bool {
		return index.DeviceName(d) == index.DeviceName(c.GetDeviceType())
	}) {
		return false
	}
	if !oneOf(f.GetBrowsers(), c.GetBrowser()) || !oneOf(f.GetOses(), c.GetOs()) || !oneOf(f.GetCountries(), c.GetCountry()) {
		return false
	}
	for _, kv := range [][2]string{
		{f.GetReferrerDomain(), s.GetReferrerDomain()}, {f.GetUtmSource(), s.GetUtmSource()},
		{f.GetUtmMedium(), s.GetUtmMedium()}, {f.GetUtmCampaign(), s.GetUtmCampaign()}, {f.GetUserId(), s.GetUserId()},
	} {
		if kv[0] != "" && kv[0] != kv[1] {
			return false
		}
	}
	if len(f.GetUserAttributes()) > 0 && !slices.ContainsFunc(f.GetUserAttributes(), func(want *sessionsv1.Attribute) bool {
		return slices.ContainsFunc(s.GetUserAttributes(), func(a *sessionsv1.Attribute) bool {
			return a.GetKey() == want.GetKey() && a.GetValue() == want.GetValue()
		})
	}) {
		return false
	}
	if f.GetCustomEvent() != "" && !slices.Contains(s.GetCustomEvents(), f.GetCustomEvent()) {
		return false
	}
	for _, c := range []struct {
		want string
		sels []string
	}{{f.GetClickedElement(), s.GetClickedElements()}, {f.GetRageClickedElement(), s.GetRageClickedElements()}, {f.GetDeadClickedElement(), s.GetDeadClickedElements()}} {
		if c.want != "" && !slices.Contains(c.sels, c.want) {
			return false
		}
	}
	for _, b := range []struct {
		want *bool
		n    int32
	}{{f.HasRageClicks, s.GetRageClickCount()}, {f.HasDeadClicks, s.GetDeadClickCount()}, {f.HasErrors, s.GetErrorCount()}} {
		if b.want != nil && *b.want != (b.n > 0) {
			return false
		}
	}
	for _, b := range []struct {
		want *bool
		n    int32
	}{{f.HasFeedback, s.GetFeedbackCount()}, {f.HasSurveyResponse, s.GetSurveyResponseCount()}} {
		if b.want != nil && *b.want != (b.n > 0) {
			return false
		}
	}
	if r := f.GetFeedbackRating(); r != nil && (r.Min != 0 || r.Max != 0) {
		m := int64(s.GetMinFeedbackRating())
		if s.GetFeedbackCount() == 0 || m < 1 || m > 5 || m < r.Min || (r.Max != 0 && m > r.Max) {
			return false
		}
	}
	if f.Truncated != nil && *f.Truncated != s.GetTruncated() {
		return false
	}
	return true
}

func nonEmpty(s string) []string {
	if s == "" {
		return nil
	}
	return []string{s}
}

func oneOf(want []string, got string) bool {
	return len(want) == 0 || slices.Contains(want, got)
}

func durIn(r *searchv1.DurationRange, d time.Duration) bool {
	if r == nil {
		return true
	}
	ms := d.Milliseconds()
	if r.Min != nil {
		lo := r.Min.AsDuration()
		loMs := lo.Milliseconds()
		if time.Duration(loMs)*time.Millisecond < lo {
			loMs++
		}
		if ms < loMs {
			return false
		}
	}
	if r.Max != nil && ms > r.Max.AsDuration().Milliseconds() {
		return false
	}
	return true
}

func urlIn(m *searchv1.UrlMatch, urls []string) bool {
	if m == nil || m.GetValue() == "" {
		return true
	}
	for _, u := range urls {
		if index.MatchURL(m, u) {
			return true
		}
	}
	return false
}

// Sorted returns the sessions of docs matching f in the query's order.
func Sorted(docs []*sessionsv1.SessionSummary, f *searchv1.SessionFilter, sort searchv1.SortField, asc bool) []*sessionsv1.SessionSummary {
	var out []*sessionsv1.SessionSummary
	for _, d := range docs {
		if Matches(f, d) {
			out = append(out, d)
		}
	}
	slices.SortFunc(out, func(a, b *sessionsv1.SessionSummary) int {
		c := cmp.Compare(index.SortKey(a, sort), index.SortKey(b, sort))
		if c == 0 {
			c = strings.Compare(a.GetSessionId(), b.GetSessionId())
		}
		if !asc {
			c = -c
		}
		return c
	})
	return out
}

// Facets computes the reference facet for field over docs matching f.
func Facets(docs []*sessionsv1.SessionSummary, f *searchv1.SessionFilter, field searchv1.FacetField, size int) []*searchv1.FacetCount {
	counts := map[string]int64{}
	for _, d := range docs {
		if !Matches(f, d) {
			continue
		}
		c := d.GetClient()
		switch field {
		case searchv1.FacetField_FACET_FIELD_DEVICE_TYPE:
			counts[index.DeviceName(c.GetDeviceType())]++
		case searchv1.FacetField_FACET_FIELD_BROWSER:
			if c.GetBrowser() != "" {
				counts[c.GetBrowser()]++
			}
		case searchv1.FacetField_FACET_FIELD_OS:
			if c.GetOs() != "" {
				counts[c.GetOs()]++
			}
		case searchv1.FacetField_FACET_FIELD_COUNTRY:
			if c.GetCountry() != "" {
				counts[c.GetCountry()]++
			}
		case searchv1.FacetField_FACET_FIELD_PAGE:
			seen := map[string]bool{}
			for _, p := range d.GetPages() {
				if path := index.PagePath(p.GetUrl()); path != "" && !seen[path] {
					seen[path] = true
					counts[path]++
				}
			}
		}
	}
	out := make([]*searchv1.FacetCount, 0, min(len(counts), size))
	for _, v := range index.Top(counts, size) {
		out = append(out, &searchv1.FacetCount{Value: v, Count: counts[v]})
	}
	return out
}
