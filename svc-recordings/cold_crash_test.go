package recordings

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/sightlinehq/sightline/blob"
	recordingsv1 "github.com/sightlinehq/sightline/gen/sightline/recordings/v1"
	"github.com/sightlinehq/sightline/siteaccess/siteaccesstest"
	"github.com/sightlinehq/sightline/svc-recordings/assets"
	"github.com/sightlinehq/sightline/svc-recordings/store"
)

const crashColdEnv = "RECORDINGS_CRASH_COLD_DIR"

func crashColdSession(r int) string { return fmt.Sprintf("s_coldcrash%012d", r) }

// childTB is the testing.TB of a child process, which has no test: the
// helpers building chunks call only Helper and Fatal.
type childTB struct{ testing.TB }

func (childTB) Helper() {}
func (childTB) Fatal(args ...any) {
	fmt.Fprintln(os.Stderr, args...)
	os.Exit(5)
}

// announcedPuts says "put" once each Put of the child is durable, and
// waits a little: the parent's kill lands between the put and the drop.
type announcedPuts struct{ blob.Store }

func (a announcedPuts) Put(ctx context.Context, key string, r io.Reader, size int64, ct string) error {
	if err := a.Store.Put(ctx, key, r, size, ct); err != nil {
		return err
	}
	fmt.Println("put")
	time.Sleep(20 * time.Millisecond)
	return nil
}

// crashColdChild stores cold sessions and moves them, one at a time,
// printing each session once it is stored and "put" once its object is,
// until it is killed.
func crashColdChild() {
	var cfg Config
	fs := flag.NewFlagSet("child", flag.ContinueOnError)
	cfg.RegisterFlags(fs)
	ctx := context.Background()
	dir := os.Getenv(crashColdEnv)
	blobs, err := assets.OpenStore(ctx, cfg.Assets.S3, dir, "cold", cfg.coldMaxObject(), nil, nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	svc, err := New(ctx, cfg, Deps{Authorizer: siteaccesstest.AllowAll{}, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), DataDir: dir, ColdBlobs: announcedPuts{blobs}})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	for r := range 1_000_000 {
		if _, err := svc.AppendChunks(ctx, &recordingsv1.AppendChunksRequest{Chunks: coldSession(childTB{}, crashColdSession(r), 40*day, 30)}); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(3)
		}
		fmt.Println(crashColdSession(r))
		if _, _, err := svc.moveCold(ctx); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(4)
		}
	}
	os.Exit(0)
}

// TestColdCrashDuringMoves: kill -9 while sessions are being moved (put,
// verify, drop, over and over), right after a put; after a restart every stored session
// replays whole, byte for byte, from wherever its chunks are, and the next
// pass finishes every move.
func TestColdCrashDuringMoves(t *testing.T) {
	dir := t.TempDir()
	cmd, sc := startChild(t, crashColdEnv+"="+dir)
	var stored []string
	for sc.Scan() {
		if sc.Text() != "put" {
			stored = append(stored, sc.Text())
		} else if len(stored) >= 40 {
			break // kill -9 right after a put, before its drop
		}
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	if len(stored) < 40 {
		t.Fatalf("child stored only %d sessions before it stopped", len(stored))
	}
	ctx := context.Background()
	svc, err := New(ctx, testConfig(t), Deps{Authorizer: siteaccesstest.AllowAll{}, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Close()
	want := map[int64][]byte{}
	for _, c := range coldSession(t, stored[0], 40*day, 30) {
		want[c.GetSeq()] = c.GetEvents()
	}
	check := func(when string) {
		t.Helper()
		for _, sess := range stored {
			n := 0
			err := svc.cold.ReadChunks(ctx, svc.store, site, sess, 0, func(c store.StoredChunk) error {
				events, err := svc.dec.DecodeAll(c.Data, nil)
				if err != nil {
					return err
				}
				if string(events) != string(want[c.Seq]) {
					return fmt.Errorf("chunk %d differs", c.Seq)
				}
				n++
				return nil
			})
			if err != nil || n != len(want) {
				t.Fatalf("%s: %s replays %d of %d chunks: %v", when, sess, n, len(want), err)
			}
		}
	}
	check("after the kill")
	both := 0 // sessions the kill caught between put and drop
	for _, sess := range stored {
		if primaryChunks(t, svc.store, sess) > 0 && len(objects(t, svc.coldBlobs, fmt.Sprintf("cold/%d/%s/", site, sess))) > 0 {
			both++
		}
	}
	if both != 1 {
		t.Fatalf("%d sessions caught between put and drop, want the last one", both)
	}
	for {
		_, more, err := svc.moveCold(ctx)
		if err != nil {
			t.Fatalf("pass after the restart: %v", err)
		}
		if !more {
			break
		}
	}
	for _, sess := range stored {
		if n := primaryChunks(t, svc.store, sess); n != 0 {
			t.Fatalf("%s: %d chunks left in the primary store after the passes", sess, n)
		}
	}
	check("after the passes")
}
