package assets

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"

	"github.com/sightlinehq/sightline/blob"
	"github.com/sightlinehq/sightline/blob/fsblob"
	"github.com/sightlinehq/sightline/platform/telemetry/telemetrytest"
)

// site is a recorded site's origin: a page's stylesheet (with an @import,
// a font, images, a reference that 404s and a data: URL), and counts of
// the requests per path.
type site struct {
	srv  *httptest.Server
	mu   sync.Mutex
	hits map[string]int
}

const pageCSS = `@import "theme.css";
@font-face { font-family: Icons; src: url(fonts/icons.woff2) format("woff2"); }
.hero { background: url(/img/hero.png) no-repeat; }
.gone { background: url(missing.png); }
.inline { background: url(data:image/gif;base64,R0lGODlhAQABAAAAACw=); }
`

var pngBytes = "\x89PNG\r\n\x1a\n" + strings.Repeat("\x01", 100)

func newSite(t *testing.T) *site {
	t.Helper()
	s := &site{hits: map[string]int{}}
	files := map[string][2]string{
		"/css/page.css":          {"text/css", pageCSS},
		"/css/theme.css":         {"text/css", ".theme{color:red}"},
		"/css/fonts/icons.woff2": {"font/woff2", "wOF2" + strings.Repeat("f", 200)},
		"/img/hero.png":          {"image/png", pngBytes},
		"/img/logo.png":          {"image/png", pngBytes + "logo"},
		"/img/a1.png":            {"image/png", pngBytes + "a1"},
		"/img/a2.png":            {"image/png", pngBytes + "a2"},
		"/img/bg.png":            {"image/png", pngBytes + "bg"},
		"/img/poster.png":        {"image/png", pngBytes + "poster"},
		"/fonts/face.woff":       {"font/woff", "wOFF" + strings.Repeat("w", 50)},
	}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.hits[r.URL.Path]++
		s.mu.Unlock()
		f, ok := files[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", f[0])
		_, _ = io.WriteString(w, f[1])
	}))
	t.Cleanup(s.srv.Close)
	return s
}

func (s *site) count(path string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.hits[path]
}

// snapshotEvents is an rrweb full snapshot (as rrweb 2 serializes it) of a
// page on base that links page.css, with an img srcset, a style attribute,
// a <style> with an url(), then a mutation adding a video with a poster and
// a font event.
func snapshotEvents(base string) []byte {
	ts := time.Now().UnixMilli()
	return fmt.Appendf(nil, `[
{"type":4,"data":{"href":%[1]q,"width":1280,"height":720},"timestamp":%[2]d},
{"type":2,"data":{"node":{"type":0,"childNodes":[{"type":1,"name":"html","publicId":"","systemId":"","id":2},
 {"type":2,"tagName":"html","attributes":{},"childNodes":[
  {"type":2,"tagName":"head","attributes":{},"childNodes":[
   {"type":2,"tagName":"link","attributes":{"rel":"stylesheet","href":"css/page.css"},"childNodes":[],"id":5},
   {"type":2,"tagName":"style","attributes":{},"childNodes":[{"type":3,"textContent":".x{background:url(/img/bg.png)}","isStyle":true,"id":7}],"id":6}
  ],"id":4},
  {"type":2,"tagName":"body","attributes":{"style":"background-image:url('img/a1.png')"},"childNodes":[
   {"type":2,"tagName":"img","attributes":{"src":"img/logo.png","srcset":"img/a1.png 1x, img/a2.png 2x"},"childNodes":[],"id":9},
   {"type":2,"tagName":"img","attributes":{"src":"javascript:alert(1)"},"childNodes":[],"id":10},
   {"type":2,"tagName":"img","attributes":{"src":"data:image/png;base64,AA"},"childNodes":[],"id":11}
  ],"id":8}
 ],"id":3}],"id":1},"initialOffset":{"left":0,"top":0}},"timestamp":%[2]d},
{"type":3,"data":{"source":0,"texts":[],"attributes":[],"removes":[],"adds":[{"parentId":8,"nextId":null,"node":{"type":2,"tagName":"video","attributes":{"poster":"/img/poster.png"},"childNodes":[],"id":12}}]},"timestamp":%[2]d},
{"type":3,"data":{"source":10,"family":"Face","fontSource":"url(\"/fonts/face.woff\")","buffer":false},"timestamp":%[2]d}
]`, base+"/shop/index.html?utm=1", ts)
}

