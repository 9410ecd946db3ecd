// Package notify is svc-notify: e-mail, signed webhooks, digests and
// alerts, and the scheduler of the mesh's periodic work, all as durable
// River jobs in notify's own database (SQLite embedded, PostgreSQL at
// scale). Files: notify.go (config, wiring), rpc_*.go (the dashboard's
// NotifyService), internal.go (NotifyInternalService), jobs*.go (workers
// and periodic jobs), tokens.go (signed unsubscribe tokens).
//
// How "once" holds across replicas and crashes:
//   - Periodic jobs (digest fan-out hourly, alert checks, recordings'
//     sweeps, prune) are queued by River's elected leader only, each with
//     its period in its args and unique by it: a new leader re-queueing
//     the current period adds nothing.
//   - The row that makes a send once per period — a digest's ledger row,
//     an alert (rule, period key), a delivery (webhook, event id), an
//     event id — is written in the same transaction as the job that sends
//     it, and jobs that queue others complete in that transaction too.
//   - A process killed mid-job leaves the job running until
//     notify.rescue-after, when another process runs it again: a send is
//     at least once (webhook receivers de-duplicate by webhook-id, the
//     outbox by file name), never lost.
//   - Webhook attempts are counted in the delivery row; a failed attempt
//     snoozes the job for webhook.Backoff (31 attempts, a little over
//     24 h). E-mails retry with River's attempt⁴ backoff, 14 attempts
//     (~25 h); an SMTP 5xx cancels at once.
package notify

import (
	"context"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	netmail "net/mail"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	accountsv1 "github.com/sightlinehq/sightline/gen/sightline/accounts/v1"
	notifyv1 "github.com/sightlinehq/sightline/gen/sightline/notify/v1"
	recordingsv1 "github.com/sightlinehq/sightline/gen/sightline/recordings/v1"
	searchv1 "github.com/sightlinehq/sightline/gen/sightline/search/v1"
	"github.com/sightlinehq/sightline/platform/config"
	"github.com/sightlinehq/sightline/platform/storecall"
	"github.com/sightlinehq/sightline/platform/telemetry"
	"github.com/sightlinehq/sightline/siteaccess"
	"github.com/sightlinehq/sightline/svc-notify/mail"
	"github.com/sightlinehq/sightline/svc-notify/queue"
	"github.com/sightlinehq/sightline/svc-notify/store"
	"github.com/sightlinehq/sightline/svc-notify/store/postgres"
	"github.com/sightlinehq/sightline/svc-notify/store/sqlite"
	"github.com/sightlinehq/sightline/svc-notify/webhook"
)

// DefaultDashboardURL is notify.dashboard-url's default: the dashboard of
// `make run` on this machine.
const DefaultDashboardURL = "http://localhost:8080"

// Config is svc-notify's configuration (flags prefixed "notify.").
type Config struct {
	// DatabaseURL is a PostgreSQL URL (a secret: it carries the
	// password); empty means SQLite at <data dir>/notify.db.
	DatabaseURL config.Secret `yaml:"database_url"`
	// DashboardURL is where links in e-mails and webhook payloads point
	// (DefaultDashboardURL unless set; the app puts server.public-url here
	// when the operator set that and left this alone).
	DashboardURL string     `yaml:"dashboard_url"`
	SMTP         SMTPConfig `yaml:"smtp"`
	// OutboxDir receives e-mails as .eml files when no SMTP host is set;
	// empty means <data dir>/outbox.
	OutboxDir string `yaml:"outbox_dir"`
	// OutboxMaxFiles caps the outbox; the oldest files go first.
	OutboxMaxFiles int `yaml:"outbox_max_files"`
	// SecretFile holds the key signing unsubscribe tokens; empty means
	// <data dir>/notify.key, made on first start.
	SecretFile string `yaml:"secret_file"`
	// Workers caps the jobs run at once by this process.
	Workers int           `yaml:"workers"`
	Webhook WebhookConfig `yaml:"webhook"`
	Alerts  AlertsConfig  `yaml:"alerts"`
	Digest  DigestConfig  `yaml:"digest"`
	// SessionEndInterval and RetentionInterval schedule recordings'
	// sweeps (END_IDLE_SESSIONS and RETENTION).
	SessionEndInterval time.Duration `yaml:"session_end_interval"`
	RetentionInterval  time.Duration `yaml:"retention_interval"`
	// Retention is how long deliveries, alerts and ledger rows are kept.
	Retention time.Duration `yaml:"retention"`
	// RescueAfter: a job running this long is presumed lost with its
	// process (kill -9) and run again.
	RescueAfter time.Duration `yaml:"rescue_after"`
	// PollInterval is how often a process looks for jobs it was not woken
	// for (SQLite always polls; PostgreSQL is woken by LISTEN/NOTIFY).
	PollInterval time.Duration `yaml:"poll_interval"`
}

