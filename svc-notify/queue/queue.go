// Package queue runs notify's durable jobs on River (riverqueue.com) in
// notify's own database: riverpgxv5 on a *pgxpool.Pool, riversqlite on a
// *sql.DB. River was chosen over a hand-written queue because it already
// does what "once, durably" needs here: jobs inserted in the caller's
// transaction (so a ledger row and its job commit together), unique jobs,
// retries with backoff and snoozes, a leader elected in the database that
// alone enqueues periodic jobs, rescue of jobs whose process died, and the
// same API on PostgreSQL and SQLite; otelriver gives traces and metrics.
//
// The package hides River's driver-typed client behind one Queue so the
// service code is written once for both backends.
package queue

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivermigrate"
	"github.com/riverqueue/river/rivertype"
	"github.com/riverqueue/rivercontrib/otelriver"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/sightlinehq/sightline/platform/storeformat"
	"github.com/sightlinehq/sightline/svc-notify/store"
)

// Queues: periodic work runs on its own small queue so a backlog of
// e-mails and deliveries never delays a sweep or an alert check.
const (
	QueueDefault   = river.QueueDefault
	QueueScheduled = "scheduled"
	scheduledSlots = 4
)

// Config configures the queue.
type Config struct {
	// Workers caps the jobs of the default queue run at once.
	Workers int
	// JobTimeout cancels a job's context after this long (default 1 m);
	// workers may set their own.
	JobTimeout time.Duration
	// RescueAfter: a job running this long is presumed lost with its
	// process (kill -9) and retried (default 5 m; must exceed every job's
	// timeout).
	RescueAfter time.Duration
	// StopTimeout is how long Stop lets running jobs finish before
	// cancelling them (default 30 s).
	StopTimeout time.Duration
	// PollInterval is how often new jobs are looked for when not woken by
	// an insert of this process (PostgreSQL LISTEN/NOTIFY wakes all
	// processes; SQLite polls). Default 1 s.
	PollInterval time.Duration
	// FetchCooldown is the least time between two fetches of a queue
	// (default 10 ms). River's default, 100 ms, caps a queue at
	// 10 × workers jobs a second — 200/s with 20 workers, which
	// bench-notify measured as its ceiling; a fetch is one indexed query.
	FetchCooldown time.Duration
	// Periodic jobs, enqueued by the elected leader only.
	Periodic []*river.PeriodicJob
	// Workers of every job kind.
	Registry *river.Workers
	// RetryPolicy for errors (default River's attempt^4 seconds).
	RetryPolicy river.ClientRetryPolicy
	// ID names this client (default random); unique per process.
	ID string
	// Quiet lists the job kinds traced only when their worker calls
	// Worked (or fails): periodic maintenance that mostly finds nothing.
	Quiet []string

	Logger         *slog.Logger
	TracerProvider trace.TracerProvider
	MeterProvider  metric.MeterProvider
}

// Queue is River on notify's database.
type Queue struct {
	c       client
	handle  any
	log     *slog.Logger
	stopTO  time.Duration
	started atomic.Bool
	stopped chan struct{}
	// running is closed once Run has started the client (Ready before
	// then is "not running"), so the process can wait for it.
	running     chan struct{}
	runningOnce sync.Once

	depthMu   sync.Mutex
	depthAt   time.Time
	depthRows []depthRow
	reg       metric.Registration
}

// client is the part of river.Client[TTx] the Queue uses, with the
// driver's transaction type erased (tx is store.Tx.Raw()).
type client interface {
	Start(ctx context.Context) error
	Stop(ctx context.Context) error
	StopAndCancel(ctx context.Context) error
	Stopped() <-chan struct{}
	Insert(ctx context.Context, args river.JobArgs, opts *river.InsertOpts) (*rivertype.JobInsertResult, error)
	InsertMany(ctx context.Context, params []river.InsertManyParams) ([]*rivertype.JobInsertResult, error)
	insertTx(ctx context.Context, tx any, args river.JobArgs, opts *river.InsertOpts) (*rivertype.JobInsertResult, error)
	insertManyTx(ctx context.Context, tx any, params []river.InsertManyParams) ([]*rivertype.JobInsertResult, error)
	JobGet(ctx context.Context, id int64) (*rivertype.JobRow, error)
	JobList(ctx context.Context, params *river.JobListParams) (*river.JobListResult, error)
}

