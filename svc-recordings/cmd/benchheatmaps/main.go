// Command benchheatmaps measures heatmaps on this machine, in one run:
//
//  1. AppendChunks cost of the same chunks (carrying the tracker's heat
//     events, sl:view and sl:click) on a service with heatmaps on and one
//     with them off (recordings.heatmaps=false), in interleaved rounds
//     (goal ≤ 1.10×). Each service is a process of its own (this command
//     with -serve), so the CPU charged to each (from /proc, its Pebble
//     compactions and GC included) is its own; each "on" round ends with a
//     GetHeatmap, which merges the round's queued aggregates first. A third
//     process keeps the earlier measure: heatmaps on, batches without the
//     heat events.
//  2. GetHeatmap (click map) of one page key holding -clicks clicks spread
//     over -days UTC days, through the real gRPC service on the embedded
//     (Pebble) store: p50/p95 over -calls calls (goal p95 ≤ 100 ms). The
//     clicks are stored as a tracker sends them — AppendChunks of batches
//     opened by sl:view, each click followed by sl:click — so the
//     aggregates are built by the same code as in production.
//
// Usage:
//
//	go run ./svc-recordings/cmd/benchheatmaps [-clicks 1000000] [-place-step 1] [-profiles DIR]
package main

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"log/slog"
	"math"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	recordingsv1 "github.com/sightlinehq/sightline/gen/sightline/recordings/v1"
	searchv1 "github.com/sightlinehq/sightline/gen/sightline/search/v1"
	sessionsv1 "github.com/sightlinehq/sightline/gen/sightline/sessions/v1"
	"github.com/sightlinehq/sightline/internal/cpuprofile"
	"github.com/sightlinehq/sightline/siteaccess/siteaccesstest"
	recordings "github.com/sightlinehq/sightline/svc-recordings"
)

const (
	mapSite   = int64(3_000_000_001)
	heatSite  = int64(3_000_000_002)
	plainSite = int64(3_000_000_003)
	pageURL   = "https://shop.example.com/product/espresso-machine?utm_source=mail"
	dayMs     = int64(24 * time.Hour / time.Millisecond)
)

type options struct {
	clicks, days, perChunk, chunksPerVisit, elements, step int
	batch, workers, calls, rounds, roundVisits             int
	profiles                                               string
	interleave                                             bool
}

func main() {
	var o options
	flag.IntVar(&o.clicks, "clicks", 1_000_000, "clicks stored on the measured page key")
	flag.IntVar(&o.days, "days", 30, "UTC days the clicks are spread over (ending today)")
	flag.IntVar(&o.perChunk, "clicks-per-chunk", 20, "clicks in one tracker batch")
	flag.IntVar(&o.chunksPerVisit, "chunks-per-visit", 2, "batches of one page view")
	flag.IntVar(&o.elements, "elements", 150, "clickable elements of the page (clicks spread over them by a Zipf law)")
	flag.IntVar(&o.step, "place-step", 1, "steps (in %) of a click's place in its element's box: 1 is what the tracker sends; larger simulates coarser cells")
	flag.IntVar(&o.batch, "batch", 64, "chunks per AppendChunks call")
	flag.IntVar(&o.workers, "concurrency", 4, "concurrent AppendChunks callers while loading")
	flag.IntVar(&o.calls, "calls", 50, "GetHeatmap calls measured (a fifth of them for the variants)")
	flag.IntVar(&o.rounds, "rounds", 10, "interleaved rounds of the append comparison (0: GetHeatmap only)")
	flag.IntVar(&o.roundVisits, "round-visits", 96, "page views (12 batches each) per variant per round")
	flag.BoolVar(&o.interleave, "interleave", false, "append comparison: each call holds one batch of each of 48 page views, in batch order (a live site's calls: every append rewrites its session's row and outbox entry), instead of 4 whole page views")
	cpuprofileFlag := flag.String("cpuprofile", "", "write a CPU profile of the run here")
	memprofile := flag.String("memprofile", "", "write an allocation profile of the run here (at its end)")
	flag.StringVar(&o.profiles, "profiles", "", "write CPU and allocation profiles of the append comparison's service processes into this directory")
	serveMode := flag.String("serve", "", "internal: serve recordings with heatmaps on or off until stdin closes (the append comparison's processes)")
	flag.Parse()
	stopProfile, err := cpuprofile.Start(*cpuprofileFlag)
	if err != nil {
		log.Fatal(err)
	}
	defer stopProfile()
	work := func(ctx context.Context) error { return run(ctx, o) }
	if *serveMode != "" {
		work = func(ctx context.Context) error { return serve(ctx, *serveMode) }
	}
	if err := work(context.Background()); err != nil {
		stopProfile()
		log.Fatal(err)
	}
	if err := writeAllocs(*memprofile); err != nil {
		log.Fatal(err)
	}
}

