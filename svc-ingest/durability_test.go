package ingest

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	accountsv1 "github.com/sightlinehq/sightline/gen/sightline/accounts/v1"
	recordingsv1 "github.com/sightlinehq/sightline/gen/sightline/recordings/v1"
)

const childEnv = "SIGHTLINE_INGEST_CHILD"

// runChild runs ingest as its own process (HTTP intake + forwarder) until
// killed; the parent reads its address from stdout.
func runChild() {
	var cfg Config
	fs := flag.NewFlagSet("child", flag.ExitOnError)
	cfg.RegisterFlags(fs)
	if err := fs.Parse(nil); err != nil {
		panic(err)
	}
	cfg.SpoolDir = os.Getenv("CHILD_SPOOL")
	cfg.SpoolSegmentBytes = 256 << 10
	cfg.RatePerIP, cfg.RatePerSite = 0, 0
	cfg.ForwardBackoffMin, cfg.ForwardBackoffMax = 10*time.Millisecond, 200*time.Millisecond
	cfg.ForwardBatchRecords = 32
	conn := func(addr string) *grpc.ClientConn {
		cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			panic(err)
		}
		return cc
	}
	svc, err := New(context.Background(), cfg, Deps{
		Accounts:   accountsv1.NewAccountsInternalServiceClient(conn(os.Getenv("CHILD_ACCOUNTS"))),
		Recordings: recordingsv1.NewRecordingsInternalServiceClient(conn(os.Getenv("CHILD_RECORDINGS"))),
	})
	if err != nil {
		fmt.Println("ERR", err)
		os.Exit(2)
	}
	go func() {
		// Run returns only on failure here: the child must not go on
		// answering 204 without a forwarder.
		if err := svc.Run(context.Background()); err != nil {
			panic(fmt.Errorf("ingest Run: %w", err))
		}
	}()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	mux := http.NewServeMux()
	svc.RegisterHTTP(mux)
	fmt.Println("ADDR", lis.Addr().String())
	http.Serve(lis, mux)
}

func startChild(t *testing.T, spoolDir, accAddr, recAddr string) (*exec.Cmd, string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"=1", "CHILD_SPOOL="+spoolDir, "CHILD_ACCOUNTS="+accAddr, "CHILD_RECORDINGS="+recAddr)
	out, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(out)
	if !sc.Scan() || !strings.HasPrefix(sc.Text(), "ADDR ") {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("child did not start: %q", sc.Text())
	}
	// Read the address before the drain below takes the scanner over.
	addr := strings.TrimPrefix(sc.Text(), "ADDR ")
	go func() {
		for sc.Scan() {
		}
	}()
	return cmd, addr
}

// TestKill9DuringLoad kills the ingest process with SIGKILL in the middle of
// a load and checks that every batch answered 204 reaches recordings after
// a restart on the same spool, each once in effect.
func TestKill9DuringLoad(t *testing.T) {
	acc := &accountsServer{sites: testSites(), leased: map[string]int64{}}
	rec := newRecordingsServer()
	accSrv := startGRPC(t, func(s *grpc.Server) { accountsv1.RegisterAccountsInternalServiceServer(s, acc) })
	recSrv := startGRPC(t, func(s *grpc.Server) { recordingsv1.RegisterRecordingsInternalServiceServer(s, rec) })
	spoolDir := t.TempDir()

	cmd, addr := startChild(t, spoolDir, accSrv.addr, recSrv.addr)
	acked := loadUntilKill(t, addr, 400, 60*time.Second, func() { cmd.Process.Signal(syscall.SIGKILL) }, func() string { return "" })
	cmd.Wait()
	delivered := rec.count()

	cmd, _ = startChild(t, spoolDir, accSrv.addr, recSrv.addr)
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	dups := rec.waitAcked(t, acked, 30*time.Second, func() string { return "" })
	t.Logf("%d batches answered 204; %d delivered before the kill; all arrived after restart (%d re-deliveries de-duplicated by key)",
		len(acked), delivered, dups)
}
