// Package accounts is svc-accounts: organisations, users, sites and their
// domains, settings, limits, API keys, feature flags and maintenance.
//
// Callers are identified by gRPC metadata "authorization: Bearer <token>"
// (a session token "sls_…" or an API key "slk_…"); the caller's IP comes
// from "x-forwarded-for" set by the gateway. SignUp, LogIn and
// GetPublicConfig need no caller; Authenticate takes its credential in the
// request; GetSiteConfig and LeaseSessionQuota are internal (ingest calls
// them without a user, and the gateway exposes no route to them). Every
// other RPC requires a caller and is scoped by organisation and role: an
// object of an organisation the caller is not in answers NotFound, exactly
// as a missing one does; a role too weak for the call answers
// PermissionDenied.
package accounts

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc/status"

	accountsv1 "github.com/sightlinehq/sightline/gen/sightline/accounts/v1"
	notifyv1 "github.com/sightlinehq/sightline/gen/sightline/notify/v1"
	"github.com/sightlinehq/sightline/platform/config"
	"github.com/sightlinehq/sightline/platform/storecall"
	"github.com/sightlinehq/sightline/platform/telemetry"
	"github.com/sightlinehq/sightline/svc-accounts/internal/sqlstore"
	"github.com/sightlinehq/sightline/svc-accounts/store"
	"github.com/sightlinehq/sightline/svc-accounts/store/postgres"
	"github.com/sightlinehq/sightline/svc-accounts/store/sqlite"
)

// Backends.
const (
	BackendSQLite   = "sqlite"
	BackendPostgres = "postgres"
)

// Config is svc-accounts' configuration (flags prefixed "accounts.").
type Config struct {
	// Backend is "sqlite" (embedded, the default) or "postgres".
	Backend  string         `yaml:"backend"`
	SQLite   SQLiteConfig   `yaml:"sqlite"`
	Postgres PostgresConfig `yaml:"postgres"`

	// SessionTTL is how long a log-in lasts.
	SessionTTL time.Duration `yaml:"session_ttl"`
	// InvitationTTL is how long an invitation can be accepted.
	InvitationTTL time.Duration `yaml:"invitation_ttl"`
	// SignupEnabled lets anyone create an account and organisation.
	SignupEnabled bool `yaml:"signup_enabled"`
	// SignupVerifyEmail makes sign-up e-mail a verification link (the
	// first user of an instance excepted) and answer the same whether or
	// not the address already has an account. Off, sign-up logs the user
	// in at once and answers AlreadyExists for a taken address, which tells
	// anyone that the address has an account.
	SignupVerifyEmail bool `yaml:"signup_verify_email"`
	// VerifyTokenTTL is how long an e-mailed verification link works.
	VerifyTokenTTL time.Duration `yaml:"verify_token_ttl"`
	// ResetTokenTTL is how long an e-mailed password-reset link works.
	ResetTokenTTL time.Duration `yaml:"reset_token_ttl"`
	// PasswordMinLength is the shortest accepted password (10 or more).
	PasswordMinLength int `yaml:"password_min_length"`
	// Login limits log-in (and sign-up) attempts.
	Login LoginConfig `yaml:"login"`
	// DefaultPlan is the instance's limits until an operator sets them on
	// the Operator page (0: unlimited).
	DefaultPlan PlanConfig `yaml:"default_plan"`

	// MaxPageSize caps list calls' page_size.
	MaxPageSize int `yaml:"max_page_size"`
	// MaxDomainsPerSite caps a site's domains.
	MaxDomainsPerSite int `yaml:"max_domains_per_site"`
	// MaxOrganizationsPerUser caps the organisations a user may belong to
	// when creating another.
	MaxOrganizationsPerUser int `yaml:"max_organizations_per_user"`
	// MaxLease caps one LeaseSessionQuota grant.
	MaxLease int64 `yaml:"max_lease"`

	// PublicIngestURL is where visitors' browsers reach ingest (the
	// snippet's base URL), handed to the dashboard by GetPublicConfig. It
	// has no flag of its own: the app sets it from its public URL.
	PublicIngestURL string `yaml:"-"`
}

