package recordings

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	recordingsv1 "github.com/sightlinehq/sightline/gen/sightline/recordings/v1"
)

// assetSite serves a page's stylesheet and the font it names, counting
// requests.
func assetSite(t *testing.T) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		switch r.URL.Path {
		case "/static/site.css":
			w.Header().Set("Content-Type", "text/css")
			_, _ = io.WriteString(w, `@font-face{font-family:I;src:url(../fonts/i.woff2)}body{background:url(/nope.png)}`)
		case "/fonts/i.woff2":
			w.Header().Set("Content-Type", "font/woff2")
			_, _ = io.WriteString(w, "wOF2"+strings.Repeat("i", 64))
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	return srv, &hits
}

// snapshotWithStylesheet is an rrweb full snapshot linking the site's
// stylesheet (as rrweb records a cross-origin one it cannot read: href
// kept, no _cssText).
func snapshotWithStylesheet(t *testing.T, base string) []byte {
	return events(t,
		ev{"type": 4, "timestamp": t0, "data": ev{"href": base + "/shop/", "width": 1280, "height": 720}},
		ev{"type": 2, "timestamp": t0 + 1, "data": ev{"node": ev{"type": 0, "id": 1, "childNodes": []ev{
			{"type": 2, "id": 2, "tagName": "html", "attributes": ev{}, "childNodes": []ev{
				{"type": 2, "id": 3, "tagName": "head", "attributes": ev{}, "childNodes": []ev{
					{"type": 2, "id": 4, "tagName": "link", "attributes": ev{"rel": "stylesheet", "href": "../static/site.css"}, "childNodes": []ev{}},
				}},
			}},
		}}, "initialOffset": ev{"left": 0, "top": 0}}},
	)
}

func TestAssetCaptureThroughAppendChunks(t *testing.T) {
	_, searchAddr := serveSearch(t, "127.0.0.1:0")
	cfg := testConfig(t)
	cfg.Assets.AllowPrivateTargets = true
	h := start(t, cfg, t.TempDir(), searchAddr)
	ctx := context.Background()
	srv, hits := assetSite(t)
	cssURL, fontURL := srv.URL+"/static/site.css", srv.URL+"/fonts/i.woff2"

	// A site with capture off: stored, nothing fetched.
	off := mkChunk("s_assetsoff0000000000", 0, pvA, srv.URL+"/shop/", snapshotWithStylesheet(t, srv.URL))
	off.SiteId = site + 1
	if r, err := h.client.AppendChunks(ctx, &recordingsv1.AppendChunksRequest{Chunks: []*recordingsv1.Chunk{off}}); err != nil || r.Stored != 1 {
		t.Fatalf("append: %v %v", r, err)
	}
	c := mkChunk("s_assets000000000000", 0, pvA, srv.URL+"/shop/", snapshotWithStylesheet(t, srv.URL))
	c.CaptureAssets = true
	if r, err := h.client.AppendChunks(ctx, &recordingsv1.AppendChunksRequest{Chunks: []*recordingsv1.Chunk{c}}); err != nil || r.Stored != 1 {
		t.Fatalf("append: %v %v", r, err)
	}
	var found map[string]*recordingsv1.Asset
	waitFor(t, func() bool {
		resp, err := h.client.LookupAssets(ctx, &recordingsv1.LookupAssetsRequest{SiteId: site, Urls: []string{cssURL, fontURL, srv.URL + "/nope.png"}})
		if err != nil {
			t.Fatal(err)
		}
		found = map[string]*recordingsv1.Asset{}
		for _, a := range resp.GetAssets() {
			found[a.GetUrl()] = a
		}
		return len(found) == 2
	})
	css, font := found[cssURL], found[fontURL]
	if css.GetContentType() != "text/css" || font.GetContentType() != "font/woff2" || font.GetSize() != 68 ||
		time.Since(css.GetFetchTime().AsTime()) > time.Minute || len(css.GetHash()) != 64 {
		t.Fatalf("assets %v", found)
	}
	got, err := h.client.GetAsset(ctx, &recordingsv1.GetAssetRequest{SiteId: site, Hash: css.GetHash()})
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf(`@font-face{font-family:I;src:url("./%s")}body{background:url("%s/nope.png")}`, font.GetHash(), srv.URL)
	if got.GetContentType() != "text/css" || string(got.GetBody()) != want {
		t.Fatalf("GetAsset(css) = %q %s\nwant %s", got.GetContentType(), got.GetBody(), want)
	}
	// The site whose capture is off has nothing, and the other site cannot
	// read this one's hash.
	if r, err := h.client.LookupAssets(ctx, &recordingsv1.LookupAssetsRequest{SiteId: site + 1, Urls: []string{cssURL}}); err != nil || len(r.GetAssets()) != 0 {
		t.Fatalf("capture-off site lookup: %v %v", r, err)
	}
	if _, err := h.client.GetAsset(ctx, &recordingsv1.GetAssetRequest{SiteId: site + 1, Hash: font.GetHash()}); status.Code(err) != codes.NotFound {
		t.Fatalf("another site's GetAsset: %v, want NotFound", err)
	}
	if _, err := h.client.GetAsset(ctx, &recordingsv1.GetAssetRequest{SiteId: site, Hash: strings.Repeat("0", 64)}); status.Code(err) != codes.NotFound {
		t.Fatalf("unknown hash: %v, want NotFound", err)
	}
	// Three fetches: the stylesheet, its font, and the 404.
	if n := hits.Load(); n != 3 {
		t.Fatalf("the site got %d requests, want 3", n)
	}
}