// SMTPConfig configures sending through an SMTP server.
type SMTPConfig struct {
	// Host empty means no SMTP: e-mails go to the outbox.
	Host     string `yaml:"host"`
	Port     int    `yaml:"port"`
	Username string `yaml:"username"`
	// PasswordFile holds the password (never in flags or YAML).
	PasswordFile string `yaml:"password_file"`
	From         string `yaml:"from"`
	FromName     string `yaml:"from_name"`
	// TLS is "starttls" (required), "starttls-opportunistic", "tls"
	// (implicit, SMTPS) or "none".
	TLS     string        `yaml:"tls"`
	Timeout time.Duration `yaml:"timeout"`
	// CAFile holds PEM certificates trusted for the server (default: the
	// system's), for a private mail relay.
	CAFile string `yaml:"ca_file"`
}

// WebhookConfig configures webhook deliveries.
type WebhookConfig struct {
	// AllowPrivate lets webhooks target private, loopback and link-local
	// addresses (tests, closed networks).
	AllowPrivate bool          `yaml:"allow_private"`
	Timeout      time.Duration `yaml:"timeout"`
	MaxPerSite   int           `yaml:"max_per_site"`
	// DisableAfter: a webhook failing with no success for this long is
	// disabled (at least the 24 h retry span, so one event's retries run
	// out first).
	DisableAfter time.Duration `yaml:"disable_after"`
	// NoDataHours is the silence after which a site's site.no_data
	// webhooks fire when no member's no-data alert fires sooner.
	NoDataHours int `yaml:"no_data_hours"`
}

// AlertsConfig configures the alert checks.
type AlertsConfig struct {
	Interval            time.Duration `yaml:"interval"`
	MaxRulesPerUserSite int           `yaml:"max_rules_per_user_site"`
}

// DigestConfig configures digests.
type DigestConfig struct {
	// Hour is the site's local hour (0..23) digests go out.
	Hour int `yaml:"hour"`
}

// SMTP TLS modes.
const (
	TLSStartTLS      = "starttls"
	TLSOpportunistic = "starttls-opportunistic"
	TLSImplicit      = "tls"
	TLSNone          = "none"
)

// minRetrySpan is how long a webhook delivery is retried (webhook.Backoff
// over webhook.MaxAttempts); disable-after may not be shorter.
const minRetrySpan = 24 * time.Hour