func TestExtract(t *testing.T) {
	base := "https://shop.example.com"
	refs := Extract(snapshotEvents(base), "https://ignored.example.com/")
	var got []string
	for _, r := range refs {
		got = append(got, r.Kind.String()+" "+r.URL)
		if r.Referer != base+"/shop/index.html?utm=1" {
			t.Errorf("%s: referer %q", r.URL, r.Referer)
		}
	}
	want := []string{
		"css " + base + "/shop/css/page.css",
		"image " + base + "/img/bg.png",
		"image " + base + "/shop/img/a1.png",
		"image " + base + "/shop/img/logo.png",
		"image " + base + "/shop/img/a2.png",
		"image " + base + "/img/poster.png",
		"font " + base + "/fonts/face.woff",
	}
	if !slices.Equal(got, want) {
		t.Fatalf("refs:\n got %q\nwant %q", got, want)
	}
	// rrweb's inlined stylesheet: the link keeps no href, its _cssText
	// (with absolute url()s) is read.
	ev := `[{"type":2,"data":{"node":{"type":2,"tagName":"link","attributes":{"_cssText":"@font-face{src:url(\"https://cdn.example.net/i.woff2\")}"},"childNodes":[],"id":1}},"timestamp":1}]`
	refs = Extract([]byte(ev), "https://shop.example.com/")
	if len(refs) != 1 || refs[0].URL != "https://cdn.example.net/i.woff2" || refs[0].Kind != KindFont {
		t.Fatalf("_cssText refs: %+v", refs)
	}
}

// FuzzExtract: no events make extraction panic or yield a URL that is
// not absolute http(s) within the length limit.
func FuzzExtract(f *testing.F) {
	f.Add(snapshotEvents("http://127.0.0.1:1"), "https://a.example/")
	f.Add([]byte(`[{"type":3,"data":{"source":0,"adds":[{"node":{"type":2,"tagName":"img","attributes":{"src":"x.png"}}}],"attributes":[{"id":1,"attributes":{"style":"background:url(y.png)","srcset":"a 1x,b"}}]},"timestamp":1}]`), "http://h/")
	f.Add([]byte(`[{"type":3,"data":{"source":10,"fontSource":"url(f.woff)"},"timestamp":1}]`), "http://h/p")
	f.Add([]byte(`[{"type":2,"data":{"node":{"type":2,"tagName":"link","attributes":{"rel":7,"href":null}}},"timestamp":1}]`), "")
	f.Add([]byte(`[{"type":3,"data":{"source":0,"adds":[],"attributes":[{"id":1,"attributes":{"SRC":"x.png","PoStEr":"p.png"}}]},"timestamp":1}]`), "http://h/")
	f.Add([]byte(`[{"type":3,"data":{"source":0,"adds":[{"node":{"type":2,"tagName":"img","attributes":{"\u0073rc":"x.png"}}}]},"timestamp":1}]`), "http://h/")
	f.Add([]byte(`[{"type":3,"data":{"source":1,"positions":[{"x":1,"y":2,"id":3,"timeOffset":0}]},"timestamp":1}]`), "http://h/")
	f.Fuzz(func(t *testing.T, events []byte, page string) {
		if !mayRefer(events) {
			if refs := extract(events, page); len(refs) > 0 {
				t.Fatalf("mayRefer turned away a chunk with references %+v", refs)
			}
		}
		for _, r := range Extract(events, page) {
			if !strings.HasPrefix(r.URL, "http://") && !strings.HasPrefix(r.URL, "https://") || len(r.URL) > MaxURLBytes {
				t.Fatalf("extracted %q", r.URL)
			}
			if n, ok := NormalizeURL(r.URL); !ok || n != r.URL {
				t.Fatalf("extracted %q is not normalized (%q)", r.URL, n)
			}
		}
	})
}

