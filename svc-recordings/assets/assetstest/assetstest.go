// Package assetstest serves a recorded page's resources for asset-capture
// tests: a stylesheet whose @font-face names a font beside it.
package assetstest

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// CSS is the stylesheet's body: a relative reference to Font.
const CSS = `@font-face{font-family:I;src:url(i.woff2)}`

// Font is the font's body.
var Font = "wOF2" + strings.Repeat("i", 40)

// Origin is a site on 127.0.0.1 serving CSS at CSSURL and Font at FontURL.
type Origin struct {
	*httptest.Server
	CSSURL, FontURL string
}

// Serve starts the site; it stops when tb ends.
func Serve(tb testing.TB) *Origin {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/static/site.css":
			w.Header().Set("Content-Type", "text/css")
			_, _ = io.WriteString(w, CSS)
		case "/static/i.woff2":
			w.Header().Set("Content-Type", "font/woff2")
			_, _ = io.WriteString(w, Font)
		default:
			http.NotFound(w, r)
		}
	}))
	tb.Cleanup(srv.Close)
	return &Origin{Server: srv, CSSURL: srv.URL + "/static/site.css", FontURL: srv.URL + "/static/i.woff2"}
}
