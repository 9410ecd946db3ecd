package gateway

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/fstest"
)

// TestBasePath: server.public-url's path is the dashboard's prefix,
// escaped as it goes into a URL, without the trailing slash.
func TestBasePath(t *testing.T) {
	for in, want := range map[string]string{
		"":                                     "",
		"https://sightline.example.com":        "",
		"https://sightline.example.com/":       "",
		"https://example.com/sightline":        "/sightline",
		"https://example.com/sightline/":       "/sightline",
		"https://example.com/tools/sightline/": "/tools/sightline",
		"https://example.com/a b/":             "/a%20b",
		`https://example.com/"><script>`:       "/%22%3E%3Cscript%3E",
	} {
		if got := BasePath(in); got != want {
			t.Errorf("BasePath(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestSPAIndexNamesBase: every client route gets index.html with a <base>
// naming the prefix first in its head (the build's asset URLs are relative
// to it), the assets are served as they are, and a missing file is 404.
func TestSPAIndexNamesBase(t *testing.T) {
	assets := fstest.MapFS{
		"index.html":       {Data: []byte(`<!doctype html><html><HEAD><script type="module" src="./assets/app-1.js"></script></HEAD><body></body></html>`)},
		"assets/app-1.js":  {Data: []byte(`console.log(1)`)},
		"assets/app-1.css": {Data: []byte(`body{}`)},
	}
	for _, base := range []string{"", "/sightline", "/a%20b"} {
		h := spaHandler(assets, base)
		get := func(p string) *http.Response {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, p, nil))
			return rec.Result()
		}
		for _, p := range []string{"/", "/index.html", "/recordings", "/sites/12/heatmaps?page=%2Fx", "/a/b/c/d"} {
			res := get(p)
			body, _ := io.ReadAll(res.Body)
			want := `<HEAD><base href="` + base + `/"><script`
			if res.StatusCode != http.StatusOK || !strings.Contains(string(body), want) || strings.Count(string(body), "<base") != 1 {
				t.Errorf("base %q: GET %s = %d %q, want 200 with %q once", base, p, res.StatusCode, body, want)
			}
			if ct, cc := res.Header.Get("Content-Type"), res.Header.Get("Cache-Control"); ct != "text/html; charset=utf-8" || cc != "no-cache" {
				t.Errorf("base %q: GET %s: Content-Type %q, Cache-Control %q", base, p, ct, cc)
			}
		}
		res := get("/assets/app-1.js")
		body, _ := io.ReadAll(res.Body)
		if res.StatusCode != http.StatusOK || string(body) != `console.log(1)` || !strings.Contains(res.Header.Get("Cache-Control"), "immutable") {
			t.Errorf("base %q: GET asset = %d %q %q", base, res.StatusCode, body, res.Header.Get("Cache-Control"))
		}
		if res := get("/assets/gone-2.js"); res.StatusCode != http.StatusNotFound {
			t.Errorf("base %q: GET a missing asset = %d, want 404", base, res.StatusCode)
		}
	}
}

// TestSPAWithoutHead: a build whose index.html has no head answers 500
// with the reason rather than a page whose assets cannot load.
func TestSPAWithoutHead(t *testing.T) {
	h := spaHandler(fstest.MapFS{"index.html": {Data: []byte(`<p>hi`)}}, "/x")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	if rec.Code != http.StatusInternalServerError || !strings.Contains(rec.Body.String(), "no <head>") {
		t.Fatalf("GET / = %d %q, want 500 naming the missing head", rec.Code, rec.Body.String())
	}
}
