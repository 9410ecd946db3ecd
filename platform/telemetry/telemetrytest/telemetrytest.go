// Package telemetrytest reads what a process's telemetry recorded, for
// tests.
package telemetrytest

import (
	"testing"

	"github.com/sightlinehq/sightline/platform/telemetry"
)

// CounterSum sums the counter name over all its label sets in tel's
// Prometheus registry (0 when it has none yet).
func CounterSum(t testing.TB, tel *telemetry.Telemetry, name string) float64 {
	t.Helper()
	mfs, err := tel.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() == name {
			for _, m := range mf.GetMetric() {
				sum += m.GetCounter().GetValue()
			}
		}
	}
	return sum
}
