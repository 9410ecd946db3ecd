// Package demo serves a small shop with the Sightline snippet installed,
// under /demo/<site key>/, so that a newcomer can click around in it and
// see their own recording, heatmap and numbers before touching their own
// site. Every organisation's demo records into its own site: the key in
// the path is the site the pages send to.
package demo

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/sightlinehq/sightline/wireid"
)

//go:embed shop/*.html
var pages embed.FS

// Site keys are "k_" and URL-safe characters (accounts makes them; see
// svc-accounts' checkSiteKey): a path segment that is anything else is
// answered 404 and never written into a page.
const (
	keyPrefix   = "k_"
	maxKeyBytes = 64
	// maxOrderBytes bounds the checkout form's body, which is read and
	// thrown away (the shop keeps nothing).
	maxOrderBytes = 16 << 10
)

// Product is one item of the shop.
type Product struct {
	Slug, Name, Blurb, Price, Colour string
}

// products are the shop's items; their pages are /demo/<key>/products/<slug>.
var products = []Product{
	{Slug: "desk-lamp", Name: "Brass desk lamp", Blurb: "Warm light on a weighted base, with a dimmer in the cord.", Price: "€89", Colour: "#e9c46a"},
	{Slug: "mug", Name: "Stoneware mug", Blurb: "Hand-glazed, 350 ml, safe in the dishwasher and the microwave.", Price: "€18", Colour: "#2a9d8f"},
	{Slug: "throw", Name: "Linen throw", Blurb: "Washed linen, 130 × 170 cm, softer with every wash.", Price: "€64", Colour: "#e76f51"},
	{Slug: "tray", Name: "Oak serving tray", Blurb: "Solid oak with hand-cut handles, oiled, 45 × 30 cm.", Price: "€42", Colour: "#8d6e63"},
}

// Options configure the shop.
type Options struct {
	// IngestURL is ingest's public base URL ("https://sightline.example.com"),
	// where the snippet loads from and sends to; empty means the pages'
	// own origin, as in the one-process mode.
	IngestURL string
	// BasePath is the path prefix a reverse proxy strips in front of
	// this Sightline ("/sightline"; "" at the root): the shop's links and
	// its way back to the dashboard keep it.
	BasePath string
}

// Handler serves the shop under /demo/.
type Handler struct {
	mux       *http.ServeMux
	tmpl      *template.Template
	ingestURL string
	basePath  string
	csp       string
}

// New parses the shop's pages. An IngestURL that is not an absolute
// http(s) URL is an error.
func New(opts Options) (*Handler, error) {
	base := strings.TrimSuffix(opts.IngestURL, "/")
	scriptSrc := "'self'"
	if base != "" {
		u, err := url.Parse(base)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
			return nil, fmt.Errorf("demo: ingest URL %q is not an absolute http(s) URL", opts.IngestURL)
		}
		scriptSrc += " " + u.Scheme + "://" + u.Host
	}
	tmpl, err := template.ParseFS(pages, "shop/*.html")
	if err != nil {
		return nil, fmt.Errorf("demo: parse pages: %w", err)
	}
	h := &Handler{
		mux:       http.NewServeMux(),
		tmpl:      tmpl,
		ingestURL: base,
		basePath:  strings.TrimSuffix(opts.BasePath, "/"),
		// The pages run no script of their own: only the snippet, from
		// ingest, which sends back there. Styles are inline so that the
		// recording carries them.
		csp: "default-src 'none'; script-src " + scriptSrc + "; connect-src " + scriptSrc +
			"; style-src 'unsafe-inline'; img-src 'self' data:; form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
	}
	h.mux.HandleFunc("GET /demo/{key}", h.withKey(h.redirectRoot))
	h.mux.HandleFunc("GET /demo/{key}/{$}", h.withKey(h.home))
	h.mux.HandleFunc("GET /demo/{key}/products/{slug}", h.withKey(h.product))
	h.mux.HandleFunc("GET /demo/{key}/cart", h.withKey(h.cart))
	h.mux.HandleFunc("GET /demo/{key}/checkout", h.withKey(h.checkout))
	h.mux.HandleFunc("POST /demo/{key}/order", h.withKey(h.order))
	return h, nil
}

