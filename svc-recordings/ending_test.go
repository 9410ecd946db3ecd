package recordings

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	notifyv1 "github.com/sightlinehq/sightline/gen/sightline/notify/v1"
	recordingsv1 "github.com/sightlinehq/sightline/gen/sightline/recordings/v1"
	"github.com/sightlinehq/sightline/internal/grpctest"
	"github.com/sightlinehq/sightline/platform/telemetry/telemetrytest"
	"github.com/sightlinehq/sightline/svc-recordings/store"
)

// notifyReceiver is a real NotifyInternalService on a socket that keeps
// every event it accepted (re-publications included) and, while down,
// answers Unavailable.
type notifyReceiver struct {
	notifyv1.UnimplementedNotifyInternalServiceServer
	mu       sync.Mutex
	down     bool
	attempts int
	events   []*notifyv1.Event
}

func (r *notifyReceiver) PublishEvents(ctx context.Context, req *notifyv1.PublishEventsRequest) (*notifyv1.PublishEventsResponse, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.attempts++
	if r.down {
		return nil, status.Error(codes.Unavailable, "notify is down")
	}
	if len(req.GetEvents()) > 500 {
		return nil, status.Error(codes.InvalidArgument, "more than 500 events")
	}
	r.events = append(r.events, req.GetEvents()...)
	return &notifyv1.PublishEventsResponse{}, nil
}

func (r *notifyReceiver) setDown(down bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.down = down
}

// byID answers the events received with id.
func (r *notifyReceiver) byID(id string) []*notifyv1.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []*notifyv1.Event
	for _, e := range r.events {
		if e.GetId() == id {
			out = append(out, e)
		}
	}
	return out
}

func (r *notifyReceiver) count() (events, attempts int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.events), r.attempts
}

func serveNotify(t *testing.T) (*notifyReceiver, string) {
	t.Helper()
	r := &notifyReceiver{}
	return r, grpctest.Serve(t, func(s *grpc.Server) { notifyv1.RegisterNotifyInternalServiceServer(s, r) })
}

func withNotify(t *testing.T, addr string) func(*Deps) {
	return func(d *Deps) { d.Notify = notifyv1.NewNotifyInternalServiceClient(dial(t, addr)) }
}

func runSweep(t *testing.T, h *harness, task recordingsv1.SweepTask) *recordingsv1.RunSweepResponse {
	t.Helper()
	res, err := h.internal.RunSweep(context.Background(), &recordingsv1.RunSweepRequest{Task: task})
	if err != nil {
		t.Fatalf("RunSweep(%v): %v", task, err)
	}
	return res
}

// agedSession is scriptedSession received by ingest age ago.
func agedSession(t *testing.T, sess string, age time.Duration) []*recordingsv1.Chunk {
	chunks := scriptedSession(t, sess)
	for _, c := range chunks {
		c.ServerTime = timestamppb.New(time.Now().Add(-age))
	}
	return chunks
}

