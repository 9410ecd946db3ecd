package demo_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/sightlinehq/sightline/demo"
)

// serve runs the shop on a real listener, mounted as the gateway mounts it.
func serve(t *testing.T, opts demo.Options) *httptest.Server {
	t.Helper()
	h, err := demo.New(opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	mux := http.NewServeMux()
	mux.Handle("/demo/", h)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

// fetch makes a request without following redirects and returns the answer
// and its body.
func fetch(t *testing.T, method, url string, body io.Reader) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", method, url, err)
	}
	return resp, string(b)
}

// TestPagesCarryTheSiteSnippet: every page of the shop answers 200 with the
// snippet of the key in its path, as a user would paste it, and links that
// stay in that key's shop; the headers allow only the snippet's script.
func TestPagesCarryTheSiteSnippet(t *testing.T) {
	srv := serve(t, demo.Options{})
	const key = "k_Demo-Shop_0123456789abcdef"
	snippet := `<script async src="/s/` + key + `.js"></script>`
	for _, path := range []string{"/", "/products/desk-lamp", "/products/mug", "/products/throw", "/products/tray", "/cart", "/cart?add=mug", "/checkout"} {
		resp, body := fetch(t, http.MethodGet, srv.URL+"/demo/"+key+path, nil)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %d %s", path, resp.StatusCode, body)
		}
		if ct := resp.Header.Get("Content-Type"); ct != "text/html; charset=utf-8" {
			t.Errorf("GET %s: Content-Type %q", path, ct)
		}
		if n := strings.Count(body, snippet); n != 1 {
			t.Errorf("GET %s: the snippet %s appears %d times", path, snippet, n)
		}
		if !strings.Contains(body, `href="/demo/`+key+`/cart"`) {
			t.Errorf("GET %s: no link to this key's cart", path)
		}
		csp := resp.Header.Get("Content-Security-Policy")
		if !strings.Contains(csp, "script-src 'self';") || !strings.Contains(csp, "default-src 'none'") {
			t.Errorf("GET %s: CSP %q", path, csp)
		}
		if resp.Header.Get("X-Frame-Options") != "DENY" || resp.Header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("GET %s: headers %v", path, resp.Header)
		}
	}

	_, body := fetch(t, http.MethodGet, srv.URL+"/demo/"+key+"/", nil)
	if n := strings.Count(body, `data-testid="product-card"`); n != 4 {
		t.Errorf("home shows %d product cards, want 4", n)
	}
	_, body = fetch(t, http.MethodGet, srv.URL+"/demo/"+key+"/cart?add=throw", nil)
	if !strings.Contains(body, "Linen throw") || !strings.Contains(body, `href="/demo/`+key+`/checkout"`) {
		t.Errorf("cart with ?add=throw does not hold it:\n%s", body)
	}
	_, body = fetch(t, http.MethodGet, srv.URL+"/demo/"+key+"/cart?add=%3Cscript%3E", nil)
	if !strings.Contains(body, "Your cart is empty") || strings.Contains(body, "<script>") {
		t.Errorf("cart with an unknown item is not empty:\n%s", body)
	}
	_, body = fetch(t, http.MethodGet, srv.URL+"/demo/"+key+"/checkout", nil)
	for _, want := range []string{`method="post"`, `action="/demo/` + key + `/order"`, `autocomplete="cc-number"`} {
		if !strings.Contains(body, want) {
			t.Errorf("checkout lacks %s", want)
		}
	}

	resp, body := fetch(t, http.MethodPost, srv.URL+"/demo/"+key+"/order", strings.NewReader("name=Ada&card=4242424242424242"))
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, "Thank you") || strings.Contains(body, "4242") {
		t.Errorf("POST order: %d\n%s", resp.StatusCode, body)
	}
	resp, _ = fetch(t, http.MethodPost, srv.URL+"/demo/"+key+"/order", strings.NewReader("card="+strings.Repeat("4", 32<<10)))
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("POST order of 32 KiB: %d, want 413", resp.StatusCode)
	}

	resp, _ = fetch(t, http.MethodGet, srv.URL+"/demo/"+key, nil)
	if resp.StatusCode != http.StatusMovedPermanently || resp.Header.Get("Location") != "/demo/"+key+"/" {
		t.Errorf("GET /demo/<key>: %d Location %q, want 301 to the shop", resp.StatusCode, resp.Header.Get("Location"))
	}
}

