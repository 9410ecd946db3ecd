package gateway_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/sightlinehq/sightline/cmd/sightline/app"
	recordingsv1 "github.com/sightlinehq/sightline/gen/sightline/recordings/v1"
	sessionsv1 "github.com/sightlinehq/sightline/gen/sightline/sessions/v1"
	trafficv1 "github.com/sightlinehq/sightline/gen/sightline/traffic/v1"
	"github.com/sightlinehq/sightline/internal/poll"
)

// stream is an open server-sent events response.
type stream struct {
	resp   *http.Response
	lines  *bufio.Scanner
	cancel context.CancelFunc
}

// openStream GETs an event stream; the response is returned whatever its
// status.
func (c *client) openStream(path string) *stream {
	c.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, c.s.base+path, nil)
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("Accept-Encoding", "gzip")
	if c.bearer != "" {
		req.Header.Set("Authorization", "Bearer "+c.bearer)
	}
	// The client's own timeout would end the stream: cookies only.
	hc := &http.Client{Jar: c.http.Jar}
	resp, err := hc.Do(req)
	if err != nil {
		cancel()
		c.t.Fatalf("GET %s: %v", path, err)
	}
	st := &stream{resp: resp, lines: bufio.NewScanner(resp.Body), cancel: cancel}
	st.lines.Buffer(make([]byte, 64<<10), 1<<20)
	c.t.Cleanup(st.close)
	return st
}

func (st *stream) close() {
	st.cancel()
	st.resp.Body.Close()
}

// next returns the next event's data or comment line, within d.
func (st *stream) next(t *testing.T, d time.Duration) string {
	t.Helper()
	got := make(chan string, 1)
	go func() {
		for st.lines.Scan() {
			l := st.lines.Text()
			if strings.HasPrefix(l, "data: ") || strings.HasPrefix(l, ":") || strings.HasPrefix(l, "event: ") {
				got <- l
				return
			}
		}
		got <- ""
	}()
	select {
	case l := <-got:
		return l
	case <-time.After(d):
		st.close()
		<-got
		t.Fatalf("no event within %s", d)
		return ""
	}
}

// firstEvent opens a stream, returns its first event line and closes it.
func (c *client) firstEvent(path string) string {
	c.t.Helper()
	st := c.openStream(path)
	defer st.close()
	if st.resp.StatusCode != http.StatusOK {
		return fmt.Sprintf("status %d", st.resp.StatusCode)
	}
	return st.next(c.t, 5*time.Second)
}

// appendHit sends one page view through search's internal AppendHits, as
// ingest's traffic forwarder does.
func appendHit(t *testing.T, s *server, site, session, visitor, url string) {
	t.Helper()
	conn := s.internalConn(t)
	defer conn.Close()
	siteID := int64Of(t, site)
	now := time.Now()
	res, err := trafficv1.NewTrafficInternalServiceClient(conn).AppendHits(context.Background(), &trafficv1.AppendHitsRequest{Chunks: []*recordingsv1.Chunk{{
		SiteId: siteID, SessionId: session, VisitorId: visitor, PageViewId: "p_" + strings.TrimPrefix(session, "s_"),
		ServerTime: timestamppb.New(now), Url: url,
		Client: &sessionsv1.Client{DeviceType: sessionsv1.DeviceType_DEVICE_TYPE_DESKTOP, Browser: "Firefox", Os: "Linux"},
		Hit:    &sessionsv1.Hit{Kind: sessionsv1.HitKind_HIT_KIND_PAGE_VIEW, Recorded: true},
	}}})
	if err != nil || res.GetStored() != 1 {
		t.Fatalf("append a hit: %v %v", res, err)
	}
}

