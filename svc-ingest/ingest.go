// Package ingest is svc-ingest: the public edge for visitors' browsers —
// tracker scripts, beacon intake, limits and the durable spool.
//
// A batch is answered 204 only once its enriched chunk is fsync'd in the
// spool (group commit); the forwarder (Run) delivers the spool to
// recordings, at least once, in order. See docs/wire-format.md for the
// browser side.
package ingest

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	contract "github.com/sightlinehq/sightline/batch"
	accountsv1 "github.com/sightlinehq/sightline/gen/sightline/accounts/v1"
	ingestv1 "github.com/sightlinehq/sightline/gen/sightline/ingest/v1"
	recordingsv1 "github.com/sightlinehq/sightline/gen/sightline/recordings/v1"
	trafficv1 "github.com/sightlinehq/sightline/gen/sightline/traffic/v1"
	"github.com/sightlinehq/sightline/keyrate"
	"github.com/sightlinehq/sightline/platform/telemetry"
	"github.com/sightlinehq/sightline/svc-ingest/answercount"
	"github.com/sightlinehq/sightline/svc-ingest/enrich"
	"github.com/sightlinehq/sightline/svc-ingest/forwarder"
	"github.com/sightlinehq/sightline/svc-ingest/limits"
	"github.com/sightlinehq/sightline/svc-ingest/siteconfig"
	"github.com/sightlinehq/sightline/svc-ingest/spool"
	"github.com/sightlinehq/sightline/trustedproxy"
)

// Config is svc-ingest's configuration (flags prefixed "ingest.").
type Config struct {
	// PublicURL is the base URL browsers reach ingest at, used for the
	// absolute URLs in the bootstrap; empty derives it from each request.
	PublicURL string `yaml:"public_url"`

	SpoolDir          string        `yaml:"spool_dir"`
	SpoolMaxBytes     int64         `yaml:"spool_max_bytes"`
	SpoolSegmentBytes int64         `yaml:"spool_segment_bytes"`
	SpoolMaxAge       time.Duration `yaml:"spool_max_age"`
	// The dead-letter area: how long a dead letter is kept, and a bound on
	// its bytes (past it the oldest go first, logged and counted).
	DeadLetterRetention time.Duration `yaml:"dead_letter_retention"`
	DeadLetterMaxBytes  int64         `yaml:"dead_letter_max_bytes"`

	MaxBodyBytes         int64         `yaml:"max_body_bytes"`
	MaxDecompressedBytes int64         `yaml:"max_decompressed_bytes"`
	MaxEventsPerBatch    int           `yaml:"max_events_per_batch"`
	BodyReadTimeout      time.Duration `yaml:"body_read_timeout"`
	MaxBatchesPerSession int64         `yaml:"max_batches_per_session"`
	MaxBytesPerSession   int64         `yaml:"max_bytes_per_session"`
	SessionIdle          time.Duration `yaml:"session_idle"`
	RatePerIP            float64       `yaml:"rate_per_ip"`
	BurstPerIP           int           `yaml:"burst_per_ip"`
	RatePerSite          float64       `yaml:"rate_per_site"`
	BurstPerSite         int           `yaml:"burst_per_site"`
	RetryAfter           time.Duration `yaml:"retry_after"`

	// Feedback and survey answers (POST /i/v1/answer): their own body
	// limit and per-site rate (answers a minute, with a burst).
	AnswerMaxBytes     int64   `yaml:"answer_max_bytes"`
	AnswerRatePerSite  float64 `yaml:"answer_rate_per_site"`
	AnswerBurstPerSite int     `yaml:"answer_burst_per_site"`

	// Traffic beacons (POST /i/v1/hit, hits.go): their body limits, rates
	// (bodies a second, with bursts) and spool, forwarded to search.
	HitMaxBytes       int64   `yaml:"hit_max_bytes"`
	HitMaxPerBody     int     `yaml:"hit_max_per_body"`
	HitRatePerIP      float64 `yaml:"hit_rate_per_ip"`
	HitBurstPerIP     int     `yaml:"hit_burst_per_ip"`
	HitRatePerSite    float64 `yaml:"hit_rate_per_site"`
	HitBurstPerSite   int     `yaml:"hit_burst_per_site"`
	TrafficSpoolDir   string  `yaml:"traffic_spool_dir"`
	HitSpoolMaxBytes  int64   `yaml:"hit_spool_max_bytes"`
	HitForwardRecords int     `yaml:"hit_forward_batch_records"`

	// TrustedProxies is a comma list of CIDRs whose X-Forwarded-For is believed.
	TrustedProxies string `yaml:"trusted_proxies"`
	GeoIPDB        string `yaml:"geoip_db"`

	SiteCacheTTL time.Duration `yaml:"site_cache_ttl"`

	ForwardBatchRecords int           `yaml:"forward_batch_records"`
	ForwardBatchBytes   int           `yaml:"forward_batch_bytes"`
	ForwardBackoffMin   time.Duration `yaml:"forward_backoff_min"`
	ForwardBackoffMax   time.Duration `yaml:"forward_backoff_max"`
	ForwardTimeout      time.Duration `yaml:"forward_timeout"`
	ForwardMaxAttempts  int           `yaml:"forward_max_attempts"`
	ForwardInFlight     int           `yaml:"forward_in_flight"`
	ForwardStallAfter   time.Duration `yaml:"forward_stall_after"`

	trusted trustedproxy.List
}

