// Package ingest is svc-ingest: the public edge for visitors' browsers —
// tracker scripts, beacon intake, limits and the durable spool.
package ingest

import (
	"context"
	"flag"
	"log/slog"
	"net/http"

	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	accountsv1 "github.com/sightlinehq/sightline/gen/sightline/accounts/v1"
	ingestv1 "github.com/sightlinehq/sightline/gen/sightline/ingest/v1"
	recordingsv1 "github.com/sightlinehq/sightline/gen/sightline/recordings/v1"
)

// Config is svc-ingest's configuration (flags prefixed "ingest.").
type Config struct{}

// RegisterFlags registers the flags and their defaults.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {}

// Validate checks the configuration.
func (c *Config) Validate() error { return nil }

// Deps are what svc-ingest needs from the process.
type Deps struct {
	Logger         *slog.Logger
	TracerProvider trace.TracerProvider
	MeterProvider  metric.MeterProvider
	Propagator     propagation.TextMapPropagator
	// DataDir holds the spool.
	DataDir string
	// Accounts answers site config and quota leases.
	Accounts accountsv1.AccountsServiceClient
	// Recordings receives the spool's batches.
	Recordings recordingsv1.RecordingsServiceClient
}

// Service implements ingestv1.IngestServiceServer and serves the public
// HTTP endpoints.
type Service struct {
	ingestv1.UnimplementedIngestServiceServer
	cfg  Config
	deps Deps
}

// New opens the spool and returns the service.
func New(ctx context.Context, cfg Config, deps Deps) (*Service, error) {
	return &Service{cfg: cfg, deps: deps}, nil
}

// RegisterHTTP mounts the public endpoints (/s/, /static/, /i/v1/).
func (s *Service) RegisterHTTP(mux *http.ServeMux) {
	mux.Handle("/i/v1/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "ingest: not implemented", http.StatusNotImplemented)
	}))
}

// Ready reports whether the service can accept batches.
func (s *Service) Ready(ctx context.Context) error { return nil }

// Run runs the forwarder until ctx ends.
func (s *Service) Run(ctx context.Context) error { <-ctx.Done(); return nil }

// Close flushes and closes the spool.
func (s *Service) Close() error { return nil }
