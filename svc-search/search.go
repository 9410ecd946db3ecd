// Package search is svc-search: the sessions index with filters, facets,
// sorting and counts, on Bleve or Elasticsearch.
package search

import (
	"context"
	"flag"
	"log/slog"

	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	searchv1 "github.com/sightlinehq/sightline/gen/sightline/search/v1"
)

// Config is svc-search's configuration (flags prefixed "search.").
type Config struct{}

// RegisterFlags registers the flags and their defaults.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {}

// Validate checks the configuration.
func (c *Config) Validate() error { return nil }

// SiteAuthorizer decides whether the caller in ctx may read (or write) a
// site's data. It answers a gRPC status error (NotFound for a foreign site).
type SiteAuthorizer interface {
	AuthorizeSite(ctx context.Context, siteID int64, write bool) error
}

// Deps are what svc-search needs from the process.
type Deps struct {
	Logger         *slog.Logger
	TracerProvider trace.TracerProvider
	MeterProvider  metric.MeterProvider
	// DataDir holds the embedded index.
	DataDir string
	// Authorizer checks dashboard callers; internal RPCs skip it.
	Authorizer SiteAuthorizer
}

// Service implements searchv1.SearchServiceServer.
type Service struct {
	searchv1.UnimplementedSearchServiceServer
	cfg  Config
	deps Deps
}

// New opens the index and returns the service.
func New(ctx context.Context, cfg Config, deps Deps) (*Service, error) {
	return &Service{cfg: cfg, deps: deps}, nil
}

// Ready reports whether the service can serve.
func (s *Service) Ready(ctx context.Context) error { return nil }

// Run runs background work until ctx ends.
func (s *Service) Run(ctx context.Context) error { <-ctx.Done(); return nil }

// Close releases the index.
func (s *Service) Close() error { return nil }
