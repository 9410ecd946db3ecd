package app

import (
	"errors"
	"flag"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/sightlinehq/sightline/platform/durablefile"
	"github.com/sightlinehq/sightline/platform/rpc"

	accounts "github.com/sightlinehq/sightline/svc-accounts"
	ingest "github.com/sightlinehq/sightline/svc-ingest"
	notify "github.com/sightlinehq/sightline/svc-notify"
	recordings "github.com/sightlinehq/sightline/svc-recordings"
	search "github.com/sightlinehq/sightline/svc-search"

	"github.com/sightlinehq/sightline/gateway"
)

// Config is the whole configuration of one sightline process. Every field
// is a flag (defaults), a YAML key and a SIGHTLINE_* variable; see
// platform/config for the order in which they apply.
type Config struct {
	// Target is a comma list of modules to run in this process, or "all".
	Target  string        `yaml:"target"`
	DataDir string        `yaml:"data_dir"`
	Server  ServerConfig  `yaml:"server"`
	Admin   AdminConfig   `yaml:"admin"`
	Log     LogConfig     `yaml:"log"`
	Remote  RemoteConfig  `yaml:"remote"`
	Runtime RuntimeConfig `yaml:"runtime"`

	Accounts   accounts.Config   `yaml:"accounts"`
	Ingest     ingest.Config     `yaml:"ingest"`
	Recordings recordings.Config `yaml:"recordings"`
	Search     search.Config     `yaml:"search"`
	Notify     notify.Config     `yaml:"notify"`
	Gateway    gateway.Config    `yaml:"gateway"`
	Demo       DemoConfig        `yaml:"demo"`
}

// ServerConfig holds the process's public listeners.
type ServerConfig struct {
	// HTTPListenAddress serves the dashboard, /api/v1, tracker scripts and
	// intake (whichever of them run here).
	HTTPListenAddress string `yaml:"http_listen_address"`
	// GRPCListenAddress serves every gRPC service that runs here.
	GRPCListenAddress string        `yaml:"grpc_listen_address"`
	ShutdownTimeout   time.Duration `yaml:"shutdown_timeout"`
	// MaxMessageBytes bounds gRPC messages in both directions.
	MaxMessageBytes int `yaml:"max_message_bytes"`
	// ClientTimeout is the deadline of unary gRPC calls made without one.
	ClientTimeout time.Duration `yaml:"client_timeout"`
	// ServiceSecretFile holds the secret the services authenticate each
	// other with (docs/service-auth.md). Required when the modules run in
	// separate processes; one process keeps its own in the data directory.
	ServiceSecretFile string `yaml:"service_secret_file"`
	// PublicURL is where people and browsers reach this Sightline from
	// outside (https://sightline.example.com, perhaps with a path prefix a
	// reverse proxy strips): the tracker's endpoints and the dashboard's
	// install snippet use it instead of whatever Host a request came with.
	PublicURL string `yaml:"public_url"`
	// AcceptedServiceSecretFile holds a second secret this process's
	// internal services accept but it never sends, for rotating the secret
	// without downtime (docs/service-auth.md).
	AcceptedServiceSecretFile string `yaml:"accepted_service_secret_file"`
}

// AdminConfig holds the operator listener (/metrics, /healthz, /readyz, pprof).
type AdminConfig struct {
	ListenAddress string `yaml:"listen_address"`
}

// LogConfig sets up log/slog.
type LogConfig struct {
	Level  string `yaml:"level"`
	Format string `yaml:"format"`
}

// RuntimeConfig tunes the Go runtime of a serving process.
type RuntimeConfig struct {
	// MemoryLimitRatio sets the runtime's soft memory limit to this share
	// of the container's memory limit (else the machine's memory), so the
	// collector works harder before the kernel kills the process
	// (platform/memorylimit); 0 leaves the runtime's default. GOMEMLIMIT
	// in the environment wins.
	MemoryLimitRatio float64 `yaml:"memory_limit_ratio"`
}

// RemoteConfig holds the gRPC addresses of services that do not run in
// this process.
type RemoteConfig struct {
	Accounts   string `yaml:"accounts"`
	Ingest     string `yaml:"ingest"`
	Recordings string `yaml:"recordings"`
	Search     string `yaml:"search"`
	Notify     string `yaml:"notify"`
}

// address returns the configured address of a remote module.
func (r RemoteConfig) address(module string) string {
	switch module {
	case Accounts:
		return r.Accounts
	case Ingest:
		return r.Ingest
	case Recordings:
		return r.Recordings
	case Search:
		return r.Search
	case Notify:
		return r.Notify
	}
	return ""
}