// RegisterFlags registers the flags and their defaults.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.PublicURL, "ingest.public-url", "", "Base URL browsers reach ingest at (e.g. https://ingest.example.com); empty: derived from each request's Host.")
	fs.StringVar(&c.SpoolDir, "ingest.spool.dir", "", "Spool directory (default <data-dir>/spool).")
	fs.Int64Var(&c.SpoolMaxBytes, "ingest.spool.max-bytes", 1<<30, "Undelivered bytes the spool may hold; past it intake answers 503.")
	fs.Int64Var(&c.SpoolSegmentBytes, "ingest.spool.segment-bytes", 64<<20, "Spool segment file size.")
	fs.DurationVar(&c.SpoolMaxAge, "ingest.spool.max-age", time.Hour, "Age of the oldest undelivered batch past which the ingest.spool.age_exceeded metric is 1 (alert).")
	fs.Int64Var(&c.MaxBodyBytes, "ingest.max-body-bytes", 1<<20, "Largest request body as sent (compressed).")
	fs.Int64Var(&c.MaxDecompressedBytes, "ingest.max-decompressed-bytes", 4<<20, "Largest body after decompression.")
	fs.DurationVar(&c.BodyReadTimeout, "ingest.body-read-timeout", 30*time.Second, "Time a body of ingest.max-body-bytes may take to arrive; a smaller declared body gets a proportional share plus up to 5s. Past it intake answers 408.")
	fs.IntVar(&c.MaxEventsPerBatch, "ingest.max-events-per-batch", 5000, "Most rrweb events in one batch.")
	fs.Int64Var(&c.MaxBatchesPerSession, "ingest.max-batches-per-session", 10000, "Most batches of one session (per process).")
	fs.Int64Var(&c.MaxBytesPerSession, "ingest.max-bytes-per-session", 256<<20, "Most decompressed bytes of one session (per process).")
	fs.DurationVar(&c.SessionIdle, "ingest.session-idle", 2*time.Hour, "A session unseen this long is forgotten by the per-session limits.")
	fs.Float64Var(&c.RatePerIP, "ingest.rate-per-ip", 20, "Batches per second per client IP (IPv6: per /64); 0 disables.")
	fs.IntVar(&c.BurstPerIP, "ingest.burst-per-ip", 100, "Burst of the per-IP rate.")
	fs.Float64Var(&c.RatePerSite, "ingest.rate-per-site", 2000, "Batches per second per site; 0 disables.")
	fs.IntVar(&c.BurstPerSite, "ingest.burst-per-site", 4000, "Burst of the per-site rate.")
	fs.Int64Var(&c.AnswerMaxBytes, "ingest.answer-max-bytes", contract.MaxAnswerBytes, "Largest feedback or survey answer body, as sent and after decompression (at most 16384, the answer contract's limit).")
	fs.Float64Var(&c.AnswerRatePerSite, "ingest.answer-rate-per-site", 600, "Feedback and survey answers a minute per site; 0 disables.")
	fs.IntVar(&c.AnswerBurstPerSite, "ingest.answer-burst-per-site", 200, "Burst of the per-site answer rate.")
	fs.Int64Var(&c.HitMaxBytes, "ingest.hit-max-bytes", contract.MaxHitBytes, "Largest traffic beacon body (POST /i/v1/hit), as sent and after decompression (at most 8192, the beacon contract's limit).")
	fs.IntVar(&c.HitMaxPerBody, "ingest.hit-max-per-body", contract.MaxHits, "Most hits in one traffic beacon body (at most 20).")
	fs.Float64Var(&c.HitRatePerIP, "ingest.hit-rate-per-ip", 20, "Traffic beacon bodies per second per client IP (IPv6: per /64); 0 disables.")
	fs.IntVar(&c.HitBurstPerIP, "ingest.hit-burst-per-ip", 200, "Burst of the per-IP beacon rate.")
	fs.Float64Var(&c.HitRatePerSite, "ingest.hit-rate-per-site", 10000, "Traffic beacon bodies per second per site; 0 disables.")
	fs.IntVar(&c.HitBurstPerSite, "ingest.hit-burst-per-site", 50000, "Burst of the per-site beacon rate.")
	fs.StringVar(&c.TrafficSpoolDir, "ingest.traffic-spool-dir", "", "Traffic spool directory, forwarded to search (default <data-dir>/spool-traffic).")
	fs.Int64Var(&c.HitSpoolMaxBytes, "ingest.hit-spool-max-bytes", 512<<20, "Undelivered bytes the traffic spool may hold; past it beacons are answered 503.")
	fs.IntVar(&c.HitForwardRecords, "ingest.hit-forward-batch-records", 500, "Most hits in one AppendHits call (whatever is spooled is sent at once: no waiting to fill a batch).")
	fs.DurationVar(&c.RetryAfter, "ingest.retry-after", 10*time.Second, "Retry-After sent with 503 (spool full).")
	fs.StringVar(&c.TrustedProxies, "ingest.trusted-proxies", "", "Comma list of CIDRs of proxies whose X-Forwarded-For is trusted.")
	fs.StringVar(&c.GeoIPDB, "ingest.geoip-db", "", "MaxMind-format country database (.mmdb); empty: no country.")
	fs.DurationVar(&c.SiteCacheTTL, "ingest.site-cache-ttl", 30*time.Second, "How long a site's configuration is used before it is refreshed.")
	fs.IntVar(&c.ForwardBatchRecords, "ingest.forward.batch-records", 256, "Most chunks in one AppendChunks call.")
	fs.IntVar(&c.ForwardBatchBytes, "ingest.forward.batch-bytes", 4<<20, "About the most bytes in one AppendChunks call.")
	fs.DurationVar(&c.ForwardBackoffMin, "ingest.forward.backoff-min", 100*time.Millisecond, "First retry delay after a failed delivery.")
	fs.DurationVar(&c.ForwardBackoffMax, "ingest.forward.backoff-max", 2*time.Second, "Largest retry delay (bounds how soon after recordings returns the spool drains).")
	fs.DurationVar(&c.ForwardTimeout, "ingest.forward.timeout", 30*time.Second, "Deadline of one AppendChunks call.")
	fs.IntVar(&c.ForwardMaxAttempts, "ingest.forward.max-attempts", 8, "Failures of a chunk sent alone after which it is dead-lettered, if recordings then stores the next chunk (an outage of recordings dead-letters nothing).")
	fs.IntVar(&c.ForwardInFlight, "ingest.forward.in-flight", forwarder.DefaultInFlight, "AppendChunks calls in flight at once, each with the next batch: recordings prepares some while it writes others. The spool's cursor still moves in order; a later batch may be stored before an earlier one (the store's contract allows it); 1: one call at a time, in spool order.")
	fs.DurationVar(&c.ForwardStallAfter, "ingest.forward.stall-after", 5*time.Minute, "Undelivered records older than this with no delivery within this time make the forwarder stalled: ingest.forwarder.stalled = 1 and /readyz reports ingest degraded (still ready: intake goes on).")
	fs.DurationVar(&c.DeadLetterRetention, "ingest.spool.dead-letter.retention", 7*24*time.Hour, "How long a dead letter is kept for inspection and replay (sightline spool dead-letter).")
	fs.Int64Var(&c.DeadLetterMaxBytes, "ingest.spool.dead-letter.max-bytes", 1<<30, "Most payload bytes in the dead-letter area; past it the oldest are deleted first (logged, ingest.spool.dead_letter.pruned).")
}

