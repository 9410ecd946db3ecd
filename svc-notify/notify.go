// Package notify is svc-notify: e-mail, webhooks, scheduled digests and
// alerts. Not built yet: every RPC answers codes.Unimplemented.
package notify

import (
	"context"
	"flag"
	"log/slog"

	notifyv1 "github.com/sightlinehq/sightline/gen/sightline/notify/v1"
)

// Config is svc-notify's configuration (flags prefixed "notify.").
type Config struct{}

// RegisterFlags registers the flags and their defaults.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {}

// Validate checks the configuration.
func (c *Config) Validate() error { return nil }

// Deps are what svc-notify needs from the process.
type Deps struct {
	Logger *slog.Logger
}

// Service implements notifyv1.NotifyServiceServer.
type Service struct {
	notifyv1.UnimplementedNotifyServiceServer
	cfg  Config
	deps Deps
}

// New returns the service.
func New(ctx context.Context, cfg Config, deps Deps) (*Service, error) {
	return &Service{cfg: cfg, deps: deps}, nil
}

// Ready reports whether the service can serve.
func (s *Service) Ready(ctx context.Context) error { return nil }

// Run runs background work until ctx ends.
func (s *Service) Run(ctx context.Context) error { <-ctx.Done(); return nil }

// Close releases resources.
func (s *Service) Close() error { return nil }
