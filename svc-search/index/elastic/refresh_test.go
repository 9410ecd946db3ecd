package elastic_test

import (
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/sightlinehq/sightline/svc-search/index/elastic"
	"github.com/sightlinehq/sightline/svc-search/index/elastic/estest"
)

// TestRefreshDue: Open finds a refresh from recordings due
// (index.Refresher) when the indices behind the alias were set up by a
// build whose schema predates fields a summary fills (the template it
// replaces says so), or when one found before was never finished (the
// indices' mapping _meta keeps the mark); a new index, or one of this
// schema, wants none. A new mark is written to the indices before the
// template changes, so a restart in between still finds it; RefreshDone
// clears it and a reopen then finds none.
func TestRefreshDue(t *testing.T) {
	for _, tc := range []struct {
		name           string
		aliasExists    bool
		templateSchema int
		marked         bool
		want, newMark  bool
	}{
		{"new index", false, 0, false, false, false},
		{"from schema 3", true, 3, false, true, true},
		{"from a template without a schema", true, 0, false, true, true},
		{"this schema", true, 4, false, false, false},
		{"a refresh cut off", true, 4, true, true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fake := &fakeES{aliasExists: tc.aliasExists, templateSchema: tc.templateSchema, marked: tc.marked}
			srv := httptest.NewServer(fake)
			defer srv.Close()
			cfg := elastic.Config{Addresses: []string{srv.URL}, IndexPrefix: "sl"}
			ix, err := elastic.Open(t.Context(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer ix.Close()
			if ix.RefreshDue() != tc.want {
				t.Fatalf("RefreshDue = %t, want %t", ix.RefreshDue(), tc.want)
			}
			fake.mu.Lock()
			mark, tmpl := -1, -1
			for i, r := range fake.requests {
				switch {
				case r.method == http.MethodPut && r.path == "/sl-sessions/_mapping" && strings.Contains(string(r.body), `"refresh_due":true`):
					mark = i
				case r.method == http.MethodPut && r.path == "/_index_template/sl-sessions":
					tmpl = i
				}
			}
			marked := fake.marked
			fake.mu.Unlock()
			if (mark >= 0) != tc.newMark || tmpl < 0 || mark > tmpl {
				t.Fatalf("mark put at request %d, template at %d; want a new mark %t, before the template", mark, tmpl, tc.newMark)
			}
			if marked != tc.want && tc.aliasExists {
				t.Fatalf("the indices' mark is %t, RefreshDue %t", marked, tc.want)
			}
			if !tc.want {
				return
			}
			if err := ix.RefreshDone(); err != nil {
				t.Fatal(err)
			}
			fake.mu.Lock()
			marked = fake.marked
			fake.mu.Unlock()
			if ix.RefreshDue() || marked {
				t.Fatalf("after RefreshDone: RefreshDue %t, the indices' mark %t", ix.RefreshDue(), marked)
			}
			again, err := elastic.Open(t.Context(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer again.Close()
			if again.RefreshDue() {
				t.Fatal("a reopen after RefreshDone finds a refresh due")
			}
		})
	}
}

// TestRefreshMarkSurvivesARestart: a replica that found a refresh due and
// stopped before it was done leaves the mark; the next Open — its own or
// another replica's, after the template says this schema — finds it.
func TestRefreshMarkSurvivesARestart(t *testing.T) {
	fake := &fakeES{aliasExists: true, templateSchema: 3}
	srv := httptest.NewServer(fake)
	defer srv.Close()
	cfg := elastic.Config{Addresses: []string{srv.URL}, IndexPrefix: "sl"}
	first, err := elastic.Open(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	first.Close()
	fake.mu.Lock()
	schema := fake.templateSchema
	fake.mu.Unlock()
	if !first.RefreshDue() || schema != 4 {
		t.Fatalf("first open: due %t, template schema %d", first.RefreshDue(), schema)
	}
	second, err := elastic.Open(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer second.Close()
	if !second.RefreshDue() {
		t.Fatal("the refresh found due before was lost at the restart")
	}
	fake.mu.Lock()
	defer fake.mu.Unlock()
	if n := len(slices.DeleteFunc(slices.Clone(fake.requests), func(r recorded) bool {
		return !(r.method == http.MethodPut && strings.Contains(string(r.body), `"refresh_due":true`))
	})); n != 1 {
		t.Fatalf("the mark was put %d times; want once", n)
	}
}

// TestRefreshDueOnAServer: the same on a real Elasticsearch when
// ELASTICSEARCH_URL is set: indices set up by a template of schema 3 make
// Open find a refresh due, kept in their mapping across a reopen, until
// RefreshDone; a new index wants none.
func TestRefreshDueOnAServer(t *testing.T) {
	addrs := estest.Addresses(t, " (TestRefreshDue covers the requests)")
	prefix := estest.Prefix(t, addrs, "sessions")
	cfg := elastic.Config{Addresses: addrs, IndexPrefix: prefix}
	es, _, err := elastic.Client(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer elastic.CloseIdle(es)
	// What a release of schema 3 left: its template and an index.
	old := elastic.TemplateBody(prefix, 1, 0)
	old["_meta"] = map[string]any{"owner": "sightline svc-search", "schema": 3}
	if err := elastic.EnsureAlias(t.Context(), es, prefix+"-sessions", old, nil); err != nil {
		t.Fatal(err)
	}
	for i, want := range []bool{true, true, false} {
		ix, err := elastic.Open(t.Context(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		if ix.RefreshDue() != want {
			ix.Close()
			t.Fatalf("open %d: RefreshDue %t, want %t", i+1, ix.RefreshDue(), want)
		}
		if i == 1 {
			if err := ix.RefreshDone(); err != nil {
				t.Fatal(err)
			}
		}
		ix.Close()
	}
	fresh, err := elastic.Open(t.Context(), elastic.Config{Addresses: addrs, IndexPrefix: estest.Prefix(t, addrs, "sessions")})
	if err != nil {
		t.Fatal(err)
	}
	defer fresh.Close()
	if fresh.RefreshDue() {
		t.Fatal("a new index wants a refresh")
	}
}
