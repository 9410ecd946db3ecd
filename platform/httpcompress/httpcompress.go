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
func Handler(h http.Handler) http.Handler { return reads(h, wrap(h, false)) }

// Revalidated is Handler for an answer browsers revalidate by its ETag
// within minutes (If-None-Match): a compressed answer keeps its ETag with
// the encoding's suffix ("abc" goes out as "abc-gzip" or "abc-zstd"; an
// ETag names one encoding's bytes), and h compares the tags it is sent
// with BaseETag.
func Revalidated(h http.Handler) http.Handler {
	return reads(h, wrap(h, true))
}

// The suffixes Revalidated's ETags get (gzhttp's, from SuffixETag's).
const (
	suffixGzip = "-gzip"
	suffixZstd = "-zstd"
)

// BaseETag is the ETag a handler behind Revalidated set, given the tag a
// client sends back: tag without the encoding's suffix.
func BaseETag(tag string) string {
	for _, suffix := range []string{suffixGzip, suffixZstd} {
		if base, ok := strings.CutSuffix(tag, suffix+`"`); ok {
			return base + `"`
		}
	}
	return tag
}

// reads sends GET and HEAD requests to z, the others to h.
func reads(h, z http.Handler) http.Handler {
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

// wrap is gzhttp's wrapper with these options, a compressed answer's
// ETag dropped or (suffixETags) suffixed; they are constant and valid, so
// an error is a programming error.
func wrap(h http.Handler, suffixETags bool) http.Handler {
	etag := gzhttp.DropETag()
	if suffixETags {
		etag = gzhttp.SuffixETag(suffixGzip)
	}
	w, err := gzhttp.NewWrapper(
		gzhttp.ContentTypeFilter(compressible),
		etag,
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
