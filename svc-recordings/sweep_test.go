package recordings

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"

	"github.com/sightlinehq/sightline/platform/depstate/depstatetest"
	"github.com/sightlinehq/sightline/siteaccess/siteaccesstest"
	"github.com/sightlinehq/sightline/svc-recordings/store"
)

// sweepFailing fails Sweep while down is set, counting the calls.
type sweepFailing struct {
	store.Store
	down  atomic.Bool
	calls atomic.Int64
}

func (s *sweepFailing) Sweep(ctx context.Context, now time.Time) (int, error) {
	s.calls.Add(1)
	if s.down.Load() {
		return 0, errors.New("scylla: sweep: no hosts available in the pool")
	}
	return s.Store.Sweep(ctx, now)
}

// TestSweepBacksOffAndLogsOnce: while the store fails sweeps the loop
// retries (not only every interval), logs one warning, and the gauge
// sightline.dependency.up{dependency="store",component="retention"} reads
// 0; when the store answers, one info line and the gauge reads 1.
func TestSweepBacksOffAndLogsOnce(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	t.Cleanup(func() { mp.Shutdown(context.Background()) })
	logs := &depstatetest.Logs{}
	cfg := testConfig(t)
	cfg.SweepInterval = 20 * time.Millisecond
	svc, err := New(context.Background(), cfg, Deps{Authorizer: siteaccesstest.AllowAll{}, Logger: slog.New(logs), DataDir: t.TempDir(), MeterProvider: mp})
	if err != nil {
		t.Fatal(err)
	}
	st := &sweepFailing{Store: svc.store}
	st.down.Store(true)
	real := svc.store
	svc.store = st
	t.Cleanup(func() { svc.store = real; svc.Close() })
	gauge := func() int64 { t.Helper(); return depstatetest.Up(t, reader, "component", "retention") }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { svc.sweepLoop(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	wait := func(what string, cond func() bool) {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(2 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("not within 10 s: %s", what)
			}
		}
	}
	wait("5 failed sweeps", func() bool { return st.calls.Load() >= 5 })
	if v := gauge(); v != 0 {
		t.Fatalf("gauge while sweeps fail = %d", v)
	}
	st.down.Store(false)
	wait("a sweep succeeds", func() bool { return svc.sweeps.Up() })
	wait("more sweeps", func() bool { return st.calls.Load() >= 10 })
	if v := gauge(); v != 1 {
		t.Fatalf("gauge after the store answers = %d", v)
	}
	warns, infos := logs.Lines(slog.LevelWarn), logs.Lines(slog.LevelInfo)
	if w, i := count(warns, "retention: store is failing"), count(infos, "retention: store answers again"); w != 1 || i != 1 {
		t.Fatalf("%d warnings and %d recovery lines, want 1 and 1: %q %q", w, i, warns, infos)
	}
	if errs := logs.Lines(slog.LevelError); len(errs) != 0 {
		t.Fatalf("%d error lines: %q", len(errs), errs)
	}
}

// count counts the lines that start with prefix.
func count(lines []string, prefix string) int {
	n := 0
	for _, l := range lines {
		if strings.HasPrefix(l, prefix) {
			n++
		}
	}
	return n
}
