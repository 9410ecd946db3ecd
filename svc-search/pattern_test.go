package search

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	searchv1 "github.com/sightlinehq/sightline/gen/sightline/search/v1"
	sessionsv1 "github.com/sightlinehq/sightline/gen/sightline/sessions/v1"
	"github.com/sightlinehq/sightline/pagerule"
	"github.com/sightlinehq/sightline/siteaccess/siteaccesstest"
	"github.com/sightlinehq/sightline/svc-search/index/indextest"
)

// The page rules of heatmaps and the URL filter are one: the operators
// must keep the same numbers.
func TestOperatorsArePageRules(t *testing.T) {
	for op, name := range map[pagerule.Op]string{
		pagerule.Equals: "OPERATOR_EQUALS", pagerule.Contains: "OPERATOR_CONTAINS",
		pagerule.Prefix: "OPERATOR_PREFIX", pagerule.Pattern: "OPERATOR_PATTERN",
	} {
		if got := searchv1.UrlMatch_Operator(op).String(); got != name {
			t.Errorf("pagerule op %d is %s in search, want %s", op, got, name)
		}
	}
}

func pat(v string) *searchv1.UrlMatch {
	return &searchv1.UrlMatch{Operator: searchv1.UrlMatch_OPERATOR_PATTERN, Value: v}
}

