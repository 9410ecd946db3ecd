package recordings

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/klauspost/compress/zstd"
	"google.golang.org/protobuf/proto"

	recordingsv1 "github.com/sightlinehq/sightline/gen/sightline/recordings/v1"
	"github.com/sightlinehq/sightline/platform/pebblelog"
	"github.com/sightlinehq/sightline/siteaccess/siteaccesstest"
	"github.com/sightlinehq/sightline/svc-recordings/store"
	"github.com/sightlinehq/sightline/svc-recordings/store/pebble"
)

const crashEnv = "RECORDINGS_CRASH_CHILD_DIR"

var crashSessions = []string{"s_crash0000000000000a", "s_crash0000000000000b", "s_crash0000000000000c"}

// crashChild appends forever, printing every acknowledged chunk, until it
// is killed.
func crashChild() {
	var cfg Config
	fs := flag.NewFlagSet("child", flag.ContinueOnError)
	cfg.RegisterFlags(fs)
	svc, err := New(context.Background(), cfg, Deps{Authorizer: siteaccesstest.AllowAll{}, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), DataDir: os.Getenv(crashEnv)})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	out := bufio.NewWriter(os.Stdout)
	var held []*recordingsv1.Chunk
	for r := int64(0); r < 1_000_000; r++ {
		var batch []*recordingsv1.Chunk
		for _, s := range crashSessions {
			c := crashChunk(s, r)
			if r%4 == 1 {
				held = append(held, c) // delivered late, out of order
				continue
			}
			batch = append(batch, c)
			if r > 0 {
				batch = append(batch, crashChunk(s, r-1)) // re-delivery
			}
		}
		if r%4 == 3 {
			batch, held = append(batch, held...), nil
		}
		if _, err := svc.AppendChunks(context.Background(), &recordingsv1.AppendChunksRequest{Chunks: batch}); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(3)
		}
		for _, c := range batch {
			fmt.Fprintf(out, "%s %d\n", c.SessionId, c.Seq)
		}
		out.Flush()
	}
	os.Exit(0)
}

func crashChunk(session string, seq int64) *recordingsv1.Chunk {
	ts := t0 + seq*2000
	evs, _ := json.Marshal([]ev{
		{"type": 3, "timestamp": ts, "data": ev{"source": 1, "positions": []any{ev{"x": seq % 800, "y": 10, "id": 3, "timeOffset": 0}}}},
		{"type": 3, "timestamp": ts + 10, "data": ev{"source": 2, "type": 2, "id": 3, "x": seq % 800, "y": 10}},
		{"type": 3, "timestamp": ts + 900, "data": ev{"source": 0, "adds": []any{}, "removes": []any{}, "texts": []any{}, "attributes": []any{}}},
	})
	return mkChunk(session, seq, pvA, "https://crash.example/", evs)
}

// startChild runs this test binary again as a child (no tests: TestMain's
// env switch picks its part) with env added, and answers it and a scanner
// of its stdout.
func startChild(t *testing.T, env ...string) (*exec.Cmd, *bufio.Scanner) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), env...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return cmd, bufio.NewScanner(stdout)
}

func TestCrashDuringAppendsLosesNothing(t *testing.T) {
	dir := t.TempDir()
	cmd, sc := startChild(t, crashEnv+"="+dir)
	acked := map[string]map[int64]bool{}
	n := 0
	for sc.Scan() && n < 600 {
		var sess string
		var seq int64
		if _, err := fmt.Sscanf(sc.Text(), "%s %d", &sess, &seq); err != nil {
			t.Fatalf("child said %q", sc.Text())
		}
		if acked[sess] == nil {
			acked[sess] = map[int64]bool{}
		}
		acked[sess][seq] = true
		n++
	}
	// kill -9 in the middle of appending.
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	if n < 600 {
		t.Fatalf("child acknowledged only %d chunks before it stopped", n)
	}

	// Reopen the store itself: every acknowledged chunk is there, and each
	// summary agrees with the chunks stored.
	st, err := pebble.Open(filepath.Join(dir, "recordings"), pebble.Options{Logger: pebblelog.New(slog.New(slog.NewTextHandler(io.Discard, nil)))})
	if err != nil {
		t.Fatal(err)
	}
	dec, _ := zstd.NewReader(nil)
	defer dec.Close()
	ctx := context.Background()
	versions := map[string]*recordingsv1.GetSessionResponse{}
	for _, sess := range crashSessions {
		stored := map[int64]bool{}
		var clicks, events int
		err := st.ReadChunks(ctx, site, sess, 0, func(c store.StoredChunk) error {
			stored[c.Seq] = true
			raw, err := dec.DecodeAll(c.Data, nil)
			if err != nil {
				return err
			}
			var evs []ev
			if err := json.Unmarshal(raw, &evs); err != nil {
				return err
			}
			events += len(evs)
			clicks++ // one click per chunk
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		for seq := range acked[sess] {
			if !stored[seq] {
				t.Errorf("%s: acknowledged chunk %d lost", sess, seq)
			}
		}
		sum, err := st.Session(ctx, site, sess)
		if err != nil {
			t.Fatalf("%s: %v", sess, err)
		}
		if int(sum.ChunkCount) != len(stored) || int(sum.EventCount) != events || int(sum.ClickCount) != clicks {
			t.Errorf("%s: summary chunks %d events %d clicks %d; store has %d chunks %d events %d clicks",
				sess, sum.ChunkCount, sum.EventCount, sum.ClickCount, len(stored), events, clicks)
		}
		versions[sess] = &recordingsv1.GetSessionResponse{Session: sum}
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}

	// Restart the service with search up: the outbox drains to the latest
	// version of every session.
	recv, addr := serveSearch(t, "127.0.0.1:0")
	h := start(t, testConfig(t), dir, addr)
	for _, sess := range crashSessions {
		want := versions[sess].Session
		waitFor(t, func() bool { return proto.Equal(recv.get(site, sess), want) })
	}
	waitFor(t, func() bool { d, _ := h.svc.store.OutboxDepth(ctx); return d == 0 })
}
