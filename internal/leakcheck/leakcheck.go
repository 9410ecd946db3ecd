// Package leakcheck is the goroutine-leak check every test package runs
// (goleak), knowing the few goroutines that libraries start once per
// process on purpose and never stop.
package leakcheck

import (
	"testing"

	"go.uber.org/goleak"
)

// processWide are goroutines started by library init code, for the life of
// the process: not leaks of ours.
var processWide = []goleak.Option{
	// Bleve's shared analysis queue, started in bleve_index_api's init.
	goleak.IgnoreTopFunction("github.com/blevesearch/bleve_index_api.AnalysisWorker"),
}

// VerifyTestMain runs the package's tests, then fails the run if any
// goroutine is left behind.
func VerifyTestMain(m *testing.M, extra ...goleak.Option) {
	goleak.VerifyTestMain(m, append(processWide, extra...)...)
}
