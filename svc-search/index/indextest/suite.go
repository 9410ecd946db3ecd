// Package indextest is the one conformance suite of index.Index: every
// backend runs Run with a constructor of fresh, empty indexes, and its answers
// are compared with an in-memory reference evaluation of the same filters.
package indextest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	searchv1 "github.com/sightlinehq/sightline/gen/sightline/search/v1"
	sessionsv1 "github.com/sightlinehq/sightline/gen/sightline/sessions/v1"
	"github.com/sightlinehq/sightline/svc-search/index"
)

// Site ids above 2^31, as every test in the project uses.
const (
	SiteA int64 = 3_000_000_001
	SiteB int64 = 3_000_000_002
)

// Run runs the conformance suite; newIndex returns a fresh, empty index
// that the suite closes.
func Run(t *testing.T, newIndex func(t *testing.T) index.Index) {
	open := closing(newIndex)
	t.Run("RoundTrip", func(t *testing.T) { testRoundTrip(t, open(t)) })
	t.Run("FiltersAlone", func(t *testing.T) { testFiltersAlone(t, open(t)) })
	t.Run("FiltersCombined", func(t *testing.T) { testFiltersCombined(t, open(t)) })
	t.Run("PatternsAndClickedElements", func(t *testing.T) { testPatterns(t, open(t)) })
	t.Run("EqualsComparesPageKeys", func(t *testing.T) { testEqualsPageKeys(t, open(t)) })
	t.Run("Sorting", func(t *testing.T) { testSorting(t, open(t)) })
	t.Run("PagingStableUnderWrites", func(t *testing.T) { testPagingUnderWrites(t, open(t)) })
	t.Run("Facets", func(t *testing.T) { testFacets(t, open(t)) })
	t.Run("IdempotentUpsert", func(t *testing.T) { testIdempotent(t, open(t)) })
	t.Run("StaleVersionsIgnored", func(t *testing.T) { testStale(t, open(t)) })
	t.Run("ConcurrentVersions", func(t *testing.T) { testConcurrentVersions(t, open(t)) })
	t.Run("Deletes", func(t *testing.T) { testDeletes(t, open(t)) })
	t.Run("SiteIsolation", func(t *testing.T) { testSiteIsolation(t, open(t)) })
	t.Run("SessionIDs", func(t *testing.T) { testSessionIDs(t, open(t)) })
}

// closing wraps newIndex so that every index it opens is closed when the
// test that opened it ends.
func closing[T interface{ Close() error }](newIndex func(t *testing.T) T) func(t *testing.T) T {
	return func(t *testing.T) T {
		t.Helper()
		ix := newIndex(t)
		t.Cleanup(func() {
			if err := ix.Close(); err != nil {
				t.Errorf("close: %v", err)
			}
		})
		return ix
	}
}

// load indexes both sites' generated sessions and returns them.
func load(t *testing.T, ix index.Index) (a, b []*sessionsv1.SessionSummary) {
	t.Helper()
	a = Generate(1, SiteA, "a", 240)
	b = Generate(2, SiteB, "b", 80)
	upsert(t, ix, append(slices.Clone(a), b...))
	return a, b
}

func upsert(t *testing.T, ix index.Index, docs []*sessionsv1.SessionSummary) index.UpsertResult {
	t.Helper()
	res, err := ix.Upsert(context.Background(), docs)
	if err != nil {
		t.Fatalf("upsert: %v", err)
	}
	return res
}

// all pages through a query and returns every hit, checking page invariants.
func all(t *testing.T, ix index.Index, q index.Query) []*sessionsv1.SessionSummary {
	t.Helper()
	return pageAll(t, fmt.Sprintf("search %v", q.Filter), "session", q.SiteID, q.Limit, q.After,
		func(c *index.Cursor) ([]*sessionsv1.SessionSummary, int64, *index.Cursor, error) {
			q.After = c
			res, err := ix.Search(context.Background(), q)
			if err != nil {
				return nil, 0, nil, err
			}
			return res.Sessions, res.Total, res.Next, nil
		}, (*sessionsv1.SessionSummary).GetSessionId)
}

func ids(docs []*sessionsv1.SessionSummary) []string {
	out := make([]string, len(docs))
	for i, d := range docs {
		out[i] = d.GetSessionId()
	}
	return out
}

func checkQuery(t *testing.T, ix index.Index, docs []*sessionsv1.SessionSummary, name string, f *searchv1.SessionFilter, sort searchv1.SortField, asc bool, limit int) {
	t.Helper()
	want := Sorted(docs, f, sort, asc)
	got := all(t, ix, index.Query{SiteID: SiteA, Filter: f, Sort: sort, Ascending: asc, Limit: limit})
	if !slices.Equal(ids(got), ids(want)) {
		t.Fatalf("%s: got %d hits %v\nwant %d hits %v", name, len(got), head(ids(got)), len(want), head(ids(want)))
	}
	n, err := ix.Count(context.Background(), SiteA, f)
	if err != nil {
		t.Fatalf("%s: count: %v", name, err)
	}
	if n != int64(len(want)) {
		t.Fatalf("%s: count %d, want %d", name, n, len(want))
	}
}

func head(xs []string) []string {
	if len(xs) > 12 {
		return xs[:12]
	}
	return xs
}

func testRoundTrip(t *testing.T, ix index.Index) {
	a, _ := load(t, ix)
	got := all(t, ix, index.Query{SiteID: SiteA, Limit: 50})
	byID := map[string]*sessionsv1.SessionSummary{}
	for _, s := range a {
		byID[s.GetSessionId()] = s
	}
	if len(got) != len(a) {
		t.Fatalf("got %d sessions, want %d", len(got), len(a))
	}
	for _, s := range got {
		if !proto.Equal(s, byID[s.GetSessionId()]) {
			t.Fatalf("session %s did not round-trip:\n got %v\nwant %v", s.GetSessionId(), s, byID[s.GetSessionId()])
		}
	}
	if err := ix.Ready(context.Background()); err != nil {
		t.Fatalf("ready: %v", err)
	}
}

// msOf is a session's duration truncated to the millisecond.
func msOf(s *sessionsv1.SessionSummary) *durationpb.Duration {
	return durationpb.New(s.GetDuration().AsDuration().Truncate(time.Millisecond))
}

func tp(v bool) *bool { return &v }

func at(d time.Duration) *timestamppb.Timestamp { return timestamppb.New(Base.Add(d)) }

