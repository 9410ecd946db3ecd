package forwarder

import (
	"context"
	"log/slog"
	"net"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/trace/noop"
	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	recordingsv1 "github.com/sightlinehq/sightline/gen/sightline/recordings/v1"
	"github.com/sightlinehq/sightline/svc-ingest/spool"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type recordings struct {
	recordingsv1.UnimplementedRecordingsServiceServer
	mu       sync.Mutex
	seqs     []int64
	failures int // fail this many calls with Unavailable first
}

func (r *recordings) AppendChunks(_ context.Context, req *recordingsv1.AppendChunksRequest) (*recordingsv1.AppendChunksResponse, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.failures > 0 {
		r.failures--
		return nil, status.Error(codes.Unavailable, "try later")
	}
	for _, c := range req.GetChunks() {
		if c.GetSeq() == 13 {
			return nil, status.Error(codes.InvalidArgument, "seq 13 is cursed")
		}
	}
	for _, c := range req.GetChunks() {
		r.seqs = append(r.seqs, c.GetSeq())
	}
	return &recordingsv1.AppendChunksResponse{Stored: int32(len(req.GetChunks()))}, nil
}

// TestRetriesDropsPoisonAndKeepsOrder: transient failures are retried, a
// chunk recordings refuses for good is dropped alone (not its batch), an
// undecodable record is dropped, and everything else arrives in order.
func TestRetriesDropsPoisonAndKeepsOrder(t *testing.T) {
	rec := &recordings{failures: 3}
	lis, _ := net.Listen("tcp", "127.0.0.1:0")
	srv := grpc.NewServer()
	recordingsv1.RegisterRecordingsServiceServer(srv, rec)
	go srv.Serve(lis)
	defer srv.Stop()
	cc, _ := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	defer cc.Close()

	sp, err := spool.Open(spool.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer sp.Close()
	ctx := context.Background()
	for i := range 30 {
		b, _ := proto.Marshal(&recordingsv1.Chunk{SiteId: 5_000_000_001, SessionId: "s_a", Seq: int64(i), Events: []byte(`[{}]`)})
		if i == 20 {
			b = []byte{0xff, 0xff, 0xff} // checksummed but not a Chunk
		}
		if err := sp.Append(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	f := &Forwarder{Spool: sp, Client: recordingsv1.NewRecordingsServiceClient(cc), Tracer: noop.NewTracerProvider().Tracer(""),
		Logger: slog.New(slog.DiscardHandler), BatchRecords: 8, BackoffMin: time.Millisecond, BackoffMax: 10 * time.Millisecond}
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error)
	go func() { done <- f.Run(runCtx) }()
	deadline := time.Now().Add(10 * time.Second)
	for sp.Stats().Records > 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	<-done
	st := f.Stats()
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if len(rec.seqs) != 28 || st.Dropped != 2 || st.Failures < 3 || st.Delivered != 28 {
		t.Fatalf("delivered %v, stats %+v", rec.seqs, st)
	}
	for i := 1; i < len(rec.seqs); i++ {
		if rec.seqs[i] <= rec.seqs[i-1] {
			t.Fatalf("order broken: %v", rec.seqs)
		}
	}
}
