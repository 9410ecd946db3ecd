package recordings

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/sightlinehq/sightline/blob"
	"github.com/sightlinehq/sightline/blob/fsblob"
	recordingsv1 "github.com/sightlinehq/sightline/gen/sightline/recordings/v1"
	"github.com/sightlinehq/sightline/internal/weedtest"
	"github.com/sightlinehq/sightline/siteaccess/siteaccesstest"
	"github.com/sightlinehq/sightline/svc-recordings/store"
)

const day = 24 * time.Hour

// coldSession is scriptedSession accepted by ingest age ago, on a site
// that keeps recordings 90 days and moves them after coldDays.
func coldSession(t testing.TB, sess string, age time.Duration, coldDays int32) []*recordingsv1.Chunk {
	chunks := scriptedSession(t, sess)
	for i, c := range chunks {
		c.ServerTime = timestamppb.New(time.Now().Add(-age + time.Duration(i)*time.Second))
		c.RetentionDays, c.ColdAfterDays = 90, coldDays
	}
	return chunks
}

// replay streams a session from offset (0: the start) and answers every
// message.
func replay(t testing.TB, c recordingsv1.RecordingsServiceClient, sess string, offset time.Duration) []*recordingsv1.StreamRecordingResponse {
	t.Helper()
	req := &recordingsv1.StreamRecordingRequest{SiteId: site, SessionId: sess}
	if offset > 0 {
		req.StartOffset = durationpb.New(offset)
	}
	st, err := c.StreamRecording(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	var out []*recordingsv1.StreamRecordingResponse
	for {
		m, err := st.Recv()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatalf("replay %s: %v", sess, err)
		}
		out = append(out, m)
	}
}

func sameReplay(t testing.TB, what string, got, want []*recordingsv1.StreamRecordingResponse) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d chunks, want %d", what, len(got), len(want))
	}
	for i := range got {
		if !proto.Equal(got[i], want[i]) {
			t.Fatalf("%s: chunk %d differs: seq %d/%d, %d/%d event bytes", what, i, got[i].GetSeq(), want[i].GetSeq(), len(got[i].GetEvents()), len(want[i].GetEvents()))
		}
	}
}

// primaryChunks counts the chunks whose data the primary store still holds.
func primaryChunks(t testing.TB, st store.Store, sess string) int {
	t.Helper()
	n := 0
	if err := st.ReadChunks(context.Background(), site, sess, 0, func(store.StoredChunk) error { n++; return nil }); err != nil {
		t.Fatal(err)
	}
	return n
}

// objects lists the keys of the cold objects under prefix.
func objects(t testing.TB, b blob.Store, prefix string) []string {
	t.Helper()
	var out []string
	for info, err := range b.List(context.Background(), prefix) {
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, info.Key)
	}
	return out
}

func sweep(t testing.TB, c recordingsv1.RecordingsInternalServiceClient, task recordingsv1.SweepTask) *recordingsv1.RunSweepResponse {
	t.Helper()
	res, err := c.RunSweep(context.Background(), &recordingsv1.RunSweepRequest{Task: task})
	if err != nil {
		t.Fatalf("RunSweep %v: %v", task, err)
	}
	return res
}

// clock is a movable clock for the retention and cold passes.
type clock struct{ skew atomic.Int64 }

func (c *clock) now() time.Time          { return time.Now().Add(time.Duration(c.skew.Load())) }
func (c *clock) advance(d time.Duration) { c.skew.Add(int64(d)) }