// singleFilters names one filter per condition (and per operator).
func singleFilters(a []*sessionsv1.SessionSummary) map[string]*searchv1.SessionFilter {
	day := 24 * time.Hour
	mid := a[17].GetStartTime()
	user := ""
	for _, s := range a {
		if s.GetUserId() != "" {
			user = s.GetUserId()
			break
		}
	}
	return map[string]*searchv1.SessionFilter{
		"start_range":             {StartTime: &searchv1.TimeRange{Start: at(3 * day), End: at(10 * day)}},
		"start_from":              {StartTime: &searchv1.TimeRange{Start: at(20 * day)}},
		"start_until":             {StartTime: &searchv1.TimeRange{End: at(5 * day)}},
		"start_half_open":         {StartTime: &searchv1.TimeRange{Start: mid, End: timestamppb.New(mid.AsTime().Add(time.Microsecond))}},
		"start_end_excluded":      {StartTime: &searchv1.TimeRange{End: mid}},
		"start_until_just_after":  {StartTime: &searchv1.TimeRange{End: timestamppb.New(mid.AsTime().Add(time.Millisecond))}},    // a session 1 ms inside the end
		"start_from_just_before":  {StartTime: &searchv1.TimeRange{Start: timestamppb.New(mid.AsTime().Add(-time.Millisecond))}}, // and inside the start
		"duration_min":            {Duration: &searchv1.DurationRange{Min: durationpb.New(4 * time.Minute)}},
		"duration_range":          {Duration: &searchv1.DurationRange{Min: durationpb.New(time.Minute), Max: durationpb.New(3 * time.Minute)}},
		"duration_exact":          {Duration: &searchv1.DurationRange{Min: msOf(a[5]), Max: msOf(a[5])}},
		"duration_sub_ms":         {Duration: &searchv1.DurationRange{Min: a[5].GetDuration(), Max: a[5].GetDuration()}},
		"active_max":              {ActiveDuration: &searchv1.DurationRange{Max: durationpb.New(90 * time.Second)}},
		"visited_path_equals":     {VisitedPage: &searchv1.UrlMatch{Operator: searchv1.UrlMatch_OPERATOR_EQUALS, Value: "/pricing"}},
		"visited_url_equals":      {VisitedPage: &searchv1.UrlMatch{Operator: searchv1.UrlMatch_OPERATOR_EQUALS, Value: "https://shop.example.com/checkout"}},
		"visited_url_equals_tags": {VisitedPage: &searchv1.UrlMatch{Operator: searchv1.UrlMatch_OPERATOR_EQUALS, Value: "https://www.example.com/pricing?utm_source=elsewhere#plans"}},
		"entry_url_equals":        {EntryPage: &searchv1.UrlMatch{Operator: searchv1.UrlMatch_OPERATOR_EQUALS, Value: "https://SHOP.example.com"}},
		"exit_url_equals":         {ExitPage: &searchv1.UrlMatch{Operator: searchv1.UrlMatch_OPERATOR_EQUALS, Value: "https://www.example.com/checkout/"}},
		"visited_path_prefix":     {VisitedPage: &searchv1.UrlMatch{Operator: searchv1.UrlMatch_OPERATOR_PREFIX, Value: "/pricing"}},
		"visited_url_prefix":      {VisitedPage: &searchv1.UrlMatch{Operator: searchv1.UrlMatch_OPERATOR_PREFIX, Value: "https://www.example.com/blog"}},
		"visited_contains":        {VisitedPage: &searchv1.UrlMatch{Operator: searchv1.UrlMatch_OPERATOR_CONTAINS, Value: "ref=1"}},
		"visited_contains_meta":   {VisitedPage: &searchv1.UrlMatch{Operator: searchv1.UrlMatch_OPERATOR_CONTAINS, Value: "?ref="}},
		"visited_contains_regex":  {VisitedPage: &searchv1.UrlMatch{Operator: searchv1.UrlMatch_OPERATOR_CONTAINS, Value: ".*"}},
		"entry_path":              {EntryPage: &searchv1.UrlMatch{Operator: searchv1.UrlMatch_OPERATOR_EQUALS, Value: "/"}},
		"entry_contains":          {EntryPage: &searchv1.UrlMatch{Operator: searchv1.UrlMatch_OPERATOR_CONTAINS, Value: "shop."}},
		"exit_prefix":             {ExitPage: &searchv1.UrlMatch{Operator: searchv1.UrlMatch_OPERATOR_PREFIX, Value: "/docs"}},
		"visited_pattern_url":     {VisitedPage: pattern("https://shop.example.com/*")},
		"visited_pattern_path":    {VisitedPage: pattern("/pricing*")},
		"visited_pattern_mid":     {VisitedPage: pattern("*example.com/*/*")},
		// "?" is literal: as a wildcard it would take /pricing/team too.
		"visited_pattern_q":       {VisitedPage: pattern("https://www.example.com/pricing?*")},
		"visited_pattern_no_star": {VisitedPage: pattern("https://www.example.com/signup")},
		"entry_pattern":           {EntryPage: pattern("https://*.example.com/")},
		"exit_pattern_path":       {ExitPage: pattern("/*o*")},
		"clicked_element":         {ClickedElement: "#buy"},
		"clicked_element_syntax":  {ClickedElement: `div[data-test="add*to?cart"]>button`},
		"clicked_element_escape":  {ClickedElement: `#size\:xl`},
		"clicked_element_absent":  {ClickedElement: "#nothing"},
		"clicked_element_prefix":  {ClickedElement: "html>body"},
		"rage_clicked_element":    {RageClickedElement: "#buy"},
		"rage_clicked_syntax":     {RageClickedElement: `div[data-test="add*to?cart"]>button`},
		"dead_clicked_element":    {DeadClickedElement: "#buy"},
		"dead_clicked_escape":     {DeadClickedElement: `#size\:xl`},
		"rage_clicked_absent":     {RageClickedElement: "#nothing"},
		// Rage on one element, dead on another: both lists, not one.
		"rage_and_dead_elements": {RageClickedElement: "#buy", DeadClickedElement: "button.größe"},
		"page_count_min":         {PageCount: &searchv1.IntRange{Min: 4}},
		"page_count_range":       {PageCount: &searchv1.IntRange{Min: 2, Max: 3}},
		"device_mobile":          {DeviceTypes: []sessionsv1.DeviceType{sessionsv1.DeviceType_DEVICE_TYPE_MOBILE}},
		"device_two":             {DeviceTypes: []sessionsv1.DeviceType{sessionsv1.DeviceType_DEVICE_TYPE_DESKTOP, sessionsv1.DeviceType_DEVICE_TYPE_TABLET}},
		"browsers":               {Browsers: []string{"Safari", "Samsung Internet"}},
		"browser_case":           {Browsers: []string{"chrome"}},
		"oses":                   {Oses: []string{"iOS"}},
		"countries":              {Countries: []string{"DE", "FR"}},
		"referrer":               {ReferrerDomain: "news.ycombinator.com"},
		"utm_source":             {UtmSource: "newsletter"},
		"utm_medium":             {UtmMedium: "cpc"},
		"utm_campaign":           {UtmCampaign: "launch"},
		"user_id":                {UserId: user},
		"user_id_absent":         {UserId: "nobody"},
		"attribute":              {UserAttributes: []*sessionsv1.Attribute{{Key: "plan", Value: "pro"}}},
		"attributes_or":          {UserAttributes: []*sessionsv1.Attribute{{Key: "plan", Value: "team"}, {Key: "role", Value: "admin"}}},
		"custom_event":           {CustomEvent: "purchase"},
		"rage":                   {HasRageClicks: tp(true)},
		"no_rage":                {HasRageClicks: tp(false)},
		"dead":                   {HasDeadClicks: tp(true)},
		"errors":                 {HasErrors: tp(true)},
		"no_errors":              {HasErrors: tp(false)},
		"feedback":               {HasFeedback: tp(true)},
		"no_feedback":            {HasFeedback: tp(false)},
		"feedback_rating_max2":   {FeedbackRating: &searchv1.IntRange{Max: 2}},
		"feedback_rating_3_4":    {FeedbackRating: &searchv1.IntRange{Min: 3, Max: 4}},
		"feedback_rating_min5":   {FeedbackRating: &searchv1.IntRange{Min: 5}},
		"survey_response":        {HasSurveyResponse: tp(true)},
		"no_survey_response":     {HasSurveyResponse: tp(false)},
		"truncated":              {Truncated: tp(true)},
		"not_truncated":          {Truncated: tp(false)},
		"empty":                  {},
	}
}