// writeAllocs writes the allocation profile (every allocation since the
// start, sampled) to path; "" writes nothing.
func writeAllocs(path string) error {
	if path == "" {
		return nil
	}
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("allocation profile: %w", err)
	}
	if err := pprof.Lookup("allocs").WriteTo(f, 0); err != nil {
		f.Close()
		return fmt.Errorf("allocation profile: %w", err)
	}
	return f.Close()
}

// service is svc-recordings on a loopback gRPC socket over a fresh Pebble
// directory.
// recordingsClient calls both of recordings' contracts: the dashboard's
// (GetHeatmap) and the internal one ingest appends through.
type recordingsClient struct {
	recordingsv1.RecordingsServiceClient
	recordingsv1.RecordingsInternalServiceClient
}

type service struct {
	client recordingsClient
	close  func()
}

func startService(ctx context.Context, heatmaps bool) (*service, string, error) {
	dir, err := os.MkdirTemp("", "benchheatmaps-")
	if err != nil {
		return nil, "", err
	}
	var cfg recordings.Config
	fs := flag.NewFlagSet("recordings", flag.ContinueOnError)
	cfg.RegisterFlags(fs)
	if err := fs.Parse([]string{"-recordings.heatmaps=" + strconv.FormatBool(heatmaps)}); err != nil {
		return nil, "", err
	}
	svc, err := recordings.New(ctx, cfg, recordings.Deps{Authorizer: siteaccesstest.AllowAll{}, DataDir: dir, Search: takingSearch{},
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		os.RemoveAll(dir)
		return nil, "", err
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		svc.Close()
		os.RemoveAll(dir)
		return nil, "", err
	}
	// The service's background work runs as in the product: the outbox
	// relay delivering summaries to search (takingSearch), notify's
	// events, asset capture.
	runCtx, stopRun := context.WithCancel(ctx)
	ran := make(chan error, 1)
	go func() { ran <- svc.Run(runCtx) }()
	srv := grpc.NewServer(grpc.MaxRecvMsgSize(64 << 20))
	recordingsv1.RegisterRecordingsServiceServer(srv, svc)
	recordingsv1.RegisterRecordingsInternalServiceServer(srv, svc.Internal())
	go srv.Serve(lis)
	stop := func() {
		srv.Stop()
		stopRun()
		if err := <-ran; err != nil && !errors.Is(err, context.Canceled) {
			log.Printf("recordings: %v", err)
		}
		svc.Close()
		os.RemoveAll(dir)
	}
	cc, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallSendMsgSize(64<<20), grpc.MaxCallRecvMsgSize(64<<20)))
	if err != nil {
		stop()
		return nil, "", err
	}
	return &service{client: recordingsClient{recordingsv1.NewRecordingsServiceClient(cc), recordingsv1.NewRecordingsInternalServiceClient(cc)}, close: func() {
		cc.Close()
		stop()
	}}, lis.Addr().String(), nil
}

// takingSearch stands in for search, which the product's recordings hands
// each session's summary through its outbox: it takes every delivery, so
// the outbox drains as in the product. (Undrained, the outbox kept every
// entry — with heatmaps on, each session's clicked elements — and the
// store rewrote them in its compactions, which the product does not.) What
// search does with a summary is search's cost, not an append's.
type takingSearch struct {
	searchv1.SearchInternalServiceClient
}

func (takingSearch) UpsertSessions(_ context.Context, req *searchv1.UpsertSessionsRequest, _ ...grpc.CallOption) (*searchv1.UpsertSessionsResponse, error) {
	return &searchv1.UpsertSessionsResponse{Upserted: int32(len(req.GetSessions()))}, nil
}

func (takingSearch) DeleteSessions(_ context.Context, req *searchv1.DeleteSessionsRequest, _ ...grpc.CallOption) (*searchv1.DeleteSessionsResponse, error) {
	return &searchv1.DeleteSessionsResponse{}, nil
}