type pgxClient struct{ *river.Client[pgx.Tx] }

func (c pgxClient) insertTx(ctx context.Context, tx any, args river.JobArgs, opts *river.InsertOpts) (*rivertype.JobInsertResult, error) {
	t, ok := tx.(pgx.Tx)
	if !ok {
		return nil, fmt.Errorf("queue: a %T is not a pgx.Tx", tx)
	}
	return c.InsertTx(ctx, t, args, opts)
}

func (c pgxClient) insertManyTx(ctx context.Context, tx any, params []river.InsertManyParams) ([]*rivertype.JobInsertResult, error) {
	t, ok := tx.(pgx.Tx)
	if !ok {
		return nil, fmt.Errorf("queue: a %T is not a pgx.Tx", tx)
	}
	return c.InsertManyTx(ctx, t, params)
}

type sqlClient struct{ *river.Client[*sql.Tx] }

func (c sqlClient) insertTx(ctx context.Context, tx any, args river.JobArgs, opts *river.InsertOpts) (*rivertype.JobInsertResult, error) {
	t, ok := tx.(*sql.Tx)
	if !ok {
		return nil, fmt.Errorf("queue: a %T is not a *sql.Tx", tx)
	}
	return c.InsertTx(ctx, t, args, opts)
}

func (c sqlClient) insertManyTx(ctx context.Context, tx any, params []river.InsertManyParams) ([]*rivertype.JobInsertResult, error) {
	t, ok := tx.(*sql.Tx)
	if !ok {
		return nil, fmt.Errorf("queue: a %T is not a *sql.Tx", tx)
	}
	return c.InsertManyTx(ctx, t, params)
}

// Open migrates River's tables into the database behind handle
// (*pgxpool.Pool or *sql.DB) and makes the client; Run starts it.
func Open(ctx context.Context, handle any, cfg Config) (*Queue, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Workers < 1 {
		cfg.Workers = 20
	}
	if cfg.JobTimeout <= 0 {
		cfg.JobTimeout = time.Minute
	}
	if cfg.RescueAfter <= 0 {
		cfg.RescueAfter = 5 * time.Minute
	}
	if cfg.RescueAfter <= cfg.JobTimeout {
		return nil, fmt.Errorf("queue: rescue-after %v must exceed the job timeout %v", cfg.RescueAfter, cfg.JobTimeout)
	}
	if cfg.StopTimeout <= 0 {
		cfg.StopTimeout = 30 * time.Second
	}
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = time.Second
	}
	if cfg.FetchCooldown <= 0 {
		cfg.FetchCooldown = 10 * time.Millisecond
	}
	cfg.FetchCooldown = min(cfg.FetchCooldown, cfg.PollInterval)
	// River reports its producers' counts at info level every 5 s: keep
	// its warnings and errors only.
	riverLog := slog.New(minLevel{cfg.Logger.Handler(), slog.LevelWarn})
	rc := &river.Config{
		ID:     cfg.ID,
		Logger: riverLog,
		Queues: map[string]river.QueueConfig{
			QueueDefault:   {MaxWorkers: cfg.Workers},
			QueueScheduled: {MaxWorkers: scheduledSlots},
		},
		Workers:              cfg.Registry,
		PeriodicJobs:         cfg.Periodic,
		RetryPolicy:          cfg.RetryPolicy,
		JobTimeout:           cfg.JobTimeout,
		RescueStuckJobsAfter: cfg.RescueAfter,
		FetchPollInterval:    cfg.PollInterval,
		FetchCooldown:        cfg.FetchCooldown,
		// Finished jobs stay a day: unique jobs (an e-mail's idempotency
		// key, a period's fan-out) cannot be inserted again while their
		// row exists. The ledgers in notify's own tables hold longer.
		CompletedJobRetentionPeriod: 24 * time.Hour,
		DiscardedJobRetentionPeriod: 7 * 24 * time.Hour,
		// quiet comes first: it decides, around otelriver, whether a
		// run is traced.
		Middleware: []rivertype.Middleware{newQuiet(cfg), otelriver.NewMiddleware(&otelriver.MiddlewareConfig{
			MeterProvider:               cfg.MeterProvider,
			TracerProvider:              cfg.TracerProvider,
			EnableWorkSpanJobKindSuffix: true,
			EnableTracePropagation:      true,
		})},
	}
	q := &Queue{handle: handle, log: cfg.Logger, stopTO: cfg.StopTimeout, stopped: make(chan struct{}), running: make(chan struct{})}
	switch h := handle.(type) {
	case *pgxpool.Pool:
		if err := migratePostgres(ctx, h, cfg.Logger); err != nil {
			return nil, err
		}
		c, err := river.NewClient(riverpgxv5.New(h), rc)
		if err != nil {
			return nil, fmt.Errorf("queue: river client: %w", err)
		}
		q.c = pgxClient{c}
	case *sql.DB:
		drv := riversqlite.New(h)
		m, err := rivermigrate.New(drv, &rivermigrate.Config{Logger: cfg.Logger})
		if err != nil {
			return nil, fmt.Errorf("queue: river migrations: %w", err)
		}
		if err := refuseNewer(ctx, drv.GetExecutor(), m); err != nil {
			return nil, err
		}
		if _, err := m.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
			return nil, fmt.Errorf("queue: river migrations: %w", err)
		}
		c, err := river.NewClient(drv, rc)
		if err != nil {
			return nil, fmt.Errorf("queue: river client: %w", err)
		}
		q.c = sqlClient{c}
	default:
		return nil, fmt.Errorf("queue: unsupported database handle %T", handle)
	}
	if cfg.MeterProvider != nil {
		if err := q.registerDepth(cfg.MeterProvider.Meter("github.com/sightlinehq/sightline/svc-notify/queue")); err != nil {
			return nil, err
		}
	}
	return q, nil
}

