// Command benchingest measures ingest's intake against a bare net/http
// handler in one run on the same machine (make bench-ingest runs
// `go run ./svc-ingest/cmd/benchingest` from the repository root).
//
// Ingest runs its real HTTP handler behind the middleware sightline serve
// puts in front of it (OpenTelemetry spans and HTTP metrics, the trace id
// header, panic recovery; the tracer as telemetry.Setup makes it from the
// environment: without an exporter it records no span), its real spool
// (fsync on, group commit) and its real forwarder, delivering over gRPC on loopback to a sink
// that does the I/O of recordings' write path: each chunk zstd-compressed
// and written to Pebble under (site, session, seq) with a synced commit per
// AppendChunks call. Accounts is a real gRPC server serving one site. The
// load is a real Chromium rrweb batch (svc-ingest/testdata/batch-chromium.json,
// captured by the tracker's e2e test; gzip'd as the tracker sends it) from
// 64 concurrent clients over loopback, cycling through 4096 sessions. The
// bare handler reads the same body and answers 204. A third run repeats
// ingest with a sink that discards (ingest's own cost, as when recordings
// runs elsewhere), and a fourth the same at -gogc-compare (GOGC=400) as
// guidance for operators (the product never sets GOGC). Then ingest
// (discarding sink) and the bare handler are driven at a constant rate
// (-rate, 10,000 batches/s: issue 19's edge goal is p99 ≤ 20 ms there),
// open loop, latency counted from each batch's scheduled time. It prints req/s,
// p50/p99, the process's CPU time per request and the GC's share of it, the
// ratios, group-commit figures, the CPU profile by part, and the CPU time of
// one request split by what it is spent on (profile share × CPU/request).
package main

import (
	"bytes"
	"cmp"
	"compress/gzip"
	"context"
	"encoding/binary"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/klauspost/compress/zstd"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	accountsv1 "github.com/sightlinehq/sightline/gen/sightline/accounts/v1"
	ingestv1 "github.com/sightlinehq/sightline/gen/sightline/ingest/v1"
	recordingsv1 "github.com/sightlinehq/sightline/gen/sightline/recordings/v1"
	"github.com/sightlinehq/sightline/platform/httpserver"
	"github.com/sightlinehq/sightline/platform/rpc"
	"github.com/sightlinehq/sightline/platform/telemetry"
	ingest "github.com/sightlinehq/sightline/svc-ingest"
)