// SQLiteConfig configures the embedded backend.
type SQLiteConfig struct {
	// Path of the database file; empty means <DataDir>/accounts.db.
	Path string `yaml:"path"`
}

// PostgresConfig configures the PostgreSQL backend.
type PostgresConfig struct {
	// DSN is a secret (it usually carries the password): never logged.
	DSN config.Secret `yaml:"dsn"`
	// MaxConns caps the connection pool.
	MaxConns int `yaml:"max_conns"`
}

// LoginConfig holds the log-in rate limits: token buckets kept in memory
// per process (so with N accounts replicas an attacker gets N times the
// budget; the gateway's per-IP limits come on top).
type LoginConfig struct {
	AccountPerMinute float64 `yaml:"account_per_minute"`
	AccountBurst     int     `yaml:"account_burst"`
	IPPerMinute      float64 `yaml:"ip_per_minute"`
	IPBurst          int     `yaml:"ip_burst"`
}

// PlanConfig is a set of limits; 0 means unlimited, Name is an optional
// label (a hosting provider's plan).
type PlanConfig struct {
	Name             string `yaml:"name"`
	SessionsPerDay   int64  `yaml:"sessions_per_day"`
	MaxRetentionDays int    `yaml:"max_retention_days"`
	MaxSeats         int    `yaml:"max_seats"`
	MaxSites         int    `yaml:"max_sites"`
}

// RegisterFlags registers the flags and their defaults.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.Backend, "accounts.backend", BackendSQLite, "Accounts database: sqlite (embedded) or postgres.")
	fs.StringVar(&c.SQLite.Path, "accounts.sqlite.path", "", "SQLite database file (default <data dir>/accounts.db).")
	config.SecretVar(fs, &c.Postgres.DSN, "accounts.postgres.dsn", "PostgreSQL connection string when accounts.backend=postgres (a secret: prefer -accounts.postgres.dsn-file).")
	fs.IntVar(&c.Postgres.MaxConns, "accounts.postgres.max-conns", 16, "PostgreSQL connection pool size.")
	fs.DurationVar(&c.SessionTTL, "accounts.session-ttl", 14*24*time.Hour, "How long a dashboard log-in lasts.")
	fs.DurationVar(&c.InvitationTTL, "accounts.invitation-ttl", 7*24*time.Hour, "How long an invitation can be accepted.")
	fs.BoolVar(&c.SignupEnabled, "accounts.signup-enabled", true, "Let anyone sign up (creates a user and an organisation).")
	fs.BoolVar(&c.SignupVerifyEmail, "accounts.signup-verify-email", true, "E-mail a verification link at sign-up and answer sign-ups alike whether or not the address has an account (off: log in at once, and a taken address answers 409, revealing it).")
	fs.DurationVar(&c.VerifyTokenTTL, "accounts.verify-token-ttl", 24*time.Hour, "How long an e-mailed verification link works.")
	fs.DurationVar(&c.ResetTokenTTL, "accounts.reset-token-ttl", time.Hour, "How long an e-mailed password-reset link works.")
	fs.IntVar(&c.PasswordMinLength, "accounts.password.min-length", 10, "Shortest accepted password (at least 10).")
	fs.Float64Var(&c.Login.AccountPerMinute, "accounts.login.account-per-minute", 5, "Log-in attempts per minute per account, after the burst.")
	fs.IntVar(&c.Login.AccountBurst, "accounts.login.account-burst", 10, "Log-in attempts per account allowed in a burst.")
	fs.Float64Var(&c.Login.IPPerMinute, "accounts.login.ip-per-minute", 20, "Log-in and sign-up attempts per minute per client IP, after the burst.")
	fs.IntVar(&c.Login.IPBurst, "accounts.login.ip-burst", 30, "Log-in and sign-up attempts per client IP allowed in a burst.")
	// Self-hosted, the instance is its owner's: no limit unless they set one.
	// These are where the instance limits start; once an operator changes
	// them on the Operator page, the stored ones win.
	fs.StringVar(&c.DefaultPlan.Name, "accounts.default-plan.name", "", "Optional label of the instance limits (a hosting provider's plan name); empty: the dashboard never says \"plan\".")
	fs.Int64Var(&c.DefaultPlan.SessionsPerDay, "accounts.default-plan.sessions-per-day", 0, "Recorded sessions per site per UTC day (0: unlimited). Initial value; the Operator page overrides it.")
	fs.IntVar(&c.DefaultPlan.MaxRetentionDays, "accounts.default-plan.max-retention-days", 0, "Longest retention a site may set, in days (0: up to 3650). Initial value; the Operator page overrides it.")
	fs.IntVar(&c.DefaultPlan.MaxSeats, "accounts.default-plan.max-seats", 0, "Members per organisation (0: unlimited). Initial value; the Operator page overrides it.")
	fs.IntVar(&c.DefaultPlan.MaxSites, "accounts.default-plan.max-sites", 0, "Sites per organisation (0: unlimited). Initial value; the Operator page overrides it.")
	fs.IntVar(&c.MaxPageSize, "accounts.max-page-size", 200, "Largest page_size of list calls.")
	fs.IntVar(&c.MaxDomainsPerSite, "accounts.max-domains-per-site", 50, "Most domains a site may have.")
	fs.IntVar(&c.MaxOrganizationsPerUser, "accounts.max-organizations-per-user", 20, "Most organisations a user may belong to when creating one.")
	fs.Int64Var(&c.MaxLease, "accounts.max-lease", 10000, "Largest share of a daily session quota one lease grants.")
}

