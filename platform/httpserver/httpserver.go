// Package httpserver runs an HTTP server with Sightline's standard
// behaviour: OpenTelemetry spans named after the route, the trace id in a
// response header, panic recovery, timeouts and size limits with sane
// defaults, and a listen step separate from serving so that port conflicts
// surface at start.
package httpserver

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/felixge/httpsnoop"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/trace"

	"github.com/sightlinehq/sightline/platform/telemetry"
)

// Default limits. Handlers that stream for longer (a replay download) can
// extend their own write deadline with http.ResponseController.
const (
	DefaultReadHeaderTimeout = 10 * time.Second
	DefaultReadTimeout       = time.Minute
	DefaultWriteTimeout      = 2 * time.Minute
	DefaultIdleTimeout       = 2 * time.Minute
	DefaultMaxHeaderBytes    = 64 << 10
)

// TraceIDHeader is the response header carrying the request's trace id, so
// that an error seen by a user or a browser can be found in the traces and
// logs.
const TraceIDHeader = "X-Trace-Id"

const instrumentationName = "github.com/sightlinehq/sightline/platform/httpserver"

// Options configure New. Zero values mean the defaults above; a negative
// timeout means none.
type Options struct {
	ReadHeaderTimeout, ReadTimeout, WriteTimeout, IdleTimeout time.Duration
	MaxHeaderBytes                                            int
	// SelfTraced lists path prefixes whose handlers start their own server
	// span (Instrument).
	SelfTraced []string
	// ServerName is the server.address and server.port of request spans
	// and metrics (New: the listen address). otelhttp otherwise takes
	// them from the Host header, which any client sets to anything: each
	// value would be a series of http.server.request.duration, up to the
	// SDK's limit (2000 per instrument), past which real routes' new
	// series go to its overflow series.
	ServerName string
}

func orDefault(d, def time.Duration) time.Duration {
	switch {
	case d == 0:
		return def
	case d < 0:
		return 0 // net/http: zero means no timeout
	}
	return d
}

// Server is an HTTP server. Call Listen, then Serve (usually in a
// goroutine), then Shutdown.
type Server struct {
	srv    *http.Server
	addr   string
	logger *slog.Logger

	mu sync.Mutex
	ln net.Listener
}

// New returns a server for h on addr. tel may be nil in tests that do not
// care about telemetry.
func New(addr string, h http.Handler, tel *telemetry.Telemetry, logger *slog.Logger, opts Options) *Server {
	if logger == nil {
		logger = slog.Default()
	}
	if opts.ServerName == "" {
		opts.ServerName = addr
	}
	maxHeader := opts.MaxHeaderBytes
	if maxHeader <= 0 {
		maxHeader = DefaultMaxHeaderBytes
	}
	return &Server{
		addr:   addr,
		logger: logger,
		srv: &http.Server{
			Handler:           Instrument(h, tel, logger, opts),
			ReadHeaderTimeout: orDefault(opts.ReadHeaderTimeout, DefaultReadHeaderTimeout),
			ReadTimeout:       orDefault(opts.ReadTimeout, DefaultReadTimeout),
			WriteTimeout:      orDefault(opts.WriteTimeout, DefaultWriteTimeout),
			IdleTimeout:       orDefault(opts.IdleTimeout, DefaultIdleTimeout),
			MaxHeaderBytes:    maxHeader,
			// net/http's own complaints (TLS handshakes, bad requests) go
			// to the structured log too.
			ErrorLog: slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
		},
	}
}

// Instrument wraps h with the standard middleware: an otelhttp span named
// "METHOD /route/{pattern}" once a ServeMux has matched the request (just
// the method before that, to keep span names low-cardinality), the trace id
// response header and panic recovery. New applies it; it is exported for
// handlers served some other way.
//
// Requests under an opts.SelfTraced prefix (the tracker's beacons) skip otelhttp:
// their handler starts the server span itself, continuing the trace the
// body carries, so otelhttp's span would be a second, parentless one; and
// its wrappers and per-request attribute sets cost the edge a sixth of its
// CPU (bench-edge, three runs of each alternated: 132 → 110 µs per batch,
// medians). Their duration still goes to otelhttp's
// http.server.request.duration (selfTracedMetrics).
func Instrument(h http.Handler, tel *telemetry.Telemetry, logger *slog.Logger, opts Options) http.Handler {
	if logger == nil {
		logger = slog.Default()
	}
	var meter metric.Meter = noop.NewMeterProvider().Meter(instrumentationName)
	if tel != nil {
		meter = tel.Meter(instrumentationName)
	}
	h = Recover(h, logger, meter)
	h = TraceIDResponseHeader(h)
	if tel == nil {
		return h
	}
	traced := otelhttp.NewHandler(h, "http.server",
		otelhttp.WithTracerProvider(tel.TracerProvider),
		otelhttp.WithMeterProvider(tel.MeterProvider),
		otelhttp.WithPropagators(tel.Propagator),
		otelhttp.WithSpanNameFormatter(spanName),
		otelhttp.WithServerName(serverName(opts.ServerName)),
	)
	selfTraced := opts.SelfTraced
	if len(selfTraced) == 0 {
		return traced
	}
	self := newSelfTracedMetrics(h, tel.MeterProvider, serverName(opts.ServerName))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for _, p := range selfTraced {
			if strings.HasPrefix(r.URL.Path, p) {
				self.ServeHTTP(w, r)
				return
			}
		}
		traced.ServeHTTP(w, r)
	})
}