// run measures appends first, in service processes of their own, then
// GetHeatmap on a service in this process.
func run(ctx context.Context, o options) error {
	if o.rounds < 0 {
		return fmt.Errorf("-rounds %d: want 0 or more", o.rounds)
	}
	if o.rounds > 0 {
		if err := benchAppend(ctx, o); err != nil {
			return err
		}
	}
	s, _, err := startService(ctx, true)
	if err != nil {
		return err
	}
	defer s.close()
	return benchGetHeatmap(ctx, s.client, o)
}

// visitGen writes a visitor's batches of one page view.
type visitGen struct {
	r        *rand.Rand
	zipf     *rand.Zipf
	elements []string
	step     int
	withHeat bool
	snap     []byte
}

func newVisitGen(seed uint64, elements, step int, withHeat bool) *visitGen {
	r := rand.New(rand.NewPCG(seed, 13))
	g := &visitGen{r: r, zipf: rand.NewZipf(r, 1.1, 4, uint64(elements-1)), step: max(step, 1), withHeat: withHeat, snap: snapshot(r)}
	for i := range elements {
		g.elements = append(g.elements, fmt.Sprintf("body>main>section:nth-of-type(%d)>div.c-card>a.c-link-%d", i/8+1, i))
	}
	return g
}

// pct is where in its box a visitor clicks: around the middle.
func (g *visitGen) pct() int {
	p := min(max(50+g.r.NormFloat64()*15, 0), 100)
	return int(math.Round(p/float64(g.step))) * g.step
}

// batch is one tracker batch: sl:view, pointer samples every 500 ms,
// a scroll now and then, clicks (each with sl:click and the page's
// reaction) and small mutations; the first batch of a page view opens with
// Meta and a full snapshot. The JSON is written by hand: encoding/json of
// maps cost more than the service's whole append in a profile.
func (g *visitGen) batch(start int64, first bool, clicks int, scrollY *int) []byte {
	const docH, vh = 4200, 900
	type event struct {
		t    int64
		json []byte
	}
	var evs []event
	add := func(t int64, format string, args ...any) {
		evs = append(evs, event{t, fmt.Appendf(nil, `{"type":%s,"timestamp":%d,"data":`, format[:1], t)})
		e := &evs[len(evs)-1]
		e.json = append(fmt.Appendf(e.json, format[1:], args...), '}')
	}
	ts := start
	if g.withHeat {
		add(ts, `5{"tag":"sl:view","payload":{"x":0,"y":%d,"w":1440,"h":%d,"v":%d,"d":1}}`, *scrollY, docH, vh)
	}
	if first {
		add(ts+1, `4{"href":%q,"width":1440,"height":%d}`, pageURL, vh)
		add(ts+2, `2%s`, g.snap)
	}
	mx, my := 700.0, 400.0
	for i := range 10 {
		t := ts + int64(i)*500 + 40
		pos := make([]byte, 0, 256)
		for k := range 6 {
			mx = min(max(mx+g.r.NormFloat64()*30, 0), 1439)
			my = min(max(my+g.r.NormFloat64()*25, 0), vh-1)
			if k > 0 {
				pos = append(pos, ',')
			}
			pos = fmt.Appendf(pos, `{"x":%d,"y":%d,"id":%d,"timeOffset":%d}`, int(mx), int(my), 5+g.r.IntN(300), -400+k*80)
		}
		add(t, `3{"source":1,"positions":[%s]}`, pos)
		if g.r.IntN(4) == 0 {
			*scrollY = min(max(*scrollY+g.r.IntN(900)-300, 0), docH-vh)
			add(t+100, `3{"source":3,"id":1,"x":0,"y":%d}`, *scrollY)
		}
		if i%3 == 1 {
			add(t+150, `3{"source":0,"texts":[{"id":%d,"value":"in stock"}],"attributes":[],"removes":[],"adds":[]}`, 5+g.r.IntN(300))
		}
	}
	for c := range clicks {
		t := ts + int64(c)*900 + 300
		el := int(g.zipf.Uint64())
		id := 100 + el
		add(t, `3{"source":2,"type":2,"id":%d,"x":%d,"y":%d}`, id, 100+g.r.IntN(1200), 100+g.r.IntN(700))
		if g.withHeat {
			add(t+1, `5{"tag":"sl:click","payload":{"id":%d,"s":%q,"rx":%d,"ry":%d}}`, id, g.elements[el], g.pct(), g.pct())
		}
		add(t+80, `3{"source":0,"attributes":[{"id":%d,"attributes":{"class":"c-link is-active"}}],"texts":[],"removes":[],"adds":[]}`, id)
	}
	slices.SortStableFunc(evs, func(a, b event) int { return cmp.Compare(a.t, b.t) })
	out := []byte{'['}
	for i, e := range evs {
		if i > 0 {
			out = append(out, ',')
		}
		out = append(out, e.json...)
	}
	return append(out, ']')
}

