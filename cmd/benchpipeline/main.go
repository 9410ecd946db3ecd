// Command benchpipeline measures the whole pipeline as a user runs it:
// the real binary (`sightline serve`, all in one, a fresh data directory,
// embedded storage) driven over real HTTP at a constant offered rate by
// internal/loadgen, with tracker-like batches on several sites.
//
// -mode=step (make bench-pipeline) raises the rate by -growth per step
// until a step is not sustained (an answer other than 204, the backlog
// not flat, or what was accepted not stored and searchable within the
// settle time), and prints per step and for the highest sustained rate
// the answered rate, p50/p99, CPU per batch, RSS and disk bytes per batch,
// next to a bare net/http handler (its own process) driven at the same
// rate, then the top of a CPU profile of the server at that rate. One run
// per batch shape (-sizes).
//
// -mode=edge (make bench-edge) measures the edge processes alone under
// wrk against the bare handler, as issue 19 states its edge goal (edge.go).
//
// -mode=ab (make bench-pipeline-heatmaps) runs two configurations side by
// side (-server-args, -server-args-b; -binary, -binary-b) at one rate in alternating rounds and
// prints the CPU and data directory growth per batch of each and their
// ratio (ab.go).
//
// -mode=soak (make soak) drives one server at a steady rate for -duration
// and prints every minute its RSS, goroutines, open files, spool backlog,
// the answered rate and the recordings store's tables, write amplification
// and stalled seconds (Pebble's figures), then whether each series stayed
// flat.
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/procfs"

	"github.com/sightlinehq/sightline/internal/loadgen"
)

type config struct {
	binary     string
	sizes      []int
	starts     []float64
	growth     float64
	step       time.Duration
	maxSteps   int
	sites      int
	perSession int
	live       int
	inFlight   int
	profile    time.Duration
	duration   time.Duration // soak
	rate       float64       // soak; 0: half the capacity a quick step run measures
	serverArgs []string      // more flags for sightline serve
}

func main() {
	var c config
	mode := flag.String("mode", "step", "step (bench-pipeline), edge (bench-edge), ab (bench-pipeline-heatmaps), soak, or bare (the reference handler's process, started by step and edge)")
	abRounds := flag.Int("ab-rounds", 6, "ab: rounds, each a step of A and one of B (the order alternating), at the first -start rate and -sizes shape")
	serverArgsB := flag.String("server-args-b", "", "ab: flags for variant B's sightline serve, space-separated (A takes -server-args)")
	binaryB := flag.String("binary-b", "", "ab: variant B's sightline binary (default: -binary's), to measure a change against the build before it")
	edgeRounds := flag.Int("edge-rounds", 3, "edge: rounds of edge and bare, the order rotated")
	edgeDur := flag.Duration("edge-duration", 15*time.Second, "edge: wrk's duration per target and round")
	edgeBatch := flag.String("edge-batch", "svc-ingest/testdata/batch-chromium.json", "edge: the batch sent (a tracker batch as JSON)")
	edgeRate := flag.Float64("edge-rate", 10000, "edge: the constant offered rate (batches/s) of the open-loop run after wrk's rounds, 10 KB batches sent gzip'd, for -edge-duration (0: none)")
	flag.StringVar(&c.binary, "binary", "bin/sightline", "the sightline binary to run")
	sizes := flag.String("sizes", "10240,61440", "batch shapes: bytes of JSON per batch (sent gzip'd), comma list")
	starts := flag.String("start", "250,80", "first step's rate (batches/s) per shape, comma list")
	flag.Float64Var(&c.growth, "growth", 1.25, "rate factor from one step to the next")
	flag.DurationVar(&c.step, "step", 30*time.Second, "duration of a step")
	flag.IntVar(&c.maxSteps, "max-steps", 20, "most steps per shape")
	flag.IntVar(&c.sites, "sites", 3, "sites the load spreads over")
	flag.IntVar(&c.perSession, "per-session", 10, "batches per session (the first holds the full snapshot)")
	flag.IntVar(&c.live, "live", 200, "open sessions per site")
	flag.IntVar(&c.inFlight, "in-flight", 2048, "most requests waiting for an answer (past it a due send counts as saturated)")
	flag.DurationVar(&c.profile, "profile", 20*time.Second, "CPU profile length (0: none): step, at the highest sustained rate; edge, of one more edge run after the rounds")
	flag.DurationVar(&c.duration, "duration", 30*time.Minute, "soak: how long")
	flag.Float64Var(&c.rate, "rate", 0, "soak: batches/s (0: half the capacity a quick step run measures)")
	serverArgs := flag.String("server-args", "", "more flags for sightline serve, space-separated (e.g. \"--recordings.outbox.window=0\" to compare a setting in one machine state)")
	flag.Parse()
	c.serverArgs = strings.Fields(*serverArgs)

	if *mode == "bare" {
		serveBare()
		return
	}
	var err error
	if c.sizes, err = ints(*sizes); err != nil {
		log.Fatalf("-sizes: %v", err)
	}
	for _, s := range strings.Split(*starts, ",") {
		r, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
		if err != nil || r <= 0 {
			log.Fatalf("-start: %q is not a rate", s)
		}
		c.starts = append(c.starts, r)
	}
	if len(c.starts) != len(c.sizes) || c.growth <= 1 || c.step < 3*time.Second || c.sites < 1 || c.maxSteps < 1 {
		log.Fatal("need one -start per -sizes, -growth > 1, -step ≥ 3s, -sites ≥ 1, -max-steps ≥ 1")
	}
	if _, err := os.Stat(c.binary); err != nil {
		log.Fatalf("-binary: %v (make build builds bin/sightline)", err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	switch *mode {
	case "step":
		for i, size := range c.sizes {
			if err := stepRun(ctx, c, size, c.starts[i]); err != nil {
				log.Fatal(err)
			}
		}
	case "edge":
		if *edgeRounds < 1 || *edgeDur < time.Second {
			log.Fatal("need -edge-rounds ≥ 1 and -edge-duration ≥ 1s")
		}
		if err := edge(ctx, c, *edgeRounds, *edgeDur, *edgeBatch, *edgeRate); err != nil {
			log.Fatal(err)
		}
	case "ab":
		if *abRounds < 1 {
			log.Fatal("need -ab-rounds ≥ 1")
		}
		if *binaryB != "" {
			if _, err := os.Stat(*binaryB); err != nil {
				log.Fatalf("-binary-b: %v", err)
			}
		}
		if err := abRun(ctx, c, *binaryB, strings.Fields(*serverArgsB), *abRounds); err != nil {
			log.Fatal(err)
		}
	case "soak":
		if err := soak(ctx, c); err != nil {
			log.Fatal(err)
		}
	default:
		log.Fatalf("-mode %q: want step, edge, ab or soak", *mode)
	}
}

func ints(list string) ([]int, error) {
	var out []int
	for _, s := range strings.Split(list, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil {
			return nil, err
		}
		out = append(out, n)
	}
	return out, nil
}

// serveBare is the reference: net/http reading the body and answering
// 204, in a process of its own so that its CPU is measured as the
// server's is. It prints its address on stdout.
func serveBare() {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(lis.Addr().String())
	srv := &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusNoContent)
	})}
	log.Fatal(srv.Serve(lis))
}