func main() {
	var (
		conc       = flag.Int("concurrency", 64, "concurrent clients")
		dur        = flag.Duration("duration", 5*time.Second, "measured time per target and round")
		warm       = flag.Duration("warmup", time.Second, "warm-up per target and round")
		batch      = flag.String("batch", "", "batch JSON (default svc-ingest/testdata/batch-chromium.json, captured from a real Chromium session by the tracker's e2e test)")
		plain      = flag.Bool("plain", false, "send the batch uncompressed (text/plain) instead of gzip")
		profPath   = flag.String("cpuprofile", "", "write the ingest run's CPU profile here (default in a temp dir)")
		rounds     = flag.Int("rounds", 3, "alternating rounds per target (medians are reported)")
		discardRun = flag.Bool("discard-run", true, "also measure ingest with a sink that discards (ingest's own cost)")
		dataDir    = flag.String("dir", "", "directory for the spool and the sink (default a temp dir; its disk's fsync latency bounds the result)")
		inFlight   = flag.Int("rate-connections", 512, "most batches in flight at the constant rate")
		rate       = flag.Float64("rate", 10000, "also drive ingest (discarding sink) and the bare handler at this constant rate, batches/s, open loop, latency counted from each batch's scheduled time (0: skip)")
		gogcRow    = flag.Int("gogc-compare", 400, "also measure ingest (discarding sink) with the GC at this GOGC, as guidance for operators (0: skip); the product never changes GOGC itself")
	)
	flag.Parse()
	if *batch == "" {
		*batch = findTestdata()
	}
	raw, err := os.ReadFile(*batch)
	if err != nil {
		log.Fatal(err)
	}
	tmp, err := os.MkdirTemp(*dataDir, "benchingest-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(tmp)

	var tpl map[string]any
	if err := json.Unmarshal(raw, &tpl); err != nil {
		log.Fatal(err)
	}
	siteKey := tpl["siteKey"].(string)
	pageURL, err := url.Parse(tpl["page"].(map[string]any)["url"].(string))
	if err != nil {
		log.Fatal(err)
	}
	origin := pageURL.Scheme + "://" + pageURL.Host
	// 4096 distinct sessions, so per-session state behaves as in production.
	bodies := make([][]byte, 4096)
	for i := range bodies {
		tpl["sessionId"] = fmt.Sprintf("s_bench%017d", i)
		tpl["seq"] = i % 50
		b, _ := json.Marshal(tpl)
		if !*plain {
			b = gzipped(b)
		}
		bodies[i] = b
	}

	accAddr, stopAcc := serveAccounts(siteKey, pageURL.Hostname())
	defer stopAcc()
	sink, err := newSink(filepath.Join(tmp, "sink"))
	if err != nil {
		log.Fatal(err)
	}
	recAddr, stopRec := serveGRPC(func(s *grpc.Server) { recordingsv1.RegisterRecordingsInternalServiceServer(s, sink) },
		grpc.ForceServerCodecV2(lazyCodec{encoding.GetCodecV2("proto")}))
	defer stopRec()

	var cfg ingest.Config
	fs := flag.NewFlagSet("ingest", flag.ExitOnError)
	cfg.RegisterFlags(fs)
	if err := fs.Parse(nil); err != nil {
		log.Fatal(err)
	}
	cfg.SpoolDir = filepath.Join(tmp, "spool")
	cfg.RatePerIP, cfg.RatePerSite = 0, 0 // one client address drives the whole load
	cfg.MaxBatchesPerSession = 1 << 40
	cfg.MaxBytesPerSession = 1 << 50
	conn := func(addr string) *grpc.ClientConn {
		cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			log.Fatal(err)
		}
		return cc
	}
	// The tracer and propagator as sightline serve sets them up; the meter
	// provider is the bench's own, whose reader gives the group commits.
	tel, err := telemetry.Setup(context.Background(), telemetry.Options{ServiceName: "benchingest"})
	if err != nil {
		log.Fatal(err)
	}
	defer tel.Shutdown(context.Background())
	reader := sdkmetric.NewManualReader()
	benchTel := *tel // Setup's, but for the meter provider
	benchTel.MeterProvider = sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	svc, err := ingest.New(context.Background(), cfg, ingest.Deps{
		TracerProvider: benchTel.TracerProvider,
		MeterProvider:  benchTel.MeterProvider,
		Propagator:     benchTel.Propagator,
		Logger:         logger,
		Accounts:       accountsv1.NewAccountsInternalServiceClient(conn(accAddr)),
		Recordings:     recordingsv1.NewRecordingsInternalServiceClient(conn(recAddr)),
	})
	if err != nil {
		log.Fatal(err)
	}
	runCtx, stopRun := context.WithCancel(context.Background())
	runDone := make(chan error, 1)
	go pprof.Do(runCtx, pprof.Labels("part", "forwarder"), func(ctx context.Context) { runDone <- svc.Run(ctx) })
	mux := http.NewServeMux()
	svc.RegisterHTTP(mux)
	handler := httpserver.Instrument(mux, &benchTel, logger, httpserver.Options{SelfTraced: []string{ingest.BeaconPrefix}})
	ingestURL, stopIngest := serveHTTP(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		pprof.Do(r.Context(), pprof.Labels("part", "ingest handler"), func(context.Context) { handler.ServeHTTP(w, r) })
	}))

	bareURL, stopBare := serveHTTP(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusNoContent)
	}))

	enc := "gzip"
	if *plain {
		enc = "none"
	}
	fmt.Printf("benchingest: %d clients over loopback, batch %s (%d bytes JSON, %d bytes as sent, encoding %s), GOMAXPROCS=%d\n",
		*conc, filepath.Base(*batch), len(raw), len(bodies[0]), enc, runtime.GOMAXPROCS(0))
	fmt.Println("ingest: real handler behind serve's HTTP middleware (OpenTelemetry spans and metrics, trace id header, recovery; spans recorded only with an exporter set, as in serve) + spool (fsync, group commit) + forwarder → gRPC sink doing recordings' write I/O (zstd per chunk, Pebble synced batch per AppendChunks); rate limits off (one client IP)")
	fmt.Println("bare:   net/http handler reading the body to io.Discard and answering 204")
	fmt.Println("sink:   a RecordingsService in this process: per AppendChunks call, each chunk proto-encoded and zstd-compressed and all of them written in one synced Pebble batch (recordings' embedded write path); the discarding variant answers OK at once (recordings on other machines)")
	fmt.Printf("GC:     GOGC=%s GOMEMLIMIT=%s (from the environment)\n", cmp.Or(os.Getenv("GOGC"), "100 (default)"), cmp.Or(os.Getenv("GOMEMLIMIT"), "none"))

	query := "?k=" + siteKey
	if !*plain {
		query += "&ce=gzip"
	}
	if *profPath == "" {
		*profPath = filepath.Join(os.TempDir(), "benchingest.cpu.pprof")
	}
	discardProf := strings.TrimSuffix(*profPath, ".pprof") + ".discard.pprof"
	profile := func(round int, path string) *os.File {
		if round != 0 {
			return nil
		}
		f, err := os.Create(path)
		if err != nil {
			log.Fatal(err)
		}
		return f
	}
	// Rounds alternate the targets so that other load on the machine hits
	// them alike; the medians are reported.
	var bares, ings, owns, gogcs []result
	for round := range *rounds {
		bares = append(bares, load(bareURL+"/i/v1/batch"+query, origin, bodies, *conc, *warm, *dur, nil))
		pf := profile(round, *profPath)
		ings = append(ings, load(ingestURL+"/i/v1/batch"+query, origin, bodies, *conc, *warm, *dur, pf))
		if pf != nil {
			pf.Close()
		}
		if *discardRun {
			// The same with a sink that discards: ingest's own cost, as
			// when recordings runs on other machines.
			sink.discard.Store(true)
			pf := profile(round, discardProf)
			owns = append(owns, load(ingestURL+"/i/v1/batch"+query, origin, bodies, *conc, *warm, *dur, pf))
			if pf != nil {
				pf.Close()
			}
			if *gogcRow > 0 {
				prev := debug.SetGCPercent(*gogcRow)
				gogcs = append(gogcs, load(ingestURL+"/i/v1/batch"+query, origin, bodies, *conc, *warm, *dur, nil))
				debug.SetGCPercent(prev)
			}
			sink.discard.Store(false)
		}
	}

	var bareRate, ingRate result
	if *rate > 0 {
		// The edge's latency goal is at a constant rate: recordings
		// elsewhere (discarding sink), against the bare handler.
		bareRate = loadRate(bareURL+"/i/v1/batch"+query, origin, bodies, *rate, *inFlight, *warm, *dur)
		sink.discard.Store(true)
		ingRate = loadRate(ingestURL+"/i/v1/batch"+query, origin, bodies, *rate, *inFlight, *warm, *dur)
		sink.discard.Store(false)
	}

	// Let the forwarder finish, to show delivery keeps up.
	drainStart := time.Now()
	for spoolRecords(svc) > 0 && time.Since(drainStart) < 60*time.Second {
		time.Sleep(50 * time.Millisecond)
	}
	drain := time.Since(drainStart)
	commits, appends, fsync := groupCommits(reader)
	stored, calls := sink.stored.Load(), sink.calls.Load()
	undelivered := spoolRecords(svc)

	fmt.Printf("\n%d rounds of %v (after %v warm-up) per target; medians by req/s:\n", *rounds, *dur, *warm)
	fmt.Printf("%-34s %10s %10s %10s %8s %8s %14s %10s %8s\n", "target", "req/s", "p50", "p99", "ok", "errors", "CPU/request", "CPUs used", "GC CPU*")
	row := func(name string, r result) {
		fmt.Printf("%-34s %10.0f %10s %10s %8d %8d %14s %10.2f %7.1f%%\n", name, r.rps, r.p50.Round(time.Microsecond), r.p99.Round(time.Microsecond), r.ok, r.errors, r.cpuPerReq.Round(time.Microsecond), r.cpuShare, 100*r.gcShare)
	}
	bare, ing := median(bares), median(ings)
	row("bare", bare)
	row("ingest (Pebble sink)", ing)
	var own result
	if *discardRun {
		own = median(owns)
		row("ingest (discarding sink)", own)
		if len(gogcs) > 0 {
			row(fmt.Sprintf("ingest (discarding sink, GOGC=%d)", *gogcRow), median(gogcs))
		}
	}
	ratios := func(xs []result) (byRate, byCPU []float64) {
		for i := range xs {
			byRate = append(byRate, 100*xs[i].rps/bares[i].rps)
			byCPU = append(byCPU, 100*float64(bares[i].cpuPerReq)/float64(xs[i].cpuPerReq))
		}
		return byRate, byCPU
	}
	r1, c1 := ratios(ings)
	fmt.Printf("\nratio ingest/bare (target ≥ 60%%): %.1f%% of the bare handler's rate (rounds: %s); by CPU per request, less sensitive to other load on the machine: %.1f%% (rounds: %s)\n",
		medianF(r1), pct(r1), medianF(c1), pct(c1))
	if *discardRun {
		r2, c2 := ratios(owns)
		fmt.Printf("ratio with a discarding sink (ingest's own cost; recordings elsewhere; the edge goal of issue 19 is ≥ 50%%): %.1f%% by rate (%s), %.1f%% by CPU per request (%s)\n",
			medianF(r2), pct(r2), medianF(c2), pct(c2))
		if len(gogcs) > 0 {
			r3, c3 := ratios(gogcs)
			fmt.Printf("GOGC guidance: the same with GOGC=%d: %.1f%% by rate (%s), %.1f%% by CPU per request (%s); ingest's live heap is small, so an operator may trade memory for GC time with GOGC or GOMEMLIMIT (the product leaves both to the environment)\n",
				*gogcRow, medianF(r3), pct(r3), medianF(c3), pct(c3))
		}
	}
	if *rate > 0 {
		fmt.Printf("\nconstant rate %.0f batches/s for %v (open loop, up to %d connections; latency from each batch's scheduled time; late: due while every connection was busy, not sent):\n", *rate, *dur, *inFlight)
		fmt.Printf("%-34s %10s %10s %10s %8s %8s %8s %14s %10s\n", "target", "req/s", "p50", "p99", "ok", "errors", "late", "CPU/request", "CPUs used")
		rateRow := func(name string, r result) {
			fmt.Printf("%-34s %10.0f %10s %10s %8d %8d %8d %14s %10.2f\n", name, r.rps, r.p50.Round(time.Microsecond), r.p99.Round(time.Microsecond), r.ok, r.errors+r.notOK, r.late, r.cpuPerReq.Round(time.Microsecond), r.cpuShare)
		}
		rateRow("bare", bareRate)
		rateRow("ingest (discarding sink)", ingRate)
		fmt.Printf("edge goal (issue 19): p99 ≤ 20ms at 10000/s with every batch answered 204: %s\n", verdict(*rate >= 10000 && ingRate.late == 0 && ingRate.errors+ingRate.notOK == 0 && ingRate.p99 <= 20*time.Millisecond))
	}
	fmt.Println("(CPU per request is the whole process's: load generator, HTTP server and, for ingest, the forwarder and the sink too; *GC CPU: the collector's share of it, runtime/metrics estimate without idle-time marking)")
	fmt.Printf("spool after the runs: %d records undelivered (drain took %v); sink stored %d chunks in %d AppendChunks calls (%.1f chunks/call); %d group commits for %d appends (%.1f appends per fsync, %v per write+fdatasync)\n",
		undelivered, drain.Round(time.Millisecond), stored, calls,
		float64(stored)/max(1, float64(calls)), commits, appends, float64(appends)/max(1, float64(commits)), fsync.Round(time.Microsecond))
	if ing.errors > 0 || ing.notOK > 0 || own.errors > 0 || own.notOK > 0 {
		fmt.Printf("WARNING: ingest answered %d non-204 and %d transport errors\n", ing.notOK+own.notOK, ing.errors+own.errors)
	}

	stopIngest()
	stopBare()
	stopRun()
	if err := <-runDone; err != nil {
		log.Printf("ingest Run: %v", err)
	}
	svc.Close()
	sink.close()

	fmt.Printf("\nCPU profile of the ingest run (whole process: load generator, HTTP, ingest, forwarder, sink): %s\n", *profPath)
	out, err := exec.Command("go", "tool", "pprof", "-tags", "-tagfocus=part=", *profPath).CombinedOutput()
	if err != nil {
		fmt.Printf("(go tool pprof unavailable: %v)\n", err)
		return
	}
	fmt.Println("by part (goroutine labels; unlabelled = HTTP server connection handling outside the handler, gRPC transport, GC, spool writer):")
	fmt.Print(string(out))
	fmt.Printf("\nwhere the CPU of one request goes (ingest, Pebble sink: %v per request in the median round; bare: %v):\n", ing.cpuPerReq.Round(time.Microsecond), bare.cpuPerReq.Round(time.Microsecond))
	breakdown(*profPath, ing.cpuPerReq)
	out, _ = exec.Command("go", "tool", "pprof", "-top", "-nodecount=25", *profPath).CombinedOutput()
	fmt.Print(string(out))
	out, _ = exec.Command("go", "tool", "pprof", "-top", "-cum", "-nodecount=40", *profPath).CombinedOutput()
	fmt.Println("\ncumulative:")
	fmt.Print(string(out))
	if *discardRun {
		fmt.Printf("\nCPU profile of the discarding-sink run (ingest's own cost): %s\n", discardProf)
		out, _ = exec.Command("go", "tool", "pprof", "-tags", "-tagfocus=part=", discardProf).CombinedOutput()
		fmt.Print(string(out))
		fmt.Printf("\nwhere the CPU of one request goes (ingest, discarding sink: %v per request in the median round):\n", own.cpuPerReq.Round(time.Microsecond))
		breakdown(discardProf, own.cpuPerReq)
		out, _ = exec.Command("go", "tool", "pprof", "-top", "-nodecount=20", discardProf).CombinedOutput()
		fmt.Print(string(out))
	}
}