// testColdOverGRPC is the cold tier through the service, over real gRPC,
// on the object storage cfg names: sessions past their cold age move,
// replay is byte-identical (from the start and from an offset), listings
// and search keep them, a late chunk joins, a second pass changes nothing,
// deletion and retention remove the objects.
func testColdOverGRPC(t *testing.T, cfg Config) {
	ctx := context.Background()
	recv, searchAddr := serveSearch(t, "127.0.0.1:0")
	clk := &clock{}
	h := start(t, cfg, t.TempDir(), searchAddr, func(d *Deps) { d.Now = clk.now })
	const coldS, hotS, neverS, goneS = "s_cold0000000000000001", "s_cold0000000000000002", "s_cold0000000000000003", "s_cold0000000000000004"
	var all []*recordingsv1.Chunk
	all = append(all, coldSession(t, coldS, 40*day, 30)...)
	all = append(all, coldSession(t, hotS, time.Hour, 30)...)
	all = append(all, coldSession(t, neverS, 40*day, 0)...)
	all = append(all, coldSession(t, goneS, 31*day, 30)...)
	if _, err := h.internal.AppendChunks(ctx, &recordingsv1.AppendChunksRequest{Chunks: all}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return recv.get(site, coldS) != nil && recv.get(site, goneS) != nil })
	before := map[string][]*recordingsv1.StreamRecordingResponse{}
	for _, s := range []string{coldS, hotS, neverS, goneS} {
		before[s] = replay(t, h.client, s, 0)
		if len(before[s]) != 4 {
			t.Fatalf("%s: %d chunks before the move", s, len(before[s]))
		}
	}
	fromOffset := replay(t, h.client, coldS, 9500*time.Millisecond)
	version := recv.get(site, coldS).GetVersion()

	if res := sweep(t, h.internal, recordingsv1.SweepTask_SWEEP_TASK_COLD); res.GetSessions() != 2 || res.GetMore() {
		t.Fatalf("cold pass: %v, want 2 sessions moved", res)
	}
	for s, want := range map[string]int{coldS: 0, goneS: 0, hotS: 4, neverS: 4} {
		if n := primaryChunks(t, h.svc.store, s); n != want {
			t.Fatalf("%s: the primary store holds %d chunks, want %d", s, n, want)
		}
	}
	prefix := fmt.Sprintf("cold/%d/%s/", site, coldS)
	if objs := objects(t, h.svc.coldBlobs, prefix); len(objs) != 1 {
		t.Fatalf("objects under %s: %v", prefix, objs)
	}
	for s, want := range before {
		sameReplay(t, s+" after the move", replay(t, h.client, s, 0), want)
	}
	sameReplay(t, "from an offset after the move", replay(t, h.client, coldS, 9500*time.Millisecond), fromOffset)
	// Listed for reindexing and still in search, unchanged.
	page, err := h.internal.ListSessionSummaries(ctx, &recordingsv1.ListSessionSummariesRequest{SiteId: site})
	if err != nil || len(page.GetSessions()) != 4 {
		t.Fatalf("summaries after the move: %d, %v", len(page.GetSessions()), err)
	}
	if got := recv.get(site, coldS); got == nil || got.GetVersion() != version || got.GetChunkCount() != 4 {
		t.Fatalf("search's copy after the move: %v", got)
	}
	// Again: nothing due, nothing written.
	if res := sweep(t, h.internal, recordingsv1.SweepTask_SWEEP_TASK_COLD); res.GetSessions() != 0 {
		t.Fatalf("second pass moved %d", res.GetSessions())
	}
	// A late chunk lands in the primary store, replays with the cold ones,
	// and moves in a segment of its own once its cold time passes.
	late := coldSession(t, coldS, 40*day-time.Minute, 30)[3]
	late.Seq = 4
	if _, err := h.internal.AppendChunks(ctx, &recordingsv1.AppendChunksRequest{Chunks: []*recordingsv1.Chunk{late}}); err != nil {
		t.Fatal(err)
	}
	withLate := replay(t, h.client, coldS, 0)
	sameReplay(t, "cold chunks before the late one", withLate[:4], before[coldS])
	if len(withLate) != 5 || !bytes.Equal(withLate[4].GetEvents(), late.GetEvents()) {
		t.Fatalf("late chunk: %d chunks", len(withLate))
	}
	if res := sweep(t, h.internal, recordingsv1.SweepTask_SWEEP_TASK_COLD); res.GetSessions() != 1 {
		t.Fatalf("pass after the late chunk moved %d, want 1", res.GetSessions())
	}
	if objs := objects(t, h.svc.coldBlobs, prefix); len(objs) != 2 || primaryChunks(t, h.svc.store, coldS) != 0 {
		t.Fatalf("after the late chunk moved: objects %v", objs)
	}
	sameReplay(t, "after the late chunk moved", replay(t, h.client, coldS, 0), withLate)
	// Deleting a session removes its objects.
	if _, err := h.client.DeleteSession(ctx, &recordingsv1.DeleteSessionRequest{SiteId: site, SessionId: goneS}); err != nil {
		t.Fatal(err)
	}
	if objs := objects(t, h.svc.coldBlobs, fmt.Sprintf("cold/%d/%s/", site, goneS)); len(objs) != 0 {
		t.Fatalf("objects of a deleted session: %v", objs)
	}
	// Retention: 91 days on, every session has expired, and its objects go.
	clk.advance(91 * day)
	if res := sweep(t, h.internal, recordingsv1.SweepTask_SWEEP_TASK_RETENTION); res.GetSessions() != 3 {
		t.Fatalf("retention removed %d sessions, want 3", res.GetSessions())
	}
	if objs := objects(t, h.svc.coldBlobs, "cold/"); len(objs) != 0 {
		t.Fatalf("objects after retention: %v", objs)
	}
}