func testConfig(t *testing.T) Config {
	t.Helper()
	var cfg Config
	cfg.RegisterFlags(flag.NewFlagSet("test", flag.ContinueOnError))
	cfg.AllowPrivateTargets = true
	return cfg
}

// newCapturer opens a capturer on a real fsblob store in a temp dir.
func newCapturer(t *testing.T, cfg Config) (*Capturer, *sdkmetric.ManualReader) {
	t.Helper()
	st, err := fsblob.Open(fsblob.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return newCapturerOn(t, cfg, st)
}

// newCapturerOn opens a capturer on st.
func newCapturerOn(t *testing.T, cfg Config, st blob.Store) (*Capturer, *sdkmetric.ManualReader) {
	t.Helper()
	reader := sdkmetric.NewManualReader()
	c, err := New(cfg, Deps{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Blobs: st, afterGuard: loopbackOnly,
		MeterProvider: sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.fetcher.Close)
	return c, reader
}

// run extracts and captures one chunk's events and waits for every fetch.
func (c *Capturer) run(ctx context.Context, site int64, events []byte, page string) {
	c.process(ctx, job{site: site, refs: Extract(events, page)})
	c.inflight.Wait()
}

func fetchOutcomes(t *testing.T, r *sdkmetric.ManualReader) map[string]int64 {
	t.Helper()
	return telemetrytest.SumBy(t, r, "recordings.assets.fetches", "outcome")
}

func TestCaptureLookupGetAndRewrite(t *testing.T) {
	ctx := context.Background()
	s := newSite(t)
	c, reader := newCapturer(t, testConfig(t))
	const siteID, otherSite = int64(3_000_000_001), int64(3_000_000_002)
	c.run(ctx, siteID, snapshotEvents(s.srv.URL), "")

	// The snapshot's page is under /shop/, where the site serves none of
	// its relative references (404s: recorded nowhere); a second page links
	// the stylesheet the site does serve.
	c.run(ctx, siteID, []byte(`[{"type":2,"data":{"node":{"type":2,"tagName":"link","attributes":{"rel":"stylesheet","href":"/css/page.css"},"childNodes":[],"id":1}},"timestamp":1}]`), s.srv.URL+"/")
	cssURL := s.srv.URL + "/css/page.css"
	fontURL := s.srv.URL + "/css/fonts/icons.woff2"
	themeURL := s.srv.URL + "/css/theme.css"
	heroURL := s.srv.URL + "/img/hero.png"
	urls := []string{cssURL, fontURL, themeURL, heroURL, s.srv.URL + "/img/poster.png", s.srv.URL + "/fonts/face.woff",
		s.srv.URL + "/shop/img/logo.png", s.srv.URL + "/css/missing.png", "https://elsewhere.example/none.css", "not a url"}
	recs, err := c.Lookup(ctx, siteID, urls)
	if err != nil {
		t.Fatal(err)
	}
	byURL := map[string]Record{}
	for _, r := range recs {
		byURL[r.URL] = r
		if !ValidHash(r.Hash) || r.Size <= 0 || r.Fetched.IsZero() {
			t.Errorf("record %+v", r)
		}
	}
	for _, u := range urls[:5] {
		if _, ok := byURL[u]; !ok {
			t.Errorf("%s not captured; got %v", u, recs)
		}
	}
	if _, ok := byURL[s.srv.URL+"/css/missing.png"]; ok {
		t.Error("a 404 was recorded")
	}
	if byURL[fontURL].ContentType != "font/woff2" || byURL[cssURL].ContentType != "text/css" {
		t.Errorf("types: font %q css %q", byURL[fontURL].ContentType, byURL[cssURL].ContentType)
	}

	// The stylesheet comes back with captured references on our origin
	// and the others absolute.
	ct, body, err := c.Get(ctx, siteID, byURL[cssURL].Hash)
	if err != nil {
		t.Fatal(err)
	}
	want := strings.NewReplacer(
		`"theme.css"`, fmt.Sprintf(`"./%s"`, byURL[themeURL].Hash),
		`url(fonts/icons.woff2)`, fmt.Sprintf(`url("./%s")`, byURL[fontURL].Hash),
		`url(/img/hero.png)`, fmt.Sprintf(`url("./%s")`, byURL[heroURL].Hash),
		`url(missing.png)`, fmt.Sprintf(`url("%s/css/missing.png")`, s.srv.URL),
	).Replace(pageCSS)
	if ct != "text/css" || string(body) != want {
		t.Fatalf("GetAsset(css) = %q\n%s\nwant\n%s", ct, body, want)
	}
	// A font comes back as stored.
	if ct, body, err := c.Get(ctx, siteID, byURL[fontURL].Hash); err != nil || ct != "font/woff2" || !strings.HasPrefix(string(body), "wOF2") {
		t.Fatalf("GetAsset(font) = %q %q %v", ct, body, err)
	}
	// Another site holds none of it.
	if _, _, err := c.Get(ctx, otherSite, byURL[fontURL].Hash); err != ErrNotFound {
		t.Fatalf("another site's GetAsset = %v, want ErrNotFound", err)
	}
	if recs, err := c.Lookup(ctx, otherSite, urls); err != nil || len(recs) != 0 {
		t.Fatalf("another site's Lookup = %v %v", recs, err)
	}

	// Seen recently: the same chunk fetches nothing again.
	before := s.count("/css/page.css")
	c.run(ctx, siteID, snapshotEvents(s.srv.URL), "")
	c.run(ctx, siteID, []byte(`[{"type":2,"data":{"node":{"type":2,"tagName":"link","attributes":{"rel":"stylesheet","href":"/css/page.css"},"childNodes":[],"id":1}},"timestamp":1}]`), s.srv.URL+"/")
	if n := s.count("/css/page.css"); n != before {
		t.Fatalf("page.css fetched %d times after a repeat, want %d", n, before)
	}
	out := fetchOutcomes(t, reader)
	// Stored: bg.png, poster.png, face.woff (first page); page.css,
	// theme.css, icons.woff2, hero.png (second). 404: the four /shop/
	// references and missing.png.
	if out[OutcomeStored] != 7 || out[OutcomeHTTPError] != 5 || len(out) != 2 {
		t.Fatalf("fetch outcomes %v", out)
	}
}

func TestCaptureRefetchUnchanged(t *testing.T) {
	ctx := context.Background()
	s := newSite(t)
	cfg := testConfig(t)
	cfg.RefetchAfter = time.Millisecond
	c, reader := newCapturer(t, cfg)
	ev := []byte(`[{"type":2,"data":{"node":{"type":2,"tagName":"img","attributes":{"src":"/img/hero.png"},"childNodes":[],"id":1}},"timestamp":1}]`)
	c.run(ctx, 7, ev, s.srv.URL+"/")
	time.Sleep(5 * time.Millisecond) // refetch-after (1 ms) passes
	c.run(ctx, 7, ev, s.srv.URL+"/")
	if n := s.count("/img/hero.png"); n != 2 {
		t.Fatalf("fetched %d times, want 2 (re-fetch after refetch-after)", n)
	}
	if out := fetchOutcomes(t, reader); out[OutcomeStored] != 1 || out[OutcomeUnchanged] != 1 {
		t.Fatalf("outcomes %v, want one stored and one unchanged", out)
	}
}

func TestCaptureSiteQuota(t *testing.T) {
	ctx := context.Background()
	s := newSite(t)
	cfg := testConfig(t)
	cfg.SiteMaxBytes = 250 // room for one image (108 bytes) and one more, not three
	c, reader := newCapturer(t, cfg)
	ev := []byte(`[{"type":2,"data":{"node":{"type":2,"tagName":"div","attributes":{},"childNodes":[
{"type":2,"tagName":"img","attributes":{"src":"/img/hero.png"},"childNodes":[],"id":2},
{"type":2,"tagName":"img","attributes":{"src":"/img/logo.png"},"childNodes":[],"id":3},
{"type":2,"tagName":"img","attributes":{"src":"/img/a1.png"},"childNodes":[],"id":4}],"id":1}},"timestamp":1}]`)
	c.run(ctx, 9, ev, s.srv.URL+"/")
	out := fetchOutcomes(t, reader)
	if out[OutcomeStored] != 2 || out[OutcomeOverQuota] != 1 {
		t.Fatalf("outcomes %v, want 2 stored and 1 over_quota", out)
	}
	used, err := c.objs.siteUsage(ctx, 9)
	if err != nil || used > 250 {
		t.Fatalf("site usage %d (%v), over the limit", used, err)
	}
}

func TestCaptureSweep(t *testing.T) {
	ctx := context.Background()
	s := newSite(t)
	c, _ := newCapturer(t, testConfig(t))
	c.run(ctx, 11, []byte(`[{"type":2,"data":{"node":{"type":2,"tagName":"link","attributes":{"rel":"stylesheet","href":"/css/page.css"},"childNodes":[],"id":1}},"timestamp":1}]`), s.srv.URL+"/")
	c.run(ctx, 12, []byte(`[{"type":2,"data":{"node":{"type":2,"tagName":"img","attributes":{"src":"/img/hero.png"},"childNodes":[],"id":1}},"timestamp":1}]`), s.srv.URL+"/")
	// Site 12's record is seen long after site 11's.
	r, err := c.objs.record(ctx, 12, s.srv.URL+"/img/hero.png")
	if err != nil {
		t.Fatal(err)
	}
	r.LastSeen = r.LastSeen.Add(300 * 24 * time.Hour)
	if err := c.objs.putJSON(ctx, urlKey(12, r.URL), r); err != nil {
		t.Fatal(err)
	}
	// Within retention nothing goes.
	if recs, objs, err := c.Sweep(ctx, time.Now().Add(2*time.Hour)); err != nil || recs != 0 || objs != 0 {
		t.Fatalf("early sweep deleted %d records, %d objects (%v)", recs, objs, err)
	}
	// 366 days on (default retention 365): site 11 goes entirely, site 12
	// stays.
	recs, objs, err := c.Sweep(ctx, time.Now().Add(366*24*time.Hour))
	if err != nil || recs != 4 || objs != 4 {
		t.Fatalf("sweep deleted %d records, %d objects (%v), want 4 and 4 (page.css, theme.css, icons.woff2, hero.png)", recs, objs, err)
	}
	for info, err := range c.objs.blobs.List(ctx, siteKey(11)) {
		t.Errorf("left for site 11: %s %v", info.Key, err)
	}
	if got, err := c.Lookup(ctx, 12, []string{s.srv.URL + "/img/hero.png"}); err != nil || len(got) != 1 {
		t.Fatalf("site 12 after the sweep: %v %v", got, err)
	}
	if _, _, err := c.Get(ctx, 12, r.Hash); err != nil {
		t.Fatalf("site 12's object after the sweep: %v", err)
	}
	if used, _ := c.objs.siteUsage(ctx, 11); used != 0 {
		t.Fatalf("site 11 usage after the sweep: %d", used)
	}
}

func TestEnqueueDropsWhenFull(t *testing.T) {
	cfg := testConfig(t)
	cfg.Queue = 2
	c, reader := newCapturer(t, cfg)
	ok := 0
	for range 5 {
		if c.Enqueue(context.Background(), 1, 0, []Ref{{URL: "https://a.example/i.png", Kind: KindImage, Referer: "https://a.example/"}}) {
			ok++
		}
	}
	if ok != 2 {
		t.Fatalf("%d chunks queued, want 2", ok)
	}
	if drops := telemetrytest.By(t, reader, "recordings.assets.queue_drops"); drops[""] != 3 || len(drops) != 1 {
		t.Fatalf("queue drops %v, want 3", drops)
	}
}
