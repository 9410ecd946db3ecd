package recordings

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	recordingsv1 "github.com/sightlinehq/sightline/gen/sightline/recordings/v1"
	searchv1 "github.com/sightlinehq/sightline/gen/sightline/search/v1"
	sessionsv1 "github.com/sightlinehq/sightline/gen/sightline/sessions/v1"
	"github.com/sightlinehq/sightline/internal/grpctest"
	"github.com/sightlinehq/sightline/internal/weedtest"
	"github.com/sightlinehq/sightline/platform/telemetry/telemetrytest"
	"github.com/sightlinehq/sightline/siteaccess/siteaccesstest"
	"github.com/sightlinehq/sightline/svc-recordings/store"
)

func TestMain(m *testing.M) {
	if os.Getenv(crashEnv) != "" {
		crashChild()
		return
	}
	if os.Getenv(crashEndEnv) != "" {
		crashEndChild()
		return
	}
	if os.Getenv(crashColdEnv) != "" {
		crashColdChild()
		return
	}
	weedtest.Main(m)
}

// searchReceiver is a real SearchService on a socket that keeps what it
// was sent.
type searchReceiver struct {
	searchv1.UnimplementedSearchInternalServiceServer
	mu      sync.Mutex
	latest  map[string]*sessionsv1.SessionSummary
	upserts []*sessionsv1.SessionSummary
	deletes []*searchv1.DeleteSessionsRequest
	stale   int
}

func (r *searchReceiver) UpsertSessions(ctx context.Context, req *searchv1.UpsertSessionsRequest) (*searchv1.UpsertSessionsResponse, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := &searchv1.UpsertSessionsResponse{}
	for _, s := range req.GetSessions() {
		k := fmt.Sprintf("%d/%s", s.GetSiteId(), s.GetSessionId())
		r.upserts = append(r.upserts, s)
		if old, ok := r.latest[k]; ok && old.GetVersion() >= s.GetVersion() {
			out.Stale++
			r.stale++
			continue
		}
		r.latest[k] = s
		out.Upserted++
	}
	return out, nil
}

func (r *searchReceiver) DeleteSessions(ctx context.Context, req *searchv1.DeleteSessionsRequest) (*searchv1.DeleteSessionsResponse, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.deletes = append(r.deletes, req)
	return &searchv1.DeleteSessionsResponse{}, nil
}

func (r *searchReceiver) get(site int64, session string) *sessionsv1.SessionSummary {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.latest[fmt.Sprintf("%d/%s", site, session)]
}

// serveSearch starts a receiver on addr ("127.0.0.1:0" for any port).
func serveSearch(t *testing.T, addr string) (*searchReceiver, string) {
	t.Helper()
	r := &searchReceiver{latest: map[string]*sessionsv1.SessionSummary{}}
	return r, grpctest.ServeAt(t, addr, func(s *grpc.Server) { searchv1.RegisterSearchInternalServiceServer(s, r) })
}

func dial(t *testing.T, addr string) *grpc.ClientConn {
	t.Helper()
	return grpctest.Dial(t, addr)
}

type authz struct {
	mu    sync.Mutex
	deny  int64
	calls []string
}

func (a *authz) AuthorizeSite(ctx context.Context, site int64, write bool) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.calls = append(a.calls, fmt.Sprintf("%d:%v", site, write))
	if site == a.deny {
		return status.Error(codes.NotFound, "site not found")
	}
	return nil
}

type harness struct {
	client recordingsClient
	// internal is RecordingsInternalService on the same socket.
	internal recordingsv1.RecordingsInternalServiceClient
	svc      *Service
	authz    *authz
}

func testConfig(t *testing.T) Config {
	t.Helper()
	var cfg Config
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	cfg.RegisterFlags(fs)
	if err := fs.Parse([]string{"-recordings.outbox.max-backoff=200ms"}); err != nil {
		t.Fatal(err)
	}
	return cfg
}

// start runs the service on a real socket, its outbox pointed at searchAddr.
func start(t *testing.T, cfg Config, dataDir, searchAddr string, with ...func(*Deps)) *harness {
	t.Helper()
	h := &harness{authz: &authz{deny: 3_999_999_999}}
	deps := Deps{
		Logger:     slog.New(slog.NewTextHandler(io.Discard, nil)),
		DataDir:    dataDir,
		Search:     searchv1.NewSearchInternalServiceClient(dial(t, searchAddr)),
		Authorizer: h.authz,
	}
	for _, w := range with {
		w(&deps)
	}
	svc, err := New(context.Background(), cfg, deps)
	if err != nil {
		t.Fatal(err)
	}
	h.svc = svc
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx) }()
	// Cleanups run last first: the server (registered below) stops
	// before Run is cancelled.
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
		if err := svc.Close(); err != nil {
			t.Error(err)
		}
	})
	cc := grpctest.Conn(t, func(s *grpc.Server) {
		recordingsv1.RegisterRecordingsServiceServer(s, svc)
		recordingsv1.RegisterRecordingsInternalServiceServer(s, svc.Internal())
	})
	h.client = recordingsClient{recordingsv1.NewRecordingsServiceClient(cc), recordingsv1.NewRecordingsInternalServiceClient(cc)}
	h.internal = recordingsv1.NewRecordingsInternalServiceClient(cc)
	return h
}