func testFiltersAlone(t *testing.T, ix index.Index) {
	a, _ := load(t, ix)
	for name, f := range singleFilters(a) {
		checkQuery(t, ix, a, name, f, searchv1.SortField_SORT_FIELD_START_TIME, false, 40)
	}
	// Filters that must select something, so a backend matching nothing
	// cannot pass by agreeing with an empty reference.
	for _, name := range []string{"visited_path_equals", "visited_contains", "attribute", "rage", "device_mobile", "start_half_open", "duration_exact",
		"visited_pattern_url", "visited_pattern_path", "visited_pattern_mid", "visited_pattern_q", "entry_pattern", "exit_pattern_path",
		"clicked_element", "clicked_element_syntax", "clicked_element_escape",
		"rage_clicked_element", "rage_clicked_syntax", "dead_clicked_element", "dead_clicked_escape",
		"visited_url_equals", "visited_url_equals_tags", "entry_url_equals", "exit_url_equals",
		"feedback", "no_feedback", "feedback_rating_max2", "feedback_rating_3_4", "feedback_rating_min5", "survey_response", "no_survey_response"} {
		if len(Sorted(a, singleFilters(a)[name], 0, false)) == 0 {
			t.Fatalf("generated data leaves filter %s empty", name)
		}
	}
	// Full-URL EQUALS filters must also select sessions none of whose URLs
	// is the value as written, or comparing page keys goes untested.
	for _, name := range []string{"visited_url_equals", "visited_url_equals_tags", "entry_url_equals", "exit_url_equals"} {
		f := singleFilters(a)[name]
		if n := spelledOtherwise(a, f); n == 0 {
			t.Fatalf("filter %s selects no session by page key alone", name)
		}
	}
}

// spelledOtherwise counts the sessions f selects although no URL it
// compares is the value as written.
func spelledOtherwise(docs []*sessionsv1.SessionSummary, f *searchv1.SessionFilter) int {
	n := 0
	for _, s := range docs {
		if !Matches(f, s) {
			continue
		}
		var urls []string
		var v string
		switch {
		case f.GetVisitedPage() != nil:
			v = f.GetVisitedPage().GetValue()
			for _, p := range s.GetPages() {
				urls = append(urls, p.GetUrl())
			}
		case f.GetEntryPage() != nil:
			v, urls = f.GetEntryPage().GetValue(), []string{s.GetEntryUrl()}
		default:
			v, urls = f.GetExitPage().GetValue(), []string{s.GetExitUrl()}
		}
		if !slices.Contains(urls, v) {
			n++
		}
	}
	return n
}

// randomFilter ANDs 2–4 conditions drawn from the single filters.
func randomFilter(rng *rand.Rand, singles map[string]*searchv1.SessionFilter) *searchv1.SessionFilter {
	names := make([]string, 0, len(singles))
	for n := range singles {
		names = append(names, n)
	}
	slices.Sort(names)
	f := &searchv1.SessionFilter{}
	for range 2 + rng.IntN(3) {
		proto.Merge(f, singles[names[rng.IntN(len(names))]])
	}
	return f
}

func testFiltersCombined(t *testing.T, ix index.Index) {
	a, _ := load(t, ix)
	singles := singleFilters(a)
	rng := rand.New(rand.NewPCG(7, 7))
	nonEmpty := 0
	for i := range 80 {
		f := randomFilter(rng, singles)
		if len(Sorted(a, f, 0, false)) > 0 {
			nonEmpty++
		}
		checkQuery(t, ix, a, fmt.Sprintf("combo %d %v", i, f), f, searchv1.SortField(1+rng.IntN(4)), rng.IntN(2) == 0, 1+rng.IntN(30))
	}
	// The spec's own examples.
	checkQuery(t, ix, a, "last week + mobile + /pricing", &searchv1.SessionFilter{
		StartTime:   &searchv1.TimeRange{Start: at(23 * 24 * time.Hour)},
		DeviceTypes: []sessionsv1.DeviceType{sessionsv1.DeviceType_DEVICE_TYPE_MOBILE},
		VisitedPage: &searchv1.UrlMatch{Operator: searchv1.UrlMatch_OPERATOR_EQUALS, Value: "/pricing"},
	}, searchv1.SortField_SORT_FIELD_START_TIME, false, 10)
	checkQuery(t, ix, a, "country + duration > 60s + rage", &searchv1.SessionFilter{
		Countries: []string{"US"}, Duration: &searchv1.DurationRange{Min: durationpb.New(60*time.Second + time.Millisecond)},
		HasRageClicks: tp(true),
	}, searchv1.SortField_SORT_FIELD_START_TIME, false, 10)
	checkQuery(t, ix, a, "campaign + browser by duration", &searchv1.SessionFilter{
		UtmCampaign: "launch", Browsers: []string{"Chrome"},
	}, searchv1.SortField_SORT_FIELD_DURATION, false, 10)
	if nonEmpty < 20 {
		t.Fatalf("only %d of 80 combined filters select anything; the test data is too sparse", nonEmpty)
	}
}