// Validate checks the configuration.
func (c *Config) Validate() error {
	var errs []error
	bad := func(flagName, format string, args ...any) {
		errs = append(errs, fmt.Errorf("accounts.%s: %s", flagName, fmt.Sprintf(format, args...)))
	}
	switch c.Backend {
	case BackendSQLite:
	case BackendPostgres:
		if !c.Postgres.DSN.IsSet() {
			bad("postgres.dsn", "required when accounts.backend=postgres")
		}
	default:
		bad("backend", "%q is not sqlite or postgres", c.Backend)
	}
	if c.Postgres.MaxConns < 1 || c.Postgres.MaxConns > 1000 {
		bad("postgres.max-conns", "%d is not in 1..1000", c.Postgres.MaxConns)
	}
	if c.SessionTTL < time.Minute || c.SessionTTL > 366*24*time.Hour {
		bad("session-ttl", "%v is not between 1m and 366 days", c.SessionTTL)
	}
	if c.InvitationTTL < time.Minute || c.InvitationTTL > 90*24*time.Hour {
		bad("invitation-ttl", "%v is not between 1m and 90 days", c.InvitationTTL)
	}
	if c.VerifyTokenTTL < time.Minute || c.VerifyTokenTTL > 30*24*time.Hour {
		bad("verify-token-ttl", "%v is not between 1m and 30 days", c.VerifyTokenTTL)
	}
	if c.ResetTokenTTL < time.Minute || c.ResetTokenTTL > 24*time.Hour {
		bad("reset-token-ttl", "%v is not between 1m and 24h", c.ResetTokenTTL)
	}
	if c.PasswordMinLength < 10 || c.PasswordMinLength > maxPasswordBytes {
		bad("password.min-length", "%d is not in 10..%d", c.PasswordMinLength, maxPasswordBytes)
	}
	if !(c.Login.AccountPerMinute > 0) || c.Login.AccountBurst < 1 || !(c.Login.IPPerMinute > 0) || c.Login.IPBurst < 1 {
		bad("login", "rates and bursts must be positive")
	}
	p := c.DefaultPlan
	if p.MaxRetentionDays < 0 || p.MaxSeats < 0 || p.MaxSites < 0 || max(p.MaxRetentionDays, p.MaxSeats, p.MaxSites) > maxSeatsOrSites {
		bad("default-plan", "limits must be between 0 (unlimited) and %d", maxSeatsOrSites)
	} else if _, err := checkLimits("default-plan", planPB(c.plan())); err != nil {
		bad("default-plan", "%s", status.Convert(err).Message())
	}
	if c.MaxPageSize < 1 || c.MaxPageSize > 1000 {
		bad("max-page-size", "%d is not in 1..1000", c.MaxPageSize)
	}
	if c.MaxDomainsPerSite < 1 || c.MaxDomainsPerSite > 10000 {
		bad("max-domains-per-site", "%d is not in 1..10000", c.MaxDomainsPerSite)
	}
	if c.MaxOrganizationsPerUser < 1 {
		bad("max-organizations-per-user", "must be positive")
	}
	if c.MaxLease < 1 {
		bad("max-lease", "must be positive")
	}
	return errors.Join(errs...)
}