const (
	site    = int64(3_000_000_123)
	t0      = int64(1763890000000)
	pvA     = "p_aaaaaaaaaaaaaaaaaaaaaa"
	pvB     = "p_bbbbbbbbbbbbbbbbbbbbbb"
	visitor = "v_visitor0000000000000"
)

type ev = map[string]any

func events(t testing.TB, evs ...ev) []byte {
	t.Helper()
	b, err := json.Marshal(evs)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func mkChunk(sess string, seq int64, pv, url string, evs []byte) *recordingsv1.Chunk {
	return &recordingsv1.Chunk{
		SiteId: site, OrganizationId: 4_000_000_001, SessionId: sess, VisitorId: visitor, PageViewId: pv,
		Seq: seq, Url: url, Referrer: "https://www.news.example/a", Events: evs,
		ServerTime: timestamppb.Now(), Viewport: &recordingsv1.Viewport{Width: 1440, Height: 900},
		Client:        &sessionsv1.Client{DeviceType: sessionsv1.DeviceType_DEVICE_TYPE_MOBILE, Browser: "Safari", Os: "iOS", Country: "NL"},
		RetentionDays: 30,
	}
}

// scriptedSession: a full page load, a good click, a rage click, an error,
// a dead click, a full page load of a second page (new page view) with a
// click that navigates.
func scriptedSession(t testing.TB, sess string) []*recordingsv1.Chunk {
	home := "https://shop.example.com/?utm_source=newsletter&utm_campaign=winter"
	cart := "https://shop.example.com/cart"
	mouse := func(ts int64, src int, extra ev) ev {
		d := ev{"source": src}
		for k, v := range extra {
			d[k] = v
		}
		return ev{"type": 3, "timestamp": ts, "data": d}
	}
	click := func(ts int64, x, y int) ev { return mouse(ts, 2, ev{"type": 2, "id": 9, "x": x, "y": y}) }
	mut := func(ts int64) ev {
		return mouse(ts, 0, ev{"adds": []any{ev{"parentId": 4, "node": ev{"type": 3, "id": 77, "textContent": "ok"}}}, "removes": []any{}, "texts": []any{}, "attributes": []any{}})
	}
	return []*recordingsv1.Chunk{
		mkChunk(sess, 0, pvA, home, events(t,
			ev{"type": 4, "timestamp": t0, "data": ev{"href": home, "width": 1440, "height": 900}},
			ev{"type": 2, "timestamp": t0 + 5, "data": ev{"node": ev{"type": 0, "id": 1, "childNodes": []any{}}, "initialOffset": ev{"top": 0, "left": 0}}},
			mouse(t0+500, 1, ev{"positions": []any{ev{"x": 1, "y": 2, "id": 4, "timeOffset": 0}}}),
			click(t0+1000, 300, 400), mut(t0+1200))),
		mkChunk(sess, 1, pvA, home, events(t,
			click(t0+3000, 600, 100), click(t0+3300, 610, 104), click(t0+3600, 604, 96), click(t0+3800, 598, 99), mut(t0+3900),
			ev{"type": 5, "timestamp": t0 + 4000, "data": ev{"tag": "sl:error", "payload": ev{"message": "TypeError: x is undefined", "source": "exception"}}},
			ev{"type": 5, "timestamp": t0 + 4100, "data": ev{"tag": "sl:identify", "payload": ev{"userId": "user-9", "attributes": ev{"plan": "team"}}}})),
		mkChunk(sess, 2, pvA, home, events(t,
			click(t0+6000, 50, 50),
			ev{"type": 5, "timestamp": t0 + 6500, "data": ev{"tag": "sl:event", "payload": ev{"name": "add_to_cart", "properties": ev{"sku": "x"}}}},
			mouse(t0+8000, 3, ev{"id": 1, "x": 0, "y": 300}))),
		mkChunk(sess, 3, pvB, cart, events(t,
			ev{"type": 4, "timestamp": t0 + 9000, "data": ev{"href": cart, "width": 1440, "height": 900}},
			ev{"type": 2, "timestamp": t0 + 9010, "data": ev{"node": ev{"type": 0, "id": 1, "childNodes": []any{}}, "initialOffset": ev{"top": 0, "left": 0}}},
			click(t0+10000, 700, 500), mut(t0+10100),
			mouse(t0+15000, 1, ev{"positions": []any{ev{"x": 5, "y": 5, "id": 4, "timeOffset": 0}}}))),
	}
}

func TestEndToEndScriptedSession(t *testing.T) {
	recv, searchAddr := serveSearch(t, "127.0.0.1:0")
	h := start(t, testConfig(t), t.TempDir(), searchAddr)
	ctx := context.Background()
	const sess = "s_scripted000000000000"
	chunks := scriptedSession(t, sess)
	// Out of order, with a re-delivery inside and across calls.
	r1, err := h.client.AppendChunks(ctx, &recordingsv1.AppendChunksRequest{Chunks: []*recordingsv1.Chunk{chunks[2], chunks[0], chunks[2]}})
	if err != nil {
		t.Fatal(err)
	}
	r2, err := h.client.AppendChunks(ctx, &recordingsv1.AppendChunksRequest{Chunks: []*recordingsv1.Chunk{chunks[3], chunks[1], chunks[0]}})
	if err != nil {
		t.Fatal(err)
	}
	if r1.Stored != 2 || r1.Duplicates != 1 || r2.Stored != 2 || r2.Duplicates != 1 {
		t.Fatalf("append answers %v / %v", r1, r2)
	}

	// StreamRecording returns exactly the events sent, in order.
	stream, err := h.client.StreamRecording(ctx, &recordingsv1.StreamRecordingRequest{SiteId: site, SessionId: sess})
	if err != nil {
		t.Fatal(err)
	}
	got := recvAll(t, stream)
	if len(got) != 4 {
		t.Fatalf("streamed %d chunks", len(got))
	}
	for i, m := range got {
		if m.Seq != int64(i) || !bytes.Equal(m.Events, chunks[i].Events) || m.PageViewId != chunks[i].PageViewId {
			t.Fatalf("chunk %d: seq %d, events equal %v", i, m.Seq, bytes.Equal(m.Events, chunks[i].Events))
		}
	}
	if got[3].FirstEventTime.AsTime().UnixMilli() != t0+9000 || got[3].LastEventTime.AsTime().UnixMilli() != t0+15000 {
		t.Fatalf("chunk times %v %v", got[3].FirstEventTime.AsTime(), got[3].LastEventTime.AsTime())
	}

	resp, err := h.client.GetSession(ctx, &recordingsv1.GetSessionRequest{SiteId: site, SessionId: sess})
	if err != nil {
		t.Fatal(err)
	}
	s := resp.Session
	checks := []struct {
		name      string
		got, want any
	}{
		{"clicks", s.ClickCount, int32(7)},
		{"rage", s.RageClickCount, int32(1)},
		{"dead", s.DeadClickCount, int32(1)},
		{"errors", s.ErrorCount, int32(1)},
		{"pages", s.PageCount, int32(2)},
		{"entry", s.EntryUrl, "https://shop.example.com/?utm_source=newsletter&utm_campaign=winter"},
		{"exit", s.ExitUrl, "https://shop.example.com/cart"},
		{"utm_source", s.UtmSource, "newsletter"},
		{"utm_campaign", s.UtmCampaign, "winter"},
		{"referrer_domain", s.ReferrerDomain, "news.example"},
		{"user", s.UserId, "user-9"},
		{"custom", strings.Join(s.CustomEvents, ","), "add_to_cart"},
		{"duration", s.Duration.AsDuration(), 15 * time.Second},
		{"country", s.Client.GetCountry(), "NL"},
		{"device", s.Client.GetDeviceType(), sessionsv1.DeviceType_DEVICE_TYPE_MOBILE},
		{"viewport", s.ViewportWidth, int32(1440)},
		{"chunks", s.ChunkCount, int32(4)},
		{"visitor", s.VisitorId, visitor},
		{"org", s.OrganizationId, int64(4_000_000_001)},
		{"version", s.Version, int64(2)}, // two calls, each a change
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
	if s.StoredBytes <= 0 || s.StoredBytes >= int64(len(chunks[0].Events)+len(chunks[1].Events)+len(chunks[2].Events)+len(chunks[3].Events)) {
		t.Errorf("stored bytes %d: not compressed", s.StoredBytes)
	}

	// Search receives the latest summary through the outbox.
	waitFor(t, func() bool { return proto.Equal(recv.get(site, sess), s) })
	recv.mu.Lock()
	var versions []int64
	for _, u := range recv.upserts {
		versions = append(versions, u.Version)
	}
	recv.mu.Unlock()
	if !slices.IsSorted(versions) {
		t.Errorf("search saw versions out of order: %v", versions)
	}

	// Re-delivering everything changes nothing.
	r3, err := h.client.AppendChunks(ctx, &recordingsv1.AppendChunksRequest{Chunks: chunks})
	if err != nil || r3.Stored != 0 || r3.Duplicates != 4 {
		t.Fatalf("re-delivery: %v %v", r3, err)
	}
	again, _ := h.client.GetSession(ctx, &recordingsv1.GetSessionRequest{SiteId: site, SessionId: sess})
	if !proto.Equal(again.GetSession(), s) {
		t.Fatalf("re-delivery changed the summary")
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 10s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestStreamSeeksToFullSnapshot(t *testing.T) {
	_, searchAddr := serveSearch(t, "127.0.0.1:0")
	h := start(t, testConfig(t), t.TempDir(), searchAddr)
	ctx := context.Background()
	const sess = "s_seeking000000000000"
	var chunks []*recordingsv1.Chunk
	for i := range int64(10) {
		ts := t0 + i*10_000
		evs := []ev{{"type": 3, "timestamp": ts, "data": ev{"source": 1, "positions": []any{}}}}
		if i == 0 || i == 4 || i == 7 {
			evs = append(evs, ev{"type": 2, "timestamp": ts + 1, "data": ev{"node": ev{}}})
		}
		chunks = append(chunks, mkChunk(sess, i, pvA, "https://a.example/", events(t, evs...)))
	}
	if _, err := h.client.AppendChunks(ctx, &recordingsv1.AppendChunksRequest{Chunks: chunks}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		offset time.Duration
		first  int64
	}{{0, 0}, {35 * time.Second, 0}, {40*time.Second + time.Millisecond, 4}, {65 * time.Second, 4}, {70*time.Second + time.Millisecond, 7}, {time.Hour, 7}} {
		st, err := h.client.StreamRecording(ctx, &recordingsv1.StreamRecordingRequest{SiteId: site, SessionId: sess, StartOffset: durationpb.New(tc.offset)})
		if err != nil {
			t.Fatal(err)
		}
		var seqs []int64
		for _, m := range recvAll(t, st) {
			seqs = append(seqs, m.Seq)
		}
		if len(seqs) == 0 || seqs[0] != tc.first || seqs[len(seqs)-1] != 9 || len(seqs) != int(10-tc.first) {
			t.Errorf("offset %v streamed %v, want %d..9", tc.offset, seqs, tc.first)
		}
	}
}

func TestInvalidInput(t *testing.T) {
	_, searchAddr := serveSearch(t, "127.0.0.1:0")
	cfg := testConfig(t)
	cfg.MaxChunkBytes = 4096
	cfg.MaxChunksPerRequest = 3
	h := start(t, cfg, t.TempDir(), searchAddr)
	ctx := context.Background()
	good := func() *recordingsv1.Chunk {
		return mkChunk("s_valid0000000000000", 0, pvA, "https://a/", events(t, ev{"type": 3, "timestamp": t0, "data": ev{"source": 1}}))
	}
	cases := map[string]func(c *recordingsv1.Chunk){
		"site_id":       func(c *recordingsv1.Chunk) { c.SiteId = 0 },
		"session_id":    func(c *recordingsv1.Chunk) { c.SessionId = "s_bad/../id" },
		"short session": func(c *recordingsv1.Chunk) { c.SessionId = "s_1" },
		"visitor_id":    func(c *recordingsv1.Chunk) { c.VisitorId = "" },
		"page_view_id":  func(c *recordingsv1.Chunk) { c.PageViewId = strings.Repeat("p", 65) },
		"seq":           func(c *recordingsv1.Chunk) { c.Seq = -1 },
		"events":        func(c *recordingsv1.Chunk) { c.Events = []byte(`{"type":2}`) },
		"events empty":  func(c *recordingsv1.Chunk) { c.Events = nil },
		"events json":   func(c *recordingsv1.Chunk) { c.Events = []byte(`[{"type":2,`) },
		"events size": func(c *recordingsv1.Chunk) {
			c.Events = events(t, ev{"type": 5, "timestamp": t0, "data": ev{"p": strings.Repeat("x", 5000)}})
		},
		"retention_days": func(c *recordingsv1.Chunk) { c.RetentionDays = -3 },
		"url":            func(c *recordingsv1.Chunk) { c.Url = strings.Repeat("u", 9000) },
	}
	// A chunk past the request limit fails the call as a whole, before
	// anything is stored.
	_, err := h.client.AppendChunks(ctx, &recordingsv1.AppendChunksRequest{Chunks: []*recordingsv1.Chunk{good(), good(), good(), good()}})
	if status.Code(err) != codes.InvalidArgument {
		t.Errorf("too many chunks: %v", err)
	}
	if _, err := h.client.GetSession(ctx, &recordingsv1.GetSessionRequest{SiteId: site, SessionId: "s_valid0000000000000"}); status.Code(err) != codes.NotFound {
		t.Errorf("rejected call stored data: %v", err)
	}
	// An invalid chunk is refused with a reason; the good one beside it is
	// stored (then a duplicate).
	first := true
	for name, mutate := range cases {
		c := good()
		mutate(c)
		res, err := h.client.AppendChunks(ctx, &recordingsv1.AppendChunksRequest{Chunks: []*recordingsv1.Chunk{good(), c}})
		if err != nil {
			t.Errorf("%s: %v, want per-chunk outcomes", name, err)
			continue
		}
		want := recordingsv1.ChunkOutcome_CHUNK_OUTCOME_DUPLICATE
		if first {
			want, first = recordingsv1.ChunkOutcome_CHUNK_OUTCOME_STORED, false
		}
		if len(res.Results) != 2 || res.Results[0].GetOutcome() != want || res.Refused != 1 ||
			res.Results[1].GetOutcome() != recordingsv1.ChunkOutcome_CHUNK_OUTCOME_REFUSED || res.Results[1].GetReason() == "" {
			t.Errorf("%s: %v, want the good chunk %v and the other refused with a reason", name, res, want)
		}
	}
	if _, err := h.client.GetSession(ctx, &recordingsv1.GetSessionRequest{SiteId: site, SessionId: "s_valid0000000000000"}); err != nil {
		t.Errorf("the good chunk beside refused ones: %v", err)
	}
	for name, call := range map[string]func() error{
		"get bad id": func() error {
			_, err := h.client.GetSession(ctx, &recordingsv1.GetSessionRequest{SiteId: site, SessionId: "x"})
			return err
		},
		"list token": func() error {
			_, err := h.client.ListSessionSummaries(ctx, &recordingsv1.ListSessionSummariesRequest{SiteId: site, PageToken: "zz"})
			return err
		},
		"list size": func() error {
			_, err := h.client.ListSessionSummaries(ctx, &recordingsv1.ListSessionSummariesRequest{PageSize: -1})
			return err
		},
		"visitor": func() error {
			_, err := h.client.DeleteVisitor(ctx, &recordingsv1.DeleteVisitorRequest{SiteId: site, VisitorId: "v"})
			return err
		},
		"activity": func() error {
			_, err := h.client.GetSiteActivity(ctx, &recordingsv1.GetSiteActivityRequest{})
			return err
		},
		"negative off": func() error {
			return streamErr(ctx, h, &recordingsv1.StreamRecordingRequest{SiteId: site, SessionId: "s_valid0000000000000", StartOffset: durationpb.New(-time.Second)})
		},
	} {
		if err := call(); status.Code(err) != codes.InvalidArgument {
			t.Errorf("%s: %v, want InvalidArgument", name, err)
		}
	}
	// GetHeatmap's own inputs are in heat_test.go.
	_, err = h.client.GetHeatmap(ctx, &recordingsv1.GetHeatmapRequest{SiteId: site})
	if status.Code(err) != codes.InvalidArgument {
		t.Errorf("GetHeatmap without kind or page: %v, want InvalidArgument", err)
	}
}

// TestAppendChunksOutcomes sends one call mixing every outcome: new chunks,
// a re-delivery, a duplicate inside the call, another tab's chunk with the
// same seq, an invalid chunk and chunks past the session's limit. Each gets
// its own result; the refused ones are counted by reason.
func TestAppendChunksOutcomes(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	t.Cleanup(func() { mp.Shutdown(context.Background()) })
	_, searchAddr := serveSearch(t, "127.0.0.1:0")
	cfg := testConfig(t)
	cfg.MaxChunksPerSession = 5
	h := start(t, cfg, t.TempDir(), searchAddr, func(d *Deps) { d.MeterProvider = mp })
	ctx := context.Background()
	const sess = "s_outcomes00000000000"
	sc := scriptedSession(t, sess) // seqs 0..3; 0..2 of pvA, 3 of pvB
	if r, err := h.client.AppendChunks(ctx, &recordingsv1.AppendChunksRequest{Chunks: []*recordingsv1.Chunk{sc[0]}}); err != nil || r.Stored != 1 {
		t.Fatalf("first chunk: %v %v", r, err)
	}
	// Another tab (pvB) allocated seq 0 and 1 too.
	tabB0 := mkChunk(sess, 0, pvB, "https://shop.example.com/other", events(t,
		ev{"type": 4, "timestamp": t0 + 50, "data": ev{"href": "https://shop.example.com/other", "width": 800, "height": 600}},
		ev{"type": 3, "timestamp": t0 + 60, "data": ev{"source": 2, "type": 2, "id": 1, "x": 5, "y": 5}}))
	tabB1 := mkChunk(sess, 1, pvB, "https://shop.example.com/other", events(t,
		ev{"type": 3, "timestamp": t0 + 2000, "data": ev{"source": 1, "positions": []any{}}}))
	bad := mkChunk(sess, 7, pvA, "https://shop.example.com/", []byte(`[{"type":3,`))
	late := mkChunk(sess, 9, pvA, "https://shop.example.com/", events(t, ev{"type": 3, "timestamp": t0 + 90000, "data": ev{"source": 1}}))
	// Key order decides admission: (0,A) held, then (0,B) (1,A) (1,B) (2,A)
	// fill the session to 5; (3,B) and (9,A) are past the limit.
	req := []*recordingsv1.Chunk{sc[2], bad, tabB0, sc[0], sc[1], tabB0, late, tabB1, sc[3]}
	res, err := h.client.AppendChunks(ctx, &recordingsv1.AppendChunksRequest{Chunks: req})
	if err != nil {
		t.Fatal(err)
	}
	const (
		stored    = recordingsv1.ChunkOutcome_CHUNK_OUTCOME_STORED
		duplicate = recordingsv1.ChunkOutcome_CHUNK_OUTCOME_DUPLICATE
		refused   = recordingsv1.ChunkOutcome_CHUNK_OUTCOME_REFUSED
	)
	want := []struct {
		outcome recordingsv1.ChunkOutcome
		reason  string
	}{
		{stored, ""},
		{refused, "chunks[1]"},
		{stored, ""},
		{duplicate, ""}, // stored by the first call
		{stored, ""},
		{duplicate, ""}, // the same chunk earlier in this call
		{refused, "most chunks"},
		{stored, ""},
		{refused, "most chunks"},
	}
	if len(res.Results) != len(want) {
		t.Fatalf("%d results for %d chunks", len(res.Results), len(want))
	}
	for i, w := range want {
		r := res.Results[i]
		if r.GetOutcome() != w.outcome || !strings.Contains(r.GetReason(), w.reason) || (w.reason == "") != (r.GetReason() == "") {
			t.Errorf("chunk %d: %v %q, want %v with a reason saying %q", i, r.GetOutcome(), r.GetReason(), w.outcome, w.reason)
		}
	}
	if res.Stored != 4 || res.Duplicates != 2 || res.Refused != 3 {
		t.Errorf("counts stored %d duplicates %d refused %d, want 4, 2, 3", res.Stored, res.Duplicates, res.Refused)
	}
	// Refused for good: sending it again is refused again; a stored chunk
	// of the full session is still a duplicate.
	again, err := h.client.AppendChunks(ctx, &recordingsv1.AppendChunksRequest{Chunks: []*recordingsv1.Chunk{sc[3], tabB0}})
	if err != nil || again.Results[0].GetOutcome() != refused || again.Results[1].GetOutcome() != duplicate {
		t.Fatalf("re-sent: %v %v", again, err)
	}

	// Both tabs' chunks of seq 0 and 1 are streamed, in (seq, page view) order.
	st, err := h.client.StreamRecording(ctx, &recordingsv1.StreamRecordingRequest{SiteId: site, SessionId: sess})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, m := range recvAll(t, st) {
		got = append(got, fmt.Sprintf("%d/%s", m.Seq, m.PageViewId))
	}
	if w := []string{"0/" + pvA, "0/" + pvB, "1/" + pvA, "1/" + pvB, "2/" + pvA}; !slices.Equal(got, w) {
		t.Fatalf("streamed %v, want %v", got, w)
	}
	sum, err := h.client.GetSession(ctx, &recordingsv1.GetSessionRequest{SiteId: site, SessionId: sess})
	if err != nil || sum.Session.ChunkCount != 5 {
		t.Fatalf("summary: %v %v, want 5 chunks", sum, err)
	}

	byReason := telemetrytest.SumBy(t, reader, "recordings.chunks.refused", "reason")
	if byReason["invalid"] != 1 || byReason["session_chunks"] != 3 || len(byReason) != 2 {
		t.Fatalf("refused chunks by reason %v, want invalid 1, session_chunks 3", byReason)
	}
}

// failingStore fails every Append with err.
type failingStore struct {
	store.Store
	err error
}

func (f failingStore) Append(context.Context, []store.Chunk) ([]store.AppendResult, error) {
	return nil, f.err
}

// TestAppendChunksTransientFailures: a store failure is not the chunks'
// fault, so the whole call fails with a status the caller retries, and no
// chunk is reported refused.
func TestAppendChunksTransientFailures(t *testing.T) {
	svc, err := New(context.Background(), testConfig(t), Deps{Authorizer: siteaccesstest.AllowAll{}, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	real := svc.store
	t.Cleanup(func() { svc.store = real; svc.Close() })
	chunks := scriptedSession(t, "s_transient0000000000")
	for _, tc := range []struct {
		err  error
		want codes.Code
	}{
		{errors.New("pebble: disk on fire"), codes.Unavailable},
		{fmt.Errorf("scylla: append chunk: %w", context.DeadlineExceeded), codes.Unavailable}, // the store did not answer in time
		{fmt.Errorf("scylla: append chunk: %w", context.Canceled), codes.Canceled},
	} {
		svc.store = failingStore{Store: real, err: tc.err}
		res, err := svc.AppendChunks(context.Background(), &recordingsv1.AppendChunksRequest{Chunks: chunks})
		if status.Code(err) != tc.want || res != nil {
			t.Errorf("store error %v: answered %v, %v; want %v for the whole call", tc.err, res, err, tc.want)
		}
		if msg := status.Convert(err).Message(); strings.Contains(msg, "fire") || strings.Contains(msg, "scylla") {
			t.Errorf("store error %v: message %q carries the store's words", tc.err, msg)
		}
	}
}

func streamErr(ctx context.Context, h *harness, req *recordingsv1.StreamRecordingRequest) error {
	st, err := h.client.StreamRecording(ctx, req)
	if err != nil {
		return err
	}
	_, err = st.Recv()
	return err
}

func TestAuthorizationAndDeletion(t *testing.T) {
	recv, searchAddr := serveSearch(t, "127.0.0.1:0")
	h := start(t, testConfig(t), t.TempDir(), searchAddr)
	ctx := context.Background()
	chunks := scriptedSession(t, "s_deleteme00000000000")
	other := scriptedSession(t, "s_keepme0000000000000")
	for _, c := range other {
		c.VisitorId = "v_someoneelse0000000000"
	}
	if _, err := h.client.AppendChunks(ctx, &recordingsv1.AppendChunksRequest{Chunks: append(chunks, other...)}); err != nil {
		t.Fatal(err)
	}
	if len(h.authz.calls) != 0 {
		t.Fatalf("AppendChunks asked the authorizer: %v", h.authz.calls)
	}
	// A foreign site is NotFound through every dashboard RPC.
	foreign := h.authz.deny
	for name, call := range map[string]func() error{
		"get": func() error {
			_, err := h.client.GetSession(ctx, &recordingsv1.GetSessionRequest{SiteId: foreign, SessionId: "s_deleteme00000000000"})
			return err
		},
		"stream": func() error {
			return streamErr(ctx, h, &recordingsv1.StreamRecordingRequest{SiteId: foreign, SessionId: "s_deleteme00000000000"})
		},
		"delete": func() error {
			_, err := h.client.DeleteSession(ctx, &recordingsv1.DeleteSessionRequest{SiteId: foreign, SessionId: "s_deleteme00000000000"})
			return err
		},
		"visitor": func() error {
			_, err := h.client.DeleteVisitor(ctx, &recordingsv1.DeleteVisitorRequest{SiteId: foreign, VisitorId: visitor})
			return err
		},
		"activity": func() error {
			_, err := h.client.GetSiteActivity(ctx, &recordingsv1.GetSiteActivityRequest{SiteId: foreign})
			return err
		},
		"heatmap": func() error {
			_, err := h.client.GetHeatmap(ctx, &recordingsv1.GetHeatmapRequest{SiteId: foreign})
			return err
		},
		"lookup assets": func() error {
			_, err := h.client.LookupAssets(ctx, &recordingsv1.LookupAssetsRequest{SiteId: foreign, Urls: []string{"https://shop.example.com/a.css"}})
			return err
		},
		"get asset": func() error {
			_, err := h.client.GetAsset(ctx, &recordingsv1.GetAssetRequest{SiteId: foreign, Hash: strings.Repeat("a", 64)})
			return err
		},
	} {
		if err := call(); status.Code(err) != codes.NotFound {
			t.Errorf("%s on a foreign site: %v, want NotFound", name, err)
		}
	}
	act, err := h.client.GetSiteActivity(ctx, &recordingsv1.GetSiteActivityRequest{SiteId: site})
	if err != nil || act.SessionsLast_24H != 2 || time.Since(act.LastChunkTime.AsTime()) > time.Minute {
		t.Fatalf("activity %v %v", act, err)
	}
	list, err := h.client.ListSessionSummaries(ctx, &recordingsv1.ListSessionSummariesRequest{SiteId: site, PageSize: 1})
	if err != nil || len(list.Sessions) != 1 || list.NextPageToken == "" {
		t.Fatalf("list page 1: %v %v", list, err)
	}
	list2, err := h.client.ListSessionSummaries(ctx, &recordingsv1.ListSessionSummariesRequest{SiteId: site, PageSize: 1, PageToken: list.NextPageToken})
	if err != nil || len(list2.Sessions) != 1 || list2.Sessions[0].SessionId == list.Sessions[0].SessionId {
		t.Fatalf("list page 2: %v %v", list2, err)
	}

	del, err := h.client.DeleteVisitor(ctx, &recordingsv1.DeleteVisitorRequest{SiteId: site, VisitorId: visitor})
	if err != nil || del.DeletedSessions != 1 {
		t.Fatalf("DeleteVisitor: %v %v", del, err)
	}
	if _, err := h.client.GetSession(ctx, &recordingsv1.GetSessionRequest{SiteId: site, SessionId: "s_deleteme00000000000"}); status.Code(err) != codes.NotFound {
		t.Fatalf("deleted visitor's session: %v", err)
	}
	if err := streamErr(ctx, h, &recordingsv1.StreamRecordingRequest{SiteId: site, SessionId: "s_deleteme00000000000"}); status.Code(err) != codes.NotFound {
		t.Fatalf("deleted visitor's recording: %v", err)
	}
	if _, err := h.client.DeleteSession(ctx, &recordingsv1.DeleteSessionRequest{SiteId: site, SessionId: "s_keepme0000000000000"}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.client.DeleteSession(ctx, &recordingsv1.DeleteSessionRequest{SiteId: site, SessionId: "s_keepme0000000000000"}); status.Code(err) != codes.NotFound {
		t.Fatalf("second delete: %v", err)
	}
	// Both deletions reach search, after the upserts.
	waitFor(t, func() bool {
		recv.mu.Lock()
		defer recv.mu.Unlock()
		return len(recv.deletes) == 2
	})
	recv.mu.Lock()
	defer recv.mu.Unlock()
	if recv.deletes[0].GetVisitorId() != visitor || !slices.Equal(recv.deletes[1].GetSessionIds().GetIds(), []string{"s_keepme0000000000000"}) {
		t.Fatalf("deletes %v", recv.deletes)
	}
	h.authz.mu.Lock()
	defer h.authz.mu.Unlock()
	if !slices.Contains(h.authz.calls, fmt.Sprintf("%d:true", site)) || !slices.Contains(h.authz.calls, fmt.Sprintf("%d:false", site)) {
		t.Fatalf("authorizer calls %v: writes and reads not told apart", h.authz.calls)
	}
}

func TestOutboxHoldsWhileSearchIsDown(t *testing.T) {
	// Reserve an address, then leave it closed: search is down.
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := lis.Addr().String()
	lis.Close()
	h := start(t, testConfig(t), t.TempDir(), addr)
	ctx := context.Background()
	chunks := scriptedSession(t, "s_outage0000000000000")
	for _, c := range chunks {
		if _, err := h.client.AppendChunks(ctx, &recordingsv1.AppendChunksRequest{Chunks: []*recordingsv1.Chunk{c}}); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, func() bool { return !h.svc.relay.Dependency.Up() }) // deliveries to search have failed
	depth, err := h.svc.store.OutboxDepth(ctx)
	if err != nil || depth != 4 {
		t.Fatalf("outbox depth %d (%v), want 4 held while search is down", depth, err)
	}
	recv, _ := serveSearch(t, addr)
	want, err := h.client.GetSession(ctx, &recordingsv1.GetSessionRequest{SiteId: site, SessionId: "s_outage0000000000000"})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return proto.Equal(recv.get(site, "s_outage0000000000000"), want.Session) })
	waitFor(t, func() bool { d, _ := h.svc.store.OutboxDepth(ctx); return d == 0 })
}

func TestRetentionPerSite(t *testing.T) {
	recv, searchAddr := serveSearch(t, "127.0.0.1:0")
	cfg := testConfig(t)
	cfg.SweepInterval = 50 * time.Millisecond
	h := start(t, cfg, t.TempDir(), searchAddr)
	ctx := context.Background()
	old := scriptedSession(t, "s_oldsession000000000")
	for _, c := range old {
		c.ServerTime = timestamppb.New(time.Now().Add(-72 * time.Hour))
		c.RetentionDays = 2 // the site keeps two days
	}
	fresh := scriptedSession(t, "s_freshsession0000000")
	for _, c := range fresh {
		c.ServerTime = timestamppb.New(time.Now().Add(-72 * time.Hour))
		c.RetentionDays = 0 // default (365 days)
	}
	if _, err := h.client.AppendChunks(ctx, &recordingsv1.AppendChunksRequest{Chunks: append(old, fresh...)}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.client.GetSession(ctx, &recordingsv1.GetSessionRequest{SiteId: site, SessionId: "s_oldsession000000000"}); status.Code(err) != codes.NotFound {
		t.Fatalf("expired session: %v, want NotFound", err)
	}
	if _, err := h.client.GetSession(ctx, &recordingsv1.GetSessionRequest{SiteId: site, SessionId: "s_freshsession0000000"}); err != nil {
		t.Fatalf("session within default retention: %v", err)
	}
	// The sweep loop removes it and tells search.
	waitFor(t, func() bool {
		recv.mu.Lock()
		defer recv.mu.Unlock()
		for _, d := range recv.deletes {
			if slices.Equal(d.GetSessionIds().GetIds(), []string{"s_oldsession000000000"}) {
				return true
			}
		}
		return false
	})
	n := 0
	if err := h.svc.store.ReadChunks(ctx, site, "s_oldsession000000000", 0, func(store.StoredChunk) error { n++; return nil }); err != nil || n != 0 {
		t.Fatalf("swept session still has %d chunks (%v)", n, err)
	}
}

// recordingsClient calls both of the service's contracts, as the
// dashboard's gateway and ingest do.
type recordingsClient struct {
	recordingsv1.RecordingsServiceClient
	recordingsv1.RecordingsInternalServiceClient
}
