// Package recordings is svc-recordings: sessions, recording chunks,
// per-page aggregates and retention, on Pebble or ScyllaDB.
package recordings

import (
	"context"
	"flag"
	"log/slog"

	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	recordingsv1 "github.com/sightlinehq/sightline/gen/sightline/recordings/v1"
	searchv1 "github.com/sightlinehq/sightline/gen/sightline/search/v1"
)

// Config is svc-recordings' configuration (flags prefixed "recordings.").
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

// Deps are what svc-recordings needs from the process.
type Deps struct {
	Logger         *slog.Logger
	TracerProvider trace.TracerProvider
	MeterProvider  metric.MeterProvider
	// DataDir holds the embedded store.
	DataDir string
	// Search receives session summaries through the outbox.
	Search searchv1.SearchServiceClient
	// Authorizer checks dashboard callers; internal RPCs skip it.
	Authorizer SiteAuthorizer
}

// Service implements recordingsv1.RecordingsServiceServer.
type Service struct {
	recordingsv1.UnimplementedRecordingsServiceServer
	cfg  Config
	deps Deps
}

// New opens the store and returns the service.
func New(ctx context.Context, cfg Config, deps Deps) (*Service, error) {
	return &Service{cfg: cfg, deps: deps}, nil
}

// Ready reports whether the service can serve.
func (s *Service) Ready(ctx context.Context) error { return nil }

// Run runs the outbox and retention loops until ctx ends.
func (s *Service) Run(ctx context.Context) error { <-ctx.Done(); return nil }

// Close releases the store.
func (s *Service) Close() error { return nil }