func testSorting(t *testing.T, ix index.Index) {
	a, _ := load(t, ix)
	// Page counts tie a lot, so the session-id tie-break is exercised.
	for _, sort := range []searchv1.SortField{0, 1, 2, 3, 4} {
		for _, asc := range []bool{false, true} {
			checkQuery(t, ix, a, fmt.Sprintf("sort %v asc=%v", sort, asc), nil, sort, asc, 17)
		}
	}
}

func testPagingUnderWrites(t *testing.T, ix index.Index) {
	a, _ := load(t, ix)
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(3, 3))
	for _, sort := range []searchv1.SortField{searchv1.SortField_SORT_FIELD_START_TIME, searchv1.SortField_SORT_FIELD_PAGE_COUNT} {
		q := index.Query{SiteID: SiteA, Sort: sort, Limit: 13}
		seen := map[string]int{}
		extra := 0
		for page := 0; ; page++ {
			res, err := ix.Search(ctx, q)
			if err != nil {
				t.Fatalf("page %d: %v", page, err)
			}
			for _, s := range res.Sessions {
				seen[s.GetSessionId()]++
			}
			if res.Next == nil {
				break
			}
			q.After = res.Next
			// Between pages: new sessions anywhere in the window, and new
			// versions of existing ones whose sort keys stay put.
			var w []*sessionsv1.SessionSummary
			for _, s := range Generate(uint64(100+page), SiteA, fmt.Sprintf("new%v-%d", sort, page), 5) {
				w = append(w, s)
				extra++
			}
			for range 5 {
				u := proto.Clone(a[rng.IntN(len(a))]).(*sessionsv1.SessionSummary)
				u.Version += 10
				u.ClickCount++
				u.Client.Country = "JP"
				w = append(w, u)
			}
			upsert(t, ix, w)
			for i := range a {
				for _, x := range w {
					if x.GetSessionId() == a[i].GetSessionId() {
						a[i] = x
					}
				}
			}
		}
		for _, s := range a {
			if seen[s.GetSessionId()] != 1 {
				t.Fatalf("sort %v: session %s seen %d times across pages", sort, s.GetSessionId(), seen[s.GetSessionId()])
			}
		}
		for id, n := range seen {
			if n != 1 {
				t.Fatalf("sort %v: session %s seen %d times", sort, id, n)
			}
		}
		if extra == 0 {
			t.Fatal("no writes happened during paging")
		}
	}
}

func testFacets(t *testing.T, ix index.Index) {
	a, _ := load(t, ix)
	fields := []searchv1.FacetField{
		searchv1.FacetField_FACET_FIELD_DEVICE_TYPE, searchv1.FacetField_FACET_FIELD_BROWSER,
		searchv1.FacetField_FACET_FIELD_OS, searchv1.FacetField_FACET_FIELD_COUNTRY, searchv1.FacetField_FACET_FIELD_PAGE,
	}
	filters := []*searchv1.SessionFilter{
		nil,
		{HasRageClicks: tp(true)},
		{VisitedPage: &searchv1.UrlMatch{Operator: searchv1.UrlMatch_OPERATOR_PREFIX, Value: "/pricing"}, Countries: []string{"DE", "US"}},
	}
	for _, f := range filters {
		for _, size := range []int{3, 0} {
			res, err := ix.Search(context.Background(), index.Query{SiteID: SiteA, Filter: f, Limit: 5, Facets: fields, FacetSize: size})
			if err != nil {
				t.Fatalf("search with facets: %v", err)
			}
			if len(res.Facets) != len(fields) {
				t.Fatalf("got %d facets, want %d", len(res.Facets), len(fields))
			}
			n := size
			if n == 0 {
				n = index.DefaultFacetSize
			}
			for i, field := range fields {
				want := Facets(a, f, field, n)
				got := res.Facets[i]
				if got.GetField() != field {
					t.Fatalf("facet %d is %v, want %v", i, got.GetField(), field)
				}
				if len(want) == 0 {
					t.Fatalf("reference facet %v under %v is empty: test data too sparse", field, f)
				}
				if len(got.GetCounts()) != len(want) {
					t.Fatalf("facet %v under %v: got %v want %v", field, f, got.GetCounts(), want)
				}
				for j := range want {
					if !proto.Equal(got.GetCounts()[j], want[j]) {
						t.Fatalf("facet %v under %v: got %v want %v", field, f, got.GetCounts(), want)
					}
				}
			}
		}
	}
}

func testIdempotent(t *testing.T, ix index.Index) {
	a, _ := load(t, ix)
	before := all(t, ix, index.Query{SiteID: SiteA, Limit: 100})
	res := upsert(t, ix, a)
	if res.Stale != 0 || res.Upserted != len(a) {
		t.Fatalf("re-upsert of the same versions: %+v, want %d upserted 0 stale", res, len(a))
	}
	upsert(t, ix, a[:50])
	after := all(t, ix, index.Query{SiteID: SiteA, Limit: 100})
	if len(after) != len(before) {
		t.Fatalf("re-upserting changed the count: %d then %d", len(before), len(after))
	}
	for i := range before {
		if !proto.Equal(before[i], after[i]) {
			t.Fatalf("re-upserting changed %s", before[i].GetSessionId())
		}
	}
	n, err := ix.Count(context.Background(), SiteA, nil)
	if err != nil || n != int64(len(a)) {
		t.Fatalf("count after re-upserts = %d, %v; want %d", n, err, len(a))
	}
}

func getOne(t *testing.T, ix index.Index, site int64, id string) *sessionsv1.SessionSummary {
	t.Helper()
	got := all(t, ix, index.Query{SiteID: site, Limit: 200})
	for _, s := range got {
		if s.GetSessionId() == id {
			return s
		}
	}
	return nil
}

