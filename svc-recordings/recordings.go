// Package recordings is svc-recordings: sessions, recording chunks,
// per-page aggregates and retention, on Pebble or ScyllaDB.
package recordings

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/klauspost/compress/zstd"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/sightlinehq/sightline/blob"
	notifyv1 "github.com/sightlinehq/sightline/gen/sightline/notify/v1"
	recordingsv1 "github.com/sightlinehq/sightline/gen/sightline/recordings/v1"
	searchv1 "github.com/sightlinehq/sightline/gen/sightline/search/v1"
	"github.com/sightlinehq/sightline/platform/depstate"
	"github.com/sightlinehq/sightline/platform/pebblelog"
	"github.com/sightlinehq/sightline/platform/storecall"
	"github.com/sightlinehq/sightline/platform/telemetry"
	"github.com/sightlinehq/sightline/svc-recordings/assets"
	"github.com/sightlinehq/sightline/svc-recordings/cold"
	"github.com/sightlinehq/sightline/svc-recordings/outbox"
	"github.com/sightlinehq/sightline/svc-recordings/store"
	"github.com/sightlinehq/sightline/svc-recordings/store/pebble"
	"github.com/sightlinehq/sightline/svc-recordings/store/scylla"
)

// Config is svc-recordings' configuration (flags prefixed "recordings.").
type Config struct {
	// Backend is "pebble" (embedded, under <DataDir>/recordings) or "scylla".
	Backend string       `yaml:"backend"`
	Scylla  ScyllaConfig `yaml:"scylla"`
	// MaxChunkBytes bounds one chunk's events (uncompressed JSON).
	MaxChunkBytes int `yaml:"max_chunk_bytes"`
	// MaxChunksPerRequest bounds one AppendChunks call.
	MaxChunksPerRequest int `yaml:"max_chunks_per_request"`
	// MaxChunksPerSession and MaxBytesPerSession (uncompressed event
	// bytes) bound one session; a chunk past them is refused. The defaults
	// equal ingest's per-session limits, which count every batch (one
	// chunk) and its whole decompressed body, so in one process the edge
	// refuses first.
	MaxChunksPerSession int64 `yaml:"max_chunks_per_session"`
	MaxBytesPerSession  int64 `yaml:"max_bytes_per_session"`
	// DefaultRetentionDays applies to chunks that carry no retention;
	// MaxRetentionDays caps what a chunk may ask for.
	DefaultRetentionDays int `yaml:"default_retention_days"`
	MaxRetentionDays     int `yaml:"max_retention_days"`
	// MaxPageSize caps ListSessionSummaries pages.
	MaxPageSize int `yaml:"max_page_size"`
	// Compression is the zstd level: fastest, default, better or best.
	Compression string `yaml:"compression"`
	// SweepInterval is how often expired sessions are removed by an
	// in-process loop; zero (the default) leaves retention and the ending
	// of idle sessions to notify's scheduler, which calls RunSweep once per
	// period across every replica. Deployments without notify set it.
	SweepInterval time.Duration `yaml:"sweep_interval"`
	// SessionIdle is how long after its last chunk a session is ended
	// (session.ended, final summary); SweepLimit bounds the sessions one
	// END_IDLE_SESSIONS pass ends.
	SessionIdle time.Duration `yaml:"session_idle"`
	SweepLimit  int           `yaml:"sweep_limit"`
	// OutboxBatch is the most outbox entries one delivery reads (and
	// coalesces), OutboxCallSize the most summaries or answers in one call;
	// OutboxMaxBackoff caps the wait between retries while search is down.
	OutboxBatch      int           `yaml:"outbox_batch"`
	OutboxCallSize   int           `yaml:"outbox_call_size"`
	OutboxMaxBackoff time.Duration `yaml:"outbox_max_backoff"`
	// OutboxWindow is the relay's outbox.Loop.Window: how long search
	// (the sessions list) may lag behind the store.
	OutboxWindow time.Duration `yaml:"outbox_window"`
	// OutboxMaxWindow is outbox.Loop.MaxWindow: how far the window
	// stretches under load.
	OutboxMaxWindow time.Duration `yaml:"outbox_max_window"`
	// TombstoneTTL keeps re-delivered chunks of deleted sessions out.
	TombstoneTTL time.Duration `yaml:"tombstone_ttl"`
	// Assets configures the capture of page assets (recordings.assets.*).
	Assets assets.Config `yaml:"assets"`
	// Cold configures the moving of sessions past their site's cold age to
	// object storage (recordings.cold.*); the objects live where the
	// assets do (their S3 bucket, else files under <data-dir>/cold).
	Cold cold.Config `yaml:"cold"`
	// Heatmaps turns heatmaps on (the default). Off, appends neither
	// extract nor store heat data and the heatmap RPCs answer
	// FailedPrecondition.
	Heatmaps bool `yaml:"heatmaps"`
}

