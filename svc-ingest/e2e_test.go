package ingest

// Durability tests against the real binary: `sightline serve
// --target=ingest` with accounts and recordings reached over gRPC at
// small real servers run by the test (so that the test can stop them).

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"

	accountsv1 "github.com/sightlinehq/sightline/gen/sightline/accounts/v1"
	ingestv1 "github.com/sightlinehq/sightline/gen/sightline/ingest/v1"
	recordingsv1 "github.com/sightlinehq/sightline/gen/sightline/recordings/v1"
	"github.com/sightlinehq/sightline/internal/poll"
	"github.com/sightlinehq/sightline/internal/testproc"
	"github.com/sightlinehq/sightline/platform/rpc"
)

var (
	binaryOnce sync.Once
	binaryPath string
	binaryErr  error
)

// sightlineBinary builds cmd/sightline once per test run.
func sightlineBinary(t *testing.T) string {
	t.Helper()
	binaryOnce.Do(func() {
		dir, err := os.MkdirTemp("", "sightline-ingest-e2e")
		if err != nil {
			binaryErr = err
			return
		}
		binaryPath = filepath.Join(dir, "sightline")
		out, err := exec.Command("go", "build", "-o", binaryPath, "github.com/sightlinehq/sightline/cmd/sightline").CombinedOutput()
		if err != nil {
			binaryErr = err
			binaryPath = string(out)
		}
	})
	if binaryErr != nil {
		t.Fatalf("go build ./cmd/sightline: %v\n%s", binaryErr, binaryPath)
	}
	return binaryPath
}

type binProcess struct {
	cmd        *exec.Cmd
	http, grpc string
	done       chan error
	logs       *testproc.LogBuffer
}

func (p *binProcess) log() string { return p.logs.String() }

// binarySecret is the service secret of the ingest processes these tests
// start (GetStats from the test needs it).
var binarySecret = strings.Repeat("s", 64)

// startIngestBinary runs `sightline serve --target=ingest` on dataDir.
func startIngestBinary(t *testing.T, dataDir, accAddr, recAddr string, extra ...string) *binProcess {
	t.Helper()
	// A process of one module needs the mesh's service secret (the fake
	// services here do not check it).
	secret := filepath.Join(t.TempDir(), "service-secret")
	if err := os.WriteFile(secret, []byte(binarySecret), 0o600); err != nil {
		t.Fatal(err)
	}
	args := append([]string{"serve", "--target=ingest", "--data-dir", dataDir, "--server.service-secret-file", secret,
		"--server.http-listen-address", "127.0.0.1:0", "--server.grpc-listen-address", "127.0.0.1:0",
		"--admin.listen-address", "127.0.0.1:0", "--remote.accounts", accAddr, "--remote.recordings", recAddr,
		// These tests send no traffic beacons: search (the traffic spool's
		// sink) is never called.
		"--remote.search", "127.0.0.1:1",
		"--ingest.rate-per-ip=0", "--ingest.forward.backoff-min=20ms", "--ingest.forward.backoff-max=300ms",
	}, extra...)
	sp := testproc.StartSightline(t, exec.Command(sightlineBinary(t), args...))
	p := &binProcess{cmd: sp.Cmd, http: sp.Addrs.HTTP, grpc: sp.Addrs.GRPC, done: sp.Done, logs: sp.Logs}
	return p
}

func (p *binProcess) stats(t *testing.T) *ingestv1.GetStatsResponse {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, err := rpc.Dial(p.grpc, nil, rpc.ClientOptions{ServiceSecret: binarySecret})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	st, err := ingestv1.NewIngestServiceClient(conn).GetStats(ctx, &ingestv1.GetStatsRequest{})
	if err != nil {
		t.Fatalf("GetStats: %v", err)
	}
	return st
}

func postTo(t *testing.T, client *http.Client, addr string, body []byte) (*http.Response, error) {
	hr, _ := http.NewRequest(http.MethodPost, "http://"+addr+"/i/v1/batch?k="+siteKey, strings.NewReader(string(body)))
	hr.Header.Set("Origin", "https://shop.example.com")
	hr.Header.Set("Content-Type", "text/plain")
	resp, err := client.Do(hr)
	if err != nil {
		return nil, err
	}
	resp.Body.Close()
	return resp, nil
}

// loadUntilKill posts batches to the ingest at addr from 16 workers (each
// its own session, seq 0, 1, …) until it dies, and answers every chunk
// answered 204; kill runs once, when n batches were. Not reaching n within
// timeout kills it too and fails the test (with log's output).
func loadUntilKill(t *testing.T, addr string, n int64, timeout time.Duration, kill func(), log func() string) map[chunkKey]bool {
	t.Helper()
	var mu sync.Mutex
	acked := map[chunkKey]bool{}
	var answered atomic.Int64
	killed := make(chan struct{})
	var killOnce sync.Once
	client := &http.Client{Timeout: 10 * time.Second}
	var wg sync.WaitGroup
	for w := range 16 {
		wg.Go(func() {
			for seq := 0; ; seq++ {
				resp, err := postTo(t, client, addr, batchBody(t, func(m map[string]any) { m["sessionId"], m["seq"] = sessionID(w), seq }))
				if err != nil {
					return // killed
				}
				if resp.StatusCode == http.StatusNoContent {
					mu.Lock()
					acked[chunkKey{siteID, sessionID(w), int64(seq)}] = true
					mu.Unlock()
					if answered.Add(1) == n {
						killOnce.Do(func() { kill(); close(killed) })
					}
				}
			}
		})
	}
	select {
	case <-killed:
	case <-time.After(timeout):
		kill()
		wg.Wait()
		t.Fatalf("load did not reach %d batches\n%s", n, log())
	}
	wg.Wait()
	return acked
}

