package forwarder

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/credentials/insecure"

	recordingsv1 "github.com/sightlinehq/sightline/gen/sightline/recordings/v1"
	"github.com/sightlinehq/sightline/internal/loopback"
	"github.com/sightlinehq/sightline/internal/poll"
	"github.com/sightlinehq/sightline/platform/depstate"
	"github.com/sightlinehq/sightline/platform/depstate/depstatetest"
)

// TestOutageLogsOnceAndKeepsOrder: recordings refuses connections for a
// while (its server stopped), then is served again on the same address;
// 40 chunks are spooled meanwhile. The forwarder logs one warning when
// delivery starts failing and one info line with how long and how many
// attempts when it recovers (the attempts in between at debug level), its
// gauge reads 0 during and 1 after, nothing is dead-lettered and every
// chunk arrives once — in spool order with one call in flight; with more
// (two, and the default), calls overlap and a later batch may be stored
// first.
func TestOutageLogsOnceAndKeepsOrder(t *testing.T) {
	for _, inFlight := range []int{1, 2, DefaultInFlight} {
		t.Run(fmt.Sprint("in-flight=", inFlight), func(t *testing.T) { testOutage(t, inFlight) })
	}
}

func testOutage(t *testing.T, inFlight int) {
	rec := &fakeRecordings{}
	// Served again on this address after the outage (loopback.Addr).
	lis, err := net.Listen("tcp", loopback.Addr(t))
	if err != nil {
		t.Fatal(err)
	}
	addr := lis.Addr().String()
	serve := func(lis net.Listener) *grpc.Server {
		srv := grpc.NewServer()
		recordingsv1.RegisterRecordingsInternalServiceServer(srv, rec)
		go srv.Serve(lis)
		return srv
	}
	srv := serve(lis)
	cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithConnectParams(grpc.ConnectParams{Backoff: backoff.Config{BaseDelay: 10 * time.Millisecond, Multiplier: 1.6, MaxDelay: 50 * time.Millisecond}, MinConnectTimeout: time.Second}))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	sp := openSpool(t)
	logs := &depstatetest.Logs{}
	f := newForwarder(sp, recordingsv1.NewRecordingsInternalServiceClient(cc))
	f.Logger = slog.New(logs)
	f.BackoffMin, f.BackoffMax = 5*time.Millisecond, 40*time.Millisecond
	f.InFlight = inFlight
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	defer mp.Shutdown(context.Background())
	if err := depstate.Register(mp.Meter("test"), func() []*depstate.State { return []*depstate.State{f.Recordings()} }); err != nil {
		t.Fatal(err)
	}
	stop := run(t, f)

	var want []string
	add := func(i int) {
		appendChunk(t, sp, 5_000_000_001+int64(i%3), fmt.Sprintf("s_%03d", i/4), int64(i%4))
		want = append(want, fmt.Sprintf("%d/s_%03d/%d", 5_000_000_001+int64(i%3), i/4, i%4))
	}
	for i := range 8 {
		add(i)
	}
	waitDrained(t, sp)
	if v := depstatetest.Up(t, reader, "dependency", "recordings"); v != 1 {
		t.Fatalf("gauge with recordings up = %d", v)
	}

	srv.Stop()
	// A call sent before the client sees its connection closed fails
	// "error reading from server: EOF", not "connection refused".
	poll.Until(t, 10*time.Second, func() error {
		if st := cc.GetState(); st == connectivity.Ready {
			return errors.New("the client still sees its connection ready")
		}
		return nil
	})
	for i := 8; i < 48; i++ {
		add(i)
	}
	poll.Until(t, 10*time.Second, func() error {
		if f.Recordings().Up() {
			return errors.New("the forwarder does not see recordings down")
		}
		return nil
	})
	poll.Until(t, 10*time.Second, func() error { // many attempts, 5-40 ms apart
		if n := f.Stats().Failures; n < 5 {
			return fmt.Errorf("%d failed attempts since recordings went down, want 5", n)
		}
		return nil
	})
	if v := depstatetest.Up(t, reader, "dependency", "recordings"); v != 0 {
		t.Fatalf("gauge with recordings refusing connections = %d", v)
	}

	if lis, err = net.Listen("tcp", addr); err != nil {
		t.Fatal(err)
	}
	srv = serve(lis)
	defer srv.Stop()
	back := time.Now()
	waitDrained(t, sp)
	failures := f.Stats().Failures // every one during the outage
	t.Logf("40 chunks delivered %v after recordings returned (%d failed attempts during the outage)", time.Since(back).Round(time.Millisecond), failures)
	stop()

	got := rec.storedKeys()
	if inFlight > 1 {
		slices.Sort(got)
		slices.Sort(want)
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("stored\n%v\nwant (in spool order with one call in flight)\n%v", got, want)
	}
	if st := f.Stats(); st.DeadLettered != 0 || st.Delivered != 48 || failures < 3 {
		t.Fatalf("stats %+v (failures during the outage %d)", st, failures)
	}
	if v := depstatetest.Up(t, reader, "dependency", "recordings"); v != 1 {
		t.Fatalf("gauge after recordings returned = %d", v)
	}
	warns, infos, debugs := logs.Lines(slog.LevelWarn), logs.Lines(slog.LevelInfo), logs.Lines(slog.LevelDebug)
	if len(warns) != 1 || !strings.Contains(warns[0], "recordings is failing") || !strings.Contains(warns[0], "connection refused") {
		t.Errorf("warnings: %q; want one, saying recordings is failing and why", warns)
	}
	if len(infos) != 1 || !strings.Contains(infos[0], "answers again") || !strings.Contains(infos[0], "down_for=") ||
		!strings.Contains(infos[0], fmt.Sprintf("failed_attempts=%d", failures)) {
		t.Errorf("info lines: %q; want one, saying recordings answers again after how long and %d attempts", infos, failures)
	}
	if len(debugs) < 2 {
		t.Errorf("%d debug lines; want the attempts in between", len(debugs))
	}
	if errs := logs.Lines(slog.LevelError); len(errs) != 0 {
		t.Errorf("error lines: %q", errs)
	}
	t.Logf("%s\n%s\n(%d lines at debug level)", warns, infos, len(debugs))
}