// ScyllaConfig configures the ScyllaDB backend.
type ScyllaConfig struct {
	// Hosts is a comma-separated list of contact points.
	Hosts       string `yaml:"hosts"`
	Keyspace    string `yaml:"keyspace"`
	Consistency string `yaml:"consistency"`
	// Replication is the keyspace's replication factor on creation.
	Replication int           `yaml:"replication"`
	Timeout     time.Duration `yaml:"timeout"`
	// StreamBatch is the CQL page size when streaming a recording.
	StreamBatch int    `yaml:"stream_batch"`
	Username    string `yaml:"username"`
	// PasswordFile holds the password (secrets are read from files).
	PasswordFile string `yaml:"password_file"`
}

// RegisterFlags registers the flags and their defaults.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.Backend, "recordings.backend", "pebble", "storage backend: pebble or scylla")
	fs.StringVar(&c.Scylla.Hosts, "recordings.scylla.hosts", "127.0.0.1:9042", "ScyllaDB contact points, comma-separated")
	fs.StringVar(&c.Scylla.Keyspace, "recordings.scylla.keyspace", "sightline_recordings", "ScyllaDB keyspace")
	fs.StringVar(&c.Scylla.Consistency, "recordings.scylla.consistency", "LOCAL_QUORUM", "ScyllaDB consistency level")
	fs.IntVar(&c.Scylla.Replication, "recordings.scylla.replication", 3, "replication factor when creating the keyspace")
	fs.DurationVar(&c.Scylla.Timeout, "recordings.scylla.timeout", 5*time.Second, "ScyllaDB request timeout")
	fs.IntVar(&c.Scylla.StreamBatch, "recordings.scylla.stream-batch", 16, "chunks fetched per page when streaming a recording")
	fs.StringVar(&c.Scylla.Username, "recordings.scylla.username", "", "ScyllaDB user (empty: no authentication)")
	fs.StringVar(&c.Scylla.PasswordFile, "recordings.scylla.password-file", "", "file holding the ScyllaDB password")
	fs.IntVar(&c.MaxChunkBytes, "recordings.max-chunk-bytes", 8<<20, "largest events payload of one chunk (bytes, uncompressed)")
	fs.IntVar(&c.MaxChunksPerRequest, "recordings.max-chunks-per-request", 1000, "most chunks in one AppendChunks call")
	fs.Int64Var(&c.MaxChunksPerSession, "recordings.max-chunks-per-session", 10000, "most chunks of one session; later ones are refused")
	fs.Int64Var(&c.MaxBytesPerSession, "recordings.max-bytes-per-session", 256<<20, "most uncompressed event bytes of one session; chunks past it are refused")
	fs.IntVar(&c.DefaultRetentionDays, "recordings.default-retention-days", 365, "retention of chunks that carry none")
	fs.IntVar(&c.MaxRetentionDays, "recordings.max-retention-days", 3650, "largest retention a chunk may ask for")
	fs.IntVar(&c.MaxPageSize, "recordings.max-page-size", 1000, "largest ListSessionSummaries page")
	fs.StringVar(&c.Compression, "recordings.compression", "fastest", "zstd level of stored chunks: fastest, default, better or best (fastest: about half better's CPU for 8 % more bytes on synthetic sessions, the same on real browsers' batches; chunks stored at any level stay readable)")
	fs.DurationVar(&c.SweepInterval, "recordings.sweep-interval", 0, "how often this process removes expired sessions and ends idle ones itself; 0: notify's scheduler calls RunSweep (once per period across replicas); set it when no notify runs")
	fs.DurationVar(&c.SessionIdle, "recordings.session-idle", 35*time.Minute, "a session is ended (summary final, session.ended published) this long after its last chunk reached ingest; at least the tracker's own idle timeout (30 min, tracker/src/session.ts IDLE_MS) so a session the tracker still continues is never ended, plus 5 min for its last batches retried on 429/503")
	fs.IntVar(&c.SweepLimit, "recordings.sweep-limit", 10000, "most sessions one pass ends (the next pass continues)")
	fs.IntVar(&c.OutboxBatch, "recordings.outbox.batch", 8000, "most outbox entries one delivery to search reads: a session's summaries among them go once, at the latest version (under steady load a window holds a summary per batch, more than there are sessions: a read that takes the whole window sends each session once); a full read is a backlog and goes on at once")
	fs.IntVar(&c.OutboxCallSize, "recordings.outbox.call-size", 500, "most summaries (or answers) in one call to search (at most search.max-upsert-batch); a delivery goes in as many calls as need be, each also under 4 MiB")
	fs.DurationVar(&c.OutboxWindow, "recordings.outbox.window", time.Second, "shortest time between two deliveries to search: summaries written within it go in one call, a session at its latest version only (one index commit per window instead of one per batch); the sessions list lags the store by up to this (plus the delivery); 0: deliver at once")
	fs.DurationVar(&c.OutboxMaxWindow, "recordings.outbox.max-window", 4*time.Second, "how far the window stretches under load: while a window's summaries (100 or more) coalesce to half as many sessions or fewer it doubles, up to this (and while the doubled window's entries fit in one read, recordings.outbox.batch); it halves back when they stop coalescing or are few. Busy sessions are re-indexed once per this instead of once per window; the sessions list lags by up to this under load. At most window: no stretching")
	fs.DurationVar(&c.OutboxMaxBackoff, "recordings.outbox.max-backoff", 2*time.Second, "longest wait between deliveries while search is down (bounds how soon after search returns the outbox drains)")
	fs.DurationVar(&c.TombstoneTTL, "recordings.tombstone-ttl", 30*24*time.Hour, "how long a deleted session keeps re-delivered chunks out")
	fs.BoolVar(&c.Heatmaps, "recordings.heatmaps", true, "aggregate heatmaps as chunks arrive; false: no heat data is extracted or stored and the heatmap RPCs answer FailedPrecondition")
	c.Assets.RegisterFlags(fs)
	c.Cold.RegisterFlags(fs)
}