// RegisterFlags registers every flag with its default.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.Target, "target", All, "Comma list of modules to run here: "+strings.Join(moduleNames(), ", ")+", or all.")
	fs.StringVar(&c.DataDir, "data-dir", "./data", "Directory of the embedded stores and the spool.")
	fs.StringVar(&c.Server.HTTPListenAddress, "server.http-listen-address", "127.0.0.1:8080", "Public HTTP listener (dashboard, /api/v1, tracker, intake).")
	fs.StringVar(&c.Server.GRPCListenAddress, "server.grpc-listen-address", "127.0.0.1:9090", "gRPC listener of the services running here.")
	fs.DurationVar(&c.Server.ShutdownTimeout, "server.shutdown-timeout", 20*time.Second, "Deadline for a graceful shutdown.")
	fs.IntVar(&c.Server.MaxMessageBytes, "server.max-message-bytes", 16<<20, "Largest gRPC message sent or received.")
	fs.DurationVar(&c.Server.ClientTimeout, "server.client-timeout", 10*time.Second, "Deadline of unary gRPC calls made without one.")
	fs.StringVar(&c.Server.ServiceSecretFile, "server.service-secret-file", "", "File holding the secret Sightline's services authenticate each other with (at least 32 bytes; every process of a deployment reads the same one). Required when modules run in separate processes; otherwise <data-dir>/service-secret, made on first start.")
	fs.StringVar(&c.Server.AcceptedServiceSecretFile, "server.accepted-service-secret-file", "", "File holding a second secret the internal services here accept but never send: the next one while a new secret is rolled out, the previous one while it is retired (docs/service-auth.md).")
	fs.StringVar(&c.Server.PublicURL, "server.public-url", "", "Public base URL of this Sightline (e.g. https://sightline.example.com, behind a TLS-terminating proxy): the tracker snippet and the endpoints it sends to use it. Empty: each request's own host, fine on one machine only. ingest.public-url, when set, overrides it for ingest.")
	fs.StringVar(&c.Admin.ListenAddress, "admin.listen-address", "127.0.0.1:9091", "Admin listener: /metrics, /healthz, /readyz, /debug/pprof.")
	fs.StringVar(&c.Log.Level, "log.level", "info", "Log level: debug, info, warn, error.")
	fs.StringVar(&c.Log.Format, "log.format", "json", "Log format: json or text.")
	fs.Float64Var(&c.Runtime.MemoryLimitRatio, "runtime.memory-limit-ratio", 0.9, "Go's soft memory limit (GOMEMLIMIT) as a share of the container's memory limit (cgroup v2 or v1), else of the machine's memory, read again every minute; the collector works harder near it rather than the process being OOM-killed. 0 leaves Go's default (no limit). A GOMEMLIMIT in the environment wins.")
	fs.StringVar(&c.Remote.Accounts, "remote.accounts", "", "gRPC address of svc-accounts when it is not a target here.")
	fs.StringVar(&c.Remote.Ingest, "remote.ingest", "", "gRPC address of svc-ingest when it is not a target here (optional).")
	fs.StringVar(&c.Remote.Recordings, "remote.recordings", "", "gRPC address of svc-recordings when it is not a target here.")
	fs.StringVar(&c.Remote.Search, "remote.search", "", "gRPC address of svc-search when it is not a target here.")
	fs.StringVar(&c.Remote.Notify, "remote.notify", "", "gRPC address of svc-notify when it is not a target here (optional).")
	c.Accounts.RegisterFlags(fs)
	c.Ingest.RegisterFlags(fs)
	c.Recordings.RegisterFlags(fs)
	c.Search.RegisterFlags(fs)
	c.Notify.RegisterFlags(fs)
	c.Gateway.RegisterFlags(fs)
	c.Demo.RegisterFlags(fs)
}

