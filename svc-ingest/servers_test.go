package ingest

import (
	"context"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	accountsv1 "github.com/sightlinehq/sightline/gen/sightline/accounts/v1"
	recordingsv1 "github.com/sightlinehq/sightline/gen/sightline/recordings/v1"
	"github.com/sightlinehq/sightline/internal/loopback"
	"github.com/sightlinehq/sightline/internal/poll"
)

// accountsServer is a small real AccountsService: fixed site configs and
// exact quota leases, served over a real socket.
type accountsServer struct {
	accountsv1.UnimplementedAccountsInternalServiceServer
	mu          sync.Mutex
	sites       map[string]*accountsv1.GetSiteConfigResponse
	leased      map[string]int64 // site/day → sessions leased
	down        bool
	configCalls int
	leaseCalls  int
}

func (a *accountsServer) GetSiteConfig(_ context.Context, r *accountsv1.GetSiteConfigRequest) (*accountsv1.GetSiteConfigResponse, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.configCalls++
	if a.down {
		return nil, status.Error(codes.Unavailable, "accounts is down (test)")
	}
	s, ok := a.sites[r.GetSiteKey()]
	if !ok {
		return nil, status.Error(codes.NotFound, "no such site")
	}
	return s, nil
}

func (a *accountsServer) LeaseSessionQuota(_ context.Context, r *accountsv1.LeaseSessionQuotaRequest) (*accountsv1.LeaseSessionQuotaResponse, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.leaseCalls++
	if a.down {
		return nil, status.Error(codes.Unavailable, "accounts is down (test)")
	}
	var limit int64
	for _, s := range a.sites {
		if s.GetSiteId() == r.GetSiteId() {
			limit = s.GetPlan().GetSessionsPerDay()
		}
	}
	k := fmt.Sprint(r.GetSiteId(), "/", r.GetDay())
	g := min(r.GetRequested(), limit-a.leased[k])
	a.leased[k] += g
	return &accountsv1.LeaseSessionQuotaResponse{Granted: g, Remaining: limit - a.leased[k], Limit: limit}, nil
}

func (a *accountsServer) setDown(v bool) { a.mu.Lock(); a.down = v; a.mu.Unlock() }

type chunkKey struct {
	site    int64
	session string
	seq     int64
}

// recordingsServer is a small real RecordingsService that keeps appended
// chunks, de-duplicated by (site, session, seq) like the real one, and
// answers (chunks with `answer` set) by (site, answer id). GetAnswerCounts
// answers from counts the test sets.
type recordingsServer struct {
	recordingsv1.UnimplementedRecordingsInternalServiceServer
	mu         sync.Mutex
	chunks     map[chunkKey]*recordingsv1.Chunk
	answers    map[string]*recordingsv1.Chunk // "site/answer id"
	counts     map[int64]map[int64]int64      // site → survey → responses
	countCalls int
	countsDown bool
	// refuseAnswers makes recordings refuse answers (per-chunk results),
	// as it does one that fails batch.CheckAnswer.
	refuseAnswers bool
	deliveries    map[chunkKey]int
	order         map[string][]int64 // session → seqs in arrival order
	calls         int
	fail          error
	arrived       chan struct{}
}

func newRecordingsServer() *recordingsServer {
	return &recordingsServer{chunks: map[chunkKey]*recordingsv1.Chunk{}, deliveries: map[chunkKey]int{},
		answers: map[string]*recordingsv1.Chunk{}, counts: map[int64]map[int64]int64{},
		order: map[string][]int64{}, arrived: make(chan struct{}, 1)}
}