func TestColdFiles(t *testing.T) { testColdOverGRPC(t, testConfig(t)) }

// TestColdS3: the same against a real S3 server (SeaweedFS), configured
// as an operator would: the assets' bucket, the credentials in the
// environment.
func TestColdS3(t *testing.T) {
	srv := weedtest.Start(t)
	cfg := testConfig(t)
	cfg.Assets.S3.Endpoint, cfg.Assets.S3.Bucket, cfg.Assets.S3.Region, cfg.Assets.S3.Insecure = srv.Endpoint, fmt.Sprintf("cold-%d", time.Now().UnixNano()), srv.Region, true
	t.Setenv("AWS_ACCESS_KEY_ID", srv.AccessKey)
	t.Setenv("AWS_SECRET_ACCESS_KEY", srv.SecretKey)
	testColdOverGRPC(t, cfg)
}

// coldService is a service whose cold tier is files under a fresh
// directory, seen through wrap (a test's fault or listing wrapper).
func coldService(t *testing.T, cfg Config, now func() time.Time, wrap func(blob.Store) blob.Store) (*Service, blob.Store) {
	t.Helper()
	dir := t.TempDir()
	fs, err := fsblob.Open(fsblob.Options{Dir: dir + "/cold", MaxObjectBytes: 64 << 20})
	if err != nil {
		t.Fatal(err)
	}
	svc, err := New(context.Background(), cfg, Deps{Authorizer: siteaccesstest.AllowAll{}, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), DataDir: dir, ColdBlobs: wrap(fs), Now: now})
	if err != nil {
		t.Fatal(err)
	}
	return svc, fs
}

// faultyBlobs fails or damages Puts on demand.
type faultyBlobs struct {
	blob.Store
	failPut, damagePut atomic.Bool
}

func (f *faultyBlobs) Put(ctx context.Context, key string, r io.Reader, size int64, ct string) error {
	if f.failPut.Load() {
		return errors.New("s3: put: connection reset by peer")
	}
	if f.damagePut.Load() { // a store that returns what it never got
		b, err := io.ReadAll(r)
		if err != nil {
			return err
		}
		b[len(b)/2] ^= 0xff
		return f.Store.Put(ctx, key, bytes.NewReader(b), size, ct)
	}
	return f.Store.Put(ctx, key, r, size, ct)
}

// dropFailing fails DropChunkData while set: the move stops after the
// object is written and verified, as a crash there would leave it.
type dropFailing struct {
	store.Store
	fail atomic.Bool
}

func (d *dropFailing) DropChunkData(ctx context.Context, site int64, session string, coldMs int64, keys []store.ChunkKey) error {
	if d.fail.Load() {
		return errors.New("pebble: drop chunk data: disk I/O error")
	}
	return d.Store.DropChunkData(ctx, site, session, coldMs, keys)
}