// Validate checks the configuration.
func (c *Config) Validate() error {
	var errs []error
	if c.PublicURL != "" && !strings.HasPrefix(c.PublicURL, "http://") && !strings.HasPrefix(c.PublicURL, "https://") {
		errs = append(errs, errors.New("ingest.public-url must start with http:// or https://"))
	}
	for name, v := range map[string]int64{
		"ingest.spool.max-bytes": c.SpoolMaxBytes, "ingest.spool.segment-bytes": c.SpoolSegmentBytes,
		"ingest.max-body-bytes": c.MaxBodyBytes, "ingest.max-decompressed-bytes": c.MaxDecompressedBytes,
		"ingest.max-events-per-batch": int64(c.MaxEventsPerBatch), "ingest.forward.batch-records": int64(c.ForwardBatchRecords),
		"ingest.forward.batch-bytes": int64(c.ForwardBatchBytes), "ingest.forward.max-attempts": int64(c.ForwardMaxAttempts),
		"ingest.forward.in-flight":   int64(c.ForwardInFlight),
		"ingest.forward.stall-after": int64(c.ForwardStallAfter), "ingest.spool.dead-letter.retention": int64(c.DeadLetterRetention),
		"ingest.spool.dead-letter.max-bytes": c.DeadLetterMaxBytes,
		"ingest.hit-spool-max-bytes":         c.HitSpoolMaxBytes, "ingest.hit-forward-batch-records": int64(c.HitForwardRecords),
	} {
		if v <= 0 {
			errs = append(errs, fmt.Errorf("%s must be positive", name))
		}
	}
	if c.MaxDecompressedBytes > spool.MaxRecordBytes/2 {
		errs = append(errs, fmt.Errorf("ingest.max-decompressed-bytes must be at most %d", spool.MaxRecordBytes/2))
	}
	// One AppendChunks call carries up to forward.batch-bytes plus one more
	// chunk; it must fit recordings' gRPC message limit (16 MiB).
	if c.MaxDecompressedBytes+int64(c.ForwardBatchBytes) > 15<<20 {
		errs = append(errs, errors.New("ingest.max-decompressed-bytes + ingest.forward.batch-bytes must stay under 15 MiB (recordings' gRPC message limit is 16 MiB)"))
	}
	if c.BodyReadTimeout <= 0 {
		errs = append(errs, errors.New("ingest.body-read-timeout must be positive"))
	}
	if c.AnswerMaxBytes <= 0 || c.AnswerMaxBytes > contract.MaxAnswerBytes {
		errs = append(errs, fmt.Errorf("ingest.answer-max-bytes must be between 1 and %d", contract.MaxAnswerBytes))
	}
	if c.HitMaxBytes <= 0 || c.HitMaxBytes > contract.MaxHitBytes {
		errs = append(errs, fmt.Errorf("ingest.hit-max-bytes must be between 1 and %d", contract.MaxHitBytes))
	}
	if c.HitMaxPerBody <= 0 || c.HitMaxPerBody > contract.MaxHits {
		errs = append(errs, fmt.Errorf("ingest.hit-max-per-body must be between 1 and %d", contract.MaxHits))
	}
	if c.RatePerIP < 0 || c.RatePerSite < 0 || c.AnswerRatePerSite < 0 || c.HitRatePerIP < 0 || c.HitRatePerSite < 0 {
		errs = append(errs, errors.New("ingest rates must not be negative"))
	}
	trusted, err := trustedproxy.Parse("ingest.trusted-proxies", c.TrustedProxies)
	if err != nil {
		errs = append(errs, err)
	}
	c.trusted = trusted
	return errors.Join(errs...)
}