func spoolRecords(svc *ingest.Service) int64 {
	st, err := svc.GetStats(rpc.AsService(context.Background()), &ingestv1.GetStatsRequest{})
	if err != nil {
		log.Fatal(err)
	}
	return st.GetSpool().GetRecords()
}

// groupCommits reads ingest's own histograms of the batches spool's group
// commits (records per commit, mean commit time).
func groupCommits(r *sdkmetric.ManualReader) (commits, records uint64, fsync time.Duration) {
	var rm metricdata.ResourceMetrics
	if err := r.Collect(context.Background(), &rm); err != nil {
		log.Fatal(err)
	}
	batches := attribute.NewSet(attribute.String("spool", "batches"))
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if h, ok := m.Data.(metricdata.Histogram[int64]); ok && m.Name == "ingest.spool.commit.records" {
				for _, dp := range h.DataPoints {
					if dp.Attributes.Equals(&batches) {
						commits += dp.Count
						records += uint64(dp.Sum)
					}
				}
			}
			if h, ok := m.Data.(metricdata.Histogram[float64]); ok && m.Name == "ingest.spool.commit.duration" {
				for _, dp := range h.DataPoints {
					if dp.Attributes.Equals(&batches) {
						fsync = time.Duration(dp.Sum / float64(max(dp.Count, 1)) * float64(time.Second))
					}
				}
			}
		}
	}
	return commits, records, fsync
}

