// Package search is svc-search: the sessions index with filters, facets,
// sorting and counts, on Bleve (embedded, under <DataDir>/search) or
// Elasticsearch.
package search

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"
	grpccodes "google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	recordingsv1 "github.com/sightlinehq/sightline/gen/sightline/recordings/v1"
	searchv1 "github.com/sightlinehq/sightline/gen/sightline/search/v1"
	sessionsv1 "github.com/sightlinehq/sightline/gen/sightline/sessions/v1"
	"github.com/sightlinehq/sightline/platform/storecall"
	"github.com/sightlinehq/sightline/platform/telemetry"
	"github.com/sightlinehq/sightline/svc-search/index"
	"github.com/sightlinehq/sightline/svc-search/index/bleve"
	"github.com/sightlinehq/sightline/svc-search/index/elastic"
	"github.com/sightlinehq/sightline/svc-search/traffic"
)

// Backends.
const (
	BackendBleve         = "bleve"
	BackendElasticsearch = "elasticsearch"
)

// Config is svc-search's configuration (flags prefixed "search.").
type Config struct {
	// Backend is "bleve" (embedded, under <DataDir>/search) or "elasticsearch".
	Backend       string              `yaml:"backend"`
	Elasticsearch ElasticsearchConfig `yaml:"elasticsearch"`
	// DefaultPageSize applies when a request asks for none.
	DefaultPageSize int `yaml:"default_page_size"`
	// MaxPageSize caps every request's page size.
	MaxPageSize int `yaml:"max_page_size"`
	// FacetSize is the number of values returned per facet.
	FacetSize int `yaml:"facet_size"`
	// QueryTimeout bounds one search or count.
	QueryTimeout time.Duration `yaml:"query_timeout"`
	// WriteTimeout bounds one upsert or delete.
	WriteTimeout time.Duration `yaml:"write_timeout"`
	// MaxUpsertBatch caps the summaries in one UpsertSessions call.
	MaxUpsertBatch int `yaml:"max_upsert_batch"`
	// Traffic configures the traffic store (TrafficService).
	Traffic TrafficConfig `yaml:"traffic"`
}

// TrafficConfig configures the traffic store: embedded under
// <DataDir>/traffic beside the bleve index, or Elasticsearch beside the
// elasticsearch index.
type TrafficConfig struct {
	// DefaultRetention keeps a traffic session whose hits carry no
	// retention (the site's, copied by ingest) this long after its last hit.
	DefaultRetention time.Duration `yaml:"default_retention"`
	// SweepInterval is how often expired traffic sessions are removed.
	SweepInterval time.Duration `yaml:"sweep_interval"`
	// MaxAppendHits caps the chunks of one AppendHits call.
	MaxAppendHits int `yaml:"max_append_hits"`
}

// ElasticsearchConfig configures the Elasticsearch backend.
type ElasticsearchConfig struct {
	// URLs of the cluster's nodes.
	URLs stringList `yaml:"urls"`
	// IndexPrefix names the template, indices and alias ("<prefix>-sessions").
	IndexPrefix string `yaml:"index_prefix"`
	Username    string `yaml:"username"`
	// PasswordFile holds the password (secrets are read from files).
	PasswordFile string `yaml:"password_file"`
	Shards       int    `yaml:"shards"`
	Replicas     int    `yaml:"replicas"`
	// Refresh is the bulk/delete refresh policy: "wait_for" makes writes
	// visible before they return (the index contract), "false" trades that
	// for throughput.
	Refresh string `yaml:"refresh"`
}

// stringList is a comma-separated flag value.
type stringList []string

func (l *stringList) String() string { return strings.Join(*l, ",") }

func (l *stringList) Set(v string) error {
	*l = nil
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			*l = append(*l, p)
		}
	}
	return nil
}

