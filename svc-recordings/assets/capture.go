// Package assets keeps recordings' own copies of what recorded pages
// needed — stylesheets as served, fonts, images — so a replay looks like
// the page even after the site redeploys, goes down or refuses
// cross-origin fonts. A chunk's resource URLs are read with its events
// (Refs, fed by the walk recordings makes for the chunk's summary; Extract
// for a whole chunk) and handed to a bounded queue once it is stored
// (Capturer.Enqueue, never blocking); workers fetch each through an SSRF-guarded client
// (Fetcher) at most once per RefetchAfter per site, and keep the bytes
// content-addressed per site in a blob.Store, with a per-site byte limit
// and a retention sweep. Lookup and Get serve them to the replay; Get
// rewrites a stylesheet's references to the captured copies.
package assets

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/trace"
	tracenoop "go.opentelemetry.io/otel/trace/noop"

	"github.com/sightlinehq/sightline/blob"
	"github.com/sightlinehq/sightline/platform/config"
)

// ErrNotFound is an asset the site does not have.
var ErrNotFound = errors.New("assets: not found")

// Config is asset capture's configuration (flags "recordings.assets.*").
type Config struct {
	// AllowPrivateTargets lets the fetcher connect to loopback and private
	// addresses: for tests and for sites on an internal network only.
	AllowPrivateTargets bool `yaml:"allow_private_targets"`
	// AllowTargets is a comma list of CIDR ranges fetched although not
	// public (an operator's internal sites), narrower than
	// AllowPrivateTargets.
	AllowTargets   string        `yaml:"allow_targets"`
	MaxCSSBytes    config.Bytes  `yaml:"max_css_bytes"`
	MaxFontBytes   config.Bytes  `yaml:"max_font_bytes"`
	MaxImageBytes  config.Bytes  `yaml:"max_image_bytes"`
	SiteMaxBytes   config.Bytes  `yaml:"site_max_bytes"`
	RefetchAfter   time.Duration `yaml:"refetch_after"`
	FetchTimeout   time.Duration `yaml:"fetch_timeout"`
	ConnectTimeout time.Duration `yaml:"connect_timeout"`
	// Queue bounds the chunks waiting for extraction; past it they are
	// dropped (and counted), never waited for.
	Queue    int `yaml:"queue"`
	Workers  int `yaml:"workers"`
	Fetches  int `yaml:"fetches"`
	PerHost  int `yaml:"per_host"`
	SeenSize int `yaml:"seen_size"`
	// SweepInterval is how often records past retention and unreferenced
	// objects are deleted.
	SweepInterval time.Duration `yaml:"sweep_interval"`
	S3            S3Config      `yaml:"s3"`
}

// S3Config selects S3-compatible storage when Endpoint is set (otherwise
// files under <data-dir>/assets).
type S3Config struct {
	Endpoint  string `yaml:"endpoint"`
	Bucket    string `yaml:"bucket"`
	Region    string `yaml:"region"`
	AccessKey string `yaml:"access_key"`
	// SecretKey is a secret: never printed or logged.
	SecretKey config.Secret `yaml:"secret_key"`
	Insecure  bool          `yaml:"insecure"`
}

