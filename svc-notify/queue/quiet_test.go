package queue_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/riverqueue/river"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/sightlinehq/sightline/internal/poll"
	"github.com/sightlinehq/sightline/platform/telemetry"
	"github.com/sightlinehq/sightline/svc-notify/queue"
	"github.com/sightlinehq/sightline/svc-notify/store/teststore"
)

type maintArgs struct {
	N    int  `json:"n" river:"unique"`
	Work bool `json:"work"`
}

func (maintArgs) Kind() string { return "maint" }

type maintWorker struct {
	river.WorkerDefaults[maintArgs]
	tr   *sdktrace.TracerProvider
	runs chan int
}

func (w *maintWorker) Work(ctx context.Context, job *river.Job[maintArgs]) error {
	// A call beneath the run, as a sweep's RPC to recordings would be.
	_, span := w.tr.Tracer("t").Start(ctx, "call")
	span.End()
	if job.Args.Work {
		queue.Worked(ctx)
	}
	w.runs <- job.Args.N
	return nil
}

// A quiet kind's idle run and its enqueue outside a trace export nothing;
// a run that worked is one root span of its own; other kinds are traced
// as otelriver does.
func TestQuietKindsTracedOnlyWhenTheyWork(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp),
		sdktrace.WithSampler(sdktrace.ParentBased(telemetry.NoOrphanCalls(sdktrace.AlwaysSample()))))
	t.Cleanup(func() { tp.Shutdown(context.Background()) })
	w := &maintWorker{tr: tp, runs: make(chan int, 4)}
	reg := river.NewWorkers()
	river.AddWorker(reg, w)
	q, err := queue.Open(context.Background(), teststore.SQLite(t).Handle(), queue.Config{Registry: reg, PollInterval: 50 * time.Millisecond,
		StopTimeout: 5 * time.Second, Logger: quiet, TracerProvider: tp, Quiet: []string{"maint"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { q.Close() })
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- q.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})

	if _, err := q.Insert(context.Background(), maintArgs{N: 1}, nil); err != nil {
		t.Fatal(err)
	}
	if n := <-w.runs; n != 1 {
		t.Fatalf("ran %d", n)
	}
	if _, err := q.Insert(context.Background(), maintArgs{N: 2, Work: true}, nil); err != nil {
		t.Fatal(err)
	}
	if n := <-w.runs; n != 2 {
		t.Fatalf("ran %d", n)
	}
	poll.Until(t, 5*time.Second, func() error {
		if !slices.ContainsFunc(exp.GetSpans(), func(s tracetest.SpanStub) bool { return s.Name == "river.work/maint" }) {
			return context.DeadlineExceeded
		}
		return nil
	})
	var names []string
	for _, s := range exp.GetSpans() {
		names = append(names, s.Name)
		if s.Name == "river.work/maint" && s.Parent.IsValid() {
			t.Errorf("the worked run's span has a parent %v", s.Parent)
		}
	}
	if len(names) != 1 || names[0] != "river.work/maint" {
		t.Fatalf("exported %v; want only the worked run's river.work/maint", names)
	}

	// Inside a trace, an insert of a quiet kind is traced as usual.
	parent, span := tp.Tracer("t").Start(context.Background(), "request")
	if _, err := q.Insert(parent, maintArgs{N: 3}, nil); err != nil {
		t.Fatal(err)
	}
	span.End()
	<-w.runs
	if !slices.ContainsFunc(exp.GetSpans(), func(s tracetest.SpanStub) bool { return s.Name == "river.insert_many" }) {
		t.Errorf("an insert inside a trace was not traced: %v", exp.GetSpans().Snapshots())
	}
}
