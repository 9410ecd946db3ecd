// Package memorylimit sets the Go runtime's soft memory limit (GOMEMLIMIT)
// from the memory the process may use: its container's cgroup limit, else
// the machine's memory.
//
// Without a soft limit the runtime lets the heap grow to twice what is live
// before it collects (GOGC=100), blind to the container's limit, so a burst
// (a backlog drained at once, a big rebuild) can take a process past its
// Kubernetes memory limit and have it OOM-killed, where collecting harder
// near the limit would have kept it alive. github.com/KimMachineGun/
// automemlimit reads cgroup v2 and v1 limits (the parts that differ between
// kernels and container runtimes), as Prometheus does with it.
package memorylimit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"runtime/debug"
	"strconv"
	"sync"
	"time"

	"github.com/KimMachineGun/automemlimit/memlimit"
)

// Decision is what Apply did, for the start-up log.
type Decision struct {
	// Limit is the soft limit in force (math.MaxInt64: none).
	Limit int64
	// From says where it came from: "GOMEMLIMIT" (the environment's,
	// which the runtime read at start and Apply leaves alone), "cgroup"
	// or "system" (Ratio of Of), "off" (ratio 0: the runtime's default,
	// no limit unless GOMEMLIMIT says one), or "AUTOMEMLIMIT" (that
	// variable of the library, set to off, left the runtime alone).
	From string
	// Of is the memory the ratio was taken of (cgroup or system).
	Of uint64
	// Ratio is the ratio applied.
	Ratio float64
}

// Attrs is the decision as log attributes.
func (d Decision) Attrs() []any {
	attrs := []any{slog.String("from", d.From)}
	if d.Limit != math.MaxInt64 {
		attrs = append(attrs, slog.Int64("gomemlimit_bytes", d.Limit))
	}
	if d.Of > 0 {
		attrs = append(attrs, slog.Uint64("of_bytes", d.Of), slog.Float64("ratio", d.Ratio))
	}
	return attrs
}

// refreshEvery is how often the limit is read again: Kubernetes can resize
// a running pod's memory limit in place.
const refreshEvery = time.Minute

// Apply sets the soft limit to ratio (0 < ratio ≤ 1) of the process's
// memory limit (its cgroup's, else the machine's memory) and keeps it
// current until ctx ends; ratio 0 leaves the runtime's default. A
// GOMEMLIMIT in the environment wins: the runtime has applied it already.
// log receives the updates after this call.
func Apply(ctx context.Context, ratio float64, log *slog.Logger) (Decision, error) {
	if math.IsNaN(ratio) || ratio < 0 || ratio > 1 {
		return Decision{}, fmt.Errorf("memory limit ratio %v is outside [0, 1]", ratio)
	}
	if os.Getenv("GOMEMLIMIT") != "" {
		return Decision{Limit: debug.SetMemoryLimit(-1), From: "GOMEMLIMIT"}, nil
	}
	if ratio == 0 {
		return Decision{Limit: debug.SetMemoryLimit(-1), From: "off"}, nil
	}
	var (
		mu   sync.Mutex
		from string
		of   uint64
	)
	source := func() (uint64, error) {
		n, src, err := memoryOf()
		mu.Lock()
		defer mu.Unlock()
		from, of = src, n
		return n, err
	}
	limit, err := memlimit.Set(
		memlimit.WithProvider(source),
		memlimit.WithRatio(ratio),
		memlimit.WithLogger(log),
		memlimit.WithRefreshInterval(ctx, refreshEvery),
	)
	mu.Lock()
	defer mu.Unlock()
	if err != nil {
		return Decision{}, fmt.Errorf("memory limit: %w", err)
	}
	if from == "" {
		// The library's own AUTOMEMLIMIT=off in the environment: nothing read.
		return Decision{Limit: limit, From: "AUTOMEMLIMIT"}, nil
	}
	if r, err := strconv.ParseFloat(os.Getenv("AUTOMEMLIMIT"), 64); err == nil {
		ratio = r // the library's variable overrides the ratio it is given
	}
	return Decision{Limit: limit, From: from, Of: of, Ratio: ratio}, nil
}

// memoryOf answers the memory the process may use and where that figure
// comes from: the cgroup's limit, else (no cgroup, or one without a limit)
// the machine's memory.
func memoryOf() (uint64, string, error) {
	n, err := memlimit.FromCgroup()
	if err == nil {
		return n, "cgroup", nil
	}
	if !errors.Is(err, memlimit.ErrNoLimit) && !errors.Is(err, memlimit.ErrNoCgroup) && !errors.Is(err, memlimit.ErrCgroupsNotSupported) {
		return 0, "cgroup", err
	}
	n, err = memlimit.FromSystem()
	return n, "system", err
}
