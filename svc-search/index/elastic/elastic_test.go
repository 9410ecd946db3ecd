package elastic_test

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	searchv1 "github.com/sightlinehq/sightline/gen/sightline/search/v1"
	sessionsv1 "github.com/sightlinehq/sightline/gen/sightline/sessions/v1"
	"github.com/sightlinehq/sightline/svc-search/index"
	"github.com/sightlinehq/sightline/svc-search/index/elastic"
	"github.com/sightlinehq/sightline/svc-search/index/elastic/estest"
	"github.com/sightlinehq/sightline/svc-search/index/indextest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestConformance runs the shared suite against a real Elasticsearch when
// ELASTICSEARCH_URL is set (deploy/compose starts one).
func TestConformance(t *testing.T) {
	addrs := estest.Addresses(t, "")
	indextest.Run(t, func(t *testing.T) index.Index {
		ix, err := elastic.Open(t.Context(), elastic.Config{Addresses: addrs, IndexPrefix: estest.Prefix(t, addrs, "sessions"), Replicas: 0})
		if err != nil {
			t.Fatal(err)
		}
		return ix
	})
}

func tp(b bool) *bool { return &b }

var base = time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)

// everyFilter sets every condition of a SessionFilter.
func everyFilter() *searchv1.SessionFilter {
	return &searchv1.SessionFilter{
		StartTime:          &searchv1.TimeRange{Start: timestamppb.New(base), End: timestamppb.New(base.Add(7*24*time.Hour + time.Microsecond))},
		Duration:           &searchv1.DurationRange{Min: durationpb.New(60*time.Second + 500*time.Microsecond), Max: durationpb.New(time.Hour)},
		ActiveDuration:     &searchv1.DurationRange{Min: durationpb.New(10 * time.Second)},
		VisitedPage:        &searchv1.UrlMatch{Operator: searchv1.UrlMatch_OPERATOR_EQUALS, Value: "/pricing"},
		EntryPage:          &searchv1.UrlMatch{Operator: searchv1.UrlMatch_OPERATOR_PREFIX, Value: "https://shop.example.com/"},
		ExitPage:           &searchv1.UrlMatch{Operator: searchv1.UrlMatch_OPERATOR_CONTAINS, Value: `a*b?c\d`},
		PageCount:          &searchv1.IntRange{Min: 2, Max: 9},
		DeviceTypes:        []sessionsv1.DeviceType{sessionsv1.DeviceType_DEVICE_TYPE_MOBILE, sessionsv1.DeviceType_DEVICE_TYPE_TABLET},
		Browsers:           []string{"Chrome", "Safari"},
		Oses:               []string{"iOS"},
		Countries:          []string{"DE"},
		ReferrerDomain:     "google.com",
		UtmSource:          "newsletter",
		UtmMedium:          "email",
		UtmCampaign:        "spring-sale",
		UserId:             "u-42",
		UserAttributes:     []*sessionsv1.Attribute{{Key: "plan", Value: "pro"}},
		CustomEvent:        "purchase",
		ClickedElement:     `div[data-x="a*b?"]>button`,
		RageClickedElement: "#buy",
		DeadClickedElement: "main>p.lead",
		HasRageClicks:      tp(true),
		HasDeadClicks:      tp(false),
		HasErrors:          tp(true),
		Truncated:          tp(false),
		// {max: 2} is "rating ≤ 2": at least 1 (0 is feedback without a
		// rating), feedback required.
		HasFeedback:       tp(true),
		FeedbackRating:    &searchv1.IntRange{Max: 2},
		HasSurveyResponse: tp(false),
	}
}

const site = int64(3_000_000_001)

func TestTemplateGolden(t *testing.T) {
	estest.Golden(t, "template", elastic.TemplateBody("sightline", 3, 1))
}

