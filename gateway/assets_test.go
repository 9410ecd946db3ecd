package gateway_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/sightlinehq/sightline/cmd/sightline/app"
	recordingsv1 "github.com/sightlinehq/sightline/gen/sightline/recordings/v1"
	"github.com/sightlinehq/sightline/internal/poll"
	"github.com/sightlinehq/sightline/svc-recordings/assets/assetstest"
)

// TestAssetRoute: a page recorded for organisation A, whose stylesheet and
// font a local server serves, is captured; A reads them through the real
// gateway as raw bytes with the asset headers; B, an anonymous caller and
// a wrong hash are refused.
func TestAssetRoute(t *testing.T) {
	origin := assetstest.Serve(t)
	s := startServer(t, func(c *app.Config) { c.Recordings.Assets.AllowPrivateTargets = true })
	a, b := newTenant(t, s), newTenant(t, s)

	conn := s.internalConn(t)
	defer conn.Close()
	siteID := int64Of(t, a.siteID)
	now := time.Now()
	snapshot := fmt.Sprintf(`[{"type":4,"data":{"href":%q,"width":1280,"height":720},"timestamp":%d},`+
		`{"type":2,"data":{"node":{"type":0,"childNodes":[{"type":2,"tagName":"link","attributes":{"rel":"stylesheet","href":"static/site.css"},"childNodes":[],"id":2}],"id":1},"initialOffset":{"left":0,"top":0}},"timestamp":%d}]`,
		origin.URL+"/", now.UnixMilli(), now.UnixMilli())
	_, err := recordingsv1.NewRecordingsInternalServiceClient(conn).AppendChunks(context.Background(), &recordingsv1.AppendChunksRequest{
		Chunks: []*recordingsv1.Chunk{{
			SiteId: siteID, SessionId: "s_assetroute0000000000", VisitorId: "v_visitor0000000000000000", PageViewId: "p_page00000000000000000000",
			ServerTime: timestamppb.New(now), Url: origin.URL + "/", Events: []byte(snapshot), EventCount: 2, CaptureAssets: true,
		}},
	})
	if err != nil {
		t.Fatal(err)
	}

	cssURL, fontURL := origin.CSSURL, origin.FontURL
	hashes := map[string]string{}
	poll.Until(t, 10*time.Second, func() error {
		r := a.c.do("POST", "/api/v1/sites/"+a.siteID+"/assets:lookup", map[string]any{"urls": []string{cssURL, fontURL}})
		if r.code != http.StatusOK {
			t.Fatalf("lookup = %d %s", r.code, r.body)
		}
		var resp struct {
			Assets []struct{ URL, Hash string }
		}
		if err := json.Unmarshal(r.body, &resp); err != nil {
			t.Fatal(err)
		}
		for _, as := range resp.Assets {
			hashes[as.URL] = as.Hash
		}
		if len(hashes) < 2 {
			return fmt.Errorf("not captured: %v", hashes)
		}
		return nil
	})

	path := func(tn *tenant, hash string) string { return "/api/v1/sites/" + tn.siteID + "/assets/" + hash }
	css := a.c.do("GET", path(a, hashes[cssURL]), nil)
	if css.code != http.StatusOK {
		t.Fatalf("GET css = %d %s", css.code, css.body)
	}
	wantCSS := fmt.Sprintf(`@font-face{font-family:I;src:url("./%s")}`, hashes[fontURL])
	if string(css.body) != wantCSS {
		t.Fatalf("css body %s, want %s", css.body, wantCSS)
	}
	for h, want := range map[string]string{
		"Content-Type":            "text/css",
		"Cache-Control":           "private, max-age=31536000, immutable",
		"X-Content-Type-Options":  "nosniff",
		"ETag":                    `"` + hashes[cssURL] + `"`,
		"Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; font-src 'self'; img-src 'self' data:; sandbox",
	} {
		if got := css.hdr.Get(h); got != want {
			t.Errorf("css %s: %q, want %q", h, got, want)
		}
	}

	// The font, loaded the way the replay iframe loads it: CORS mode from
	// the dashboard's own origin.
	req, _ := http.NewRequest("GET", s.base+path(a, hashes[fontURL]), nil)
	req.Header.Set("Origin", s.base)
	resp, err := a.c.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "font/woff2" || !strings.HasPrefix(string(body), "wOF2") {
		t.Fatalf("font = %d %q %q", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	if got := resp.Header.Get("Access-Control-Allow-Origin"); got != s.base {
		t.Errorf("font Access-Control-Allow-Origin %q, want %q", got, s.base)
	}
	// Another origin is not allowed.
	req.Header.Set("Origin", "https://evil.example")
	resp, err = a.c.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got := resp.Header.Get("Access-Control-Allow-Origin"); got != "" {
		t.Errorf("another origin got Access-Control-Allow-Origin %q", got)
	}
	// Revalidation answers 304 without the body.
	req, _ = http.NewRequest("GET", s.base+path(a, hashes[fontURL]), nil)
	req.Header.Set("If-None-Match", `"`+hashes[fontURL]+`"`)
	resp, err = a.c.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotModified {
		t.Errorf("If-None-Match = %d, want 304", resp.StatusCode)
	}

	// Refusals: another organisation, no credential, a bad hash, a bad site.
	if r := b.c.do("GET", path(a, hashes[cssURL]), nil); r.code != http.StatusNotFound {
		t.Errorf("B reading A's asset = %d %s, want 404", r.code, r.body)
	}
	if r := b.c.do("GET", path(b, hashes[cssURL]), nil); r.code != http.StatusNotFound {
		t.Errorf("B reading A's hash under its own site = %d %s, want 404", r.code, r.body)
	}
	if r := s.newClient(t).do("GET", path(a, hashes[cssURL]), nil); r.code != http.StatusUnauthorized {
		t.Errorf("anonymous = %d %s, want 401", r.code, r.body)
	}
	if r := a.c.do("GET", path(a, "nothex"), nil); r.code != http.StatusBadRequest {
		t.Errorf("bad hash = %d %s, want 400", r.code, r.body)
	}
	if r := a.c.do("GET", "/api/v1/sites/abc/assets/"+hashes[cssURL], nil); r.code != http.StatusBadRequest {
		t.Errorf("bad site id = %d %s, want 400", r.code, r.body)
	}
}