func TestAssetRPCValidation(t *testing.T) {
	_, searchAddr := serveSearch(t, "127.0.0.1:0")
	h := start(t, testConfig(t), t.TempDir(), searchAddr)
	ctx := context.Background()
	many := make([]string, MaxLookupURLs+1)
	for i := range many {
		many[i] = fmt.Sprintf("https://shop.example.com/%d.png", i)
	}
	for name, call := range map[string]func() error{
		"lookup site 0": func() error {
			_, err := h.client.LookupAssets(ctx, &recordingsv1.LookupAssetsRequest{SiteId: 0})
			return err
		},
		"lookup too many": func() error {
			_, err := h.client.LookupAssets(ctx, &recordingsv1.LookupAssetsRequest{SiteId: site, Urls: many})
			return err
		},
		"lookup long url": func() error {
			_, err := h.client.LookupAssets(ctx, &recordingsv1.LookupAssetsRequest{SiteId: site, Urls: []string{"https://a.example/" + strings.Repeat("a", 4096)}})
			return err
		},
		"get site 0": func() error {
			_, err := h.client.GetAsset(ctx, &recordingsv1.GetAssetRequest{SiteId: -1, Hash: strings.Repeat("a", 64)})
			return err
		},
		"get short hash": func() error {
			_, err := h.client.GetAsset(ctx, &recordingsv1.GetAssetRequest{SiteId: site, Hash: "abc"})
			return err
		},
		"get upper-case hash": func() error {
			_, err := h.client.GetAsset(ctx, &recordingsv1.GetAssetRequest{SiteId: site, Hash: strings.Repeat("A", 64)})
			return err
		},
		"get path hash": func() error {
			_, err := h.client.GetAsset(ctx, &recordingsv1.GetAssetRequest{SiteId: site, Hash: "../../" + strings.Repeat("a", 58)})
			return err
		},
	} {
		err := call()
		if status.Code(err) != codes.InvalidArgument || status.Convert(err).Message() == "" {
			t.Errorf("%s: %v, want InvalidArgument with a message", name, err)
		}
	}
	// At the limit, and with URLs that are not http(s), the answer is
	// simply empty.
	r, err := h.client.LookupAssets(ctx, &recordingsv1.LookupAssetsRequest{SiteId: site, Urls: append(many[:MaxLookupURLs-2], "data:x", "not a url")})
	if err != nil || len(r.GetAssets()) != 0 {
		t.Fatalf("lookup of %d URLs: %v %v", MaxLookupURLs, r, err)
	}
}
