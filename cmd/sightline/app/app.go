// Package app assembles one sightline process from its modules: the
// services named by -target, the listeners they share, and the gRPC
// connections between them (in-process or remote; see modules.go).
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"slices"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/sightlinehq/sightline/platform/admin"
	"github.com/sightlinehq/sightline/platform/httpserver"
	"github.com/sightlinehq/sightline/platform/logging"
	"github.com/sightlinehq/sightline/platform/rpc"
	"github.com/sightlinehq/sightline/platform/telemetry"
	ingest "github.com/sightlinehq/sightline/svc-ingest"
)

// moduleStartWait bounds how long Run waits for a module's Started.
const moduleStartWait = 10 * time.Second

// service is what every module gives the process once initialised.
type service interface {
	// Ready reports whether the module can serve (readiness probe).
	Ready(ctx context.Context) error
	// Run runs background work until ctx ends.
	Run(ctx context.Context) error
	// Close releases stores and files after Run has returned.
	Close() error
}

// Options override what New would otherwise build, for tests that run
// several processes' worth of App in one test binary.
type Options struct {
	Logger    *slog.Logger
	Telemetry *telemetry.Telemetry
}

// App is one sightline process.
type App struct {
	cfg     Config
	targets []string
	logger  *slog.Logger
	tel     *telemetry.Telemetry
	ownTel  bool

	grpcServer *grpc.Server
	health     *health.Server
	grpcLis    net.Listener
	inproc     *rpc.InProcess
	httpMux    *http.ServeMux
	httpServer *httpserver.Server
	admin      *httpserver.Server
	checks     *admin.Checks

	secret string // the mesh's service credential (servicecred.go)
	connMu sync.Mutex
	conns  map[string]*grpc.ClientConn // by address; "" is the in-process connection

	modules []runningModule
	started chan struct{}

	// backupMu lets one backup run at a time; stopBackups takes it for
	// good, with backupCtx cancelled, before the stores close.
	backupMu   sync.Mutex
	backupCtx  context.Context
	backupStop context.CancelFunc
}

type runningModule struct {
	name string
	svc  service
	// grpcServices are the full names of every gRPC service the module
	// registered (its internal ones too), reported healthy once it runs.
	grpcServices []string
	cancel       context.CancelFunc
	done         chan error
}

// New builds the process: listeners are bound and every module is
// initialised, but nothing is served until Run.
func New(ctx context.Context, cfg Config, opts Options) (_ *App, err error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.applyPublicURL()
	targets, _ := parseTargets(cfg.Target)
	a := &App{
		cfg:     cfg,
		targets: targets,
		logger:  opts.Logger,
		tel:     opts.Telemetry,
		httpMux: http.NewServeMux(),
		checks:  &admin.Checks{},
		conns:   map[string]*grpc.ClientConn{},
		started: make(chan struct{}),
	}
	a.backupCtx, a.backupStop = context.WithCancel(context.Background())
	defer func() {
		if err != nil {
			err = errors.Join(err, a.closeAll(context.Background()))
		}
	}()
	if a.logger == nil {
		level, _ := parseLevel(cfg.Log.Level)
		a.logger = logging.New(os.Stderr, logging.Options{Level: level, Format: cfg.Log.Format, Service: a.serviceName()})
	}
	if a.tel == nil {
		a.tel, err = telemetry.Setup(ctx, telemetry.Options{ServiceName: a.serviceName(), Version: Version()})
		if err != nil {
			return nil, fmt.Errorf("telemetry: %w", err)
		}
		a.ownTel = true
	}
	if a.secret, err = a.cfg.ServiceSecret(true); err != nil {
		return nil, err
	}
	accepted, err := a.cfg.AcceptedServiceSecret()
	if err != nil {
		return nil, err
	}
	a.grpcServer, a.health = rpc.NewServer(a.tel, a.logger, rpc.ServerOptions{
		MaxRecvMsgBytes:       cfg.Server.MaxMessageBytes,
		MaxSendMsgBytes:       cfg.Server.MaxMessageBytes,
		ServiceSecret:         a.secret,
		AcceptedServiceSecret: accepted,
	})
	a.inproc = rpc.NewInProcess()
	if a.grpcLis, err = net.Listen("tcp", cfg.Server.GRPCListenAddress); err != nil {
		return nil, fmt.Errorf("server.grpc-listen-address: %w", err)
	}
	a.admin = httpserver.New(cfg.Admin.ListenAddress, a.adminHandler(), a.tel, a.logger, httpserver.Options{})
	if err := a.admin.Listen(); err != nil {
		return nil, fmt.Errorf("admin.listen-address: %w", err)
	}
	if err := os.MkdirAll(cfg.DataDir, 0o750); err != nil {
		return nil, fmt.Errorf("data-dir: %w", err)
	}
	for _, name := range targets {
		def, _ := lookupModule(name) // parseTargets returns only the table's names
		m, err := a.initModule(ctx, def)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		a.modules = append(a.modules, m)
		a.checks.Add(name, m.svc.Ready)
	}
	a.httpServer = httpserver.New(cfg.Server.HTTPListenAddress, a.httpMux, a.tel, a.logger,
		httpserver.Options{SelfTraced: []string{ingest.BeaconPrefix}})
	// Streams that never finish by themselves (the gateway's server-sent
	// events) end when shutdown starts, or Shutdown would wait for them.
	for _, m := range a.modules {
		if st, ok := m.svc.(interface{ StopStreams() }); ok {
			a.httpServer.RegisterOnShutdown(st.StopStreams)
		}
	}
	if err := a.httpServer.Listen(); err != nil {
		return nil, fmt.Errorf("server.http-listen-address: %w", err)
	}
	return a, nil
}

