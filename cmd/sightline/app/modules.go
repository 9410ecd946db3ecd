package app

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"google.golang.org/grpc"

	"github.com/sightlinehq/sightline/gateway"
	accountsv1 "github.com/sightlinehq/sightline/gen/sightline/accounts/v1"
	ingestv1 "github.com/sightlinehq/sightline/gen/sightline/ingest/v1"
	notifyv1 "github.com/sightlinehq/sightline/gen/sightline/notify/v1"
	recordingsv1 "github.com/sightlinehq/sightline/gen/sightline/recordings/v1"
	searchv1 "github.com/sightlinehq/sightline/gen/sightline/search/v1"
	trafficv1 "github.com/sightlinehq/sightline/gen/sightline/traffic/v1"
	"github.com/sightlinehq/sightline/siteaccess"
	accounts "github.com/sightlinehq/sightline/svc-accounts"
	ingest "github.com/sightlinehq/sightline/svc-ingest"
	notify "github.com/sightlinehq/sightline/svc-notify"
	recordings "github.com/sightlinehq/sightline/svc-recordings"
	search "github.com/sightlinehq/sightline/svc-search"
)

// The modules one process can run. This file is the one place that decides
// what runs in this process and what is reached over the network.
const (
	Accounts   = "accounts"
	Ingest     = "ingest"
	Recordings = "recordings"
	Search     = "search"
	Notify     = "notify"
	Gateway    = "gateway"
	// All runs every module in one process.
	All = "all"
)

// dependency is a gRPC service a module calls. A dependency that runs in
// the same process is initialised first and called over the in-process
// connection; otherwise it is dialled at its remote.<name> address.
type dependency struct {
	module   string
	optional bool // when neither local nor configured, the module runs without it
	// late: called only once the process serves (never while the module
	// initialises), so it imposes no start order and may close a cycle —
	// notify calls accounts and recordings, which call notify back.
	late bool
}

// dependencies lists, for every module, the services it calls.
func dependencies(module string) []dependency {
	switch module {
	case Search:
		return []dependency{{module: Accounts}}
	case Recordings:
		// Without notify (neither here nor remote.notify) recordings ends
		// sessions but publishes no events.
		return []dependency{{module: Search}, {module: Accounts}, {module: Notify, optional: true, late: true}}
	case Accounts:
		// Without notify, accounts sends no e-mail (links are still made).
		return []dependency{{module: Notify, optional: true, late: true}}
	case Notify:
		return []dependency{{module: Accounts}, {module: Search}, {module: Recordings}}
	case Ingest:
		return []dependency{{module: Accounts}, {module: Recordings}, {module: Search}}
	case Gateway:
		return []dependency{{module: Accounts}, {module: Recordings}, {module: Search}, {module: Ingest, optional: true}, {module: Notify, optional: true}}
	}
	return nil
}

// moduleNames lists every module in dependency order (of the dependencies
// that are not late).
func moduleNames() []string {
	return []string{Accounts, Search, Recordings, Notify, Ingest, Gateway}
}

// parseTargets turns "-target" into the modules to run, in start order
// (every module after the local modules it depends on).
func parseTargets(target string) ([]string, error) {
	want := map[string]bool{}
	for _, t := range strings.Split(target, ",") {
		t = strings.TrimSpace(t)
		switch {
		case t == "":
			continue
		case t == All:
			for _, m := range moduleNames() {
				want[m] = true
			}
		case slices.Contains(moduleNames(), t):
			want[t] = true
		default:
			return nil, fmt.Errorf("unknown module %q (known: %s, all)", t, strings.Join(moduleNames(), ", "))
		}
	}
	if len(want) == 0 {
		return nil, fmt.Errorf("no module given")
	}
	// moduleNames is already a topological order of the dependencies that
	// are not late (TestModuleNamesIsAStartOrder).
	var order []string
	for _, m := range moduleNames() {
		if want[m] {
			order = append(order, m)
		}
	}
	return order, nil
}

// checkRemotes requires an address for every non-optional dependency that
// does not run here.
func checkRemotes(targets []string, remote RemoteConfig) []error {
	var errs []error
	seen := map[string]bool{}
	for _, m := range targets {
		for _, d := range dependencies(m) {
			if d.optional || slices.Contains(targets, d.module) || remote.address(d.module) != "" || seen[d.module] {
				continue
			}
			seen[d.module] = true
			errs = append(errs, fmt.Errorf("remote.%s: must be set: %s calls %s, which is not a target of this process", d.module, m, d.module))
		}
	}
	return errs
}