// RegisterFlags registers the flags and their defaults.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	const p = "recordings.assets."
	fs.BoolVar(&c.AllowPrivateTargets, p+"allow-private-targets", false, "let the asset fetcher connect to loopback and private addresses (tests, internal sites; an SSRF risk otherwise)")
	fs.StringVar(&c.AllowTargets, p+"allow-targets", "", "comma list of CIDR ranges the asset fetcher may connect to although they are not public (e.g. 10.20.0.0/16 for internal sites)")
	config.BytesVar(fs, &c.MaxCSSBytes, p+"max-css-bytes", 2<<20, "largest stylesheet captured")
	config.BytesVar(fs, &c.MaxFontBytes, p+"max-font-bytes", 5<<20, "largest font captured")
	config.BytesVar(fs, &c.MaxImageBytes, p+"max-image-bytes", 5<<20, "largest image captured")
	config.BytesVar(fs, &c.SiteMaxBytes, p+"site-max-bytes", 256<<20, "most bytes of captured assets kept per site; past it new assets are not stored")
	fs.DurationVar(&c.RefetchAfter, p+"refetch-after", 24*time.Hour, "how long a URL seen in a recording is not fetched again (picks up redeploys after it)")
	fs.DurationVar(&c.FetchTimeout, p+"fetch-timeout", 15*time.Second, "deadline of one asset fetch, redirects and body included")
	fs.DurationVar(&c.ConnectTimeout, p+"connect-timeout", 5*time.Second, "deadline of connecting (and the TLS handshake) to an asset's host")
	fs.IntVar(&c.Queue, p+"queue", 256, "stored chunks whose asset references wait for capture; past it chunks are skipped (counted)")
	fs.IntVar(&c.Workers, p+"workers", 2, "stored chunks whose references are captured at once")
	fs.IntVar(&c.Fetches, p+"fetches", 8, "asset fetches at once")
	fs.IntVar(&c.PerHost, p+"per-host", 2, "asset fetches at once to one host")
	fs.IntVar(&c.SeenSize, p+"seen-size", 100000, "URLs remembered as recently fetched (across sites)")
	fs.DurationVar(&c.SweepInterval, p+"sweep-interval", time.Hour, "how often assets past retention are deleted")
	fs.StringVar(&c.S3.Endpoint, p+"s3-endpoint", "", "S3-compatible endpoint (host:port) for captured assets; empty keeps them under <data-dir>/assets")
	fs.StringVar(&c.S3.Bucket, p+"s3-bucket", "sightline-assets", "S3 bucket of captured assets")
	fs.StringVar(&c.S3.Region, p+"s3-region", "us-east-1", "S3 region")
	fs.StringVar(&c.S3.AccessKey, p+"s3-access-key", "", "S3 access key (default: $AWS_ACCESS_KEY_ID)")
	config.SecretVar(fs, &c.S3.SecretKey, p+"s3-secret-key", "S3 secret key (default: $AWS_SECRET_ACCESS_KEY).")
	fs.BoolVar(&c.S3.Insecure, p+"s3-insecure", false, "talk to the S3 endpoint over plain HTTP")
}

// Validate checks the configuration.
func (c *Config) Validate() error {
	var errs []error
	if c.MaxCSSBytes < 1024 || c.MaxFontBytes < 1024 || c.MaxImageBytes < 1024 {
		errs = append(errs, errors.New("recordings.assets.max-css-bytes, max-font-bytes, max-image-bytes: at least 1KiB"))
	}
	if c.SiteMaxBytes < 0 {
		errs = append(errs, errors.New("recordings.assets.site-max-bytes: must not be negative"))
	}
	if c.RefetchAfter <= 0 || c.FetchTimeout <= 0 || c.ConnectTimeout <= 0 || c.SweepInterval <= 0 {
		errs = append(errs, errors.New("recordings.assets: refetch-after, fetch-timeout, connect-timeout and sweep-interval must be positive"))
	}
	if c.Queue < 1 || c.Workers < 1 || c.Fetches < 1 || c.PerHost < 1 || c.SeenSize < 1 {
		errs = append(errs, errors.New("recordings.assets: queue, workers, fetches, per-host and seen-size must be at least 1"))
	}
	if _, err := c.allowTargets(); err != nil {
		errs = append(errs, err)
	}
	if c.S3.Endpoint != "" && c.S3.Bucket == "" {
		errs = append(errs, errors.New("recordings.assets.s3-bucket: required with s3-endpoint"))
	}
	return errors.Join(errs...)
}

