package gateway_test

import (
	"bytes"
	"net/http"
	"strings"
	"testing"

	"github.com/sightlinehq/sightline/gen/openapi"
	"github.com/sightlinehq/sightline/platform/httpcompress/httpcompresstest"
)

// TestReadsCompressed: through the whole server, reads go out compressed
// for clients that accept it (the OpenAPI document gzipped to a fraction,
// the same bytes once decoded) and every API read says it varies by
// Accept-Encoding; writes are never compressed.
func TestReadsCompressed(t *testing.T) {
	s := startServer(t, nil)
	resp, gz, doc := httpcompresstest.Fetch(t, http.MethodGet, s.base+"/api/v1/openapi.json", "gzip")
	if resp.Header.Get("Content-Encoding") != "gzip" || len(gz)*4 > len(openapi.Document) || !bytes.Equal(doc, openapi.Document) {
		t.Fatalf("openapi.json, gzip accepted: %q, %d bytes of %d, equal once decoded: %v", resp.Header.Get("Content-Encoding"), len(gz), len(openapi.Document), bytes.Equal(doc, openapi.Document))
	}

	a := newTenant(t, s)
	vary := func(r response) bool {
		return strings.Contains(strings.Join(r.hdr.Values("Vary"), ","), "Accept-Encoding")
	}
	if r := a.c.do(http.MethodGet, "/api/v1/sites/"+a.siteID, nil); r.code != http.StatusOK || !vary(r) {
		t.Fatalf("GET a site: %d, Vary %q", r.code, r.hdr.Values("Vary"))
	}
	if r := a.c.do(http.MethodPost, "/api/v1/sites/"+a.siteID+"/domains", map[string]any{}); r.code != http.StatusBadRequest || vary(r) || r.hdr.Get("Content-Encoding") != "" {
		t.Fatalf("POST a domain without one: %d, Vary %q, Content-Encoding %q", r.code, r.hdr.Values("Vary"), r.hdr.Get("Content-Encoding"))
	}
}