func TestSearchBodiesGolden(t *testing.T) {
	for name, q := range map[string]index.Query{
		"search_all_filters": {SiteID: site, Filter: everyFilter(), Limit: 50,
			Facets: []searchv1.FacetField{searchv1.FacetField_FACET_FIELD_DEVICE_TYPE, searchv1.FacetField_FACET_FIELD_PAGE}},
		"search_empty_filter": {SiteID: site, Limit: 20},
		"search_after_duration_asc": {SiteID: site, Limit: 10, Sort: searchv1.SortField_SORT_FIELD_DURATION, Ascending: true,
			After: &index.Cursor{Value: 61_000, SessionID: "s-9"}, FacetSize: 3,
			Facets: []searchv1.FacetField{searchv1.FacetField_FACET_FIELD_COUNTRY}},
		"search_after_start_desc": {SiteID: site, Limit: 10, After: &index.Cursor{Value: base.UnixNano(), SessionID: "s-1"}},
		// A funnel's recorded sessions: one more filter clause, under the site.
		"search_session_ids": {SiteID: site, Limit: 3, SessionIDs: []string{"s-1", "s-2", "s-3"},
			Filter: &searchv1.SessionFilter{Countries: []string{"DE"}}},
		// Full-URL EQUALS looks up page keys (utm tags, fragment, host
		// case, default port and trailing slash dropped); a value that is
		// not an http(s) URL is looked up as is.
		"search_equals_page_keys": {SiteID: site, Limit: 10, Filter: &searchv1.SessionFilter{
			VisitedPage: &searchv1.UrlMatch{Operator: searchv1.UrlMatch_OPERATOR_EQUALS, Value: "https://Shop.Example.com:443/p/?utm_source=news#top"},
			EntryPage:   &searchv1.UrlMatch{Operator: searchv1.UrlMatch_OPERATOR_EQUALS, Value: "android-app://com.example/p?x"},
			ExitPage:    &searchv1.UrlMatch{Operator: searchv1.UrlMatch_OPERATOR_EQUALS, Value: "http://shop.example.com"},
		}},
		"search_patterns": {SiteID: site, Limit: 10, Filter: &searchv1.SessionFilter{
			VisitedPage: &searchv1.UrlMatch{Operator: searchv1.UrlMatch_OPERATOR_PATTERN, Value: "https://shop.example.com/product/*"},
			EntryPage:   &searchv1.UrlMatch{Operator: searchv1.UrlMatch_OPERATOR_PATTERN, Value: "/p/*/reviews"},
			ExitPage:    &searchv1.UrlMatch{Operator: searchv1.UrlMatch_OPERATOR_PATTERN, Value: `*?q=a\b*`},
		}},
	} {
		body, err := elastic.SearchBody(q)
		estest.SearchBody(t, name, body, err, q.SiteID)
	}
	if _, err := elastic.SearchBody(index.Query{SiteID: site}); err == nil {
		t.Fatal("zero limit accepted")
	}
}

func TestDeleteBodiesGolden(t *testing.T) {
	estest.DeleteBodies(t, site, elastic.DeleteBody, map[string]index.Selector{
		"delete_ids":     {SessionIDs: []string{"s-1", "s-2"}},
		"delete_visitor": {VisitorID: "v-1"},
		"delete_site":    {WholeSite: true},
		"delete_before":  {StartedBefore: base},
	})
}

// TestFilterNamingAnotherSite: a filter naming another site's user id,
// visitor or URLs still carries this site's term, and nothing else
// mentions site_id.
func TestFilterNamingAnotherSite(t *testing.T) {
	f := everyFilter()
	f.UserId = "user-of-site-b"
	q, err := elastic.FilterQuery(site, f)
	if err != nil {
		t.Fatal(err)
	}
	estest.SiteFirst(t, "filter", q, site)
	raw, _ := json.Marshal(q)
	if n := strings.Count(string(raw), `"site_id"`); n != 1 {
		t.Fatalf("site_id appears %d times in %s", n, raw)
	}
}