// snapshot is a full snapshot's data: a product page of ~130 nodes.
func snapshot(r *rand.Rand) []byte {
	var b []byte
	b = append(b, `{"node":{"type":0,"id":1,"childNodes":[{"type":2,"tagName":"html","id":2,"attributes":{},"childNodes":[{"type":2,"tagName":"body","id":5,"attributes":{},"childNodes":[`...)
	id := 6
	for s := range 5 {
		if s > 0 {
			b = append(b, ',')
		}
		b = fmt.Appendf(b, `{"type":2,"tagName":"section","id":%d,"attributes":{},"childNodes":[`, id)
		id++
		for c := range 8 {
			if c > 0 {
				b = append(b, ',')
			}
			b = fmt.Appendf(b, `{"type":2,"tagName":"div","id":%d,"attributes":{"class":"c-card"},"childNodes":[{"type":2,"tagName":"a","id":%d,"attributes":{"class":"c-link-%d","href":"/p/%d"},"childNodes":[{"type":3,"id":%d,"textContent":"Espresso machine, 15 bar, stainless steel"}]}]}`,
				id, id+1, s*8+c, r.IntN(1e6), id+2)
			id += 3
		}
		b = append(b, "]}"...)
	}
	return append(b, `]}]}]},"initialOffset":{"top":0,"left":0}}`...)
}

// visit is the chunks of one page view of a visitor, stored at server time.
func (g *visitGen) visit(siteID int64, n int, server time.Time, chunks, clicks int) []*recordingsv1.Chunk {
	devices := []sessionsv1.DeviceType{sessionsv1.DeviceType_DEVICE_TYPE_DESKTOP, sessionsv1.DeviceType_DEVICE_TYPE_DESKTOP, sessionsv1.DeviceType_DEVICE_TYPE_MOBILE, sessionsv1.DeviceType_DEVICE_TYPE_TABLET}
	device := devices[g.r.IntN(len(devices))]
	var out []*recordingsv1.Chunk
	scrollY := 0
	for seq := range chunks {
		ts := server.UnixMilli() + int64(seq)*5000
		out = append(out, &recordingsv1.Chunk{
			SiteId: siteID, OrganizationId: 4_000_000_001,
			SessionId: fmt.Sprintf("s_heat%016d", n), VisitorId: fmt.Sprintf("v_heat%016d", n), PageViewId: fmt.Sprintf("p_heat%016d", n),
			Seq: int64(seq), Url: pageURL, Events: g.batch(ts, seq == 0, clicks, &scrollY),
			ServerTime: timestamppb.New(time.UnixMilli(ts)), Viewport: &recordingsv1.Viewport{Width: 1440, Height: 900},
			Client: &sessionsv1.Client{DeviceType: device, Browser: "Chrome", Os: "macOS", Country: "DE"},
		})
	}
	return out
}

func append1(ctx context.Context, c recordingsClient, chunks []*recordingsv1.Chunk) error {
	res, err := c.AppendChunks(ctx, &recordingsv1.AppendChunksRequest{Chunks: chunks})
	if err != nil {
		return err
	}
	if int(res.Stored) != len(chunks) {
		return fmt.Errorf("stored %d of %d chunks (%v)", res.Stored, len(chunks), res.Results[0])
	}
	return nil
}