// TestSessionEndsOnceAndNotifies: a session is not ended before it has
// been idle for session-idle; then one RunSweep ends it, notify receives
// session.ended once with the final summary (and search the same summary);
// a second pass publishes nothing; a late chunk is stored for replay but
// changes nothing; an answer becomes feedback.created.
func TestSessionEndsOnceAndNotifies(t *testing.T) {
	recv, searchAddr := serveAnswerSearch(t)
	nr, notifyAddr := serveNotify(t)
	cfg := testConfig(t)
	cfg.SessionIdle = 2 * time.Second
	h := start(t, cfg, t.TempDir(), searchAddr, withNotify(t, notifyAddr))
	ctx := context.Background()
	const sess = "s_ending00000000000000000"
	if _, err := h.client.AppendChunks(ctx, &recordingsv1.AppendChunksRequest{Chunks: agedSession(t, sess, time.Second)}); err != nil {
		t.Fatal(err)
	}
	if res := runSweep(t, h, recordingsv1.SweepTask_SWEEP_TASK_END_IDLE_SESSIONS); res.Sessions != 0 {
		t.Fatalf("a session idle for 1s of 2 was ended: %v", res)
	}
	time.Sleep(1200 * time.Millisecond) // the session's 2 s idle time passes
	if res := runSweep(t, h, recordingsv1.SweepTask_SWEEP_TASK_END_IDLE_SESSIONS); res.Sessions != 1 || res.More {
		t.Fatalf("RunSweep after the idle time: %v, want one session ended", res)
	}
	got, err := h.client.GetSession(ctx, &recordingsv1.GetSessionRequest{SiteId: site, SessionId: sess})
	if err != nil {
		t.Fatal(err)
	}
	final := got.Session
	if final.GetEndedTime() == nil || final.GetChunkCount() != 4 {
		t.Fatalf("final summary %v", final)
	}
	id := fmt.Sprintf("session.ended:%d:%s", site, sess)
	waitFor(t, func() bool { return len(nr.byID(id)) == 1 })
	ev := nr.byID(id)[0]
	if ev.GetType() != "session.ended" || ev.GetSiteId() != site || !proto.Equal(ev.GetSession(), final) {
		t.Fatalf("event %v, want session.ended with the final summary %v", ev, final)
	}
	if d := ev.GetTime().AsTime(); !d.Equal(final.GetEndedTime().AsTime()) {
		t.Fatalf("event time %v, ended_time %v", d, final.GetEndedTime().AsTime())
	}
	waitFor(t, func() bool { return proto.Equal(recv.get(site, sess), final) })

	// Once: a second pass ends and publishes nothing.
	if res := runSweep(t, h, recordingsv1.SweepTask_SWEEP_TASK_END_IDLE_SESSIONS); res.Sessions != 0 {
		t.Fatalf("second pass ended %d", res.Sessions)
	}
	// Final: a late chunk is stored for replay and changes nothing.
	late := mkChunk(sess, 9, pvB, "https://shop.example.com/cart", events(t, ev2(t0+99000)))
	res, err := h.client.AppendChunks(ctx, &recordingsv1.AppendChunksRequest{Chunks: []*recordingsv1.Chunk{late}})
	if err != nil || res.Stored != 1 {
		t.Fatalf("late chunk: %v, %v", res, err)
	}
	if again, err := h.client.GetSession(ctx, &recordingsv1.GetSessionRequest{SiteId: site, SessionId: sess}); err != nil || !proto.Equal(again.Session, final) {
		t.Fatalf("a late chunk changed the final summary: %v, %v", again.GetSession(), err)
	}
	n := 0
	if err := h.svc.store.ReadChunks(ctx, site, sess, 0, func(store.StoredChunk) error { n++; return nil }); err != nil || n != 5 {
		t.Fatalf("replay has %d chunks (%v), want 5", n, err)
	}

	// An answer: feedback.created, carrying the answer as stored.
	fb := feedback("a_endfeedback000000000000", 1, "broken")
	fb.SessionId = sess
	if _, err := h.client.AppendChunks(ctx, &recordingsv1.AppendChunksRequest{Chunks: []*recordingsv1.Chunk{answerChunk(fb)}}); err != nil {
		t.Fatal(err)
	}
	aid := fmt.Sprintf("answer.created:%d:%s", site, fb.GetId())
	waitFor(t, func() bool { return len(nr.byID(aid)) == 1 })
	if a := nr.byID(aid)[0]; a.GetType() != "feedback.created" || a.GetAnswer().GetId() != fb.GetId() || a.GetAnswer().GetRating() != 1 {
		t.Fatalf("answer event %v", a)
	}
	// The relay acknowledges after notify took a batch: wait for that.
	waitFor(t, func() bool { d, err := h.svc.store.NotifyOutboxDepth(ctx); return err == nil && d == 0 })
	time.Sleep(300 * time.Millisecond) // room for a repeated session.ended to show up, were it sent
	if n := len(nr.byID(id)); n != 1 {
		t.Fatalf("session.ended published %d times", n)
	}

	// The other task and a bad one.
	runSweep(t, h, recordingsv1.SweepTask_SWEEP_TASK_RETENTION)
	for _, task := range []recordingsv1.SweepTask{recordingsv1.SweepTask_SWEEP_TASK_UNSPECIFIED, recordingsv1.SweepTask(42)} {
		if _, err := h.internal.RunSweep(ctx, &recordingsv1.RunSweepRequest{Task: task}); status.Code(err) != codes.InvalidArgument {
			t.Fatalf("task %v: %v, want InvalidArgument", task, err)
		}
	}
}