// RegisterFlags registers the flags and their defaults.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.Backend, "search.backend", BackendBleve, "index backend: bleve (embedded) or elasticsearch")
	fs.Var(&c.Elasticsearch.URLs, "search.elasticsearch.urls", "comma-separated Elasticsearch node URLs")
	fs.StringVar(&c.Elasticsearch.IndexPrefix, "search.elasticsearch.index-prefix", "sightline", "prefix of the Elasticsearch template, indices and alias")
	fs.StringVar(&c.Elasticsearch.Username, "search.elasticsearch.username", "", "Elasticsearch user name")
	fs.StringVar(&c.Elasticsearch.PasswordFile, "search.elasticsearch.password-file", "", "file holding the Elasticsearch password")
	fs.IntVar(&c.Elasticsearch.Shards, "search.elasticsearch.shards", 3, "primary shards of a new sessions index")
	fs.IntVar(&c.Elasticsearch.Replicas, "search.elasticsearch.replicas", 1, "replicas of a new sessions index")
	fs.StringVar(&c.Elasticsearch.Refresh, "search.elasticsearch.refresh", "wait_for", "refresh policy of writes: wait_for, true or false")
	fs.IntVar(&c.DefaultPageSize, "search.default-page-size", 50, "page size when a request asks for none")
	fs.IntVar(&c.MaxPageSize, "search.max-page-size", 200, "largest page size; larger requests are capped")
	fs.IntVar(&c.FacetSize, "search.facet-size", 10, "values returned per facet")
	fs.DurationVar(&c.QueryTimeout, "search.query-timeout", 5*time.Second, "time limit of one search or count")
	fs.DurationVar(&c.WriteTimeout, "search.write-timeout", 30*time.Second, "time limit of one upsert or delete")
	fs.IntVar(&c.MaxUpsertBatch, "search.max-upsert-batch", 1000, "most summaries in one UpsertSessions call")
	fs.DurationVar(&c.Traffic.DefaultRetention, "search.traffic.default-retention", 365*24*time.Hour, "how long a traffic session whose hits carry no retention is kept after its last hit")
	fs.DurationVar(&c.Traffic.SweepInterval, "search.traffic.sweep-interval", time.Hour, "how often expired traffic sessions are removed")
	fs.IntVar(&c.Traffic.MaxAppendHits, "search.traffic.max-append-hits", 1000, "most chunks in one AppendHits call")
}

// Validate checks the configuration.
func (c *Config) Validate() error {
	var errs []error
	switch c.Backend {
	case BackendBleve:
	case BackendElasticsearch:
		if len(c.Elasticsearch.URLs) == 0 {
			errs = append(errs, errors.New("search.elasticsearch.urls is required with search.backend=elasticsearch"))
		}
		if c.Elasticsearch.IndexPrefix == "" || strings.ContainsAny(c.Elasticsearch.IndexPrefix, ` ,"*\/<>|?#:`) ||
			strings.ToLower(c.Elasticsearch.IndexPrefix) != c.Elasticsearch.IndexPrefix {
			errs = append(errs, fmt.Errorf("search.elasticsearch.index-prefix %q must be a non-empty lower-case index name", c.Elasticsearch.IndexPrefix))
		}
		if !slices.Contains([]string{"wait_for", "true", "false"}, c.Elasticsearch.Refresh) {
			errs = append(errs, fmt.Errorf("search.elasticsearch.refresh %q must be wait_for, true or false", c.Elasticsearch.Refresh))
		}
		if c.Elasticsearch.Shards < 1 || c.Elasticsearch.Replicas < 0 {
			errs = append(errs, errors.New("search.elasticsearch.shards must be >= 1 and replicas >= 0"))
		}
	default:
		errs = append(errs, fmt.Errorf("search.backend %q must be %s or %s", c.Backend, BackendBleve, BackendElasticsearch))
	}
	if c.MaxPageSize < 1 || c.MaxPageSize > 10_000 {
		errs = append(errs, fmt.Errorf("search.max-page-size %d must be in [1, 10000]", c.MaxPageSize))
	}
	if c.DefaultPageSize < 1 || c.DefaultPageSize > c.MaxPageSize {
		errs = append(errs, fmt.Errorf("search.default-page-size %d must be in [1, max-page-size]", c.DefaultPageSize))
	}
	if c.FacetSize < 1 || c.FacetSize > 100 {
		errs = append(errs, fmt.Errorf("search.facet-size %d must be in [1, 100]", c.FacetSize))
	}
	if c.QueryTimeout <= 0 || c.WriteTimeout <= 0 {
		errs = append(errs, errors.New("search.query-timeout and search.write-timeout must be positive"))
	}
	if c.MaxUpsertBatch < 1 || c.MaxUpsertBatch > 100_000 {
		errs = append(errs, fmt.Errorf("search.max-upsert-batch %d must be in [1, 100000]", c.MaxUpsertBatch))
	}
	if c.Traffic.DefaultRetention < 24*time.Hour {
		errs = append(errs, fmt.Errorf("search.traffic.default-retention %s must be at least a day", c.Traffic.DefaultRetention))
	}
	if c.Traffic.SweepInterval < time.Second {
		errs = append(errs, fmt.Errorf("search.traffic.sweep-interval %s must be at least a second", c.Traffic.SweepInterval))
	}
	if c.Traffic.MaxAppendHits < 1 || c.Traffic.MaxAppendHits > 100_000 {
		errs = append(errs, fmt.Errorf("search.traffic.max-append-hits %d must be in [1, 100000]", c.Traffic.MaxAppendHits))
	}
	return errors.Join(errs...)
}

