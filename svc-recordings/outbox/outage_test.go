package outbox

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/credentials/insecure"

	searchv1 "github.com/sightlinehq/sightline/gen/sightline/search/v1"
	"github.com/sightlinehq/sightline/internal/loopback"
	"github.com/sightlinehq/sightline/platform/depstate"
	"github.com/sightlinehq/sightline/platform/depstate/depstatetest"
	"github.com/sightlinehq/sightline/svc-recordings/store"
	"github.com/sightlinehq/sightline/svc-recordings/store/storetest"
)

// restartable serves a SearchService on one loopback address that can be
// stopped (connections are refused) and served again.
type restartable struct {
	t    *testing.T
	addr string
	impl searchv1.SearchInternalServiceServer
	mu   sync.Mutex
	srv  *grpc.Server
}

func (r *restartable) start() {
	r.t.Helper()
	if r.addr == "" {
		r.addr = loopback.Addr(r.t) // served again on it after a stop
	}
	lis, err := net.Listen("tcp", r.addr)
	if err != nil {
		r.t.Fatal(err)
	}
	r.addr = lis.Addr().String()
	srv := grpc.NewServer()
	searchv1.RegisterSearchInternalServiceServer(srv, r.impl)
	go srv.Serve(lis)
	r.mu.Lock()
	r.srv = srv
	r.mu.Unlock()
}

func (r *restartable) stop() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.srv.Stop()
}

// TestOutageLogsOnceAndDrainsInOrder: search refuses connections for a
// while, then is served again on the same address. Meanwhile 40 sessions
// are written. The relay logs one warning when delivery starts failing and
// one info line when it recovers (attempts in between at debug level), its
// gauge reads 0 during and 1 after, and search receives the backlog in the
// order it was written, across several batches.
func TestOutageLogsOnceAndDrainsInOrder(t *testing.T) {
	st := openStore(t)
	sr := &search{}
	srv := &restartable{t: t, impl: sr}
	srv.start()
	defer srv.stop()
	cc, err := grpc.NewClient(srv.addr, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithConnectParams(grpc.ConnectParams{Backoff: backoff.Config{BaseDelay: 10 * time.Millisecond, Multiplier: 1.6, MaxDelay: 50 * time.Millisecond}, MinConnectTimeout: time.Second}))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()

	logs := &depstatetest.Logs{}
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	defer mp.Shutdown(context.Background())
	r := New(st, searchv1.NewSearchInternalServiceClient(cc), slog.New(logs))
	r.Batch, r.MinBackoff, r.MaxBackoff = 7, 5*time.Millisecond, 40*time.Millisecond
	if err := depstate.Register(mp.Meter("test"), func() []*depstate.State { return []*depstate.State{r.Dependency} }); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- r.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()

	now := time.Now().UnixMilli()
	write := func(i int) string {
		b := &storetest.Builder{Site: 3_000_000_001, Session: fmt.Sprintf("s_outage%06d", i), Visitor: "v_aaaaaaaaaaaa", ServerMs: now}
		if _, err := st.Append(context.Background(), []store.Chunk{b.Chunk(t, 0, 100)}); err != nil {
			t.Fatal(err)
		}
		r.Notify()
		return b.Session + "@1"
	}
	seen := func() []string {
		sr.mu.Lock()
		defer sr.mu.Unlock()
		var out []string
		for _, l := range sr.log {
			out = append(out, strings.Fields(strings.TrimPrefix(l, "upsert"))...)
		}
		return out
	}
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(2 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("not within 10 s: %s", what)
			}
		}
	}

	want := []string{write(0)}
	waitFor("the first session delivered", func() bool { return len(seen()) == 1 })
	// and acknowledged: the relay deletes its entry after search took it, so
	// stopping search before that left 41 entries (a CI flake).
	waitFor("the first entry acknowledged", func() bool {
		d, _ := st.OutboxDepth(context.Background())
		return d == 0
	})
	if v := depstatetest.Up(t, reader, "dependency", "search"); v != 1 {
		t.Fatalf("gauge with search up = %d", v)
	}

	srv.stop()
	for i := 1; i <= 40; i++ {
		want = append(want, write(i))
	}
	waitFor("the relay sees search down", func() bool { return !r.Dependency.Up() })
	// Many attempts, 5-40 ms apart: each after the first logs at debug level.
	waitFor("five failed attempts", func() bool { return len(logs.Lines(slog.LevelDebug)) >= 5 })
	if v := depstatetest.Up(t, reader, "dependency", "search"); v != 0 {
		t.Fatalf("gauge with search refusing connections = %d", v)
	}
	if d, _ := st.OutboxDepth(context.Background()); d != 40 {
		t.Fatalf("outbox depth during the outage %d, want 40", d)
	}

	srv.start()
	back := time.Now()
	waitFor("the backlog delivered", func() bool { return len(seen()) == len(want) })
	t.Logf("backlog of 40 delivered %v after search returned", time.Since(back).Round(time.Millisecond))
	if got := seen(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("search received\n%v\nwant, in the order written,\n%v", got, want)
	}
	// The relay acknowledges a batch after search took it: wait for that.
	waitFor("the outbox emptied", func() bool {
		d, _ := st.OutboxDepth(context.Background())
		return d == 0
	})
	if v := depstatetest.Up(t, reader, "dependency", "search"); v != 1 {
		t.Fatalf("gauge after search returned = %d", v)
	}
	warns, infos, debugs := logs.Lines(slog.LevelWarn), logs.Lines(slog.LevelInfo), logs.Lines(slog.LevelDebug)
	if len(warns) != 1 || !strings.Contains(warns[0], "search is failing") || !strings.Contains(warns[0], "Unavailable") {
		t.Errorf("warnings: %q; want one, saying search is failing and why", warns)
	}
	if len(infos) != 1 || !strings.Contains(infos[0], "answers again") || !strings.Contains(infos[0], "down_for=") {
		t.Errorf("info lines: %q; want one, saying search answers again after how long", infos)
	}
	if len(debugs) < 2 {
		t.Errorf("%d debug lines; want one per failed attempt after the first", len(debugs))
	}
	if errs := logs.Lines(slog.LevelError); len(errs) != 0 {
		t.Errorf("error lines: %q", errs)
	}
	t.Logf("%s\n%s\n(%d attempts at debug level)", warns, infos, len(debugs))
}
