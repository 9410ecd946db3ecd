// Package index defines the sessions index that svc-search queries: the
// interface every backend (Bleve embedded, Elasticsearch at scale) implements,
// with its contract written on it, and the small pieces of matching semantics
// every backend must share (how a page URL filter is read, how a device type
// is spelled). The conformance suite in indextest checks the contract.
package index

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	searchv1 "github.com/sightlinehq/sightline/gen/sightline/search/v1"
	sessionsv1 "github.com/sightlinehq/sightline/gen/sightline/sessions/v1"
	"github.com/sightlinehq/sightline/pagerule"
)

// Index is a per-site sessions index.
//
// Contract (every backend, checked by indextest.Run):
//
//   - Tenancy: every document belongs to one site (SessionSummary.SiteID) and is
//     identified by (site id, session id). Every read and delete takes a site
//     id and the backend itself ANDs "site = that id" into the query; no filter
//     value (user id, visitor id, session id, URL) can reach another site's
//     documents.
//   - Upsert is idempotent and version-guarded: a summary whose Version is
//     lower than the indexed one for the same (site, session) is ignored and
//     counted in UpsertResult.Stale; an equal or higher version replaces the
//     document (summaries are deterministic for a version, so an equal version
//     is the same content). The guard holds under concurrent Upserts.
//   - Read-your-writes: once Upsert or Delete returns nil, Search and Count
//     see the change.
//   - Filter semantics are those of searchv1.SessionFilter: conditions AND,
//     repeated values within one condition OR; time ranges are half-open
//     [start, end); duration ranges are inclusive at millisecond precision;
//     IntRange is inclusive with max 0 meaning unbounded. A UrlMatch whose
//     value starts with "/" compares against the URL path (see PagePath) for
//     EQUALS, PREFIX and PATTERN, otherwise against the full URL; CONTAINS
//     always compares against the full URL. EQUALS on a full URL compares
//     page keys (PageKey and ExactKey): a page matches when its
//     pagerule.Key equals the value's, so query string, fragment, trailing
//     slash, host case and default port never matter, and a page or value
//     that is not an http(s) URL compares as is; these are the pages
//     pagerule.Rule.Match picks, so a heatmap's "equals" rule and the
//     recordings it links to agree. PATTERN is pagerule.Glob: the
//     whole URL (or path) must match, "*" matching any run of characters
//     (possibly empty, newlines included) and every other character,
//     "?" and "\" too, only itself. clicked_element matches sessions whose
//     clicked_elements hold that exact selector; rage_clicked_element and
//     dead_clicked_element likewise rage_clicked_elements and
//     dead_clicked_elements (a document indexed before those fields
//     existed holds none until re-sent: see Refresher). String values match
//     exactly (case sensitive) as stored. has_* flags test count > 0
//     (has_feedback: feedback_count, has_survey_response:
//     survey_response_count; a document indexed before those fields
//     existed counts 0). feedback_rating matches sessions with feedback
//     whose min_feedback_rating is 1–5 and within the range. The
//     filter is assumed validated by the caller (see the service): the
//     index may return an error for values outside its range but must
//     never panic. A valid filter the backend cannot run within its own
//     limits (Elasticsearch's automaton size for a URL pattern) fails with
//     an error wrapping ErrTooComplex, which the service answers as
//     InvalidArgument.
//   - Sorting: by Query.Sort (unspecified means start time), descending
//     unless Ascending, ties broken by session id in the same direction.
//   - Paging: Query.After is the Cursor of the last hit of the previous page
//     (Result.Next) and selects hits strictly after it in sort order, so pages
//     neither repeat nor skip documents whose sort key does not change while
//     writes continue. Result.Next is nil when no hit follows the page.
//     Cursor values are only meaningful to the backend that produced them.
//   - Result.Total is the exact number of documents matching the filter
//     (ignoring After and Limit); Count returns the same number.
//   - Facets: for each requested field the FacetSize most frequent values
//     among all matching documents (ignoring After), ordered by count
//     descending then value ascending. FACET_FIELD_PAGE counts URL paths
//     (a session counts once per distinct path).
//   - Delete removes the selected documents of one site and returns how many
//     existed.
type Index interface {
	// Upsert indexes summaries (any sites) in bulk.
	Upsert(ctx context.Context, sessions []*sessionsv1.SessionSummary) (UpsertResult, error)
	// Delete removes one site's sessions chosen by sel.
	Delete(ctx context.Context, siteID int64, sel Selector) (int64, error)
	// Search returns one page of one site's sessions matching q.
	Search(ctx context.Context, q Query) (*Result, error)
	// Count counts one site's sessions matching f (nil matches all).
	Count(ctx context.Context, siteID int64, f *searchv1.SessionFilter) (int64, error)
	// Ready reports whether the backend can serve.
	Ready(ctx context.Context) error
	// Close releases the backend.
	Close() error
}

