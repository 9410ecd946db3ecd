package notify

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/riverqueue/river"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/sightlinehq/sightline/svc-notify/queue"
)

// Job kinds. Every job's args carry what makes it idempotent: an e-mail's
// key, a delivery's id, an event's id, a period. River's unique jobs stop
// a second insert while the first job's row exists (a day after it
// finished); the ledger rows in notify's tables (deliveries, alerts,
// digests, events), written in the same transaction as the job, make
// "once" hold for as long as they are kept.
const (
	kindEmail           = "email"
	kindWebhookDelivery = "webhook_delivery"
	kindWebhookDisable  = "webhook_disable"
	kindEvent           = "event"
	kindDigestFanout    = "digest_fanout"
	kindDigest          = "digest"
	kindAlertsCheck     = "alerts_check"
	kindRecordingsSweep = "recordings_sweep"
	kindPrune           = "prune"
)

// emailMaxAttempts: River's default backoff waits attempt⁴ seconds, so
// 14 attempts span a little over 24 hours (Σ k⁴ for k = 1..13 ≈ 24.8 h).
const emailMaxAttempts = 14

// uniqueByArgs makes a job unique by its fields tagged river:"unique",
// in every state but cancelled and discarded: a job given up on may be
// queued again (an operator's retry, a re-published event).
var uniqueByArgs = river.UniqueOpts{ByArgs: true}

// workers registers every job kind's worker.
func (s *Service) workers() *river.Workers {
	w := river.NewWorkers()
	river.AddWorker(w, &worker[emailArgs]{work: s.workEmail, timeout: func() time.Duration { return outlasting(s.cfg.SMTP.Timeout) }})
	river.AddWorker(w, &worker[deliveryArgs]{work: s.workDelivery, timeout: func() time.Duration { return outlasting(s.cfg.Webhook.Timeout) }})
	river.AddWorker(w, &worker[disableArgs]{work: s.workDisable})
	river.AddWorker(w, &worker[eventArgs]{work: s.workEvent})
	river.AddWorker(w, &worker[fanoutArgs]{work: s.workFanout})
	river.AddWorker(w, &worker[digestArgs]{work: s.workDigest})
	river.AddWorker(w, &worker[alertsArgs]{work: s.workAlerts, timeout: func() time.Duration { return min(s.cfg.Alerts.Interval, s.longJobTimeout()) }})
	river.AddWorker(w, &worker[sweepArgs]{work: s.workSweep, timeout: s.longJobTimeout})
	river.AddWorker(w, &worker[pruneArgs]{work: s.workPrune, timeout: s.longJobTimeout})
	return w
}

// worker is a job kind's worker: river wants one type per kind, the work
// is a method of the service. timeout, when set, bounds each job (unset:
// the queue's default).
type worker[A river.JobArgs] struct {
	river.WorkerDefaults[A]
	work    func(context.Context, *river.Job[A]) error
	timeout func() time.Duration
}

func (w *worker[A]) Work(ctx context.Context, job *river.Job[A]) error { return w.work(ctx, job) }

func (w *worker[A]) Timeout(job *river.Job[A]) time.Duration {
	if w.timeout == nil {
		return w.WorkerDefaults.Timeout(job)
	}
	return w.timeout()
}