func benchGetHeatmap(ctx context.Context, client recordingsClient, o options) error {
	perVisit := o.perChunk * o.chunksPerVisit
	visits := (o.clicks + perVisit - 1) / perVisit
	today := time.Now().UTC().Truncate(24 * time.Hour)
	first := today.AddDate(0, 0, -(o.days - 1))
	fmt.Printf("GetHeatmap: storing %d clicks on one page key over %d days through AppendChunks: %d page views × %d batches × %d clicks, %d elements (Zipf), places in %d%% steps, %d callers × %d chunks per call\n",
		visits*perVisit, o.days, visits, o.chunksPerVisit, o.perChunk, o.elements, o.step, o.workers, o.batch)
	began := time.Now()
	var next, chunks, bytes atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, o.workers)
	perCall := max(o.batch/o.chunksPerVisit, 1)
	for w := range o.workers {
		wg.Go(func() {
			g := newVisitGen(uint64(w)+1, o.elements, o.step, true)
			for {
				from := int(next.Add(int64(perCall))) - perCall
				if from >= visits {
					return
				}
				var batch []*recordingsv1.Chunk
				for v := from; v < min(from+perCall, visits); v++ {
					// Visits spread evenly over the days, at any time of day.
					day := first.AddDate(0, 0, v%o.days)
					at := day.Add(time.Duration(g.r.Int64N(dayMs-60_000)) * time.Millisecond)
					if at.After(time.Now()) {
						at = day
					}
					batch = append(batch, g.visit(mapSite, v, at, o.chunksPerVisit, o.perChunk)...)
				}
				for _, c := range batch {
					bytes.Add(int64(len(c.Events)))
				}
				if err := append1(ctx, client, batch); err != nil {
					errs <- err
					return
				}
				chunks.Add(int64(len(batch)))
			}
		})
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return err
	}
	load := time.Since(began)
	fmt.Printf("  stored %d chunks (%.0f MB of events) in %v: %.0f chunks/s (generating them included)\n",
		chunks.Load(), float64(bytes.Load())/1e6, load.Round(time.Second), float64(chunks.Load())/load.Seconds())

	// The load leaves Pebble flushing and compacting for a moment; the
	// calls are measured once the process is idle, so that their CPU is
	// their own (measured among that work, one binary's p95 ranged from 52
	// to 116 ms over six runs, three above 100; once idle, 57 to 80 ms over
	// five).
	settled, idle := waitIdle(2 * time.Minute)
	fmt.Printf("  idle %v after the load (background work done: %v)\n", settled.Round(100*time.Millisecond), idle)

	req := &recordingsv1.GetHeatmapRequest{SiteId: mapSite, Kind: recordingsv1.HeatmapKind_HEATMAP_KIND_CLICK,
		Page:      &searchv1.UrlMatch{Operator: searchv1.UrlMatch_OPERATOR_EQUALS, Value: pageURL},
		StartTime: timestamppb.New(first), EndTime: timestamppb.Now()}
	// CPU time per call (the process's: service and client, nothing else
	// runs meanwhile) is reported with the wall times, which other load on
	// the machine inflates.
	var cpu time.Duration
	measure := func(req *recordingsv1.GetHeatmapRequest, calls int) (p50, p95 time.Duration, last *recordingsv1.GetHeatmapResponse, err error) {
		var ds []time.Duration
		defer func(c0 time.Duration) { cpu = (cpuTime() - c0) / time.Duration(calls+3) }(cpuTime())
		for i := range calls + 3 {
			t := time.Now()
			resp, err := client.GetHeatmap(ctx, req)
			if err != nil {
				return 0, 0, nil, err
			}
			if i >= 3 { // the first calls warm Pebble's block cache
				ds = append(ds, time.Since(t))
			}
			last = resp
		}
		slices.Sort(ds)
		return ds[len(ds)/2], ds[(len(ds)*95+99)/100-1], last, nil
	}
	p50, p95, resp, err := measure(req, o.calls)
	if err != nil {
		return err
	}
	if resp.Total != int64(visits*perVisit) {
		return fmt.Errorf("the map counts %d clicks, %d were stored", resp.Total, visits*perVisit)
	}
	fmt.Printf("  answer: %d clicks, %d sessions, %d element cells (truncated %v), %d elements, %.1f MB, days %s – %s\n",
		resp.Total, resp.Sessions, len(resp.Clicks), resp.Truncated, len(resp.Elements), float64(proto.Size(resp))/1e6,
		resp.StartTime.AsTime().Format(time.DateOnly), resp.EndTime.AsTime().Format(time.DateOnly))
	if err := downloadSize(resp); err != nil {
		return err
	}
	fmt.Printf("GetHeatmap click map, %d days, default max_cells: p50 %v  p95 %v over %d calls (goal p95 ≤ 100 ms); CPU %v per call\n",
		o.days, p50.Round(100*time.Microsecond), p95.Round(100*time.Microsecond), o.calls, cpu.Round(100*time.Microsecond))
	small := proto.Clone(req).(*recordingsv1.GetHeatmapRequest)
	small.MaxCells = 2000
	p50s, p95s, _, err := measure(small, max(o.calls/5, 10))
	if err != nil {
		return err
	}
	fmt.Printf("GetHeatmap click map, %d days, max_cells 2000:     p50 %v  p95 %v; CPU %v per call (the same rows read, a smaller answer)\n",
		o.days, p50s.Round(100*time.Microsecond), p95s.Round(100*time.Microsecond), cpu.Round(100*time.Microsecond))
	week := proto.Clone(req).(*recordingsv1.GetHeatmapRequest)
	week.StartTime = timestamppb.New(today.AddDate(0, 0, -6))
	p50w, p95w, _, err := measure(week, max(o.calls/5, 10))
	if err != nil {
		return err
	}
	fmt.Printf("GetHeatmap click map, 7 days:                        p50 %v  p95 %v; CPU %v per call\n",
		p50w.Round(100*time.Microsecond), p95w.Round(100*time.Microsecond), cpu.Round(100*time.Microsecond))
	return nil
}