func testStale(t *testing.T, ix index.Index) {
	base := Generate(4, SiteA, "stale", 3)
	v5 := proto.Clone(base[0]).(*sessionsv1.SessionSummary)
	v5.Version = 5
	v5.ClickCount = 55
	upsert(t, ix, []*sessionsv1.SessionSummary{v5})

	v3 := proto.Clone(v5).(*sessionsv1.SessionSummary)
	v3.Version = 3
	v3.ClickCount = 33
	v3.Client.Country = "XX"
	res := upsert(t, ix, []*sessionsv1.SessionSummary{v3})
	if res.Stale != 1 || res.Upserted != 0 {
		t.Fatalf("older version: %+v, want 1 stale", res)
	}
	if got := getOne(t, ix, SiteA, v5.GetSessionId()); !proto.Equal(got, v5) {
		t.Fatalf("stale version overwrote the newer one: %v", got)
	}
	n, err := ix.Count(context.Background(), SiteA, &searchv1.SessionFilter{Countries: []string{"XX"}})
	if err != nil || n != 0 {
		t.Fatalf("stale version is searchable: count %d, %v", n, err)
	}

	// Within one batch, the newest of several versions wins whatever the order.
	v9 := proto.Clone(v5).(*sessionsv1.SessionSummary)
	v9.Version = 9
	v9.ClickCount = 99
	v9.Client.Country = "QQ"
	v7 := proto.Clone(v5).(*sessionsv1.SessionSummary)
	v7.Version = 7
	res = upsert(t, ix, []*sessionsv1.SessionSummary{v9, v7, base[1]})
	if res.Upserted != 2 || res.Stale != 1 {
		t.Fatalf("mixed batch: %+v, want 2 upserted 1 stale", res)
	}
	if got := getOne(t, ix, SiteA, v5.GetSessionId()); !proto.Equal(got, v9) {
		t.Fatalf("want version 9 after mixed batch, got %v", got.GetVersion())
	}
	// A newer version replaces and is searchable by its new values only.
	v10 := proto.Clone(v9).(*sessionsv1.SessionSummary)
	v10.Version = 10
	v10.Client.Country = "NZ"
	if res := upsert(t, ix, []*sessionsv1.SessionSummary{v10}); res.Upserted != 1 {
		t.Fatalf("newer version: %+v", res)
	}
	for country, want := range map[string]int64{"NZ": 1, "QQ": 0} {
		n, err := ix.Count(context.Background(), SiteA, &searchv1.SessionFilter{Countries: []string{country}})
		if err != nil || n != want {
			t.Fatalf("country %s count = %d, %v; want %d", country, n, err, want)
		}
	}
}

func testConcurrentVersions(t *testing.T, ix index.Index) {
	base := Generate(5, SiteA, "conc", 4)
	var wg sync.WaitGroup
	versions := rand.New(rand.NewPCG(9, 9)).Perm(24)
	for _, v := range versions {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var batch []*sessionsv1.SessionSummary
			for _, b := range base {
				s := proto.Clone(b).(*sessionsv1.SessionSummary)
				s.Version = int64(v + 1)
				s.ClickCount = int32(v + 1)
				batch = append(batch, s)
			}
			if _, err := ix.Upsert(context.Background(), batch); err != nil {
				t.Errorf("upsert v%d: %v", v+1, err)
			}
		}()
	}
	wg.Wait()
	got := all(t, ix, index.Query{SiteID: SiteA, Limit: 10})
	if len(got) != len(base) {
		t.Fatalf("got %d docs, want %d", len(got), len(base))
	}
	for _, s := range got {
		if s.GetVersion() != 24 || s.GetClickCount() != 24 {
			t.Fatalf("after concurrent upserts %s holds version %d (clicks %d), want 24", s.GetSessionId(), s.GetVersion(), s.GetClickCount())
		}
	}
}

func testDeletes(t *testing.T, ix index.Index) {
	ctx := context.Background()
	a, b := load(t, ix)
	count := func(site int64) int64 {
		n, err := ix.Count(ctx, site, nil)
		if err != nil {
			t.Fatalf("count: %v", err)
		}
		return n
	}
	remaining := slices.Clone(a)
	drop := func(pred func(*sessionsv1.SessionSummary) bool) int64 {
		n := len(remaining)
		remaining = slices.DeleteFunc(remaining, pred)
		return int64(n - len(remaining))
	}
	check := func(step string) {
		t.Helper()
		got := all(t, ix, index.Query{SiteID: SiteA, Limit: 100, Sort: searchv1.SortField_SORT_FIELD_START_TIME})
		want := Sorted(remaining, nil, searchv1.SortField_SORT_FIELD_START_TIME, false)
		if !slices.Equal(ids(got), ids(want)) {
			t.Fatalf("after %s: %d sessions, want %d", step, len(got), len(want))
		}
		if n := count(SiteB); n != int64(len(b)) {
			t.Fatalf("after %s on site A, site B has %d sessions, want %d", step, n, len(b))
		}
	}

	// By ids, including one unknown and one of site B's ids spelled as A's.
	del := []string{a[0].GetSessionId(), a[1].GetSessionId(), "no-such-session", b[0].GetSessionId()}
	n, err := ix.Delete(ctx, SiteA, index.Selector{SessionIDs: del})
	want := drop(func(s *sessionsv1.SessionSummary) bool { return slices.Contains(del, s.GetSessionId()) })
	if err != nil || n != want {
		t.Fatalf("delete ids: %d, %v; want %d", n, err, want)
	}
	check("delete by ids")

	visitor := remaining[3].GetVisitorId()
	n, err = ix.Delete(ctx, SiteA, index.Selector{VisitorID: visitor})
	want = drop(func(s *sessionsv1.SessionSummary) bool { return s.GetVisitorId() == visitor })
	if err != nil || n != want || want == 0 {
		t.Fatalf("delete visitor: %d, %v; want %d", n, err, want)
	}
	check("delete by visitor")

	cut := Base.Add(6 * 24 * time.Hour)
	n, err = ix.Delete(ctx, SiteA, index.Selector{StartedBefore: cut})
	want = drop(func(s *sessionsv1.SessionSummary) bool { return s.GetStartTime().AsTime().Before(cut) })
	if err != nil || n != want || want == 0 {
		t.Fatalf("delete started before: %d, %v; want %d", n, err, want)
	}
	check("delete by age")

	if _, err := ix.Delete(ctx, SiteA, index.Selector{}); err == nil {
		t.Fatal("delete with no selector succeeded")
	}
	if _, err := ix.Delete(ctx, SiteA, index.Selector{WholeSite: true, VisitorID: "x"}); err == nil {
		t.Fatal("delete with two selectors succeeded")
	}

	n, err = ix.Delete(ctx, SiteA, index.Selector{WholeSite: true})
	want = drop(func(*sessionsv1.SessionSummary) bool { return true })
	if err != nil || n != want {
		t.Fatalf("delete site: %d, %v; want %d", n, err, want)
	}
	check("delete whole site")

	// A deleted session comes back with a newer version. (An older one may
	// be refused for a while: Elasticsearch keeps version tombstones.)
	back := proto.Clone(a[0]).(*sessionsv1.SessionSummary)
	back.Version += 100
	res := upsert(t, ix, []*sessionsv1.SessionSummary{back})
	if res.Upserted != 1 || count(SiteA) != 1 {
		t.Fatalf("re-upsert after delete: %+v, count %d", res, count(SiteA))
	}
}

