package gateway

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	trafficv1 "github.com/sightlinehq/sightline/gen/sightline/traffic/v1"
)

// realtimeStreamRoute streams a site's realtime traffic as server-sent
// events: one GetRealtime call every gateway.realtime-interval, an event
// (a "message" whose data is the GetRealtimeResponse as the REST route
// answers it, protojson on one line) when the figures changed, a comment
// line as a heartbeat every 15 s otherwise, until the client goes, the
// stream reaches gateway.realtime-max-lifetime (the browser's EventSource
// then reconnects) or the server shuts down. It is mounted on the API mux,
// so it is authenticated, rate-limited and refused in maintenance like
// every /api/v1 route; search checks the caller's access to the site, and
// the first call is made before any byte is written, so another
// organisation's site is a plain 404.
const realtimeStreamRoute = "/api/v1/sites/{site_id}/traffic/realtime:stream"

const (
	realtimeHeartbeat = 15 * time.Second
	// realtimeRetry is the reconnection delay the stream asks of the
	// browser (the SSE "retry:" field).
	realtimeRetry = 3 * time.Second
)

// streams counts the realtime streams open per caller and ends them all
// at shutdown.
type streams struct {
	max  int
	mu   sync.Mutex
	open map[string]int
	stop chan struct{}
	once sync.Once
}

func newStreams(max int) *streams {
	return &streams{max: max, open: map[string]int{}, stop: make(chan struct{})}
}

// acquire takes one of key's streams; false when key has max open.
func (st *streams) acquire(key string) (release func(), ok bool) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.open[key] >= st.max {
		return nil, false
	}
	st.open[key]++
	return func() {
		st.mu.Lock()
		defer st.mu.Unlock()
		if st.open[key]--; st.open[key] <= 0 {
			delete(st.open, key)
		}
	}, true
}

// StopStreams ends every realtime stream (the HTTP server's shutdown hook:
// Shutdown waits for in-flight responses, and a stream never finishes by
// itself).
func (s *Service) StopStreams() { s.streams.once.Do(func() { close(s.streams.stop) }) }

func (s *Service) registerRealtimeStream() error {
	if s.deps.Search == nil {
		return nil
	}
	tc := trafficv1.NewTrafficServiceClient(s.deps.Search)
	return s.handleSiteRoute(realtimeStreamRoute, func(w http.ResponseWriter, r *http.Request, site int64, params map[string]string) {
		ctx := r.Context()
		c, _ := ctx.Value(callerKey{}).(caller)
		release, ok := s.streams.acquire(c.user)
		if !ok {
			w.Header().Set("Retry-After", strconv.Itoa(int(realtimeRetry.Seconds())*10))
			writeError(ctx, w, http.StatusTooManyRequests, fmt.Sprintf("at most %d realtime streams per user are open at once; close a tab showing realtime", s.cfg.RealtimeStreamsPerUser))
			return
		}
		defer release()
		out := metadata.NewOutgoingContext(ctx, forwardCaller(ctx, r))
		req := &trafficv1.GetRealtimeRequest{SiteId: site}
		first, err := tc.GetRealtime(out, req)
		if err != nil {
			s.errorHandler(ctx, s.api, nil, w, r, err)
			return
		}
		// The server's read and write timeouts are for ordinary requests:
		// the stream's own lifetime bounds it instead. A read timeout would
		// cancel the request's context while the body is long read.
		rc := http.NewResponseController(w)
		_ = rc.SetReadDeadline(time.Time{})
		h := w.Header()
		h.Set("Content-Type", "text/event-stream; charset=utf-8")
		h.Set("Cache-Control", "no-store")
		// Proxies (nginx) buffer responses unless told not to.
		h.Set("X-Accel-Buffering", "no")
		w.WriteHeader(http.StatusOK)
		sse := &sseWriter{w: w, rc: rc}
		sse.printf("retry: %d\n\n", realtimeRetry.Milliseconds())
		last := sse.event(first, nil)
		lifetime := time.NewTimer(s.cfg.RealtimeMaxLifetime)
		defer lifetime.Stop()
		poll := time.NewTicker(s.cfg.RealtimeInterval)
		defer poll.Stop()
		quiet := time.Now()
		for sse.err == nil {
			select {
			case <-ctx.Done():
				return
			case <-s.streams.stop:
				return
			case <-lifetime.C:
				return
			case <-poll.C:
			}
			cctx, cancel := context.WithTimeout(out, s.cfg.RealtimeInterval*2)
			res, err := tc.GetRealtime(cctx, req)
			cancel()
			switch {
			case err == nil:
				if next := sse.event(res, last); next != nil {
					last, quiet = next, time.Now()
					continue
				}
			case ctx.Err() != nil:
				return
			case transient(err):
				// Search is away for a moment: keep the stream, say so.
				sse.printf(": %s\n\n", oneLine(status.Convert(err).Message()))
				quiet = time.Now()
				continue
			default:
				// Access revoked, site deleted: the stream ends with why.
				sse.printf("event: error\ndata: %s\n\n", oneLine(status.Convert(err).Message()))
				return
			}
			if time.Since(quiet) >= realtimeHeartbeat {
				sse.printf(": heartbeat\n\n")
				quiet = time.Now()
			}
		}
	})
}

// transient reports errors after which the next call may succeed.
func transient(err error) bool {
	switch status.Code(err) {
	case codes.Unavailable, codes.DeadlineExceeded, codes.ResourceExhausted, codes.Aborted:
		return true
	}
	return false
}

// oneLine keeps a message on one SSE line.
func oneLine(s string) string { return strings.NewReplacer("\r", " ", "\n", " ").Replace(s) }

// sseWriter writes server-sent events, flushing each, with the write
// deadline moved forward before every write; the first error sticks and
// ends the stream.
type sseWriter struct {
	w   http.ResponseWriter
	rc  *http.ResponseController
	err error
}

func (e *sseWriter) printf(format string, args ...any) {
	if e.err != nil {
		return
	}
	_ = e.rc.SetWriteDeadline(time.Now().Add(realtimeHeartbeat * 2))
	if _, e.err = fmt.Fprintf(e.w, format, args...); e.err == nil {
		e.err = e.rc.Flush()
	}
}

// event sends res unless it holds the same figures as last (as_of aside),
// and answers the figures sent (nil when nothing was).
func (e *sseWriter) event(res *trafficv1.GetRealtimeResponse, last *trafficv1.GetRealtimeResponse) *trafficv1.GetRealtimeResponse {
	figures := proto.Clone(res).(*trafficv1.GetRealtimeResponse)
	figures.AsOf = nil
	if last != nil && proto.Equal(figures, last) {
		return nil
	}
	body, err := protojson.Marshal(res)
	if err != nil {
		e.err = err
		return nil
	}
	e.printf("data: %s\n\n", body)
	return figures
}