// SiteAuthorizer decides whether the caller in ctx may read (or write) a
// site's data. It answers a gRPC status error (NotFound for a foreign site).
type SiteAuthorizer interface {
	AuthorizeSite(ctx context.Context, siteID int64, write bool) error
}

// errNoAuthorizer is New's answer to Deps without an Authorizer.
var errNoAuthorizer = errors.New("search: no site authorizer (Deps.Authorizer): dashboard RPCs would serve every site to every caller")

// Deps are what svc-search needs from the process.
type Deps struct {
	Logger         *slog.Logger
	TracerProvider trace.TracerProvider
	MeterProvider  metric.MeterProvider
	// DataDir holds the embedded index.
	DataDir string
	// Authorizer checks dashboard callers; internal RPCs skip it. New
	// refuses a nil one: a wiring mistake must not serve every site to
	// every caller (tests without accounts pass siteaccesstest.AllowAll).
	Authorizer SiteAuthorizer
	// Traffic, when set, is the traffic store to use instead of the
	// backend's own (tests inject a failing one); the service closes it.
	Traffic traffic.Store
	// Recordings, when set, is read (after the process serves) to refresh
	// an index whose schema upgrade asks for it (refresh.go).
	Recordings recordingsv1.RecordingsInternalServiceClient
}

// Service implements searchv1.SearchServiceServer.
type Service struct {
	searchv1.UnimplementedSearchServiceServer
	cfg  Config
	deps Deps
	log  *slog.Logger
	ix   index.Index
	// ax is the answers index (nil only for a backend without one).
	ax index.AnswerIndex
	// tx is the traffic store.
	tx traffic.Store
	// refresher is the backend under ix when it can ask for a refresh
	// from recordings (refresh.go), else nil.
	refresher index.Refresher
	m         metrics
	// errs answers for the index's and traffic store's failures.
	errs *storecall.Errors
}

// metrics are search's own; request counts and latencies are otelgrpc's
// rpc.server.* on every process.
type metrics struct {
	upserted  metric.Int64Counter
	stale     metric.Int64Counter
	deleted   metric.Int64Counter
	capped    metric.Int64Counter
	storeTime metric.Float64Histogram

	answersUpserted metric.Int64Counter
	answersDeleted  metric.Int64Counter

	hits   metric.Int64Counter
	sweeps metric.Int64Counter
	swept  metric.Int64Counter
}