func (c *Config) plan() store.Plan {
	return store.Plan{
		Name:             c.DefaultPlan.Name,
		SessionsPerDay:   c.DefaultPlan.SessionsPerDay,
		MaxRetentionDays: int32(c.DefaultPlan.MaxRetentionDays),
		MaxSeats:         int32(c.DefaultPlan.MaxSeats),
		MaxSites:         int32(c.DefaultPlan.MaxSites),
	}
}

// Deps are what svc-accounts needs from the process.
type Deps struct {
	Logger         *slog.Logger
	TracerProvider trace.TracerProvider
	MeterProvider  metric.MeterProvider
	// DataDir holds the embedded database.
	DataDir string
	// Version is the build version reported by GetPublicConfig.
	Version string
	// Notify sends account e-mails (verification, reset, invitation, new
	// log-in). Nil when notify is not configured: e-mails are then counted
	// as not sent and logged, and no user request fails because of it.
	Notify notifyv1.NotifyInternalServiceClient
}

func (d *Deps) defaults() {
	telemetry.Defaults(&d.Logger, &d.TracerProvider, &d.MeterProvider)
}

// Service implements accountsv1.AccountsServiceServer.
type Service struct {
	accountsv1.UnimplementedAccountsServiceServer
	cfg   Config
	deps  Deps
	log   *slog.Logger
	store store.Store
	m     metrics

	accountLimit *limiter
	ipLimit      *limiter
	// mailLimit caps verification and reset e-mails per address;
	// existingLimit the "someone signed up with your address" e-mails (one
	// an hour per address).
	mailLimit     *limiter
	existingLimit *limiter
	// verifyEvery is the least time between two verification e-mails to
	// one user, checked against the stored tokens (so across replicas).
	verifyEvery time.Duration
	// bg counts SignUp's work left for after its answer.
	bg     sync.WaitGroup
	hasher *hasher
	// dummyHash is verified when a log-in names an unknown e-mail, so the
	// answer takes as long as for a wrong password.
	dummyHash string
	// errs answers for the store's errors.
	errs *storecall.Errors
	// hasUsers is set once a user is seen: from then on the public config
	// (asked by every dashboard load, signed in or not) no longer counts
	// users to tell a first run.
	hasUsers atomic.Bool
}

type metrics struct {
	loginFailures metric.Int64Counter
	quotaGranted  metric.Int64Counter
	emails        metric.Int64Counter
}

// openStore opens the configured backend.
func openStore(ctx context.Context, cfg Config, dataDir string, tel sqlstore.Telemetry) (store.Store, error) {
	switch cfg.Backend {
	case BackendPostgres:
		return postgres.Open(ctx, cfg.Postgres.DSN.Value(), postgres.Options{MaxConns: int32(cfg.Postgres.MaxConns)}, tel)
	case BackendSQLite, "":
		path, err := sqlitePath(cfg, dataDir)
		if err != nil {
			return nil, err
		}
		return sqlite.Open(ctx, path, tel)
	default:
		return nil, fmt.Errorf("accounts: unknown backend %q", cfg.Backend)
	}
}

func sqlitePath(cfg Config, dataDir string) (string, error) {
	if cfg.SQLite.Path != "" {
		return cfg.SQLite.Path, nil
	}
	if dataDir == "" {
		return "", errors.New("accounts: no data directory for the SQLite database (set the data dir or accounts.sqlite.path)")
	}
	return filepath.Join(dataDir, "accounts.db"), nil
}