func TestWildcardEscaping(t *testing.T) {
	q, err := elastic.FilterQuery(site, &searchv1.SessionFilter{
		VisitedPage: &searchv1.UrlMatch{Operator: searchv1.UrlMatch_OPERATOR_CONTAINS, Value: `.*(a+)+?\`}})
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := json.Marshal(q)
	want := `{"wildcard":{"pages.wc":{"value":"*.\\*(a+)+\\?\\\\*"}}}`
	if !strings.Contains(string(raw), want) {
		t.Fatalf("got %s, want it to contain %s", raw, want)
	}
}

// TestPatternEscaping: in a PATTERN only "*" is a wildcard; Elasticsearch's
// other wildcard '?' and its escape '\' are escaped to stand for
// themselves; a value starting with "/" matches the path field.
func TestPatternEscaping(t *testing.T) {
	for _, c := range []struct{ value, want string }{
		{`https://x/*?a=\*`, `{"wildcard":{"pages":{"value":"https://x/*\\?a=\\\\*"}}}`},
		{"*.*(a+)+$", `{"wildcard":{"pages":{"value":"*.*(a+)+$"}}}`},
		{"/p/*?", `{"wildcard":{"paths":{"value":"/p/*\\?"}}}`},
		{"**", `{"wildcard":{"pages":{"value":"**"}}}`},
	} {
		q, err := elastic.FilterQuery(site, &searchv1.SessionFilter{
			VisitedPage: &searchv1.UrlMatch{Operator: searchv1.UrlMatch_OPERATOR_PATTERN, Value: c.value}})
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := json.Marshal(q)
		if !strings.Contains(string(raw), c.want) {
			t.Errorf("pattern %q: got %s, want it to contain %s", c.value, raw, c.want)
		}
	}
	for _, c := range []struct {
		f    *searchv1.SessionFilter
		want string
	}{
		{&searchv1.SessionFilter{ClickedElement: `a[href*="x"]`}, `{"term":{"clicked_elements":"a[href*=\"x\"]"}}`},
		{&searchv1.SessionFilter{RageClickedElement: "#buy"}, `{"term":{"rage_clicked_elements":"#buy"}}`},
		{&searchv1.SessionFilter{DeadClickedElement: "main.p"}, `{"term":{"dead_clicked_elements":"main.p"}}`},
	} {
		q, err := elastic.FilterQuery(site, c.f)
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := json.Marshal(q)
		if !strings.Contains(string(raw), c.want) {
			t.Errorf("%v: got %s, want it to contain %s", c.f, raw, c.want)
		}
	}
}

func TestDocumentAndBulkItem(t *testing.T) {
	s := indextest.Generate(1, site, "d", 1)[0]
	item, err := elastic.BulkItem(s)
	if err != nil {
		t.Fatal(err)
	}
	if item.Action != "index" || item.DocumentID != index.DocID(site, s.SessionId) || item.Routing != fmt.Sprint(site) ||
		item.Version == nil || *item.Version != s.Version || item.VersionType != "external_gte" {
		t.Fatalf("bulk item %+v", item)
	}
	doc, _ := estest.MappedDocument(t, elastic.TemplateBody("x", 1, 0), item)
	pb, _ := base64.StdEncoding.DecodeString(doc["summary"].(string))
	back := &sessionsv1.SessionSummary{}
	if err := proto.Unmarshal(pb, back); err != nil || !proto.Equal(back, s) {
		t.Fatalf("summary does not round-trip: %v", err)
	}
	if doc["start_time"] != s.StartTime.AsTime().UTC().Format(time.RFC3339Nano) || doc["site_id"] != fmt.Sprint(site) {
		t.Fatalf("document %v", doc)
	}
}

// TestDocumentPageKeys: the page keys a full-URL EQUALS looks up are the
// distinct keys of the pages (a page that is not an http(s) URL as is), and
// those of the entry and exit URLs.
func TestDocumentPageKeys(t *testing.T) {
	s := indextest.Generate(1, site, "k", 1)[0]
	s.Pages = nil
	for _, u := range []string{"https://Shop.Example.com/p?utm_source=news", "https://shop.example.com:443/p/#top", "about:blank", "https://shop.example.com/q", ""} {
		s.Pages = append(s.Pages, &sessionsv1.PageView{Url: u})
	}
	s.EntryUrl, s.ExitUrl = s.Pages[0].Url, "about:blank"
	doc, err := elastic.Document(s)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := doc["page_keys"], []string{"https://shop.example.com/p", "about:blank", "https://shop.example.com/q"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("page_keys = %#v, want %#v", got, want)
	}
	if doc["entry_key"] != "https://shop.example.com/p" || doc["exit_key"] != "about:blank" {
		t.Fatalf("entry_key %v, exit_key %v", doc["entry_key"], doc["exit_key"])
	}
}

// fakeES answers just enough of the Elasticsearch API for the client, and
// records every request, so the test can check what the backend sends.
type fakeES struct {
	mu       sync.Mutex
	requests []recorded
	// bulkStatus answers each bulk item by document id (default 201).
	bulkStatus map[string]int
	search     string
	// aliasExists answers the alias check (an index from an earlier
	// version); mappingError, when set, refuses a mapping update of
	// properties with it.
	aliasExists  bool
	mappingError string
	// templateSchema is the _meta schema of the index template in place
	// (0: no template); marked the refresh mark of the indices' mapping
	// _meta. Both change as the client puts them.
	templateSchema int
	marked         bool
	// queryError, when set, fails every search and count with it.
	queryError string
}

type recorded struct {
	method, path, query string
	body                []byte
}

func (f *fakeES) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	f.requests = append(f.requests, recorded{r.Method, r.URL.Path, r.URL.RawQuery, body})
	queryError := f.queryError
	f.mu.Unlock()
	w.Header().Set("X-Elastic-Product", "Elasticsearch")
	w.Header().Set("Content-Type", "application/json")
	switch {
	case r.Method == http.MethodHead && strings.HasPrefix(r.URL.Path, "/_alias/"):
		if !f.aliasExists {
			w.WriteHeader(http.StatusNotFound)
		}
	case r.Method == http.MethodPut && strings.HasSuffix(r.URL.Path, "/_mapping") && f.mappingError != "" && bytes.Contains(body, []byte(`"properties"`)):
		w.WriteHeader(http.StatusBadRequest)
		io.WriteString(w, f.mappingError)
	case r.Method == http.MethodPut && strings.HasSuffix(r.URL.Path, "/_mapping"):
		var m struct {
			Meta map[string]any `json:"_meta"`
		}
		if json.Unmarshal(body, &m) == nil && m.Meta != nil {
			f.mu.Lock()
			f.marked = m.Meta["refresh_due"] == true
			f.mu.Unlock()
		}
		io.WriteString(w, `{"acknowledged":true}`)
	case r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, "/_mapping"):
		f.mu.Lock()
		fmt.Fprintf(w, `{"sl-sessions-000001":{"mappings":{"_meta":{"refresh_due":%t},"dynamic":"strict"}},"sl-sessions-000002":{"mappings":{"dynamic":"strict"}}}`, f.marked)
		f.mu.Unlock()
	case strings.HasPrefix(r.URL.Path, "/_index_template/"):
		f.mu.Lock()
		defer f.mu.Unlock()
		switch {
		case r.Method == http.MethodPut:
			var tmpl struct {
				Meta struct {
					Schema int `json:"schema"`
				} `json:"_meta"`
			}
			_ = json.Unmarshal(body, &tmpl)
			f.templateSchema = tmpl.Meta.Schema
			io.WriteString(w, `{"acknowledged":true}`)
		case f.templateSchema == 0:
			w.WriteHeader(http.StatusNotFound)
			io.WriteString(w, `{"error":{"type":"resource_not_found_exception","reason":"index template matching [sl-sessions] not found"},"status":404}`)
		default:
			fmt.Fprintf(w, `{"index_templates":[{"name":"sl-sessions","index_template":{"index_patterns":["sl-sessions-*"],"_meta":{"owner":"sightline svc-search","schema":%d}}}]}`, f.templateSchema)
		}
	case strings.HasSuffix(r.URL.Path, "/_bulk"):
		var items []string
		sc := bufio.NewScanner(bytes.NewReader(body))
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			var meta map[string]map[string]any
			if err := json.Unmarshal(sc.Bytes(), &meta); err != nil || meta["index"] == nil {
				continue
			}
			id := meta["index"]["_id"].(string)
			st := 201
			if s, ok := f.bulkStatus[id]; ok {
				st = s
			}
			item := fmt.Sprintf(`{"index":{"_id":%q,"status":%d}}`, id, st)
			if st == 409 {
				item = fmt.Sprintf(`{"index":{"_id":%q,"status":409,"error":{"type":"version_conflict_engine_exception","reason":"current version is higher"}}}`, id)
			}
			items = append(items, item)
		}
		fmt.Fprintf(w, `{"took":1,"errors":true,"items":[%s]}`, strings.Join(items, ","))
	case queryError != "" && (strings.HasSuffix(r.URL.Path, "/_search") || strings.HasSuffix(r.URL.Path, "/_count")):
		w.WriteHeader(http.StatusBadRequest)
		io.WriteString(w, queryError)
	case strings.HasSuffix(r.URL.Path, "/_search"):
		io.WriteString(w, f.search)
	case strings.HasSuffix(r.URL.Path, "/_count"):
		io.WriteString(w, `{"count":7}`)
	case strings.HasSuffix(r.URL.Path, "/_delete_by_query"):
		io.WriteString(w, `{"deleted":3,"failures":[]}`)
	default:
		io.WriteString(w, `{"acknowledged":true}`)
	}
}

