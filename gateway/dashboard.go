package gateway

import (
	"bytes"
	"errors"
	"fmt"
	"html"
	"io/fs"
	"net/http"
	"net/url"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/sightlinehq/sightline/web"
)

// dashboardCSP allows the dashboard's own scripts only, and the replay
// iframe to load the recorded site's styles, fonts, images and media
// (a page's <video> replays from the site).
const dashboardCSP = "default-src 'self'; script-src 'self'; connect-src 'self'; " +
	"style-src 'self' 'unsafe-inline' https: http:; img-src 'self' data: blob: https: http:; " +
	"font-src 'self' data: https: http:; media-src 'self' data: blob: https: http:; frame-src 'self' blob:; object-src 'none'; " +
	"base-uri 'self'; form-action 'self'; frame-ancestors 'none'"

// securityHeaders sets the headers every gateway response carries.
func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "strict-origin-when-cross-origin")
		h.Set("Content-Security-Policy", dashboardCSP)
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		next.ServeHTTP(w, r)
	})
}

// dashboardHandler serves the embedded single-page app: hashed assets with
// a long immutable cache, index.html (never cached) for every other path
// so client-side routes survive a reload. basePath is the prefix a reverse
// proxy strips in front of the dashboard ("" at the root): index.html gets
// a <base href> naming it, which the build's relative asset URLs and the
// app's own URLs (web/src/lib/base.ts) resolve against.
func dashboardHandler(basePath string) http.Handler {
	if !web.Built() {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			w.Header().Set("Cache-Control", "no-cache")
			_, _ = w.Write([]byte(`<!doctype html><title>Sightline</title><h1>Sightline</h1>
<p>The dashboard is not built into this binary. Plain <code>go build</code> and <code>go install</code> cannot run its
JavaScript build, so they make a binary that serves only the API.</p>
<p>To get the dashboard, build in a clone of the repository (Go, and Node 20.19+ with npm):</p>
<pre>make build    # npm ci and the dashboard build, then go build: bin/sightline
bin/sightline serve</pre>
<p>API: <a href="/api/v1/openapi.json">/api/v1/openapi.json</a></p>`))
		})
	}
	return spaHandler(web.Assets(), basePath)
}

// spaHandler serves a built single-page app from assets (dashboardHandler).
func spaHandler(assets fs.FS, basePath string) http.Handler {
	files := http.FileServerFS(assets)
	index, indexErr := indexPage(assets, basePath)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		name := strings.TrimPrefix(path.Clean(r.URL.Path), "/")
		if name != "" && name != "index.html" {
			if _, err := fs.Stat(assets, name); err == nil {
				if strings.HasPrefix(name, "assets/") {
					w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
				}
				files.ServeHTTP(w, r)
				return
			} else if !errors.Is(err, fs.ErrNotExist) || path.Ext(name) != "" {
				// A missing file with an extension is a real 404, not a route.
				http.NotFound(w, r)
				return
			}
		}
		if indexErr != nil {
			http.Error(w, "dashboard: "+indexErr.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Cache-Control", "no-cache")
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		http.ServeContent(w, r, "index.html", time.Time{}, bytes.NewReader(index))
	})
}

// indexPage is the build's index.html with <base href="basePath/"> first
// in its head.
func indexPage(assets fs.FS, basePath string) ([]byte, error) {
	page, err := fs.ReadFile(assets, "index.html")
	if err != nil {
		return nil, fmt.Errorf("read index.html: %w", err)
	}
	i := bytes.Index(bytes.ToLower(page), []byte("<head>"))
	if i < 0 {
		return nil, errors.New("index.html has no <head>")
	}
	i += len("<head>")
	tag := `<base href="` + html.EscapeString(basePath) + `/">`
	return slices.Concat(page[:i], []byte(tag), page[i:]), nil
}

// BasePath is the path of a public URL (server.public-url) as the
// dashboard's prefix: escaped, without a trailing slash, "" for the root or
// no URL.
func BasePath(publicURL string) string {
	u, err := url.Parse(publicURL)
	if err != nil {
		return ""
	}
	return strings.TrimRight(u.EscapedPath(), "/")
}