// ev2 is one mouse move at ts.
func ev2(ts int64) ev {
	return ev{"type": 3, "timestamp": ts, "data": ev{"source": 1, "positions": []any{ev{"x": 1, "y": 1, "id": 4, "timeOffset": 0}}}}
}

// TestNotifyOutageHoldsEvents: while notify answers Unavailable the events
// wait and are retried; search's outbox drains meanwhile; when notify is
// back every event arrives, none lost, none twice. A deleted session's
// event is skipped, not published.
func TestNotifyOutageHoldsEvents(t *testing.T) {
	recv, searchAddr := serveAnswerSearch(t)
	nr, notifyAddr := serveNotify(t)
	nr.setDown(true)
	cfg := testConfig(t)
	cfg.SessionIdle = time.Minute
	h := start(t, cfg, t.TempDir(), searchAddr, withNotify(t, notifyAddr))
	ctx := context.Background()
	sessions := []string{"s_outage1000000000000000", "s_outage2000000000000000", "s_outage3000000000000000"}
	for _, sess := range sessions {
		if _, err := h.client.AppendChunks(ctx, &recordingsv1.AppendChunksRequest{Chunks: agedSession(t, sess, time.Hour)}); err != nil {
			t.Fatal(err)
		}
	}
	sv := surveyAnswer("a_outagesurvey00000000000", 5_000_000_017, 9, "fine")
	sv.SessionId = sessions[0]
	if _, err := h.client.AppendChunks(ctx, &recordingsv1.AppendChunksRequest{Chunks: []*recordingsv1.Chunk{answerChunk(sv)}}); err != nil {
		t.Fatal(err)
	}
	if res := runSweep(t, h, recordingsv1.SweepTask_SWEEP_TASK_END_IDLE_SESSIONS); res.Sessions != 3 {
		t.Fatalf("ended %d, want 3", res.Sessions)
	}
	// The third session is deleted before notify returns: its event is
	// skipped when its turn comes.
	if _, err := h.client.DeleteSession(ctx, &recordingsv1.DeleteSessionRequest{SiteId: site, SessionId: sessions[2]}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { _, a := nr.count(); return a >= 3 }) // retried
	if d, err := h.svc.store.NotifyOutboxDepth(ctx); err != nil || d != 4 {
		t.Fatalf("notify outbox depth %d (%v) while notify is down, want 4", d, err)
	}
	// Search is not held back by notify's outage.
	waitFor(t, func() bool { d, _ := h.svc.store.OutboxDepth(ctx); return d == 0 })
	waitFor(t, func() bool { return recv.get(site, sessions[0]).GetEndedTime() != nil })
	if n, _ := nr.count(); n != 0 {
		t.Fatalf("%d events accepted while down", n)
	}

	nr.setDown(false)
	waitFor(t, func() bool { d, _ := h.svc.store.NotifyOutboxDepth(ctx); return d == 0 })
	for _, sess := range sessions[:2] {
		if n := len(nr.byID(fmt.Sprintf("session.ended:%d:%s", site, sess))); n != 1 {
			t.Fatalf("session.ended of %s published %d times", sess, n)
		}
	}
	if n := len(nr.byID(fmt.Sprintf("session.ended:%d:%s", site, sessions[2]))); n != 0 {
		t.Fatalf("the deleted session's event was published %d times", n)
	}
	a := nr.byID(fmt.Sprintf("answer.created:%d:%s", site, sv.GetId()))
	if len(a) != 1 || a[0].GetType() != "survey.response.created" || a[0].GetAnswer().GetNps() != 9 {
		t.Fatalf("survey event %v", a)
	}
}