// Validate checks the whole configuration; every error names its key.
func (c *Config) Validate() error {
	var errs []error
	targets, err := parseTargets(c.Target)
	if err != nil {
		errs = append(errs, fmt.Errorf("target: %w", err))
	}
	if c.DataDir == "" {
		errs = append(errs, errors.New("data-dir: must not be empty"))
	}
	if c.Server.ShutdownTimeout <= 0 {
		errs = append(errs, errors.New("server.shutdown-timeout: must be positive"))
	}
	if c.Server.MaxMessageBytes < 1<<20 || c.Server.MaxMessageBytes > 1<<30 {
		errs = append(errs, fmt.Errorf("server.max-message-bytes: %d is outside [1 MiB, 1 GiB]", c.Server.MaxMessageBytes))
	}
	if c.Server.ClientTimeout <= 0 {
		errs = append(errs, errors.New("server.client-timeout: must be positive"))
	}
	if err := checkPublicURL(c.Server.PublicURL); err != nil {
		errs = append(errs, fmt.Errorf("server.public-url: %w", err))
	}
	if _, err := parseLevel(c.Log.Level); err != nil {
		errs = append(errs, fmt.Errorf("log.level: %w", err))
	}
	if c.Log.Format != "json" && c.Log.Format != "text" {
		errs = append(errs, fmt.Errorf("log.format: %q is neither json nor text", c.Log.Format))
	}
	if r := c.Runtime.MemoryLimitRatio; !(r >= 0 && r <= 1) {
		errs = append(errs, fmt.Errorf("runtime.memory-limit-ratio: %v is outside [0, 1]", r))
	}
	if err == nil {
		errs = append(errs, checkRemotes(targets, c.Remote)...)
		if len(targets) < len(moduleNames()) && c.Server.ServiceSecretFile == "" {
			errs = append(errs, errors.New("server.service-secret-file: must be set when the modules run in separate processes (every process reads the same file; make one with: openssl rand -hex 32)"))
		}
	}
	for _, v := range []interface{ Validate() error }{&c.Accounts, &c.Ingest, &c.Recordings, &c.Search, &c.Notify, &c.Gateway} {
		if err := v.Validate(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// serviceSecretName is the secret's file in the data directory of a
// process that runs every module.
const serviceSecretName = "service-secret"

// ServiceSecret returns the secret the services authenticate each other
// with: server.service-secret-file's, else the one in the data directory,
// which create makes (random, mode 0600) when it is missing. The commands
// that call a running `sightline serve` (reindex, heatmaps rebuild) read
// the same one.
func (c *Config) ServiceSecret(create bool) (string, error) {
	if c.Server.ServiceSecretFile != "" {
		s, err := rpc.ReadServiceSecret(c.Server.ServiceSecretFile)
		if err != nil {
			return "", fmt.Errorf("server.service-secret-file: %w", err)
		}
		return s, nil
	}
	path := filepath.Join(c.DataDir, serviceSecretName)
	if _, err := os.Stat(path); err == nil || !create {
		s, err := rpc.ReadServiceSecret(path)
		if err != nil {
			return "", fmt.Errorf("%w (or set server.service-secret-file)", err)
		}
		return s, nil
	}
	if err := os.MkdirAll(c.DataDir, 0o750); err != nil {
		return "", fmt.Errorf("data-dir: %w", err)
	}
	if _, err := durablefile.Create(path, []byte(rpc.NewServiceSecret()+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("service secret: %w", err)
	}
	return rpc.ReadServiceSecret(path)
}

// AcceptedServiceSecret returns server.accepted-service-secret-file's
// secret, "" when it is not set.
func (c *Config) AcceptedServiceSecret() (string, error) {
	if c.Server.AcceptedServiceSecretFile == "" {
		return "", nil
	}
	s, err := rpc.ReadServiceSecret(c.Server.AcceptedServiceSecretFile)
	if err != nil {
		return "", fmt.Errorf("server.accepted-service-secret-file: %w", err)
	}
	return s, nil
}

// checkPublicURL accepts "" or an absolute http(s) URL with a host and at
// most a path prefix: no user, query or fragment, which no endpoint built
// from it could carry.
func checkPublicURL(raw string) error {
	if raw == "" {
		return nil
	}
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		return fmt.Errorf("%q is not a URL: %w", raw, err)
	case u.Scheme != "http" && u.Scheme != "https":
		return fmt.Errorf("%q: want an absolute http:// or https:// URL", raw)
	case u.Host == "" || u.Hostname() == "":
		return fmt.Errorf("%q has no host", raw)
	case u.User != nil:
		return fmt.Errorf("%q: a public URL carries no user or password", raw)
	case u.RawQuery != "" || u.ForceQuery || u.Fragment != "":
		return fmt.Errorf("%q: no query or fragment, only an optional path prefix", raw)
	}
	return nil
}

// applyPublicURL hands server.public-url to the modules that build URLs
// from it: ingest's bootstrap (unless ingest.public-url names ingest's own
// host), accounts' public config, which gives the dashboard the snippet's
// base URL, notify's links in e-mails and webhooks (unless
// notify.dashboard-url was changed from its default), and the gateway's
// dashboard, which names the URL's path prefix as its base. Every process
// of a mesh reads the same settings.
func (c *Config) applyPublicURL() {
	c.Gateway.BasePath = gateway.BasePath(c.Server.PublicURL)
	if c.Ingest.PublicURL == "" {
		c.Ingest.PublicURL = strings.TrimSuffix(c.Server.PublicURL, "/")
	}
	if c.Server.PublicURL != "" && c.Notify.DashboardURL == notify.DefaultDashboardURL {
		c.Notify.DashboardURL = strings.TrimSuffix(c.Server.PublicURL, "/")
	}
	c.Accounts.PublicIngestURL = strings.TrimSuffix(c.Ingest.PublicURL, "/")
}
