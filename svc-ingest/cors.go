package ingest

import (
	"errors"
	"net/http"
	"net/url"

	"github.com/sightlinehq/sightline/sitedomain"
	"github.com/sightlinehq/sightline/svc-ingest/siteconfig"
)

// originHost returns the host of an Origin header ("" when absent).
func originHost(origin string) (string, bool) {
	if origin == "" {
		return "", true
	}
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return "", false
	}
	return u.Hostname(), true
}

func (s *Service) servePreflight(w http.ResponseWriter, r *http.Request) {
	origin := r.Header.Get("Origin")
	h := w.Header()
	h.Set("Vary", "Origin, Access-Control-Request-Method, Access-Control-Request-Headers")
	host, ok := originHost(origin)
	if origin == "" || !ok {
		http.Error(w, "ingest: preflight without a valid Origin", http.StatusForbidden)
		return
	}
	site, err := s.sites.Get(r.Context(), r.URL.Query().Get("k"))
	switch {
	case errors.Is(err, siteconfig.ErrNotFound):
		http.Error(w, "ingest: unknown site (pass ?k=<site key>)", http.StatusNotFound)
		return
	case err != nil:
		w.Header().Set("Retry-After", "10")
		http.Error(w, "ingest: site configuration unavailable", http.StatusServiceUnavailable)
		return
	}
	if !sitedomain.Match(site.GetDomains(), host) {
		http.Error(w, "ingest: origin not allowed for this site", http.StatusForbidden)
		return
	}
	h.Set("Access-Control-Allow-Origin", origin)
	h.Set("Access-Control-Allow-Methods", "POST")
	h.Set("Access-Control-Allow-Headers", "Content-Type, Content-Encoding, traceparent, tracestate")
	h.Set("Access-Control-Max-Age", "86400")
	w.WriteHeader(http.StatusNoContent)
}

// corsHeaders lets the tracker read every answer. An allowed origin is
// echoed (on errors too, so that the tracker sees 413/429/503 and
// Retry-After rather than a network error). Refusals of a foreign origin or
// an unknown site get "*": the page may read that it was refused — and stop
// retrying — but no credentials are allowed and the body is only the
// refusal message.
func (s *Service) corsHeaders(r *http.Request, b *batch, a answer) {
	origin := b.origin
	if origin == "" {
		return
	}
	h := b.w.Header()
	if b.site == nil {
		if k := b.query.Get("k"); k != "" {
			if site, err := s.sites.Get(r.Context(), k); err == nil {
				b.site = site
			}
		}
	}
	allow := ""
	if host := b.originHost; b.originOK && host != "" && b.site != nil && sitedomain.Match(b.site.GetDomains(), host) {
		allow = origin
	} else if a.code >= 400 {
		allow = "*"
	}
	if allow == "" {
		return
	}
	h["Access-Control-Allow-Origin"] = []string{allow}
	h["Access-Control-Expose-Headers"] = exposeHeaders
	h["Vary"] = append(h["Vary"], "Origin")
}

// exposeHeaders is shared by every answer (net/http only reads it).
var exposeHeaders = []string{"Retry-After, Sightline-Trace-Id"}