// bare starts serveBare in a child process.
func bare(ctx context.Context) (addr string, proc procfs.Proc, stop func(), err error) {
	self, err := os.Executable()
	if err != nil {
		return "", proc, nil, err
	}
	cmd := exec.CommandContext(ctx, self, "-mode=bare")
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return "", proc, nil, err
	}
	if err := cmd.Start(); err != nil {
		return "", proc, nil, fmt.Errorf("bare handler: %w", err)
	}
	stop = func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		stop()
		return "", proc, nil, fmt.Errorf("bare handler's address: %w", err)
	}
	if proc, err = procfs.NewProc(cmd.Process.Pid); err != nil {
		stop()
		return "", proc, nil, err
	}
	return strings.TrimSpace(line), proc, stop, nil
}

func newDriver(c config, s *server, size int) (*loadgen.Driver, error) {
	b, err := loadgen.NewBatches(s.sites, size, c.perSession, c.live, uint64(size))
	if err != nil {
		return nil, err
	}
	return &loadgen.Driver{URL: "http://" + s.http, Batches: b, Client: loadgen.NewClient(c.inFlight), MaxInFlight: c.inFlight}, nil
}

func profileTop(path string) {
	out, err := exec.Command("go", "tool", "pprof", "-top", "-nodecount=25", path).CombinedOutput()
	if err != nil {
		fmt.Printf("(go tool pprof: %v)\n", err)
	}
	fmt.Print(string(out))
	out, _ = exec.Command("go", "tool", "pprof", "-top", "-cum", "-nodecount=40", path).CombinedOutput()
	fmt.Println("\ncumulative:")
	fmt.Print(string(out))
}

func mib(b int64) string { return fmt.Sprintf("%.0f MiB", float64(b)/(1<<20)) }

func ms(us int64) string {
	return strconv.FormatFloat(float64(us)/1000, 'f', 1, 64) + " ms"
}

func profilePath(size int) string {
	return filepath.Join(os.TempDir(), fmt.Sprintf("benchpipeline-%d.cpu.pprof", size))
}