// New opens the index and returns the service.
func New(ctx context.Context, cfg Config, deps Deps) (*Service, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("search: config: %w", err)
	}
	if deps.Authorizer == nil {
		return nil, errNoAuthorizer
	}
	telemetry.Defaults(&deps.Logger, &deps.TracerProvider, &deps.MeterProvider)
	s := &Service{cfg: cfg, deps: deps, log: deps.Logger.With("service", "search")}
	// An index or traffic store that cannot be reached is Unavailable;
	// search has no sentinel errors a client can act on.
	s.errs = &storecall.Errors{Service: "search", Store: "search index", Log: s.log, Transient: storecall.Unreachable}
	if err := s.initMetrics(); err != nil {
		return nil, err
	}
	var ix index.Index
	var ax index.AnswerIndex
	switch cfg.Backend {
	case BackendBleve:
		if deps.DataDir == "" {
			return nil, errors.New("search: DataDir is required for the bleve backend")
		}
		b, err := bleve.Open(filepath.Join(deps.DataDir, "search"))
		if err != nil {
			return nil, fmt.Errorf("search: %w", err)
		}
		// The answers index is a sibling directory of the sessions' index
		// and summaries, so an install of an earlier version gains it
		// without touching them.
		a, err := bleve.OpenAnswers(filepath.Join(deps.DataDir, "search", "answers"))
		if err != nil {
			b.Close()
			return nil, fmt.Errorf("search: %w", err)
		}
		ix, ax = b, a
		if deps.Traffic == nil {
			t, err := openEmbeddedTraffic(filepath.Join(deps.DataDir, "traffic"), s.log, deps.MeterProvider)
			if err != nil {
				b.Close()
				a.Close()
				return nil, fmt.Errorf("search: %w", err)
			}
			deps.Traffic = t
		}
	case BackendElasticsearch:
		ec := elastic.Config{
			Addresses:   cfg.Elasticsearch.URLs,
			Username:    cfg.Elasticsearch.Username,
			IndexPrefix: cfg.Elasticsearch.IndexPrefix,
			Shards:      cfg.Elasticsearch.Shards,
			Replicas:    cfg.Elasticsearch.Replicas,
			Refresh:     cfg.Elasticsearch.Refresh,
		}
		if cfg.Elasticsearch.PasswordFile != "" {
			pw, err := os.ReadFile(cfg.Elasticsearch.PasswordFile)
			if err != nil {
				return nil, fmt.Errorf("search: read elasticsearch password file: %w", err)
			}
			ec.Password = strings.TrimSpace(string(pw))
		}
		e, err := elastic.Open(ctx, ec)
		if err != nil {
			return nil, fmt.Errorf("search: %w", err)
		}
		a, err := elastic.OpenAnswers(ctx, ec)
		if err != nil {
			e.Close()
			return nil, fmt.Errorf("search: %w", err)
		}
		ix, ax = e, a
		if deps.Traffic == nil {
			t, err := openElasticTraffic(ctx, ec)
			if err != nil {
				e.Close()
				a.Close()
				return nil, fmt.Errorf("search: %w", err)
			}
			deps.Traffic = t
		}
	}
	tr := &traced{ix: ix, calls: storecall.New("search.index.", cfg.Backend, storecall.Telemetry{
		Tracer:  deps.TracerProvider.Tracer("github.com/sightlinehq/sightline/svc-search"),
		Latency: s.m.storeTime,
	})}
	s.ix = tr
	s.refresher, _ = ix.(index.Refresher)
	if ax != nil {
		s.ax = &tracedAnswers{ix: ax, t: tr}
	}
	s.tx = &tracedTraffic{st: deps.Traffic, t: tr}
	s.deps = deps
	s.log.InfoContext(ctx, "search index open", "backend", cfg.Backend)
	return s, nil
}

func (s *Service) initMetrics() error {
	m := s.deps.MeterProvider.Meter("github.com/sightlinehq/sightline/svc-search")
	var errs [10]error
	s.m.upserted, errs[0] = m.Int64Counter("search.sessions.upserted", metric.WithDescription("summaries indexed"))
	s.m.stale, errs[1] = m.Int64Counter("search.sessions.stale", metric.WithDescription("summaries ignored because a newer version is indexed"))
	s.m.deleted, errs[2] = m.Int64Counter("search.sessions.deleted", metric.WithDescription("documents deleted"))
	s.m.capped, errs[3] = m.Int64Counter("search.limit.hits", metric.WithDescription("requests cut by a limit (page size capped, timeout)"))
	s.m.storeTime, errs[4] = storecall.NewLatency(m, "search")
	s.m.answersUpserted, errs[5] = m.Int64Counter("search.answers.upserted", metric.WithDescription("answers indexed"))
	s.m.answersDeleted, errs[6] = m.Int64Counter("search.answers.deleted", metric.WithDescription("answer documents deleted"))
	s.m.hits, errs[7] = m.Int64Counter("search.traffic.hits", metric.WithDescription("traffic hits of AppendHits by outcome (stored, refused)"))
	s.m.sweeps, errs[8] = m.Int64Counter("search.traffic.sweeps", metric.WithDescription("traffic retention sweeps by error"))
	s.m.swept, errs[9] = m.Int64Counter("search.traffic.swept", metric.WithDescription("traffic sessions removed by the retention sweep"))
	if err := errors.Join(errs[:]...); err != nil {
		return fmt.Errorf("search: metrics: %w", err)
	}
	return nil
}