type result struct {
	rps               float64
	p50, p99          time.Duration
	ok, notOK, errors int
	prof              bool
	cpuPerReq         time.Duration
	cpuShare          float64
	gcShare           float64 // of the process's CPU time, by runtime/metrics
	late              int     // constant rate: batches not sent, every connection busy
}

func load(url, origin string, bodies [][]byte, conc int, warm, dur time.Duration, prof *os.File) result {
	tr := &http.Transport{MaxIdleConns: conc * 2, MaxIdleConnsPerHost: conc * 2, DisableCompression: true}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	var measuring, stop atomic.Bool
	var next atomic.Int64
	lat := make([][]time.Duration, conc)
	oks, notOKs, errs := make([]int, conc), make([]int, conc), make([]int, conc)
	var wg sync.WaitGroup
	for w := range conc {
		wg.Add(1)
		go pprof.Do(context.Background(), pprof.Labels("part", "load generator"), func(context.Context) {
			defer wg.Done()
			for !stop.Load() {
				t0 := time.Now()
				code, err := post(client, url, origin, bodies[int(next.Add(1))%len(bodies)])
				if measuring.Load() {
					tally(code, err, time.Since(t0), &oks[w], &notOKs[w], &errs[w], &lat[w])
				}
			}
		})
	}
	time.Sleep(warm)
	if prof != nil {
		if err := pprof.StartCPUProfile(prof); err != nil {
			log.Fatal(err)
		}
	}
	measuring.Store(true)
	cpu0, gc0 := cpuTime(), gcTime()
	start := time.Now()
	if os.Getenv("BENCHINGEST_GOROUTINES") != "" && prof != nil {
		time.Sleep(dur / 2)
		if err := pprof.Lookup("goroutine").WriteTo(os.Stderr, 1); err != nil {
			log.Print(err)
		}
		time.Sleep(dur / 2)
	} else {
		time.Sleep(dur)
	}
	measuring.Store(false)
	elapsed := time.Since(start)
	cpu, gc := cpuTime()-cpu0, gcTime()-gc0
	if prof != nil {
		pprof.StopCPUProfile()
	}
	stop.Store(true)
	wg.Wait()
	r := summarize(lat, oks, notOKs, errs, elapsed, cpu, gc)
	r.prof = prof != nil
	return r
}