// RegisterFlags registers the flags and their defaults.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	config.SecretVar(fs, &c.DatabaseURL, "notify.database-url", "PostgreSQL URL of notify's database and job queue; empty: SQLite at <data dir>/notify.db (a secret: prefer -notify.database-url-file).")
	fs.StringVar(&c.DashboardURL, "notify.dashboard-url", DefaultDashboardURL, "Base URL of the dashboard, for links in e-mails and webhook payloads (default: server.public-url when that is set).")
	fs.StringVar(&c.SMTP.Host, "notify.smtp.host", "", "SMTP server; empty: e-mails are written to the outbox directory.")
	fs.IntVar(&c.SMTP.Port, "notify.smtp.port", 587, "SMTP server port.")
	fs.StringVar(&c.SMTP.Username, "notify.smtp.username", "", "SMTP user name (empty: no authentication).")
	fs.StringVar(&c.SMTP.PasswordFile, "notify.smtp.password-file", "", "File holding the SMTP password.")
	fs.StringVar(&c.SMTP.From, "notify.smtp.from", "sightline@localhost", "Sender address of every e-mail.")
	fs.StringVar(&c.SMTP.FromName, "notify.smtp.from-name", "Sightline", "Sender name of every e-mail.")
	fs.StringVar(&c.SMTP.TLS, "notify.smtp.tls", TLSStartTLS, "SMTP TLS: starttls (required), starttls-opportunistic, tls (implicit, port 465) or none.")
	fs.DurationVar(&c.SMTP.Timeout, "notify.smtp.timeout", 30*time.Second, "Timeout of one SMTP conversation.")
	fs.StringVar(&c.SMTP.CAFile, "notify.smtp.ca-file", "", "PEM file of the certificates trusted for the SMTP server (default: the system's).")
	fs.StringVar(&c.OutboxDir, "notify.outbox-dir", "", "Directory of the e-mail outbox when no SMTP host is set (default <data dir>/outbox).")
	fs.IntVar(&c.OutboxMaxFiles, "notify.outbox.max-files", 10000, "Most e-mails kept in the outbox; the oldest are removed.")
	fs.StringVar(&c.SecretFile, "notify.secret-file", "", "File holding the key that signs unsubscribe links (default <data dir>/notify.key, made on first start).")
	fs.IntVar(&c.Workers, "notify.workers", 20, "Most jobs (e-mails, webhook deliveries, digests) run at once by this process.")
	fs.BoolVar(&c.Webhook.AllowPrivate, "notify.webhook.allow-private", false, "Let webhooks target private, loopback and link-local addresses.")
	fs.DurationVar(&c.Webhook.Timeout, "notify.webhook.timeout", 10*time.Second, "Timeout of one webhook delivery attempt.")
	fs.IntVar(&c.Webhook.MaxPerSite, "notify.webhook.max-per-site", 20, "Most webhooks a site may have.")
	fs.IntVar(&c.Webhook.NoDataHours, "notify.webhook.no-data-hours", 24, "Hours without a session after which site.no_data is delivered to a site's webhooks (sooner when a member's no-data alert on the site fires sooner).")
	fs.DurationVar(&c.Webhook.DisableAfter, "notify.webhook.disable-after", 72*time.Hour, "Disable a webhook failing with no success for this long (at least 24h).")
	fs.DurationVar(&c.Alerts.Interval, "notify.alerts.interval", 5*time.Minute, "How often alert rules (no data, spikes) are checked.")
	fs.IntVar(&c.Alerts.MaxRulesPerUserSite, "notify.alerts.max-rules-per-user-site", 20, "Most alert rules a user may have on one site.")
	fs.IntVar(&c.Digest.Hour, "notify.digest.hour", 7, "Hour of the day (site time zone, 0..23) digests are sent.")
	fs.DurationVar(&c.SessionEndInterval, "notify.session-end.interval", time.Minute, "How often recordings ends idle sessions.")
	fs.DurationVar(&c.RetentionInterval, "notify.retention.interval", 10*time.Minute, "How often recordings applies retention.")
	fs.DurationVar(&c.Retention, "notify.retention", 30*24*time.Hour, "How long webhook deliveries, fired alerts and send ledgers are kept.")
	fs.DurationVar(&c.RescueAfter, "notify.rescue-after", 5*time.Minute, "Run a job again when it has been running this long (its process died, e.g. kill -9); at least twice the longest of notify.smtp.timeout and notify.webhook.timeout plus 20s.")
	fs.DurationVar(&c.PollInterval, "notify.poll-interval", time.Second, "How often to look for jobs queued by other processes when not woken by the database.")
}

