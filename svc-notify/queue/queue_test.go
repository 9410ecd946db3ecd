package queue_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"

	"github.com/sightlinehq/sightline/internal/pgtest"
	"github.com/sightlinehq/sightline/platform/telemetry/telemetrytest"
	"github.com/sightlinehq/sightline/svc-notify/queue"
	"github.com/sightlinehq/sightline/svc-notify/store"
	"github.com/sightlinehq/sightline/svc-notify/store/teststore"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

type slowArgs struct {
	Key string `json:"key" river:"unique"`
}

func (slowArgs) Kind() string { return "slow" }

// slowWorker takes its time, so a stop finds it running.
type slowWorker struct {
	river.WorkerDefaults[slowArgs]
	started chan struct{}
	done    atomic.Int64
	once    sync.Once
}

func (w *slowWorker) Work(ctx context.Context, job *river.Job[slowArgs]) error {
	w.once.Do(func() { close(w.started) })
	select {
	case <-time.After(300 * time.Millisecond):
		w.done.Add(1)
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func newQueue(t *testing.T, st store.Store, w *slowWorker, reader sdkmetric.Reader) *queue.Queue {
	t.Helper()
	reg := river.NewWorkers()
	river.AddWorker(reg, w)
	cfg := queue.Config{Registry: reg, PollInterval: 100 * time.Millisecond, StopTimeout: 5 * time.Second, Logger: quiet}
	if reader != nil {
		cfg.MeterProvider = sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	}
	q, err := queue.Open(context.Background(), st.Handle(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := q.Close(); err != nil {
			t.Errorf("queue close: %v", err)
		}
	})
	return q
}

// TestStopLetsRunningJobsFinish: cancelling Run's context stops fetching
// but the running job completes (and is recorded completed).
func TestStopLetsRunningJobsFinish(t *testing.T) {
	st := teststore.SQLite(t)
	w := &slowWorker{started: make(chan struct{})}
	q := newQueue(t, st, w, nil)
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan error, 1)
	go func() { ran <- q.Run(ctx) }()
	res, err := q.Insert(context.Background(), slowArgs{Key: "a"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-w.started:
	case <-time.After(10 * time.Second):
		t.Fatal("job never started")
	}
	cancel()
	if err := <-ran; err != nil {
		t.Fatalf("Run: %v", err)
	}
	if w.done.Load() != 1 {
		t.Fatal("the running job was cut short by the stop")
	}
	if err := q.Ready(context.Background()); err == nil {
		t.Error("a stopped queue reports ready")
	}
	job, err := q.Job(context.Background(), res.Job.ID)
	if err != nil || job.State != rivertype.JobStateCompleted {
		t.Fatalf("job after stop: %+v %v", job, err)
	}
}

// TestInsertTxCommitsWithTheTransaction: a job inserted in a rolled-back
// transaction does not exist; a unique job is inserted once.
func TestInsertTxCommitsWithTheTransaction(t *testing.T) {
	for name, st := range map[string]store.Store{"sqlite": teststore.SQLite(t), "postgres": teststore.Postgres(t, pgtest.Start(t), 8)} {
		t.Run(name, func(t *testing.T) {
			q := newQueue(t, st, &slowWorker{started: make(chan struct{})}, nil)
			ctx := context.Background()
			boom := errors.New("boom")
			err := st.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
				if _, err := q.InsertTx(ctx, tx, slowArgs{Key: "rolled-back"}, nil); err != nil {
					return err
				}
				return boom
			})
			if !errors.Is(err, boom) {
				t.Fatal(err)
			}
			var dup []bool
			for range 2 {
				err := st.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
					r, err := q.InsertTx(ctx, tx, slowArgs{Key: "kept"}, &river.InsertOpts{UniqueOpts: river.UniqueOpts{ByArgs: true}})
					if err == nil {
						dup = append(dup, r.UniqueSkippedAsDuplicate)
					}
					return err
				})
				if err != nil {
					t.Fatal(err)
				}
			}
			jobs, err := q.Jobs(ctx, river.NewJobListParams().Kinds("slow"))
			if err != nil {
				t.Fatal(err)
			}
			if len(jobs) != 1 || !strings.Contains(strings.ReplaceAll(string(jobs[0].EncodedArgs), " ", ""), `"key":"kept"`) || dup[0] || !dup[1] {
				t.Fatalf("jobs %v, duplicates %v: want only the committed unique one", jobs, dup)
			}
		})
	}
}

// TestConcurrentOpenMigratesOnce: processes starting together on one
// PostgreSQL all get River's tables (the migrations run under a lock).
func TestConcurrentOpenMigratesOnce(t *testing.T) {
	dsn := pgtest.Start(t)
	stores := make([]store.Store, 4)
	for i := range stores {
		stores[i] = teststore.Postgres(t, dsn, 8)
	}
	errs := make(chan error, len(stores))
	for _, st := range stores {
		go func() {
			reg := river.NewWorkers()
			river.AddWorker(reg, &slowWorker{started: make(chan struct{})})
			q, err := queue.Open(context.Background(), st.Handle(), queue.Config{Registry: reg, Logger: quiet})
			if err == nil {
				err = q.Close()
			}
			errs <- err
		}()
	}
	for range stores {
		if err := <-errs; err != nil {
			t.Errorf("concurrent Open: %v", err)
		}
	}
}

// TestDepthGauge reports waiting jobs by kind and state.
func TestDepthGauge(t *testing.T) {
	st := teststore.SQLite(t)
	reader := sdkmetric.NewManualReader()
	q := newQueue(t, st, &slowWorker{started: make(chan struct{})}, reader)
	ctx := context.Background()
	for _, k := range []string{"a", "b", "c"} {
		if _, err := q.Insert(ctx, slowArgs{Key: k}, &river.InsertOpts{ScheduledAt: time.Now().Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
	}
	if jobs := telemetrytest.By(t, reader, "notify.queue.jobs", "kind", "state"); jobs["slow/scheduled"] != 3 {
		t.Fatalf("notify.queue.jobs has no slow/scheduled = 3: %v", jobs)
	}
}