// minLevel drops records below a level.
type minLevel struct {
	slog.Handler
	min slog.Level
}

func (h minLevel) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= h.min && h.Handler.Enabled(ctx, l)
}

func (h minLevel) WithAttrs(a []slog.Attr) slog.Handler {
	return minLevel{h.Handler.WithAttrs(a), h.min}
}
func (h minLevel) WithGroup(n string) slog.Handler { return minLevel{h.Handler.WithGroup(n), h.min} }

// migratePostgres runs River's migrations under a session advisory lock
// held on a connection of its own: several notify processes starting at
// once on one database would otherwise race to create the same tables.
// (Not one transaction: a River migration adds an enum value that the
// next one uses, which PostgreSQL refuses within one transaction.)
func migratePostgres(ctx context.Context, pool *pgxpool.Pool, log *slog.Logger) error {
	m, err := rivermigrate.New(riverpgxv5.New(pool), &rivermigrate.Config{Logger: log})
	if err != nil {
		return fmt.Errorf("queue: river migrations: %w", err)
	}
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("queue: river migrations: %w", err)
	}
	defer conn.Release()
	h := fnv.New64a()
	h.Write([]byte("sightline/notify/river-migrate"))
	key := int64(h.Sum64())
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1)", key); err != nil {
		return fmt.Errorf("queue: river migrations lock: %w", err)
	}
	defer func() {
		if _, err := conn.Exec(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock($1)", key); err != nil {
			// The lock is the session's: a connection still holding it must
			// not go back to the pool, where it would block every later
			// migration; closing it ends the session and the lock.
			log.Warn("queue: river migrations unlock failed; dropping the connection", "error", err)
			conn.Conn().Close(context.WithoutCancel(ctx))
		}
	}()
	if err := refuseNewer(ctx, riverpgxv5.New(pool).GetExecutor(), m); err != nil {
		return err
	}
	if _, err := m.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		return fmt.Errorf("queue: river migrations: %w", err)
	}
	return nil
}

