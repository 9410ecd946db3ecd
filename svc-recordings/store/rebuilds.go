package store

import (
	"errors"
	"sync"
)

// ErrRebuildRunning is why RebuildHeat refuses: a rebuild of the site is
// already running in this process.
var ErrRebuildRunning = errors.New("a heatmap rebuild of this site is already running")

// Rebuilds lets one RebuildHeat per site run at a time (backends embed it).
// The zero value is ready.
type Rebuilds struct {
	mu      sync.Mutex
	running map[int64]bool
}

// Start marks site's rebuild running and answers the func that ends it, or
// ErrRebuildRunning.
func (r *Rebuilds) Start(site int64) (end func(), err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.running[site] {
		return nil, ErrRebuildRunning
	}
	if r.running == nil {
		r.running = map[int64]bool{}
	}
	r.running[site] = true
	return func() {
		r.mu.Lock()
		delete(r.running, site)
		r.mu.Unlock()
	}, nil
}