func testSiteIsolation(t *testing.T, ix index.Index) {
	ctx := context.Background()
	a, b := load(t, ix)
	// The same session id in both sites is two documents.
	twinA := proto.Clone(a[0]).(*sessionsv1.SessionSummary)
	twinB := proto.Clone(a[0]).(*sessionsv1.SessionSummary)
	twinB.SiteId = SiteB
	twinB.Version = 1
	twinB.UserId = "only-in-b"
	twinA.Version = 100
	upsert(t, ix, []*sessionsv1.SessionSummary{twinA, twinB})
	b = append(b, twinB)

	probes := []*searchv1.SessionFilter{
		nil,
		{UserId: b[0].GetUserId()},
		{UserId: "only-in-b"},
		{UserAttributes: b[0].GetUserAttributes()},
		{VisitedPage: &searchv1.UrlMatch{Operator: searchv1.UrlMatch_OPERATOR_CONTAINS, Value: ""}},
		{VisitedPage: &searchv1.UrlMatch{Operator: searchv1.UrlMatch_OPERATOR_PREFIX, Value: "https://"}},
	}
	for _, f := range probes {
		res, err := ix.Search(ctx, index.Query{SiteID: SiteA, Filter: f, Limit: 200})
		if err != nil {
			t.Fatalf("search: %v", err)
		}
		for _, s := range res.Sessions {
			if s.GetSiteId() != SiteA {
				t.Fatalf("filter %v on site A returned site %d", f, s.GetSiteId())
			}
		}
		n, err := ix.Count(ctx, SiteA, f)
		if err != nil {
			t.Fatalf("count: %v", err)
		}
		if want := int64(len(Sorted(a, f, 0, false))); n != want || res.Total != want {
			t.Fatalf("filter %v on site A: count %d total %d, want %d", f, n, res.Total, want)
		}
	}
	if got := getOne(t, ix, SiteB, twinB.GetSessionId()); got.GetUserId() != "only-in-b" {
		t.Fatalf("site B's twin was overwritten by site A's: %v", got)
	}
	// A site with no documents sees nothing.
	if n, err := ix.Count(ctx, 3_000_000_999, nil); err != nil || n != 0 {
		t.Fatalf("empty site count %d, %v", n, err)
	}
	// Deleting site A's twin leaves site B's.
	if _, err := ix.Delete(ctx, SiteA, index.Selector{SessionIDs: []string{twinA.GetSessionId()}}); err != nil {
		t.Fatal(err)
	}
	if getOne(t, ix, SiteB, twinB.GetSessionId()) == nil {
		t.Fatal("deleting site A's session removed site B's session with the same id")
	}
}

// checkURLRule checks the URL rule m as the visited, entry and exit page
// of a query over docs (name labels it), after checking the reference
// itself against the expectation, want (indexes into set: the sessions m
// matches as the visited page), so a reference bug cannot hide a backend
// bug that shares it.
func checkURLRule(t *testing.T, ix index.Index, docs []*sessionsv1.SessionSummary, name string, m *searchv1.UrlMatch, set []*sessionsv1.SessionSummary, want []int) {
	t.Helper()
	var wantIDs, ref []string
	for _, i := range want {
		wantIDs = append(wantIDs, set[i].GetSessionId())
	}
	for _, s := range set {
		if Matches(&searchv1.SessionFilter{VisitedPage: m}, s) {
			ref = append(ref, s.GetSessionId())
		}
	}
	slices.Sort(ref)
	slices.Sort(wantIDs)
	if !slices.Equal(ref, wantIDs) {
		t.Fatalf("reference: %s %q matches %v, want %v", name, m.GetValue(), ref, wantIDs)
	}
	for _, f := range []*searchv1.SessionFilter{{VisitedPage: m}, {EntryPage: m}, {ExitPage: m}} {
		checkQuery(t, ix, docs, fmt.Sprintf("%s %v", name, f), f, searchv1.SortField_SORT_FIELD_START_TIME, false, 7)
	}
}

// onePageSessions are sessions of site A with one page view each, of the
// URLs in order (generated with seeds from seed on, ids label0, label1…).
func onePageSessions(seed uint64, label string, urls []string) []*sessionsv1.SessionSummary {
	var out []*sessionsv1.SessionSummary
	for i, u := range urls {
		s := Generate(seed+uint64(i), SiteA, fmt.Sprintf("%s%d", label, i), 1)[0]
		s.Pages = []*sessionsv1.PageView{{PageViewId: "pv", Url: u, StartTime: s.StartTime, Duration: s.Duration}}
		s.PageCount, s.EntryUrl, s.ExitUrl = 1, u, u
		out = append(out, s)
	}
	return out
}

// pageURLs are the URLs of the docs' pages, in order.
func pageURLs(docs []*sessionsv1.SessionSummary) []string {
	var urls []string
	for _, s := range docs {
		for _, p := range s.GetPages() {
			urls = append(urls, p.GetUrl())
		}
	}
	return urls
}

// onRandomPage is a filter with m as the visited, the entry or the exit
// page, drawn with rng.
func onRandomPage(rng *rand.Rand, m *searchv1.UrlMatch) *searchv1.SessionFilter {
	switch rng.IntN(3) {
	case 0:
		return &searchv1.SessionFilter{VisitedPage: m}
	case 1:
		return &searchv1.SessionFilter{EntryPage: m}
	default:
		return &searchv1.SessionFilter{ExitPage: m}
	}
}

func pattern(v string) *searchv1.UrlMatch {
	return &searchv1.UrlMatch{Operator: searchv1.UrlMatch_OPERATOR_PATTERN, Value: v}
}

// trickyPages are URLs holding what a wildcard or regexp syntax would take
// for its own: '?', '\', '*', a newline, multi-byte text.
var trickyPages = []string{
	"https://x.example/a?b", "https://x.example/aXb", `https://x.example/a\b`, "https://x.example/a*b",
	"https://x.example/line\nbreak", "https://x.example/größe/ü", "https://x.example/a",
	longPage,
}

// longPage has literal runs longer than a backend may put in an automaton,
// cut (at 128 bytes) in the middle of a character.
var longPage = "https://xy.example/" + strings.Repeat("é", 100) + "/" + strings.Repeat("ü", 40) + "/end"