// New opens the store (applying migrations) and returns the service.
func New(ctx context.Context, cfg Config, deps Deps) (*Service, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	deps.defaults()
	meter := deps.MeterProvider.Meter("github.com/sightlinehq/sightline/svc-accounts")
	latency, err := storecall.NewLatency(meter, "accounts")
	if err != nil {
		return nil, err
	}
	st, err := openStore(ctx, cfg, deps.DataDir, sqlstore.Telemetry{
		Tracer:  deps.TracerProvider.Tracer("github.com/sightlinehq/sightline/svc-accounts/store"),
		Latency: latency,
	})
	if err != nil {
		return nil, fmt.Errorf("accounts: open %s store: %w", cfg.Backend, err)
	}
	s, err := newWithStore(cfg, deps, st)
	if err == nil {
		err = s.applyConfiguredLimits(ctx)
	}
	if err != nil {
		st.Close()
		return nil, err
	}
	deps.Logger.InfoContext(ctx, "accounts store open", "backend", cfg.Backend)
	return s, nil
}

// newWithStore builds the service on an open store (tests pass theirs).
func newWithStore(cfg Config, deps Deps, st store.Store) (*Service, error) {
	deps.defaults()
	meter := deps.MeterProvider.Meter("github.com/sightlinehq/sightline/svc-accounts")
	s := &Service{
		cfg:          cfg,
		deps:         deps,
		log:          deps.Logger,
		store:        st,
		accountLimit: newLimiter(cfg.Login.AccountPerMinute, cfg.Login.AccountBurst, 100_000),
		ipLimit:      newLimiter(cfg.Login.IPPerMinute, cfg.Login.IPBurst, 100_000),
		// Three e-mails at once, then one every ten minutes.
		mailLimit:     newLimiter(0.1, 3, 100_000),
		existingLimit: newLimiter(1.0/60, 1, 100_000),
		verifyEvery:   time.Minute,
		hasher:        newHasher(runtime.GOMAXPROCS(0)),
		errs:          newStoreErrors(deps.Logger),
	}
	var err error
	if s.m.loginFailures, err = meter.Int64Counter("accounts.login.failures",
		metric.WithDescription("Failed log-in attempts, by reason (bad_credentials, rate_limited, unverified).")); err != nil {
		return nil, fmt.Errorf("accounts: metrics: %w", err)
	}
	if s.m.quotaGranted, err = meter.Int64Counter("accounts.quota.granted",
		metric.WithDescription("Sessions of daily quotas granted to ingest leases.")); err != nil {
		return nil, fmt.Errorf("accounts: metrics: %w", err)
	}
	if s.m.emails, err = meter.Int64Counter("accounts.emails",
		metric.WithDescription("Account e-mails handed to notify, by kind and outcome (sent, not_sent: notify not configured, failed, rate_limited).")); err != nil {
		return nil, fmt.Errorf("accounts: metrics: %w", err)
	}
	if s.dummyHash, err = hashPassword(randomToken("")); err != nil {
		return nil, err
	}
	if deps.Notify == nil {
		s.log.Warn("accounts: notify is not configured; account e-mails (verification, password reset, invitations, new log-ins) are not sent")
	}
	return s, nil
}

// Ready reports whether the service can serve (its database answers).
func (s *Service) Ready(ctx context.Context) error {
	if err := s.store.Ping(ctx); err != nil {
		return fmt.Errorf("accounts: database: %w", err)
	}
	return nil
}

// Run prunes the in-memory log-in limiters every minute and deletes
// expired sessions and invitations every hour, until ctx ends.
func (s *Service) Run(ctx context.Context) error {
	t := time.NewTicker(time.Minute)
	defer t.Stop()
	var lastSweep time.Time
	for {
		select {
		case <-ctx.Done():
			return nil
		case now := <-t.C:
			s.accountLimit.prune(now)
			s.ipLimit.prune(now)
			s.mailLimit.prune(now)
			s.existingLimit.prune(now)
			if now.Sub(lastSweep) >= time.Hour {
				lastSweep = now
				// Keep a day of expired rows so "expired" can still be told
				// apart from "never existed" in logs for a while.
				n, err := s.store.DeleteExpired(ctx, now.Add(-24*time.Hour))
				if err != nil && ctx.Err() == nil {
					s.log.WarnContext(ctx, "accounts: delete expired sessions", "err", err)
				} else if n > 0 {
					s.log.InfoContext(ctx, "accounts: deleted expired sessions and invitations", "rows", n)
				}
			}
		}
	}
}