// periodic lists the jobs the elected leader enqueues. Each carries its
// period in its args and is unique by it, so a leader change mid-period
// (the new leader enqueues at once) cannot run a period twice.
func (s *Service) periodic() []*river.PeriodicJob {
	at := func(every time.Duration) river.PeriodicSchedule { return aligned{every} }
	scheduled := func(args river.JobArgs) (river.JobArgs, *river.InsertOpts) {
		return args, scheduleOpts(args)
	}
	return []*river.PeriodicJob{
		river.NewPeriodicJob(at(time.Hour), func() (river.JobArgs, *river.InsertOpts) {
			return scheduled(fanoutArgs{Hour: s.now().UTC().Truncate(time.Hour)})
		}, &river.PeriodicJobOpts{ID: kindDigestFanout, RunOnStart: true}),
		river.NewPeriodicJob(at(s.cfg.Alerts.Interval), func() (river.JobArgs, *river.InsertOpts) {
			return scheduled(alertsArgs{At: s.now().UTC().Truncate(s.cfg.Alerts.Interval)})
		}, &river.PeriodicJobOpts{ID: kindAlertsCheck, RunOnStart: true}),
		river.NewPeriodicJob(at(s.cfg.SessionEndInterval), func() (river.JobArgs, *river.InsertOpts) {
			return scheduled(sweepArgs{Task: sweepEndIdle, At: s.now().UTC().Truncate(s.cfg.SessionEndInterval)})
		}, &river.PeriodicJobOpts{ID: kindRecordingsSweep + "_end_idle", RunOnStart: true}),
		river.NewPeriodicJob(at(s.cfg.RetentionInterval), func() (river.JobArgs, *river.InsertOpts) {
			return scheduled(sweepArgs{Task: sweepRetention, At: s.now().UTC().Truncate(s.cfg.RetentionInterval)})
		}, &river.PeriodicJobOpts{ID: kindRecordingsSweep + "_retention", RunOnStart: true}),
		river.NewPeriodicJob(at(24*time.Hour), func() (river.JobArgs, *river.InsertOpts) {
			return scheduled(pruneArgs{Day: s.now().UTC().Truncate(24 * time.Hour)})
		}, &river.PeriodicJobOpts{ID: kindPrune, RunOnStart: true}),
	}
}

// scheduleOpts are the insert options of a periodic job.
func scheduleOpts(args river.JobArgs) *river.InsertOpts {
	if _, ok := args.(fanoutArgs); ok {
		return fanoutOpts
	}
	return &river.InsertOpts{Queue: queue.QueueScheduled, UniqueOpts: uniqueByArgs}
}

// aligned fires at multiples of every (UTC), a second after the boundary,
// so every replica's leader names the same period.
type aligned struct{ every time.Duration }

func (a aligned) Next(t time.Time) time.Time {
	return t.Truncate(a.every).Add(a.every + time.Second)
}

// outlasting is the timeout of a job whose work is one network call with
// its own timeout io: longer, leaving the call's own timeout room to fire
// first.
func outlasting(io time.Duration) time.Duration { return io + 10*time.Second }

// jobMetrics count jobs' outcomes beyond what otelriver records.
type jobMetrics struct {
	emails     metric.Int64Counter
	deliveries metric.Int64Counter
	alerts     metric.Int64Counter
	digests    metric.Int64Counter
}

func (m *jobMetrics) init(meter metric.Meter) error {
	for _, c := range []struct {
		dst        *metric.Int64Counter
		name, desc string
	}{
		{&m.emails, "notify.emails", "E-mails handed to the sender, by kind and outcome (sent, retry, rejected)."},
		{&m.deliveries, "notify.webhook.attempts", "Webhook delivery attempts, by event type and outcome (succeeded, retrying, failed)."},
		{&m.alerts, "notify.alerts.fired", "Alerts fired, by kind."},
		{&m.digests, "notify.digests", "Digests queued, by frequency."},
	} {
		var err error
		if *c.dst, err = meter.Int64Counter(c.name, metric.WithDescription(c.desc)); err != nil {
			return fmt.Errorf("notify: metrics: %w", err)
		}
	}
	return nil
}

func count(ctx context.Context, c metric.Int64Counter, n int64, kv ...string) {
	if c == nil {
		return
	}
	attrs := make([]attribute.KeyValue, 0, len(kv)/2)
	for i := 0; i+1 < len(kv); i += 2 {
		attrs = append(attrs, attribute.String(kv[i], kv[i+1]))
	}
	c.Add(ctx, n, metric.WithAttributes(attrs...))
}

// insertOpts are the options of a kind's jobs.
func insertOpts(kind string) *river.InsertOpts {
	switch kind {
	case kindEmail:
		return &river.InsertOpts{MaxAttempts: emailMaxAttempts, UniqueOpts: uniqueByArgs}
	default:
		return &river.InsertOpts{UniqueOpts: uniqueByArgs}
	}
}

// errNoMesh fails (and so retries) a job needing a service this process
// was not given.
var errNoMesh = errors.New("notify: accounts' or search's internal service is not configured")

func (s *Service) meshReady() error {
	if s.deps.AccountsInternal == nil || s.deps.Search == nil {
		return errNoMesh
	}
	return nil
}
