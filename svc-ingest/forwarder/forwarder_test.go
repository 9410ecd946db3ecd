package forwarder

import (
	"bytes"
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/trace/noop"
	"go.uber.org/goleak"
	"google.golang.org/protobuf/proto"

	recordingsv1 "github.com/sightlinehq/sightline/gen/sightline/recordings/v1"
	"github.com/sightlinehq/sightline/svc-ingest/spool"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type keeper struct {
	recordingsv1.UnimplementedRecordingsInternalServiceServer
	mu     sync.Mutex
	chunks []*recordingsv1.Chunk
}

func (k *keeper) AppendChunks(_ context.Context, req *recordingsv1.AppendChunksRequest) (*recordingsv1.AppendChunksResponse, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.chunks = append(k.chunks, req.GetChunks()...)
	return &recordingsv1.AppendChunksResponse{Stored: int32(len(req.GetChunks()))}, nil
}

// TestSpooledBytesArriveAsChunks: the spooled encodings are sent as they
// are (not decoded and re-encoded) and recordings decodes exactly the
// chunks that were spooled, every field included. (Calls overlap, so they
// are compared by seq, not by arrival.)
func TestSpooledBytesArriveAsChunks(t *testing.T) {
	rec := &keeper{}
	client := serveRecordings(t, rec)
	sp := openSpool(t)
	ctx := context.Background()
	var want []*recordingsv1.Chunk
	for i := range 40 {
		c := &recordingsv1.Chunk{SiteId: 5_000_000_001 + int64(i%3), OrganizationId: 7_000_000_001, SessionId: "s_abcdefgh", Seq: int64(i),
			VisitorId: "v_abcdefgh", Url: "https://shop.example.com/é", Events: bytes.Repeat([]byte(`[{"type":3}]`), i*50+1),
			EventCount: int32(i + 1), Traceparent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", RetentionDays: 7,
			Viewport: &recordingsv1.Viewport{Width: 1280, Height: 720}}
		b, err := proto.Marshal(c)
		if err != nil {
			t.Fatal(err)
		}
		if err := sp.Append(ctx, b); err != nil {
			t.Fatal(err)
		}
		want = append(want, c)
	}
	f := &Forwarder{Spool: sp, Client: client, Tracer: noop.NewTracerProvider().Tracer(""),
		Logger: slog.New(slog.DiscardHandler), BatchRecords: 7, BatchBytes: 20 << 10}
	stop := run(t, f)
	deadline := time.Now().Add(10 * time.Second)
	for sp.Stats().Records > 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	stop()
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if len(rec.chunks) != len(want) {
		t.Fatalf("%d chunks arrived, want %d", len(rec.chunks), len(want))
	}
	for _, c := range rec.chunks {
		if w := want[c.GetSeq()]; !proto.Equal(c, w) {
			t.Fatalf("chunk %d arrived as %v, want %v", c.GetSeq(), c, w)
		}
		want[c.GetSeq()] = nil // once
	}
}

func TestScanChunk(t *testing.T) {
	b, _ := proto.Marshal(&recordingsv1.Chunk{SessionId: "s_x", Traceparent: "00-aa-bb-01", Events: []byte("[]")})
	if tp, err := scanChunk(b); err != nil || tp != "00-aa-bb-01" {
		t.Fatalf("scanChunk: %q, %v", tp, err)
	}
	for _, bad := range [][]byte{{0xff, 0xff, 0xff}, b[:len(b)-1], append(b[:len(b):len(b)], 0x0a, 0x05, 'a')} {
		if _, err := scanChunk(bad); err == nil {
			t.Errorf("scanChunk(%x) accepted", bad)
		}
	}
}

// BenchmarkEncodeRequest: the cost of turning 26 spooled ~10 KB chunks (the
// bench's mean per call) into the bytes of one AppendChunks request — by
// decoding each chunk and encoding the request (the former path) or by
// passing the spooled encodings through.
func BenchmarkEncodeRequest(b *testing.B) {
	var recs [][]byte
	for i := range 26 {
		c := &recordingsv1.Chunk{SiteId: 5_000_000_001, OrganizationId: 7_000_000_001, SessionId: "s_abcdefghijklmnopqrstuv", Seq: int64(i),
			VisitorId: "v_abcdefghijklmnopqrstuv", PageViewId: "p_abcdefghijklmnopqrstuv", Url: "https://shop.example.com/pricing",
			Events: bytes.Repeat([]byte(`{"type":3,"data":{"source":1}},`), 330), EventCount: 330,
			Traceparent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", RetentionDays: 30}
		p, _ := proto.Marshal(c)
		recs = append(recs, p)
	}
	b.Run("decode+encode", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			req := &recordingsv1.AppendChunksRequest{}
			for _, p := range recs {
				c := &recordingsv1.Chunk{}
				if err := proto.Unmarshal(p, c); err != nil {
					b.Fatal(err)
				}
				req.Chunks = append(req.Chunks, c)
			}
			if _, err := proto.Marshal(req); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("pass-through", func(b *testing.B) {
		b.ReportAllocs()
		var buf []byte
		for b.Loop() {
			items := make([]*item, 0, len(recs))
			for _, p := range recs {
				tp, err := scanChunk(p)
				if err != nil {
					b.Fatal(err)
				}
				items = append(items, &item{rec: spool.Record{Payload: p}, traceparent: tp})
			}
			if _, err := proto.Marshal(request(items, &buf)); err != nil {
				b.Fatal(err)
			}
		}
	})
}

type shortCounter struct {
	recordingsv1.UnimplementedRecordingsInternalServiceServer
	mu    sync.Mutex
	short int // answer "stored 0" this many times first
	calls int
	seqs  []int64
}

func (s *shortCounter) AppendChunks(_ context.Context, req *recordingsv1.AppendChunksRequest) (*recordingsv1.AppendChunksResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls++
	if s.short > 0 {
		s.short--
		return &recordingsv1.AppendChunksResponse{}, nil
	}
	for _, c := range req.GetChunks() {
		s.seqs = append(s.seqs, c.GetSeq())
	}
	return &recordingsv1.AppendChunksResponse{Stored: int32(len(req.GetChunks()))}, nil
}

// TestUnaccountedChunksStaySpooled: an answer that does not account for
// every chunk sent is a failure — the chunks stay in the spool and are sent
// again — never a delivery.
func TestUnaccountedChunksStaySpooled(t *testing.T) {
	rec := &shortCounter{short: 2}
	client := serveRecordings(t, rec)
	sp := openSpool(t)
	ctx := context.Background()
	for i := range 5 {
		b, _ := proto.Marshal(&recordingsv1.Chunk{SiteId: 5_000_000_001, SessionId: "s_abcdefgh", Seq: int64(i), Events: []byte(`[{}]`)})
		if err := sp.Append(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	f := &Forwarder{Spool: sp, Client: client, Tracer: noop.NewTracerProvider().Tracer(""),
		Logger: slog.New(slog.DiscardHandler), BackoffMin: time.Millisecond, BackoffMax: 5 * time.Millisecond}
	stop := run(t, f)
	deadline := time.Now().Add(10 * time.Second)
	for sp.Stats().Records > 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	stop()
	st := f.Stats()
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if len(rec.seqs) != 5 || rec.calls != 3 || st.Failures != 2 || st.Delivered != 5 || st.DeadLettered != 0 {
		t.Fatalf("seqs %v after %d calls, stats %+v", rec.seqs, rec.calls, st)
	}
}