// Close waits for work left after answers (sign-ups' e-mails), then
// releases the store.
func (s *Service) Close() error {
	s.bg.Wait()
	return s.store.Close()
}

// Migrate applies the schema migrations of the configured backend (what
// New also does on start), for `sightline migrate`.
func Migrate(ctx context.Context, cfg Config, dataDir string) error {
	switch cfg.Backend {
	case BackendPostgres:
		if !cfg.Postgres.DSN.IsSet() {
			return errors.New("accounts: accounts.postgres.dsn is required for the postgres backend")
		}
		return postgres.Migrate(ctx, cfg.Postgres.DSN.Value())
	case BackendSQLite, "":
		path, err := sqlitePath(cfg, dataDir)
		if err != nil {
			return err
		}
		return sqlite.Migrate(ctx, path)
	default:
		return fmt.Errorf("accounts: unknown backend %q", cfg.Backend)
	}
}

// Admin performs operator tasks straight on the database, for
// `sightline admin`.
type Admin struct {
	cfg   Config
	store store.Store
}

// OpenAdmin opens the configured store (applying migrations).
func OpenAdmin(ctx context.Context, cfg Config, dataDir string) (*Admin, error) {
	st, err := openStore(ctx, cfg, dataDir, sqlstore.Telemetry{})
	if err != nil {
		return nil, fmt.Errorf("accounts: open %s store: %w", cfg.Backend, err)
	}
	return &Admin{cfg: cfg, store: st}, nil
}

// CreateUser creates a user (an operator if operator is set) with a new
// organisation it owns, applying the same e-mail and password rules as
// sign-up. The address counts as verified: the operator vouches for it.
func (a *Admin) CreateUser(ctx context.Context, email, password, organizationName string, operator bool) (userID, orgID int64, err error) {
	email, err = normalizeEmail(email)
	if err != nil {
		return 0, 0, err
	}
	minLen := a.cfg.PasswordMinLength
	if minLen < 10 {
		minLen = 10
	}
	if err := checkPassword(password, email, minLen); err != nil {
		return 0, 0, err
	}
	if organizationName == "" {
		organizationName = defaultOrgName(email)
	}
	if organizationName, err = checkName("organization name", organizationName); err != nil {
		return 0, 0, err
	}
	hash, err := hashPassword(password)
	if err != nil {
		return 0, 0, err
	}
	u, o, err := a.store.SignUp(ctx, store.User{Email: email, PasswordHash: hash, Operator: operator, EmailVerifyTime: time.Now()}, organizationName, a.cfg.plan())
	if err != nil {
		return 0, 0, fmt.Errorf("accounts: create user: %w", err)
	}
	_ = a.store.AppendAudit(ctx, store.AuditEvent{OrganizationID: o.ID, ActorUserID: u.ID, Action: "user.create_by_admin", Target: target("user", u.ID)})
	return u.ID, o.ID, nil
}

// SetMaintenance turns maintenance mode on or off.
func (a *Admin) SetMaintenance(ctx context.Context, enabled bool, message string) error {
	if len(message) > maxMaintenanceMessage {
		return fmt.Errorf("accounts: maintenance message longer than %d bytes", maxMaintenanceMessage)
	}
	if _, err := a.store.SetMaintenance(ctx, store.Maintenance{Enabled: enabled, Message: message}); err != nil {
		return fmt.Errorf("accounts: set maintenance: %w", err)
	}
	_ = a.store.AppendAudit(ctx, store.AuditEvent{Action: "maintenance.set_by_admin", Target: fmt.Sprintf("maintenance:%t", enabled)})
	return nil
}

// Close closes the store.
func (a *Admin) Close() error { return a.store.Close() }