// summarize adds up the clients' counts and latencies over elapsed, in
// which the process used cpu, gc of it by the collector.
func summarize(lat [][]time.Duration, oks, notOKs, errs []int, elapsed, cpu, gc time.Duration) result {
	var all []time.Duration
	var r result
	for w := range lat {
		all = append(all, lat[w]...)
		r.ok += oks[w]
		r.notOK += notOKs[w]
		r.errors += errs[w]
	}
	slices.Sort(all)
	if len(all) > 0 {
		r.p50 = all[len(all)/2]
		r.p99 = all[len(all)*99/100]
	}
	r.rps = float64(r.ok) / elapsed.Seconds()
	r.cpuPerReq = cpu / time.Duration(max(r.ok, 1))
	r.cpuShare = cpu.Seconds() / elapsed.Seconds()
	r.gcShare = gc.Seconds() / max(cpu.Seconds(), 1e-9)
	return r
}

// post sends one batch as the tracker does and reads the answer.
func post(client *http.Client, url, origin string, body []byte) (int, error) {
	req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	req.Header.Set("Content-Type", "text/plain")
	req.Header.Set("Origin", origin)
	req.Header.Set("User-Agent", "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15")
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, err
}

// tally counts one answer: a 204 and its latency, another status, or an
// error.
func tally(code int, err error, d time.Duration, ok, notOK, errs *int, lat *[]time.Duration) {
	switch {
	case err != nil:
		*errs++
	case code == http.StatusNoContent:
		*ok++
		*lat = append(*lat, d)
	default:
		*notOK++
	}
}