// serviceName names the process in logs and traces: "sightline" when it
// runs everything, else "sightline-<targets>".
func (a *App) serviceName() string {
	if len(a.targets) == len(moduleNames()) {
		return "sightline"
	}
	name := "sightline"
	for _, t := range a.targets {
		name += "-" + t
	}
	return name
}

// conn returns the connection to a dependency's gRPC service: in-process
// when its module runs here, else to its remote address; nil for an
// optional dependency that is neither, and an error for a required one
// (which Validate reports first).
func (a *App) conn(d dependency) (*grpc.ClientConn, error) {
	addr := ""
	if !slices.Contains(a.targets, d.module) {
		addr = a.cfg.Remote.address(d.module)
		switch {
		case addr == "" && d.optional:
			return nil, nil
		case addr == "":
			return nil, fmt.Errorf("remote.%s: must be set: %s is not a target of this process", d.module, d.module)
		}
	}
	a.connMu.Lock()
	defer a.connMu.Unlock()
	if c, ok := a.conns[addr]; ok {
		return c, nil
	}
	opts := rpc.ClientOptions{DefaultTimeout: a.cfg.Server.ClientTimeout, MaxRecvMsgBytes: a.cfg.Server.MaxMessageBytes, ServiceSecret: a.secret}
	var (
		c   *grpc.ClientConn
		err error
	)
	if addr == "" {
		c, err = a.inproc.Dial(a.tel, opts)
	} else {
		c, err = rpc.Dial(addr, a.tel, opts)
	}
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", d.module, err)
	}
	a.conns[addr] = c
	return c, nil
}

// Addrs are the bound listener addresses (useful with port 0).
type Addrs struct{ HTTP, GRPC, Admin string }

// Addrs returns the bound addresses.
func (a *App) Addrs() Addrs {
	return Addrs{HTTP: a.httpServer.Addr(), GRPC: a.grpcLis.Addr().String(), Admin: a.admin.Addr()}
}

// Started is closed once every listener serves and every module runs.
func (a *App) Started() <-chan struct{} { return a.started }

