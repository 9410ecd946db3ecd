package outbox

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	searchv1 "github.com/sightlinehq/sightline/gen/sightline/search/v1"
	"github.com/sightlinehq/sightline/internal/grpctest"
	"github.com/sightlinehq/sightline/svc-recordings/store"
	"github.com/sightlinehq/sightline/svc-recordings/store/storetest"
)

// tracedSearch is search recording the traceparent each call arrived with.
type tracedSearch struct {
	search
	mu      sync.Mutex
	parents []string
}

func (s *tracedSearch) arrived(ctx context.Context) {
	md, _ := metadata.FromIncomingContext(ctx)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.parents = append(s.parents, md.Get("traceparent")...)
}

func (s *tracedSearch) UpsertSessions(ctx context.Context, req *searchv1.UpsertSessionsRequest) (*searchv1.UpsertSessionsResponse, error) {
	s.arrived(ctx)
	return s.search.UpsertSessions(ctx, req)
}

func (s *tracedSearch) UpsertAnswers(ctx context.Context, req *searchv1.UpsertAnswersRequest) (*searchv1.UpsertAnswersResponse, error) {
	s.arrived(ctx)
	return s.search.UpsertAnswers(ctx, req)
}

// TestRelaySpans: a poll that finds nothing makes no span; a batch found
// is one root span, linked to the traces of the calls that recorded its
// entries, and the call to search continues that span's trace.
func TestRelaySpans(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	defer tp.Shutdown(context.Background())
	tracer := tp.Tracer("test")

	st := openStore(t)
	sr := &tracedSearch{}
	cc := grpctest.Conn(t, func(s *grpc.Server) { searchv1.RegisterSearchInternalServiceServer(s, sr) },
		grpc.WithStatsHandler(otelgrpc.NewClientHandler(otelgrpc.WithTracerProvider(tp), otelgrpc.WithPropagators(propagation.TraceContext{}))))
	r := New(st, searchv1.NewSearchInternalServiceClient(cc), slog.New(slog.NewTextHandler(io.Discard, nil)))
	r.Tracer = tracer

	ctx := context.Background()
	for range 3 {
		if n, err := r.Once(ctx); n != 0 || err != nil {
			t.Fatalf("idle Once = %d, %v", n, err)
		}
		if n, err := r.OnceAnswers(ctx); n != 0 || err != nil {
			t.Fatalf("idle OnceAnswers = %d, %v", n, err)
		}
	}
	if s := exp.GetSpans(); len(s) != 0 {
		t.Fatalf("idle polls made spans: %v", s.Snapshots())
	}

	// Two traced calls change sessions (three entries: one session twice),
	// one untraced call a third session; an answer comes in a traced call
	// (an answers' entry, and a fifth sessions' entry: its tally).
	now := time.Now().UnixMilli()
	a := &storetest.Builder{Site: 3_000_000_009, Session: "s_traceaaaaaaaa", Visitor: "v_traceaaaaaaaa", ServerMs: now}
	b := &storetest.Builder{Site: 3_000_000_009, Session: "s_tracebbbbbbbb", Visitor: "v_tracebbbbbbbb", ServerMs: now}
	c := &storetest.Builder{Site: 3_000_000_009, Session: "s_tracecccccccc", Visitor: "v_tracecccccccc", ServerMs: now}
	call1, span1 := tracer.Start(ctx, "AppendChunks 1")
	call2, span2 := tracer.Start(ctx, "AppendChunks 2")
	for _, w := range []struct {
		ctx    context.Context
		chunks []store.Chunk
	}{{call1, []store.Chunk{a.Chunk(t, 0, 100), b.Chunk(t, 0, 100)}}, {call2, []store.Chunk{a.Chunk(t, 1, 100)}}, {ctx, []store.Chunk{c.Chunk(t, 0, 100)}}} {
		if _, err := st.Append(w.ctx, w.chunks); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := st.AppendAnswers(call2, []store.Answer{storetest.Answer(a.Site, a.Session, a.Visitor, "a_traceanswer000000000001", 0, 5, 0, now)}); err != nil {
		t.Fatal(err)
	}
	span1.End()
	span2.End()
	exp.Reset()

	if n, err := r.Once(ctx); n != 5 || err != nil {
		t.Fatalf("Once = %d, %v", n, err)
	}
	if n, err := r.OnceAnswers(ctx); n != 1 || err != nil {
		t.Fatalf("OnceAnswers = %d, %v", n, err)
	}
	byName := map[string]tracetest.SpanStub{}
	for _, s := range exp.GetSpans() {
		byName[s.Name] = s
	}
	for name, want := range map[string][]trace.SpanContext{
		"recordings.outbox deliver sessions": {span1.SpanContext(), span2.SpanContext()},
		"recordings.outbox deliver answers":  {span2.SpanContext()},
	} {
		s, ok := byName[name]
		if !ok {
			t.Fatalf("no span %q among %v", name, exp.GetSpans().Snapshots())
		}
		if s.Parent.IsValid() {
			t.Errorf("%s has parent %v; want a root", name, s.Parent)
		}
		var got []trace.SpanContext
		for _, l := range s.Links {
			got = append(got, l.SpanContext)
		}
		if len(got) != len(want) {
			t.Fatalf("%s links %v, want %v", name, got, want)
		}
		for i := range want {
			if got[i].TraceID() != want[i].TraceID() || got[i].SpanID() != want[i].SpanID() {
				t.Errorf("%s link %d = %v, want %v", name, i, got[i], want[i])
			}
		}
	}
	sr.mu.Lock()
	parents := append([]string(nil), sr.parents...)
	sr.mu.Unlock()
	if len(parents) != 2 {
		t.Fatalf("search saw traceparents %q, want one per call", parents)
	}
	for i, name := range []string{"recordings.outbox deliver sessions", "recordings.outbox deliver answers"} {
		if tid := byName[name].SpanContext.TraceID().String(); len(parents[i]) < 35 || parents[i][3:35] != tid {
			t.Errorf("search call %d arrived in trace %q, want the relay span's %s", i, parents[i], tid)
		}
	}
}