func (c *Config) allowTargets() ([]netip.Prefix, error) {
	var out []netip.Prefix
	for f := range strings.SplitSeq(c.AllowTargets, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		p, err := netip.ParsePrefix(f)
		if err != nil {
			return nil, fmt.Errorf("recordings.assets.allow-targets: %q is not a CIDR range", f)
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

// Deps are what the capturer needs.
type Deps struct {
	Logger         *slog.Logger
	TracerProvider trace.TracerProvider
	MeterProvider  metric.MeterProvider
	// Blobs holds the assets; the capturer does not close it.
	Blobs blob.Store
	// DefaultRetentionDays applies to chunks that carry none.
	DefaultRetentionDays int
	// Resolver looks up hosts (nil: the system's).
	Resolver Resolver
	// UserAgent is sent with every fetch.
	UserAgent string
	// afterGuard: see netguard.Config.AfterGuard (tests only).
	afterGuard func(address string) error
}

type seenKey struct {
	site int64
	url  string
}

type job struct {
	site      int64
	retention int
	refs      []Ref
	bytes     int64 // the refs' URL bytes, counted against maxQueueBytes
}

// maxCSSDepth bounds @import chains.
const maxCSSDepth = 3

// maxQueueBytes bounds the URL bytes waiting in the queue (a chunk's
// references are bounded by maxRefsPerChunk × MaxURLBytes).
const maxQueueBytes = 64 << 20

// sweepGrace keeps an unreferenced object this long: a capture writes its
// object before its record.
const sweepGrace = time.Hour

// Capturer captures and serves a site's assets.
type Capturer struct {
	cfg     Config
	deps    Deps
	log     *slog.Logger
	tracer  trace.Tracer
	m       *meters
	objs    *objects
	fetcher *Fetcher

	queue      chan job
	queueBytes atomic.Int64
	fetchSlots chan struct{}

	seenMu sync.Mutex
	seen   *lru.Cache[seenKey, time.Time]

	// inflight counts captures started by workers (tests wait on it).
	inflight sync.WaitGroup
}

type meters struct {
	fetches     metric.Int64Counter
	storedBytes metric.Int64Counter
	drops       metric.Int64Counter
	swept       metric.Int64Counter
	duration    metric.Float64Histogram
}

func newMeters(m metric.Meter) (*meters, error) {
	var ms meters
	var errs []error
	var err error
	ms.fetches, err = m.Int64Counter("recordings.assets.fetches", metric.WithDescription("Asset fetches by outcome: stored, unchanged, refused_ssrf, too_large, bad_type, http_error, timeout, over_quota, error."))
	errs = append(errs, err)
	ms.storedBytes, err = m.Int64Counter("recordings.assets.stored_bytes", metric.WithUnit("By"), metric.WithDescription("Bytes of new asset objects stored."))
	errs = append(errs, err)
	ms.drops, err = m.Int64Counter("recordings.assets.queue_drops", metric.WithDescription("Stored chunks whose assets were not captured because the capture queue was full."))
	errs = append(errs, err)
	ms.swept, err = m.Int64Counter("recordings.assets.swept", metric.WithDescription("Asset records (past retention) and objects (unreferenced) deleted, by kind."))
	errs = append(errs, err)
	ms.duration, err = m.Float64Histogram("recordings.assets.fetch.duration", metric.WithUnit("s"), metric.WithDescription("Asset fetch latency by outcome."),
		metric.WithExplicitBucketBoundaries(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 15))
	errs = append(errs, err)
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("assets: metrics: %w", err)
	}
	return &ms, nil
}

// New builds a capturer; Run starts its workers.
func New(cfg Config, deps Deps) (*Capturer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if deps.Blobs == nil {
		return nil, errors.New("assets: no blob store")
	}
	if deps.Logger == nil {
		deps.Logger = slog.Default()
	}
	if deps.DefaultRetentionDays <= 0 {
		deps.DefaultRetentionDays = 365
	}
	if deps.UserAgent == "" {
		deps.UserAgent = "Sightline-AssetCapture/1 (+https://github.com/sightlinehq/sightline)"
	}
	var tp trace.TracerProvider = deps.TracerProvider
	if tp == nil {
		tp = tracenoop.NewTracerProvider()
	}
	mp := deps.MeterProvider
	if mp == nil {
		mp = metricnoop.NewMeterProvider()
	}
	m, err := newMeters(mp.Meter("github.com/sightlinehq/sightline/svc-recordings/assets"))
	if err != nil {
		return nil, err
	}
	allow, _ := cfg.allowTargets() // checked by Validate
	seen, err := lru.New[seenKey, time.Time](cfg.SeenSize)
	if err != nil {
		return nil, fmt.Errorf("assets: %w", err)
	}
	return &Capturer{
		cfg: cfg, deps: deps, log: deps.Logger, m: m,
		tracer: tp.Tracer("github.com/sightlinehq/sightline/svc-recordings/assets"),
		objs:   &objects{blobs: deps.Blobs, usage: map[int64]int64{}},
		fetcher: NewFetcher(FetcherConfig{
			AllowPrivate: cfg.AllowPrivateTargets, AllowTargets: allow, ConnectTimeout: cfg.ConnectTimeout, Timeout: cfg.FetchTimeout,
			MaxRedirects: 3, MaxCSSBytes: int64(cfg.MaxCSSBytes), MaxFontBytes: int64(cfg.MaxFontBytes),
			MaxImgBytes: int64(cfg.MaxImageBytes), PerHost: cfg.PerHost, UserAgent: deps.UserAgent, Resolver: deps.Resolver,
			afterGuard: deps.afterGuard,
		}),
		queue:      make(chan job, cfg.Queue),
		fetchSlots: make(chan struct{}, cfg.Fetches),
		seen:       seen,
	}, nil
}

// Enqueue hands a stored chunk's references (Refs, read while its events
// were read for its summary) to the workers without waiting: a full queue
// drops them (counted). refs must not change afterwards. retentionDays 0
// is the default retention.
func (c *Capturer) Enqueue(ctx context.Context, site int64, retentionDays int, refs []Ref) bool {
	if len(refs) == 0 {
		return true
	}
	var n int64
	for _, r := range refs {
		n += int64(len(r.URL) + len(r.Referer))
	}
	if c.queueBytes.Add(n) > maxQueueBytes {
		c.queueBytes.Add(-n)
		c.m.drops.Add(ctx, 1)
		return false
	}
	select {
	case c.queue <- job{site: site, retention: retentionDays, refs: refs, bytes: n}:
		return true
	default:
		c.queueBytes.Add(-n)
		c.m.drops.Add(ctx, 1)
		return false
	}
}

// Run works the queue and sweeps until ctx ends.
func (c *Capturer) Run(ctx context.Context) {
	var wg sync.WaitGroup
	for range c.cfg.Workers {
		wg.Go(func() {
			for {
				select {
				case <-ctx.Done():
					return
				case j := <-c.queue:
					c.queueBytes.Add(-j.bytes)
					c.process(ctx, j)
				}
			}
		})
	}
	wg.Go(func() {
		t := time.NewTicker(c.cfg.SweepInterval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				if _, _, err := c.Sweep(ctx, time.Now()); err != nil && ctx.Err() == nil {
					c.log.WarnContext(ctx, "assets: sweep failed; retried at the next interval", "err", err)
				}
			}
		}
	})
	wg.Wait()
	c.inflight.Wait()
	c.fetcher.Close()
}

// process captures each of a stored chunk's references not fetched
// recently.
func (c *Capturer) process(ctx context.Context, j job) {
	for _, r := range j.refs {
		c.captureRef(ctx, j.site, j.retention, r, 0)
	}
}

// firstSight marks (site, url) seen and reports whether it was not seen
// within RefetchAfter.
func (c *Capturer) firstSight(site int64, u string) bool {
	k := seenKey{site, u}
	now := time.Now()
	c.seenMu.Lock()
	defer c.seenMu.Unlock()
	if t, ok := c.seen.Get(k); ok && now.Sub(t) < c.cfg.RefetchAfter {
		return false
	}
	c.seen.Add(k, now)
	return true
}

// captureRef starts the capture of r in the background when it was not
// seen recently; the fetch waits for one of the Fetches slots.
func (c *Capturer) captureRef(ctx context.Context, site int64, retention int, r Ref, depth int) {
	if ctx.Err() != nil || !c.firstSight(site, r.URL) {
		return
	}
	c.inflight.Add(1)
	go func() {
		defer c.inflight.Done()
		c.capture(ctx, site, retention, r, depth)
	}()
}

// capture fetches one resource and keeps it; a stylesheet's references are
// captured in turn (to maxCSSDepth).
func (c *Capturer) capture(ctx context.Context, site int64, retention int, r Ref, depth int) {
	select {
	case c.fetchSlots <- struct{}{}:
	case <-ctx.Done():
		return
	}
	ctx, span := c.tracer.Start(ctx, "assets.fetch", trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(
		attribute.Int64("sightline.site_id", site), attribute.String("url.full", redact(r.URL)), attribute.String("sightline.asset.kind", r.Kind.String())))
	began := time.Now()
	f, rec, outcome, err := c.fetchAndStore(ctx, site, retention, r)
	<-c.fetchSlots
	span.SetAttributes(attribute.String("sightline.asset.outcome", outcome))
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, outcome)
	}
	span.End()
	c.m.fetches.Add(ctx, 1, metric.WithAttributes(attribute.String("outcome", outcome)))
	c.m.duration.Record(ctx, time.Since(began).Seconds(), metric.WithAttributes(attribute.String("outcome", outcome)))
	if err != nil {
		// A refused target or a full site is the operator's business; a
		// page's broken links and slow hosts are the site's (debug).
		level := slog.LevelDebug
		if outcome == OutcomeRefusedSSRF || outcome == OutcomeOverQuota || outcome == OutcomeError {
			level = slog.LevelInfo
		}
		c.log.Log(ctx, level, "assets: not captured", "site_id", site, "url", redact(r.URL), "outcome", outcome, "err", redactErr(err, r.URL))
		c.log.DebugContext(ctx, "assets: not captured (full URL)", "site_id", site, "url", r.URL, "err", err)
		return
	}
	if outcome == OutcomeStored {
		c.m.storedBytes.Add(ctx, rec.Size)
	}
	c.log.DebugContext(ctx, "assets: captured", "site_id", site, "url", r.URL, "outcome", outcome, "hash", rec.Hash, "bytes", rec.Size)
	if f.Kind != KindCSS || depth >= maxCSSDepth {
		return
	}
	base, err := url.Parse(f.URL)
	if err != nil {
		return
	}
	for _, ref := range cssRefs(f.Body) {
		if u, ok := Resolve(base, ref.raw); ok {
			c.captureRef(ctx, site, retention, Ref{URL: u, Kind: ref.kind, Referer: r.URL}, depth+1)
		}
	}
}

