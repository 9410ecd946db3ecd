package httpcompress

import (
	"bufio"
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/sightlinehq/sightline/platform/httpcompress/httpcompresstest"
)

// body is a JSON answer of some size, as the dashboard's reads are.
var body = []byte(`{"clicks":[` + strings.Repeat(`{"selector":"body>main>section:nth-of-type(3)>div.c-card>a.c-link-17","rx":50,"ry":48,"count":12},`, 200) + `{}]}`)

// server serves Handler over a real socket: GET /json (an ETag'd JSON
// answer), /small, /typed?type=, POST /json, and /events (two server-sent
// events, the second only once the test has read the first).
func server(t *testing.T) (*httptest.Server, chan struct{}) {
	t.Helper()
	next := make(chan struct{})
	mux := http.NewServeMux()
	mux.HandleFunc("/json", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("ETag", `"abc"`)
		w.Write(body)
	})
	mux.HandleFunc("/small", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write(body[:200])
	})
	// Answers of other types: compressed or not by their type alone.
	mux.HandleFunc("/typed", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", r.URL.Query().Get("type"))
		w.Write(body)
	})
	mux.HandleFunc("/events", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream; charset=utf-8")
		io.WriteString(w, "data: one\n\n")
		w.(http.Flusher).Flush()
		select {
		case <-next:
		case <-r.Context().Done():
			return
		}
		io.WriteString(w, "data: two\n\n")
	})
	srv := httptest.NewServer(Handler(mux))
	t.Cleanup(srv.Close)
	return srv, next
}

// get fetches path with accept, checking that a compressed answer is at
// most a third of its decoded size.
func get(t *testing.T, srv *httptest.Server, method, path, accept string) (*http.Response, []byte) {
	t.Helper()
	resp, sent, out := httpcompresstest.Fetch(t, method, srv.URL+path, accept)
	if enc := resp.Header.Get("Content-Encoding"); enc != "" && len(sent)*3 > len(out) {
		t.Errorf("%s %s: %d bytes %s-encoded from %d", method, path, len(sent), enc, len(out))
	}
	return resp, out
}

// TestHandlerCompressesReads: GET answers go out in the encoding the
// client accepts (zstd preferred, gzip, or none, q=0 refusing one), with
// Vary: Accept-Encoding and without the plain answer's ETag; writes,
// small answers, images, fonts, archives and server-sent events go out
// plain, and events still arrive one by one.
func TestHandlerCompressesReads(t *testing.T) {
	srv, next := server(t)
	for _, c := range []struct {
		method, path, accept, want string
	}{
		{"GET", "/json", "gzip", "gzip"},
		{"GET", "/json", "gzip, deflate, br, zstd", "zstd"},
		{"GET", "/json", "zstd;q=0, gzip", "gzip"},
		{"GET", "/json", "gzip;q=0", ""},
		{"GET", "/json", "", ""},
		{"GET", "/json", "br", ""},
		{"POST", "/json", "gzip, zstd", ""},
		{"GET", "/small", "gzip, zstd", ""},
		{"GET", "/typed?type=image/png", "gzip, zstd", ""},
		{"GET", "/typed?type=image/jpeg", "gzip, zstd", ""},
		{"GET", "/typed?type=font/woff2", "gzip, zstd", ""},
		{"GET", "/typed?type=application/zip", "gzip, zstd", ""},
		{"GET", "/typed?type=image/svg%2Bxml", "gzip, zstd", "zstd"},
		{"GET", "/typed?type=text/css", "gzip", "gzip"},
		{"GET", "/typed?type=text/javascript;%20charset=utf-8", "gzip", "gzip"},
	} {
		resp, got := get(t, srv, c.method, c.path, c.accept)
		name := c.method + " " + c.path + " (" + c.accept + ")"
		if enc := resp.Header.Get("Content-Encoding"); enc != c.want {
			t.Errorf("%s: Content-Encoding %q, want %q", name, enc, c.want)
		}
		want := body
		if c.path == "/small" {
			want = body[:200]
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s: body of %d bytes differs from the %d served", name, len(got), len(want))
		}
		if c.method == "GET" && !strings.Contains(strings.Join(resp.Header.Values("Vary"), ","), "Accept-Encoding") {
			t.Errorf("%s: Vary %q", name, resp.Header.Values("Vary"))
		}
		if etag := resp.Header.Get("ETag"); c.path == "/json" && (etag != "") != (c.want == "") {
			t.Errorf("%s: ETag %q with Content-Encoding %q", name, etag, c.want)
		}
	}

	req, err := http.NewRequest("GET", srv.URL+"/events", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept-Encoding", "gzip, zstd")
	resp, err := (&http.Client{Transport: &http.Transport{DisableCompression: true}, Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if enc := resp.Header.Get("Content-Encoding"); enc != "" {
		t.Fatalf("events: Content-Encoding %q", enc)
	}
	r := bufio.NewReader(resp.Body)
	if line, err := r.ReadString('\n'); err != nil || line != "data: one\n" {
		t.Fatalf("first event: %q, %v (before the handler went on)", line, err)
	}
	close(next)
	rest, err := io.ReadAll(r)
	if err != nil || string(rest) != "\ndata: two\n\n" {
		t.Fatalf("the rest: %q, %v", rest, err)
	}
}

// TestRevalidatedKeepsETags: behind Revalidated an answer goes out
// compressed with its ETag suffixed by the encoding, and the tag a client
// sends back, through BaseETag, matches the handler's own: 304, not the
// whole answer again. A plain answer keeps its ETag as it is.
func TestRevalidatedKeepsETags(t *testing.T) {
	const etag = `"v1"`
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
		w.Header().Set("ETag", etag)
		if BaseETag(r.Header.Get("If-None-Match")) == etag {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		w.Write(body)
	})
	srv := httptest.NewServer(Revalidated(h))
	t.Cleanup(srv.Close)
	for _, c := range []struct{ accept, enc, etag string }{
		{"gzip", "gzip", `"v1-gzip"`},
		{"gzip, deflate, br, zstd", "zstd", `"v1-zstd"`},
		{"", "", etag},
	} {
		resp, sent, got := httpcompresstest.Fetch(t, http.MethodGet, srv.URL, c.accept)
		if resp.Header.Get("Content-Encoding") != c.enc || resp.Header.Get("ETag") != c.etag || !bytes.Equal(got, body) || (c.enc != "" && len(sent)*3 > len(got)) {
			t.Fatalf("accept %q: %d, %q, ETag %q, %d bytes sent for %d; want %q, ETag %q", c.accept, resp.StatusCode, resp.Header.Get("Content-Encoding"), resp.Header.Get("ETag"), len(sent), len(got), c.enc, c.etag)
		}
		req, err := http.NewRequest(http.MethodGet, srv.URL, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Accept-Encoding", c.accept)
		req.Header.Set("If-None-Match", resp.Header.Get("ETag"))
		again, err := http.DefaultTransport.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		again.Body.Close()
		if again.StatusCode != http.StatusNotModified {
			t.Fatalf("accept %q, If-None-Match %s: %d, want 304", c.accept, c.etag, again.StatusCode)
		}
	}
	for tag, want := range map[string]string{`"v1-gzip"`: etag, `"v1-zstd"`: etag, etag: etag, `"v1-br"`: `"v1-br"`, `W/"v1-gzip"`: `W/"v1"`, "": ""} {
		if got := BaseETag(tag); got != want {
			t.Errorf("BaseETag(%s) = %s, want %s", tag, got, want)
		}
	}
}
