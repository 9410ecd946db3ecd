// Package notify is svc-notify: e-mail, signed webhooks, digests and
// alerts, and the scheduler of the mesh's periodic work, all as durable
// River jobs in notify's own database (SQLite embedded, PostgreSQL at
// scale). Files: notify.go (config, wiring), rpc_*.go (the dashboard's
// NotifyService), internal.go (NotifyInternalService), jobs*.go (workers
// and periodic jobs), tokens.go (signed unsubscribe tokens).
package notify

import (
	"context"
	"flag"
	"log/slog"

	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	accountsv1 "github.com/sightlinehq/sightline/gen/sightline/accounts/v1"
	notifyv1 "github.com/sightlinehq/sightline/gen/sightline/notify/v1"
	recordingsv1 "github.com/sightlinehq/sightline/gen/sightline/recordings/v1"
	searchv1 "github.com/sightlinehq/sightline/gen/sightline/search/v1"
	"github.com/sightlinehq/sightline/siteaccess"
	"github.com/sightlinehq/sightline/svc-notify/store"
)

// Config is svc-notify's configuration (flags prefixed "notify.").
type Config struct{}

// RegisterFlags registers the flags and their defaults.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {}

// Validate checks the configuration.
func (c *Config) Validate() error { return nil }

// Deps are what svc-notify needs from the process.
type Deps struct {
	Logger         *slog.Logger
	TracerProvider trace.TracerProvider
	MeterProvider  metric.MeterProvider
	DataDir        string
	// Accounts authenticates callers (operators, the calling user);
	// Authorizer checks site access; AccountsInternal lists recipients.
	Accounts         accountsv1.AccountsServiceClient
	AccountsInternal accountsv1.AccountsInternalServiceClient
	Authorizer       *siteaccess.Authorizer
	// Search reports a site's numbers (digests, alerts).
	Search searchv1.SearchInternalServiceClient
	// Recordings runs the sweeps notify schedules.
	Recordings recordingsv1.RecordingsInternalServiceClient
}

// Service implements notifyv1.NotifyServiceServer; Internal() serves
// notifyv1.NotifyInternalServiceServer.
type Service struct {
	notifyv1.UnimplementedNotifyServiceServer
	cfg   Config
	deps  Deps
	log   *slog.Logger
	store store.Store
}

// New returns the service.
func New(ctx context.Context, cfg Config, deps Deps) (*Service, error) {
	return &Service{cfg: cfg, deps: deps, log: deps.Logger}, nil
}

// Ready reports whether the service can serve.
func (s *Service) Ready(ctx context.Context) error { return nil }

// Run runs background work until ctx ends.
func (s *Service) Run(ctx context.Context) error { <-ctx.Done(); return nil }

// Close releases resources.
func (s *Service) Close() error { return nil }