// refuseNewer refuses a database whose River migrations go past those of
// this binary's River (a newer Sightline's), which River would run on
// without a word.
func refuseNewer[TTx any](ctx context.Context, exec riverdriver.Executor, m *rivermigrate.Migrator[TTx]) error {
	ok, err := exec.TableExists(ctx, &riverdriver.TableExistsParams{Table: "river_migration"})
	if err != nil {
		return fmt.Errorf("queue: river migrations: %w", err)
	}
	if !ok {
		return nil // a new database
	}
	applied, err := exec.MigrationGetByLine(ctx, &riverdriver.MigrationGetByLineParams{Line: riverdriver.MigrationLineMain})
	if err != nil {
		return fmt.Errorf("queue: river migrations: %w", err)
	}
	var have, known int
	for _, a := range applied {
		have = max(have, a.Version)
	}
	for _, v := range m.AllVersions() {
		known = max(known, v.Version)
	}
	if err := storeformat.Check("notify queue (River) schema", int64(have), int64(known)); err != nil {
		return fmt.Errorf("queue: %w", err)
	}
	return nil
}

// Run works jobs (and, when elected leader, enqueues periodic ones) until
// ctx ends, then stops gracefully: no new fetches, running jobs get
// StopTimeout to finish before their contexts are cancelled.
func (q *Queue) Run(ctx context.Context) error {
	defer close(q.stopped)
	// River's own context must outlive ctx so the stop below is graceful.
	if err := q.c.Start(context.WithoutCancel(ctx)); err != nil {
		return fmt.Errorf("queue: start: %w", err)
	}
	q.started.Store(true)
	q.runningOnce.Do(func() { close(q.running) })
	<-ctx.Done()
	q.started.Store(false)
	return q.stop()
}

// Started is closed once Run has started working jobs.
func (q *Queue) Started() <-chan struct{} { return q.running }

func (q *Queue) stop() error {
	sctx, cancel := context.WithTimeout(context.Background(), q.stopTO)
	defer cancel()
	err := q.c.Stop(sctx)
	if errors.Is(err, context.DeadlineExceeded) {
		q.log.Warn("queue: jobs still running at the stop deadline; cancelling them", "timeout", q.stopTO)
		hctx, hcancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer hcancel()
		err = q.c.StopAndCancel(hctx)
	}
	if err != nil {
		return fmt.Errorf("queue: stop: %w", err)
	}
	return nil
}

// Close unregisters the metrics. The database handle is the store's.
func (q *Queue) Close() error {
	if q.reg == nil {
		return nil
	}
	if err := q.reg.Unregister(); err != nil {
		return fmt.Errorf("queue: unregister metrics: %w", err)
	}
	return nil
}

// Ready reports whether the queue is working jobs and its tables answer.
func (q *Queue) Ready(ctx context.Context) error {
	if !q.started.Load() {
		return errors.New("queue: not running")
	}
	var err error
	switch h := q.handle.(type) {
	case *pgxpool.Pool:
		_, err = h.Exec(ctx, "SELECT 1 FROM river_job LIMIT 1")
	case *sql.DB:
		_, err = h.ExecContext(ctx, "SELECT 1 FROM river_job LIMIT 1")
	}
	if err != nil {
		return fmt.Errorf("queue: %w", err)
	}
	return nil
}

// Insert enqueues a job outside any transaction.
func (q *Queue) Insert(ctx context.Context, args river.JobArgs, opts *river.InsertOpts) (*rivertype.JobInsertResult, error) {
	r, err := q.c.Insert(ctx, args, opts)
	if err != nil {
		return nil, fmt.Errorf("queue: insert %s: %w", args.Kind(), err)
	}
	return r, nil
}

// InsertTx enqueues a job in tx: it exists only if tx commits.
func (q *Queue) InsertTx(ctx context.Context, tx store.Tx, args river.JobArgs, opts *river.InsertOpts) (*rivertype.JobInsertResult, error) {
	r, err := q.c.insertTx(ctx, tx.Raw(), args, opts)
	if err != nil {
		return nil, fmt.Errorf("queue: insert %s: %w", args.Kind(), err)
	}
	return r, nil
}