// Refresher is an Index that can tell when an upgrade of its schema left
// documents without fields their summaries' source (recordings) can fill:
// the search service then re-sends every summary from recordings (the
// work of `sightline reindex`) and calls RefreshDone. Both backends
// implement it: the embedded index when a rebuild for a new schema read
// older records, Elasticsearch when the template it replaced at start was
// an older schema's (its mapping grows in place; the mark is kept in the
// indices' mapping _meta).
type Refresher interface {
	RefreshDue() bool
	RefreshDone() error
}

// ErrTooComplex marks a valid filter that the backend refuses as beyond its
// own limits: the caller should simplify it.
var ErrTooComplex = errors.New("filter too complex for the index")

// UpsertResult counts what an Upsert did.
type UpsertResult struct {
	Upserted int
	// Stale counts summaries ignored because a newer version is indexed.
	Stale int
}

// Selector chooses sessions to delete; exactly one field is set.
type Selector struct {
	SessionIDs []string
	VisitorID  string
	WholeSite  bool
	// StartedBefore deletes sessions whose start time is before it.
	StartedBefore time.Time
}

// Validate checks that exactly one selector is set.
func (s Selector) Validate() error {
	return exactlyOne("delete selector", len(s.SessionIDs) > 0, s.VisitorID != "", s.WholeSite, !s.StartedBefore.IsZero())
}

// exactlyOne refuses unless exactly one of set is true (what names them).
func exactlyOne(what string, set ...bool) error {
	if n := len(slices.DeleteFunc(set, func(b bool) bool { return !b })); n != 1 {
		return fmt.Errorf("index: exactly one %s must be set", what)
	}
	return nil
}

// Query is one list query.
type Query struct {
	SiteID    int64
	Filter    *searchv1.SessionFilter
	Sort      searchv1.SortField
	Ascending bool
	// Limit is the page size (> 0).
	Limit int
	// After is the previous page's Result.Next, nil for the first page.
	After *Cursor
	// Facets to count; FacetSize values each (default 10).
	Facets    []searchv1.FacetField
	FacetSize int
	// SessionIDs, when not empty, restricts the query to these sessions of
	// the site (ANDed with Filter): a funnel's recorded sessions are read
	// in one query. At most MaxSessionIDs.
	SessionIDs []string
}

// MaxSessionIDs bounds Query.SessionIDs.
const MaxSessionIDs = 1000

// Cursor is a position in a sort order: the sort key of the last hit and
// its session id (the tie-breaker).
type Cursor struct {
	// Value is the sort key: start time in Unix nanoseconds, durations in
	// milliseconds, page count as is.
	Value     int64
	SessionID string
}

// Result is one page.
type Result struct {
	Sessions []*sessionsv1.SessionSummary
	Total    int64
	Facets   []*searchv1.Facet
	Next     *Cursor
}

// DefaultFacetSize is the number of values per facet when Query.FacetSize is 0.
const DefaultFacetSize = 10

