package main

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"

	"github.com/sightlinehq/sightline/platform/telemetry/otlptest"
)

// Span names of the chain a batch takes (otelgrpc names server spans after
// the full method).
const (
	spanIntake        = "ingest.batch"
	spanForward       = "ingest.forward AppendChunks"
	spanAppendChunks  = "sightline.recordings.v1.RecordingsInternalService/AppendChunks"
	spanRelay         = "recordings.outbox deliver sessions"
	spanUpsertSession = "sightline.search.v1.SearchInternalService/UpsertSessions"
)

// TestBatchTraceEndToEnd follows one batch, posted the way the tracker
// posts it (its envelope carries a traceparent the browser made), through
// a real `sightline serve` exporting over OTLP/HTTP to a real receiver:
// the intake span continues the browser's trace; the forwarder's span
// links to it; recordings' AppendChunks is in the forwarder's trace; the
// outbox relay's span links back to that trace; search's UpsertSessions is
// in the relay's trace. Then, with nothing happening, no process exports a
// root span for 3 s: idle polls make no traces.
func TestBatchTraceEndToEnd(t *testing.T) {
	otlp := otlptest.NewHTTPReceiver(t)
	p := startServe(t, []string{
		"OTEL_EXPORTER_OTLP_ENDPOINT=" + otlp.Endpoint(),
		"OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf",
		"OTEL_BSP_SCHEDULE_DELAY=100",
	})
	d := newDashboard(t, p)

	var browserTrace [16]byte
	var browserSpan [8]byte
	_, _ = rand.Read(browserTrace[:])
	_, _ = rand.Read(browserSpan[:])
	traceparent := fmt.Sprintf("00-%x-%x-01", browserTrace, browserSpan)
	session := fmt.Sprintf("s_tracechain%012d", time.Now().UnixNano()%1e12)
	now := time.Now().UnixMilli()
	body := fmt.Sprintf(`{"v":1,"siteKey":%q,"sessionId":%q,"visitorId":"v_tracechainvisitor00001","pageViewId":"p_tracechainpageview0001","seq":0,`+
		`"clientTime":%d,"page":{"url":"https://shop.example.com/","referrer":"","viewport":{"w":1280,"h":720}},"traceparent":%q,"truncated":false,`+
		`"events":[{"type":4,"timestamp":%d,"data":{"href":"https://shop.example.com/","width":1280,"height":720}}]}`,
		d.key, session, now, traceparent, now)
	if code, err := sendBatchBody(p.addrs.HTTP, d.key, "https://shop.example.com", body); err != nil || code != http.StatusNoContent {
		t.Fatalf("intake answered %d, %v", code, err)
	}
	waitSearchable(t, d, 1, time.Now(), 30*time.Second)

	var c chain
	if !otlp.WaitFor(func(spans []*tracepb.Span) bool {
		c = follow(spans, browserTrace[:], browserSpan[:])
		return c.problem == ""
	}, 20*time.Second) {
		t.Fatalf("the batch's chain was not exported: %s\n%s", c.problem, describe(otlp.Spans()))
	}
	t.Logf("chain: intake %x → forward %x → relay %x", c.intake.GetTraceId(), c.forward.GetTraceId(), c.relay.GetTraceId())

	// Idle: a root span exported from here on is a poll's, unless it is a
	// job of notify's queue (River: scheduled jobs are queued work, each a
	// trace by design, not polls).
	// The dashboard's last request (after the chain) ends the activity:
	// once its span has arrived, what the test caused has been exported.
	code, hdr, _, err := d.do("POST", fmt.Sprintf("/api/v1/sites/%d/sessions:search", d.siteID), map[string]any{"pageSize": 1})
	if err != nil || code != http.StatusOK {
		t.Fatalf("search = %d, %v", code, err)
	}
	last, err := hex.DecodeString(hdr.Get("X-Trace-Id"))
	if err != nil || len(last) != 16 {
		t.Fatalf("X-Trace-Id %q", hdr.Get("X-Trace-Id"))
	}
	if !otlp.WaitFor(func(spans []*tracepb.Span) bool {
		for _, s := range spans {
			if bytes.Equal(s.GetTraceId(), last) && len(s.GetParentSpanId()) == 0 {
				return true
			}
		}
		return false
	}, 10*time.Second) {
		t.Fatal("the last request's span was not exported")
	}
	before := len(otlp.Spans())
	if otlp.WaitFor(func(spans []*tracepb.Span) bool { return len(pollRoots(spans[before:])) > 0 }, 3*time.Second) {
		t.Fatalf("root spans exported while nothing happened:\n%s", describe(pollRoots(otlp.Spans()[before:])))
	}
	p.stop()
}