// TestColdMoveFailures: a failed put, a put that stores other bytes, and a
// failed drop after a good put each leave the session whole and due; the
// next pass finishes the move with one segment, and replay never changes.
func TestColdMoveFailures(t *testing.T) {
	ctx := context.Background()
	var blobs *faultyBlobs
	svc, fs := coldService(t, testConfig(t), nil, func(fs blob.Store) blob.Store { blobs = &faultyBlobs{Store: fs}; return blobs })
	st := &dropFailing{Store: svc.store}
	real := svc.store
	svc.store = st
	t.Cleanup(func() { svc.store = real; svc.Close() })
	const sess = "s_coldfail00000000001"
	if _, err := svc.AppendChunks(ctx, &recordingsv1.AppendChunksRequest{Chunks: coldSession(t, sess, 40*day, 30)}); err != nil {
		t.Fatal(err)
	}
	read := func() [][]byte {
		t.Helper()
		var out [][]byte
		err := svc.cold.ReadChunks(ctx, real, site, sess, 0, func(c store.StoredChunk) error { out = append(out, c.Data); return nil })
		if err != nil {
			t.Fatalf("read after a failed move: %v", err)
		}
		return out
	}
	want := read()
	run := func() (*recordingsv1.RunSweepResponse, error) {
		return svc.Internal().RunSweep(ctx, &recordingsv1.RunSweepRequest{Task: recordingsv1.SweepTask_SWEEP_TASK_COLD})
	}
	prefix := fmt.Sprintf("cold/%d/%s/", site, sess)
	for _, step := range []struct {
		name, err string
		set       func(bool)
		objects   int
	}{
		{"put fails", "put: s3: put: connection reset", blobs.failPut.Store, 0},
		{"put stores other bytes", "verify: cold/", blobs.damagePut.Store, 1},
		{"drop fails after the put", "drop: pebble: drop chunk data", st.fail.Store, 1},
	} {
		step.set(true)
		_, err := run()
		step.set(false)
		if err == nil || !strings.Contains(err.Error(), step.err) {
			t.Fatalf("%s: RunSweep answered %v, want an error with %q", step.name, err, step.err)
		}
		if n := primaryChunks(t, real, sess); n != 4 {
			t.Fatalf("%s: the primary store holds %d chunks, want all 4", step.name, n)
		}
		if got := read(); len(got) != 4 || !bytes.Equal(bytes.Join(got, nil), bytes.Join(want, nil)) {
			t.Fatalf("%s: replay changed", step.name)
		}
		if objs := objects(t, fs, prefix); len(objs) != step.objects {
			t.Fatalf("%s: objects %v", step.name, objs)
		}
	}
	// The re-run finishes: same content, same segment.
	res, err := run()
	if err != nil || res.GetSessions() != 1 {
		t.Fatalf("re-run: %v %v", res, err)
	}
	if n := primaryChunks(t, real, sess); n != 0 {
		t.Fatalf("after the re-run the primary store holds %d chunks", n)
	}
	if objs := objects(t, fs, prefix); len(objs) != 1 {
		t.Fatalf("after the re-run: objects %v, want the one segment", objs)
	}
	if got := read(); !bytes.Equal(bytes.Join(got, nil), bytes.Join(want, nil)) {
		t.Fatal("replay after the re-run differs")
	}
}