// Ready reports whether the service can serve.
func (s *Service) Ready(ctx context.Context) error {
	if err := s.ix.Ready(ctx); err != nil {
		return err
	}
	if s.ax != nil {
		if err := s.ax.Ready(ctx); err != nil {
			return err
		}
	}
	return s.tx.Ready(ctx)
}

// Run runs the traffic retention sweep, and an index refresh an upgrade
// asks for, until ctx ends.
func (s *Service) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	wg.Go(func() { s.refresh(ctx) })
	s.sweepTraffic(ctx)
	wg.Wait()
	return nil
}

// Close releases the indexes and the traffic store.
func (s *Service) Close() error {
	err := s.ix.Close()
	if s.ax != nil {
		err = errors.Join(err, s.ax.Close())
	}
	return errors.Join(err, s.tx.Close())
}

// finish maps a call's error to a status: search's own refusals here, the
// index's and traffic store's failures as every store's (storecall).
func (s *Service) finish(ctx context.Context, rpc string, err error) error {
	var inv *invalid
	switch {
	case err == nil:
		return nil
	case errors.As(err, &inv):
		return status.Error(grpccodes.InvalidArgument, inv.msg)
	case tooManyBuckets(err):
		return status.Errorf(grpccodes.InvalidArgument, "search: the series would hold more than %d buckets; narrow the time range or choose a wider interval", index.MaxBuckets)
	case errors.Is(err, index.ErrTooComplex):
		s.log.WarnContext(ctx, "filter refused by the index as too complex", "rpc", rpc, "err", err)
		return status.Error(grpccodes.InvalidArgument, "search: the filter is too complex for the index; use a URL pattern with fewer '*' or shorter literal parts")
	case errors.Is(err, context.DeadlineExceeded):
		// Search's own query time limit (or the caller's): the filter is
		// too costly for the time given.
		s.m.capped.Add(ctx, 1, metric.WithAttributes(attribute.String("limit", "timeout")))
		return status.Error(grpccodes.DeadlineExceeded, "search: query time limit exceeded; narrow the filter")
	}
	return s.errs.Status(ctx, rpc, "", err)
}

// UpsertSessions implements searchv1.SearchServiceServer (internal: fed by
// recordings' outbox and the reindex tool).
func (s *Service) UpsertSessions(ctx context.Context, req *searchv1.UpsertSessionsRequest) (_ *searchv1.UpsertSessionsResponse, err error) {
	defer func() { err = s.finish(ctx, "UpsertSessions", err) }()
	if err := checkBatch("sessions", req.GetSessions(), s.cfg.MaxUpsertBatch, validateSummary); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.WriteTimeout)
	defer cancel()
	res, err := s.ix.Upsert(ctx, req.GetSessions())
	if err != nil {
		return nil, err
	}
	// Every summary marks its traffic session recorded; the outbox retries
	// the whole call if this fails, and both writes are idempotent.
	if err := s.markRecorded(ctx, req.GetSessions()); err != nil {
		return nil, err
	}
	s.m.upserted.Add(ctx, int64(res.Upserted))
	s.m.stale.Add(ctx, int64(res.Stale))
	s.log.DebugContext(ctx, "sessions upserted", "upserted", res.Upserted, "stale", res.Stale)
	return &searchv1.UpsertSessionsResponse{Upserted: int32(res.Upserted), Stale: int32(res.Stale)}, nil
}