// loadRate sends batches at a constant rate (open loop: a batch's time to
// be sent does not wait for earlier answers) from up to maxInFlight
// connections, and counts each answer's latency from the batch's scheduled
// time, so a stall shows in p99 instead of slowing the load (coordinated
// omission). A batch due while every connection is busy is not sent and
// counted as late (result.late).
func loadRate(url, origin string, bodies [][]byte, rate float64, maxInFlight int, warm, dur time.Duration) result {
	tr := &http.Transport{MaxIdleConns: maxInFlight, MaxIdleConnsPerHost: maxInFlight, DisableCompression: true}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	due := make(chan time.Time, maxInFlight)
	lat := make([][]time.Duration, maxInFlight)
	oks, notOKs, errs := make([]int, maxInFlight), make([]int, maxInFlight), make([]int, maxInFlight)
	start := time.Now().Add(warm)
	var wg sync.WaitGroup
	for w := range maxInFlight {
		wg.Add(1)
		go pprof.Do(context.Background(), pprof.Labels("part", "load generator"), func(context.Context) {
			defer wg.Done()
			for i := w; ; i += maxInFlight {
				at, open := <-due
				if !open {
					return
				}
				code, err := post(client, url, origin, bodies[i%len(bodies)])
				if !at.Before(start) {
					tally(code, err, time.Since(at), &oks[w], &notOKs[w], &errs[w], &lat[w])
				}
			}
		})
	}
	interval := time.Duration(float64(time.Second) / rate)
	end := start.Add(dur)
	var late int
	var measuring bool
	var cpu0, gc0 time.Duration
	// Schedule by the clock, not by sleeps: every batch due by now goes.
	for at := time.Now(); at.Before(end); at = at.Add(interval) {
		if d := time.Until(at); d > 0 {
			time.Sleep(d)
		}
		if !measuring && !at.Before(start) {
			measuring = true
			cpu0, gc0 = cpuTime(), gcTime()
		}
		select {
		case due <- at:
		default:
			if measuring {
				late++
			}
		}
	}
	cpu, gc := cpuTime()-cpu0, gcTime()-gc0
	close(due)
	wg.Wait()
	r := summarize(lat, oks, notOKs, errs, dur, cpu, gc)
	r.late = late
	return r
}

func verdict(met bool) string {
	if met {
		return "met"
	}
	return "NOT met"
}

func median(rs []result) result {
	s := slices.Clone(rs)
	slices.SortFunc(s, func(a, b result) int { return cmp.Compare(a.rps, b.rps) })
	return s[len(s)/2]
}

func medianF(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)/2]
}

func pct(xs []float64) string {
	var b strings.Builder
	for i, x := range xs {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%.1f%%", x)
	}
	return b.String()
}