// TestMappingEvolution: an index made by an earlier version (the alias
// exists) gets this build's fields put on it at Open, since the template
// only shapes new indices and dynamic: strict would refuse documents with
// the new fields; a change Elasticsearch refuses fails Open with its
// reason and what to do.
func TestMappingEvolution(t *testing.T) {
	fake := &fakeES{aliasExists: true}
	srv := httptest.NewServer(fake)
	defer srv.Close()
	ix, err := elastic.Open(t.Context(), elastic.Config{Addresses: []string{srv.URL}, IndexPrefix: "sl"})
	if err != nil {
		t.Fatal(err)
	}
	ix.Close()
	put := fake.findBody(t, http.MethodPut, "/sl-sessions/_mapping", `"properties"`)
	var body struct {
		Properties map[string]any `json:"properties"`
	}
	if err := json.Unmarshal(put.body, &body); err != nil {
		t.Fatal(err)
	}
	var tmpl struct {
		Template struct {
			Mappings struct {
				Properties map[string]any `json:"properties"`
			} `json:"mappings"`
		} `json:"template"`
	}
	raw, _ := json.Marshal(elastic.TemplateBody("sl", 1, 0))
	_ = json.Unmarshal(raw, &tmpl)
	if !reflect.DeepEqual(body.Properties, tmpl.Template.Mappings.Properties) || body.Properties["clicked_elements"] == nil {
		t.Fatalf("mapping update %s differs from the template's properties", put.body)
	}
	fake.mu.Lock()
	for _, r := range fake.requests {
		if r.path == "/sl-sessions-000001" {
			t.Errorf("an index was created although the alias exists")
		}
	}
	fake.mu.Unlock()

	refused := &fakeES{aliasExists: true, mappingError: `{"error":{"type":"illegal_argument_exception","reason":"mapper [pages] cannot be changed from type [keyword] to [text]"},"status":400}`}
	srv2 := httptest.NewServer(refused)
	defer srv2.Close()
	_, err = elastic.Open(t.Context(), elastic.Config{Addresses: []string{srv2.URL}, IndexPrefix: "sl"})
	if err == nil || !strings.Contains(err.Error(), "cannot be changed") || !strings.Contains(err.Error(), "reindex") {
		t.Fatalf("refused mapping update: %v", err)
	}
}

