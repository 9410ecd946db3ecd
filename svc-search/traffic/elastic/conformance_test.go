package elastic

import (
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sightlinehq/sightline/svc-search/traffic"
	"github.com/sightlinehq/sightline/svc-search/traffic/traffictest"
)

// TestConformance runs the shared suite against a real Elasticsearch when
// ELASTICSEARCH_URL is set (deploy/compose starts one).
func TestConformance(t *testing.T) {
	url := os.Getenv("ELASTICSEARCH_URL")
	if url == "" {
		t.Skip("ELASTICSEARCH_URL not set: the Elasticsearch conformance run needs a real server (TestConformanceOnFake runs the suite on the fake)")
	}
	var n atomic.Int64
	traffictest.Run(t, func(t *testing.T) traffic.Store {
		prefix := fmt.Sprintf("sightline-test-%d-%d", time.Now().UnixNano(), n.Add(1))
		s, err := Open(t.Context(), Config{Addresses: strings.Split(url, ","), IndexPrefix: prefix, Replicas: 0})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			for _, p := range []string{"/" + prefix + "-traffic-*", "/_index_template/" + prefix + "-traffic"} {
				req, _ := http.NewRequest(http.MethodDelete, strings.Split(url, ",")[0]+p, nil)
				if res, err := http.DefaultClient.Do(req); err == nil {
					res.Body.Close()
				}
			}
		})
		return s
	})
}

// TestConformanceOnFake runs the shared suite against the store talking
// to the fake: every request body the store sends, and every response
// shape it parses, on the suite's random and hand-computed data. It
// proves the Go side (merges, derivations, filters, parsing, funnels,
// realtime, medians) against the reference; that Elasticsearch evaluates
// the bodies as the fake does is what TestConformance checks on a server.
func TestConformanceOnFake(t *testing.T) {
	traffictest.Run(t, func(t *testing.T) traffic.Store {
		_, s := newFake(t)
		return s
	})
}