// cpuTime is this process's user+system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		log.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// gcTime is the CPU time the garbage collector used so far (runtime/metrics
// estimate: mark assists, dedicated mark workers and pauses; not the idle
// mark workers, which only use CPU nothing else wanted).
func gcTime() time.Duration {
	s := []metrics.Sample{{Name: "/cpu/classes/gc/total:cpu-seconds"}, {Name: "/cpu/classes/gc/mark/idle:cpu-seconds"}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindFloat64 || s[1].Value.Kind() != metrics.KindFloat64 {
		return 0
	}
	return time.Duration((s[0].Value.Float64() - s[1].Value.Float64()) * float64(time.Second))
}

// parts group the profile's functions by what they do; a sample counts in
// every group one of whose functions is on its stack (cumulative), so the
// rows overlap where one part calls another.
var parts = []struct{ name, focus, ignore string }{
	{"HTTP server: connections, request parsing, answers", `net/http\.\(\*conn\)\.serve$`, ""},
	{"  of which the middleware (spans, HTTP metrics), outside the handler", `otelhttp\.\(\*middleware\)\.serveHTTP$`, `svc-ingest\.\(\*Service\)\.serveBatch$`},
	{"  of which the ingest handler (serveBatch)", `svc-ingest\.\(\*Service\)\.serveBatch$`, ""},
	{"    gzip inflate", `klauspost/compress/flate\.\(\*decompressor\)\.Read$|compress/flate\.\(\*decompressor\)\.Read$`, ""},
	{"    envelope decode + validation", `sightline/batch\.Decode$`, ""},
	{"    chunk encode + enrichment", `svc-ingest\.\(\*Service\)\.chunk$`, ""},
	{"    spool append (copy, wake the writer)", `svc-ingest/spool\.\(\*Spool\)\.Append$`, ""},
	{"spool writer (write, fdatasync, zeroing the next segment)", `svc-ingest/spool\.\(\*Spool\)\.(writer|prepare)$`, ""},
	{"forwarder (read spool, gRPC client)", `svc-ingest/forwarder\.\(\*Forwarder\)\.Run$`, ""},
	{"sink: zstd", `klauspost/compress/zstd\.\(\*Encoder\)\.EncodeAll$`, ""},
	{"sink: Pebble (batch, commit, WAL, compactions)", `cockroachdb/pebble`, ""},
	{"gRPC outside forwarder and sink (transports, request decode)", `google\.golang\.org/grpc`, `main\.\(\*sink\)|svc-ingest/forwarder|siteconfig`},
	{"garbage collector", `runtime\.gcBgMarkWorker$|runtime\.bgsweep$|runtime\.gcAssistAlloc$|runtime\.bgscavenge$`, ""},
	{"load generator (client side)", `main\.load\.func|net/http\.\(\*persistConn\)`, ""},
}

// breakdown prints, for each part, its share of the profile and that share
// of the CPU time per request.
func breakdown(prof string, perReq time.Duration) {
	for _, p := range parts {
		args := []string{"tool", "pprof", "-top", "-nodefraction=0", "-nodecount=1000000", "-focus=" + p.focus}
		if p.ignore != "" {
			args = append(args, "-ignore="+p.ignore)
		}
		out, err := exec.Command("go", append(args, prof)...).CombinedOutput()
		if err != nil {
			fmt.Printf("  (pprof: %v)\n", err)
			return
		}
		// With every node shown, "Showing nodes accounting for 1.23s,
		// 35.20% of 3.48s total" sums the focused samples.
		m := focusRe.FindSubmatch(out)
		share := 0.0
		if m != nil {
			if _, err := fmt.Sscan(string(m[1]), &share); err != nil {
				fmt.Printf("  (pprof share %q: %v)\n", m[1], err)
				return
			}
		}
		fmt.Printf("  %-62s %6.1f%% %10s\n", p.name, share, time.Duration(share/100*float64(perReq)).Round(100*time.Nanosecond))
	}
}

var focusRe = regexp.MustCompile(`Active filters:[\s\S]*?Showing nodes accounting for [^,]+, ([0-9.]+)% of`)

func gzipped(b []byte) []byte {
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	if _, err := w.Write(b); err != nil {
		log.Fatal(err)
	}
	w.Close()
	return buf.Bytes()
}

func findTestdata() string {
	for _, p := range []string{"svc-ingest/testdata/batch-chromium.json", "testdata/batch-chromium.json", "../../testdata/batch-chromium.json"} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	log.Fatal("batch-chromium.json not found; pass -batch")
	return ""
}

func serveHTTP(h http.Handler) (string, func()) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(lis)
	return "http://" + lis.Addr().String(), func() { srv.Close() }
}

func serveGRPC(register func(*grpc.Server), opts ...grpc.ServerOption) (string, func()) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	s := grpc.NewServer(append([]grpc.ServerOption{grpc.MaxRecvMsgSize(16 << 20)}, opts...)...)
	register(s)
	go s.Serve(lis)
	return lis.Addr().String(), s.Stop
}

type accounts struct {
	accountsv1.UnimplementedAccountsInternalServiceServer
	site *accountsv1.GetSiteConfigResponse
}

func (a *accounts) GetSiteConfig(context.Context, *accountsv1.GetSiteConfigRequest) (*accountsv1.GetSiteConfigResponse, error) {
	return a.site, nil
}

