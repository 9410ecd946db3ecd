package ingest

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"

	"github.com/sightlinehq/sightline/platform/httpcompress"
)

// BeaconPrefix is the path prefix of the tracker's beacons (batches,
// answers, hits and their CORS preflights). Their handlers start the
// server span themselves, continuing the trace a body carries (startSpan);
// preflights, answered from headers alone, are not traced. The HTTP server
// leaves them out of otelhttp (httpserver.Options.SelfTraced).
const BeaconPrefix = "/i/v1/"

// RegisterHTTP mounts the public endpoints (/s/, /static/, /i/v1/).
func (s *Service) RegisterHTTP(mux *http.ServeMux) {
	// Both go out compressed to browsers that accept it: the bundles (the
	// recorder: 95 KB, 31 KB gzipped) and the bootstrap, which every page
	// view may fetch (4.5 KB, 2.3 KB gzipped, in TestScripts) and
	// browsers revalidate every minute by its ETag, kept with the
	// encoding's suffix.
	mux.Handle("GET /s/{file}", httpcompress.Revalidated(http.HandlerFunc(s.serveBootstrap)))
	mux.Handle("GET /static/{file}", httpcompress.Handler(http.HandlerFunc(s.serveStatic)))
	mux.HandleFunc("POST /i/v1/batch", s.serveBatch)
	mux.HandleFunc("OPTIONS /i/v1/batch", s.servePreflight)
	mux.HandleFunc("POST /i/v1/answer", s.serveAnswer)
	mux.HandleFunc("OPTIONS /i/v1/answer", s.servePreflight)
	mux.HandleFunc("POST /i/v1/hit", s.serveHit)
	mux.HandleFunc("OPTIONS /i/v1/hit", s.servePreflight)
}

// answer is the outcome of one intake request (a batch, an answer, a hit
// body).
type answer struct {
	code       int
	msg        string
	retryAfter time.Duration
}

// reply writes the answer to one intake request (a batch or an answer):
// status, CORS, and for a refusal its message, trace id and Retry-After.
func (s *Service) reply(b *batch, a answer, what string) {
	span, w := b.span, b.w
	span.SetAttributes(attribute.Int("http.response.status_code", a.code))
	if b.site != nil {
		span.SetAttributes(attribute.Int64("sightline.site_id", b.site.GetSiteId()))
	}
	h := w.Header()
	s.corsHeaders(b.r, b, a)
	if a.code < 400 {
		w.WriteHeader(a.code)
		return
	}
	span.SetStatus(codes.Error, a.msg)
	if sc := span.SpanContext(); sc.HasTraceID() {
		h.Set("Sightline-Trace-Id", sc.TraceID().String())
	}
	if a.retryAfter > 0 {
		h.Set("Retry-After", strconv.Itoa(int((a.retryAfter+time.Second-1)/time.Second)))
	}
	if a.code >= 500 {
		s.log.WarnContext(b.ctx, what+" refused", "status", a.code, "reason", a.msg)
	} else {
		s.log.DebugContext(b.ctx, what+" refused", "status", a.code, "reason", a.msg)
	}
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(a.code)
	io.WriteString(w, "ingest: "+a.msg+"\n")
}

// refuse is a refusal, counted as a hit of limit unless limit is "".
func (s *Service) refuse(ctx context.Context, code int, limit string, retryAfter time.Duration, format string, args ...any) answer {
	if limit != "" {
		s.hit(ctx, limit)
	}
	return answer{code: code, msg: fmt.Sprintf(format, args...), retryAfter: retryAfter}
}