// Validate checks the configuration.
func (c *Config) Validate() error {
	var errs []error
	bad := func(flagName, format string, args ...any) {
		errs = append(errs, fmt.Errorf("notify.%s: %s", flagName, fmt.Sprintf(format, args...)))
	}
	if c.DatabaseURL.IsSet() {
		u := c.DatabaseURL.Value()
		if !strings.HasPrefix(u, "postgres://") && !strings.HasPrefix(u, "postgresql://") && !strings.Contains(u, "=") {
			bad("database-url", "not a PostgreSQL URL (postgres://…) or key=value string")
		}
	}
	if u, err := url.Parse(c.DashboardURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		bad("dashboard-url", "%q is not an http(s) URL", c.DashboardURL)
	}
	if c.SMTP.Host != "" {
		if c.SMTP.Port < 1 || c.SMTP.Port > 65535 {
			bad("smtp.port", "%d is not in 1..65535", c.SMTP.Port)
		}
		if c.SMTP.Username != "" && c.SMTP.PasswordFile == "" {
			bad("smtp.password-file", "required with notify.smtp.username")
		}
	}
	if a, err := mailAddress(c.SMTP.From); err != nil || a == "" {
		bad("smtp.from", "%q is not an e-mail address", c.SMTP.From)
	}
	if len(c.SMTP.FromName) > 100 || strings.ContainsAny(c.SMTP.FromName, "\r\n") {
		bad("smtp.from-name", "must be one line of at most 100 bytes")
	}
	switch c.SMTP.TLS {
	case TLSStartTLS, TLSOpportunistic, TLSImplicit, TLSNone:
	default:
		bad("smtp.tls", "%q is not starttls, starttls-opportunistic, tls or none", c.SMTP.TLS)
	}
	if c.SMTP.Timeout < time.Second || c.SMTP.Timeout > 10*time.Minute {
		bad("smtp.timeout", "%v is not between 1s and 10m", c.SMTP.Timeout)
	}
	if c.OutboxMaxFiles < 1 || c.OutboxMaxFiles > 10_000_000 {
		bad("outbox.max-files", "%d is not in 1..10000000", c.OutboxMaxFiles)
	}
	if c.Workers < 1 || c.Workers > 10_000 {
		bad("workers", "%d is not in 1..10000", c.Workers)
	}
	if c.Webhook.Timeout < time.Second || c.Webhook.Timeout > 5*time.Minute {
		bad("webhook.timeout", "%v is not between 1s and 5m", c.Webhook.Timeout)
	}
	if c.Webhook.NoDataHours < 1 || c.Webhook.NoDataHours > 168 {
		bad("webhook.no-data-hours", "%d is not in 1..168", c.Webhook.NoDataHours)
	}
	if c.Webhook.MaxPerSite < 1 || c.Webhook.MaxPerSite > 1000 {
		bad("webhook.max-per-site", "%d is not in 1..1000", c.Webhook.MaxPerSite)
	}
	if c.Webhook.DisableAfter < minRetrySpan {
		bad("webhook.disable-after", "%v is shorter than the %v a delivery is retried", c.Webhook.DisableAfter, minRetrySpan)
	}
	if c.Alerts.Interval < time.Minute || c.Alerts.Interval > time.Hour {
		bad("alerts.interval", "%v is not between 1m and 1h", c.Alerts.Interval)
	}
	if c.Alerts.MaxRulesPerUserSite < 1 || c.Alerts.MaxRulesPerUserSite > 1000 {
		bad("alerts.max-rules-per-user-site", "%d is not in 1..1000", c.Alerts.MaxRulesPerUserSite)
	}
	if c.Digest.Hour < 0 || c.Digest.Hour > 23 {
		bad("digest.hour", "%d is not in 0..23", c.Digest.Hour)
	}
	if c.SessionEndInterval < time.Second || c.SessionEndInterval > time.Hour {
		bad("session-end.interval", "%v is not between 1s and 1h", c.SessionEndInterval)
	}
	if c.RetentionInterval < time.Minute || c.RetentionInterval > 24*time.Hour {
		bad("retention.interval", "%v is not between 1m and 24h", c.RetentionInterval)
	}
	if c.Retention < 24*time.Hour || c.Retention > 3650*24*time.Hour {
		bad("retention", "%v is not between 24h and 3650 days", c.Retention)
	}
	// Every job's timeout is at most half of rescue-after, and a send
	// needs its own timeout and some margin.
	if least := max(time.Minute, 2*(max(c.Webhook.Timeout, c.SMTP.Timeout)+10*time.Second)); c.RescueAfter < least || c.RescueAfter > 24*time.Hour {
		bad("rescue-after", "%v is not between %v (twice the longest send timeout plus margin) and 24h", c.RescueAfter, least)
	}
	if c.PollInterval < 100*time.Millisecond || c.PollInterval > time.Minute {
		bad("poll-interval", "%v is not between 100ms and 1m", c.PollInterval)
	}
	return errors.Join(errs...)
}

func mailAddress(s string) (string, error) {
	a, err := netmail.ParseAddress(s)
	if err != nil {
		return "", err
	}
	return a.Address, nil
}

