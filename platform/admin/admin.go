// Package admin serves the per-process admin listener: Prometheus metrics,
// liveness, readiness and pprof. It is meant for operators and the
// orchestrator, never for the public internet.
package admin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/pprof"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/sightlinehq/sightline/platform/telemetry"
)

// DefaultCheckTimeout bounds each readiness check.
const DefaultCheckTimeout = 2 * time.Second

// Checks is the set of readiness checks of a process (databases, peers,
// the spool directory). It is safe for concurrent use; the zero value is
// ready to use.
type Checks struct {
	// Timeout bounds each check; zero means DefaultCheckTimeout. Set it
	// before serving.
	Timeout time.Duration

	mu           sync.Mutex
	checks       []check
	shuttingDown atomic.Bool
}

type check struct {
	name string
	fn   func(ctx context.Context) error
}

// Add registers a readiness check. fn must honour ctx's deadline; a check
// that does not is reported as failed when the deadline passes anyway.
func (c *Checks) Add(name string, fn func(ctx context.Context) error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.checks = append(c.checks, check{name: name, fn: fn})
}

// SetShuttingDown makes /readyz fail from now on, so that load balancers
// stop sending traffic while the process drains.
func (c *Checks) SetShuttingDown() { c.shuttingDown.Store(true) }

// ShuttingDown reports whether SetShuttingDown was called.
func (c *Checks) ShuttingDown() bool { return c.shuttingDown.Load() }

// CheckResult is one check's outcome in the /readyz body. A degraded
// check is OK (it does not fail readiness) and says what is wrong in Error.
type CheckResult struct {
	Name     string `json:"name"`
	OK       bool   `json:"ok"`
	Degraded bool   `json:"degraded,omitempty"`
	Error    string `json:"error,omitempty"`
}

// Report is the /readyz body. Degraded is true when some check reported a
// problem that should page an operator but not take the process out of
// rotation (say, ingest still accepts while its forwarder is stalled).
type Report struct {
	Ready        bool          `json:"ready"`
	Degraded     bool          `json:"degraded"`
	ShuttingDown bool          `json:"shutting_down"`
	Checks       []CheckResult `json:"checks"`
}

// Degrader is implemented by errors a check returns to report itself
// degraded rather than failed.
type Degrader interface{ Degraded() bool }

// Run runs every check in parallel, each with the timeout, and returns the
// results in registration order. While shutting down it reports not ready
// without running the checks: the answer is known, and the dependencies
// may already be closing.
func (c *Checks) Run(ctx context.Context) Report {
	rep, _ := c.run(ctx, "")
	return rep
}

// RunNamed runs only the checks registered under name (a module's), so
// that each purpose is probed on what it needs: ingest must stay in
// rotation while accounts' database is down. ok is false when no check has
// that name.
func (c *Checks) RunNamed(ctx context.Context, name string) (_ Report, ok bool) {
	return c.run(ctx, name)
}

// Names lists the registered check names, in registration order.
func (c *Checks) Names() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]string, 0, len(c.checks))
	for _, ch := range c.checks {
		out = append(out, ch.name)
	}
	return out
}

// run runs every check, or only those named name when it is not empty.
func (c *Checks) run(ctx context.Context, name string) (Report, bool) {
	c.mu.Lock()
	var checks []check
	for _, ch := range c.checks {
		if name == "" || ch.name == name {
			checks = append(checks, ch)
		}
	}
	timeout := c.Timeout
	c.mu.Unlock()
	if name != "" && len(checks) == 0 {
		return Report{}, false
	}
	if c.ShuttingDown() {
		return Report{ShuttingDown: true, Checks: []CheckResult{}}, true
	}
	if timeout <= 0 {
		timeout = DefaultCheckTimeout
	}

	results := make([]CheckResult, len(checks))
	var wg sync.WaitGroup
	for i, ch := range checks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = runOne(ctx, ch, timeout)
		}()
	}
	wg.Wait()

	rep := Report{Ready: true, Checks: results}
	for _, r := range results {
		if !r.OK {
			rep.Ready = false
		}
		if r.Degraded {
			rep.Degraded = true
		}
	}
	// A shutdown that began while the checks ran wins.
	if c.ShuttingDown() {
		rep.Ready, rep.ShuttingDown = false, true
	}
	return rep, true
}

func runOne(ctx context.Context, ch check, timeout time.Duration) CheckResult {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	done := make(chan error, 1) // buffered: a late check must not block forever
	go func() {
		defer func() {
			if p := recover(); p != nil {
				done <- fmt.Errorf("check panicked: %v", p)
			}
		}()
		done <- ch.fn(ctx)
	}()
	var err error
	select {
	case err = <-done:
	case <-ctx.Done():
		err = fmt.Errorf("no answer within %s: %w", timeout, ctx.Err())
	}
	var d Degrader
	if err != nil && errors.As(err, &d) && d.Degraded() {
		return CheckResult{Name: ch.name, OK: true, Degraded: true, Error: err.Error()}
	}
	if err != nil {
		return CheckResult{Name: ch.name, Error: err.Error()}
	}
	return CheckResult{Name: ch.name, OK: true}
}

// NewHandler returns the admin mux:
//
//	/metrics       Prometheus exposition of tel.Registry
//	/healthz       200 "ok" while the process is alive
//	/readyz        every check, 200 when all pass (a degraded one passes, and the
//	               body says "degraded": true), 503 otherwise or while shutting down
//	/readyz/{name} the checks registered under name only (each module registers
//	               under its own name), same answers; 404 for an unknown name
//	/debug/pprof/  the net/http/pprof handlers
//
// checks may be nil (always ready).
func NewHandler(tel *telemetry.Telemetry, checks *Checks) http.Handler {
	if checks == nil {
		checks = &Checks{}
	}
	mux := http.NewServeMux()

	mux.Handle("GET /metrics", promhttp.HandlerFor(tel.Registry, promhttp.HandlerOpts{
		// Count scrape errors in the same registry, and keep serving what
		// could be gathered rather than failing the whole scrape.
		Registry:      tel.Registry,
		ErrorHandling: promhttp.ContinueOnError,
	}))

	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok\n"))
	})

	writeReport := func(w http.ResponseWriter, rep Report) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		if !rep.Ready {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		_ = json.NewEncoder(w).Encode(rep)
	}
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		writeReport(w, checks.Run(r.Context()))
	})
	mux.HandleFunc("GET /readyz/{name}", func(w http.ResponseWriter, r *http.Request) {
		rep, ok := checks.RunNamed(r.Context(), r.PathValue("name"))
		if !ok {
			// A probe pointed at a module this process does not run must
			// fail loudly, not pass.
			http.Error(w, fmt.Sprintf("no readiness check %q here; known: %s", r.PathValue("name"), strings.Join(checks.Names(), ", ")), http.StatusNotFound)
			return
		}
		writeReport(w, rep)
	})

	// Registered explicitly on this mux: importing net/http/pprof also
	// registers on http.DefaultServeMux, which Sightline never serves.
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	for _, p := range []string{"allocs", "block", "goroutine", "heap", "mutex", "threadcreate"} {
		mux.Handle("/debug/pprof/"+p, pprof.Handler(p))
	}
	return mux
}