func e2eServers(t *testing.T) (*recordingsServer, *grpcServer, *grpcServer) {
	acc := &accountsServer{sites: testSites(), leased: map[string]int64{}}
	rec := newRecordingsServer()
	accSrv := startGRPC(t, func(s *grpc.Server) { accountsv1.RegisterAccountsInternalServiceServer(s, acc) })
	recSrv := startGRPC(t, func(s *grpc.Server) { recordingsv1.RegisterRecordingsInternalServiceServer(s, rec) })
	return rec, accSrv, recSrv
}

// TestBinaryRecordingsDownThenBack: with recordings stopped every batch is
// still answered 204; when recordings returns, all of them arrive.
func TestBinaryRecordingsDownThenBack(t *testing.T) {
	rec, accSrv, recSrv := e2eServers(t)
	recSrv.stop()
	p := startIngestBinary(t, t.TempDir(), accSrv.addr, recSrv.addr)
	const n = 60
	for i := range n {
		resp, err := postTo(t, http.DefaultClient, p.http, batchBody(t, func(m map[string]any) { m["seq"] = i }))
		if err != nil || resp.StatusCode != http.StatusNoContent {
			t.Fatalf("batch %d: %v %v\n%s", i, resp, err, p.log())
		}
	}
	poll.Until(t, 10*time.Second, func() error {
		if st := p.stats(t); st.GetForwarder().GetFailedAttempts() == 0 {
			return fmt.Errorf("no failed attempt while recordings is down: %v", st)
		}
		return nil
	})
	if st := p.stats(t); st.GetSpool().GetRecords() != n || st.GetForwarder().GetFailedAttempts() == 0 {
		t.Fatalf("while recordings is down: %v", st)
	}
	recSrv.restart(t)
	rec.waitChunks(t, n, 30*time.Second)
	poll.Until(t, 10*time.Second, func() error {
		if st := p.stats(t); st.GetSpool().GetRecords() != 0 {
			return fmt.Errorf("spool not drained: %v", st)
		}
		return nil
	})
}

// TestBinaryKill9DuringLoad: SIGKILL the binary mid-load; after a restart
// every batch that got a 204 reaches recordings, once in effect.
func TestBinaryKill9DuringLoad(t *testing.T) {
	rec, accSrv, recSrv := e2eServers(t)
	dataDir := t.TempDir()
	p := startIngestBinary(t, dataDir, accSrv.addr, recSrv.addr)
	acked := loadUntilKill(t, p.http, 300, 90*time.Second, func() { p.cmd.Process.Signal(syscall.SIGKILL) }, p.log)
	if err := <-p.done; !testproc.Killed(err) {
		t.Fatalf("ingest had ended before the kill: %v\n%s", err, p.log())
	}
	before := rec.count()
	p = startIngestBinary(t, dataDir, accSrv.addr, recSrv.addr)
	redelivered := rec.waitAcked(t, acked, 60*time.Second, p.log)
	t.Logf("%d batches answered 204 before SIGKILL, %d had arrived; after restart all arrived (%d re-deliveries, de-duplicated by key)", len(acked), before, redelivered)
}

// TestBinarySpoolFull: past the spool bound the binary answers 503 with
// Retry-After; once recordings drains it, batches are accepted again.
func TestBinarySpoolFull(t *testing.T) {
	rec, accSrv, recSrv := e2eServers(t)
	recSrv.stop()
	p := startIngestBinary(t, t.TempDir(), accSrv.addr, recSrv.addr, "--ingest.spool.max-bytes=100000", "--ingest.spool.segment-bytes=32768")
	accepted := 0
	var last *http.Response
	for i := range 50 {
		resp, err := postTo(t, http.DefaultClient, p.http, batchBody(t, func(m map[string]any) { m["seq"] = i }))
		if err != nil {
			t.Fatal(err)
		}
		last = resp
		if resp.StatusCode != http.StatusNoContent {
			break
		}
		accepted++
	}
	if last.StatusCode != http.StatusServiceUnavailable || last.Header.Get("Retry-After") == "" || accepted == 0 {
		t.Fatalf("after %d accepted: %d %v", accepted, last.StatusCode, last.Header)
	}
	hits := map[string]int64{}
	for _, h := range p.stats(t).GetLimitHits() {
		hits[h.GetLimit()] = h.GetCount()
	}
	if hits["spool_full"] == 0 {
		t.Fatalf("spool_full not counted: %v", hits)
	}
	recSrv.restart(t)
	rec.waitChunks(t, accepted, 30*time.Second)
	poll.Until(t, 10*time.Second, func() error {
		resp, err := postTo(t, http.DefaultClient, p.http, batchBody(t, func(m map[string]any) { m["seq"] = 1000 }))
		if err == nil && resp.StatusCode == http.StatusNoContent {
			return nil
		}
		return fmt.Errorf("not accepting after drain: %v %v", resp, err)
	})
	rec.waitChunks(t, accepted+1, 30*time.Second)
}