// SortKey returns the sort key of s under field, as Cursor.Value holds it.
func SortKey(s *sessionsv1.SessionSummary, field searchv1.SortField) int64 {
	switch field {
	case searchv1.SortField_SORT_FIELD_DURATION:
		return s.GetDuration().AsDuration().Milliseconds()
	case searchv1.SortField_SORT_FIELD_ACTIVE_DURATION:
		return s.GetActiveDuration().AsDuration().Milliseconds()
	case searchv1.SortField_SORT_FIELD_PAGE_COUNT:
		return int64(s.GetPageCount())
	default:
		return UnixNano(s.GetStartTime().AsTime())
	}
}

// UnixNano is t in nanoseconds since 1970, held to int64's range (years
// 1678–2262): time.UnixNano is undefined beyond it, and a hostile start in
// the year 3000 must still sort after every real one.
func UnixNano(t time.Time) int64 {
	switch {
	case t.Before(time.Unix(0, math.MinInt64)):
		return math.MinInt64
	case t.After(time.Unix(0, math.MaxInt64)):
		return math.MaxInt64
	}
	return t.UnixNano()
}

// PagePath is the path of a page URL as the path-form URL filters and the
// page facet see it: the URL's path without query or fragment, "/" when
// empty, "" when the URL does not parse.
func PagePath(raw string) string {
	if raw == "" {
		return ""
	}
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	if u.Path == "" {
		return "/"
	}
	return u.Path
}

// PageKey is how a page URL is indexed for full-URL EQUALS matches: its
// page key (pagerule.Key), or the URL as is when it is not an http(s) URL
// (such a page then equals only the same text, as pagerule.Rule.Match has
// it).
func PageKey(raw string) string {
	if k := pagerule.Key(raw); k != "" {
		return k
	}
	return raw
}

// ExactKey is the indexed PageKey a full-URL EQUALS match looks up (the
// value's page key, or the value when it is not a URL), and false for
// other operators and path-form values. The service treats an unspecified
// operator as invalid; backends read it as EQUALS, so this does too.
func ExactKey(m *searchv1.UrlMatch) (string, bool) {
	switch m.GetOperator() {
	case searchv1.UrlMatch_OPERATOR_EQUALS, searchv1.UrlMatch_OPERATOR_UNSPECIFIED:
		return pagerule.Rule{Op: pagerule.Equals, Value: m.GetValue()}.Exact()
	}
	return "", false
}

// URLFields names a backend's fields of one page URL: the full URL, its
// path and its page key (PageKey).
type URLFields struct{ Full, Path, Key string }

// URLMatch is a UrlMatch with the fields it runs on.
type URLMatch struct {
	Match  *searchv1.UrlMatch
	Fields URLFields
}

// SessionURLMatches are a sessions filter's URL matches, on the visited
// pages, the entry and the exit page, with a backend's fields for each (in
// that order).
func SessionURLMatches(f *searchv1.SessionFilter, fields *[3]URLFields) [3]URLMatch {
	return [3]URLMatch{{f.GetVisitedPage(), fields[0]}, {f.GetEntryPage(), fields[1]}, {f.GetExitPage(), fields[2]}}
}

// Target is where the match runs under the filter's rules: the field, the
// value and the operator to compare it with (UNSPECIFIED is EQUALS).
// A full-URL EQUALS compares page keys (ExactKey), a path-form value the
// path, anything else the full URL; ok is false for an unset match (nil
// or an empty value), which adds no condition.
func (m URLMatch) Target() (field, value string, op searchv1.UrlMatch_Operator, ok bool) {
	if m.Match == nil || m.Match.GetValue() == "" {
		return "", "", 0, false
	}
	if k, exact := ExactKey(m.Match); exact {
		return m.Fields.Key, k, searchv1.UrlMatch_OPERATOR_EQUALS, true
	}
	field = m.Fields.Full
	if PathForm(m.Match) {
		field = m.Fields.Path
	}
	op = m.Match.GetOperator()
	if op == searchv1.UrlMatch_OPERATOR_UNSPECIFIED {
		op = searchv1.UrlMatch_OPERATOR_EQUALS
	}
	return field, m.Match.GetValue(), op, true
}