// TestPatternsAndClickedElementsOverGRPC: page patterns and clicked
// elements answer what the reference says, the limits are enforced with
// clear messages, and values at the limits built to be slow for an
// automaton answer quickly.
func TestPatternsAndClickedElementsOverGRPC(t *testing.T) {
	c, svc := serve(t, testConfig(t), Deps{Authorizer: siteaccesstest.AllowAll{}})
	a, _ := loadRPC(t, c)
	ctx := t.Context()
	want := func(f *searchv1.SessionFilter) int64 {
		var n int64
		for _, s := range a {
			if indextest.Matches(f, s) {
				n++
			}
		}
		return n
	}
	for _, f := range []*searchv1.SessionFilter{
		{VisitedPage: pat("*")},
		{VisitedPage: pat("https://shop.example.com/*")},
		{EntryPage: pat("/pricing*")},
		{ExitPage: pat("*?ref=*")},
		{VisitedPage: pat("https://www.example.com/pricing?*")},
		{ClickedElement: "#buy"},
		{ClickedElement: "button.größe", VisitedPage: pat("*/checkout")},
		{RageClickedElement: "#buy"},
		{DeadClickedElement: `div[data-test="add*to?cart"]>button`, VisitedPage: pat("*/checkout")},
		// A heatmap's link: its "equals" rule on a whole URL (page keys:
		// tags, fragment, host case and trailing slash do not matter) and
		// the clicked element.
		{ClickedElement: "#buy", VisitedPage: &searchv1.UrlMatch{Operator: searchv1.UrlMatch_OPERATOR_EQUALS, Value: "https://Shop.Example.com/checkout/?utm_source=news#pay"}},
		{ExitPage: &searchv1.UrlMatch{Operator: searchv1.UrlMatch_OPERATOR_EQUALS, Value: "https://www.example.com/pricing?ref=9"}},
	} {
		res, err := c.CountSessions(ctx, &searchv1.CountSessionsRequest{SiteId: siteA, Filter: f})
		if err != nil {
			t.Fatalf("%v: %v", f, err)
		}
		if w := want(f); res.Count != w || w == 0 {
			t.Fatalf("%v: count %d, want %d (> 0)", f, res.Count, w)
		}
	}
	if n := want(&searchv1.SessionFilter{VisitedPage: pat("*")}); n != int64(len(a)) {
		t.Fatalf(`"*" matches %d of %d sessions`, n, len(a))
	}

	// At the limits, and shaped to blow up a DFA: each answers at once.
	tail := strings.Repeat("a*", 15)
	for _, m := range []*searchv1.UrlMatch{
		pat("*" + strings.Repeat("é", (pagerule.MaxValue-2)/2) + "*"),
		pat("*" + strings.Repeat("ab", (pagerule.MaxValue-1-len(tail))/2) + tail),
		pat("https://shop.example.com/" + strings.Repeat("*?", 16)),
		{Operator: searchv1.UrlMatch_OPERATOR_CONTAINS, Value: strings.Repeat("é", pagerule.MaxValue/2)},
	} {
		if len(m.Value) > pagerule.MaxValue {
			t.Fatalf("test value of %d bytes", len(m.Value))
		}
		start := time.Now()
		res, err := c.SearchSessions(ctx, &searchv1.SearchSessionsRequest{SiteId: siteA, Filter: &searchv1.SessionFilter{VisitedPage: m}})
		if err != nil {
			t.Fatalf("%d-byte %v: %v", len(m.Value), m.Operator, err)
		}
		if took := time.Since(start); took > time.Second {
			t.Fatalf("%d-byte %v took %v", len(m.Value), m.Operator, took)
		}
		if w := want(&searchv1.SessionFilter{VisitedPage: m}); res.Total != w {
			t.Fatalf("%d-byte %v: %d hits, want %d", len(m.Value), m.Operator, res.Total, w)
		}
	}

	for name, tc := range map[string]struct {
		f    *searchv1.SessionFilter
		want string
	}{
		"17 stars":           {&searchv1.SessionFilter{VisitedPage: pat(strings.Repeat("a*", 17))}, "filter.visited_page.value: at most 16 *"},
		"long pattern":       {&searchv1.SessionFilter{EntryPage: pat(strings.Repeat("a", pagerule.MaxValue+1))}, "filter.entry_page.value: longer than 2048"},
		"pattern not utf8":   {&searchv1.SessionFilter{ExitPage: pat("\xff*")}, "filter.exit_page.value: not valid UTF-8"},
		"long selector":      {&searchv1.SessionFilter{ClickedElement: strings.Repeat("b", 201)}, "filter.clicked_element is 201 bytes"},
		"selector not utf8":  {&searchv1.SessionFilter{ClickedElement: "a\xc3"}, "filter.clicked_element is not valid UTF-8"},
		"long rage selector": {&searchv1.SessionFilter{RageClickedElement: strings.Repeat("b", 201)}, "filter.rage_clicked_element is 201 bytes"},
		"dead not utf8":      {&searchv1.SessionFilter{DeadClickedElement: "\xff"}, "filter.dead_clicked_element is not valid UTF-8"},
	} {
		// Called directly: gRPC itself refuses to send invalid UTF-8, but
		// the service must not rely on every caller being gRPC.
		_, err := svc.SearchSessions(ctx, &searchv1.SearchSessionsRequest{SiteId: siteA, Filter: tc.f})
		if st := status.Convert(err); st.Code() != codes.InvalidArgument || !strings.Contains(st.Message(), tc.want) {
			t.Errorf("%s: %v, want InvalidArgument %q", name, err, tc.want)
		}
		_, err = svc.CountSessions(ctx, &searchv1.CountSessionsRequest{SiteId: siteA, Filter: tc.f})
		if status.Code(err) != codes.InvalidArgument {
			t.Errorf("%s: count: %v, want InvalidArgument", name, err)
		}
	}
	// Exactly at the limits is accepted.
	for _, f := range []*searchv1.SessionFilter{
		{VisitedPage: pat(strings.Repeat("*", 16))},
		{VisitedPage: pat(strings.Repeat("a", pagerule.MaxValue))},
		{ClickedElement: strings.Repeat("b", 200)},
		{RageClickedElement: strings.Repeat("b", 200), DeadClickedElement: strings.Repeat("é", 100)},
	} {
		if _, err := c.CountSessions(ctx, &searchv1.CountSessionsRequest{SiteId: siteA, Filter: f}); err != nil {
			t.Errorf("at the limit: %v", err)
		}
	}

	// Summaries: at most 100 selectors of at most 200 bytes, UTF-8.
	base := indextest.Generate(9, siteA, "ce", 1)[0]
	for name, tc := range map[string]struct {
		set  func(*sessionsv1.SessionSummary, []string)
		sels []string
		want string
	}{
		"101 selectors":          {setClicked, manySelectors(101), "sessions[0] has 101 clicked_elements"},
		"long selector":          {setClicked, []string{"a", strings.Repeat("x", 201)}, "sessions[0].clicked_elements[1] is 201 bytes"},
		"selector not utf8":      {setClicked, []string{"\xff"}, "sessions[0].clicked_elements[0] is not valid UTF-8"},
		"101 rage selectors":     {setRaged, manySelectors(101), "sessions[0] has 101 rage_clicked_elements"},
		"long dead selector":     {setDeadOn, []string{strings.Repeat("x", 201)}, "sessions[0].dead_clicked_elements[0] is 201 bytes"},
		"rage selector not utf8": {setRaged, []string{"a", "\xc3"}, "sessions[0].rage_clicked_elements[1] is not valid UTF-8"},
	} {
		s := proto.Clone(base).(*sessionsv1.SessionSummary)
		tc.set(s, tc.sels)
		_, err := svc.UpsertSessions(ctx, &searchv1.UpsertSessionsRequest{Sessions: []*sessionsv1.SessionSummary{s}})
		if st := status.Convert(err); st.Code() != codes.InvalidArgument || !strings.Contains(st.Message(), tc.want) {
			t.Errorf("%s: %v, want InvalidArgument %q", name, err, tc.want)
		}
	}
	s := proto.Clone(base).(*sessionsv1.SessionSummary)
	s.ClickedElements = manySelectors(100)
	s.RageClickedElements, s.DeadClickedElements = manySelectors(100)[50:], manySelectors(100)[:50]
	if _, err := c.UpsertSessions(ctx, &searchv1.UpsertSessionsRequest{Sessions: []*sessionsv1.SessionSummary{s}}); err != nil {
		t.Fatalf("100 selectors: %v", err)
	}
	for _, f := range []*searchv1.SessionFilter{{ClickedElement: s.ClickedElements[99]}, {RageClickedElement: s.ClickedElements[99]}, {DeadClickedElement: s.ClickedElements[49]}} {
		res, err := c.SearchSessions(ctx, &searchv1.SearchSessionsRequest{SiteId: siteA, Filter: f})
		if err != nil || len(res.Sessions) != 1 || !proto.Equal(res.Sessions[0], s) {
			t.Fatalf("%v finds %v, %v", f, res.GetSessions(), err)
		}
	}
}

