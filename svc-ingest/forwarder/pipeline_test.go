package forwarder

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"

	recordingsv1 "github.com/sightlinehq/sightline/gen/sightline/recordings/v1"
	"github.com/sightlinehq/sightline/internal/poll"
	"github.com/sightlinehq/sightline/svc-ingest/spool"
)

// overlap holds the first call carrying seq 0 (the first batch's: calls
// in flight may arrive in any order) until a call without it has arrived
// (at most 10 s), then until release is closed (if set), and passes every
// call on to next. overlapped tells that a call without seq 0 arrived
// before that first call was let through: two calls were in flight.
type overlap struct {
	recordingsv1.UnimplementedRecordingsInternalServiceServer
	next       recordingsv1.RecordingsInternalServiceServer
	release    chan struct{}
	held       atomic.Bool
	passed     atomic.Bool
	once       sync.Once
	second     chan struct{}
	overlapped atomic.Bool
}

func newOverlap(next recordingsv1.RecordingsInternalServiceServer, release chan struct{}) *overlap {
	return &overlap{next: next, release: release, second: make(chan struct{})}
}

func (o *overlap) AppendChunks(ctx context.Context, req *recordingsv1.AppendChunksRequest) (*recordingsv1.AppendChunksResponse, error) {
	first := slices.ContainsFunc(req.GetChunks(), func(c *recordingsv1.Chunk) bool { return c.GetSeq() == 0 })
	switch {
	case first && o.held.CompareAndSwap(false, true):
		select {
		case <-o.second:
		case <-time.After(10 * time.Second):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		if o.release != nil {
			select {
			case <-o.release:
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		o.passed.Store(true)
	case !first:
		if !o.passed.Load() {
			o.overlapped.Store(true)
		}
		o.once.Do(func() { close(o.second) })
	}
	return o.next.AppendChunks(ctx, req)
}

// sinkFunc is a Sink made of a function (to watch calls from the
// forwarder's side).
type sinkFunc func(ctx context.Context, in *recordingsv1.AppendChunksRequest, opts ...grpc.CallOption) (*recordingsv1.AppendChunksResponse, error)

func (s sinkFunc) AppendChunks(ctx context.Context, in *recordingsv1.AppendChunksRequest, opts ...grpc.CallOption) (*recordingsv1.AppendChunksResponse, error) {
	return s(ctx, in, opts...)
}

func openSpoolAt(t *testing.T, dir string) *spool.Spool {
	t.Helper()
	sp, err := spool.Open(spool.Options{Dir: dir, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sp.Close() })
	return sp
}

// keysOf lists the keys of session s_a's seqs from..to-1, sorted as
// storedKeys sorts.
func keysOf(from, to int) []string {
	var out []string
	for i := from; i < to; i++ {
		out = append(out, fmt.Sprintf("5000000001/s_a/%d", i))
	}
	slices.Sort(out)
	return out
}

func sorted(s []string) []string { slices.Sort(s); return s }

// wantStored fails unless the sink holds exactly session s_a's seqs
// from..to-1 (what says when, in the message).
func wantStored(t *testing.T, rec *fakeRecordings, from, to int, what string) {
	t.Helper()
	if got := sorted(rec.storedKeys()); fmt.Sprint(got) != fmt.Sprint(keysOf(from, to)) {
		t.Fatalf("stored %s: %v, want seqs %d-%d", what, got, from, to-1)
	}
}

// TestTwoCallsInFlightAckInOrder: recordings holds the first call until the
// second has arrived — so two calls really are in flight — and answers the
// second at once. While the first is unanswered the cursor does not move,
// in memory (the spool still counts all 8 records) or on disk (no cursor
// file: the first acknowledgement writes one at once): the second batch,
// delivered, waits for the first. Once the first is answered both are
// acknowledged, and a reopened spool holds nothing.
func TestTwoCallsInFlightAckInOrder(t *testing.T) {
	rec := &fakeRecordings{}
	release := make(chan struct{})
	gate := newOverlap(rec, release)
	client := serveRecordings(t, gate)
	dir := t.TempDir()
	sp := openSpoolAt(t, dir)
	for i := range 8 {
		appendChunk(t, sp, 5_000_000_001, "s_a", int64(i))
	}
	cursor := filepath.Join(dir, "cursor.forwarder")
	if _, err := os.Stat(cursor); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("cursor file before any delivery: %v", err)
	}
	answered := make(chan struct{}) // the first call to return: the second batch's
	var once sync.Once
	f := newForwarder(sp, nil)
	f.Client = sinkFunc(func(ctx context.Context, in *recordingsv1.AppendChunksRequest, opts ...grpc.CallOption) (*recordingsv1.AppendChunksResponse, error) {
		resp, err := client.AppendChunks(ctx, in, opts...)
		if err == nil {
			once.Do(func() { close(answered) })
		}
		return resp, err
	})
	f.BatchRecords, f.InFlight = 4, 2
	stop := run(t, f)
	select {
	case <-answered:
	case <-time.After(20 * time.Second):
		t.Fatal("no call answered")
	}
	if !gate.overlapped.Load() {
		t.Fatal("the second call did not arrive while the first was held: one call in flight")
	}
	wantStored(t, rec, 4, 8, "while the first call is held (the second batch)")
	// Give a forwarder that acknowledged out of order the time to do so.
	for end := time.Now().Add(300 * time.Millisecond); time.Now().Before(end); time.Sleep(5 * time.Millisecond) {
		if n := sp.Stats().Records; n != 8 {
			t.Fatalf("the spool counts %d records while the first batch is unanswered: acknowledged past it", n)
		}
		if _, err := os.Stat(cursor); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("cursor persisted while the first batch is unanswered (%v)", err)
		}
	}
	close(release)
	waitDrained(t, sp)
	stop()
	wantStored(t, rec, 0, 8, "at the end")
	if st := f.Stats(); st.Delivered != 8 || st.Failures != 0 {
		t.Fatalf("stats %+v", st)
	}
	sp.Close()
	if n := openSpoolAt(t, dir).Stats().Records; n != 0 {
		t.Fatalf("reopened spool holds %d records", n)
	}
}

// TestFirstCallFailsSecondStored: of the calls in flight (two, and the
// default), the first fails (recordings fails its chunks, again and
// again) while the others are stored. Their batches count as delivered
// but are not acknowledged. The forwarder is stopped and the spool
// reopened: every record is read again, the delivered ones too (at least
// once). A new forwarder, with recordings working, delivers the first
// batch and the others again (duplicates): nothing lost, nothing
// dead-lettered, the spool empty.
func TestFirstCallFailsSecondStored(t *testing.T) {
	for _, inFlight := range []int{2, DefaultInFlight} {
		t.Run(fmt.Sprint("in-flight=", inFlight), func(t *testing.T) { testFirstCallFails(t, inFlight) })
	}
}

func testFirstCallFails(t *testing.T, inFlight int) {
	rec := &fakeRecordings{transient: func(c *recordingsv1.Chunk) bool { return c.GetSeq() < 4 }}
	gate := newOverlap(rec, nil)
	client := serveRecordings(t, gate)
	dir := t.TempDir()
	sp := openSpoolAt(t, dir)
	n := 4 * inFlight // a batch of 4 per call
	for i := range n {
		appendChunk(t, sp, 5_000_000_001, "s_a", int64(i))
	}
	f := newForwarder(sp, client)
	f.BatchRecords, f.InFlight, f.MaxAttempts = 4, inFlight, 1000
	stop := run(t, f)
	poll.Until(t, 10*time.Second, func() error {
		if st := f.Stats(); st.Delivered != int64(n-4) || st.Failures < 5 {
			return fmt.Errorf("stats %+v; want the later batches delivered and the first failing", st)
		}
		return nil
	})
	if !gate.overlapped.Load() {
		t.Fatal("the second call did not arrive while the first was held: one call in flight")
	}
	if got := sp.Stats().Records; got != int64(n) {
		t.Fatalf("the spool counts %d records while the first batch fails: acknowledged past it", got)
	}
	stop()
	if st := f.Stats(); st.DeadLettered != 0 {
		t.Fatalf("dead-lettered during failures: %+v", st)
	}
	sp.Close()

	sp = openSpoolAt(t, dir)
	if got := sp.Stats().Records; got != int64(n) {
		t.Fatalf("reopened spool holds %d records, want %d", got, n)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	recs, err := sp.Read(ctx, 100, 1<<20)
	cancel()
	if err != nil {
		t.Fatal(err)
	}
	var seqs, want []int64
	for i, r := range recs {
		var c recordingsv1.Chunk
		if err := proto.Unmarshal(r.Payload, &c); err != nil {
			t.Fatal(err)
		}
		seqs, want = append(seqs, c.GetSeq()), append(want, int64(i))
	}
	if len(seqs) != n || !slices.Equal(seqs, want) {
		t.Fatalf("after a restart the spool reads seqs %v, want 0-%d", seqs, n-1)
	}
	sp.Close()

	rec.mu.Lock()
	rec.transient = nil
	rec.mu.Unlock()
	sp = openSpoolAt(t, dir)
	f = newForwarder(sp, client)
	f.BatchRecords, f.InFlight = 4, inFlight
	stop = run(t, f)
	waitDrained(t, sp)
	stop()
	wantStored(t, rec, 0, n, "at the end")
	if st := f.Stats(); st.Delivered != int64(n) || st.DeadLettered != 0 {
		t.Fatalf("after the restart: stats %+v; want %d delivered (%d of them duplicates)", st, n, n-4)
	}
}

// window holds every call until want calls are in flight together — and
// 200 ms more, for a call past want to show — or 1 s passes, and keeps
// the most it saw at once.
type window struct {
	recordingsv1.UnimplementedRecordingsInternalServiceServer
	next       recordingsv1.RecordingsInternalServiceServer
	want       int
	mu         sync.Mutex
	now, most  int
	full       chan struct{}
	fullClosed bool
}

func (w *window) AppendChunks(ctx context.Context, req *recordingsv1.AppendChunksRequest) (*recordingsv1.AppendChunksResponse, error) {
	w.mu.Lock()
	w.now++
	w.most = max(w.most, w.now)
	if w.now >= w.want && !w.fullClosed {
		time.AfterFunc(200*time.Millisecond, func() { close(w.full) })
		w.fullClosed = true
	}
	w.mu.Unlock()
	select {
	case <-w.full:
	case <-time.After(time.Second):
	case <-ctx.Done():
	}
	w.mu.Lock()
	w.now--
	w.mu.Unlock()
	return w.next.AppendChunks(ctx, req)
}

// TestDefaultWindowFills: with the default InFlight, that many calls are
// in flight at once — the first is held until they all arrived — and
// never more (held 200 ms longer, a call past them would arrive), and
// every record is delivered.
func TestDefaultWindowFills(t *testing.T) {
	rec := &fakeRecordings{}
	w := &window{next: rec, want: DefaultInFlight, full: make(chan struct{})}
	sp := openSpoolAt(t, t.TempDir())
	n := 4 * DefaultInFlight * 2
	for i := range n {
		appendChunk(t, sp, 5_000_000_001, "s_a", int64(i))
	}
	f := newForwarder(sp, serveRecordings(t, w))
	f.BatchRecords = 4 // InFlight left to its default
	stop := run(t, f)
	waitDrained(t, sp)
	stop()
	wantStored(t, rec, 0, n, "at the end")
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.fullClosed || w.most != DefaultInFlight {
		t.Fatalf("at most %d calls were in flight at once, want %d", w.most, DefaultInFlight)
	}
}

// TestPoisonInPipelinedBatch: the second of two calls in flight carries a
// poison chunk — refused per chunk, refused with InvalidArgument for the
// whole call (an older recordings: bisected), or failing the call
// transiently whenever it is in it — while the first is held. The chunk is
// dead-lettered with its reason, and every other chunk is stored once.
func TestPoisonInPipelinedBatch(t *testing.T) {
	poison := func(c *recordingsv1.Chunk) bool { return c.GetSeq() == 6 }
	refuse := func(c *recordingsv1.Chunk) string {
		if poison(c) {
			return "events: invalid UTF-8"
		}
		return ""
	}
	for _, tc := range []struct {
		name   string
		rec    *fakeRecordings
		reason string
	}{
		{"refused", &fakeRecordings{refuse: refuse}, ReasonRefused},
		{"invalid-argument", &fakeRecordings{refuse: refuse, legacy: true}, ReasonInvalidArgument},
		{"failing-alone", &fakeRecordings{transient: poison}, ReasonAttemptsExceeded},
	} {
		t.Run(tc.name, func(t *testing.T) {
			gate := newOverlap(tc.rec, nil)
			dir := t.TempDir()
			sp := openSpoolAt(t, dir)
			for i := range 16 {
				appendChunk(t, sp, 5_000_000_001, "s_a", int64(i))
			}
			f := newForwarder(sp, serveRecordings(t, gate))
			f.BatchRecords, f.InFlight, f.MaxAttempts = 4, 2, 3
			stop := run(t, f)
			waitDrained(t, sp)
			stop()
			if !gate.overlapped.Load() {
				t.Fatal("the second call did not arrive while the first was held: one call in flight")
			}
			want := slices.DeleteFunc(keysOf(0, 16), func(k string) bool { return k == "5000000001/s_a/6" })
			if got := sorted(tc.rec.storedKeys()); fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("stored %v, want %v", got, want)
			}
			if st := f.Stats(); st.Delivered != 15 || st.DeadLettered != 1 {
				t.Fatalf("stats %+v", st)
			}
			if d := deadLetters(t, sp, dir)["5000000001/s_a/6"]; d.Reason != tc.reason {
				t.Fatalf("dead letter of seq 6: %+v, want reason %s", d, tc.reason)
			}
			if s := sp.Stats(); s.DeadRecords != 1 || s.Records != 0 {
				t.Fatalf("spool stats %+v", s)
			}
		})
	}
}