// Deps are what svc-ingest needs from the process.
type Deps struct {
	Logger         *slog.Logger
	TracerProvider trace.TracerProvider
	MeterProvider  metric.MeterProvider
	Propagator     propagation.TextMapPropagator
	// DataDir holds the spool.
	DataDir string
	// Accounts answers site config and quota leases.
	Accounts accountsv1.AccountsInternalServiceClient
	// Recordings receives the spool's batches.
	Recordings recordingsv1.RecordingsInternalServiceClient
	// Traffic (search) receives the traffic spool's hits; without it
	// POST /i/v1/hit answers 404 and the bootstrap has no hitEndpoint.
	Traffic trafficv1.TrafficInternalServiceClient
}

// limitNames are the limits counted in GetStats and the ingest.limit.hits metric.
var limitNames = []string{
	"body_bytes", "decompressed_bytes", "events_per_batch", "session_batches", "session_bytes",
	"rate_ip", "rate_site", "quota_site", "spool_full", "dnt", "recording_disabled", "body_read_timeout",
	"answer_bytes", "answer_rate_site",
	"hit_bytes", "hit_count", "hit_rate_ip", "hit_rate_site", "hit_spool_full", "hit_bot",
}

// Service implements ingestv1.IngestServiceServer and serves the public
// HTTP endpoints.
type Service struct {
	ingestv1.UnimplementedIngestServiceServer
	cfg  Config
	deps Deps
	log  *slog.Logger

	tracer trace.Tracer
	prop   propagation.TextMapPropagator
	m      instruments

	spool    *spool.Spool
	sites    *siteconfig.Cache
	enrich   *enrich.Enricher
	ipRate   *keyrate.Limiter
	siteRate *keyrate.Limiter
	// answerRate is the per-site answer rate (answers.go).
	answerRate *keyrate.Limiter
	counts     *answercount.Cache
	sessions   *limits.Sessions
	quota      *limits.Quota
	fwd        *forwarder.Forwarder

	// The traffic spool and its forwarder to search (nil without
	// Deps.Traffic), and the beacons' rates (hits.go).
	hitSpool    *spool.Spool
	hitFwd      *forwarder.Forwarder
	hitIPRate   *keyrate.Limiter
	hitSiteRate *keyrate.Limiter
	hitLimits   bodyLimits

	recorderPath string
	feedbackPath string

	batchLimits, answerLimits bodyLimits

	limitHits map[string]*atomic.Int64
	accepted  atomic.Int64
	rejected  atomic.Int64

	closeOnce sync.Once
}