// fetchAndStore fetches r and writes its object, record and (for CSS) its
// base URL; it answers the fetch's outcome.
func (c *Capturer) fetchAndStore(ctx context.Context, site int64, retention int, r Ref) (*Fetched, Record, string, error) {
	f, err := c.fetcher.Fetch(ctx, r.URL, r.Referer)
	if err != nil {
		var fe *FetchError
		if errors.As(err, &fe) {
			return nil, Record{}, fe.Outcome, err
		}
		return nil, Record{}, OutcomeError, err
	}
	sum := sha256.Sum256(f.Body)
	hash := hex.EncodeToString(sum[:])
	stored, err := c.objs.putObject(ctx, site, hash, f.ContentType, f.Body, int64(c.cfg.SiteMaxBytes))
	switch {
	case errors.Is(err, errOverQuota):
		return nil, Record{}, OutcomeOverQuota, err
	case err != nil:
		return nil, Record{}, OutcomeError, fmt.Errorf("assets: store object: %w", err)
	}
	if f.Kind == KindCSS {
		if err := c.objs.putJSON(ctx, cssKey(site, hash), cssMeta{Base: f.URL}); err != nil {
			return nil, Record{}, OutcomeError, fmt.Errorf("assets: store stylesheet base: %w", err)
		}
	}
	now := time.Now().UTC()
	rec := Record{URL: r.URL, Hash: hash, ContentType: f.ContentType, Size: int64(len(f.Body)), Fetched: now, LastSeen: now, RetentionDays: retention}
	if err := c.objs.putJSON(ctx, urlKey(site, r.URL), rec); err != nil {
		return nil, Record{}, OutcomeError, fmt.Errorf("assets: store record: %w", err)
	}
	if stored {
		return f, rec, OutcomeStored, nil
	}
	return f, rec, OutcomeUnchanged, nil
}