// TooComplex is how Elasticsearch refuses a wildcard whose automaton is too
// big to determinize (a shard failure of the query phase).
const TooComplex = `{"error":{"root_cause":[{"type":"too_complex_to_determinize_exception","reason":"Determinizing automaton with 4101 states and 8200 transitions would require more than 10000 states."}],"type":"search_phase_execution_exception","reason":"all shards failed","phase":"query","grouped":true,"failed_shards":[{"shard":0,"index":"sl-sessions-000001","reason":{"type":"query_shard_exception","reason":"failed to create query: Determinizing automaton would require more than 10000 states.","caused_by":{"type":"too_complex_to_determinize_exception","reason":"Determinizing automaton would require more than 10000 states."}}}]},"status":400}`

// TestTooComplexPattern: a pattern Elasticsearch cannot run is reported as
// index.ErrTooComplex (the service answers InvalidArgument), other
// failures are not.
func TestTooComplexPattern(t *testing.T) {
	fake := &fakeES{queryError: TooComplex}
	srv := httptest.NewServer(fake)
	defer srv.Close()
	ix, err := elastic.Open(t.Context(), elastic.Config{Addresses: []string{srv.URL}, IndexPrefix: "sl"})
	if err != nil {
		t.Fatal(err)
	}
	defer ix.Close()
	f := &searchv1.SessionFilter{VisitedPage: &searchv1.UrlMatch{Operator: searchv1.UrlMatch_OPERATOR_PATTERN, Value: "*a*b*c*"}}
	if _, err := ix.Search(t.Context(), index.Query{SiteID: site, Filter: f, Limit: 5}); !errors.Is(err, index.ErrTooComplex) {
		t.Fatalf("search: %v, want ErrTooComplex", err)
	}
	if _, err := ix.Count(t.Context(), site, f); !errors.Is(err, index.ErrTooComplex) {
		t.Fatalf("count: %v, want ErrTooComplex", err)
	}
	fake.mu.Lock()
	fake.queryError = `{"error":{"type":"index_not_found_exception","reason":"no such index"},"status":404}`
	fake.mu.Unlock()
	if _, err := ix.Count(t.Context(), site, f); err == nil || errors.Is(err, index.ErrTooComplex) {
		t.Fatalf("other failure: %v", err)
	}
}

