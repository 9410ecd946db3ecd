package gateway_test

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/sightlinehq/sightline/gen/openapi"
)

// TestReadsCompressed: through the whole server, reads go out compressed
// for clients that accept it (the OpenAPI document gzipped to a fraction,
// the same bytes once decoded) and every API read says it varies by
// Accept-Encoding; writes are never compressed.
func TestReadsCompressed(t *testing.T) {
	s := startServer(t, nil)
	req, err := http.NewRequest(http.MethodGet, s.base+"/api/v1/openapi.json", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept-Encoding", "gzip")
	resp, err := (&http.Client{Transport: &http.Transport{DisableCompression: true}}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	gz, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.Header.Get("Content-Encoding") != "gzip" || len(gz)*4 > len(openapi.Document) {
		t.Fatalf("openapi.json, gzip accepted: %q, %d bytes of %d", resp.Header.Get("Content-Encoding"), len(gz), len(openapi.Document))
	}
	zr, err := gzip.NewReader(bytes.NewReader(gz))
	if err != nil {
		t.Fatal(err)
	}
	if doc, err := io.ReadAll(zr); err != nil || !bytes.Equal(doc, openapi.Document) {
		t.Fatalf("openapi.json gunzipped: %d bytes, %v", len(doc), err)
	}

	a := newTenant(t, s)
	vary := func(r response) bool { return strings.Contains(strings.Join(r.hdr.Values("Vary"), ","), "Accept-Encoding") }
	if r := a.c.do(http.MethodGet, "/api/v1/sites/"+a.siteID, nil); r.code != http.StatusOK || !vary(r) {
		t.Fatalf("GET a site: %d, Vary %q", r.code, r.hdr.Values("Vary"))
	}
	if r := a.c.do(http.MethodPost, "/api/v1/sites/"+a.siteID+"/domains", map[string]any{}); r.code != http.StatusBadRequest || vary(r) || r.hdr.Get("Content-Encoding") != "" {
		t.Fatalf("POST a domain without one: %d, Vary %q, Content-Encoding %q", r.code, r.hdr.Values("Vary"), r.hdr.Get("Content-Encoding"))
	}
}