// initModule builds one module with its dependencies' connections and
// registers its gRPC service and HTTP routes.
func (a *App) initModule(ctx context.Context, name string) (runningModule, error) {
	conn := func(m string) (*grpc.ClientConn, error) { return a.conn(m) }
	log := a.logger.With("module", name)
	tp, mp := a.tel.TracerProvider, a.tel.MeterProvider
	switch name {
	case Accounts:
		ntf, err := conn(Notify)
		if err != nil {
			return runningModule{}, err
		}
		svc, err := accounts.New(ctx, a.cfg.Accounts, accounts.Deps{
			Logger: log, TracerProvider: tp, MeterProvider: mp, DataDir: a.cfg.DataDir, Version: Version(),
			Notify: notifyClient(ntf),
		})
		if err != nil {
			return runningModule{}, err
		}
		accountsv1.RegisterAccountsServiceServer(a.grpcServer, svc)
		accountsv1.RegisterAccountsInternalServiceServer(a.grpcServer, svc.Internal())
		return runningModule{name: name, svc: svc, grpcSvc: accountsv1.AccountsService_ServiceDesc.ServiceName,
			alsoGRPC: []string{accountsv1.AccountsInternalService_ServiceDesc.ServiceName}}, nil

	case Search:
		acc, err := conn(Accounts)
		if err != nil {
			return runningModule{}, err
		}
		svc, err := search.New(ctx, a.cfg.Search, search.Deps{
			Logger: log, TracerProvider: tp, MeterProvider: mp, DataDir: a.cfg.DataDir,
			Authorizer: siteaccess.New(accountsv1.NewAccountsInternalServiceClient(acc)),
		})
		if err != nil {
			return runningModule{}, err
		}
		searchv1.RegisterSearchServiceServer(a.grpcServer, svc)
		trafficv1.RegisterTrafficServiceServer(a.grpcServer, svc.Traffic())
		trafficv1.RegisterTrafficInternalServiceServer(a.grpcServer, svc.Traffic())
		searchv1.RegisterSearchInternalServiceServer(a.grpcServer, svc.Internal())
		return runningModule{name: name, svc: svc, grpcSvc: searchv1.SearchService_ServiceDesc.ServiceName,
			alsoGRPC: []string{trafficv1.TrafficService_ServiceDesc.ServiceName, trafficv1.TrafficInternalService_ServiceDesc.ServiceName, searchv1.SearchInternalService_ServiceDesc.ServiceName}}, nil

	case Recordings:
		acc, err := conn(Accounts)
		if err != nil {
			return runningModule{}, err
		}
		srch, err := conn(Search)
		if err != nil {
			return runningModule{}, err
		}
		ntf, err := conn(Notify)
		if err != nil {
			return runningModule{}, err
		}
		svc, err := recordings.New(ctx, a.cfg.Recordings, recordings.Deps{
			Logger: log, TracerProvider: tp, MeterProvider: mp, DataDir: a.cfg.DataDir,
			Search:     searchv1.NewSearchInternalServiceClient(srch),
			Authorizer: siteaccess.New(accountsv1.NewAccountsInternalServiceClient(acc)),
			Notify:     notifyClient(ntf),
		})
		if err != nil {
			return runningModule{}, err
		}
		recordingsv1.RegisterRecordingsServiceServer(a.grpcServer, svc)
		recordingsv1.RegisterRecordingsInternalServiceServer(a.grpcServer, svc.Internal())
		return runningModule{name: name, svc: svc, grpcSvc: recordingsv1.RecordingsService_ServiceDesc.ServiceName,
			alsoGRPC: []string{recordingsv1.RecordingsInternalService_ServiceDesc.ServiceName}}, nil

	case Notify:
		acc, err := conn(Accounts)
		if err != nil {
			return runningModule{}, err
		}
		srch, err := conn(Search)
		if err != nil {
			return runningModule{}, err
		}
		rec, err := conn(Recordings)
		if err != nil {
			return runningModule{}, err
		}
		accInternal := accountsv1.NewAccountsInternalServiceClient(acc)
		svc, err := notify.New(ctx, a.cfg.Notify, notify.Deps{
			Logger: log, TracerProvider: tp, MeterProvider: mp, DataDir: a.cfg.DataDir,
			AccountsInternal: accInternal,
			Authorizer:       siteaccess.New(accInternal),
			Search:           searchv1.NewSearchInternalServiceClient(srch),
			Recordings:       recordingsv1.NewRecordingsInternalServiceClient(rec),
		})
		if err != nil {
			return runningModule{}, err
		}
		notifyv1.RegisterNotifyServiceServer(a.grpcServer, svc)
		notifyv1.RegisterNotifyInternalServiceServer(a.grpcServer, svc.Internal())
		return runningModule{name: name, svc: svc, grpcSvc: notifyv1.NotifyService_ServiceDesc.ServiceName,
			alsoGRPC: []string{notifyv1.NotifyInternalService_ServiceDesc.ServiceName}}, nil

	case Ingest:
		acc, err := conn(Accounts)
		if err != nil {
			return runningModule{}, err
		}
		rec, err := conn(Recordings)
		if err != nil {
			return runningModule{}, err
		}
		srch, err := conn(Search)
		if err != nil {
			return runningModule{}, err
		}
		svc, err := ingest.New(ctx, a.cfg.Ingest, ingest.Deps{
			Logger: log, TracerProvider: tp, MeterProvider: mp, Propagator: a.tel.Propagator, DataDir: a.cfg.DataDir,
			Accounts:   accountsv1.NewAccountsInternalServiceClient(acc),
			Recordings: recordingsv1.NewRecordingsInternalServiceClient(rec),
			Traffic:    trafficv1.NewTrafficInternalServiceClient(srch),
		})
		if err != nil {
			return runningModule{}, err
		}
		ingestv1.RegisterIngestServiceServer(a.grpcServer, svc)
		svc.RegisterHTTP(a.httpMux)
		// /readyz/ingest checks only what intake needs: besides the
		// service's own check (spool not full), that the spool's disk takes
		// writes. Not accounts (settings are cached) nor recordings
		// (batches wait in the spool) nor search (hits wait in the
		// traffic spool).
		spoolDir := a.cfg.Ingest.SpoolDir
		if spoolDir == "" {
			spoolDir = filepath.Join(a.cfg.DataDir, "spool")
		}
		trafficDir := ingest.TrafficSpoolDir(a.cfg.Ingest, a.cfg.DataDir)
		a.checks.Add(Ingest, func(context.Context) error {
			return errors.Join(dirWritable(spoolDir), dirWritable(trafficDir))
		})
		return runningModule{name: name, svc: svc, grpcSvc: ingestv1.IngestService_ServiceDesc.ServiceName}, nil

	case Gateway:
		deps := gateway.Deps{Logger: log, TracerProvider: tp, Propagator: a.tel.Propagator, Version: Version()}
		for _, d := range []struct {
			module string
			dst    **grpc.ClientConn
		}{{Accounts, &deps.Accounts}, {Recordings, &deps.Recordings}, {Search, &deps.Search}, {Ingest, &deps.Ingest}, {Notify, &deps.Notify}} {
			c, err := conn(d.module)
			if err != nil {
				return runningModule{}, err
			}
			*d.dst = c
		}
		svc, err := gateway.New(ctx, a.cfg.Gateway, deps)
		if err != nil {
			return runningModule{}, err
		}
		svc.RegisterHTTP(a.httpMux)
		return runningModule{name: name, svc: svc}, nil
	}
	return runningModule{}, fmt.Errorf("unknown module %q", name)
}

// notifyClient is notify's internal client over conn, nil without one
// (the caller then sends no e-mail or events).
func notifyClient(conn *grpc.ClientConn) notifyv1.NotifyInternalServiceClient {
	if conn == nil {
		return nil
	}
	return notifyv1.NewNotifyInternalServiceClient(conn)
}

// dirWritable creates and removes a small file in dir (named so that the
// spool, which reads only *.seg and *.idx, ignores one left by a crash).
func dirWritable(dir string) error {
	f, err := os.CreateTemp(dir, ".readyz-*.probe")
	if err != nil {
		return fmt.Errorf("spool directory not writable: %w", err)
	}
	_, werr := f.Write([]byte{0})
	cerr := f.Close()
	rerr := os.Remove(f.Name())
	if err := errors.Join(werr, cerr, rerr); err != nil {
		return fmt.Errorf("spool directory not writable: %w", err)
	}
	return nil
}
