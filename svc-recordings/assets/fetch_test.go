package assets

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// PublicAddr's table is netguard's (TestPublicAddr there).

// fakeResolver names hosts without DNS, so a test can point a name at a
// private address; the guard must refuse before any connection.
type fakeResolver map[string][]netip.Addr

func (f fakeResolver) LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error) {
	if ips, ok := f[host]; ok {
		return ips, nil
	}
	return net.DefaultResolver.LookupNetIP(ctx, network, host)
}

func testFetcherConfig() FetcherConfig {
	return FetcherConfig{
		AllowPrivate: true, ConnectTimeout: 2 * time.Second, Timeout: 5 * time.Second, MaxRedirects: 3,
		MaxCSSBytes: 2 << 20, MaxFontBytes: 5 << 20, MaxImgBytes: 5 << 20, PerHost: 2, UserAgent: "Sightline-test",
		afterGuard: loopbackOnly,
	}
}

// loopbackOnly stops, before connect, any test connection beyond
// loopback: the SSRF tests name private and public addresses, and if the
// guard under test let one through, no packet may leave the machine.
func loopbackOnly(address string) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil || !ap.Addr().Unmap().IsLoopback() {
		return fmt.Errorf("test: connection to %s stopped (not loopback): the guard let it through", address)
	}
	return nil
}

func outcome(err error) string {
	var fe *FetchError
	if errors.As(err, &fe) {
		return fe.Outcome
	}
	if err == nil {
		return "ok"
	}
	return "unclassified: " + err.Error()
}

// countingServer counts the requests it receives.
func countingServer(t *testing.T, addr string) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var hits atomic.Int64
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.Header().Set("Content-Type", "text/css")
		_, _ = w.Write([]byte("body{}"))
	}))
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("listen %s: %v", addr, err)
	}
	srv.Listener.Close()
	srv.Listener = l
	srv.Start()
	t.Cleanup(srv.Close)
	return srv, &hits
}

func TestFetchRefusesNonPublicTargets(t *testing.T) {
	srv, hits := countingServer(t, "127.0.0.1:0")
	port := srv.Listener.Addr().(*net.TCPAddr).Port
	srv6, hits6 := countingServer(t, "[::1]:0")
	port6 := srv6.Listener.Addr().(*net.TCPAddr).Port
	cfg := testFetcherConfig()
	cfg.AllowPrivate = false
	cfg.Resolver = fakeResolver{
		"private.test":  {netip.MustParseAddr("10.1.2.3")},
		"rebind.test":   {netip.MustParseAddr("8.8.8.8"), netip.MustParseAddr("127.0.0.1")},
		"mapped.test":   {netip.MustParseAddr("::ffff:127.0.0.1")},
		"metadata.test": {netip.MustParseAddr("169.254.169.254")},
	}
	f := NewFetcher(cfg)
	defer f.Close()
	for _, u := range []string{
		fmt.Sprintf("http://127.0.0.1:%d/a.css", port),
		fmt.Sprintf("http://localhost:%d/a.css", port),
		fmt.Sprintf("http://[::1]:%d/a.css", port6),
		fmt.Sprintf("http://[::ffff:127.0.0.1]:%d/a.css", port),
		fmt.Sprintf("http://mapped.test:%d/a.css", port),
		fmt.Sprintf("http://rebind.test:%d/a.css", port),
		"http://10.0.0.1/a.css",
		"http://private.test/a.css",
		"http://metadata.test/latest/meta-data/",
		"https://100.64.0.1/a.css",
		"http://0.0.0.0/a.css",
		"ftp://example.com/a.css",
		"file:///etc/passwd",
	} {
		_, err := f.Fetch(context.Background(), u, "")
		if got := outcome(err); got != OutcomeRefusedSSRF {
			t.Errorf("%s: outcome %s (%v), want %s", u, got, err, OutcomeRefusedSSRF)
		}
		if !errors.Is(err, ErrForbiddenTarget) {
			t.Errorf("%s: %v is not ErrForbiddenTarget", u, err)
		}
	}
	if n := hits.Load() + hits6.Load(); n != 0 {
		t.Fatalf("the loopback servers received %d requests; the guard must refuse before connecting", n)
	}
}

// TestFetchRefusesRedirectToPrivate: an allowed server (127.0.0.1, opened
// by an operator range) redirects to another loopback address that is not
// allowed; the redirect is refused by the dial guard and never reaches it.
func TestFetchRefusesRedirectToPrivate(t *testing.T) {
	inner, innerHits := countingServer(t, "127.0.0.2:0")
	outer := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, inner.URL+"/secret.css", http.StatusFound)
	}))
	defer outer.Close()
	cfg := testFetcherConfig()
	cfg.AllowPrivate = false
	cfg.AllowTargets = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}
	f := NewFetcher(cfg)
	defer f.Close()
	_, err := f.Fetch(context.Background(), outer.URL+"/a.css", "")
	if got := outcome(err); got != OutcomeRefusedSSRF {
		t.Fatalf("outcome %s (%v), want %s", got, err, OutcomeRefusedSSRF)
	}
	if n := innerHits.Load(); n != 0 {
		t.Fatalf("the private target received %d requests", n)
	}
	// The same redirect target is fetched when its range is opened too,
	// so the refusal above is the guard's and not a broken redirect.
	cfg.AllowTargets = append(cfg.AllowTargets, netip.MustParsePrefix("127.0.0.2/32"))
	f2 := NewFetcher(cfg)
	defer f2.Close()
	got, err := f2.Fetch(context.Background(), outer.URL+"/a.css", "")
	if err != nil || string(got.Body) != "body{}" || !strings.HasPrefix(got.URL, inner.URL) {
		t.Fatalf("with the range opened: %+v, %v", got, err)
	}
}