// DeleteSessions implements searchv1.SearchServiceServer (internal).
func (s *Service) DeleteSessions(ctx context.Context, req *searchv1.DeleteSessionsRequest) (_ *searchv1.DeleteSessionsResponse, err error) {
	defer func() { err = s.finish(ctx, "DeleteSessions", err) }()
	if err := validateSite(req.GetSiteId()); err != nil {
		return nil, err
	}
	var sel index.Selector
	switch x := req.GetSelector().(type) {
	case *searchv1.DeleteSessionsRequest_SessionIds:
		sel.SessionIDs, err = selectedIDs("session_ids", x.SessionIds.GetIds())
	case *searchv1.DeleteSessionsRequest_VisitorId:
		sel.VisitorID, err = selectedString("visitor_id", x.VisitorId)
	case *searchv1.DeleteSessionsRequest_WholeSite:
		sel.WholeSite, err = selectedWholeSite(x.WholeSite)
	case *searchv1.DeleteSessionsRequest_StartedBefore:
		sel.StartedBefore, err = selectedTime("started_before", x.StartedBefore)
	default:
		err = invalidf("one selector (session_ids, visitor_id, whole_site, started_before) is required")
	}
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.WriteTimeout)
	defer cancel()
	n, err := s.ix.Delete(ctx, req.GetSiteId(), sel)
	if err != nil {
		return nil, err
	}
	// The same selector removes the sessions' traffic (a visitor's or
	// session's deletion reaches every store); the caller retries on error.
	tn, err := s.tx.Delete(ctx, req.GetSiteId(), sel)
	if err != nil {
		return nil, fmt.Errorf("traffic: delete: %w", err)
	}
	s.m.deleted.Add(ctx, n)
	s.log.InfoContext(ctx, "sessions deleted", "site_id", req.GetSiteId(), "deleted", n, "traffic_sessions_deleted", tn)
	return &searchv1.DeleteSessionsResponse{Deleted: n}, nil
}

// SearchSessions implements searchv1.SearchServiceServer (dashboard).
func (s *Service) SearchSessions(ctx context.Context, req *searchv1.SearchSessionsRequest) (_ *searchv1.SearchSessionsResponse, err error) {
	defer func() { err = s.finish(ctx, "SearchSessions", err) }()
	if err := s.admitSessions(ctx, req); err != nil {
		return nil, err
	}
	if _, ok := searchv1.SortField_name[int32(req.GetSort())]; !ok {
		return nil, invalidf("sort %d is unknown", req.GetSort())
	}
	size, err := s.pageSize(ctx, req.GetPageSize(), s.cfg.MaxPageSize, "page_size")
	if err != nil {
		return nil, err
	}
	if len(req.GetFacets()) > maxFacets {
		return nil, invalidf("%d facets requested, at most %d allowed", len(req.GetFacets()), maxFacets)
	}
	var facets []searchv1.FacetField
	for i, f := range req.GetFacets() {
		if _, ok := searchv1.FacetField_name[int32(f)]; !ok || f == searchv1.FacetField_FACET_FIELD_UNSPECIFIED {
			return nil, invalidf("facets[%d] = %d is unknown", i, f)
		}
		if !slices.Contains(facets, f) {
			facets = append(facets, f)
		}
	}
	hash := queryHash(req.GetSiteId(), req.GetFilter())
	q := index.Query{
		SiteID: req.GetSiteId(), Filter: req.GetFilter(), Sort: req.GetSort(), Ascending: req.GetAscending(),
		Limit: size, Facets: facets, FacetSize: s.cfg.FacetSize,
	}
	if req.GetPageToken() != "" {
		tok, err := decodeToken(req.GetPageToken())
		if err := checkToken(err, tok.queryHash == hash && tok.sort == req.GetSort() && tok.ascending == req.GetAscending(), "site, filter or sort"); err != nil {
			return nil, err
		}
		q.After = &tok.cursor
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.QueryTimeout)
	defer cancel()
	res, err := s.ix.Search(ctx, q)
	if err != nil {
		return nil, err
	}
	out := &searchv1.SearchSessionsResponse{Sessions: res.Sessions, Total: res.Total, Facets: res.Facets}
	if res.Next != nil {
		out.NextPageToken = encodeToken(pageToken{sort: req.GetSort(), ascending: req.GetAscending(), queryHash: hash, cursor: *res.Next})
	}
	return out, nil
}

