package httpserver

import (
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/felixge/httpsnoop"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/semconv/v1.43.0/httpconv"
)

// selfTracedMetrics serves requests whose handler traces itself, recording
// each one's duration in otelhttp's own http.server.request.duration (its
// meter scope and version, so the SDK hands back that very instrument and
// the dashboards' series by route and status see these requests too),
// with otelhttp's attributes, the server's name among them (never the Host
// header: see Options.ServerName). The attribute set of each (method,
// route, status, protocol, scheme) is built once.
type selfTracedMetrics struct {
	next     http.Handler
	duration httpconv.ServerRequestDuration
	host     string
	port     int      // -1: none
	sets     sync.Map // selfTracedKey → metric.MeasurementOption
}

type selfTracedKey struct {
	method, route, proto string
	status               int
	tls                  bool
}

// newSelfTracedMetrics serves next; server is a host:port (serverName).
func newSelfTracedMetrics(next http.Handler, mp metric.MeterProvider, server string) *selfTracedMetrics {
	m := &selfTracedMetrics{next: next, port: -1}
	host, port, _ := net.SplitHostPort(server)
	m.host = host
	if p, err := strconv.Atoi(port); err == nil && p > 0 {
		m.port = p
	}
	meter := mp.Meter(otelhttp.ScopeName, metric.WithInstrumentationVersion(otelhttp.Version))
	d, err := httpconv.NewServerRequestDuration(meter, metric.WithExplicitBucketBoundaries(
		// otelhttp's boundaries (internal/semconv/server.go).
		0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10))
	if err != nil {
		panic(fmt.Sprintf("httpserver: creating the request duration histogram: %v", err))
	}
	m.duration = d
	return m
}

func (m *selfTracedMetrics) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	status := 0
	// httpsnoop, as Recover: the handler keeps the writer's optional
	// interfaces, and http.ResponseController (ingest's read deadline)
	// reaches the connection through Unwrap.
	ww := httpsnoop.Wrap(w, httpsnoop.Hooks{
		WriteHeader: func(next httpsnoop.WriteHeaderFunc) httpsnoop.WriteHeaderFunc {
			return func(code int) {
				if status == 0 && code >= 200 { // 1xx may precede the answer
					status = code
				}
				next(code)
			}
		},
	})
	m.next.ServeHTTP(ww, r)
	if status == 0 { // a body written without WriteHeader, or nothing
		status = http.StatusOK
	}
	k := selfTracedKey{method: r.Method, route: r.Pattern, proto: r.Proto, status: status, tls: r.TLS != nil}
	opt, ok := m.sets.Load(k)
	if !ok {
		opt, _ = m.sets.LoadOrStore(k, metric.WithAttributeSet(m.attrs(k)))
	}
	m.duration.Inst().Record(r.Context(), time.Since(start).Seconds(), opt.(metric.MeasurementOption))
}

// attrs are otelhttp's metric attributes of a request. Every part of k is
// bounded: the method is one of HTTP's or _OTHER, the route a ServeMux
// pattern, the protocol one net/http serves.
func (m *selfTracedMetrics) attrs(k selfTracedKey) attribute.Set {
	method := strings.ToUpper(k.method)
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodConnect, http.MethodOptions, http.MethodTrace:
	default:
		method = "_OTHER"
	}
	scheme := "http"
	if k.tls {
		scheme = "https"
	}
	attrs := []attribute.KeyValue{semconv.HTTPRequestMethodKey.String(method), semconv.URLScheme(scheme), semconv.ServerAddress(m.host)}
	// As otelhttp: the port only when it is not the scheme's default.
	if m.port > 0 && !(k.tls && m.port == 443) && !(!k.tls && m.port == 80) {
		attrs = append(attrs, semconv.ServerPort(m.port))
	}
	// As otelhttp names it: "HTTP/1.1" is http and 1.1.
	if name, version, _ := strings.Cut(k.proto, "/"); name != "" {
		attrs = append(attrs, semconv.NetworkProtocolName(strings.ToLower(name)))
		if version != "" {
			attrs = append(attrs, semconv.NetworkProtocolVersion(version))
		}
	}
	attrs = append(attrs, semconv.HTTPResponseStatusCode(k.status))
	if route := patternRoute(k.route); route != "" {
		attrs = append(attrs, semconv.HTTPRoute(route))
	}
	return attribute.NewSet(attrs...)
}

// patternRoute is a ServeMux pattern's path ("POST /i/v1/batch" →
// "/i/v1/batch"), as otelhttp reports http.route.
func patternRoute(pattern string) string {
	if i := strings.IndexByte(pattern, '/'); i >= 0 {
		return pattern[i:]
	}
	return ""
}