// trickyPatterns must each match exactly the tricky pages named by index.
var trickyPatterns = map[string][]int{
	"https://x.example/a?b":              {0},
	`https://x.example/a\b`:              {2},
	`https://x.example/a\*`:              {2},
	"https://x.example/a*b":              {0, 1, 2, 3},
	"https://x.example/a*":               {0, 1, 2, 3, 6},
	"*\n*":                               {4},
	"https://x.example/line*break":       {4},
	"*/größe/*":                          {5},
	"*ü":                                 {5},
	"*é*":                                {7},
	"https://x.example/a?":               {},
	"https://x.example/a?b*":             {0},
	"/a?b":                               {},
	"/a*":                                {0, 1, 2, 3, 6},
	"/a":                                 {0, 6},
	"https://x.example/*/*":              {5},
	"**x.example/a**b**":                 {0, 1, 2, 3},
	"https://x.example/aXb*?*":           {},
	"https://x.example/a*b*b":            {},
	"https://x.example/gr*/ü":            {5},
	longPage[:len(longPage)-3] + "*":     {7},
	longPage[:len(longPage)-4] + "*/end": {7},
	"https://xy.example/" + strings.Repeat("é", 101) + "*":                {},
	"*/" + strings.Repeat("ü", 40) + "/e*":                                {7},
	"*/" + strings.Repeat("ü", 41) + "*":                                  {},
	"https://xy.example/*" + strings.Repeat("é", 99) + "/ü*":              {7},
	"/" + strings.Repeat("é", 100) + "/" + strings.Repeat("ü", 40) + "/*": {7},
}

// testPatterns checks PATTERN URL filters and clicked_element against the
// reference: fixed cases on tricky URLs, then random patterns cut from the
// indexed URLs themselves (so many match) and random clicked elements.
func testPatterns(t *testing.T, ix index.Index) {
	a, _ := load(t, ix)
	tricky := onePageSessions(50, "tricky", trickyPages)
	upsert(t, ix, tricky)
	docs := append(slices.Clone(a), tricky...)

	for p, want := range trickyPatterns {
		checkURLRule(t, ix, docs, "tricky", pattern(p), tricky, want)
	}

	rng := rand.New(rand.NewPCG(11, 13))
	urls := pageURLs(docs)
	singles := singleFilters(a)
	matched, empty := 0, 0
	for i := range 150 {
		v := randomPattern(rng, urls[rng.IntN(len(urls))])
		f := onRandomPage(rng, pattern(v))
		if rng.IntN(3) == 0 {
			f.ClickedElement = Selectors[rng.IntN(len(Selectors))]
		}
		if rng.IntN(4) == 0 {
			f.RageClickedElement = Selectors[rng.IntN(len(Selectors))]
		}
		if rng.IntN(4) == 0 {
			f.DeadClickedElement = Selectors[rng.IntN(len(Selectors))]
		}
		if rng.IntN(4) == 0 {
			proto.Merge(f, randomFilter(rng, singles))
		}
		if len(Sorted(docs, f, 0, false)) > 0 {
			matched++
		} else {
			empty++
		}
		checkQuery(t, ix, docs, fmt.Sprintf("random pattern %d %v", i, f), f, searchv1.SortField(1+rng.IntN(4)), rng.IntN(2) == 0, 1+rng.IntN(40))
	}
	for i, sel := range append(slices.Clone(Selectors), "#nothing", "BUTTON.größe", "#buy ") {
		f := &searchv1.SessionFilter{ClickedElement: sel}
		n := len(Sorted(docs, f, 0, false))
		if i < len(Selectors) && n == 0 {
			t.Fatalf("generated data never clicks %q", sel)
		}
		checkQuery(t, ix, docs, fmt.Sprintf("clicked %q", sel), f, searchv1.SortField_SORT_FIELD_START_TIME, false, 25)
		// A rage (dead) click is a click: the sessions are a part of those
		// that clicked it, and for most selectors a proper part.
		for _, f := range []*searchv1.SessionFilter{{RageClickedElement: sel}, {DeadClickedElement: sel}} {
			m := len(Sorted(docs, f, 0, false))
			if i < len(Selectors) && (m == 0 || m > n) {
				t.Fatalf("generated data: %v selects %d sessions, %d clicked it", f, m, n)
			}
			checkQuery(t, ix, docs, fmt.Sprintf("%v", f), f, searchv1.SortField_SORT_FIELD_START_TIME, false, 25)
		}
	}
	// Both outcomes must be common, or agreeing with the reference proves
	// little.
	if matched < 40 || empty < 20 {
		t.Fatalf("random patterns: %d matched, %d empty; want both common", matched, empty)
	}
}

// randomPattern cuts a pattern from a URL (or its path): up to four runs
// replaced by "*" (empty runs insert one), and sometimes one byte changed so
// that it may no longer match.
func randomPattern(rng *rand.Rand, u string) string {
	if rng.IntN(3) == 0 {
		if p := index.PagePath(u); p != "" {
			u = p
		}
	}
	b := []byte(u)
	if rng.IntN(4) == 0 {
		b[rng.IntN(len(b))] = 'Z'
	}
	for range rng.IntN(5) {
		i := rng.IntN(len(b) + 1)
		j := i + rng.IntN(min(8, len(b)-i)+1)
		b = slices.Concat(b[:i], []byte("*"), b[j:])
	}
	if !utf8.Valid(b) || len(b) == 0 {
		return "*"
	}
	return string(b)
}

// equalsPages are spellings of pages that a full-URL EQUALS must see
// through (query, fragment, host case, default port, trailing slash) or
// tell apart (scheme, path case, port, a longer path).
var equalsPages = []string{
	"https://shop.example/p",                 // 0
	"https://Shop.EXAMPLE/p?utm_source=news", // 1
	"https://shop.example/p/#reviews",        // 2
	"https://shop.example:443/p?b=1&a=2#x",   // 3
	"http://shop.example/p",                  // 4: another scheme
	"https://shop.example/P",                 // 5: paths are case sensitive
	"https://shop.example/p/q",               // 6
	"https://shop.example:8443/p",            // 7: another port
	"https://shop.example/",                  // 8
	"https://shop.example",                   // 9
	"not a url?x",                            // 10: compared as is
	"https://shop.example/a%20b?x",           // 11
	"ftp://shop.example/p",                   // 12: not http(s), compared as is
}

// equalsValues must each select exactly the equals pages named by index.
// Path-form values keep comparing the path as it is (with its trailing
// slash).
var equalsValues = map[string][]int{
	"https://shop.example/p":                 {0, 1, 2, 3},
	"https://SHOP.example/p/?utm_source=x#y": {0, 1, 2, 3},
	"HTTPS://shop.example:443/p":             {0, 1, 2, 3},
	"https://shop.example/p?":                {0, 1, 2, 3},
	"http://shop.example:80/p":               {4},
	"https://shop.example/P":                 {5},
	"https://shop.example/p/q/":              {6},
	"https://shop.example:8443/p/":           {7},
	"https://shop.example":                   {8, 9},
	"https://shop.example/?q#f":              {8, 9},
	"not a url?x":                            {10},
	"not a url":                              {},
	"https://shop.example/a%20b":             {11},
	"https://shop.example/a b#c":             {11},
	"ftp://shop.example/p":                   {12},
	"ftp://shop.example/p/":                  {},
	"https://shop.example/p/q/r":             {},
	"/p":                                     {0, 1, 3, 4, 7, 12},
	"/p/":                                    {2},
}