// CountSessions implements searchv1.SearchServiceServer (dashboard).
func (s *Service) CountSessions(ctx context.Context, req *searchv1.CountSessionsRequest) (_ *searchv1.CountSessionsResponse, err error) {
	defer func() { err = s.finish(ctx, "CountSessions", err) }()
	if err := s.admitSessions(ctx, req); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.QueryTimeout)
	defer cancel()
	n, err := s.ix.Count(ctx, req.GetSiteId(), req.GetFilter())
	if err != nil {
		return nil, err
	}
	return &searchv1.CountSessionsResponse{Count: n}, nil
}

// sessionsRequest is a dashboard request over the sessions' filter.
type sessionsRequest interface {
	dashboardRequest
	GetFilter() *searchv1.SessionFilter
}

// admitSessions admits the request (admit) and checks its filter.
func (s *Service) admitSessions(ctx context.Context, req sessionsRequest) error {
	if err := s.admit(ctx, req); err != nil {
		return err
	}
	return validateFilter(req.GetFilter())
}

// pageSize is a list's page size: the default for 0, at most max (a
// larger one is capped and counted under limit), never negative.
func (s *Service) pageSize(ctx context.Context, asked int32, max int, limit string) (int, error) {
	size := int(asked)
	switch {
	case size < 0:
		return 0, invalidf("page_size is negative")
	case size == 0:
		size = s.cfg.DefaultPageSize
	case size > max:
		size = max
		s.m.capped.Add(ctx, 1, metric.WithAttributes(attribute.String("limit", limit)))
	}
	return size, nil
}

// checkToken refuses a page token that did not decode (err) or was issued
// for another query (!same; what names what may have changed).
func checkToken(err error, same bool, what string) error {
	if err != nil {
		return invalidf("%v", err)
	}
	if !same {
		return invalidf("page_token belongs to a different query (%s changed)", what)
	}
	return nil
}

// traced wraps an index with a span and a latency record per call.
type traced struct {
	ix    index.Index
	calls storecall.Calls
}

// span starts the call op on site's data; the function it returns ends it.
func (t *traced) span(ctx context.Context, op string, site int64) (context.Context, func(error)) {
	ctx, end := t.calls.Start(ctx, op, attribute.Int64("sightline.site_id", site))
	return ctx, func(err error) { end(&err) }
}

func (t *traced) Upsert(ctx context.Context, ss []*sessionsv1.SessionSummary) (index.UpsertResult, error) {
	ctx, end := t.span(ctx, "upsert", 0)
	r, err := t.ix.Upsert(ctx, ss)
	trace.SpanFromContext(ctx).SetAttributes(attribute.Int("sightline.upserted", r.Upserted), attribute.Int("sightline.stale", r.Stale))
	end(err)
	return r, err
}

func (t *traced) Delete(ctx context.Context, site int64, sel index.Selector) (int64, error) {
	ctx, end := t.span(ctx, "delete", site)
	n, err := t.ix.Delete(ctx, site, sel)
	end(err)
	return n, err
}

func (t *traced) Search(ctx context.Context, q index.Query) (*index.Result, error) {
	ctx, end := t.span(ctx, "search", q.SiteID)
	r, err := t.ix.Search(ctx, q)
	if r != nil {
		trace.SpanFromContext(ctx).SetAttributes(attribute.Int64("sightline.total", r.Total))
	}
	end(err)
	return r, err
}

func (t *traced) Count(ctx context.Context, site int64, f *searchv1.SessionFilter) (int64, error) {
	ctx, end := t.span(ctx, "count", site)
	n, err := t.ix.Count(ctx, site, f)
	end(err)
	return n, err
}

func (t *traced) Ready(ctx context.Context) error { return t.ix.Ready(ctx) }
func (t *traced) Close() error                    { return t.ix.Close() }
