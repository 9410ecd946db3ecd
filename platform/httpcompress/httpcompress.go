// Package httpcompress compresses HTTP answers for clients that accept it:
// the dashboard's bundle and its JSON (bench-heatmaps' month of a busy
// page: 1.77 MB of JSON, 0.16 MB compressed) and the recorder every
// visitor's browser loads (95 KB, 31 KB gzipped).
//
// It is klauspost/compress's gzhttp, which negotiates Accept-Encoding
// (zstd when the client accepts it, else gzip), skips small and
// already-compressed answers, adds Vary and keeps Flush working, set up
// the one way every server here wants it.
package httpcompress

import (
	"net/http"
	"strings"

	"github.com/klauspost/compress/gzhttp"
	"github.com/klauspost/compress/zstd"
)

// Handler answers GET and HEAD requests through h, compressed when the
// client accepts it; other methods go to h as they are.
//
// Only reads: an answer to a write may carry a secret (a new API key)
// beside what the caller sent, which is what BREACH needs; reads answer
// stored data. Server-sent events are left plain: each event is flushed
// on its own, where compression gains nothing. A compressed answer goes
// without its ETag (an ETag names one encoding's bytes): wrap only
// handlers whose ETags nothing needs to revalidate (content-addressed,
// cached for good), not one that answers If-None-Match within minutes.
func Handler(h http.Handler) http.Handler {
	z := wrap(h)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet || r.Method == http.MethodHead {
			z.ServeHTTP(w, r)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// compressible tells whether an answer of content type ct is worth
// compressing: not server-sent events, nor images but SVG, nor WOFF fonts
// (compressed already, as are the archives, audio and video gzhttp's
// default leaves out). Recorded pages' assets are mostly images and fonts.
func compressible(ct string) bool {
	ct = strings.TrimSpace(strings.ToLower(ct))
	switch {
	case strings.HasPrefix(ct, "text/event-stream"):
		return false
	case strings.HasPrefix(ct, "image/"):
		return strings.HasPrefix(ct, "image/svg")
	case strings.HasPrefix(ct, "font/woff"), strings.Contains(ct, "font-woff"):
		return false
	}
	return gzhttp.DefaultContentTypeFilter(ct)
}

// wrap is gzhttp's wrapper with these options; they are constant and
// valid, so an error is a programming error.
func wrap(h http.Handler) http.Handler {
	w, err := gzhttp.NewWrapper(
		gzhttp.ContentTypeFilter(compressible),
		gzhttp.DropETag(),
		// zstd's default level, not gzhttp's fastest: the recorder came
		// out 34.1 KB in 1.2 ms at the fastest, 32.2 KB in 1.1 ms at the
		// default, 31.7 KB in 3.4 ms as gzip (one run of each, 200 times).
		gzhttp.ZstdCompressionLevel(int(zstd.SpeedDefault)),
	)
	if err != nil {
		panic("httpcompress: " + err.Error())
	}
	return w(h)
}