func equalsMatch(v string) *searchv1.UrlMatch {
	return &searchv1.UrlMatch{Operator: searchv1.UrlMatch_OPERATOR_EQUALS, Value: v}
}

// testEqualsPageKeys checks EQUALS URL filters against the reference:
// fixed cases on the equals pages, then values re-spelt from the indexed
// URLs (utm tags, fragments, host case, trailing slashes added, sometimes
// a byte changed so that they no longer match).
func testEqualsPageKeys(t *testing.T, ix index.Index) {
	a, _ := load(t, ix)
	pages := onePageSessions(80, "equals", equalsPages)
	// One session through several of them: visited matches any page,
	// entry and exit only their own.
	multi := Generate(99, SiteA, "equals-multi", 1)[0]
	multi.Pages = nil
	for j, u := range []string{equalsPages[5], equalsPages[1], equalsPages[10]} {
		multi.Pages = append(multi.Pages, &sessionsv1.PageView{PageViewId: fmt.Sprint("pv", j), Url: u, StartTime: multi.StartTime, Duration: multi.Duration})
	}
	multi.PageCount, multi.EntryUrl, multi.ExitUrl = 3, equalsPages[5], equalsPages[10]
	upsert(t, ix, append(slices.Clone(pages), multi))
	docs := append(slices.Concat(a, pages), multi)

	for v, want := range equalsValues {
		checkURLRule(t, ix, docs, "equals", equalsMatch(v), pages, want)
	}
	for _, c := range []struct {
		f    *searchv1.SessionFilter
		want bool
	}{
		{&searchv1.SessionFilter{VisitedPage: equalsMatch("https://shop.example/p#x")}, true},
		{&searchv1.SessionFilter{EntryPage: equalsMatch("https://shop.example/p#x")}, false},
		{&searchv1.SessionFilter{EntryPage: equalsMatch("https://shop.example/P?x")}, true},
		{&searchv1.SessionFilter{ExitPage: equalsMatch("not a url?x")}, true},
		{&searchv1.SessionFilter{ExitPage: equalsMatch("https://shop.example/p")}, false},
	} {
		if got := Matches(c.f, multi); got != c.want {
			t.Fatalf("reference: %v on the multi-page session = %v, want %v", c.f, got, c.want)
		}
		n, err := ix.Count(context.Background(), SiteA, c.f)
		if err != nil {
			t.Fatalf("count %v: %v", c.f, err)
		}
		if want := int64(len(Sorted(docs, c.f, 0, false))); n != want {
			t.Fatalf("%v: count %d, want %d", c.f, n, want)
		}
	}

	rng := rand.New(rand.NewPCG(17, 19))
	urls := pageURLs(docs)
	matched, empty, respelt := 0, 0, 0
	for i := range 120 {
		v := respell(rng, urls[rng.IntN(len(urls))])
		f := onRandomPage(rng, equalsMatch(v))
		if rng.IntN(4) == 0 {
			f.DeviceTypes = []sessionsv1.DeviceType{sessionsv1.DeviceType(1 + rng.IntN(3))}
		}
		if n := len(Sorted(docs, f, 0, false)); n > 0 {
			matched++
			if spelledOtherwise(docs, f) > 0 {
				respelt++
			}
		} else {
			empty++
		}
		checkQuery(t, ix, docs, fmt.Sprintf("random equals %d %v", i, f), f, searchv1.SortField(1+rng.IntN(4)), rng.IntN(2) == 0, 1+rng.IntN(40))
	}
	if matched < 40 || empty < 10 || respelt < 20 {
		t.Fatalf("random equals: %d matched (%d by page key alone), %d empty; want all common", matched, respelt, empty)
	}
}

// respell writes a URL another way: with utm tags, a fragment, an
// upper-case host or a trailing slash (the same page), and sometimes one
// byte changed (most likely another page).
func respell(rng *rand.Rand, u string) string {
	if rng.IntN(6) == 0 {
		b := []byte(u)
		b[rng.IntN(len(b))] = 'Z'
		if utf8.Valid(b) {
			u = string(b)
		}
	}
	base, rest, _ := strings.Cut(u, "#")
	base, query, hasQuery := strings.Cut(base, "?")
	if scheme, after, ok := strings.Cut(base, "://"); ok && rng.IntN(3) == 0 {
		host, path, _ := strings.Cut(after, "/")
		base = scheme + "://" + strings.ToUpper(host) + "/" + path
	}
	if rng.IntN(4) == 0 && !strings.HasSuffix(base, "/") {
		base += "/"
	}
	if rng.IntN(2) == 0 {
		query, hasQuery = "utm_campaign=respelt", true
	}
	out := base
	if hasQuery {
		out += "?" + query
	}
	if rng.IntN(3) == 0 {
		rest = "frag"
	}
	if rest != "" {
		out += "#" + rest
	}
	return out
}

// testSessionIDs: Query.SessionIDs restricts a search (hits, total,
// paging) to those sessions of the site, ANDed with the filter; another
// site's ids and unknown ids match nothing.
func testSessionIDs(t *testing.T, ix index.Index) {
	a, b := load(t, ix)
	rng := rand.New(rand.NewPCG(7, 16))
	var chosen []*sessionsv1.SessionSummary
	for _, i := range rng.Perm(len(a))[:40] {
		chosen = append(chosen, a[i])
	}
	idsOf := append(ids(chosen), b[0].GetSessionId(), "s_nosuchsession000")
	for _, f := range []*searchv1.SessionFilter{nil, {DeviceTypes: []sessionsv1.DeviceType{a[0].GetClient().GetDeviceType()}}} {
		want := Sorted(chosen, f, 0, false)
		got := all(t, ix, index.Query{SiteID: SiteA, Filter: f, Limit: 7, SessionIDs: idsOf})
		if !slices.Equal(ids(got), ids(want)) {
			t.Fatalf("session ids with filter %v: got %v\nwant %v", f, head(ids(got)), head(ids(want)))
		}
	}
	// Site B asked for site A's ids gets none of them.
	res, err := ix.Search(context.Background(), index.Query{SiteID: SiteB, Limit: 100, SessionIDs: ids(chosen)})
	if err != nil {
		t.Fatal(err)
	}
	if res.Total != 0 || len(res.Sessions) != 0 {
		t.Fatalf("site B's search by site A's ids: total %d, %d hits", res.Total, len(res.Sessions))
	}
}
