package elastic

import (
	"testing"

	"github.com/sightlinehq/sightline/svc-search/index/elastic/estest"
	"github.com/sightlinehq/sightline/svc-search/traffic"
	"github.com/sightlinehq/sightline/svc-search/traffic/traffictest"
)

// TestConformance runs the shared suite against a real Elasticsearch when
// ELASTICSEARCH_URL is set (deploy/compose starts one).
func TestConformance(t *testing.T) {
	addrs := estest.Addresses(t, " (TestConformanceOnFake runs the suite on the fake)")
	traffictest.Run(t, func(t *testing.T) traffic.Store {
		s, err := Open(t.Context(), Config{Addresses: addrs, IndexPrefix: estest.Prefix(t, addrs, "traffic"), Replicas: 0})
		if err != nil {
			t.Fatal(err)
		}
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