// downloadSize prints what the dashboard downloads for the answer: its
// JSON as the gateway writes it, and that compressed as the gateway does
// for a browser (platform/httpcompress: zstd or gzip, each at its default
// level), with the CPU each compression took.
func downloadSize(resp *recordingsv1.GetHeatmapResponse) error {
	js, err := protojson.Marshal(resp)
	if err != nil {
		return err
	}
	var gz bytes.Buffer
	t := time.Now()
	zw := gzip.NewWriter(&gz)
	if _, err := zw.Write(js); err != nil {
		return err
	}
	if err := zw.Close(); err != nil {
		return err
	}
	gzTook := time.Since(t)
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedDefault), zstd.WithEncoderConcurrency(1))
	if err != nil {
		return err
	}
	defer enc.Close()
	t = time.Now()
	zs := enc.EncodeAll(js, nil)
	zsTook := time.Since(t)
	fmt.Printf("  downloaded by the dashboard: %.2f MB of JSON, %.2f MB as zstd (%v), %.2f MB as gzip (%v)\n",
		float64(len(js))/1e6, float64(len(zs))/1e6, zsTook.Round(100*time.Microsecond), float64(gz.Len())/1e6, gzTook.Round(100*time.Microsecond))
	return nil
}

// callsOf groups a round's page views' batches into calls of 48: 4 page
// views whole, or (interleave) the batches of 48 page views in batch
// order, one of each per call.
func callsOf(visits [][]*recordingsv1.Chunk, interleave bool) [][]*recordingsv1.Chunk {
	var calls [][]*recordingsv1.Chunk
	if !interleave {
		for v, chunks := range visits {
			if v%4 == 0 {
				calls = append(calls, nil)
			}
			calls[len(calls)-1] = append(calls[len(calls)-1], chunks...)
		}
		return calls
	}
	for lo := 0; lo < len(visits); lo += 48 {
		group := visits[lo:min(lo+48, len(visits))]
		for seq := range len(group[0]) {
			var call []*recordingsv1.Chunk
			for _, chunks := range group {
				call = append(call, chunks[seq])
			}
			calls = append(calls, call)
		}
	}
	return calls
}

// appendVariant is one side of the append comparison: a service process
// of its own (so its CPU, background compactions and GC included, is
// measured apart from the other's and from this client's) and the site its
// chunks go to.
type appendVariant struct {
	label    string
	srv      *child
	site     int64
	withHeat bool // the batches carry sl:view and sl:click
	flush    bool // the round ends with a GetHeatmap (the store's flush)
	wall     time.Duration
	cpu      time.Duration
	bytes    int64
	starts   []time.Duration // the process's CPU at each round's start
	cpus     []time.Duration // per round
}

// settle is how long the append comparison waits after its last round
// before it reads the processes' CPU for the last time.
const settle = 3 * time.Second

