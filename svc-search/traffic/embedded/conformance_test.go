package embedded

import (
	"testing"

	"github.com/sightlinehq/sightline/svc-search/traffic"
	"github.com/sightlinehq/sightline/svc-search/traffic/traffictest"
)

// TestConformance runs the traffic store's conformance suite, once with
// queries on one goroutine and once with every query split across
// goroutines (the suite's sites are small).
func TestConformance(t *testing.T) {
	for name, rows := range map[string]int{"serial": 1 << 30, "parallel": 1} {
		t.Run(name, func(t *testing.T) {
			traffictest.Run(t, func(t *testing.T) traffic.Store {
				s, err := Open(t.TempDir(), Options{ParallelRows: rows, Logger: quietLog{}})
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { s.Close() })
				return s
			})
		})
	}
}