// Deps are what svc-notify needs from the process.
type Deps struct {
	Logger         *slog.Logger
	TracerProvider trace.TracerProvider
	MeterProvider  metric.MeterProvider
	DataDir        string
	// AccountsInternal authenticates operators and lists recipients;
	// Authorizer checks site access (New makes one asking
	// AccountsInternal when it is nil).
	AccountsInternal accountsv1.AccountsInternalServiceClient
	Authorizer       *siteaccess.Authorizer
	// Search reports a site's numbers (digests, alerts).
	Search searchv1.SearchInternalServiceClient
	// Recordings runs the sweeps notify schedules.
	Recordings recordingsv1.RecordingsInternalServiceClient
	// Mailer, when set, sends the e-mails instead of SMTP or the outbox
	// (benchmarks; tests use a real SMTP server).
	Mailer mail.Sender
}

// Service implements notifyv1.NotifyServiceServer; Internal() serves
// notifyv1.NotifyInternalServiceServer.
type Service struct {
	notifyv1.UnimplementedNotifyServiceServer
	cfg   Config
	deps  Deps
	log   *slog.Logger
	store store.Store
	// errs answers for the store's errors.
	errs *storecall.Errors
	// outbox is the local outbox (nil when SMTP is configured); mailer
	// sends e-mail jobs (SMTP or the outbox).
	outbox *mail.Outbox
	mailer mail.Sender
	hooks  *webhook.Sender
	queue  *queue.Queue
	// key signs unsubscribe tokens.
	key     []byte
	now     func() time.Time
	m       jobMetrics
	reports reportCache
}

func (d *Deps) defaults() {
	telemetry.Defaults(&d.Logger, &d.TracerProvider, &d.MeterProvider)
	if d.Authorizer == nil && d.AccountsInternal != nil {
		d.Authorizer = siteaccess.New(d.AccountsInternal)
	}
}

// New opens the store (migrating it and River's tables), the mailer and
// the webhook sender; Run starts working jobs.
func New(ctx context.Context, cfg Config, deps Deps) (*Service, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	deps.defaults()
	if deps.Authorizer == nil {
		// Like recordings and search: no way to check a dashboard caller's
		// site is a wiring mistake, refused rather than served open.
		return nil, errors.New("notify: Deps needs an Authorizer or AccountsInternal to check dashboard callers")
	}
	meter := deps.MeterProvider.Meter("github.com/sightlinehq/sightline/svc-notify")
	latency, err := storecall.NewLatency(meter, "notify")
	if err != nil {
		return nil, err
	}
	tel := sqlite.Telemetry{Tracer: deps.TracerProvider.Tracer("github.com/sightlinehq/sightline/svc-notify/store"), Latency: latency}
	var st store.Store
	if cfg.DatabaseURL.IsSet() {
		st, err = postgres.Open(ctx, cfg.DatabaseURL.Value(), postgres.Options{MaxConns: int32(max(16, cfg.Workers+8))}, tel)
	} else if deps.DataDir == "" {
		err = errors.New("no data directory for notify.db (set the data dir or notify.database-url)")
	} else {
		st, err = sqlite.Open(ctx, filepath.Join(deps.DataDir, "notify.db"), tel)
	}
	if err != nil {
		return nil, fmt.Errorf("notify: open store: %w", err)
	}
	s, err := newWithStore(ctx, cfg, deps, st)
	if err != nil {
		st.Close()
		return nil, err
	}
	return s, nil
}

// NewWithStore builds the service on an open store, which Close closes
// (the benchmark seeds its store first).
func NewWithStore(ctx context.Context, cfg Config, deps Deps, st store.Store) (*Service, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return newWithStore(ctx, cfg, deps, st)
}

