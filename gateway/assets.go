package gateway

import (
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc/metadata"

	recordingsv1 "github.com/sightlinehq/sightline/gen/sightline/recordings/v1"
)

// assetRoute serves a site's captured page assets as raw bytes to the
// replay (GetAsset has no generated REST rule: JSON would base64 the
// body). It is mounted on the API mux, so it passes the same
// authentication, limits and maintenance checks as every /api/v1 route,
// and recordings checks the caller's access to the site as for any site
// route (another organisation gets 404).
const assetRoute = "/api/v1/sites/{site_id}/assets/{hash}"

// assetCSP forbids everything an asset could carry as a document: no
// script, no frames, only inline style and same-origin fonts and images.
const assetCSP = "default-src 'none'; style-src 'unsafe-inline'; font-src 'self'; img-src 'self' data:; sandbox"

// assetRateFactor: asset GETs have their own bucket per caller, this many
// times the API's rate and burst. A first replay of a page loads every
// stylesheet, font and image it used at once (later ones come from the
// browser's cache: the responses are immutable), and must not eat the
// budget of the dashboard's own API calls or be refused halfway.
const assetRateFactor = 10

// isAssetGet reports whether r reads a captured asset (assetRoute).
func isAssetGet(r *http.Request) bool {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return false
	}
	rest, ok := strings.CutPrefix(r.URL.Path, "/api/v1/sites/")
	if !ok {
		return false
	}
	site, rest, ok := strings.Cut(rest, "/")
	hash, found := strings.CutPrefix(rest, "assets/")
	return ok && found && site != "" && hash != "" && !strings.Contains(hash, "/")
}

// handleSiteRoute registers a hand-written GET route of one site under
// pattern: it names the route (span and metrics) and parses site_id (400
// unless a positive integer) before h serves the rest.
func (s *Service) handleSiteRoute(pattern string, h func(w http.ResponseWriter, r *http.Request, site int64, params map[string]string)) error {
	return s.api.HandlePath(http.MethodGet, pattern, func(w http.ResponseWriter, r *http.Request, params map[string]string) {
		ctx := r.Context()
		if rt, ok := ctx.Value(routeKey{}).(*route); ok {
			rt.pattern = pattern
		}
		trace.SpanFromContext(ctx).SetAttributes(attribute.String("http.route", pattern))
		site, err := strconv.ParseInt(params["site_id"], 10, 64)
		if err != nil || site <= 0 {
			writeError(ctx, w, http.StatusBadRequest, "site_id: must be a positive integer")
			return
		}
		h(w, r, site, params)
	})
}

func (s *Service) registerAssetRoute() error {
	if s.deps.Recordings == nil {
		return nil
	}
	rec := recordingsv1.NewRecordingsServiceClient(s.deps.Recordings)
	return s.handleSiteRoute(assetRoute, func(w http.ResponseWriter, r *http.Request, site int64, params map[string]string) {
		ctx := r.Context()
		hash := params["hash"]
		resp, err := rec.GetAsset(metadata.NewOutgoingContext(ctx, forwardCaller(ctx, r)),
			&recordingsv1.GetAssetRequest{SiteId: site, Hash: hash})
		if err != nil {
			s.errorHandler(ctx, s.api, nil, w, r, err)
			return
		}
		h := w.Header()
		h.Set("Content-Type", passiveType(resp.GetContentType()))
		if h.Get("Content-Type") == "application/octet-stream" {
			h.Set("Content-Disposition", "attachment")
		}
		// Content-addressed: the bytes under a hash never change. private:
		// only the signed-in browser may keep them.
		h.Set("Cache-Control", "private, max-age=31536000, immutable")
		h.Set("ETag", `"`+hash+`"`)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Content-Security-Policy", assetCSP)
		h.Set("Cross-Origin-Resource-Policy", "same-origin")
		// The replay iframe shares the dashboard's origin; a font request
		// is CORS-mode all the same, so our own origin is allowed
		// explicitly (and no other).
		if o := r.Header.Get("Origin"); o != "" && o == requestOrigin(r) {
			h.Set("Access-Control-Allow-Origin", o)
			h.Set("Access-Control-Allow-Credentials", "true")
		}
		h.Add("Vary", "Origin")
		if inm := r.Header.Get("If-None-Match"); inm != "" && strings.Contains(inm, `"`+hash+`"`) {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		h.Set("Content-Length", strconv.Itoa(len(resp.GetBody())))
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(resp.GetBody())
	})
}

// passiveType is the type an asset is served with: the stylesheet, font
// and raster image types the capture keeps; anything else (SVG, HTML,
// XML, scripts: content that can act on our origin) as opaque bytes.
func passiveType(ct string) string {
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil {
		return "application/octet-stream"
	}
	switch {
	case mt == "text/css":
		if cs := params["charset"]; cs != "" {
			return mime.FormatMediaType(mt, map[string]string{"charset": cs})
		}
		return mt
	case strings.HasPrefix(mt, "font/"), strings.HasPrefix(mt, "application/font-"),
		strings.HasPrefix(mt, "application/x-font-"), mt == "application/vnd.ms-fontobject":
		return mt
	case strings.HasPrefix(mt, "image/") && !strings.Contains(mt, "svg") && !strings.Contains(mt, "xml"):
		return mt
	}
	return "application/octet-stream"
}

// requestOrigin is the origin the request was addressed to.
func requestOrigin(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return (&url.URL{Scheme: scheme, Host: r.Host}).String()
}