// InsertManyTx enqueues jobs in tx in one batch.
func (q *Queue) InsertManyTx(ctx context.Context, tx store.Tx, params []river.InsertManyParams) ([]*rivertype.JobInsertResult, error) {
	if len(params) == 0 {
		return nil, nil
	}
	r, err := q.c.insertManyTx(ctx, tx.Raw(), params)
	if err != nil {
		return nil, fmt.Errorf("queue: insert %d jobs: %w", len(params), err)
	}
	return r, nil
}

// Job returns a job by id (tests, diagnostics).
func (q *Queue) Job(ctx context.Context, id int64) (*rivertype.JobRow, error) {
	return q.c.JobGet(ctx, id)
}

// Jobs lists jobs (tests, diagnostics).
func (q *Queue) Jobs(ctx context.Context, params *river.JobListParams) ([]*rivertype.JobRow, error) {
	r, err := q.c.JobList(ctx, params)
	if err != nil {
		return nil, err
	}
	return r.Jobs, nil
}

// CompleteTx marks the running job completed in tx, so the job's effects
// (its inserts, its ledger rows) and its completion commit together: a
// crash between them cannot run it twice. Only inside a worker.
func CompleteTx[T river.JobArgs](ctx context.Context, tx store.Tx, job *river.Job[T]) error {
	var err error
	switch t := tx.Raw().(type) {
	case pgx.Tx:
		_, err = river.JobCompleteTx[*riverpgxv5.Driver](ctx, t, job)
	case *sql.Tx:
		_, err = river.JobCompleteTx[*riversqlite.Driver](ctx, t, job)
	default:
		err = fmt.Errorf("unsupported transaction %T", t)
	}
	if err != nil {
		return fmt.Errorf("queue: complete job %d: %w", job.ID, err)
	}
	return nil
}

// depthRow is one (kind, state) count of waiting or failed jobs.
type depthRow struct {
	kind, state string
	n           int64
}

// depthTTL keeps scrapes cheap: the count runs at most this often.
const depthTTL = 10 * time.Second

func (q *Queue) registerDepth(meter metric.Meter) error {
	g, err := meter.Int64ObservableGauge("notify.queue.jobs",
		metric.WithDescription("Jobs waiting (available, scheduled, retryable) or given up (discarded, kept 7 days), by kind and state."),
		metric.WithUnit("{job}"))
	if err != nil {
		return fmt.Errorf("queue: metrics: %w", err)
	}
	q.reg, err = meter.RegisterCallback(func(ctx context.Context, o metric.Observer) error {
		rows, err := q.depth(ctx)
		if err != nil {
			// A scrape must not fail because the database is slow.
			q.log.DebugContext(ctx, "queue: depth", "err", err)
			return nil
		}
		for _, r := range rows {
			o.ObserveInt64(g, r.n, metric.WithAttributes(attribute.String("kind", r.kind), attribute.String("state", r.state)))
		}
		return nil
	}, g)
	if err != nil {
		return fmt.Errorf("queue: metrics: %w", err)
	}
	return nil
}

const depthQuery = `SELECT kind, CAST(state AS TEXT), count(*) FROM river_job
WHERE state IN ('available', 'scheduled', 'retryable', 'discarded') GROUP BY kind, state`

func (q *Queue) depth(ctx context.Context) ([]depthRow, error) {
	q.depthMu.Lock()
	defer q.depthMu.Unlock()
	if time.Since(q.depthAt) < depthTTL {
		return q.depthRows, nil
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	// pgx's rows and database/sql's are read alike.
	var rows interface {
		Next() bool
		Scan(dest ...any) error
		Err() error
	}
	switch h := q.handle.(type) {
	case *pgxpool.Pool:
		r, err := h.Query(ctx, depthQuery)
		if err != nil {
			return nil, err
		}
		defer r.Close()
		rows = r
	case *sql.DB:
		r, err := h.QueryContext(ctx, depthQuery)
		if err != nil {
			return nil, err
		}
		defer r.Close()
		rows = r
	default:
		return nil, nil
	}
	var out []depthRow
	for rows.Next() {
		var r depthRow
		if err := rows.Scan(&r.kind, &r.state, &r.n); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	q.depthRows, q.depthAt = out, time.Now()
	return out, nil
}