func setClicked(s *sessionsv1.SessionSummary, sels []string) { s.ClickedElements = sels }
func setRaged(s *sessionsv1.SessionSummary, sels []string)   { s.RageClickedElements = sels }
func setDeadOn(s *sessionsv1.SessionSummary, sels []string)  { s.DeadClickedElements = sels }

func manySelectors(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = "li:nth-child(" + strings.Repeat("1", 1+i%5) + ")>a#n" + string(rune('a'+i%26)) + strings.Repeat("x", i/26)
	}
	return out
}

// TestTooComplexIsInvalidArgument: a pattern the Elasticsearch backend
// refuses as too complex reaches the caller as InvalidArgument with advice,
// not as an internal error.
func TestTooComplexIsInvalidArgument(t *testing.T) {
	es := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Elastic-Product", "Elasticsearch")
		w.Header().Set("Content-Type", "application/json")
		switch {
		case strings.HasSuffix(r.URL.Path, "/_search") || strings.HasSuffix(r.URL.Path, "/_count"):
			w.WriteHeader(http.StatusBadRequest)
			io.WriteString(w, `{"error":{"root_cause":[{"type":"too_complex_to_determinize_exception","reason":"Determinizing automaton would require more than 10000 states."}],"type":"search_phase_execution_exception","reason":"all shards failed"},"status":400}`)
		default:
			io.WriteString(w, `{"acknowledged":true}`)
		}
	}))
	defer es.Close()
	cfg := testConfig(t)
	cfg.Backend = BackendElasticsearch
	cfg.Elasticsearch.URLs = stringList{es.URL}
	c, _ := serve(t, cfg, Deps{Authorizer: siteaccesstest.AllowAll{}})
	f := &searchv1.SessionFilter{VisitedPage: pat("*a*b*c*d*")}
	_, err := c.SearchSessions(t.Context(), &searchv1.SearchSessionsRequest{SiteId: siteA, Filter: f})
	if st := status.Convert(err); st.Code() != codes.InvalidArgument || !strings.Contains(st.Message(), "too complex") {
		t.Fatalf("search: %v, want InvalidArgument", err)
	}
	_, err = c.CountSessions(t.Context(), &searchv1.CountSessionsRequest{SiteId: siteA, Filter: f})
	if status.Code(err) != codes.InvalidArgument {
		t.Fatalf("count: %v, want InvalidArgument", err)
	}
}
