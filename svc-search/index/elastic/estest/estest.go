// Package estest is the test support of the Elasticsearch backends (the
// sessions and answers indexes, the traffic store): golden request bodies
// and the per-run index prefix of the conformance runs on a real server.
package estest

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/elastic/go-elasticsearch/v8/esutil"
)

var update = flag.Bool("update", false, "rewrite the golden request bodies")

// Golden compares v structurally with testdata/<name>.json (go test
// -update rewrites the file).
func Golden(t *testing.T, name string, v any) {
	t.Helper()
	got, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join("testdata", name+".json")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, append(got, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create)", err)
	}
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(want, &w); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(g, w) {
		t.Fatalf("%s differs from golden:\n got %s\nwant %s", name, got, want)
	}
}

// Addresses are the servers of ELASTICSEARCH_URL (comma-separated);
// without it the test is skipped (note says what else covers it).
func Addresses(t *testing.T, note string) []string {
	t.Helper()
	url := os.Getenv("ELASTICSEARCH_URL")
	if url == "" {
		t.Skip("ELASTICSEARCH_URL not set: the Elasticsearch conformance run needs a real server" + note)
	}
	return strings.Split(url, ",")
}

var runs atomic.Int64

// Prefix is a new index prefix for one run on addrs; the indices
// "<prefix>-<name>-*" and the template "<prefix>-<name>" are deleted when
// the test ends.
func Prefix(t *testing.T, addrs []string, name string) string {
	prefix := fmt.Sprintf("sightline-test-%d-%d", time.Now().UnixNano(), runs.Add(1))
	t.Cleanup(func() {
		for _, p := range []string{"/" + prefix + "-" + name + "-*", "/_index_template/" + prefix + "-" + name} {
			req, _ := http.NewRequest(http.MethodDelete, addrs[0]+p, nil)
			if res, err := http.DefaultClient.Do(req); err == nil {
				res.Body.Close()
			}
		}
	})
	return prefix
}

// SiteFirst asserts a query is a bool filter whose first clause is the
// term of siteID, whatever else the filter names, and that nothing could
// widen it (no should at the top).
func SiteFirst(t *testing.T, name string, q any, siteID int64) {
	t.Helper()
	raw, _ := json.Marshal(q)
	var parsed struct {
		Bool struct {
			Filter []map[string]map[string]any `json:"filter"`
			Should any                         `json:"should"`
		} `json:"bool"`
	}
	if err := json.Unmarshal(raw, &parsed); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if len(parsed.Bool.Filter) == 0 || parsed.Bool.Filter[0]["term"]["site_id"] != fmt.Sprint(siteID) {
		t.Fatalf("%s: first filter clause is %v, want the site term", name, parsed.Bool.Filter)
	}
	if parsed.Bool.Should != nil {
		t.Fatalf("%s: a should clause could widen the site filter", name)
	}
}

// SearchBody checks a search body that must have been built (err nil)
// against its golden file and SiteFirst.
func SearchBody(t *testing.T, name string, body map[string]any, err error, siteID int64) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	Golden(t, name, body)
	SiteFirst(t, name, body["query"], siteID)
}

// MappedDocument reads a bulk item's document and checks that each of its
// fields is in the index template's explicit mapping (dynamic: strict
// would reject any other).
func MappedDocument(t *testing.T, template map[string]any, item esutil.BulkIndexerItem) (doc map[string]any, raw []byte) {
	t.Helper()
	raw, err := io.ReadAll(item.Body)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	props := template["template"].(map[string]any)["mappings"].(map[string]any)["properties"].(map[string]any)
	for k := range doc {
		if _, ok := props[k]; !ok {
			t.Errorf("document field %q is not mapped (dynamic: strict would reject it)", k)
		}
	}
	return doc, raw
}

// DeleteBodies checks the delete-by-query body of each selector (by its
// golden file's name) against its golden file and SiteFirst, and that
// body refuses the empty selector.
func DeleteBodies[S any](t *testing.T, siteID int64, body func(int64, S) (map[string]any, error), sels map[string]S) {
	t.Helper()
	for name, sel := range sels {
		b, err := body(siteID, sel)
		if err != nil {
			t.Fatal(err)
		}
		Golden(t, name, b)
		SiteFirst(t, name, b["query"], siteID)
	}
	var empty S
	if _, err := body(siteID, empty); err == nil {
		t.Fatal("empty selector accepted")
	}
}