// TestHostileKeysAreNotReflected: a path segment that is not a site key is
// answered 404 with a body that does not contain it, on every page.
func TestHostileKeysAreNotReflected(t *testing.T) {
	srv := serve(t, demo.Options{})
	for _, key := range []string{
		"%3Cscript%3Ealert(1)%3C%2Fscript%3E", // <script>alert(1)</script>
		"k_%22%3E%3Cscript%3Ealert(1)%3C%2Fscript%3E",
		"k_a%20onerror%3Dalert(1)",
		"k_..%2F..%2Fapi",
		"k_a.b",
		"x_abcdef",
		"k_",
		"K_abcdef",
		"k_" + strings.Repeat("a", 63),
	} {
		for _, path := range []string{"", "/", "/products/mug", "/cart", "/checkout"} {
			resp, body := fetch(t, http.MethodGet, srv.URL+"/demo/"+key+path, nil)
			if resp.StatusCode != http.StatusNotFound {
				t.Errorf("GET /demo/%s%s: %d, want 404", key, path, resp.StatusCode)
			}
			if strings.Contains(body, "script") || strings.Contains(body, "alert") || strings.Contains(body, "abcdef") {
				t.Errorf("GET /demo/%s%s reflects the key: %q", key, path, body)
			}
		}
	}
	// A key of exactly the longest length is still one.
	if resp, _ := fetch(t, http.MethodGet, srv.URL+"/demo/k_"+strings.Repeat("a", 62)+"/", nil); resp.StatusCode != http.StatusOK {
		t.Errorf("a 64-byte key: %d, want 200", resp.StatusCode)
	}
	for _, path := range []string{"/demo/", "/demo/k_abc/products/socks", "/demo/k_abc/admin", "/demo/k_abc/products/", "/demo/k_abc/cart/x"} {
		if resp, _ := fetch(t, http.MethodGet, srv.URL+path, nil); resp.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s: %d, want 404", path, resp.StatusCode)
		}
	}
	if resp, _ := fetch(t, http.MethodPost, srv.URL+"/demo/k_abc/", strings.NewReader("x=1")); resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST to the home page: %d, want 405", resp.StatusCode)
	}
}

// TestPublicIngestURL: with ingest elsewhere the snippet loads from there
// and the page's CSP lets it load and send there, nowhere else.
func TestPublicIngestURL(t *testing.T) {
	srv := serve(t, demo.Options{IngestURL: "https://ingest.example.com/"})
	resp, body := fetch(t, http.MethodGet, srv.URL+"/demo/k_abc/", nil)
	if !strings.Contains(body, `<script async src="https://ingest.example.com/s/k_abc.js"></script>`) {
		t.Errorf("snippet not from the public ingest URL:\n%s", body)
	}
	csp := resp.Header.Get("Content-Security-Policy")
	for _, want := range []string{"script-src 'self' https://ingest.example.com;", "connect-src 'self' https://ingest.example.com;"} {
		if !strings.Contains(csp, want) {
			t.Errorf("CSP %q lacks %q", csp, want)
		}
	}
	for _, bad := range []string{"ingest.example.com", "ftp://x", "https://", "https://x/?a=1", "javascript:alert(1)"} {
		if _, err := demo.New(demo.Options{IngestURL: bad}); err == nil {
			t.Errorf("New(IngestURL %q) accepted it", bad)
		}
	}
}

// TestBasePath: behind a proxy that strips a path prefix, every link of the
// shop, its form, its redirect and its way back to the dashboard keep the
// prefix; none leaves it.
func TestBasePath(t *testing.T) {
	srv := serve(t, demo.Options{IngestURL: "https://example.com/sightline", BasePath: "/sightline"})
	const key = "k_abc"
	for _, path := range []string{"/", "/products/mug", "/cart?add=mug", "/checkout"} {
		_, body := fetch(t, http.MethodGet, srv.URL+"/demo/"+key+path, nil)
		for _, want := range []string{`<script async src="https://example.com/sightline/s/k_abc.js">`, `href="/sightline/demo/k_abc/cart"`, `href="/sightline/" data-testid="demo-back"`} {
			if !strings.Contains(body, want) {
				t.Errorf("GET %s lacks %s", path, want)
			}
		}
		for _, m := range regexp.MustCompile(`(?:href|action)="(/[^"]*)"`).FindAllStringSubmatch(body, -1) {
			if !strings.HasPrefix(m[1], "/sightline/") {
				t.Errorf("GET %s: %s leaves the prefix", path, m[0])
			}
		}
	}
	_, body := fetch(t, http.MethodPost, srv.URL+"/demo/"+key+"/order", strings.NewReader("name=Ada"))
	if !strings.Contains(body, `href="/sightline/" data-testid="to-dashboard"`) {
		t.Errorf("the thank-you page's way to the dashboard leaves the prefix:\n%s", body)
	}
	resp, _ := fetch(t, http.MethodGet, srv.URL+"/demo/"+key, nil)
	if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusMovedPermanently || loc != "/sightline/demo/"+key+"/" {
		t.Errorf("GET /demo/<key>: %d Location %q, want 301 to /sightline/demo/%s/", resp.StatusCode, loc, key)
	}
}

func TestValidKey(t *testing.T) {
	for key, want := range map[string]bool{
		"k_abc": true, "k_A-b_9": true, "k_" + strings.Repeat("z", 62): true,
		"": false, "k_": false, "abc": false, "k_a/b": false, "k_a b": false, "k_é": false, "k_" + strings.Repeat("z", 63): false,
	} {
		if got := demo.ValidKey(key); got != want {
			t.Errorf("ValidKey(%q) = %v, want %v", key, got, want)
		}
	}
}