func TestFetchTypesSizesAndHeaders(t *testing.T) {
	var mu sync.Mutex
	var seen []*http.Request
	mux := http.NewServeMux()
	serve := func(path, ctype, body string) {
		mux.HandleFunc(path, func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			seen = append(seen, r)
			mu.Unlock()
			if ctype != "" {
				w.Header().Set("Content-Type", ctype)
			}
			_, _ = w.Write([]byte(body))
		})
	}
	png := "\x89PNG\r\n\x1a\n" + strings.Repeat("\x00", 64)
	serve("/ok.css", "text/css; charset=UTF-8", "a{b:c}")
	serve("/font.woff2", "font/woff2", "wOF2"+strings.Repeat("x", 100))
	serve("/octet.woff", "application/octet-stream", "wOFF"+strings.Repeat("x", 100))
	serve("/octet.bin", "application/octet-stream", "wOFF")
	serve("/img.png", "image/png", png)
	serve("/icon.svg", "image/svg+xml", `<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>`)
	serve("/page.html", "text/html", "<html></html>")
	serve("/html-as.css", "text/css", "<!doctype html><script>x</script>")
	serve("/html-as.png", "image/png", "<html><script>x</script></html>")
	serve("/js.js", "application/javascript", "alert(1)")
	serve("/big.css", "text/css", strings.Repeat("a", 3<<20))
	mux.HandleFunc("/chunked.css", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/css")
		for range 3 << 10 {
			_, _ = w.Write([]byte(strings.Repeat("b", 1024)))
			w.(http.Flusher).Flush()
		}
	})
	mux.HandleFunc("/missing.css", http.NotFound)
	mux.HandleFunc("/slow.css", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-time.After(5 * time.Second):
		case <-r.Context().Done():
		}
	})
	mux.HandleFunc("/cookie", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r)
		mu.Unlock()
		http.SetCookie(w, &http.Cookie{Name: "sid", Value: "secret", Path: "/"})
		http.Redirect(w, r, "/ok.css", http.StatusFound)
	})
	for i := range 5 {
		mux.HandleFunc(fmt.Sprintf("/hop%d", i), func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, fmt.Sprintf("/hop%d", i+1), http.StatusFound)
		})
	}
	mux.HandleFunc("/hop5", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/css")
		_, _ = w.Write([]byte("x{}"))
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	cfg := testFetcherConfig()
	cfg.Timeout = 500 * time.Millisecond
	f := NewFetcher(cfg)
	defer f.Close()
	for _, tc := range []struct {
		path, outcome string
		kind          Kind
		ctype         string
	}{
		{"/ok.css", "ok", KindCSS, "text/css; charset=utf-8"},
		{"/font.woff2", "ok", KindFont, "font/woff2"},
		{"/octet.woff", "ok", KindFont, "font/woff"},
		{"/octet.bin", OutcomeBadType, 0, ""},
		{"/img.png", "ok", KindImage, "image/png"},
		{"/icon.svg", OutcomeBadType, 0, ""},
		{"/page.html", OutcomeBadType, 0, ""},
		{"/html-as.css", OutcomeBadType, 0, ""},
		{"/html-as.png", OutcomeBadType, 0, ""},
		{"/js.js", OutcomeBadType, 0, ""},
		{"/big.css", OutcomeTooLarge, 0, ""},
		{"/chunked.css", OutcomeTooLarge, 0, ""},
		{"/missing.css", OutcomeHTTPError, 0, ""},
		{"/slow.css", OutcomeTimeout, 0, ""},
		{"/hop2", "ok", KindCSS, "text/css"}, // three redirects
		{"/hop1", OutcomeHTTPError, 0, ""},   // four
		{"/cookie", "ok", KindCSS, "text/css; charset=utf-8"},
	} {
		got, err := f.Fetch(context.Background(), srv.URL+tc.path, "https://shop.example.com/page?q=1#x")
		if o := outcome(err); o != tc.outcome {
			t.Errorf("%s: outcome %s (%v), want %s", tc.path, o, err, tc.outcome)
			continue
		}
		if err == nil && (got.Kind != tc.kind || got.ContentType != tc.ctype) {
			t.Errorf("%s: kind %s type %q, want %s %q", tc.path, got.Kind, got.ContentType, tc.kind, tc.ctype)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(seen) == 0 {
		t.Fatal("no request recorded")
	}
	for _, r := range seen {
		if !strings.Contains(r.UserAgent(), "Sightline") {
			t.Errorf("%s: User-Agent %q does not name Sightline", r.URL, r.UserAgent())
		}
		if r.Referer() != "https://shop.example.com/page?q=1" && !strings.HasPrefix(r.Referer(), srv.URL) {
			t.Errorf("%s: Referer %q, want the page URL", r.URL, r.Referer())
		}
		if c := r.Header.Get("Cookie"); c != "" {
			t.Errorf("%s: sent Cookie %q; the fetcher keeps no cookies", r.URL, c)
		}
	}
}

func TestFetchPerHostConcurrency(t *testing.T) {
	var cur, peak atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := cur.Add(1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		time.Sleep(50 * time.Millisecond) // a slow host, so fetches overlap unless limited
		cur.Add(-1)
		w.Header().Set("Content-Type", "text/css")
		_, _ = w.Write([]byte("a{}"))
	}))
	defer srv.Close()
	f := NewFetcher(testFetcherConfig())
	defer f.Close()
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			if _, err := f.Fetch(context.Background(), fmt.Sprintf("%s/%d.css", srv.URL, i), ""); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if p := peak.Load(); p < 1 || p > 2 {
		t.Fatalf("peak concurrent requests to one host = %d, want 1..2", p)
	}
	if len(f.hosts) != 0 {
		t.Fatalf("%d host slots left after all fetches", len(f.hosts))
	}
}