// findBody is the first request of method to *suffix whose body holds
// part.
func (f *fakeES) findBody(t *testing.T, method, suffix, part string) recorded {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, r := range f.requests {
		if r.method == method && strings.HasSuffix(r.path, suffix) && bytes.Contains(r.body, []byte(part)) {
			return r
		}
	}
	t.Fatalf("no %s request to *%s with %s among %d", method, suffix, part, len(f.requests))
	return recorded{}
}

func (f *fakeES) find(t *testing.T, suffix string) recorded {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, r := range f.requests {
		if strings.HasSuffix(r.path, suffix) {
			return r
		}
	}
	t.Fatalf("no request to *%s among %d", suffix, len(f.requests))
	return recorded{}
}

func TestRequestsOnTheWire(t *testing.T) {
	docs := indextest.Generate(2, site, "w", 3)
	hitJSON := func(s *sessionsv1.SessionSummary) string {
		pb, _ := proto.Marshal(s)
		return fmt.Sprintf(`{"_id":%q,"_source":{"summary":%q}}`, index.DocID(site, s.SessionId), base64.StdEncoding.EncodeToString(pb))
	}
	fake := &fakeES{
		bulkStatus: map[string]int{index.DocID(site, docs[1].SessionId): 409},
		search: fmt.Sprintf(`{"hits":{"total":{"value":3,"relation":"eq"},"hits":[%s,%s]},
			"aggregations":{"country":{"buckets":[{"key":"DE","doc_count":2},{"key":"US","doc_count":1}]}}}`,
			hitJSON(docs[0]), hitJSON(docs[2])),
	}
	srv := httptest.NewServer(fake)
	defer srv.Close()
	ctx := t.Context()
	ix, err := elastic.Open(ctx, elastic.Config{Addresses: []string{srv.URL}, IndexPrefix: "sl", Shards: 2, Replicas: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer ix.Close()

	// Setup: template, alias check, first index with the write alias.
	tmpl := fake.find(t, "/_index_template/sl-sessions")
	var gotTmpl, wantTmpl any
	_ = json.Unmarshal(tmpl.body, &gotTmpl)
	raw, _ := json.Marshal(elastic.TemplateBody("sl", 2, 1))
	_ = json.Unmarshal(raw, &wantTmpl)
	if !reflect.DeepEqual(gotTmpl, wantTmpl) {
		t.Fatalf("template sent %s", tmpl.body)
	}
	create := fake.find(t, "/sl-sessions-000001")
	if !strings.Contains(string(create.body), `"sl-sessions":{"is_write_index":true}`) {
		t.Fatalf("first index created without the write alias: %s", create.body)
	}
	fake.mu.Lock()
	for _, r := range fake.requests {
		if strings.HasSuffix(r.path, "/_mapping") {
			t.Errorf("a new index (made from the template) got a mapping update")
		}
	}
	fake.mu.Unlock()

	// Upsert: one bulk through the alias, routed, externally versioned;
	// the 409 is counted stale.
	res, err := ix.Upsert(ctx, docs)
	if err != nil {
		t.Fatal(err)
	}
	if res.Upserted != 2 || res.Stale != 1 {
		t.Fatalf("upsert result %+v, want 2 upserted 1 stale", res)
	}
	var bodies []string
	fake.mu.Lock()
	for _, r := range fake.requests {
		if strings.HasSuffix(r.path, "/_bulk") {
			if r.path != "/sl-sessions/_bulk" || !strings.Contains(r.query, "refresh=wait_for") || !strings.Contains(r.query, "require_alias=true") {
				t.Errorf("bulk request %s?%s", r.path, r.query)
			}
			bodies = append(bodies, strings.TrimSpace(string(r.body)))
		}
	}
	fake.mu.Unlock()
	lines := strings.Split(strings.Join(bodies, "\n"), "\n")
	if len(lines) != 6 {
		t.Fatalf("bulk has %d lines, want 6", len(lines))
	}
	for i, d := range docs {
		var meta map[string]map[string]any
		if err := json.Unmarshal([]byte(lines[2*i]), &meta); err != nil {
			t.Fatal(err)
		}
		m := meta["index"]
		if m["_id"] != index.DocID(site, d.SessionId) || m["routing"] != fmt.Sprint(site) ||
			m["version"] != float64(d.Version) || m["version_type"] != "external_gte" {
			t.Fatalf("bulk meta %s", lines[2*i])
		}
	}

	// Search: routed to the site's shard, body as SearchBody builds it.
	q := index.Query{SiteID: site, Filter: &searchv1.SessionFilter{UserId: "x"}, Limit: 2,
		Facets: []searchv1.FacetField{searchv1.FacetField_FACET_FIELD_COUNTRY}}
	sr, err := ix.Search(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	if sr.Total != 3 || len(sr.Sessions) != 2 || !proto.Equal(sr.Sessions[0], docs[0]) || sr.Next != nil ||
		len(sr.Facets) != 1 || sr.Facets[0].Counts[0].Value != "DE" || sr.Facets[0].Counts[0].Count != 2 {
		t.Fatalf("search result %+v", sr)
	}
	req := fake.find(t, "/sl-sessions/_search")
	if req.query != "routing="+fmt.Sprint(site) {
		t.Fatalf("search query string %q", req.query)
	}
	wantBody, _ := elastic.SearchBody(q)
	var got, want any
	_ = json.Unmarshal(req.body, &got)
	raw, _ = json.Marshal(wantBody)
	_ = json.Unmarshal(raw, &want)
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("search body sent %s", req.body)
	}
	// One more hit than the limit means a next page.
	sr, err = ix.Search(ctx, index.Query{SiteID: site, Limit: 1})
	if err != nil {
		t.Fatal(err)
	}
	if sr.Next == nil || sr.Next.SessionID != docs[0].SessionId || sr.Next.Value != docs[0].StartTime.AsTime().UnixNano() {
		t.Fatalf("next cursor %+v", sr.Next)
	}
	// A hit of another site (a corrupted index) is refused, not returned.
	if _, err := ix.Search(ctx, index.Query{SiteID: site + 1, Limit: 5}); err == nil {
		t.Fatal("hit of another site returned")
	}

	n, err := ix.Count(ctx, site, nil)
	if err != nil || n != 7 {
		t.Fatalf("count %d, %v", n, err)
	}
	if c := fake.find(t, "/sl-sessions/_count"); c.query != "routing="+fmt.Sprint(site) {
		t.Fatalf("count query %q", c.query)
	}
	d, err := ix.Delete(ctx, site, index.Selector{VisitorID: "v"})
	if err != nil || d != 3 {
		t.Fatalf("delete %d, %v", d, err)
	}
	del := fake.find(t, "/sl-sessions/_delete_by_query")
	if !strings.Contains(del.query, "routing="+fmt.Sprint(site)) || !strings.Contains(del.query, "conflicts=proceed") || !strings.Contains(del.query, "refresh=true") {
		t.Fatalf("delete query %q", del.query)
	}
}
