// Command benchrecordings measures svc-recordings on this machine: append
// throughput through a real gRPC socket against a bare Pebble reference
// (same bytes, same batching, Sync per batch), time to first chunk when
// streaming a 30-minute recording (from the start and seeking), and bytes
// stored per recorded minute.
//
//	go run ./svc-recordings/cmd/benchrecordings -sessions 8 -minutes 30
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	cpebble "github.com/cockroachdb/pebble/v2"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	recordingsv1 "github.com/sightlinehq/sightline/gen/sightline/recordings/v1"
	sessionsv1 "github.com/sightlinehq/sightline/gen/sightline/sessions/v1"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"

	"github.com/sightlinehq/sightline/internal/cpuprofile"
	"github.com/sightlinehq/sightline/internal/dirsize"
	"github.com/sightlinehq/sightline/siteaccess/siteaccesstest"
	recordings "github.com/sightlinehq/sightline/svc-recordings"
)

// recordingsClient calls both of recordings' contracts: the internal one
// ingest appends through and the dashboard's reads.
type recordingsClient struct {
	recordingsv1.RecordingsServiceClient
	recordingsv1.RecordingsInternalServiceClient
}

func main() {
	sessions := flag.Int("sessions", 8, "sessions to record")
	minutes := flag.Int("minutes", 30, "length of each session")
	chunkEvery := flag.Duration("chunk-every", 5*time.Second, "tracker batch interval")
	batch := flag.Int("batch", 32, "chunks per AppendChunks call")
	workers := flag.Int("concurrency", 4, "concurrent AppendChunks callers")
	compression := flag.String("compression", "", "zstd level (default: the service's)")
	streams := flag.Int("streams", 7, "StreamRecording repetitions (median reported)")
	cpuprofileFlag := flag.String("cpuprofile", "", "write a CPU profile of the run here")
	captured := flag.String("captured", "svc-ingest/testdata", "directory of captured real-browser batches (wire-format envelopes, *.json)")
	captureAssets := flag.Bool("capture-assets", true, "chunks ask for asset capture (extraction runs; fetches fail at a resolver that answers at once)")
	zstdRounds := flag.Int("zstd", 0, "only compare zstd encoder configurations on the same chunks, this many interleaved rounds")
	flag.Parse()
	if *zstdRounds > 0 {
		var chunks [][]byte
		for s := range *sessions {
			bs, _ := syntheticSession(uint64(s+1), *minutes, chunkEvery.Milliseconds())
			chunks = append(chunks, bs...)
		}
		if err := compareZstd("synthetic", chunks, float64(*sessions**minutes), *zstdRounds); err != nil {
			log.Fatal(err)
		}
		real, err := loadCaptured(*captured)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			log.Fatal(err)
		}
		chunks = chunks[:0]
		for range 1000 { // rusage counts in ticks: enough work per round
			for _, c := range real {
				chunks = append(chunks, c.Events)
			}
		}
		if len(chunks) > 0 {
			if err := compareZstd("captured real-browser", chunks, 0, *zstdRounds); err != nil {
				log.Fatal(err)
			}
		}
		return
	}
	stopProfile, err := cpuprofile.Start(*cpuprofileFlag)
	if err != nil {
		log.Fatal(err)
	}
	defer stopProfile()
	if err := run(*sessions, *minutes, *chunkEvery, *batch, *workers, *compression, *streams, *captured, *captureAssets); err != nil {
		stopProfile()
		log.Fatal(err)
	}
}