func (a *accounts) LeaseSessionQuota(_ context.Context, r *accountsv1.LeaseSessionQuotaRequest) (*accountsv1.LeaseSessionQuotaResponse, error) {
	return &accountsv1.LeaseSessionQuotaResponse{Granted: r.GetRequested(), Remaining: 1 << 40, Limit: 1 << 40}, nil
}

func serveAccounts(key, domain string) (string, func()) {
	a := &accounts{site: &accountsv1.GetSiteConfigResponse{
		SiteId: 5_000_000_001, OrganizationId: 7_000_000_001, SiteKey: key, Domains: []string{domain},
		Settings: &accountsv1.SiteSettings{RecordingEnabled: true, SampleRate: 1},
		Plan:     &accountsv1.Plan{Name: "bench", SessionsPerDay: 10_000_000}, Etag: "bench",
	}}
	return serveGRPC(func(s *grpc.Server) { accountsv1.RegisterAccountsInternalServiceServer(s, a) })
}

// sink stores chunks like recordings' embedded write path: zstd-compressed
// value under (site, session, seq) in Pebble, one synced batch per call. It
// decodes the request itself (see lazyCodec), so its decode shows under
// its label.
type sink struct {
	recordingsv1.UnimplementedRecordingsInternalServiceServer
	db      *pebble.DB
	enc     *zstd.Encoder
	stored  atomic.Int64
	calls   atomic.Int64
	discard atomic.Bool
}

func newSink(dir string) (*sink, error) {
	db, err := pebble.Open(dir, &pebble.Options{})
	if err != nil {
		return nil, fmt.Errorf("sink: open pebble: %w", err)
	}
	enc, _ := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedDefault))
	return &sink{db: db, enc: enc}, nil
}

func (s *sink) AppendChunks(ctx context.Context, r *recordingsv1.AppendChunksRequest) (resp *recordingsv1.AppendChunksResponse, err error) {
	pprof.Do(ctx, pprof.Labels("part", "sink (recordings' work)"), func(context.Context) { resp, err = s.appendChunks(r) })
	return resp, err
}

// lazyCodec leaves AppendChunksRequest undecoded (its bytes kept as the
// message's unknown fields) so that the sink decides: the Pebble sink
// decodes it as recordings would; the discarding sink, standing for a
// recordings on other machines, only counts the chunks — decoding them is
// recordings' work, not ingest's.
type lazyCodec struct{ encoding.CodecV2 }

func (c lazyCodec) Unmarshal(data mem.BufferSlice, v any) error {
	if m, ok := v.(*recordingsv1.AppendChunksRequest); ok {
		m.ProtoReflect().SetUnknown(data.Materialize()) // a copy: data is freed on return
		return nil
	}
	return c.CodecV2.Unmarshal(data, v)
}

func (s *sink) appendChunks(lazy *recordingsv1.AppendChunksRequest) (*recordingsv1.AppendChunksResponse, error) {
	raw := lazy.ProtoReflect().GetUnknown()
	if s.discard.Load() {
		n := int32(0)
		for len(raw) > 0 {
			num, typ, k := protowire.ConsumeTag(raw)
			if k < 0 {
				return nil, status.Error(codes.InvalidArgument, "sink: malformed request")
			}
			m := protowire.ConsumeFieldValue(num, typ, raw[k:])
			if m < 0 {
				return nil, status.Error(codes.InvalidArgument, "sink: malformed request")
			}
			if num == 1 {
				n++
			}
			raw = raw[k+m:]
		}
		return &recordingsv1.AppendChunksResponse{Stored: n}, nil
	}
	r := &recordingsv1.AppendChunksRequest{}
	if err := proto.Unmarshal(raw, r); err != nil {
		return nil, status.Error(codes.InvalidArgument, "sink: "+err.Error())
	}
	b := s.db.NewBatch()
	defer b.Close()
	for _, c := range r.GetChunks() {
		raw, err := proto.Marshal(c)
		if err != nil {
			return nil, err
		}
		key := binary.BigEndian.AppendUint64(nil, uint64(c.GetSiteId()))
		key = append(key, c.GetSessionId()...)
		key = binary.BigEndian.AppendUint64(key, uint64(c.GetSeq()))
		if err := b.Set(key, s.enc.EncodeAll(raw, nil), nil); err != nil {
			return nil, err
		}
	}
	if err := b.Commit(pebble.Sync); err != nil {
		return nil, err
	}
	s.calls.Add(1)
	s.stored.Add(int64(len(r.GetChunks())))
	return &recordingsv1.AppendChunksResponse{Stored: int32(len(r.GetChunks()))}, nil
}

func (s *sink) close() { s.db.Close() }
