package gateway_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// TestHeatmapRoutes: the heatmap routes are in the route walks (every
// route of the OpenAPI document: TestOnlyPublicRoutesAnswerWithoutAuth,
// TestTenantIsolation), answer the site's owner, answer 404 to another
// organisation whatever the query says, and answer 400 with a message to
// hostile query parameters.
func TestHeatmapRoutes(t *testing.T) {
	requireRoutes(t, [][2]string{
		{http.MethodGet, "/api/v1/sites/{site_id}/heatmap"},
		{http.MethodGet, "/api/v1/sites/{site_id}/heatmap/pages"},
		{http.MethodGet, "/api/v1/sites/{site_id}/heatmap/snapshot"},
	})
	s := startServer(t, nil)
	a, b := newTenant(t, s), newTenant(t, s)
	heat := func(tn *tenant, site string, q url.Values) response {
		return tn.c.do("GET", "/api/v1/sites/"+site+"/heatmap?"+q.Encode(), nil)
	}
	good := func(change func(url.Values)) url.Values {
		q := url.Values{"kind": {"HEATMAP_KIND_CLICK"}, "page.operator": {"OPERATOR_PREFIX"}, "page.value": {"https://shop.example.com/"}}
		if change != nil {
			change(q)
		}
		return q
	}
	if r := heat(a, a.siteID, good(nil)); r.code != http.StatusOK {
		t.Fatalf("the owner's heatmap = %d %s", r.code, r.body)
	}
	if r := heat(a, a.siteID, good(func(q url.Values) { q.Set("kind", "HEATMAP_KIND_SCROLL"); q.Set("deviceType", "DEVICE_TYPE_MOBILE") })); r.code != http.StatusOK {
		t.Fatalf("the owner's scroll map = %d %s", r.code, r.body)
	}
	if r := a.c.do("GET", "/api/v1/sites/"+a.siteID+"/heatmap/pages?query=shop&pageSize=5", nil); r.code != http.StatusOK {
		t.Fatalf("the owner's heatmap pages = %d %s", r.code, r.body)
	}
	// A session the site does not have: 404 with a message, to its owner too.
	snap := func(tn *tenant, site, session string, q url.Values) response {
		q = url.Values{"sessionId": {session}, "page.operator": q["page.operator"], "page.value": q["page.value"]}
		return tn.c.do("GET", "/api/v1/sites/"+site+"/heatmap/snapshot?"+q.Encode(), nil)
	}
	if r := snap(a, a.siteID, "s_nosuchsession0001", good(nil)); r.code != http.StatusNotFound {
		t.Errorf("the owner's snapshot of a session the site does not have = %d %s, want 404", r.code, r.body)
	} else {
		checkErrorBody(t, "snapshot of no session", r)
	}
	now := time.Now().UTC()
	hostile := map[string]url.Values{
		"no kind":          good(func(q url.Values) { q.Del("kind") }),
		"unknown kind":     good(func(q url.Values) { q.Set("kind", "HEATMAP_KIND_TELEPATHY") }),
		"no page":          good(func(q url.Values) { q.Del("page.operator"); q.Del("page.value") }),
		"unknown operator": good(func(q url.Values) { q.Set("page.operator", "OPERATOR_REGEX") }),
		"17 stars": good(func(q url.Values) {
			q.Set("page.operator", "OPERATOR_PATTERN")
			q.Set("page.value", strings.Repeat("*/", 17))
		}),
		"huge value": good(func(q url.Values) { q.Set("page.value", strings.Repeat("a", 4000)) }),
		"bot device": good(func(q url.Values) { q.Set("deviceType", "DEVICE_TYPE_BOT") }),
		"bad start":  good(func(q url.Values) { q.Set("startTime", "yesterday") }),
		"401 days": good(func(q url.Values) {
			q.Set("startTime", now.Add(-401*24*time.Hour).Format(time.RFC3339))
			q.Set("endTime", now.Format(time.RFC3339))
		}),
		"start after end": good(func(q url.Values) {
			q.Set("startTime", now.Format(time.RFC3339))
			q.Set("endTime", now.Add(-time.Hour).Format(time.RFC3339))
		}),
		"negative max cells": good(func(q url.Values) { q.Set("maxCells", "-1") }),
		"huge max cells":     good(func(q url.Values) { q.Set("maxCells", "100001") }),
		"max cells not int":  good(func(q url.Values) { q.Set("maxCells", "1e3") }),
	}
	unparsable := map[string]bool{"unknown kind": true, "unknown operator": true, "bad start": true, "max cells not int": true}
	for name, q := range hostile {
		r := heat(a, a.siteID, q)
		if r.code != http.StatusBadRequest {
			t.Errorf("%s: %d %s, want 400", name, r.code, r.body)
			continue
		}
		checkErrorBody(t, name, r)
		// Another organisation learns nothing from a bad request either:
		// what the gateway cannot parse is 400 before any site is looked
		// at (the same answer for every site, existing or not); the rest
		// is authorized before the service checks it.
		want := http.StatusNotFound
		if unparsable[name] {
			want = http.StatusBadRequest
			if r := heat(b, "3000000001", q); r.code != want {
				t.Errorf("%s for a site that does not exist: %d %s, want %d", name, r.code, r.body, want)
			}
		}
		if r := heat(b, a.siteID, q); r.code != want {
			t.Errorf("%s from another organisation: %d %s, want %d", name, r.code, r.body, want)
		}
	}
	for name, path := range map[string]string{
		"pages: huge query":     "/api/v1/sites/" + a.siteID + "/heatmap/pages?query=" + strings.Repeat("q", 2049),
		"pages: negative size":  "/api/v1/sites/" + a.siteID + "/heatmap/pages?pageSize=-1",
		"pages: size not int":   "/api/v1/sites/" + a.siteID + "/heatmap/pages?pageSize=ten",
		"heatmap: site not int": "/api/v1/sites/abc/heatmap?" + good(nil).Encode(),
		"heatmap: site zero":    "/api/v1/sites/0/heatmap?" + good(nil).Encode(),
		"snapshot: bad session": "/api/v1/sites/" + a.siteID + "/heatmap/snapshot?sessionId=../../x&page.operator=OPERATOR_CONTAINS&page.value=shop",
		"snapshot: no session":  "/api/v1/sites/" + a.siteID + "/heatmap/snapshot?page.operator=OPERATOR_CONTAINS&page.value=shop",
		"snapshot: no page":     "/api/v1/sites/" + a.siteID + "/heatmap/snapshot?sessionId=s_nosuchsession0001",
		"snapshot: huge value":  "/api/v1/sites/" + a.siteID + "/heatmap/snapshot?sessionId=s_nosuchsession0001&page.operator=OPERATOR_CONTAINS&page.value=" + strings.Repeat("a", 4000),
	} {
		r := a.c.do("GET", path, nil)
		if r.code != http.StatusBadRequest {
			t.Errorf("%s: %d %s, want 400", name, r.code, r.body)
			continue
		}
		checkErrorBody(t, name, r)
	}
	for _, path := range []string{
		"/api/v1/sites/" + a.siteID + "/heatmap?" + good(nil).Encode(),
		"/api/v1/sites/" + a.siteID + "/heatmap/pages",
		"/api/v1/sites/" + a.siteID + "/heatmap/pages?query=" + strings.Repeat("q", 2049),
		"/api/v1/sites/" + a.siteID + "/heatmap/snapshot?sessionId=s_nosuchsession0001&page.operator=OPERATOR_CONTAINS&page.value=shop",
		"/api/v1/sites/" + a.siteID + "/heatmap/snapshot?sessionId=../../x",
	} {
		if r := b.c.do("GET", path, nil); r.code != http.StatusNotFound {
			t.Errorf("B: GET %s = %d %s, want 404", path, r.code, r.body)
		}
	}
	t.Logf("%d hostile heatmap queries answered 400 to the owner; %d of them 404 to another organisation", len(hostile), len(hostile)-len(unparsable))
}