func run(nSessions, minutes int, chunkEvery time.Duration, batch, workers int, compression string, streams int, capturedDir string, captureAssets bool) error {
	ctx := context.Background()
	fmt.Printf("data: synthetic rrweb sessions, %d × %d min, a chunk every %v (captured real-browser batches, if any, reported at the end)\n", nSessions, minutes, chunkEvery)
	var chunks []*recordingsv1.Chunk
	var raw int64
	perSession := 0
	for s := range nSessions {
		bs, urls := syntheticSession(uint64(s+1), minutes, chunkEvery.Milliseconds())
		perSession = len(bs)
		for i, b := range bs {
			chunks = append(chunks, &recordingsv1.Chunk{
				SiteId: 3_000_000_001, OrganizationId: 4_000_000_001,
				SessionId: fmt.Sprintf("s_bench%015d", s), VisitorId: fmt.Sprintf("v_bench%015d", s),
				PageViewId: fmt.Sprintf("p_bench%09d%06d", s, i/60), Seq: int64(i), Url: urls[i],
				Events: b, ServerTime: timestamppb.Now(), Viewport: &recordingsv1.Viewport{Width: 1440, Height: 900},
				Client: &sessionsv1.Client{Browser: "Chrome", Os: "macOS", Country: "DE"}, CaptureAssets: captureAssets,
			})
			raw += int64(len(b))
		}
	}
	// Interleave sessions as a forwarder would deliver them.
	slices.SortStableFunc(chunks, func(a, b *recordingsv1.Chunk) int { return int(a.Seq - b.Seq) })
	var batches [][]*recordingsv1.Chunk
	for i := 0; i < len(chunks); i += batch {
		batches = append(batches, chunks[i:min(i+batch, len(chunks))])
	}
	fmt.Printf("chunks: %d (%d per session), raw events %.1f MB, mean chunk %.1f KB\n",
		len(chunks), perSession, float64(raw)/1e6, float64(raw)/float64(len(chunks))/1e3)

	// Reference: bare Pebble, same raw bytes and batching, Sync per batch.
	refDir, err := os.MkdirTemp("", "benchrecordings-ref-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(refDir)
	refDur, err := bareepebble(refDir, batches, workers)
	if err != nil {
		return err
	}

	dir, err := os.MkdirTemp("", "benchrecordings-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	var cfg recordings.Config
	fs := flag.NewFlagSet("recordings", flag.ContinueOnError)
	cfg.RegisterFlags(fs)
	if compression != "" {
		if err := fs.Parse([]string{"-recordings.compression=" + compression}); err != nil {
			return err
		}
	}
	reader := sdkmetric.NewManualReader()
	fmt.Printf("zstd level: %s\n", cfg.Compression)
	svc, err := recordings.New(ctx, cfg, recordings.Deps{Authorizer: siteaccesstest.AllowAll{}, DataDir: dir, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		AssetResolver: noDNS{}, MeterProvider: sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))})
	if err != nil {
		return err
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srv := grpc.NewServer(grpc.MaxRecvMsgSize(64 << 20))
	recordingsv1.RegisterRecordingsServiceServer(srv, svc)
	recordingsv1.RegisterRecordingsInternalServiceServer(srv, svc.Internal())
	go srv.Serve(lis)
	defer srv.Stop()
	cc, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallSendMsgSize(64<<20), grpc.MaxCallRecvMsgSize(64<<20)))
	if err != nil {
		return err
	}
	defer cc.Close()
	client := recordingsClient{recordingsv1.NewRecordingsServiceClient(cc), recordingsv1.NewRecordingsInternalServiceClient(cc)}

	runCtx, stopRun := context.WithCancel(ctx)
	defer stopRun()
	runDone := make(chan struct{})
	go func() { // asset capture's workers
		defer close(runDone)
		if err := svc.Run(runCtx); err != nil && runCtx.Err() == nil {
			log.Printf("recordings run: %v", err)
		}
	}()
	cpu0, alloc0 := processCPU(), allocated()
	began := time.Now()
	err = parallel(batches, workers, func(b []*recordingsv1.Chunk) error {
		res, err := client.AppendChunks(ctx, &recordingsv1.AppendChunksRequest{Chunks: b})
		if err == nil && int(res.Stored) != len(b) {
			err = fmt.Errorf("stored %d of %d", res.Stored, len(b))
		}
		return err
	})
	if err != nil {
		return err
	}
	dur := time.Since(began)
	alloc := allocated() - alloc0
	cpu := settledCPU() - cpu0
	fmt.Printf("append (gRPC → validate, summary, zstd, Pebble Sync): %8.0f chunks/s  %6.1f MB/s raw\n",
		float64(len(chunks))/dur.Seconds(), float64(raw)/1e6/dur.Seconds())
	fmt.Printf("reference (bare Pebble Set+Sync, same bytes/batches):    %8.0f chunks/s  %6.1f MB/s raw\n",
		float64(len(chunks))/refDur.Seconds(), float64(raw)/1e6/refDur.Seconds())
	fmt.Printf("ratio service/reference throughput: %.2f\n", refDur.Seconds()/dur.Seconds())
	drops, err := counter(ctx, reader, "recordings.assets.queue_drops")
	if err != nil {
		return err
	}
	fmt.Printf("append CPU (process, until idle again: client, asset extraction, compactions included): %.1f µs/chunk, %.1f KB allocated/chunk; asset capture %v, chunks not read for assets (queue full): %d\n",
		float64(cpu.Microseconds())/float64(len(chunks)), float64(alloc)/1e3/float64(len(chunks)), captureAssets, drops)

	// Streaming a 30-minute recording.
	sess := chunks[0].SessionId
	ttfc := func(offset time.Duration) (first, all time.Duration, n int, err error) {
		t := time.Now()
		st, err := client.StreamRecording(ctx, &recordingsv1.StreamRecordingRequest{SiteId: 3_000_000_001, SessionId: sess, StartOffset: durationpb.New(offset)})
		if err != nil {
			return 0, 0, 0, err
		}
		for {
			_, err := st.Recv()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return 0, 0, 0, err
			}
			if n == 0 {
				first = time.Since(t)
			}
			n++
		}
		return first, time.Since(t), n, nil
	}
	for _, off := range []time.Duration{0, time.Duration(minutes) * time.Minute / 2} {
		var firsts, alls []time.Duration
		var n int
		for range streams {
			f, a, k, err := ttfc(off)
			if err != nil {
				return err
			}
			firsts, alls, n = append(firsts, f), append(alls, a), k
		}
		slices.Sort(firsts)
		slices.Sort(alls)
		fmt.Printf("stream %d-min recording from offset %v: first chunk %v, all %d chunks %v (median of %d)\n",
			minutes, off, firsts[len(firsts)/2].Round(time.Microsecond), n, alls[len(alls)/2].Round(time.Microsecond), streams)
	}

	// Bytes per recorded minute.
	var stored int64
	for s := range nSessions {
		r, err := client.GetSession(ctx, &recordingsv1.GetSessionRequest{SiteId: 3_000_000_001, SessionId: fmt.Sprintf("s_bench%015d", s)})
		if err != nil {
			return err
		}
		stored += r.Session.StoredBytes
	}
	recMin := float64(nSessions * minutes)
	real, err := loadCaptured(capturedDir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	if err := reportCaptured(ctx, client, real); err != nil {
		return err
	}
	srv.Stop()
	stopRun()
	<-runDone
	if err := svc.Close(); err != nil {
		return err
	}
	disk, err := dirsize.Of(filepath.Join(dir, "recordings"))
	if err != nil {
		return err
	}
	fmt.Printf("raw events per recorded minute:     %7.1f KB\n", float64(raw)/1e3/recMin)
	fmt.Printf("stored chunk bytes per minute:      %7.1f KB  (compression %.1fx; goal ≤ 60 KB)\n", float64(stored)/1e3/recMin, float64(raw)/float64(stored))
	fmt.Printf("Pebble directory per minute:        %7.1f KB  (incl. WAL, stats, summaries, outbox)\n", float64(disk)/1e3/recMin)
	return nil
}

