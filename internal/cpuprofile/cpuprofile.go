// Package cpuprofile writes a benchmark command's CPU profile (its
// -cpuprofile flag) to a file.
package cpuprofile

import (
	"fmt"
	"os"
	"runtime/pprof"
	"sync"
)

// Start profiles the CPU into the file at path until stop, which ends the
// profile and closes the file; path "" profiles nothing. stop may be called
// more than once (deferred, and again before a log.Fatal that skips defers).
func Start(path string) (stop func(), err error) {
	if path == "" {
		return func() {}, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("cpu profile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("cpu profile: %w", err)
	}
	return sync.OnceFunc(func() {
		pprof.StopCPUProfile()
		_ = f.Close()
	}), nil
}
