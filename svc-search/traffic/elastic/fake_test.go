package elastic

import (
	"bufio"
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeES is an in-memory stand-in for the parts of Elasticsearch the
// store's write, scan and delete paths use: multi-get, bulk with
// if_seq_no/create, search with the query clauses those paths send (bool,
// term, terms, range, exists), sort and search_after, and
// delete-by-query. It checks routing (every search and document carries
// the site) and refuses anything it does not understand, so a request
// shape it was not written for fails the test instead of passing
// silently. Aggregation requests are answered with canned responses
// (aggResponse) and recorded, since their bodies are pinned by the golden
// tests.
type fakeES struct {
	t    testing.TB
	mu   sync.Mutex
	docs map[string]*fakeDoc
	seq  int64
	// aliasExists answers the alias check.
	aliasExists bool
	// conflictOnce makes the next bulk write of these ids fail with 409
	// after bumping the stored document (a concurrent writer).
	conflictOnce map[string]bool
	// aggResponse answers searches with "aggs".
	aggResponse string
	// errorResponse, when set, fails every search with status 400.
	errorResponse string
	requests      []fakeRequest
}

type fakeDoc struct {
	routing string
	seqNo   int64
	source  map[string]any
}

type fakeRequest struct {
	method, path, query string
	body                []byte
}

func newFake(t testing.TB) (*fakeES, *Store) {
	f := &fakeES{t: t, docs: map[string]*fakeDoc{}, conflictOnce: map[string]bool{}}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	s, err := Open(t.Context(), Config{Addresses: []string{srv.URL}, IndexPrefix: "sl"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return f, s
}

func (f *fakeES) fail(w http.ResponseWriter, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	f.t.Errorf("fake elasticsearch: %s", msg)
	w.WriteHeader(http.StatusBadRequest)
	fmt.Fprintf(w, `{"error":{"type":"fake","reason":%q},"status":400}`, msg)
}

func (f *fakeES) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.requests = append(f.requests, fakeRequest{r.Method, r.URL.Path, r.URL.RawQuery, body})
	w.Header().Set("X-Elastic-Product", "Elasticsearch")
	w.Header().Set("Content-Type", "application/json")
	path := r.URL.Path
	switch {
	case r.Method == http.MethodHead && strings.HasPrefix(path, "/_alias/"):
		if !f.aliasExists {
			w.WriteHeader(http.StatusNotFound)
		}
	case strings.HasPrefix(path, "/_index_template/"), path == "/sl-traffic-000001", strings.HasSuffix(path, "/_mapping"):
		if path == "/sl-traffic-000001" {
			f.aliasExists = true
		}
		io.WriteString(w, `{"acknowledged":true}`)
	case path == "/sl-traffic/_mget":
		f.mget(w, body)
	case path == "/sl-traffic/_bulk":
		f.bulk(w, body)
	case path == "/sl-traffic/_search":
		if f.errorResponse != "" {
			w.WriteHeader(http.StatusBadRequest)
			io.WriteString(w, f.errorResponse)
			return
		}
		f.search(w, r.URL.Query().Get("routing"), body)
	case path == "/sl-traffic/_delete_by_query":
		f.deleteByQuery(w, r.URL.Query().Get("routing"), body)
	default:
		f.fail(w, "unexpected %s %s", r.Method, path)
	}
}

func (f *fakeES) mget(w http.ResponseWriter, body []byte) {
	var req struct {
		Docs []struct {
			ID      string `json:"_id"`
			Routing string `json:"routing"`
		} `json:"docs"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		f.fail(w, "mget: %v", err)
		return
	}
	var docs []string
	for _, d := range req.Docs {
		if !strings.HasPrefix(d.ID, d.Routing+"/") {
			f.fail(w, "mget %s routed by %q", d.ID, d.Routing)
			return
		}
		doc, ok := f.docs[d.ID]
		if !ok {
			docs = append(docs, fmt.Sprintf(`{"_index":"sl-traffic-000001","_id":%q,"found":false}`, d.ID))
			continue
		}
		src, _ := json.Marshal(map[string]any{fState: doc.source[fState]})
		docs = append(docs, fmt.Sprintf(`{"_index":"sl-traffic-000001","_id":%q,"_version":1,"_seq_no":%d,"_primary_term":1,"found":true,"_source":%s}`, d.ID, doc.seqNo, src))
	}
	fmt.Fprintf(w, `{"docs":[%s]}`, strings.Join(docs, ","))
}

func (f *fakeES) bulk(w http.ResponseWriter, body []byte) {
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	var items []string
	for sc.Scan() {
		var meta map[string]struct {
			ID          string `json:"_id"`
			Routing     string `json:"routing"`
			IfSeqNo     *int64 `json:"if_seq_no"`
			IfPrimaryTm *int64 `json:"if_primary_term"`
		}
		if err := json.Unmarshal(sc.Bytes(), &meta); err != nil {
			f.fail(w, "bulk meta: %v", err)
			return
		}
		if !sc.Scan() {
			f.fail(w, "bulk: action without document")
			return
		}
		src := map[string]any{}
		if err := json.Unmarshal(sc.Bytes(), &src); err != nil {
			f.fail(w, "bulk doc: %v", err)
			return
		}
		for action, m := range meta {
			if !strings.HasPrefix(m.ID, m.Routing+"/") || src[fSite] != m.Routing {
				f.fail(w, "bulk %s routed by %q, site %v", m.ID, m.Routing, src[fSite])
				return
			}
			doc, exists := f.docs[m.ID]
			if f.conflictOnce[m.ID] {
				delete(f.conflictOnce, m.ID)
				if exists {
					f.seq++
					doc.seqNo = f.seq
				}
				items = append(items, fmt.Sprintf(`{%q:{"_id":%q,"status":409,"error":{"type":"version_conflict_engine_exception","reason":"injected"}}}`, action, m.ID))
				continue
			}
			conflict := false
			switch action {
			case "create":
				conflict = exists
			case "index":
				if m.IfSeqNo == nil || m.IfPrimaryTm == nil {
					f.fail(w, "bulk index of %s without if_seq_no", m.ID)
					return
				}
				conflict = !exists || doc.seqNo != *m.IfSeqNo || *m.IfPrimaryTm != 1
			default:
				f.fail(w, "bulk action %s", action)
				return
			}
			if conflict {
				items = append(items, fmt.Sprintf(`{%q:{"_id":%q,"status":409,"error":{"type":"version_conflict_engine_exception","reason":"conflict"}}}`, action, m.ID))
				continue
			}
			f.seq++
			f.docs[m.ID] = &fakeDoc{routing: m.Routing, seqNo: f.seq, source: src}
			items = append(items, fmt.Sprintf(`{%q:{"_id":%q,"status":201}}`, action, m.ID))
		}
	}
	fmt.Fprintf(w, `{"took":1,"errors":false,"items":[%s]}`, strings.Join(items, ","))
}

// matching answers the documents of the routing that match the query.
func (f *fakeES) matching(routing string, q map[string]any) ([]string, error) {
	var ids []string
	for id, d := range f.docs {
		if routing != "" && d.routing != routing {
			continue
		}
		ok, err := match(q, d.source)
		if err != nil {
			return nil, err
		}
		if ok {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids, nil
}

func (f *fakeES) search(w http.ResponseWriter, routing string, body []byte) {
	var req map[string]any
	if err := json.Unmarshal(body, &req); err != nil {
		f.fail(w, "search: %v", err)
		return
	}
	if routing == "" {
		f.fail(w, "search without routing")
		return
	}
	if req["aggs"] != nil && f.aggResponse != "" {
		io.WriteString(w, f.aggResponse)
		return
	}
	ids, err := f.matching(routing, req["query"].(map[string]any))
	if err != nil {
		f.fail(w, "search: %v", err)
		return
	}
	if aggs, ok := req["aggs"].(map[string]any); ok {
		rows := make([]*aggRow, len(ids))
		for i, id := range ids {
			rows[i] = &aggRow{src: f.docs[id].source}
		}
		res, err := aggregate(aggs, rows)
		if err != nil {
			f.fail(w, "aggregations: %v", err)
			return
		}
		raw, _ := json.Marshal(res)
		fmt.Fprintf(w, `{"hits":{"total":{"value":%d,"relation":"eq"},"hits":[]},"aggregations":%s}`, len(ids), raw)
		return
	}
	sorts, _ := req["sort"].([]any)
	key := func(id string) []any {
		var out []any
		for _, s := range sorts {
			for field := range s.(map[string]any) {
				out = append(out, sortValue(f.docs[id].source[field]))
			}
		}
		return out
	}
	order := func(i int) int {
		for field, o := range sorts[i].(map[string]any) {
			_ = field
			if o.(map[string]any)["order"] == "desc" {
				return -1
			}
		}
		return 1
	}
	compare := func(a, b []any) int {
		for i := range a {
			if c := compareValues(a[i], b[i]); c != 0 {
				return c * order(i)
			}
		}
		return 0
	}
	slices.SortFunc(ids, func(a, b string) int { return compare(key(a), key(b)) })
	total := len(ids)
	if after, ok := req["search_after"].([]any); ok {
		for i := range after {
			after[i] = sortValue(after[i])
		}
		i := 0
		for i < len(ids) && compare(key(ids[i]), after) <= 0 {
			i++
		}
		ids = ids[i:]
	}
	size := 10
	if s, ok := req["size"].(float64); ok {
		size = int(s)
	}
	if len(ids) > size {
		ids = ids[:size]
	}
	var hits []string
	for _, id := range ids {
		var src []byte
		switch sf := req["_source"].(type) {
		case bool:
			src = []byte("{}")
		case []any:
			var paths [][]string
			for _, p := range sf {
				paths = append(paths, strings.Split(p.(string), "."))
			}
			src, _ = json.Marshal(project(f.docs[id].source, paths))
		default:
			src, _ = json.Marshal(f.docs[id].source)
		}
		srt, _ := json.Marshal(key(id))
		hits = append(hits, fmt.Sprintf(`{"_id":%q,"_source":%s,"sort":%s}`, id, src, srt))
	}
	fmt.Fprintf(w, `{"hits":{"total":{"value":%d,"relation":"eq"},"hits":[%s]}}`, total, strings.Join(hits, ","))
}

func (f *fakeES) deleteByQuery(w http.ResponseWriter, routing string, body []byte) {
	var req map[string]any
	if err := json.Unmarshal(body, &req); err != nil {
		f.fail(w, "delete by query: %v", err)
		return
	}
	ids, err := f.matching(routing, req["query"].(map[string]any))
	if err != nil {
		f.fail(w, "delete by query: %v", err)
		return
	}
	for _, id := range ids {
		delete(f.docs, id)
	}
	fmt.Fprintf(w, `{"deleted":%d,"version_conflicts":0,"failures":[]}`, len(ids))
}

// sortValue is how Elasticsearch reports a field's sort value: dates as
// epoch nanoseconds (date_nanos), numbers as numbers, keywords as strings.
func sortValue(v any) any {
	switch x := v.(type) {
	case string:
		if t, err := time.Parse(time.RFC3339Nano, x); err == nil && strings.Contains(x, "T") {
			return float64(t.UnixNano())
		}
		return x
	case json.Number:
		n, _ := x.Float64()
		return n
	}
	return v
}

func compareValues(a, b any) int {
	switch x := a.(type) {
	case float64:
		y, ok := b.(float64)
		if !ok {
			return -1
		}
		return cmp.Compare(x, y)
	case string:
		y, ok := b.(string)
		if !ok {
			return 1
		}
		return strings.Compare(x, y)
	case nil:
		if b == nil {
			return 0
		}
		return 1 // missing values sort last
	}
	return 0
}

// values is a document field's values (arrays flattened).
func values(src map[string]any, field string) []any {
	v, ok := src[field]
	if !ok || v == nil {
		return nil
	}
	if a, ok := v.([]any); ok {
		return a
	}
	return []any{v}
}

func match(q map[string]any, src map[string]any) (bool, error) {
	if len(q) != 1 {
		return false, fmt.Errorf("query with %d clauses: %v", len(q), q)
	}
	for kind, arg := range q {
		a := arg.(map[string]any)
		switch kind {
		case "bool":
			for k := range a {
				if k != "filter" && k != "must_not" && k != "should" && k != "minimum_should_match" {
					return false, fmt.Errorf("bool %s", k)
				}
			}
			for _, c := range asList(a["filter"]) {
				ok, err := match(c.(map[string]any), src)
				if err != nil || !ok {
					return false, err
				}
			}
			for _, c := range asList(a["must_not"]) {
				ok, err := match(c.(map[string]any), src)
				if err != nil || ok {
					return false, err
				}
			}
			if should := asList(a["should"]); len(should) > 0 {
				if a["minimum_should_match"] != float64(1) {
					return false, fmt.Errorf("should without minimum_should_match 1")
				}
				hit := false
				for _, c := range should {
					ok, err := match(c.(map[string]any), src)
					if err != nil {
						return false, err
					}
					hit = hit || ok
				}
				return hit, nil
			}
			return true, nil
		case "term", "terms":
			for field, want := range a {
				wants := asList(want)
				for _, v := range values(src, field) {
					for _, w := range wants {
						if fmt.Sprint(v) == fmt.Sprint(w) {
							return true, nil
						}
					}
				}
			}
			return false, nil
		case "prefix", "wildcard":
			for field, spec := range a {
				p := spec.(map[string]any)["value"].(string)
				for _, v := range values(src, strings.TrimSuffix(field, "."+wildcardSub)) {
					if s, ok := v.(string); ok && len(s) <= ignoreAbove && ((kind == "prefix" && strings.HasPrefix(s, p)) || (kind == "wildcard" && wildcardMatch(p, s))) {
						return true, nil
					}
				}
			}
			return false, nil
		case "exists":
			return len(values(src, a["field"].(string))) > 0, nil
		case "range":
			for field, b := range a {
				vs := values(src, field)
				if len(vs) == 0 {
					return false, nil
				}
				for op, bound := range b.(map[string]any) {
					c := compareValues(sortValue(vs[0]), sortValue(bound))
					if ok := map[string]bool{"gt": c > 0, "gte": c >= 0, "lt": c < 0, "lte": c <= 0}[op]; !ok {
						return false, nil
					}
				}
			}
			return true, nil
		}
		return false, fmt.Errorf("query %s not supported by the fake", kind)
	}
	return false, nil
}

func asList(v any) []any {
	switch x := v.(type) {
	case nil:
		return nil
	case []any:
		return x
	}
	return []any{v}
}

func (f *fakeES) count(path string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, r := range f.requests {
		if r.path == path {
			n++
		}
	}
	return n
}

func (f *fakeES) last(path string) fakeRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := len(f.requests) - 1; i >= 0; i-- {
		if f.requests[i].path == path {
			return f.requests[i]
		}
	}
	f.t.Fatalf("no request to %s", path)
	return fakeRequest{}
}

var _ = strconv.Itoa

// project is _source filtering: only the named (dotted) paths, through
// objects and arrays of objects.
func project(v any, paths [][]string) any {
	for _, p := range paths {
		if len(p) == 0 {
			return v
		}
	}
	switch x := v.(type) {
	case map[string]any:
		out := map[string]any{}
		for k, e := range x {
			var sub [][]string
			for _, p := range paths {
				if p[0] == k {
					sub = append(sub, p[1:])
				}
			}
			if len(sub) > 0 {
				if pv := project(e, sub); pv != nil {
					out[k] = pv
				}
			}
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = project(e, paths)
		}
		return out
	}
	return nil
}