func parallel(batches [][]*recordingsv1.Chunk, workers int, fn func([]*recordingsv1.Chunk) error) error {
	var wg sync.WaitGroup
	var mu sync.Mutex
	var first error
	next := 0
	for range workers {
		wg.Go(func() {
			for {
				mu.Lock()
				if next >= len(batches) || first != nil {
					mu.Unlock()
					return
				}
				b := batches[next]
				next++
				mu.Unlock()
				if err := fn(b); err != nil {
					mu.Lock()
					first = err
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	return first
}

func bareepebble(dir string, batches [][]*recordingsv1.Chunk, workers int) (time.Duration, error) {
	db, err := cpebble.Open(dir, &cpebble.Options{Logger: quiet{}})
	if err != nil {
		return 0, err
	}
	defer db.Close()
	began := time.Now()
	err = parallel(batches, workers, func(bs []*recordingsv1.Chunk) error {
		b := db.NewBatch()
		defer b.Close()
		for _, c := range bs {
			k := fmt.Appendf(nil, "c%d/%s/%016x", c.SiteId, c.SessionId, c.Seq)
			if err := b.Set(k, c.Events, nil); err != nil {
				return err
			}
		}
		return b.Commit(cpebble.Sync)
	})
	return time.Since(began), err
}

type quiet struct{}

func (quiet) Infof(string, ...any)         {}
func (quiet) Errorf(string, ...any)        {}
func (quiet) Fatalf(f string, args ...any) { log.Fatalf(f, args...) }