// TestColdBackup: a backup holds the cold recordings kept as files, next
// to the checkpoint that no longer holds their chunks.
func TestColdBackup(t *testing.T) {
	ctx := context.Background()
	svc, err := New(ctx, testConfig(t), Deps{Authorizer: siteaccesstest.AllowAll{}, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Close()
	const sess = "s_coldbackup000000001"
	if _, err := svc.AppendChunks(ctx, &recordingsv1.AppendChunksRequest{Chunks: coldSession(t, sess, 40*day, 30)}); err != nil {
		t.Fatal(err)
	}
	if n, _, err := svc.moveCold(ctx); err != nil || n != 1 {
		t.Fatalf("moved %d, %v", n, err)
	}
	dir := t.TempDir()
	if err := svc.Backup(ctx, dir); err != nil {
		t.Fatal(err)
	}
	copied, err := fsblob.Open(fsblob.Options{Dir: dir + "/cold", MaxObjectBytes: 64 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer copied.Close()
	prefix := fmt.Sprintf("cold/%d/%s/", site, sess)
	got, want := objects(t, copied, prefix), objects(t, svc.coldBlobs, prefix)
	if len(got) != 1 || len(want) != 1 || got[0] != want[0] {
		t.Fatalf("backup's cold objects %v, the service's %v", got, want)
	}
}

// listingBlobs records the prefixes listed.
type listingBlobs struct {
	blob.Store
	mu     sync.Mutex
	listed []string
}

func (l *listingBlobs) List(ctx context.Context, prefix string) iter.Seq2[blob.Info, error] {
	l.mu.Lock()
	l.listed = append(l.listed, prefix)
	l.mu.Unlock()
	return l.Store.List(ctx, prefix)
}

// TestColdDeleteVisitor: deleting a visitor removes the cold segments of
// their sessions, leaves another visitor's, and lists only the removed
// sessions' prefixes, never the site's (every object of a large site).
func TestColdDeleteVisitor(t *testing.T) {
	ctx := context.Background()
	var blobs *listingBlobs
	svc, fs := coldService(t, testConfig(t), nil, func(fs blob.Store) blob.Store { blobs = &listingBlobs{Store: fs}; return blobs })
	t.Cleanup(func() { svc.Close() })
	const forgotten, kept = "v_forgetme000000001", "v_keepme00000000001"
	sessions := map[string]string{"s_coldvis0000000001": forgotten, "s_coldvis0000000002": forgotten, "s_coldvis0000000003": kept}
	for sess, vis := range sessions {
		chunks := coldSession(t, sess, 40*day, 30)
		for _, c := range chunks {
			c.VisitorId = vis
		}
		if _, err := svc.AppendChunks(ctx, &recordingsv1.AppendChunksRequest{Chunks: chunks}); err != nil {
			t.Fatal(err)
		}
	}
	if res, err := svc.Internal().RunSweep(ctx, &recordingsv1.RunSweepRequest{Task: recordingsv1.SweepTask_SWEEP_TASK_COLD}); err != nil || res.GetSessions() != 3 {
		t.Fatalf("cold pass: %v, %v", res, err)
	}
	blobs.mu.Lock()
	blobs.listed = nil
	blobs.mu.Unlock()
	res, err := svc.DeleteVisitor(ctx, &recordingsv1.DeleteVisitorRequest{SiteId: site, VisitorId: forgotten})
	if err != nil || res.GetDeletedSessions() != 2 {
		t.Fatalf("DeleteVisitor: %v, %v", res, err)
	}
	for sess, vis := range sessions {
		objs := objects(t, fs, fmt.Sprintf("cold/%d/%s/", site, sess))
		if want := map[string]int{forgotten: 0, kept: 1}[vis]; len(objs) != want {
			t.Fatalf("%s (%s): objects %v, want %d", sess, vis, objs, want)
		}
	}
	blobs.mu.Lock()
	defer blobs.mu.Unlock()
	slices.Sort(blobs.listed)
	if want := []string{fmt.Sprintf("cold/%d/s_coldvis0000000001/", site), fmt.Sprintf("cold/%d/s_coldvis0000000002/", site)}; !slices.Equal(blobs.listed, want) {
		t.Fatalf("listed %v, want only the deleted sessions' prefixes %v", blobs.listed, want)
	}
}

// TestColdCollectSpaced: retention collects the segments of removed
// sessions (a listing of every cold object) at most once per
// recordings.cold.collect-interval, however many passes remove sessions,
// and a collection owed is made by the first pass after the interval even
// when that pass removes nothing.
func TestColdCollectSpaced(t *testing.T) {
	ctx := context.Background()
	clk := &clock{}
	cfg := testConfig(t)
	cfg.Cold.CollectInterval = time.Hour
	var blobs *listingBlobs
	svc, _ := coldService(t, cfg, clk.now, func(fs blob.Store) blob.Store { blobs = &listingBlobs{Store: fs}; return blobs })
	t.Cleanup(func() { svc.Close() })
	// collections counts the listings of the whole tier.
	collections := func() int {
		blobs.mu.Lock()
		defer blobs.mu.Unlock()
		n := 0
		for _, p := range blobs.listed {
			if p == "cold/" {
				n++
			}
		}
		return n
	}
	retention := func(sess string, removed int64) {
		t.Helper()
		if sess != "" {
			// Stored now, 90 days' retention: expired once the clock is
			// 91 days on.
			if _, err := svc.AppendChunks(ctx, &recordingsv1.AppendChunksRequest{Chunks: coldSession(t, sess, 0, 0)}); err != nil {
				t.Fatal(err)
			}
		}
		res, err := svc.Internal().RunSweep(ctx, &recordingsv1.RunSweepRequest{Task: recordingsv1.SweepTask_SWEEP_TASK_RETENTION})
		if err != nil || res.GetSessions() != removed {
			t.Fatalf("retention: %v, %v; want %d sessions removed", res, err, removed)
		}
	}
	clk.advance(91 * day)
	retention("s_collect0000000001", 1)
	if n := collections(); n != 1 {
		t.Fatalf("first pass: %d collections, want 1", n)
	}
	for _, sess := range []string{"s_collect0000000002", "s_collect0000000003"} {
		retention(sess, 1)
	}
	if n := collections(); n != 1 {
		t.Fatalf("passes within the interval: %d collections, want still 1", n)
	}
	clk.advance(61 * time.Minute)
	retention("", 0)
	if n := collections(); n != 2 {
		t.Fatalf("first pass after the interval, removals owed: %d collections, want 2", n)
	}
	clk.advance(61 * time.Minute)
	retention("", 0)
	if n := collections(); n != 2 {
		t.Fatalf("nothing removed since the last collection: %d collections, want still 2", n)
	}
}