// New opens the spool and returns the service.
func New(ctx context.Context, cfg Config, deps Deps) (*Service, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("ingest: config: %w", err)
	}
	if deps.Accounts == nil || deps.Recordings == nil {
		return nil, errors.New("ingest: Accounts and Recordings clients are required")
	}
	telemetry.Defaults(&deps.Logger, &deps.TracerProvider, &deps.MeterProvider)
	if deps.Propagator == nil {
		deps.Propagator = propagation.TraceContext{}
	}
	dir := cfg.SpoolDir
	if dir == "" {
		if deps.DataDir == "" {
			return nil, errors.New("ingest: neither ingest.spool.dir nor a data directory is set")
		}
		dir = filepath.Join(deps.DataDir, "spool")
	}
	s := &Service{
		cfg: cfg, deps: deps, log: deps.Logger.With("service", "ingest"),
		tracer:    deps.TracerProvider.Tracer("github.com/sightlinehq/sightline/svc-ingest"),
		prop:      deps.Propagator,
		limitHits: map[string]*atomic.Int64{},
	}
	for _, n := range limitNames {
		s.limitHits[n] = new(atomic.Int64)
	}
	if err := s.initMetrics(deps.MeterProvider.Meter("github.com/sightlinehq/sightline/svc-ingest")); err != nil {
		return nil, err
	}
	sp, err := spool.Open(spool.Options{
		Dir: dir, MaxBytes: cfg.SpoolMaxBytes, SegmentBytes: cfg.SpoolSegmentBytes, Logger: s.log,
		DeadRetention: cfg.DeadLetterRetention, DeadMaxBytes: cfg.DeadLetterMaxBytes,
		OnCommit: func(records, bytes int, fsync time.Duration) {
			s.m.commitRecords.Record(context.Background(), int64(records), s.m.batchSpool)
			s.m.fsync.Record(context.Background(), fsync.Seconds(), s.m.batchSpool)
		},
	})
	if err != nil {
		return nil, fmt.Errorf("ingest: %w", err)
	}
	s.spool = sp
	if st := sp.Stats(); st.Records > 0 || st.TornBytes > 0 || st.Corrupt > 0 || st.DeadRecords > 0 {
		s.log.InfoContext(ctx, "spool recovered", "dir", dir, "records", st.Records, "bytes", st.Bytes,
			"torn_bytes_dropped", st.TornBytes, "corrupt_records", st.Corrupt, "dead_letters", st.DeadRecords)
	}
	if deps.Traffic != nil {
		tdir := TrafficSpoolDir(cfg, deps.DataDir)
		if tdir == "" {
			sp.Close()
			return nil, errors.New("ingest: neither ingest.traffic-spool-dir nor a data directory is set")
		}
		if tdir == dir {
			sp.Close()
			return nil, errors.New("ingest: the traffic spool needs its own directory (ingest.traffic-spool-dir)")
		}
		tsp, err := spool.Open(spool.Options{
			Dir: tdir, MaxBytes: cfg.HitSpoolMaxBytes, SegmentBytes: cfg.SpoolSegmentBytes, Logger: s.log.With("spool", "traffic"),
			DeadRetention: cfg.DeadLetterRetention, DeadMaxBytes: cfg.DeadLetterMaxBytes,
			OnCommit: func(records, bytes int, fsync time.Duration) {
				s.m.commitRecords.Record(context.Background(), int64(records), s.m.trafficSpool)
				s.m.fsync.Record(context.Background(), fsync.Seconds(), s.m.trafficSpool)
			},
		})
		if err != nil {
			sp.Close()
			return nil, fmt.Errorf("ingest: traffic spool: %w", err)
		}
		s.hitSpool = tsp
		if st := tsp.Stats(); st.Records > 0 || st.TornBytes > 0 || st.Corrupt > 0 || st.DeadRecords > 0 {
			s.log.InfoContext(ctx, "traffic spool recovered", "dir", tdir, "records", st.Records, "bytes", st.Bytes,
				"torn_bytes_dropped", st.TornBytes, "corrupt_records", st.Corrupt, "dead_letters", st.DeadRecords)
		}
	}
	s.enrich, err = enrich.New(cfg.GeoIPDB)
	if err != nil {
		return nil, errors.Join(fmt.Errorf("ingest: %w", err), s.closeSpools())
	}
	s.sites = siteconfig.New(deps.Accounts, siteconfig.Options{
		TTL: cfg.SiteCacheTTL,
		OnRefreshError: func(err error) {
			s.m.accountsErrors.Add(context.Background(), 1)
			s.log.Warn("site config refresh failed; serving the last good copy if any", "error", err)
		},
	})
	s.counts = answercount.New(deps.Recordings, answercount.Options{
		TTL: cfg.SiteCacheTTL,
		OnError: func(siteID int64, err error) {
			s.m.answerCountErrors.Add(context.Background(), 1)
			s.log.Warn("answer counts unavailable; surveys' response limits use the last known counts", "site_id", siteID, "error", err)
		},
	})
	s.ipRate = keyrate.New(cfg.RatePerIP, cfg.BurstPerIP, 200_000)
	s.siteRate = keyrate.New(cfg.RatePerSite, cfg.BurstPerSite, 100_000)
	s.answerRate = keyrate.New(cfg.AnswerRatePerSite/60, cfg.AnswerBurstPerSite, 100_000)
	s.batchLimits = bodyLimits{raw: cfg.MaxBodyBytes, decompressed: cfg.MaxDecompressedBytes, rawName: "body_bytes", decompressedName: "decompressed_bytes", noun: "body"}
	s.answerLimits = bodyLimits{raw: cfg.AnswerMaxBytes, decompressed: cfg.AnswerMaxBytes, rawName: "answer_bytes", decompressedName: "answer_bytes", noun: "answer"}
	s.sessions = limits.NewSessions(cfg.MaxBatchesPerSession, cfg.MaxBytesPerSession, cfg.SessionIdle, 500_000)
	host, _ := os.Hostname()
	s.quota = &limits.Quota{
		Accounts: deps.Accounts, Holder: host + "/" + rand.Text()[:8],
		OnLeaseError: func(err error) {
			s.m.accountsErrors.Add(context.Background(), 1)
			s.log.Warn("quota lease failed; admitting the session without a lease", "error", err)
		},
	}
	s.fwd = &forwarder.Forwarder{
		Spool: sp, Client: deps.Recordings, Tracer: s.tracer, Logger: s.log,
		BatchRecords: cfg.ForwardBatchRecords, BatchBytes: cfg.ForwardBatchBytes,
		BackoffMin: cfg.ForwardBackoffMin, BackoffMax: cfg.ForwardBackoffMax, Timeout: cfg.ForwardTimeout,
		MaxAttempts: cfg.ForwardMaxAttempts, InFlight: cfg.ForwardInFlight,
		OnDelivered:  func(n int) { s.m.delivered.Add(context.Background(), int64(n), s.m.recordingsSink) },
		OnFailure:    func(error) { s.m.forwardFailures.Add(context.Background(), 1, s.m.recordingsSink) },
		OnDeadLetter: func(reason string) { s.countDeadLetter(reason, s.m.recordingsSink) },
	}
	s.hitIPRate = keyrate.New(cfg.HitRatePerIP, cfg.HitBurstPerIP, 200_000)
	s.hitSiteRate = keyrate.New(cfg.HitRatePerSite, cfg.HitBurstPerSite, 100_000)
	s.hitLimits = bodyLimits{raw: cfg.HitMaxBytes, decompressed: cfg.HitMaxBytes, rawName: "hit_bytes", decompressedName: "hit_bytes", noun: "hit body"}
	if s.hitSpool != nil {
		// Whatever is spooled goes at once (realtime counts must move
		// within seconds); the retry and dead-letter rules are the batches'.
		// One call at a time, as before: overlapping calls were only tried
		// for batches (bench-pipeline), not for hits.
		s.hitFwd = &forwarder.Forwarder{
			Spool: s.hitSpool, Client: forwarder.Traffic(deps.Traffic), SinkName: "search", Tracer: s.tracer,
			Logger:       s.log.With("spool", "traffic"),
			BatchRecords: cfg.HitForwardRecords, BatchBytes: cfg.ForwardBatchBytes,
			BackoffMin: cfg.ForwardBackoffMin, BackoffMax: cfg.ForwardBackoffMax, Timeout: cfg.ForwardTimeout,
			MaxAttempts: cfg.ForwardMaxAttempts, InFlight: 1,
			OnDelivered:  func(n int) { s.m.delivered.Add(context.Background(), int64(n), s.m.searchSink) },
			OnFailure:    func(error) { s.m.forwardFailures.Add(context.Background(), 1, s.m.searchSink) },
			OnDeadLetter: func(reason string) { s.countDeadLetter(reason, s.m.searchSink) },
		}
	}
	s.initScripts()
	return s, nil
}

