// Package accounts is svc-accounts: organisations, users, sites and their
// domains, settings, limits, API keys, feature flags and maintenance.
package accounts

import (
	"context"
	"flag"
	"log/slog"

	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	accountsv1 "github.com/sightlinehq/sightline/gen/sightline/accounts/v1"
)

// Config is svc-accounts' configuration (flags prefixed "accounts.").
type Config struct{}

// RegisterFlags registers the flags and their defaults.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {}

// Validate checks the configuration.
func (c *Config) Validate() error { return nil }

// Deps are what svc-accounts needs from the process.
type Deps struct {
	Logger         *slog.Logger
	TracerProvider trace.TracerProvider
	MeterProvider  metric.MeterProvider
	// DataDir holds the embedded database.
	DataDir string
	// Version is the build version reported by GetPublicConfig.
	Version string
}

// Service implements accountsv1.AccountsServiceServer.
type Service struct {
	accountsv1.UnimplementedAccountsServiceServer
	cfg  Config
	deps Deps
}

// New opens the store and returns the service.
func New(ctx context.Context, cfg Config, deps Deps) (*Service, error) {
	return &Service{cfg: cfg, deps: deps}, nil
}

// Ready reports whether the service can serve (its database answers).
func (s *Service) Ready(ctx context.Context) error { return nil }

// Run runs background work until ctx ends.
func (s *Service) Run(ctx context.Context) error { <-ctx.Done(); return nil }

// Close releases the store.
func (s *Service) Close() error { return nil }
