package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/procfs"

	"github.com/sightlinehq/sightline/internal/loadgen"
)

// The edge as issue 19 measures it: the edge processes only (accounts,
// ingest and gateway; recordings and search unreachable, so every batch
// stays in the fsync'd spool) against the bare handler, both driven by wrk
// (closed loop, -t2 -c64), a real Chromium batch of ~10 KB sent as JSON,
// rounds with the order rotated, medians. wrk is a C load generator: its
// cost is not the server's, as an in-process generator's would partly be.

// edgeLua sends the batch with a new session every ten batches (the edge
// keeps per-session state and limits; one session would hit them): the
// session id is spliced into the body per request.
const edgeLua = `
local f = io.open(os.getenv("SL_BODY"), "rb")
local body = f:read("*a")
f:close()
local s, e = body:find('"sessionId":"[^"]*"')
local pre, post = body:sub(1, s - 1), body:sub(e + 1)
local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("tid", threads)
end
local n = 0
local headers = {["Content-Type"] = "text/plain", ["Origin"] = os.getenv("SL_ORIGIN")}
function request()
  n = n + 1
  local id = string.format("s_edge%d_%012d", tid, math.floor(n / 10))
  return wrk.format("POST", nil, headers, pre .. '"sessionId":"' .. id .. '"' .. post)
end
`

// edgeResult is one wrk run against one target.
type edgeResult struct {
	rps      float64
	p50, p99 time.Duration
	requests int64
	non2xx   int64
	sockErrs string
	cpu      time.Duration // the target process's
	faults   uint          // the target process's minor page faults
	// client is wrk's CPU, wall the run's: the cores both used, against
	// the machine's, tell whether the target was short of CPU or waited.
	client, wall time.Duration
	// The spool's group commits: records per commit, mean time of one,
	// and the bucket bound of their p99 (ingest's histogram).
	perCommit             float64
	commitTime, commitP99 time.Duration
	commitP99Over         bool // past the histogram's last bound
}

// bound prints a histogram bucket's upper bound d: "≤ 1ms", or "> 1s"
// past the last bound (over), "-" for none.
func bound(d time.Duration, over bool) string {
	switch {
	case d == 0:
		return "-"
	case over:
		return "> " + d.String()
	}
	return "≤ " + d.String()
}

// clientPerReq is wrk's CPU per request.
func (r edgeResult) clientPerReq() time.Duration {
	if r.requests == 0 {
		return 0
	}
	return r.client / time.Duration(r.requests)
}

// busy is the share of the machine's cores the target and wrk used.
func (r edgeResult) busy() float64 {
	if r.wall <= 0 {
		return 0
	}
	return (r.cpu + r.client).Seconds() / r.wall.Seconds() / float64(runtime.NumCPU())
}

func (r edgeResult) cpuPerReq() time.Duration {
	if r.requests == 0 {
		return 0
	}
	return r.cpu / time.Duration(r.requests)
}

// faultsPerReq is the target's minor page faults per request: on a VM
// whose host backs guest memory lazily, each costs microseconds.
func (r edgeResult) faultsPerReq() float64 {
	if r.requests == 0 {
		return 0
	}
	return float64(r.faults) / float64(r.requests)
}