// newWithStore builds the service on an open store (tests pass theirs).
func newWithStore(ctx context.Context, cfg Config, deps Deps, st store.Store) (*Service, error) {
	deps.defaults()
	s := &Service{cfg: cfg, deps: deps, log: deps.Logger, store: st, errs: newStoreErrors(deps.Logger), now: time.Now}
	var err error
	if s.key, err = loadKey(cfg.SecretFile, deps.DataDir); err != nil {
		return nil, err
	}
	if deps.Mailer != nil {
		s.mailer = deps.Mailer
	} else if cfg.SMTP.Host != "" {
		var password string
		if cfg.SMTP.PasswordFile != "" {
			b, err := os.ReadFile(cfg.SMTP.PasswordFile)
			if err != nil {
				return nil, fmt.Errorf("notify.smtp.password-file: %w", err)
			}
			password = strings.TrimRight(string(b), "\r\n")
		}
		var roots *x509.CertPool
		if cfg.SMTP.CAFile != "" {
			b, err := os.ReadFile(cfg.SMTP.CAFile)
			if err != nil {
				return nil, fmt.Errorf("notify.smtp.ca-file: %w", err)
			}
			roots = x509.NewCertPool()
			if !roots.AppendCertsFromPEM(b) {
				return nil, fmt.Errorf("notify.smtp.ca-file: no PEM certificate in %s", cfg.SMTP.CAFile)
			}
		}
		s.mailer, err = mail.NewSMTP(mail.SMTPConfig{
			Host: cfg.SMTP.Host, Port: cfg.SMTP.Port, Username: cfg.SMTP.Username, Password: password,
			From: cfg.SMTP.From, FromName: cfg.SMTP.FromName, TLS: cfg.SMTP.TLS, Timeout: cfg.SMTP.Timeout,
			RootCAs: roots,
		})
		if err != nil {
			return nil, fmt.Errorf("notify: smtp: %w", err)
		}
	} else {
		dir := cfg.OutboxDir
		if dir == "" {
			if deps.DataDir == "" {
				return nil, errors.New("notify: no data directory for the outbox (set the data dir, notify.outbox-dir or notify.smtp.host)")
			}
			dir = filepath.Join(deps.DataDir, "outbox")
		}
		s.outbox, err = mail.NewOutbox(mail.OutboxConfig{Dir: dir, From: cfg.SMTP.From, FromName: cfg.SMTP.FromName,
			MaxFiles: cfg.OutboxMaxFiles, Logger: deps.Logger})
		if err != nil {
			return nil, fmt.Errorf("notify: outbox: %w", err)
		}
		s.mailer = s.outbox
	}
	s.hooks = &webhook.Sender{AllowPrivate: cfg.Webhook.AllowPrivate, Timeout: cfg.Webhook.Timeout}
	if deps.AccountsInternal == nil || deps.Search == nil {
		// Digests, alerts and the webhook-disabled e-mail need both:
		// their jobs fail (and retry) until a process that has them runs.
		deps.Logger.WarnContext(ctx, "notify: accounts' or search's internal service is not configured: digests and alerts cannot be sent")
	}
	if err := s.m.init(deps.MeterProvider.Meter("github.com/sightlinehq/sightline/svc-notify")); err != nil {
		return nil, err
	}
	s.queue, err = queue.Open(ctx, st.Handle(), queue.Config{
		Workers:     cfg.Workers,
		RescueAfter: cfg.RescueAfter,
		JobTimeout:  min(time.Minute, cfg.RescueAfter/2),
		Periodic:    s.periodic(),
		Registry:    s.workers(),
		// The periodic maintenance kinds are traced only when a run
		// finds something to do (queue.Worked).
		Quiet:          []string{kindDigestFanout, kindAlertsCheck, kindRecordingsSweep, kindPrune},
		Logger:         deps.Logger,
		TracerProvider: deps.TracerProvider,
		MeterProvider:  deps.MeterProvider,
		PollInterval:   cfg.PollInterval,
	})
	if err != nil {
		return nil, fmt.Errorf("notify: %w", err)
	}
	return s, nil
}

// longJobTimeout bounds the jobs that walk many rows or sites (alert
// checks, sweeps, prune): half of rescue-after at most, so a slow job is
// never taken for a dead one and run twice at once.
func (s *Service) longJobTimeout() time.Duration {
	return min(4*time.Minute, s.cfg.RescueAfter/2)
}

// Ready reports whether the service can serve: its database answers and
// the queue is working.
func (s *Service) Ready(ctx context.Context) error {
	if err := s.store.Ping(ctx); err != nil {
		return fmt.Errorf("notify: database: %w", err)
	}
	return s.queue.Ready(ctx)
}

// Run works jobs (and schedules periodic ones when elected leader) until
// ctx ends, then stops gracefully.
func (s *Service) Run(ctx context.Context) error {
	return s.queue.Run(ctx)
}

// Close releases the queue's metrics, the webhook sender and the store
// (after Run returned).
func (s *Service) Close() error {
	qerr := s.queue.Close()
	s.hooks.Close()
	return errors.Join(qerr, s.store.Close())
}
