package forwarder

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/trace/noop"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	recordingsv1 "github.com/sightlinehq/sightline/gen/sightline/recordings/v1"
	"github.com/sightlinehq/sightline/internal/grpctest"
	"github.com/sightlinehq/sightline/svc-ingest/spool"
)

// fakeRecordings answers AppendChunks as recordings does: one result per
// chunk, a refused chunk never failing the others — or, with legacy, as an
// older recordings did: InvalidArgument for the whole call.
type fakeRecordings struct {
	recordingsv1.UnimplementedRecordingsInternalServiceServer
	refuse    func(*recordingsv1.Chunk) string // non-empty: refused, with this reason
	transient func(*recordingsv1.Chunk) bool   // true: the whole call fails Unavailable
	legacy    bool

	mu     sync.Mutex
	down   int // fail this many calls with Unavailable first
	calls  int
	stored map[string]bool
	order  []string // first stores, in order
}

func key(c *recordingsv1.Chunk) string {
	return fmt.Sprintf("%d/%s/%d", c.GetSiteId(), c.GetSessionId(), c.GetSeq())
}

func (r *fakeRecordings) AppendChunks(_ context.Context, req *recordingsv1.AppendChunksRequest) (*recordingsv1.AppendChunksResponse, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls++
	if r.down > 0 {
		r.down--
		return nil, status.Error(codes.Unavailable, "recordings is down")
	}
	for _, c := range req.GetChunks() {
		if r.transient != nil && r.transient(c) {
			return nil, status.Error(codes.Unavailable, "pebble: outbox: string field contains invalid UTF-8")
		}
		if r.legacy && r.refuse != nil && r.refuse(c) != "" {
			return nil, status.Error(codes.InvalidArgument, r.refuse(c))
		}
	}
	resp := &recordingsv1.AppendChunksResponse{}
	for _, c := range req.GetChunks() {
		res := &recordingsv1.ChunkResult{}
		switch {
		case r.refuse != nil && r.refuse(c) != "":
			res.Outcome, res.Reason = recordingsv1.ChunkOutcome_CHUNK_OUTCOME_REFUSED, r.refuse(c)
			resp.Refused++
		case r.stored[key(c)]:
			res.Outcome = recordingsv1.ChunkOutcome_CHUNK_OUTCOME_DUPLICATE
			resp.Duplicates++
		default:
			if r.stored == nil {
				r.stored = map[string]bool{}
			}
			r.stored[key(c)] = true
			r.order = append(r.order, key(c))
			res.Outcome = recordingsv1.ChunkOutcome_CHUNK_OUTCOME_STORED
			resp.Stored++
		}
		if !r.legacy {
			resp.Results = append(resp.Results, res)
		}
	}
	return resp, nil
}

func (r *fakeRecordings) storedKeys() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.order...)
}

// serveRecordings serves rec over a real loopback gRPC socket.
func serveRecordings(t *testing.T, rec recordingsv1.RecordingsInternalServiceServer) recordingsv1.RecordingsInternalServiceClient {
	t.Helper()
	cc := grpctest.Conn(t, func(s *grpc.Server) { recordingsv1.RegisterRecordingsInternalServiceServer(s, rec) })
	return recordingsv1.NewRecordingsInternalServiceClient(cc)
}

func openSpool(t *testing.T) *spool.Spool {
	t.Helper()
	sp, err := spool.Open(spool.Options{Dir: t.TempDir(), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sp.Close() })
	return sp
}

func appendChunk(t *testing.T, sp *spool.Spool, site int64, session string, seq int64) {
	t.Helper()
	b, err := proto.Marshal(&recordingsv1.Chunk{SiteId: site, OrganizationId: 7_000_000_001, SessionId: session, Seq: seq, Events: []byte(`[{"type":3}]`), EventCount: 1})
	if err != nil {
		t.Fatal(err)
	}
	if err := sp.Append(context.Background(), b); err != nil {
		t.Fatal(err)
	}
}

