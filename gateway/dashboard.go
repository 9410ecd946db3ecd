package gateway

import (
	"net/http"
)

// dashboardCSP allows the dashboard's own scripts only, and the replay
// iframe to load the recorded site's styles, fonts and images.
const dashboardCSP = "default-src 'self'; script-src 'self'; connect-src 'self'; " +
	"style-src 'self' 'unsafe-inline' https: http:; img-src 'self' data: blob: https: http:; " +
	"font-src 'self' data: https: http:; frame-src 'self' blob:; object-src 'none'; " +
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

// dashboardHandler serves the dashboard.
func dashboardHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write([]byte(`<!doctype html><title>Sightline</title><h1>Sightline</h1>
<p>The dashboard is not built into this binary. Run <code>make run</code>, which builds it.</p>
<p>API: <a href="/api/v1/openapi.json">/api/v1/openapi.json</a></p>`))
	})
}
