package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// memoryLimitLog is serve's "memory limit" start-up line.
type memoryLimitLog struct {
	From  string  `json:"from"`
	Limit int64   `json:"gomemlimit_bytes"`
	Of    uint64  `json:"of_bytes"`
	Ratio float64 `json:"ratio"`
}

// memoryLimit reads p's "memory limit" log line and the soft limit its
// runtime reports on /metrics (go_gc_gomemlimit_bytes).
func memoryLimit(t *testing.T, p *process) (memoryLimitLog, float64) {
	t.Helper()
	var rec memoryLimitLog
	startLine(t, p, "memory limit", &rec)
	return rec, gauge(t, p, "go_gc_gomemlimit_bytes")
}

// startLine decodes p's last log line with message msg into rec.
func startLine(t *testing.T, p *process, msg string, rec any) {
	t.Helper()
	found := false
	for _, line := range strings.Split(p.logs.String(), "\n") {
		var m struct{ Msg string }
		if json.Unmarshal([]byte(line), &m) == nil && m.Msg == msg {
			if err := json.Unmarshal([]byte(line), rec); err != nil {
				t.Fatal(err)
			}
			found = true
		}
	}
	if !found {
		t.Fatalf("no %q log line:\n%s", msg, p.logs)
	}
}

// gauge reads an unlabelled series from p's /metrics.
func gauge(t *testing.T, p *process, name string) float64 {
	t.Helper()
	status, _, body := httpGet(t, "http://"+p.addrs.Admin+"/metrics")
	if status != 200 {
		t.Fatalf("/metrics: %d", status)
	}
	for _, line := range strings.Split(string(body), "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatal(err)
			}
			return f
		}
	}
	t.Fatalf("/metrics has no %s", name)
	return 0
}

// TestMemoryLimit: serve sets Go's soft memory limit to
// runtime.memory-limit-ratio of its container's memory limit (else the
// machine's memory), leaves a GOMEMLIMIT of the environment alone, and
// sets none with ratio 0; the runtime's own figure on /metrics says what
// is in force.
func TestMemoryLimit(t *testing.T) {
	t.Parallel()
	light := []string{"--target", "accounts"}

	t.Run("machine", func(t *testing.T) {
		t.Parallel()
		p := startServe(t, nil, light...)
		defer p.stop()
		rec, got := memoryLimit(t, p)
		want := int64(float64(rec.Of) * 0.9)
		if rec.Ratio != 0.9 || rec.Limit != want || got != float64(want) {
			t.Fatalf("limit %d (runtime: %.0f), want 0.9 × %d = %d; log %+v", rec.Limit, got, rec.Of, want, rec)
		}
		// What the process may use, read here without the library.
		switch rec.From {
		case "system":
			if total := memTotal(t); rec.Of != total {
				t.Fatalf("of %d bytes, the machine has %d", rec.Of, total)
			}
		case "cgroup":
			// Read here where the layout is the usual one (a container
			// runtime may mount the hierarchy elsewhere).
			if limit, ok := ownCgroupLimit(t); ok && rec.Of != limit {
				t.Fatalf("of %d bytes, this process's cgroup limit reads %d", rec.Of, limit)
			} else if !ok {
				t.Logf("of %d bytes from a cgroup this test cannot read", rec.Of)
			}
		default:
			t.Fatalf("from %q", rec.From)
		}
	})

	t.Run("GOMEMLIMIT wins", func(t *testing.T) {
		t.Parallel()
		p := startServe(t, []string{"GOMEMLIMIT=300MiB"}, light...)
		defer p.stop()
		rec, got := memoryLimit(t, p)
		if rec.From != "GOMEMLIMIT" || rec.Limit != 300<<20 || got != 300<<20 {
			t.Fatalf("limit %d (runtime: %.0f) from %q, want GOMEMLIMIT's %d", rec.Limit, got, rec.From, 300<<20)
		}
	})

	t.Run("ratio 0 sets none", func(t *testing.T) {
		t.Parallel()
		p := startServe(t, nil, append(light, "--runtime.memory-limit-ratio=0")...)
		defer p.stop()
		rec, got := memoryLimit(t, p)
		if rec.From != "off" || got != math.MaxInt64 {
			t.Fatalf("runtime limit %.0f from %q, want none (MaxInt64) from off", got, rec.From)
		}
	})

	t.Run("container limit", func(t *testing.T) {
		t.Parallel()
		// A memory cgroup of our own with a 768 MiB limit, the process
		// started in it, as a container runtime does.
		dir, ok := newMemoryCgroup(t, 768<<20)
		if !ok {
			// CI's machines let root make one (cgroup v1's memory
			// controller); elsewhere it takes root and that hierarchy.
			if os.Getenv("CI") == "true" {
				t.Fatal("cannot create a memory cgroup (cgroup v1 memory controller, as root): CI's machines can")
			}
			t.Skip("cannot create a memory cgroup here (cgroup v1 memory controller, as root)")
		}
		args := serveArgs(t, append(light, "--runtime.memory-limit-ratio=0.75")...)
		cmd := exec.Command("sh", append([]string{"-c", `echo $$ > "$0/cgroup.procs" && exec "$@"`, dir, binary}, args...)...)
		p := startProcess(t, cmd, args)
		rec, got := memoryLimit(t, p)
		p.stop()
		want := int64(float64(768<<20) * 0.75)
		if rec.From != "cgroup" || rec.Of != 768<<20 || rec.Limit != want || got != float64(want) {
			t.Fatalf("limit %d (runtime: %.0f) from %q of %d, want 0.75 × the cgroup's %d = %d", rec.Limit, got, rec.From, rec.Of, 768<<20, want)
		}
	})
}