// run starts f and returns a function that stops it and waits.
func run(t *testing.T, f *Forwarder) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			// Run answers its context's end, and nothing else.
			if err := <-done; !errors.Is(err, context.Canceled) {
				t.Errorf("Run: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

func newForwarder(sp *spool.Spool, c recordingsv1.RecordingsInternalServiceClient) *Forwarder {
	return &Forwarder{Spool: sp, Client: c, Tracer: noop.NewTracerProvider().Tracer(""), Logger: slog.New(slog.DiscardHandler),
		BatchRecords: 8, BackoffMin: time.Millisecond, BackoffMax: 10 * time.Millisecond}
}

// waitDrained waits until the spool holds no record, or fails after 10 s.
func waitDrained(t *testing.T, sp *spool.Spool) time.Duration {
	t.Helper()
	start := time.Now()
	for sp.Stats().Records > 0 {
		if time.Since(start) > 10*time.Second {
			t.Fatalf("spool not drained within 10s: %+v", sp.Stats())
		}
		time.Sleep(time.Millisecond)
	}
	return time.Since(start)
}

func deadLetters(t *testing.T, sp *spool.Spool, dir string) map[string]spool.DeadLetter {
	t.Helper()
	list, err := spool.ListDead(dir)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]spool.DeadLetter{}
	for _, d := range list {
		out[fmt.Sprintf("%d/%s/%d", d.SiteID, d.SessionID, d.Seq)] = d
	}
	return out
}

// TestPoisonIsDeadLetteredAndOrderKept: transient failures are retried; a
// chunk recordings refuses (per-chunk result, or InvalidArgument from an
// older recordings) and a record that is not a Chunk go to the dead-letter
// area with their reason; everything else arrives once — in spool order
// with one call in flight (with more, calls overlap and a later batch may
// be stored first).
func TestPoisonIsDeadLetteredAndOrderKept(t *testing.T) {
	for _, tc := range []struct {
		legacy   bool
		inFlight int
	}{{false, 1}, {true, 1}, {false, 2}, {true, 2}, {false, DefaultInFlight}, {true, DefaultInFlight}} {
		legacy := tc.legacy
		t.Run(fmt.Sprintf("legacy=%v/in-flight=%d", legacy, tc.inFlight), func(t *testing.T) {
			rec := &fakeRecordings{down: 3, legacy: legacy, refuse: func(c *recordingsv1.Chunk) string {
				if c.GetSeq() == 13 {
					return "events: invalid UTF-8"
				}
				return ""
			}}
			dir := t.TempDir()
			sp, err := spool.Open(spool.Options{Dir: dir, Logger: slog.New(slog.DiscardHandler)})
			if err != nil {
				t.Fatal(err)
			}
			defer sp.Close()
			for i := range 30 {
				if i == 20 {
					if err := sp.Append(context.Background(), []byte{0xff, 0xff, 0xff}); err != nil { // checksummed but not a Chunk
						t.Fatal(err)
					}
					continue
				}
				appendChunk(t, sp, 5_000_000_001, "s_a", int64(i))
			}
			var mu sync.Mutex
			reasons := map[string]int{}
			f := newForwarder(sp, serveRecordings(t, rec))
			f.InFlight = tc.inFlight
			f.OnDeadLetter = func(r string) { mu.Lock(); reasons[r]++; mu.Unlock() }
			stop := run(t, f)
			waitDrained(t, sp)
			stop()
			st := f.Stats()
			got := rec.storedKeys()
			if len(got) != 28 || st.DeadLettered != 2 || st.Failures < 3 || st.Delivered != 28 {
				t.Fatalf("stored %v, stats %+v", got, st)
			}
			seqs := make([]int, len(got))
			for i, k := range got {
				if _, err := fmt.Sscanf(k, "5000000001/s_a/%d", &seqs[i]); err != nil {
					t.Fatalf("stored key %q: %v", k, err)
				}
			}
			if tc.inFlight > 1 {
				slices.Sort(seqs)
			}
			for i := 1; i < len(seqs); i++ {
				if seqs[i] <= seqs[i-1] {
					t.Fatalf("order broken (or stored twice): %v", got)
				}
			}
			dead := deadLetters(t, sp, dir)
			want := ReasonRefused
			if legacy {
				want = ReasonInvalidArgument
			}
			if d := dead["5000000001/s_a/13"]; d.Reason != want || d.Detail != "events: invalid UTF-8" || d.Size == 0 || d.Received.IsZero() {
				t.Fatalf("dead letter of seq 13: %+v (all: %+v)", d, dead)
			}
			if d := dead["0//0"]; d.Reason != ReasonUndecodable {
				t.Fatalf("undecodable record's dead letter: %+v", dead)
			}
			if s := sp.Stats(); s.DeadRecords != 2 || s.Records != 0 {
				t.Fatalf("spool stats %+v", s)
			}
			mu.Lock()
			defer mu.Unlock()
			if reasons[want] != 1 || reasons[ReasonUndecodable] != 1 {
				t.Fatalf("OnDeadLetter reasons %v", reasons)
			}
		})
	}
}

// TestPoisonDelaysValidBatchesLessThanASecond: a poisoned record at the
// head of the spool, followed by 100 valid batches of other sites, delays
// them by under a second compared with the same 100 alone — for each kind
// of poison.
func TestPoisonDelaysValidBatchesLessThanASecond(t *testing.T) {
	refuse := func(c *recordingsv1.Chunk) string {
		if c.GetSiteId() == 6_666_666_666 {
			return "identify: userId: invalid UTF-8"
		}
		return ""
	}
	drain := func(t *testing.T, rec *fakeRecordings, poison func(*spool.Spool)) (time.Duration, *Forwarder) {
		sp := openSpool(t)
		if poison != nil {
			poison(sp)
		}
		for i := range 100 {
			appendChunk(t, sp, 5_000_000_001+int64(i%7), fmt.Sprintf("s_%03d", i), 0)
		}
		f := newForwarder(sp, serveRecordings(t, rec))
		f.BatchRecords, f.BackoffMin, f.BackoffMax = 256, 100*time.Millisecond, 30*time.Second // the defaults
		stop := run(t, f)
		d := waitDrained(t, sp)
		stop()
		if n := len(rec.storedKeys()); n != 100 {
			t.Fatalf("%d valid chunks stored, want 100", n)
		}
		return d, f
	}
	poisonChunk := func(sp *spool.Spool) { appendChunk(t, sp, 6_666_666_666, "s_bad", 1) }
	for _, tc := range []struct {
		name   string
		rec    func() *fakeRecordings
		poison func(*spool.Spool)
	}{
		{"refused", func() *fakeRecordings { return &fakeRecordings{refuse: refuse} }, poisonChunk},
		{"invalid-argument", func() *fakeRecordings { return &fakeRecordings{refuse: refuse, legacy: true} }, poisonChunk},
		{"undecodable", func() *fakeRecordings { return &fakeRecordings{} }, func(sp *spool.Spool) {
			if err := sp.Append(context.Background(), []byte{0x0a, 0xff}); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// Alternate runs with and without the poison (the machine is
			// shared and noisy) and compare medians.
			var with, without []time.Duration
			for range 3 {
				d, _ := drain(t, &fakeRecordings{}, nil)
				without = append(without, d)
				d, f := drain(t, tc.rec(), tc.poison)
				if st := f.Stats(); st.DeadLettered != 1 || st.Delivered != 100 {
					t.Fatalf("stats %+v", st)
				}
				with = append(with, d)
			}
			median := func(ds []time.Duration) time.Duration { slices.Sort(ds); return ds[len(ds)/2] }
			delay := median(with) - median(without)
			t.Logf("100 valid batches behind a %s poison: drained in %v (median of 3), %v without it: delay %v", tc.name, median(with), median(without), delay)
			if delay >= time.Second {
				t.Fatalf("a %s poison delayed the valid batches by %v", tc.name, delay)
			}
		})
	}
}

// TestChunkFailingAloneIsDeadLettered: a chunk whose every call fails
// transiently (as the invalid UTF-8 did) while the chunks after it
// are stored is isolated and dead-lettered after MaxAttempts — also when
// it is the last of its batch (the next record is read to prove
// recordings works), and when every record after it was read and stored
// already by calls in flight beside its batch's, the spool then empty (a
// chunk stored already is sent again as the proof).
func TestChunkFailingAloneIsDeadLettered(t *testing.T) {
	for _, tc := range []struct {
		seq            int64
		records, calls int
	}{
		{3, 20, 1}, {7, 20, 1}, // inside its batch of 8; last of it
		{7, 16, 2}, // the one batch after it stored, the spool empty
		{3, 20, DefaultInFlight}, {7, 20, DefaultInFlight},
	} {
		seq := tc.seq
		t.Run(fmt.Sprintf("seq=%d/records=%d/in-flight=%d", seq, tc.records, tc.calls), func(t *testing.T) {
			rec := &fakeRecordings{transient: func(c *recordingsv1.Chunk) bool { return c.GetSeq() == seq }}
			dir := t.TempDir()
			sp, err := spool.Open(spool.Options{Dir: dir, Logger: slog.New(slog.DiscardHandler)})
			if err != nil {
				t.Fatal(err)
			}
			defer sp.Close()
			for i := range tc.records {
				appendChunk(t, sp, 5_000_000_001, "s_a", int64(i))
			}
			f := newForwarder(sp, serveRecordings(t, rec))
			f.MaxAttempts, f.InFlight = 4, tc.calls
			stop := run(t, f)
			waitDrained(t, sp)
			stop()
			if st := f.Stats(); st.DeadLettered != 1 || st.Delivered != int64(tc.records-1) {
				t.Fatalf("stats %+v", st)
			}
			d := deadLetters(t, sp, dir)[fmt.Sprintf("5000000001/s_a/%d", seq)]
			if d.Reason != ReasonAttemptsExceeded || d.Attempts < 4 {
				t.Fatalf("dead letter %+v", d)
			}
		})
	}
}

// TestOutageDeadLettersNothing: while recordings fails every call — for
// many more attempts than MaxAttempts — nothing is dead-lettered; when it
// comes back everything is delivered.
func TestOutageDeadLettersNothing(t *testing.T) {
	rec := &fakeRecordings{down: 200}
	sp := openSpool(t)
	for i := range 30 {
		appendChunk(t, sp, 5_000_000_001+int64(i%3), "s_a", int64(i))
	}
	f := newForwarder(sp, serveRecordings(t, rec))
	f.MaxAttempts, f.BackoffMax = 3, 2*time.Millisecond
	stop := run(t, f)
	waitDrained(t, sp)
	stop()
	st := f.Stats()
	if st.DeadLettered != 0 || st.Delivered != 30 || st.Failures < 200 || sp.Stats().DeadRecords != 0 {
		t.Fatalf("after an outage of 200 calls: stats %+v, spool %+v", st, sp.Stats())
	}
}

// TestProbeReadRecordIsDelivered: a chunk failing alone past MaxAttempts
// at the end of its batch makes the forwarder read the next record as a
// probe; the probe fails (recordings blinks), then the chunk is stored.
// The record read for the probe is acknowledged with the batch, so it must
// be delivered first: all three chunks are stored, none dead-lettered.
func TestProbeReadRecordIsDelivered(t *testing.T) {
	for _, inFlight := range []int{1, 2, DefaultInFlight} {
		t.Run(fmt.Sprint("in-flight=", inFlight), func(t *testing.T) {
			calls := map[int64]int{}
			rec := &fakeRecordings{transient: func(c *recordingsv1.Chunk) bool {
				calls[c.GetSeq()]++ // under rec.mu
				switch c.GetSeq() {
				case 1:
					return calls[1] <= 4 // 3 calls of the batch, 1 alone
				case 2:
					return calls[2] == 1 // the probe
				}
				return false
			}}
			sp := openSpool(t)
			for i := range 3 {
				appendChunk(t, sp, 5_000_000_001, "s_a", int64(i))
			}
			f := newForwarder(sp, serveRecordings(t, rec))
			f.BatchRecords, f.MaxAttempts, f.InFlight = 2, 2, inFlight
			stop := run(t, f)
			waitDrained(t, sp)
			stop()
			wantStored(t, rec, 0, 3, "at the end")
			if st := f.Stats(); st.DeadLettered != 0 || st.Delivered != 3 {
				t.Fatalf("stats %+v", st)
			}
		})
	}
}