// Lookup returns the records of the captured URLs among urls (normalized
// with NormalizeURL; others are absent), in the order asked.
func (c *Capturer) Lookup(ctx context.Context, site int64, urls []string) ([]Record, error) {
	recs := make([]*Record, len(urls))
	var firstErr error
	var mu sync.Mutex
	var wg sync.WaitGroup
	slots := make(chan struct{}, 16)
	for i, raw := range urls {
		u, ok := NormalizeURL(raw)
		if !ok {
			continue
		}
		slots <- struct{}{}
		wg.Go(func() {
			defer func() { <-slots }()
			r, err := c.objs.record(ctx, site, u)
			switch {
			case err == nil:
				r.URL = raw // as the caller named it
				recs[i] = &r
			case !errors.Is(err, blob.ErrNotFound):
				mu.Lock()
				firstErr = cmpErr(firstErr, err)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if firstErr != nil {
		return nil, fmt.Errorf("assets: lookup: %w", firstErr)
	}
	out := make([]Record, 0, len(urls))
	for _, r := range recs {
		if r != nil {
			out = append(out, *r)
		}
	}
	return out, nil
}

func cmpErr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

// maxServedBytes bounds what Get reads of one object.
func (c *Capturer) maxServedBytes() int64 {
	return max(int64(c.cfg.MaxCSSBytes), int64(c.cfg.MaxFontBytes), int64(c.cfg.MaxImageBytes))
}

// Get returns a site's asset by hash: its content type and bytes, a
// stylesheet with each url()/@import whose target was captured pointing at
// its copy and the others made absolute, so fonts load from our origin and
// relative references keep working. ErrNotFound for a hash the site does
// not hold.
func (c *Capturer) Get(ctx context.Context, site int64, hash string) (string, []byte, error) {
	if !ValidHash(hash) {
		return "", nil, ErrNotFound
	}
	rc, info, err := c.objs.blobs.Get(ctx, objectKey(site, hash))
	if errors.Is(err, blob.ErrNotFound) {
		return "", nil, ErrNotFound
	} else if err != nil {
		return "", nil, fmt.Errorf("assets: get: %w", err)
	}
	defer rc.Close()
	limit := c.maxServedBytes()
	body, err := io.ReadAll(io.LimitReader(rc, limit+1))
	if err != nil {
		return "", nil, fmt.Errorf("assets: read: %w", err)
	}
	if int64(len(body)) > limit {
		return "", nil, fmt.Errorf("assets: object %s is larger than any asset limit", hash)
	}
	kind, _, _ := acceptType(info.ContentType, &url.URL{})
	if kind != KindCSS {
		return info.ContentType, body, nil
	}
	var meta cssMeta
	if err := c.objs.getJSON(ctx, cssKey(site, hash), &meta); err != nil && !errors.Is(err, blob.ErrNotFound) {
		return "", nil, err
	}
	base, _ := url.Parse(meta.Base)
	out, err := c.rewrite(ctx, site, base, body)
	if err != nil {
		return "", nil, err
	}
	return info.ContentType, out, nil
}

// rewrite points a stylesheet's references at captured copies.
func (c *Capturer) rewrite(ctx context.Context, site int64, base *url.URL, css []byte) ([]byte, error) {
	refs := cssRefs(css)
	abs := map[string]string{} // as written → absolute (with fragment)
	var urls []string
	for _, r := range refs {
		if _, ok := abs[r.raw]; ok || base == nil {
			continue
		}
		ref, err := url.Parse(r.raw)
		if err != nil {
			continue
		}
		u := base.ResolveReference(ref)
		if u.Scheme != "http" && u.Scheme != "https" {
			continue
		}
		abs[r.raw] = u.String()
		urls = append(urls, u.String())
	}
	recs, err := c.Lookup(ctx, site, urls)
	if err != nil {
		return nil, err
	}
	captured := map[string]string{} // absolute → hash
	for _, r := range recs {
		captured[r.URL] = r.Hash
	}
	return rewriteCSS(css, func(raw string, _ Kind) (string, bool) {
		a, ok := abs[raw]
		if !ok {
			return "", false
		}
		if h, ok := captured[a]; ok {
			// Relative: the gateway serves a site's assets side by side
			// (/api/v1/sites/{site}/assets/{hash}), and behind a proxy's
			// path prefix an absolute path would leave the dashboard.
			p := "./" + h
			if u, err := url.Parse(a); err == nil && u.Fragment != "" {
				p += "#" + u.EscapedFragment()
			}
			return p, true
		}
		return a, true
	}), nil
}

// Sweep deletes, for every site, the records not seen within retention and
// the objects no record names.
func (c *Capturer) Sweep(ctx context.Context, now time.Time) (records, objects int, err error) {
	sites, err := c.objs.siteIDs(ctx)
	if err != nil {
		return 0, 0, fmt.Errorf("assets: sweep: %w", err)
	}
	for _, site := range sites {
		r, o, err := c.objs.sweepSite(ctx, site, now, c.deps.DefaultRetentionDays, sweepGrace)
		records, objects = records+r, objects+o
		if err != nil {
			return records, objects, fmt.Errorf("assets: sweep site %d: %w", site, err)
		}
	}
	c.m.swept.Add(ctx, int64(records), metric.WithAttributes(attribute.String("kind", "record")))
	c.m.swept.Add(ctx, int64(objects), metric.WithAttributes(attribute.String("kind", "object")))
	if records+objects > 0 {
		c.log.InfoContext(ctx, "assets: sweep deleted expired assets", "records", records, "objects", objects)
	}
	return records, objects, nil
}

// redact keeps a URL's scheme, host and path: query strings can carry
// tokens, and info logs and spans must not.
func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Scheme + "://" + u.Host + u.EscapedPath()
}

// redactErr is err's message without the URL's query (net/http errors
// quote the whole URL).
func redactErr(err error, raw string) string {
	msg := err.Error()
	if u, perr := url.Parse(raw); perr == nil && u.RawQuery != "" {
		msg = strings.ReplaceAll(msg, raw, redact(raw))
	}
	return msg
}