// Validate checks the configuration.
func (c *Config) Validate() error {
	var errs []error
	switch c.Backend {
	case "pebble":
	case "scylla":
		if strings.TrimSpace(c.Scylla.Hosts) == "" {
			errs = append(errs, errors.New("recordings.scylla.hosts: required for the scylla backend"))
		}
		if c.Scylla.Keyspace == "" {
			errs = append(errs, errors.New("recordings.scylla.keyspace: required"))
		}
		if _, err := scylla.ParseConsistency(c.Scylla.Consistency); err != nil {
			errs = append(errs, fmt.Errorf("recordings.scylla.consistency: %w", err))
		}
	default:
		errs = append(errs, fmt.Errorf("recordings.backend: %q is neither pebble nor scylla", c.Backend))
	}
	if c.MaxChunkBytes < 1024 {
		errs = append(errs, errors.New("recordings.max-chunk-bytes: at least 1024"))
	}
	if c.MaxChunksPerRequest < 1 {
		errs = append(errs, errors.New("recordings.max-chunks-per-request: at least 1"))
	}
	if c.MaxChunksPerSession < 1 || c.MaxBytesPerSession < int64(c.MaxChunkBytes) {
		errs = append(errs, errors.New("recordings.max-chunks-per-session: at least 1; recordings.max-bytes-per-session: at least max-chunk-bytes"))
	}
	if c.DefaultRetentionDays < 1 || c.MaxRetentionDays < c.DefaultRetentionDays {
		errs = append(errs, errors.New("recordings.default-retention-days: at least 1 and at most max-retention-days"))
	}
	if c.MaxPageSize < 1 {
		errs = append(errs, errors.New("recordings.max-page-size: at least 1"))
	}
	if _, err := zstdLevel(c.Compression); err != nil {
		errs = append(errs, err)
	}
	if c.SweepInterval < 0 || c.OutboxMaxBackoff <= 0 || c.TombstoneTTL <= 0 {
		errs = append(errs, errors.New("recordings: sweep-interval must not be negative; outbox.max-backoff and tombstone-ttl must be positive"))
	}
	if c.SessionIdle < time.Second {
		errs = append(errs, errors.New("recordings.session-idle: at least 1s"))
	}
	if c.SweepLimit < 1 {
		errs = append(errs, errors.New("recordings.sweep-limit: at least 1"))
	}
	if c.OutboxBatch < 1 {
		errs = append(errs, errors.New("recordings.outbox.batch: at least 1"))
	}
	if c.OutboxCallSize < 1 {
		errs = append(errs, errors.New("recordings.outbox.call-size: at least 1"))
	}
	if c.OutboxWindow < 0 || c.OutboxWindow > time.Minute {
		errs = append(errs, errors.New("recordings.outbox.window: 0 to 1m"))
	}
	if c.OutboxMaxWindow < 0 || c.OutboxMaxWindow > time.Minute {
		errs = append(errs, errors.New("recordings.outbox.max-window: 0 to 1m"))
	}
	if err := c.Assets.Validate(); err != nil {
		errs = append(errs, err)
	}
	if err := c.Cold.Validate(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// coldMaxObject bounds a cold segment: a whole session's chunks, stored
// (zstd never grows data by more than a little), with their framing.
func (c *Config) coldMaxObject() int64 {
	return c.MaxBytesPerSession + c.MaxBytesPerSession/8 + c.MaxChunksPerSession*256 + 4096
}

func (c *Config) limits() store.Limits {
	return store.Limits{MaxChunks: c.MaxChunksPerSession, MaxRawBytes: c.MaxBytesPerSession}
}

func zstdLevel(s string) (zstd.EncoderLevel, error) {
	switch s {
	case "fastest":
		return zstd.SpeedFastest, nil
	case "default", "":
		return zstd.SpeedDefault, nil
	case "better":
		return zstd.SpeedBetterCompression, nil
	case "best":
		return zstd.SpeedBestCompression, nil
	}
	return 0, fmt.Errorf("recordings.compression: %q is not fastest, default, better or best", s)
}

// SiteAuthorizer decides whether the caller in ctx may read (or write) a
// site's data. It answers a gRPC status error (NotFound for a foreign site).
type SiteAuthorizer interface {
	AuthorizeSite(ctx context.Context, siteID int64, write bool) error
}

// errNoAuthorizer is New's answer to Deps without an Authorizer.
var errNoAuthorizer = errors.New("recordings: no site authorizer (Deps.Authorizer): dashboard RPCs would serve every site to every caller")

// Deps are what svc-recordings needs from the process.
type Deps struct {
	Logger         *slog.Logger
	TracerProvider trace.TracerProvider
	MeterProvider  metric.MeterProvider
	// DataDir holds the embedded store.
	DataDir string
	// Search receives session summaries through the outbox.
	Search searchv1.SearchInternalServiceClient
	// Notify receives session.ended and answer events through the notify
	// outbox (nil: a deployment without notify; events are discarded so
	// the outbox stays bounded).
	Notify notifyv1.NotifyInternalServiceClient
	// Authorizer checks dashboard callers; internal RPCs skip it. New
	// refuses a nil one: a wiring mistake must not serve every site to
	// every caller (tests without accounts pass siteaccesstest.AllowAll).
	Authorizer SiteAuthorizer
	// AssetResolver resolves the hosts of page assets (nil: the system's
	// resolver); tests name private addresses with it.
	AssetResolver assets.Resolver
	// ColdBlobs, when set, holds the cold recordings instead of the store
	// the configuration opens (tests wrap one with faults); the service
	// closes it.
	ColdBlobs blob.Store
	// Now is the clock of the retention and cold passes (nil: time.Now);
	// tests move it.
	Now func() time.Time
}

// Service implements recordingsv1.RecordingsServiceServer.
type Service struct {
	recordingsv1.UnimplementedRecordingsServiceServer
	cfg   Config
	deps  Deps
	log   *slog.Logger
	store store.Store
	enc   *zstd.Encoder
	// scratch pools compress's outputs (compress.go).
	scratch *sync.Pool
	dec     *zstd.Decoder
	relay   *outbox.Relay
	// events publishes the notify outbox (always set; discards without a
	// client).
	events *outbox.NotifyRelay
	// sweeps is the store as the retention sweep sees it.
	sweeps *depstate.State
	m      *instruments
	// errs answers for the store's failures.
	errs *storecall.Errors
	// assets captures and serves page assets; blobs holds them.
	assets *assets.Capturer
	blobs  blob.Store
	// cold moves sessions past their cold age to coldBlobs and reads them
	// back.
	cold      *cold.Tier
	coldBlobs blob.Store
	// collections spaces retention's collections of cold segments.
	collections *cold.Collections
	// now is the clock of the retention and cold passes (tests move it).
	now    func() time.Time
	closer sync.Once
	// closed keeps late callers (a final metrics collection) off the
	// closed store.
	closed atomic.Bool
}

// New opens the store and returns the service.
func New(ctx context.Context, cfg Config, deps Deps) (*Service, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if deps.Authorizer == nil {
		return nil, errNoAuthorizer
	}
	telemetry.Defaults(&deps.Logger, &deps.TracerProvider, &deps.MeterProvider)
	log := deps.Logger.With("service", "recordings")
	level, _ := zstdLevel(cfg.Compression)
	// One encoder and decoder for the process: EncodeAll/DecodeAll are safe
	// for concurrent use and reuse their internal state.
	enc, err := newEncoder(level)
	if err != nil {
		return nil, fmt.Errorf("recordings: zstd encoder: %w", err)
	}
	dec, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(2), zstd.WithDecoderMaxMemory(uint64(cfg.MaxChunkBytes)*2))
	if err != nil {
		return nil, fmt.Errorf("recordings: zstd decoder: %w", err)
	}
	var st store.Store
	switch cfg.Backend {
	case "pebble":
		if deps.DataDir == "" {
			return nil, errors.New("recordings: the pebble backend needs a data directory")
		}
		st, err = pebble.Open(filepath.Join(deps.DataDir, "recordings"), pebble.Options{TombstoneTTL: cfg.TombstoneTTL, Logger: pebblelog.New(log), Limits: cfg.limits(), HeatmapsOff: !cfg.Heatmaps, Metrics: deps.MeterProvider})
	case "scylla":
		st, err = scylla.Open(ctx, scylla.Config{
			Hosts: splitHosts(cfg.Scylla.Hosts), Keyspace: cfg.Scylla.Keyspace, Consistency: cfg.Scylla.Consistency,
			Replication: cfg.Scylla.Replication, Timeout: cfg.Scylla.Timeout, PageSize: cfg.Scylla.StreamBatch,
			Username: cfg.Scylla.Username, PasswordFile: cfg.Scylla.PasswordFile, TombstoneTTL: cfg.TombstoneTTL,
			Logger: log, Limits: cfg.limits(),
		})
	}
	if err != nil {
		enc.Close()
		dec.Close()
		return nil, fmt.Errorf("recordings: open %s store: %w", cfg.Backend, err)
	}
	m, err := newInstruments(deps.MeterProvider.Meter("github.com/sightlinehq/sightline/svc-recordings"))
	if err != nil {
		st.Close()
		enc.Close()
		dec.Close()
		return nil, err
	}
	s := &Service{cfg: cfg, deps: deps, log: log, enc: enc, scratch: scratchPool(), dec: dec, m: m, errs: newStoreErrors(log), sweeps: depstate.New(log, "store", "retention"), now: deps.Now}
	if s.now == nil {
		s.now = time.Now
	}
	s.store = &traced{next: st, calls: storecall.New("recordings.store.", cfg.Backend, storecall.Telemetry{
		Tracer:  deps.TracerProvider.Tracer("github.com/sightlinehq/sightline/svc-recordings"),
		Latency: m.storeLatency,
	}, store.ErrNotFound)}
	if err := m.observeOutbox(s.store, &s.closed); err != nil {
		s.Close()
		return nil, err
	}
	if deps.Search != nil {
		s.relay = outbox.New(s.store, deps.Search, log)
		s.relay.Batch, s.relay.CallSize = cfg.OutboxBatch, cfg.OutboxCallSize
		s.relay.MaxBackoff = cfg.OutboxMaxBackoff
		s.relay.Window, s.relay.MaxWindow = cfg.OutboxWindow, cfg.OutboxMaxWindow
		s.relay.Delivered, s.relay.Failures = m.outboxDelivered, m.outboxFailures
		s.relay.Tracer = deps.TracerProvider.Tracer("github.com/sightlinehq/sightline/svc-recordings/outbox")
	}
	s.events = outbox.NewNotify(s.store, deps.Notify, log)
	s.events.MaxBackoff = max(cfg.OutboxMaxBackoff, s.events.MinBackoff)
	s.events.Entries, s.events.Failures = m.notifyEntries, m.notifyFailures
	s.events.Tracer = deps.TracerProvider.Tracer("github.com/sightlinehq/sightline/svc-recordings/outbox")
	if err := m.observeDependencies(s.relay, s.sweeps, s.events); err != nil {
		s.Close()
		return nil, err
	}
	if s.blobs, err = assets.OpenBlobs(ctx, cfg.Assets, deps.DataDir, deps.TracerProvider, deps.MeterProvider); err != nil {
		s.Close()
		return nil, fmt.Errorf("recordings: %w", err)
	}
	if s.coldBlobs = deps.ColdBlobs; s.coldBlobs == nil {
		if s.coldBlobs, err = assets.OpenStore(ctx, cfg.Assets.S3, deps.DataDir, "cold", cfg.coldMaxObject(), deps.TracerProvider, deps.MeterProvider); err != nil {
			s.Close()
			return nil, fmt.Errorf("recordings: cold storage: %w", err)
		}
	}
	s.collections = cold.NewCollections(cfg.Cold)
	if s.cold, err = cold.New(s.coldBlobs, cfg.Cold, cfg.coldMaxObject(), log, deps.TracerProvider, deps.MeterProvider); err != nil {
		s.Close()
		return nil, fmt.Errorf("recordings: %w", err)
	}
	s.assets, err = assets.New(cfg.Assets, assets.Deps{
		Logger: log, TracerProvider: deps.TracerProvider, MeterProvider: deps.MeterProvider, Blobs: s.blobs,
		DefaultRetentionDays: cfg.DefaultRetentionDays, Resolver: deps.AssetResolver,
	})
	if err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

func splitHosts(s string) []string {
	var out []string
	for _, h := range strings.Split(s, ",") {
		if h = strings.TrimSpace(h); h != "" {
			out = append(out, h)
		}
	}
	return out
}

// Ready reports whether the service can serve.
func (s *Service) Ready(ctx context.Context) error {
	if s.closed.Load() {
		return errors.New("recordings: closed")
	}
	return s.store.Ping(ctx)
}

// Run runs the outbox and retention loops until ctx ends.
func (s *Service) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	var relayErr, eventsErr error
	if s.relay != nil {
		wg.Go(func() { relayErr = s.relay.Run(ctx) })
	} else {
		s.log.WarnContext(ctx, "recordings: no search client; summaries wait in the outbox")
	}
	wg.Go(func() { eventsErr = s.events.Run(ctx) })
	if s.cfg.SweepInterval > 0 {
		wg.Go(func() { s.sweepLoop(ctx) })
	}
	wg.Go(func() { s.assets.Run(ctx) })
	wg.Wait()
	if err := errors.Join(relayErr, eventsErr); err != nil {
		return fmt.Errorf("recordings: outbox: %w", err)
	}
	return nil
}

// sweepLoop runs, every SweepInterval, what notify's scheduler otherwise
// asks for through RunSweep: the retention sweep, then the ending of idle
// sessions, then the move of cold sessions. A failed pass is retried with backoff (from a second up to a
// minute, never later than the next interval) and logged once when sweeps
// start failing and once when one succeeds again.
func (s *Service) sweepLoop(ctx context.Context) {
	backoff := depstate.Backoff{Min: min(time.Second, s.cfg.SweepInterval), Max: min(time.Minute, s.cfg.SweepInterval)}
	tracer := s.deps.TracerProvider.Tracer("github.com/sightlinehq/sightline/svc-recordings")
	for {
		start := time.Now()
		removed, err := s.retention(ctx)
		var ended, moved int
		if err == nil {
			ended, _, err = s.endIdle(ctx)
		}
		if err == nil {
			moved, _, err = s.moveCold(ctx)
		}
		if ctx.Err() != nil {
			return
		}
		if removed > 0 || ended > 0 || moved > 0 || err != nil {
			telemetry.RecordWork(ctx, tracer, "recordings sweep", start, err,
				attribute.Int("sightline.sessions.removed", removed), attribute.Int("sightline.sessions.ended", ended),
				attribute.Int("sightline.sessions.cold", moved))
		}
		wait := s.cfg.SweepInterval
		if err != nil {
			wait = backoff.Next()
		} else {
			backoff.Reset()
		}
		if !depstate.Sleep(ctx, wait) {
			return
		}
	}
}

// retention runs the retention sweep once: expired sessions, then expired
// answers. It answers the sessions removed and reports the store's state
// (depstate "store"/"retention").
func (s *Service) retention(ctx context.Context) (int, error) {
	n, err := s.store.Sweep(ctx, s.now())
	if n > 0 {
		s.log.InfoContext(ctx, "recordings: retention removed expired sessions", "sessions", n)
		s.notify()
	}
	if err == nil {
		var a int
		a, err = s.sweepAnswers(ctx)
		if a > 0 {
			s.log.InfoContext(ctx, "recordings: retention removed expired answers", "answers", a)
			s.notify()
		}
	}
	if err != nil {
		if ctx.Err() == nil {
			s.sweeps.Failed(ctx, fmt.Errorf("retention sweep: %w", err))
		}
		return n, err
	}
	s.sweeps.OK(ctx)
	if n > 0 {
		s.collections.Removed()
	}
	// The cold segments of the sessions removed (and of any deleted
	// session whose own removal of them failed). Collecting lists every
	// cold object, and the scheduler repeats RETENTION while the cold pass
	// has more: at most once per recordings.cold.collect-interval.
	mark, due := s.collections.Due(s.now())
	if !due {
		return n, nil
	}
	c, err := s.cold.Collect(ctx, s.store, 0)
	if err != nil {
		return n, err
	}
	s.collections.Done(mark)
	if c > 0 {
		s.log.InfoContext(ctx, "recordings: retention removed cold objects", "sessions", c)
	}
	return n, nil
}

// moveCold moves up to recordings.cold.sweep-limit sessions past their
// cold age to object storage; it answers how many moved and whether more
// may be due.
func (s *Service) moveCold(ctx context.Context) (int, bool, error) {
	n, more, err := s.cold.Sweep(ctx, s.store, s.now(), s.cfg.Cold.SweepLimit)
	if n > 0 {
		s.log.InfoContext(ctx, "recordings: sessions moved to object storage", "sessions", n, "more", more)
	}
	if err != nil && ctx.Err() == nil {
		s.log.ErrorContext(ctx, "recordings: moving sessions to object storage failed; they stay readable where they are", "err", err, "moved", n)
	}
	return n, more, err
}

// endIdle ends the sessions idle for SessionIdle, at most SweepLimit of
// them, and wakes the relays that carry the ends to search and notify.
func (s *Service) endIdle(ctx context.Context) (int, bool, error) {
	ended, more, err := s.store.EndIdleSessions(ctx, time.Now().Add(-s.cfg.SessionIdle), s.cfg.SweepLimit)
	if len(ended) > 0 {
		s.m.ended.Add(ctx, int64(len(ended)))
		s.log.InfoContext(ctx, "recordings: idle sessions ended", "sessions", len(ended), "more", more)
		s.notify()
	}
	if err != nil {
		if ctx.Err() == nil {
			s.log.ErrorContext(ctx, "recordings: ending idle sessions failed", "err", err, "ended", len(ended))
		}
		return len(ended), false, err
	}
	return len(ended), more, nil
}

// notify wakes the relays: the outboxes have new entries.
func (s *Service) notify() { s.wake(true) }

// wake wakes search's relay, and notify's when events may have new
// entries (session ends, answers).
func (s *Service) wake(events bool) {
	if s.relay != nil {
		s.relay.Notify()
	}
	if events && s.events != nil {
		s.events.Wake()
	}
}

// Close releases the store.
func (s *Service) Close() error {
	var err error
	s.closer.Do(func() {
		s.closed.Store(true)
		err = s.store.Close()
		if s.blobs != nil {
			err = errors.Join(err, s.blobs.Close())
		}
		if s.coldBlobs != nil {
			err = errors.Join(err, s.coldBlobs.Close())
		}
		s.enc.Close()
		s.dec.Close()
	})
	return err
}