// memTotal is the machine's memory (/proc/meminfo).
func memTotal(t *testing.T) uint64 {
	t.Helper()
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var kb uint64
		if _, err := fmt.Sscanf(sc.Text(), "MemTotal: %d kB", &kb); err == nil {
			return kb << 10
		}
	}
	t.Fatal("no MemTotal in /proc/meminfo")
	return 0
}

// ownMemoryCgroup answers the directory of this process's memory cgroup
// and whether it is cgroup v1 (the memory controller's own hierarchy, as
// mounted at /sys/fs/cgroup/memory) or v2 (/sys/fs/cgroup).
func ownMemoryCgroup(t *testing.T) (dir string, v1 bool, ok bool) {
	t.Helper()
	b, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return "", false, false
	}
	var v2path string
	for _, line := range strings.Split(string(b), "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 {
			continue
		}
		if slices.Contains(strings.Split(parts[1], ","), "memory") {
			return filepath.Join("/sys/fs/cgroup/memory", parts[2]), true, true
		}
		if parts[0] == "0" && parts[1] == "" {
			v2path = parts[2]
		}
	}
	if v2path != "" {
		return filepath.Join("/sys/fs/cgroup", v2path), false, true
	}
	return "", false, false
}

// ownCgroupLimit reads this process's effective cgroup memory limit: in
// v1 the lower of its memory.limit_in_bytes and the hierarchical limit in
// memory.stat, in v2 the lowest memory.max from its cgroup up (false: none
// found, or unlimited).
func ownCgroupLimit(t *testing.T) (uint64, bool) {
	dir, v1, ok := ownMemoryCgroup(t)
	if !ok {
		return 0, false
	}
	limit := uint64(math.MaxUint64)
	if v1 {
		if b, err := os.ReadFile(filepath.Join(dir, "memory.limit_in_bytes")); err == nil {
			if n, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64); err == nil {
				limit = min(limit, n)
			}
		}
		if b, err := os.ReadFile(filepath.Join(dir, "memory.stat")); err == nil {
			for _, line := range strings.Split(string(b), "\n") {
				if v, ok := strings.CutPrefix(line, "hierarchical_memory_limit "); ok {
					if n, err := strconv.ParseUint(strings.TrimSpace(v), 10, 64); err == nil {
						limit = min(limit, n)
					}
				}
			}
		}
		// v1 says "unlimited" with a page-aligned maximum.
		return limit, limit < math.MaxInt64&^0xfff
	}
	for d := dir; strings.HasPrefix(d, "/sys/fs/cgroup"); d = filepath.Dir(d) {
		if b, err := os.ReadFile(filepath.Join(d, "memory.max")); err == nil {
			if n, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64); err == nil {
				limit = min(limit, n) // "max" does not parse: no limit there
			}
		}
	}
	return limit, limit != math.MaxUint64
}

// newMemoryCgroup makes a child of this process's cgroup v1 memory
// cgroup limited to limit bytes, removed when the test ends (its processes
// gone); ok is false where that is not allowed.
func newMemoryCgroup(t *testing.T, limit int64) (string, bool) {
	t.Helper()
	parent, v1, ok := ownMemoryCgroup(t)
	if !ok || !v1 {
		return "", false
	}
	dir := filepath.Join(parent, fmt.Sprintf("sightline-test-%d", os.Getpid()))
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Logf("memory cgroup: %v", err)
		return "", false
	}
	t.Cleanup(func() {
		if err := os.Remove(dir); err != nil {
			t.Errorf("removing the test's memory cgroup: %v", err)
		}
	})
	if err := os.WriteFile(filepath.Join(dir, "memory.limit_in_bytes"), []byte(strconv.FormatInt(limit, 10)), 0o644); err != nil {
		t.Logf("memory cgroup limit: %v", err)
		return "", false
	}
	return dir, true
}