// ServeHTTP answers /demo/…; anything but the shop's pages is 404.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hdr := w.Header()
	hdr.Set("X-Content-Type-Options", "nosniff")
	hdr.Set("X-Frame-Options", "DENY")
	hdr.Set("Referrer-Policy", "same-origin")
	hdr.Set("Cache-Control", "no-store")
	hdr.Set("Content-Security-Policy", h.csp)
	h.mux.ServeHTTP(w, r)
}

// ValidKey reports whether key has the form of a site key.
func ValidKey(key string) bool {
	return len(key) > len(keyPrefix) && len(key) <= maxKeyBytes && strings.HasPrefix(key, keyPrefix) && wireid.URLSafe(key)
}

// page is what every template gets.
type page struct {
	Key       string
	Base      string // "/demo/<key>", after the base path
	Dashboard string // the dashboard's root: the base path and "/"
	ScriptURL string
	Title     string
	Products  []Product
	Product   Product
}

// withKey refuses a malformed key with a bare 404 before fn sees it.
func (h *Handler) withKey(fn func(http.ResponseWriter, *http.Request, page)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		key := r.PathValue("key")
		if !ValidKey(key) {
			http.NotFound(w, r)
			return
		}
		fn(w, r, page{Key: key, Base: h.basePath + "/demo/" + key, Dashboard: h.basePath + "/", ScriptURL: h.ingestURL + "/s/" + key + ".js", Products: products})
	}
}

func (h *Handler) redirectRoot(w http.ResponseWriter, r *http.Request, p page) {
	http.Redirect(w, r, p.Base+"/", http.StatusMovedPermanently)
}

func (h *Handler) home(w http.ResponseWriter, r *http.Request, p page) {
	p.Title = "Home"
	h.render(w, "home.html", p)
}

func (h *Handler) product(w http.ResponseWriter, r *http.Request, p page) {
	prod, ok := lookup(r.PathValue("slug"))
	if !ok {
		http.NotFound(w, r)
		return
	}
	p.Title, p.Product = prod.Name, prod
	h.render(w, "product.html", p)
}

// cart shows the product named by ?add= (the shop keeps no state: the
// cart holds what was added last).
func (h *Handler) cart(w http.ResponseWriter, r *http.Request, p page) {
	p.Title = "Your cart"
	if prod, ok := lookup(r.URL.Query().Get("add")); ok {
		p.Product = prod
	}
	h.render(w, "cart.html", p)
}

func (h *Handler) checkout(w http.ResponseWriter, r *http.Request, p page) {
	p.Title = "Checkout"
	h.render(w, "checkout.html", p)
}

// order takes the checkout form by POST, so what was typed never lands in
// a URL (which the recording would show), and keeps none of it.
func (h *Handler) order(w http.ResponseWriter, r *http.Request, p page) {
	_, err := io.Copy(io.Discard, http.MaxBytesReader(w, r.Body, maxOrderBytes))
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		http.Error(w, "order form too large", http.StatusRequestEntityTooLarge)
		return
	}
	if err != nil {
		http.Error(w, "could not read the order form", http.StatusBadRequest)
		return
	}
	p.Title = "Thank you"
	h.render(w, "thanks.html", p)
}

// render writes the page whole, or a 500 without a half-written page.
func (h *Handler) render(w http.ResponseWriter, name string, p page) {
	var buf bytes.Buffer
	if err := h.tmpl.ExecuteTemplate(&buf, name, p); err != nil {
		http.Error(w, "demo: render "+name, http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_, _ = buf.WriteTo(w)
}

func lookup(slug string) (Product, bool) {
	for _, p := range products {
		if p.Slug == slug {
			return p, true
		}
	}
	return Product{}, false
}
