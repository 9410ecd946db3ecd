package gateway

import (
	"errors"
	"io/fs"
	"net/http"
	"path"
	"strings"

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
// so client-side routes survive a reload.
func dashboardHandler() http.Handler {
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
	assets := web.Assets()
	files := http.FileServerFS(assets)
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
		w.Header().Set("Cache-Control", "no-cache")
		http.ServeFileFS(w, r, assets, "index.html")
	})
}