// TestTrafficRoutes: the traffic and funnel routes are in the route walks
// (TestOnlyPublicRoutesAnswerWithoutAuth, TestTenantIsolation), answer
// the site's owner with the figures, answer 404 to another organisation
// whatever the body says, and 400 with a message to hostile bodies.
func TestTrafficRoutes(t *testing.T) {
	requireRoutes(t, [][2]string{
		{http.MethodPost, "/api/v1/sites/{site_id}/traffic:overview"},
		{http.MethodPost, "/api/v1/sites/{site_id}/traffic:breakdown"},
		{http.MethodGet, "/api/v1/sites/{site_id}/traffic/realtime"},
		{http.MethodGet, "/api/v1/sites/{site_id}/traffic/realtime:stream"},
		{http.MethodPost, "/api/v1/sites/{site_id}/funnels:compute"},
		{http.MethodPost, "/api/v1/sites/{site_id}/funnels:sessions"},
	})
	s := startServer(t, nil)
	a, b := newTenant(t, s), newTenant(t, s)
	appendHit(t, s, a.siteID, "s_trafficroute01", "v_trafficroute01", "https://shop.example.com/pricing")
	now := time.Now().UTC()
	rng := map[string]any{"start": now.Add(-time.Hour).Format(time.RFC3339), "end": now.Add(time.Minute).Format(time.RFC3339)}
	steps := []any{
		map[string]any{"page": map[string]any{"operator": "OPERATOR_PREFIX", "value": "/pricing"}},
		map[string]any{"event": "signup"},
	}
	base := "/api/v1/sites/" + a.siteID
	ov := a.c.must("POST", base+"/traffic:overview", map[string]any{"range": rng, "timeZone": "Europe/Berlin"})
	if cur := ov["current"].(map[string]any); cur["sessions"] != "1" || cur["pageViews"] != "1" || ov["interval"] != "TRAFFIC_INTERVAL_HOUR" {
		t.Fatalf("overview: %v", ov)
	}
	bd := a.c.must("POST", base+"/traffic:breakdown", map[string]any{"range": rng, "dimension": "TRAFFIC_DIMENSION_BROWSER"})
	if rows := bd["rows"].([]any); len(rows) != 1 || rows[0].(map[string]any)["value"] != "Firefox" {
		t.Fatalf("breakdown: %v", bd)
	}
	if rt := a.c.must("GET", base+"/traffic/realtime", nil); rt["visitors"] != "1" || len(rt["perMinute"].([]any)) != 30 {
		t.Fatalf("realtime: %v", rt)
	}
	fn := a.c.must("POST", base+"/funnels:compute", map[string]any{"range": rng, "steps": steps})
	if st := fn["steps"].([]any); len(st) != 2 || st[0].(map[string]any)["sessions"] != "1" || st[1].(map[string]any)["dropped"] != "1" {
		t.Fatalf("funnel: %v", fn)
	}
	fs := a.c.must("POST", base+"/funnels:sessions", map[string]any{"range": rng, "steps": steps, "step": 1, "dropped": true})
	if fs["total"] != "1" {
		t.Fatalf("funnel sessions: %v", fs)
	}

	hostile := map[string]struct {
		path string
		body any
	}{
		"overview: no range":          {"/traffic:overview", map[string]any{}},
		"overview: 401 days":          {"/traffic:overview", map[string]any{"range": map[string]any{"start": now.Add(-401 * 24 * time.Hour).Format(time.RFC3339), "end": now.Format(time.RFC3339)}}},
		"overview: reversed":          {"/traffic:overview", map[string]any{"range": map[string]any{"start": now.Format(time.RFC3339), "end": now.Add(-time.Hour).Format(time.RFC3339)}}},
		"overview: zone":              {"/traffic:overview", map[string]any{"range": rng, "timeZone": "Europe/Nowhere"}},
		"overview: hourly for a year": {"/traffic:overview", map[string]any{"range": map[string]any{"start": now.Add(-300 * 24 * time.Hour).Format(time.RFC3339), "end": now.Format(time.RFC3339)}, "interval": "TRAFFIC_INTERVAL_HOUR"}},
		"overview: 51 countries":      {"/traffic:overview", map[string]any{"range": rng, "filter": map[string]any{"countries": slices.Repeat([]string{"DE"}, 51)}}},
		"overview: direct and domain": {"/traffic:overview", map[string]any{"range": rng, "filter": map[string]any{"direct": true, "referrerDomain": "a.example"}}},
		"breakdown: no dimension":     {"/traffic:breakdown", map[string]any{"range": rng}},
		"breakdown: huge limit":       {"/traffic:breakdown", map[string]any{"range": rng, "dimension": "TRAFFIC_DIMENSION_PAGE", "limit": 5000}},
		"funnel: one step":            {"/funnels:compute", map[string]any{"range": rng, "steps": steps[:1]}},
		"funnel: nine steps":          {"/funnels:compute", map[string]any{"range": rng, "steps": slices.Repeat(steps, 5)[:9]}},
		"funnel: long event":          {"/funnels:compute", map[string]any{"range": rng, "steps": []any{steps[0], map[string]any{"event": strings.Repeat("e", 101)}}}},
		"funnel: 17 stars":            {"/funnels:compute", map[string]any{"range": rng, "steps": []any{steps[0], map[string]any{"page": map[string]any{"operator": "OPERATOR_PATTERN", "value": strings.Repeat("*/", 17)}}}}},
		"sessions: step past the end": {"/funnels:sessions", map[string]any{"range": rng, "steps": steps, "step": 2}},
		"sessions: dropped at step 0": {"/funnels:sessions", map[string]any{"range": rng, "steps": steps, "dropped": true}},
		"sessions: forged token":      {"/funnels:sessions", map[string]any{"range": rng, "steps": steps, "step": 1, "pageToken": "8QAAAAAAAAAqAA"}},
	}
	for name, h := range hostile {
		r := a.c.do("POST", base+h.path, h.body)
		if r.code != http.StatusBadRequest {
			t.Errorf("%s: %d %s, want 400", name, r.code, r.body)
			continue
		}
		checkErrorBody(t, name, r)
		// Another organisation learns nothing from a bad request either.
		if r := b.c.do("POST", base+h.path, h.body); r.code != http.StatusNotFound {
			t.Errorf("%s from another organisation: %d %s, want 404", name, r.code, r.body)
		}
	}
	// Unparsable bodies are 400 before any site is looked at.
	for name, body := range map[string]any{
		"unknown dimension": map[string]any{"range": rng, "dimension": "TRAFFIC_DIMENSION_SHOE_SIZE"},
		"unknown field":     map[string]any{"range": rng, "dimension": "TRAFFIC_DIMENSION_PAGE", "sql": "drop table"},
		"bad time":          map[string]any{"range": map[string]any{"start": "yesterday"}},
	} {
		if r := a.c.do("POST", base+"/traffic:breakdown", body); r.code != http.StatusBadRequest {
			t.Errorf("%s: %d %s, want 400", name, r.code, r.body)
		} else {
			checkErrorBody(t, name, r)
		}
	}
	for _, path := range []string{"/traffic/realtime", "/traffic/realtime:stream"} {
		if r := b.c.do("GET", base+path, nil); r.code != http.StatusNotFound {
			t.Errorf("B: GET %s = %d %s, want 404", path, r.code, r.body)
		}
	}
	for _, path := range []string{"/api/v1/sites/abc/traffic/realtime:stream", "/api/v1/sites/0/traffic/realtime:stream"} {
		if r := a.c.do("GET", path, nil); r.code != http.StatusBadRequest {
			t.Errorf("GET %s = %d %s, want 400", path, r.code, r.body)
		}
	}
	t.Logf("%d hostile traffic requests answered 400 to the owner and 404 to another organisation", len(hostile))
}

