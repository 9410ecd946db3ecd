package ingest

import (
	"bufio"
	"net/http"
	"testing"
	"time"
)

// withheldBody sends the headers of a POST to path that declares a body of
// 512 KiB and withholds it, and answers the response the server sends
// meanwhile (an error when it waits for the body instead). net/http does
// not drain a body that large after the handler (it closes the
// connection), so an answer here was made without the body.
func withheldBody(t *testing.T, base, path string, headers map[string]string) (*http.Response, error) {
	t.Helper()
	c := openPost(t, base, path, headers, 512<<10, "")
	t.Cleanup(func() { c.Close() })
	// Well before the body's read deadline (5 s at the least).
	c.SetReadDeadline(time.Now().Add(3 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err == nil {
		resp.Body.Close()
	}
	return resp, err
}

// TestBrowserRefusalsNeedNoBody: with ?k= and an Origin, as the tracker
// sends from a browser, the site is judged before the body is read: an
// unknown site, a foreign origin, a site over its rate and a visitor
// under Do-Not-Track are answered while the body has not been sent.
func TestBrowserRefusalsNeedNoBody(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.RatePerSite = 1; c.BurstPerSite = 1 })
	// The one request the site's bucket allows.
	if resp := e.post(req{query: "k=" + siteKey, body: batchBody(t, nil)}); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("first batch: %d", resp.StatusCode)
	}
	for _, c := range []struct {
		name    string
		path    string
		headers map[string]string
		code    int
	}{
		{"unknown site", "/i/v1/batch?k=k_nosuchsite0000", map[string]string{"Origin": "https://shop.example.com"}, http.StatusNotFound},
		{"foreign origin", "/i/v1/batch?k=" + siteKey, map[string]string{"Origin": "https://evil.example"}, http.StatusForbidden},
		{"site rate", "/i/v1/batch?k=" + siteKey, map[string]string{"Origin": "https://shop.example.com"}, http.StatusTooManyRequests},
		{"do not track", "/i/v1/batch?k=" + dntKey, map[string]string{"Origin": "https://dnt.example", "DNT": "1"}, http.StatusNoContent},
		{"answer, foreign origin", "/i/v1/answer?k=" + siteKey, map[string]string{"Origin": "https://evil.example"}, http.StatusForbidden},
	} {
		t.Run(c.name, func(t *testing.T) {
			resp, err := withheldBody(t, e.srv.URL, c.path, c.headers)
			if err != nil {
				t.Fatalf("no answer before the body: %v", err)
			}
			if resp.StatusCode != c.code {
				t.Fatalf("status %d, want %d", resp.StatusCode, c.code)
			}
		})
	}
	// Without an Origin the page URL is judged, so the body is waited for.
	if resp, err := withheldBody(t, e.srv.URL, "/i/v1/batch?k="+dntKey, map[string]string{"DNT": "1"}); err == nil {
		t.Fatalf("answered %d without the body it must judge the origin by", resp.StatusCode)
	}
	if st := e.svc.spool.Stats(); st.Records != 1 {
		t.Fatalf("spool %+v, want the one admitted batch", st)
	}
}

// TestSiteCheckedOnceWithoutOrigin: a request without an Origin header
// is judged by its page URL before the site's rate and privacy rules, ?k=
// or not: a foreign page is refused, never dropped with a 204.
func TestSiteCheckedOnceWithoutOrigin(t *testing.T) {
	e := newEnv(t, nil)
	foreign := batchBody(t, func(m map[string]any) {
		m["siteKey"], m["page"] = dntKey, map[string]any{"url": "https://evil.example/"}
	})
	own := batchBody(t, func(m map[string]any) {
		m["siteKey"], m["page"] = dntKey, map[string]any{"url": "https://dnt.example/"}
	})
	noPage := batchBody(t, func(m map[string]any) { m["siteKey"] = dntKey; delete(m, "page") })
	for _, c := range []struct {
		name  string
		query string
		body  []byte
		code  int
	}{
		{"?k=, foreign page", "k=" + dntKey, foreign, http.StatusForbidden},
		{"body key, foreign page", "", foreign, http.StatusForbidden},
		{"?k=, own page", "k=" + dntKey, own, http.StatusNoContent},
		{"body key, own page", "", own, http.StatusNoContent},
		{"?k=, no page", "k=" + dntKey, noPage, http.StatusForbidden},
		{"?k= of another site", "k=" + siteKey, own, http.StatusBadRequest},
	} {
		t.Run(c.name, func(t *testing.T) {
			resp, body := e.send("/i/v1/batch", req{query: c.query, body: c.body, headers: map[string]string{"Origin": "", "DNT": "1"}})
			if resp.StatusCode != c.code {
				t.Fatalf("status %d (%q), want %d", resp.StatusCode, body, c.code)
			}
		})
	}
	if hits := e.limitHits(t); hits["dnt"] != 2 {
		t.Fatalf("limit hits %v, want 2 dropped by DNT", hits)
	}
	if st := e.svc.spool.Stats(); st.Records != 0 {
		t.Fatalf("spool %+v, want nothing stored", st)
	}
}