// benchAppend compares AppendChunks of the same batches (with the
// tracker's heat events) on a service with heatmaps on and one with them
// off (recordings.heatmaps=false), in interleaved rounds (the order
// rotating), each round on fresh sessions. The "on" rounds end with a
// GetHeatmap, which makes the store merge its queued heatmap changes
// first: each round pays for its whole aggregation. A third variant keeps
// the earlier measure: batches without the heat events on the "on"
// service.
func benchAppend(ctx context.Context, o options) error {
	const batches = 12 // a minute of a page view, a batch every 5 s
	var srvs []*child
	defer func() {
		for _, c := range srvs {
			if err := c.stop(); err != nil {
				log.Printf("service %s: %v", c.mode, err)
			}
		}
	}()
	for _, v := range [][2]string{{"on", "on"}, {"off", "off"}, {"on", "on-plain"}} {
		c, err := startChild(ctx, v[0], v[1], o.profiles)
		if err != nil {
			return err
		}
		srvs = append(srvs, c)
	}
	variants := []*appendVariant{
		{label: "heatmaps on", srv: srvs[0], site: heatSite, withHeat: true, flush: true},
		{label: "heatmaps off", srv: srvs[1], site: heatSite, withHeat: true},
		{label: "on, batches without sl:view/sl:click", srv: srvs[2], site: plainSite, flush: true},
	}
	var n int64
	now := time.Now().Add(-time.Hour)
	for round := range o.rounds {
		calls := make([][][]*recordingsv1.Chunk, len(variants))
		visits := make([][][]*recordingsv1.Chunk, len(variants))
		for v := range o.roundVisits {
			id := round*o.roundVisits + v
			for i, va := range variants {
				// The same seed: the same visit, but for the heat events.
				chunks := newVisitGen(uint64(id)+1000, o.elements, 1, va.withHeat).visit(va.site, id, now, batches, 2)
				visits[i] = append(visits[i], chunks)
				for _, c := range chunks {
					va.bytes += int64(len(c.Events))
				}
			}
			n += batches
		}
		for i := range variants {
			calls[i] = callsOf(visits[i], o.interleave)
		}
		for k := range variants {
			i := (round + k) % len(variants)
			va := variants[i]
			// A round's CPU runs from its start to the start of the
			// process's next round: what the round left running in the
			// background (compactions, the queue's timed flushes) while
			// the other variants ran is its own.
			c, err := va.srv.cpu()
			if err != nil {
				return err
			}
			va.starts = append(va.starts, c)
			t := time.Now()
			for _, call := range calls[i] {
				if err := append1(ctx, va.srv.client, call); err != nil {
					return fmt.Errorf("%s: %w", va.label, err)
				}
			}
			if va.flush {
				_, err := va.srv.client.GetHeatmap(ctx, &recordingsv1.GetHeatmapRequest{SiteId: va.site, Kind: recordingsv1.HeatmapKind_HEATMAP_KIND_CLICK,
					Page: &searchv1.UrlMatch{Operator: searchv1.UrlMatch_OPERATOR_EQUALS, Value: "https://shop.example.com/no-such-page"}, MaxCells: 1})
				if err != nil {
					return fmt.Errorf("GetHeatmap after the appends: %w", err)
				}
			}
			va.wall += time.Since(t)
		}
	}
	// The last rounds' background work: the processes settle (idle, they
	// use next to nothing).
	time.Sleep(settle)
	for _, va := range variants {
		end, err := va.srv.cpu()
		if err != nil {
			return err
		}
		for i, c := range va.starts {
			next := end
			if i+1 < len(va.starts) {
				next = va.starts[i+1]
			}
			va.cpus = append(va.cpus, next-c)
			va.cpu += next - c
		}
	}
	perChunk := func(d time.Duration) float64 { return float64(d.Microseconds()) / float64(n) }
	shape := "4 page views whole"
	if o.interleave {
		shape = "a batch of each of 48 page views"
	}
	fmt.Printf("AppendChunks, %d rounds × %d page views × %d batches (2 clicks each), 48 chunks per call (%s), each variant its own service process (CPU and disk writes: the service's, from /proc):\n", o.rounds, o.roundVisits, batches, shape)
	for _, va := range variants {
		written, err := va.srv.written()
		if err != nil {
			return err
		}
		fmt.Printf("  %-38s %7.1f µs/chunk wall, CPU %6.1f µs/chunk, disk writes %5.2f KB/chunk  (%.1f KB/chunk of events)\n", va.label+":", perChunk(va.wall), perChunk(va.cpu), float64(written)/1e3/float64(n), float64(va.bytes)/1e3/float64(n))
	}
	ratios := func(a, b *appendVariant) (total, median, lo, hi float64) {
		var rs []float64
		for i := range a.cpus {
			rs = append(rs, a.cpus[i].Seconds()/b.cpus[i].Seconds())
		}
		slices.Sort(rs)
		return a.cpu.Seconds() / b.cpu.Seconds(), rs[len(rs)/2], rs[0], rs[len(rs)-1]
	}
	total, median, lo, hi := ratios(variants[0], variants[1])
	fmt.Printf("CPU ratio heatmaps on/off (the same chunks): median of the rounds %.2f× (%.2f–%.2f), all rounds %.2f× (goal ≤ 1.10×); wall %.2f×\n",
		median, lo, hi, total, variants[0].wall.Seconds()/variants[1].wall.Seconds())
	total, median, _, _ = ratios(variants[0], variants[2])
	fmt.Printf("CPU ratio with/without the heat events, both on (the earlier measure): median %.2f×, all rounds %.2f×; wall %.2f×\n",
		median, total, variants[0].wall.Seconds()/variants[2].wall.Seconds())
	return nil
}