// TestRealtimeStream: the stream sends the realtime figures at once, again
// when a hit changes them (within a few seconds), heartbeats otherwise,
// closes when the client goes (its slot is free again), and keeps at most
// gateway.realtime-streams-per-user open per caller.
func TestRealtimeStream(t *testing.T) {
	s := startServer(t, func(c *app.Config) {
		c.Gateway.RealtimeInterval = 200 * time.Millisecond
		c.Gateway.RealtimeStreamsPerUser = 2
	})
	a := newTenant(t, s)
	path := "/api/v1/sites/" + a.siteID + "/traffic/realtime:stream"
	st := a.c.openStream(path)
	if st.resp.StatusCode != http.StatusOK {
		t.Fatalf("stream: %d", st.resp.StatusCode)
	}
	if ct := st.resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/event-stream") {
		t.Fatalf("Content-Type %q", ct)
	}
	if enc := st.resp.Header.Get("Content-Encoding"); enc != "" {
		t.Fatalf("the stream is encoded (%q): it would be buffered", enc)
	}
	decode := func(line string) *trafficv1.GetRealtimeResponse {
		t.Helper()
		data, ok := strings.CutPrefix(line, "data: ")
		if !ok {
			t.Fatalf("not an event: %q", line)
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(data), &m); err != nil {
			t.Fatalf("event data is not JSON: %v: %s", err, data)
		}
		res := &trafficv1.GetRealtimeResponse{}
		if v, _ := m["visitors"].(string); v != "" {
			res.Visitors = int64Of(t, v)
		}
		if _, ok := m["perMinute"]; !ok {
			t.Fatalf("event without perMinute (REST field names): %s", data)
		}
		return res
	}
	if first := decode(st.next(t, 5*time.Second)); first.GetVisitors() != 0 {
		t.Fatalf("first event: %v", first)
	}
	sent := time.Now()
	appendHit(t, s, a.siteID, "s_streamsession01", "v_streamvisitor01", "https://shop.example.com/live")
	for {
		line := st.next(t, 5*time.Second)
		if strings.HasPrefix(line, ":") {
			continue
		}
		if got := decode(line); got.GetVisitors() == 1 {
			t.Logf("a page view reached the stream in %s", time.Since(sent).Round(time.Millisecond))
			break
		}
		if time.Since(sent) > 5*time.Second {
			t.Fatal("the page view did not reach the stream within 5 s")
		}
	}
	// Unchanged figures are not sent again: within a second (5 polls)
	// nothing but heartbeats arrives.
	quiet := make(chan string, 1)
	go func() {
		for st.lines.Scan() {
			if l := st.lines.Text(); strings.HasPrefix(l, "data: ") {
				quiet <- l
				return
			}
		}
		quiet <- ""
	}()
	select {
	case l := <-quiet:
		t.Fatalf("an unchanged figure was sent again: %q", l)
	case <-time.After(time.Second):
	}
	// A second stream is allowed, a third is not.
	second := a.c.openStream(path)
	if second.resp.StatusCode != http.StatusOK {
		t.Fatalf("second stream: %d", second.resp.StatusCode)
	}
	third := a.c.openStream(path)
	if third.resp.StatusCode != http.StatusTooManyRequests || third.resp.Header.Get("Retry-After") == "" {
		t.Fatalf("third stream: %d, want 429 with Retry-After", third.resp.StatusCode)
	}
	third.close()
	// The client goes: its stream ends on the server and frees its slot.
	st.close()
	<-quiet
	poll.Until(t, 5*time.Second, func() error {
		again := a.c.openStream(path)
		defer again.close()
		if again.resp.StatusCode != http.StatusOK {
			return fmt.Errorf("a closed stream's slot was not freed: %d", again.resp.StatusCode)
		}
		return nil
	})
	second.close()
}