// Run serves until ctx ends or a server fails, then shuts down within
// server.shutdown-timeout.
func (a *App) Run(ctx context.Context) error {
	errc := make(chan error, 8)
	goServe := func(name string, serve func() error) {
		go func() {
			if err := serve(); err != nil && !errors.Is(err, grpc.ErrServerStopped) && !errors.Is(err, http.ErrServerClosed) {
				errc <- fmt.Errorf("%s: %w", name, err)
			}
		}()
	}
	grpcDone := make(chan struct{}, 2)
	for _, lis := range []net.Listener{a.grpcLis, a.inproc.Listener()} {
		go func() {
			defer func() { grpcDone <- struct{}{} }()
			if err := a.grpcServer.Serve(lis); err != nil && !errors.Is(err, grpc.ErrServerStopped) {
				errc <- fmt.Errorf("grpc: %w", err)
			}
		}()
	}
	goServe("admin", a.admin.Serve)
	goServe("http", a.httpServer.Serve)

	for i := range a.modules {
		m := &a.modules[i]
		var mctx context.Context
		mctx, m.cancel = context.WithCancel(context.WithoutCancel(ctx))
		m.done = make(chan error, 1)
		go func() {
			err := m.svc.Run(mctx)
			if err != nil && mctx.Err() == nil {
				errc <- fmt.Errorf("%s: %w", m.name, err)
			}
			m.done <- err
		}()
		for _, name := range m.grpcServices {
			a.health.SetServingStatus(name, healthpb.HealthCheckResponse_SERVING)
		}
	}
	// A module whose Run starts its work asynchronously (notify's job
	// queue) says when it has: the process counts as started, and is
	// probed, only then — bounded, so a module failing to start is seen
	// through its Run error rather than a hang.
	for _, m := range a.modules {
		st, ok := m.svc.(interface{ Started() <-chan struct{} })
		if !ok {
			continue
		}
		select {
		case <-st.Started():
		case <-ctx.Done():
		case <-time.After(moduleStartWait):
			a.logger.WarnContext(ctx, "module not started yet; serving anyway", "module", m.name, "waited", moduleStartWait)
		}
	}
	a.health.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	a.logger.InfoContext(ctx, "sightline started", "version", Version(), "targets", a.targets,
		"http", a.httpServer.Addr(), "grpc", a.grpcLis.Addr().String(), "admin", a.admin.Addr())
	close(a.started)

	var runErr error
	select {
	case <-ctx.Done():
	case runErr = <-errc:
		a.logger.ErrorContext(ctx, "failed, shutting down", "error", runErr)
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), a.cfg.Server.ShutdownTimeout)
	defer cancel()
	a.logger.InfoContext(ctx, "shutting down", "deadline", a.cfg.Server.ShutdownTimeout)
	start := time.Now()
	a.checks.SetShuttingDown()
	a.health.Shutdown()
	a.stopBackups()
	var errs []error
	// Public traffic first, so ingest answers what it accepted.
	if err := a.httpServer.Shutdown(sctx); err != nil {
		errs = append(errs, fmt.Errorf("http shutdown: %w", err))
	}
	// Background loops in reverse start order: ingest's forwarder stops
	// before the recordings it delivers to.
	for i := len(a.modules) - 1; i >= 0; i-- {
		a.modules[i].cancel()
		select {
		case err := <-a.modules[i].done:
			if err != nil && !errors.Is(err, context.Canceled) {
				errs = append(errs, fmt.Errorf("%s: %w", a.modules[i].name, err))
			}
		case <-sctx.Done():
			errs = append(errs, fmt.Errorf("%s: did not stop before the shutdown deadline", a.modules[i].name))
		}
	}
	stopped := make(chan struct{})
	go func() { a.grpcServer.GracefulStop(); close(stopped) }()
	select {
	case <-stopped:
	case <-sctx.Done():
		a.grpcServer.Stop()
		errs = append(errs, errors.New("grpc: graceful stop passed the shutdown deadline"))
	}
	<-grpcDone
	<-grpcDone
	errs = append(errs, a.closeAll(sctx))
	a.logger.InfoContext(ctx, "stopped", "took", time.Since(start).Round(time.Millisecond))
	return errors.Join(append([]error{runErr}, errs...)...)
}

// closeAll releases connections, modules, listeners and telemetry.
func (a *App) closeAll(ctx context.Context) error {
	var errs []error
	for _, c := range a.conns {
		errs = append(errs, c.Close())
	}
	for i := len(a.modules) - 1; i >= 0; i-- {
		if err := a.modules[i].svc.Close(); err != nil {
			errs = append(errs, fmt.Errorf("%s: close: %w", a.modules[i].name, err))
		}
	}
	if a.inproc != nil {
		a.inproc.Close()
	}
	if a.grpcLis != nil {
		a.grpcLis.Close()
	}
	if a.admin != nil {
		errs = append(errs, a.admin.Shutdown(ctx))
	}

	if a.ownTel && a.tel != nil {
		errs = append(errs, a.tel.Shutdown(ctx))
	}
	return errors.Join(errs...)
}

// SetGlobalTelemetry makes this process's providers the OpenTelemetry
// globals, for libraries that only know those. Tests that run several Apps
// in one binary do not call it.
func (a *App) SetGlobalTelemetry() { a.tel.SetGlobal() }

// Logger is the process's logger.
func (a *App) Logger() *slog.Logger { return a.logger }