func (r *recordingsServer) AppendChunks(_ context.Context, req *recordingsv1.AppendChunksRequest) (*recordingsv1.AppendChunksResponse, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls++
	if r.fail != nil {
		return nil, r.fail
	}
	var resp recordingsv1.AppendChunksResponse
	for _, c := range req.GetChunks() {
		if a := c.GetAnswer(); a != nil {
			k := fmt.Sprint(c.GetSiteId(), "/", a.GetId())
			outcome := recordingsv1.ChunkOutcome_CHUNK_OUTCOME_STORED
			switch _, ok := r.answers[k]; {
			case r.refuseAnswers:
				resp.Refused++
				outcome = recordingsv1.ChunkOutcome_CHUNK_OUTCOME_REFUSED
			case ok:
				resp.Duplicates++
				outcome = recordingsv1.ChunkOutcome_CHUNK_OUTCOME_DUPLICATE
			default:
				r.answers[k] = c
				resp.Stored++
			}
			resp.Results = append(resp.Results, &recordingsv1.ChunkResult{Outcome: outcome, Reason: "refused (test)"})
			continue
		}
		k := chunkKey{c.GetSiteId(), c.GetSessionId(), c.GetSeq()}
		r.deliveries[k]++
		if _, ok := r.chunks[k]; ok {
			resp.Duplicates++
			resp.Results = append(resp.Results, &recordingsv1.ChunkResult{Outcome: recordingsv1.ChunkOutcome_CHUNK_OUTCOME_DUPLICATE})
			continue
		}
		r.chunks[k] = c
		r.order[c.GetSessionId()] = append(r.order[c.GetSessionId()], c.GetSeq())
		resp.Stored++
		resp.Results = append(resp.Results, &recordingsv1.ChunkResult{Outcome: recordingsv1.ChunkOutcome_CHUNK_OUTCOME_STORED})
	}
	select {
	case r.arrived <- struct{}{}:
	default:
	}
	return &resp, nil
}

func (r *recordingsServer) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.chunks) + len(r.answers)
}

func (r *recordingsServer) GetAnswerCounts(_ context.Context, req *recordingsv1.GetAnswerCountsRequest) (*recordingsv1.GetAnswerCountsResponse, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.countCalls++
	if r.countsDown {
		return nil, status.Error(codes.Unavailable, "recordings is down (test)")
	}
	resp := &recordingsv1.GetAnswerCountsResponse{SurveyResponses: map[int64]int64{}}
	for id, n := range r.counts[req.GetSiteId()] {
		resp.SurveyResponses[id] = n
	}
	return resp, nil
}

func (r *recordingsServer) answer(site int64, id string) *recordingsv1.Chunk {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.answers[fmt.Sprint(site, "/", id)]
}

// waitChunks waits until n distinct chunks arrived.
func (r *recordingsServer) waitChunks(t *testing.T, n int, within time.Duration) {
	t.Helper()
	deadline := time.After(within)
	for r.count() < n {
		select {
		case <-r.arrived:
		case <-time.After(50 * time.Millisecond):
		case <-deadline:
			t.Fatalf("%d of %d chunks arrived at recordings within %v", r.count(), n, within)
		}
	}
}

// waitAcked waits until every acknowledged chunk arrived, failing with how
// many did not and with more (a process's log, or ""), and answers how
// many re-deliveries recordings saw (de-duplicated by key).
func (r *recordingsServer) waitAcked(t *testing.T, acked map[chunkKey]bool, within time.Duration, more func() string) (redelivered int) {
	t.Helper()
	poll.Until(t, within, func() error {
		r.mu.Lock()
		defer r.mu.Unlock()
		missing := 0
		for k := range acked {
			if r.chunks[k] == nil {
				missing++
			}
		}
		redelivered = 0
		for _, d := range r.deliveries {
			redelivered += d - 1
		}
		if missing > 0 {
			return fmt.Errorf("%d of %d acknowledged batches never arrived\n%s", missing, len(acked), more())
		}
		return nil
	})
	return redelivered
}

// grpcServer serves one service on 127.0.0.1, restartable on the same port.
type grpcServer struct {
	addr     string
	register func(*grpc.Server)
	srv      *grpc.Server
	done     chan struct{}
}

func startGRPC(t testing.TB, register func(*grpc.Server)) *grpcServer {
	t.Helper()
	g := &grpcServer{register: register}
	g.start(t, loopback.Addr(t)) // restart binds it again
	t.Cleanup(g.stop)
	return g
}

func (g *grpcServer) start(t testing.TB, addr string) {
	t.Helper()
	var lis net.Listener
	var err error
	for range 50 { // the port may linger briefly after a stop
		if lis, err = net.Listen("tcp", addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	g.addr = lis.Addr().String()
	g.srv = grpc.NewServer()
	g.register(g.srv)
	g.done = make(chan struct{})
	go func(s *grpc.Server, done chan struct{}) { s.Serve(lis); close(done) }(g.srv, g.done)
}

func (g *grpcServer) stop() {
	if g.srv != nil {
		g.srv.Stop()
		<-g.done
		g.srv = nil
	}
}

func (g *grpcServer) restart(t *testing.T) { g.start(t, g.addr) }

func dial(t testing.TB, addr string) *grpc.ClientConn {
	t.Helper()
	cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	return cc
}
