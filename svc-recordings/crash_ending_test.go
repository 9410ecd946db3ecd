package recordings

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/types/known/timestamppb"

	notifyv1 "github.com/sightlinehq/sightline/gen/sightline/notify/v1"
	recordingsv1 "github.com/sightlinehq/sightline/gen/sightline/recordings/v1"
	"github.com/sightlinehq/sightline/platform/pebblelog"
	"github.com/sightlinehq/sightline/siteaccess/siteaccesstest"
	"github.com/sightlinehq/sightline/svc-recordings/store"
	"github.com/sightlinehq/sightline/svc-recordings/store/pebble"
)

const crashEndEnv = "RECORDINGS_CRASH_END_CHILD_DIR"

func crashEndSession(i int) string { return fmt.Sprintf("s_crashend%014d", i) }

// crashEndChild creates idle sessions and ends them one pass after
// another, printing every session a pass ended, until it is killed. Its
// notify is down (nothing listens at the address), so every event stays in
// the notify outbox.
func crashEndChild() {
	var cfg Config
	fs := flag.NewFlagSet("child", flag.ContinueOnError)
	cfg.RegisterFlags(fs)
	cfg.SweepLimit = 3
	cc, err := grpc.NewClient(os.Getenv(crashEndEnv+"_NOTIFY"), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	svc, err := New(context.Background(), cfg, Deps{
		Authorizer: siteaccesstest.AllowAll{},
		Logger:     slog.New(slog.NewTextHandler(io.Discard, nil)), DataDir: os.Getenv(crashEndEnv),
		Notify: notifyv1.NewNotifyInternalServiceClient(cc),
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	go func() {
		if err := svc.Run(context.Background()); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(4)
		}
	}()
	out := bufio.NewWriter(os.Stdout)
	old := time.Now().Add(-2 * time.Hour)
	for i := 0; i < 1_000_000; i++ {
		var batch []*recordingsv1.Chunk
		for j := range 2 {
			c := crashChunk(crashEndSession(2*i+j), 0)
			c.ServerTime = timestampAt(old)
			batch = append(batch, c)
		}
		if _, err := svc.AppendChunks(context.Background(), &recordingsv1.AppendChunksRequest{Chunks: batch}); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(3)
		}
		res, err := svc.Internal().RunSweep(context.Background(), &recordingsv1.RunSweepRequest{Task: recordingsv1.SweepTask_SWEEP_TASK_END_IDLE_SESSIONS})
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(3)
		}
		fmt.Fprintf(out, "%d %d\n", 2*i+2, res.Sessions)
		out.Flush()
	}
	os.Exit(0)
}

// TestCrashWhileEndingLosesNoEvent: kill -9 while sessions are being
// created and ended (notify down). After it, every session is either ended
// with exactly one session.ended entry, or still open and ended by the next
// pass; a restarted service with notify up publishes each event once.
func TestCrashWhileEndingLosesNoEvent(t *testing.T) {
	dir := t.TempDir()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	down := lis.Addr().String()
	lis.Close()
	cmd, sc := startChild(t, crashEndEnv+"="+dir, crashEndEnv+"_NOTIFY="+down)
	created, ended, passes := 0, 0, 0
	for sc.Scan() && passes < 150 {
		var c, e int
		if _, err := fmt.Sscanf(sc.Text(), "%d %d", &c, &e); err != nil {
			t.Fatalf("child said %q", sc.Text())
		}
		created, ended = c, ended+e
		passes++
	}
	if err := cmd.Process.Kill(); err != nil { // kill -9 mid-pass
		t.Fatal(err)
	}
	cmd.Wait()
	if passes < 150 || ended < 100 {
		t.Fatalf("child made %d passes ending %d sessions before it stopped", passes, ended)
	}

	st, err := pebble.Open(filepath.Join(dir, "recordings"), pebble.Options{Logger: pebblelog.New(slog.New(slog.NewTextHandler(io.Discard, nil)))})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	entries, err := st.NotifyOutboxPending(ctx, 1_000_000)
	if err != nil {
		t.Fatal(err)
	}
	events := map[string]int{}
	for _, e := range entries {
		if e.Type == store.EventSessionEnded {
			events[e.SessionID]++
		}
	}
	endedNow := 0
	for i := range created {
		sess := crashEndSession(i)
		sum, err := st.Session(ctx, site, sess)
		if err != nil {
			t.Fatalf("%s: %v", sess, err)
		}
		switch n := events[sess]; {
		case sum.EndedTime != nil && n == 1:
			endedNow++
		case sum.EndedTime == nil && n == 0:
		default:
			t.Fatalf("%s: ended_time %v with %d session.ended entries", sess, sum.EndedTime, n)
		}
	}
	if endedNow < ended {
		t.Fatalf("%d sessions ended on disk, the child acknowledged %d", endedNow, ended)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}

	// Restart with notify up: what was open is ended by the next pass, and
	// every session's event is published, once.
	_, searchAddr := serveAnswerSearch(t)
	nr, notifyAddr := serveNotify(t)
	cfg := testConfig(t)
	h := start(t, cfg, dir, searchAddr, withNotify(t, notifyAddr))
	for {
		if res := runSweep(t, h, recordingsv1.SweepTask_SWEEP_TASK_END_IDLE_SESSIONS); !res.More {
			break
		}
	}
	waitFor(t, func() bool { d, _ := h.svc.store.NotifyOutboxDepth(ctx); return d == 0 })
	for i := range created {
		if n := len(nr.byID(fmt.Sprintf("session.ended:%d:%s", site, crashEndSession(i)))); n != 1 {
			t.Fatalf("session %d: session.ended published %d times", i, n)
		}
	}
}

func timestampAt(t time.Time) *timestamppb.Timestamp { return timestamppb.New(t) }