// TestRealtimeStreamLifetime: a stream ends after
// gateway.realtime-max-lifetime (the browser reconnects), and the server
// shuts down promptly with a stream open.
func TestRealtimeStreamLifetime(t *testing.T) {
	s := startServer(t, func(c *app.Config) {
		c.Gateway.RealtimeInterval = 100 * time.Millisecond
		c.Gateway.RealtimeMaxLifetime = time.Second
	})
	a := newTenant(t, s)
	st := a.c.openStream("/api/v1/sites/" + a.siteID + "/traffic/realtime:stream")
	start := time.Now()
	if l := st.next(t, 5*time.Second); !strings.HasPrefix(l, "data: ") {
		t.Fatalf("first line %q", l)
	}
	done := make(chan struct{})
	go func() {
		for st.lines.Scan() {
		}
		close(done)
	}()
	select {
	case <-done:
		if d := time.Since(start); d < 900*time.Millisecond {
			t.Fatalf("the stream ended after %s, before its lifetime", d)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the stream outlived its lifetime")
	}
}

// TestRealtimeStreamEndsAtShutdown: an open stream does not hold the
// server's graceful shutdown (it would wait for it until its deadline and
// fail): the stream ends when shutdown starts.
func TestRealtimeStreamEndsAtShutdown(t *testing.T) {
	var held *stream
	// Registered before the server, so it runs after the server stopped.
	t.Cleanup(func() {
		if held != nil {
			held.close()
		}
	})
	var stopped time.Time
	t.Cleanup(func() {
		if d := time.Since(stopped); !stopped.IsZero() && d > 3*time.Second {
			t.Errorf("shutdown with a stream open took %s", d)
		}
	})
	s := startServer(t, func(c *app.Config) { c.Server.ShutdownTimeout = 4 * time.Second })
	a := newTenant(t, s)
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.base+"/api/v1/sites/"+a.siteID+"/traffic/realtime:stream", nil)
	resp, err := (&http.Client{Jar: a.c.http.Jar}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	held = &stream{resp: resp, lines: bufio.NewScanner(resp.Body), cancel: cancel}
	if l := held.next(t, 5*time.Second); !strings.HasPrefix(l, "data: ") {
		t.Fatalf("first line %q", l)
	}
	t.Cleanup(func() { stopped = time.Now() })
}