// Ready reports whether the service can accept batches. A stalled
// forwarder or rising dead letters do not make intake unready — taking an
// ingest that still accepts out of rotation because recordings is down
// would turn a delay into data loss at the browser — so they come back as
// a degraded error: /readyz stays 200 and says "degraded" with the reason.
func (s *Service) Ready(ctx context.Context) error {
	if s.spool.Full() {
		return errors.New("ingest: spool full")
	}
	if reasons := s.degradation(time.Now()); len(reasons) > 0 {
		return degradedError(strings.Join(reasons, "; "))
	}
	return nil
}

// Run runs the forwarder and the dead-letter upkeep until ctx ends.
func (s *Service) Run(ctx context.Context) error {
	uctx, cancel := context.WithCancel(ctx)
	upkeep := make(chan struct{})
	go func() { defer close(upkeep); s.deadLetterUpkeep(uctx) }()
	// The two forwarders run side by side, each on its own spool: one
	// sink's outage never holds the other's records.
	var terr error
	traffic := make(chan struct{})
	go func() {
		defer close(traffic)
		if s.hitFwd != nil {
			if terr = s.hitFwd.Run(uctx); errors.Is(terr, context.Canceled) {
				terr = nil
			} else if terr != nil {
				// Only a broken traffic spool stops it; batches go on.
				s.log.ErrorContext(ctx, "traffic forwarder stopped; hits stay in the traffic spool", "error", terr)
			}
		}
	}()
	err := s.fwd.Run(ctx)
	cancel()
	<-upkeep
	<-traffic
	if terr != nil && ctx.Err() == nil {
		return errors.Join(err, fmt.Errorf("traffic forwarder: %w", terr))
	}
	if errors.Is(err, context.Canceled) && ctx.Err() != nil {
		return nil
	}
	return err
}