// child is a service process of this command (-serve on|off).
type child struct {
	mode   string
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	client recordingsClient
	conn   *grpc.ClientConn
	stat   string
}

// startChild runs this command with -serve mode, which prints the
// service's address and serves until its stdin closes; its CPU profile
// (with -profiles) is named after name.
func startChild(ctx context.Context, mode, name, profiles string) (*child, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	args := []string{"-serve", mode}
	if profiles != "" {
		args = append(args, "-cpuprofile", filepath.Join(profiles, "append-heatmaps-"+name+".pprof"),
			"-memprofile", filepath.Join(profiles, "append-heatmaps-"+name+".allocs.pprof"))
	}
	cmd := exec.CommandContext(ctx, exe, args...)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start the %s service: %w", mode, err)
	}
	addr, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		cmd.Process.Kill()
		cmd.Wait()
		return nil, fmt.Errorf("the %s service: %w", mode, err)
	}
	cc, err := grpc.NewClient(strings.TrimSpace(addr), grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallSendMsgSize(64<<20), grpc.MaxCallRecvMsgSize(64<<20)))
	if err != nil {
		cmd.Process.Kill()
		cmd.Wait()
		return nil, err
	}
	return &child{mode: name, cmd: cmd, stdin: stdin, conn: cc, stat: fmt.Sprintf("/proc/%d/stat", cmd.Process.Pid),
		client: recordingsClient{recordingsv1.NewRecordingsServiceClient(cc), recordingsv1.NewRecordingsInternalServiceClient(cc)}}, nil
}

// cpu is the CPU time (user and system, every thread) the process used so
// far, from /proc/<pid>/stat (fields 14 and 15, in clock ticks).
func (c *child) cpu() (time.Duration, error) {
	b, err := os.ReadFile(c.stat)
	if err != nil {
		return 0, err
	}
	// The command name (field 2) may hold spaces: fields count from the
	// last ')'.
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	if len(f) < 13 {
		return 0, fmt.Errorf("%s: %d fields", c.stat, len(f))
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, fmt.Errorf("%s: %w", c.stat, err)
	}
	return time.Duration(utime+stime) * time.Second / clockTicks, nil
}

// written is the bytes the process caused to be written to disk so far
// (its WAL, flushes and compactions), from /proc/<pid>/io.
func (c *child) written() (int64, error) {
	path := fmt.Sprintf("/proc/%d/io", c.cmd.Process.Pid)
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, "write_bytes: "); ok {
			return strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		}
	}
	return 0, fmt.Errorf("%s: no write_bytes", path)
}

// clockTicks is USER_HZ, which Linux fixes at 100 for /proc.
const clockTicks = 100

func (c *child) stop() error {
	c.conn.Close()
	c.stdin.Close()
	return c.cmd.Wait()
}

// serve is the -serve mode: one service with heatmaps on or off on a
// loopback socket, its address on stdout, until stdin closes.
func serve(ctx context.Context, mode string) error {
	if mode != "on" && mode != "off" {
		return fmt.Errorf("-serve %q: on or off", mode)
	}
	s, addr, err := startService(ctx, mode == "on")
	if err != nil {
		return err
	}
	defer s.close()
	fmt.Println(addr)
	_, err = io.Copy(io.Discard, os.Stdin)
	return err
}

// waitIdle waits until the process has used under 2 % of a core over a
// second, or for limit; it answers how long it waited and whether the
// process went idle.
func waitIdle(limit time.Duration) (time.Duration, bool) {
	start := time.Now()
	for time.Since(start) < limit {
		c0 := cpuTime()
		time.Sleep(time.Second)
		if cpuTime()-c0 < 20*time.Millisecond {
			return time.Since(start), true
		}
	}
	return time.Since(start), false
}

// cpuTime is the CPU time (user and system) the process used so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