// SortFields and FacetFields name a backend's field of each sort order
// and facet.
type (
	SortFields  struct{ Start, Duration, Active, PageCount string }
	FacetFields struct{ Device, Browser, OS, Country, Path string }
)

// Of is the field f orders by: the start time unless another is named.
func (n *SortFields) Of(f searchv1.SortField) string {
	switch f {
	case searchv1.SortField_SORT_FIELD_DURATION:
		return n.Duration
	case searchv1.SortField_SORT_FIELD_ACTIVE_DURATION:
		return n.Active
	case searchv1.SortField_SORT_FIELD_PAGE_COUNT:
		return n.PageCount
	default:
		return n.Start
	}
}

// Of is the field f counts; false for an unknown facet.
func (n *FacetFields) Of(f searchv1.FacetField) (string, bool) {
	switch f {
	case searchv1.FacetField_FACET_FIELD_DEVICE_TYPE:
		return n.Device, true
	case searchv1.FacetField_FACET_FIELD_BROWSER:
		return n.Browser, true
	case searchv1.FacetField_FACET_FIELD_OS:
		return n.OS, true
	case searchv1.FacetField_FACET_FIELD_COUNTRY:
		return n.Country, true
	case searchv1.FacetField_FACET_FIELD_PAGE:
		return n.Path, true
	}
	return "", false
}

// PathForm reports whether a UrlMatch value is compared against URL paths
// (it starts with "/") rather than full URLs. A pattern starting with "/"
// could never match a full URL, so it is path-form too ("/product/*").
func PathForm(m *searchv1.UrlMatch) bool {
	return m.GetOperator() != searchv1.UrlMatch_OPERATOR_CONTAINS && strings.HasPrefix(m.GetValue(), "/")
}

// DeviceName is how a device type is indexed and reported in facets.
func DeviceName(d sessionsv1.DeviceType) string {
	if n, ok := sessionsv1.DeviceType_name[int32(d)]; ok {
		return n
	}
	return sessionsv1.DeviceType_DEVICE_TYPE_UNSPECIFIED.String()
}

// AttributeTerm is how a user attribute is indexed: key and value joined by
// a unit separator, which cannot be confused with either part's text.
func AttributeTerm(key, value string) string { return key + "\x1f" + value }

// DocID is the document id of a session: site and session, so ids of two
// sites never collide.
func DocID(siteID int64, sessionID string) string {
	return strconv.FormatInt(siteID, 10) + "/" + sessionID
}

// MatchURL tells whether one page URL matches m under the sessions
// filter's rules (see Index): path-form values compare the URL's path,
// CONTAINS the whole URL, full-URL EQUALS page keys, PATTERN
// pagerule.Glob. A nil or empty rule matches every URL. It is the
// reference the backends' queries are checked against, and what traffic
// counting and funnels match pages with.
func MatchURL(m *searchv1.UrlMatch, u string) bool {
	if m == nil || m.GetValue() == "" {
		return true
	}
	v := m.GetValue()
	target := u
	if PathForm(m) {
		target = PagePath(u)
		if target == "" {
			return false
		}
	}
	switch m.GetOperator() {
	case searchv1.UrlMatch_OPERATOR_CONTAINS:
		return strings.Contains(target, v)
	case searchv1.UrlMatch_OPERATOR_PREFIX:
		return strings.HasPrefix(target, v)
	case searchv1.UrlMatch_OPERATOR_PATTERN:
		return pagerule.Glob(v, target)
	default:
		// A full-URL EQUALS compares page keys, exactly as heatmaps' rule
		// does; a path-form one compares the path as is.
		if PathForm(m) {
			return target == v
		}
		return (pagerule.Rule{Op: pagerule.Equals, Value: v}).Match(u)
	}
}