// pollRoots returns the root spans of spans, leaving out River's (the job
// queue's "river.insert_many" and "river.work/<kind>").
func pollRoots(spans []*tracepb.Span) []*tracepb.Span {
	var out []*tracepb.Span
	for _, s := range spans {
		if len(s.GetParentSpanId()) == 0 && !strings.HasPrefix(s.GetName(), "river.") {
			out = append(out, s)
		}
	}
	return out
}

// chain is the spans of one batch's way to the index, or what is missing.
type chain struct {
	intake, forward, appendChunks, relay, upsert *tracepb.Span
	problem                                      string
}

// follow finds the chain of the batch sent in the browser's trace, and
// checks the counts: one intake span, one forwarder span linked to it (by
// one link), one AppendChunks server span in its trace, one relay span
// linked to that trace, one UpsertSessions server span in the relay's.
func follow(spans []*tracepb.Span, browserTrace, browserSpan []byte) chain {
	var c chain
	one := func(what string, match func(*tracepb.Span) bool) *tracepb.Span {
		var found []*tracepb.Span
		for _, s := range spans {
			if match(s) {
				found = append(found, s)
			}
		}
		if len(found) != 1 && c.problem == "" {
			c.problem = fmt.Sprintf("%d spans %s, want 1", len(found), what)
		}
		if len(found) == 0 {
			return nil
		}
		return found[0]
	}
	c.intake = one("named "+spanIntake+" in the browser's trace", func(s *tracepb.Span) bool {
		return s.GetName() == spanIntake && bytes.Equal(s.GetTraceId(), browserTrace)
	})
	if c.intake == nil {
		return c
	}
	if !bytes.Equal(c.intake.GetParentSpanId(), browserSpan) {
		c.problem = fmt.Sprintf("intake span's parent %x, want the browser's span %x", c.intake.GetParentSpanId(), browserSpan)
		return c
	}
	c.forward = one("named "+spanForward+" linked to the intake span", func(s *tracepb.Span) bool {
		return s.GetName() == spanForward && linksTo(s, c.intake.GetTraceId(), c.intake.GetSpanId())
	})
	if c.forward == nil {
		return c
	}
	if n := len(c.forward.GetLinks()); n != 1 && c.problem == "" {
		c.problem = fmt.Sprintf("forwarder span has %d links, want 1 (one chunk)", n)
	}
	c.appendChunks = one("named "+spanAppendChunks+" (server) in the forwarder's trace", func(s *tracepb.Span) bool {
		return s.GetName() == spanAppendChunks && s.GetKind() == tracepb.Span_SPAN_KIND_SERVER && bytes.Equal(s.GetTraceId(), c.forward.GetTraceId())
	})
	c.relay = one("named "+spanRelay+" linked to the forwarder's trace", func(s *tracepb.Span) bool {
		return s.GetName() == spanRelay && linksTo(s, c.forward.GetTraceId(), nil)
	})
	if c.relay == nil {
		return c
	}
	if len(c.relay.GetParentSpanId()) != 0 && c.problem == "" {
		c.problem = "the relay's span is not a root"
	}
	if n := len(c.relay.GetLinks()); n != 1 && c.problem == "" {
		c.problem = fmt.Sprintf("relay span has %d links, want 1 (one summary change)", n)
	}
	c.upsert = one("named "+spanUpsertSession+" (server) in the relay's trace", func(s *tracepb.Span) bool {
		return s.GetName() == spanUpsertSession && s.GetKind() == tracepb.Span_SPAN_KIND_SERVER && bytes.Equal(s.GetTraceId(), c.relay.GetTraceId())
	})
	return c
}

// linksTo reports whether s links to a span of trace (to span, when given).
func linksTo(s *tracepb.Span, trace, span []byte) bool {
	for _, l := range s.GetLinks() {
		if bytes.Equal(l.GetTraceId(), trace) && (span == nil || bytes.Equal(l.GetSpanId(), span)) {
			return true
		}
	}
	return false
}

// describe lists spans one a line, for failure messages.
func describe(spans []*tracepb.Span) string {
	var b strings.Builder
	for _, s := range spans {
		fmt.Fprintf(&b, "  %s trace=%s parent=%s links=%d\n", s.GetName(), hex.EncodeToString(s.GetTraceId())[:8], hex.EncodeToString(s.GetParentSpanId()), len(s.GetLinks()))
	}
	return b.String()
}
