package httpserver_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"go.opentelemetry.io/otel/trace"

	"github.com/sightlinehq/sightline/platform/httpserver"
)

// TestSelfTracedRoutes: requests under a SelfTraced prefix get no otelhttp
// span (their handler's own span is the only one), yet their duration is
// in the same http_server_request_duration_seconds family as the other
// routes', by route and status; no route's series follow the Host header
// (server_address is the listen address's host); and
// http.ResponseController still reaches the connection through the
// status-noting writer.
func TestSelfTracedRoutes(t *testing.T) {
	var tracer trace.Tracer // the server's, for the handler's own span
	mux := testMux()
	mux.HandleFunc("POST /i/v1/batch", func(w http.ResponseWriter, r *http.Request) {
		// As ingest does before reading a body.
		if err := http.NewResponseController(w).SetReadDeadline(time.Now().Add(time.Second)); err != nil {
			http.Error(w, "read deadline: "+err.Error(), http.StatusInternalServerError)
			return
		}
		_, span := tracer.Start(r.Context(), "ingest.batch")
		span.End()
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("POST /i/v1/hit", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "too big", http.StatusRequestEntityTooLarge)
	})
	e := start(t, mux, httpserver.Options{SelfTraced: []string{"/i/v1/"}})
	tracer = e.tel.TracerProvider.Tracer("test")

	// send makes a request with the given Host header (each a value of its
	// own: none may become a series) and answers its status.
	send := func(method, path, host string) int {
		req, err := http.NewRequest(method, e.base+path, strings.NewReader("{}"))
		if err != nil {
			t.Fatal(err)
		}
		req.Host = host
		resp, err := e.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for i := range 5 {
		if code := send("POST", "/i/v1/batch", "h"+strings.Repeat("x", i)+".example"); code != http.StatusNoContent {
			t.Fatalf("POST /i/v1/batch = %d, want 204", code)
		}
	}
	if code := send("POST", "/i/v1/hit", "a.example"); code != http.StatusRequestEntityTooLarge {
		t.Fatalf("POST /i/v1/hit = %d, want 413", code)
	}
	for i := range 3 { // otelhttp's routes ignore the Host header too
		if code := send("GET", "/items/7", fmt.Sprintf("attacker%d.example:%d", i, 8000+i)); code != http.StatusOK {
			t.Fatalf("GET /items/7 = %d, want 200", code)
		}
	}

	e.waitSpan(t, "GET /items/{id}")
	e.waitSpan(t, "ingest.batch")
	for _, s := range e.spans.GetSpans() {
		if strings.Contains(s.Name, "/i/v1/") || s.Name == "POST" {
			t.Errorf("otelhttp span %q for a self-traced route", s.Name)
		}
	}

	mfs, err := e.tel.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	counts := map[string]uint64{} // route status → requests
	for _, mf := range mfs {
		if mf.GetName() != "http_server_request_duration_seconds" {
			continue
		}
		for _, m := range mf.GetMetric() {
			l := labels(m)
			if l["server_address"] != "127.0.0.1" || l["server_port"] != "" {
				t.Errorf("series %v: want server_address 127.0.0.1 (the listen address's; port 0 is none), whatever the Host", l)
			}
			counts[l["http_route"]+" "+l["http_response_status_code"]] += m.GetHistogram().GetSampleCount()
		}
	}
	want := map[string]uint64{"/i/v1/batch 204": 5, "/i/v1/hit 413": 1, "/items/{id} 200": 3}
	for k, n := range want {
		if counts[k] != n {
			t.Errorf("requests of %s = %d, want %d (all: %v)", k, counts[k], n, counts)
		}
	}
	if len(counts) != len(want) {
		t.Errorf("series by route and status %v, want %v", counts, want)
	}
}

func labels(m *dto.Metric) map[string]string {
	out := map[string]string{}
	for _, l := range m.GetLabel() {
		out[l.GetName()] = l.GetValue()
	}
	return out
}