// serverName is what otelhttp reports as server.address and server.port:
// name's host and port. A name without a port would make otelhttp read
// the port from the Host header, so port 0 (reported as none) stands in.
func serverName(name string) string {
	if _, _, err := net.SplitHostPort(name); err == nil {
		return name
	}
	if name == "" {
		name = "sightline"
	}
	return net.JoinHostPort(name, "0")
}

// spanName runs twice: at the start (no pattern yet) and after the handler,
// when the ServeMux has set r.Pattern, which may already start with the
// method ("GET /api/sites/{id}").
func spanName(_ string, r *http.Request) string {
	if r.Pattern == "" {
		return r.Method
	}
	if f := strings.Fields(r.Pattern); len(f) == 2 {
		return f[0] + " " + f[1]
	}
	return r.Method + " " + r.Pattern
}

// TraceIDResponseHeader sets TraceIDHeader on every response from the span
// in the request's context (the otelhttp span when used inside it).
func TraceIDResponseHeader(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if id := TraceID(r.Context()); id != "" {
			w.Header().Set(TraceIDHeader, id)
		}
		next.ServeHTTP(w, r)
	})
}

// TraceID returns the trace id of the span in ctx, or "" without one; error
// bodies include it.
func TraceID(ctx context.Context) string {
	sc := trace.SpanContextFromContext(ctx)
	if !sc.IsValid() {
		return ""
	}
	return sc.TraceID().String()
}

// Recover turns a handler panic into a 500 (when nothing was written yet),
// an error log line with the stack and a count in
// sightline.http.server.panics. http.ErrAbortHandler is re-panicked: it is
// net/http's way to abort a response and is not a bug.
func Recover(next http.Handler, logger *slog.Logger, meter metric.Meter) http.Handler {
	panics, err := meter.Int64Counter("sightline.http.server.panics",
		metric.WithDescription("HTTP handler panics recovered."),
		metric.WithUnit("{panic}"))
	if err != nil {
		panic(fmt.Sprintf("httpserver: creating panic counter: %v", err))
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var wrote atomic.Bool
		ww := httpsnoop.Wrap(w, httpsnoop.Hooks{
			WriteHeader: func(next httpsnoop.WriteHeaderFunc) httpsnoop.WriteHeaderFunc {
				return func(code int) {
					if code >= 200 { // 1xx informational responses may precede the real one
						wrote.Store(true)
					}
					next(code)
				}
			},
			Write: func(next httpsnoop.WriteFunc) httpsnoop.WriteFunc {
				return func(b []byte) (int, error) { wrote.Store(true); return next(b) }
			},
			ReadFrom: func(next httpsnoop.ReadFromFunc) httpsnoop.ReadFromFunc {
				return func(src io.Reader) (int64, error) { wrote.Store(true); return next(src) }
			},
		})
		defer func() {
			p := recover()
			if p == nil {
				return
			}
			if p == http.ErrAbortHandler { // a sentinel, compared as net/http does
				panic(p)
			}
			ctx := r.Context()
			logger.ErrorContext(ctx, "HTTP handler panicked",
				slog.String("http.method", r.Method),
				slog.String("http.route", r.Pattern),
				slog.String("url.path", r.URL.Path),
				slog.Any("panic", p),
				slog.String("stack", string(debug.Stack())))
			panics.Add(ctx, 1, metric.WithAttributes(attribute.String("http.route", r.Pattern)))
			if !wrote.Load() {
				w.Header().Set("Content-Type", "text/plain; charset=utf-8")
				w.Header().Set("X-Content-Type-Options", "nosniff")
				w.WriteHeader(http.StatusInternalServerError)
				msg := "internal server error"
				if id := TraceID(ctx); id != "" {
					msg += " (trace id " + id + ")"
				}
				_, _ = fmt.Fprintln(w, msg)
			}
		}()
		next.ServeHTTP(ww, r)
	})
}

// Listen binds the address now, so that a port conflict is reported at
// start, and so that Addr is known when addr's port is 0.
func (s *Server) Listen() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln != nil {
		return nil
	}
	ln, err := net.Listen("tcp", s.addr)
	if err != nil {
		return fmt.Errorf("httpserver: listening on %s: %w", s.addr, err)
	}
	s.ln = ln
	return nil
}

// Addr is the bound address (host:port) after Listen, or the configured
// one before.
func (s *Server) Addr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln != nil {
		return s.ln.Addr().String()
	}
	return s.addr
}

// Serve serves until Shutdown, and then returns nil. It calls Listen if
// that was not done yet.
func (s *Server) Serve() error {
	if err := s.Listen(); err != nil {
		return err
	}
	s.mu.Lock()
	ln := s.ln
	s.mu.Unlock()
	if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("httpserver: serving on %s: %w", ln.Addr(), err)
	}
	return nil
}

// RegisterOnShutdown registers f to run when Shutdown starts: a handler
// that streams (server-sent events) ends its responses with it, since
// Shutdown waits for in-flight responses.
func (s *Server) RegisterOnShutdown(f func()) { s.srv.RegisterOnShutdown(f) }

// Shutdown stops accepting connections and waits, up to ctx's deadline,
// for in-flight requests to finish. It also closes a listener that was
// bound but never served.
func (s *Server) Shutdown(ctx context.Context) error {
	err := s.srv.Shutdown(ctx)
	s.mu.Lock()
	if s.ln != nil {
		// Already closed by Shutdown when Serve ran; the error is then
		// net.ErrClosed and uninteresting.
		_ = s.ln.Close()
	}
	s.mu.Unlock()
	if err != nil {
		return fmt.Errorf("httpserver: shutting down %s: %w", s.Addr(), err)
	}
	return nil
}