// Close flushes and closes the spool.
func (s *Service) Close() error {
	var err error
	s.closeOnce.Do(func() {
		s.sites.Close()
		s.counts.Close()
		err = errors.Join(s.closeSpools(), s.enrich.Close())
	})
	return err
}

func (s *Service) closeSpools() error {
	err := s.spool.Close()
	if s.hitSpool != nil {
		err = errors.Join(err, s.hitSpool.Close())
	}
	return err
}

// TrafficSpoolDir is where the traffic spool lives: ingest.traffic-spool-dir,
// else <data dir>/spool-traffic ("" when neither is set).
func TrafficSpoolDir(cfg Config, dataDir string) string {
	if cfg.TrafficSpoolDir != "" {
		return cfg.TrafficSpoolDir
	}
	if dataDir == "" {
		return ""
	}
	return filepath.Join(dataDir, "spool-traffic")
}

// GetStats reports spool, forwarder and limit statistics to instance
// operators (authorizeOperator).
func (s *Service) GetStats(ctx context.Context, _ *ingestv1.GetStatsRequest) (*ingestv1.GetStatsResponse, error) {
	if err := s.authorizeOperator(ctx); err != nil {
		return nil, err
	}
	st := s.spool.Stats()
	fs := s.fwd.Stats()
	resp := &ingestv1.GetStatsResponse{
		Spool: &ingestv1.SpoolStats{
			Bytes: st.Bytes, Records: st.Records, Segments: int32(st.Segments), MaxBytes: st.MaxBytes,
			DeadLetterRecords: st.DeadRecords, DeadLetterBytes: st.DeadBytes,
		},
		Forwarder: &ingestv1.ForwarderStats{
			Lag:              durationpb.New(lag(st.Oldest)),
			DeliveredRecords: fs.Delivered, FailedAttempts: fs.Failures, LastError: fs.LastError,
			DeadLettered: fs.DeadLettered, Stalled: s.stalled(st, fs, time.Now()),
		},
		AcceptedBatches: s.accepted.Load(),
		RejectedBatches: s.rejected.Load(),
	}
	if !st.Oldest.IsZero() {
		resp.Spool.OldestRecordTime = timestamppb.New(st.Oldest)
	}
	if !fs.LastDelivery.IsZero() {
		resp.Forwarder.LastDeliveryTime = timestamppb.New(fs.LastDelivery)
	}
	for _, n := range limitNames {
		resp.LimitHits = append(resp.LimitHits, &ingestv1.LimitHit{Limit: n, Count: s.limitHits[n].Load()})
	}
	return resp, nil
}

func lag(oldest time.Time) time.Duration {
	if oldest.IsZero() {
		return 0
	}
	return time.Since(oldest)
}

func (s *Service) hit(ctx context.Context, limit string) {
	s.limitHits[limit].Add(1)
	s.m.limitHits.Add(ctx, 1, s.m.limitAttrs[limit])
}

// contentHash names the recorder bundle.
func contentHash(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:8])
}