// TestAppendWakesNotifyOnlyForAnswers: an append of chunks leaves notify's
// relay asleep (they add nothing to its outbox, and every wake was a scan
// of the store), while an append of an answer wakes it, so the answer's
// event goes out at once rather than at the next poll.
func TestAppendWakesNotifyOnlyForAnswers(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	t.Cleanup(func() { mp.Shutdown(context.Background()) })
	_, searchAddr := serveAnswerSearch(t)
	nr, notifyAddr := serveNotify(t)
	h := start(t, testConfig(t), t.TempDir(), searchAddr, withNotify(t, notifyAddr), func(d *Deps) { d.MeterProvider = mp })
	ctx := context.Background()
	// scans counts the relay's reads of notify's outbox.
	scans := func() float64 {
		t.Helper()
		return telemetrytest.By(t, reader, "recordings.store.duration", "op")["notify_outbox_pending"]
	}
	waitFor(t, func() bool { return scans() >= 1 }) // the relay's first poll
	before := scans()
	for i := range 10 {
		res, err := h.client.AppendChunks(ctx, &recordingsv1.AppendChunksRequest{Chunks: scriptedSession(t, fmt.Sprintf("s_wake%019d", i))})
		if err != nil || res.Stored != 4 {
			t.Fatalf("append %d: %v, %v", i, res, err)
		}
		time.Sleep(20 * time.Millisecond) // time for a woken relay to scan
	}
	// One poll (every 2 s) may fall in the appends; ten wakes would not.
	if n := scans() - before; n > 1 {
		t.Fatalf("ten appends of chunks had notify's relay read its outbox %v times", n)
	}

	fb := feedback("a_wakefeedback00000000000", 2, "slow")
	began := time.Now()
	if _, err := h.client.AppendChunks(ctx, &recordingsv1.AppendChunksRequest{Chunks: []*recordingsv1.Chunk{answerChunk(fb)}}); err != nil {
		t.Fatal(err)
	}
	aid := fmt.Sprintf("answer.created:%d:%s", site, fb.GetId())
	waitFor(t, func() bool { return len(nr.byID(aid)) == 1 })
	if d := time.Since(began); d > time.Second {
		t.Fatalf("the answer's event took %v: the relay waited for its poll (2 s) instead of being woken", d)
	}
}

// TestNoNotifyDiscards: without a notify client the events are dropped as
// they come, so the outbox stays bounded.
func TestNoNotifyDiscards(t *testing.T) {
	_, searchAddr := serveAnswerSearch(t)
	cfg := testConfig(t)
	cfg.SessionIdle = time.Minute
	h := start(t, cfg, t.TempDir(), searchAddr)
	ctx := context.Background()
	if _, err := h.client.AppendChunks(ctx, &recordingsv1.AppendChunksRequest{Chunks: agedSession(t, "s_nonotify00000000000000", time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if res := runSweep(t, h, recordingsv1.SweepTask_SWEEP_TASK_END_IDLE_SESSIONS); res.Sessions != 1 {
		t.Fatalf("ended %d", res.Sessions)
	}
	waitFor(t, func() bool { d, _ := h.svc.store.NotifyOutboxDepth(ctx); return d == 0 })
}

// TestSweepLoopEndsIdleSessions: with recordings.sweep-interval set (no
// notify scheduling), the in-process loop ends idle sessions too.
func TestSweepLoopEndsIdleSessions(t *testing.T) {
	_, searchAddr := serveAnswerSearch(t)
	nr, notifyAddr := serveNotify(t)
	cfg := testConfig(t)
	cfg.SessionIdle = time.Minute
	cfg.SweepInterval = 50 * time.Millisecond
	h := start(t, cfg, t.TempDir(), searchAddr, withNotify(t, notifyAddr))
	const sess = "s_sweeploop0000000000000"
	if _, err := h.client.AppendChunks(context.Background(), &recordingsv1.AppendChunksRequest{Chunks: agedSession(t, sess, time.Hour)}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return len(nr.byID(fmt.Sprintf("session.ended:%d:%s", site, sess))) == 1 })
}

func TestConfigSweeps(t *testing.T) {
	cfg := testConfig(t)
	if cfg.SweepInterval != 0 || cfg.SessionIdle < 30*time.Minute || cfg.SweepLimit != 10000 {
		t.Fatalf("defaults: interval %v, idle %v, limit %d", cfg.SweepInterval, cfg.SessionIdle, cfg.SweepLimit)
	}
	for _, mut := range []func(*Config){
		func(c *Config) { c.SweepInterval = -time.Second },
		func(c *Config) { c.SessionIdle = 0 },
		func(c *Config) { c.SweepLimit = 0 },
	} {
		c := testConfig(t)
		mut(&c)
		if err := c.Validate(); err == nil {
			t.Fatalf("accepted %+v", c)
		}
	}
}