// edge runs the comparison: rounds × (edge, bare) of d each, then both at
// a constant offered rate (openRate, 0: not).
func edge(ctx context.Context, c config, rounds int, d time.Duration, batchPath string, openRate float64) error {
	wrk, err := exec.LookPath("wrk")
	if err != nil {
		return fmt.Errorf("wrk not found (apt-get install wrk): %w", err)
	}
	raw, err := os.ReadFile(batchPath)
	if err != nil {
		return fmt.Errorf("batch: %w", err)
	}
	tmp, err := os.MkdirTemp("", "benchedge-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	secret := make([]byte, 32)
	if _, err := rand.Read(secret); err != nil {
		return err
	}
	secretFile := filepath.Join(tmp, "service-secret")
	if err := os.WriteFile(secretFile, []byte(hex.EncodeToString(secret)), 0o600); err != nil {
		return err
	}
	// Recordings and search are unreachable (a port nothing listens on):
	// the forwarder retries with backoff and the spool only grows, so it
	// may hold every batch of the run.
	s, err := startServer(ctx, c.binary, 1, append([]string{
		"--target", "accounts,ingest,gateway",
		"--remote.recordings", "127.0.0.1:1", "--remote.search", "127.0.0.1:1",
		"--server.service-secret-file", secretFile,
		"--ingest.spool.max-bytes", strconv.FormatInt(1<<40, 10),
	}, c.serverArgs...))
	if err != nil {
		return err
	}
	defer s.stop()
	bareAddr, bareProc, stopBare, err := bare(ctx)
	if err != nil {
		return err
	}
	defer stopBare()

	// The batch as the tracker sends it, for the signed-up site.
	var env map[string]any
	if err := json.Unmarshal(raw, &env); err != nil {
		return fmt.Errorf("batch: %w", err)
	}
	site := s.sites[0]
	env["siteKey"] = site.Key
	if page, ok := env["page"].(map[string]any); ok {
		page["url"] = site.Origin + "/products/espresso-machine"
	}
	body, err := json.Marshal(env)
	if err != nil {
		return err
	}
	bodyFile, luaFile := filepath.Join(tmp, "batch.json"), filepath.Join(tmp, "post.lua")
	if err := os.WriteFile(bodyFile, body, 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(luaFile, []byte(edgeLua), 0o644); err != nil {
		return err
	}
	// spool is the edge's server (its spool's commits are read), nil for
	// the bare handler.
	run := func(url string, proc procfs.Proc, spool *server, d time.Duration) (edgeResult, error) {
		st0, err := proc.Stat()
		if err != nil {
			return edgeResult{}, err
		}
		var m0 metrics
		if spool != nil {
			if m0, err = spool.metrics(); err != nil {
				return edgeResult{}, err
			}
		}
		cmd := exec.CommandContext(ctx, wrk, "-t2", "-c64", "-d"+strconv.Itoa(int(d.Seconds()))+"s", "--latency", "-s", luaFile, url)
		cmd.Env = append(os.Environ(), "SL_BODY="+bodyFile, "SL_ORIGIN="+site.Origin)
		t0 := time.Now()
		out, err := cmd.CombinedOutput()
		if err != nil {
			return edgeResult{}, fmt.Errorf("wrk: %w: %s", err, out)
		}
		wall := time.Since(t0)
		st1, err := proc.Stat()
		if err != nil {
			return edgeResult{}, err
		}
		r, err := parseWrk(string(out))
		r.cpu = time.Duration((st1.CPUTime() - st0.CPUTime()) * float64(time.Second))
		r.faults = st1.MinFlt - st0.MinFlt
		r.client, r.wall = cmd.ProcessState.UserTime()+cmd.ProcessState.SystemTime(), wall
		if spool != nil {
			m1, merr := spool.metrics()
			if merr != nil {
				return edgeResult{}, merr
			}
			r.perCommit, r.commitTime = m1.perCommit(m0), m1.commitTime(m0)
			r.commitP99, r.commitP99Over = m1.commitQuantile(m0, 0.99)
		}
		return r, err
	}
	edgeURL, bareURL := "http://"+s.http+"/i/v1/batch?k="+site.Key, "http://"+bareAddr+"/"
	// A warm-up of each, not counted (connections, caches, the heap's size).
	for _, w := range []struct {
		url   string
		proc  procfs.Proc
		spool *server
	}{{edgeURL, s.proc, s}, {bareURL, bareProc, nil}} {
		if _, err := run(w.url, w.proc, w.spool, min(d, 3*time.Second)); err != nil {
			return err
		}
	}
	fmt.Printf("\n== the edge alone (accounts, ingest, gateway: %s serve --target accounts,ingest,gateway; recordings unreachable, spool fsync'd) against a bare net/http 204 handler; wrk -t2 -c64 -d%v, a %d-byte Chromium batch as JSON, a new session every 10 batches; %d rounds, order rotated\n",
		c.binary, d, len(body), rounds)
	fmt.Printf("%6s %-6s %10s %8s %10s %10s %12s %14s %8s %11s %6s %8s %9s %11s\n", "round", "target", "req/s", "× bare", "p50", "p99", "CPU/request", "faults/request", "non-2xx", "wrk CPU/req", "busy", "b/fsync", "commit", "commit p99")
	var edges, bares []edgeResult
	for round := range rounds {
		var e, b edgeResult
		for k := range 2 {
			var err error
			if (round+k)%2 == 0 {
				e, err = run(edgeURL, s.proc, s, d)
			} else {
				b, err = run(bareURL, bareProc, nil, d)
			}
			if err != nil {
				return err
			}
		}
		edges, bares = append(edges, e), append(bares, b)
		for _, x := range []struct {
			name string
			r    edgeResult
		}{{"edge", e}, {"bare", b}} {
			fmt.Printf("%6d %-6s %10.0f %8.3f %10v %10v %12v %14.2f %8d %11v %5.0f%% %8.1f %9v %11s%s\n", round+1, x.name, x.r.rps, x.r.rps/b.rps,
				x.r.p50.Round(10*time.Microsecond), x.r.p99.Round(10*time.Microsecond), x.r.cpuPerReq().Round(time.Microsecond), x.r.faultsPerReq(), x.r.non2xx,
				x.r.clientPerReq().Round(time.Microsecond), 100*x.r.busy(), x.r.perCommit, x.r.commitTime.Round(time.Microsecond), bound(x.r.commitP99, x.r.commitP99Over), x.r.sockErrs)
		}
	}
	var ratios []float64
	for i := range edges {
		ratios = append(ratios, edges[i].rps/bares[i].rps)
	}
	med := func(rs []edgeResult, f func(edgeResult) float64) float64 {
		xs := make([]float64, len(rs))
		for i, r := range rs {
			xs[i] = f(r)
		}
		return median(xs)
	}
	rps := func(r edgeResult) float64 { return r.rps }
	cpu := func(r edgeResult) float64 { return float64(r.cpuPerReq().Microseconds()) }
	fmt.Printf("medians: edge %.0f req/s, %.0f µs CPU per request; bare %.0f req/s, %.0f µs; edge/bare by rate %.3f (rounds %.3f–%.3f; issue 19's goal ≥ 0.50)\n",
		med(edges, rps), med(edges, cpu), med(bares, rps), med(bares, cpu), median(ratios), slices.Min(ratios), slices.Max(ratios))
	if openRate > 0 {
		if err := edgeOpenLoop(ctx, c, s, bareAddr, bareProc, openRate, d); err != nil {
			return err
		}
	}
	if c.profile > 0 {
		// One more edge run, not counted, under the profiler.
		path := filepath.Join(os.TempDir(), "benchedge.cpu.pprof")
		if err := s.profileUnder(c.profile, path, func(d time.Duration) error { _, err := run(edgeURL, s.proc, s, d); return err }); err != nil {
			return err
		}
		fmt.Printf("\nCPU profile of the edge under wrk for %v: %s\n", c.profile, path)
		profileTop(path)
	}
	for i, e := range edges {
		switch {
		case e.non2xx > 0:
			return fmt.Errorf("round %d: the edge answered %d batches with other than 2xx: the figures are not of accepted batches", i+1, e.non2xx)
		case e.sockErrs != "":
			return fmt.Errorf("round %d: wrk met socket errors%s: the figures are not of answered batches", i+1, e.sockErrs)
		}
	}
	return nil
}

var (
	wrkRPS     = regexp.MustCompile(`Requests/sec:\s+([0-9.]+)`)
	wrkTotal   = regexp.MustCompile(`(\d+) requests in`)
	wrkNon2xx  = regexp.MustCompile(`Non-2xx or 3xx responses: (\d+)`)
	wrkSockErr = regexp.MustCompile(`Socket errors: [^\n]*`)
	wrkPct     = regexp.MustCompile(`(?m)^\s+(50|99)%\s+([0-9.]+)(us|ms|s)\s*$`)
)

// median is the middle of xs (the mean of the two middle ones for an even
// count).
func median(xs []float64) float64 {
	xs = slices.Sorted(slices.Values(xs))
	n := len(xs)
	if n%2 == 1 {
		return xs[n/2]
	}
	return (xs[n/2-1] + xs[n/2]) / 2
}

// parseWrk reads wrk's report (with --latency).
func parseWrk(out string) (edgeResult, error) {
	var r edgeResult
	m := wrkRPS.FindStringSubmatch(out)
	n := wrkTotal.FindStringSubmatch(out)
	if m == nil || n == nil {
		return r, fmt.Errorf("wrk: no rate in its report: %s", out)
	}
	r.rps, _ = strconv.ParseFloat(m[1], 64)
	r.requests, _ = strconv.ParseInt(n[1], 10, 64)
	if m := wrkNon2xx.FindStringSubmatch(out); m != nil {
		r.non2xx, _ = strconv.ParseInt(m[1], 10, 64)
	}
	if m := wrkSockErr.FindString(out); m != "" {
		r.sockErrs = " (" + strings.TrimSpace(m) + ")"
	}
	for _, m := range wrkPct.FindAllStringSubmatch(out, -1) {
		v, _ := strconv.ParseFloat(m[2], 64)
		unit := map[string]time.Duration{"us": time.Microsecond, "ms": time.Millisecond, "s": time.Second}[m[3]]
		if m[1] == "50" {
			r.p50 = time.Duration(v * float64(unit))
		} else {
			r.p99 = time.Duration(v * float64(unit))
		}
	}
	return r, nil
}

// edgeOpenLoop offers rate batches a second to the edge and then to the
// bare handler, each sent at its due time whatever the answers so far
// (issue 19: p99 ≤ 20 ms at 10,000/s), and prints what each answered and
// its latency from the due time. The generator is Go's HTTP client in this
// process, on the same two cores: the bare handler's row shows what it and
// the machine alone cost at that rate.
func edgeOpenLoop(ctx context.Context, c config, s *server, bareAddr string, bareProc procfs.Proc, rate float64, d time.Duration) error {
	dr, err := newDriver(c, s, 10240)
	if err != nil {
		return err
	}
	fmt.Printf("\nopen loop: %.0f batches/s offered for %v (loadgen's 10 KB batches, sent gzip'd as the tracker does; latency from each send's due time)\n", rate, d)
	fmt.Printf("%-6s %10s %10s %10s %10s %10s %12s\n", "target", "offered/s", "204/s", "other", "p50", "p99", "CPU/request")
	// The bare handler is sent the same batches.
	bdr := &loadgen.Driver{URL: "http://" + bareAddr, Batches: dr.Batches, Client: loadgen.NewClient(c.inFlight), MaxInFlight: c.inFlight}
	var edgeP99 int64
	for _, t := range []struct {
		name string
		dr   *loadgen.Driver
		proc procfs.Proc
	}{{"edge", dr, s.proc}, {"bare", bdr, bareProc}} {
		st0, err := t.proc.Stat()
		if err != nil {
			return err
		}
		r, err := t.dr.Run(ctx, rate, d)
		if err != nil {
			return err
		}
		st1, err := t.proc.Stat()
		if err != nil {
			return err
		}
		ok := r.Status[http.StatusNoContent]
		cpu := time.Duration((st1.CPUTime() - st0.CPUTime()) * float64(time.Second))
		p99 := r.Latency.ValueAtQuantile(99)
		if t.name == "edge" {
			edgeP99 = p99
		}
		fmt.Printf("%-6s %10.0f %10.0f %10d %10s %10s %12v\n", t.name, float64(r.Offered)/r.Window.Seconds(), float64(ok)/r.Window.Seconds(),
			r.Offered-ok, ms(r.Latency.ValueAtQuantile(50)), ms(p99), (cpu / time.Duration(max(r.Answered(), 1))).Round(time.Microsecond))
		if r.Offered-ok > 0 {
			fmt.Printf("       not 204: %v by status, %d transport errors (first: %v), %d skipped with %d requests waiting\n", r.Status, r.Errors, r.FirstErr, r.Saturated, c.inFlight)
		}
	}
	fmt.Printf("edge p99 at %.0f/s: %s (issue 19's goal at 10,000/s: ≤ 20 ms)\n", rate, ms(edgeP99))
	return nil
}
