package app

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"google.golang.org/grpc"

	"github.com/sightlinehq/sightline/demo"
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

// The module table. This file is the one place that decides what runs in
// this process and what is reached over the network: each module declares
// here, in one entry, the modules it calls and the function that builds it
// from their connections (moduletable.go turns that into a start order,
// the remotes a process needs and the connections it makes).
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

// moduleTable lists every module. Its order is the order of help texts,
// and breaks ties in the start order (startOrder sorts the dependencies).
func moduleTable() []module {
	return []module{accountsModule(), searchModule(), recordingsModule(), notifyModule(), ingestModule(), gatewayModule()}
}

func accountsModule() module {
	return module{
		name: Accounts,
		// Without notify, accounts sends no e-mail (links are still made).
		deps: []dependency{{module: Notify, optional: true, late: true}},
		init: func(ctx context.Context, w *wiring) (service, error) {
			ntf := w.conn(Notify)
			if err := w.err(); err != nil {
				return nil, err
			}
			svc, err := accounts.New(ctx, w.cfg.Accounts, accounts.Deps{
				Logger: w.log, TracerProvider: w.tel.TracerProvider, MeterProvider: w.tel.MeterProvider,
				DataDir: w.cfg.DataDir, Version: Version(),
				Notify: notifyClient(ntf),
			})
			if err != nil {
				return nil, err
			}
			accountsv1.RegisterAccountsServiceServer(w.grpc, svc)
			accountsv1.RegisterAccountsInternalServiceServer(w.grpc, svc.Internal())
			return svc, nil
		},
	}
}

func searchModule() module {
	return module{
		name: Search,
		// Recordings is read only to refresh an upgraded index (late: it
		// calls search back); without it the log names `sightline reindex`.
		deps: []dependency{{module: Accounts}, {module: Recordings, optional: true, late: true}},
		init: func(ctx context.Context, w *wiring) (service, error) {
			acc, rec := w.conn(Accounts), w.conn(Recordings)
			if err := w.err(); err != nil {
				return nil, err
			}
			svc, err := search.New(ctx, w.cfg.Search, search.Deps{
				Logger: w.log, TracerProvider: w.tel.TracerProvider, MeterProvider: w.tel.MeterProvider,
				DataDir:    w.cfg.DataDir,
				Authorizer: siteaccess.New(accountsv1.NewAccountsInternalServiceClient(acc)),
				Recordings: recordingsClient(rec),
			})
			if err != nil {
				return nil, err
			}
			searchv1.RegisterSearchServiceServer(w.grpc, svc)
			searchv1.RegisterSearchInternalServiceServer(w.grpc, svc.Internal())
			trafficv1.RegisterTrafficServiceServer(w.grpc, svc.Traffic())
			trafficv1.RegisterTrafficInternalServiceServer(w.grpc, svc.Traffic())
			return svc, nil
		},
	}
}

func recordingsModule() module {
	return module{
		name: Recordings,
		// Without notify (neither here nor remote.notify) recordings ends
		// sessions but publishes no events.
		deps: []dependency{{module: Search}, {module: Accounts}, {module: Notify, optional: true, late: true}},
		init: func(ctx context.Context, w *wiring) (service, error) {
			srch, acc, ntf := w.conn(Search), w.conn(Accounts), w.conn(Notify)
			if err := w.err(); err != nil {
				return nil, err
			}
			svc, err := recordings.New(ctx, w.cfg.Recordings, recordings.Deps{
				Logger: w.log, TracerProvider: w.tel.TracerProvider, MeterProvider: w.tel.MeterProvider,
				DataDir:    w.cfg.DataDir,
				Search:     searchv1.NewSearchInternalServiceClient(srch),
				Authorizer: siteaccess.New(accountsv1.NewAccountsInternalServiceClient(acc)),
				Notify:     notifyClient(ntf),
			})
			if err != nil {
				return nil, err
			}
			recordingsv1.RegisterRecordingsServiceServer(w.grpc, svc)
			recordingsv1.RegisterRecordingsInternalServiceServer(w.grpc, svc.Internal())
			return svc, nil
		},
	}
}

func notifyModule() module {
	return module{
		name: Notify,
		deps: []dependency{{module: Accounts}, {module: Search}, {module: Recordings}},
		init: func(ctx context.Context, w *wiring) (service, error) {
			acc, srch, rec := w.conn(Accounts), w.conn(Search), w.conn(Recordings)
			if err := w.err(); err != nil {
				return nil, err
			}
			accInternal := accountsv1.NewAccountsInternalServiceClient(acc)
			svc, err := notify.New(ctx, w.cfg.Notify, notify.Deps{
				Logger: w.log, TracerProvider: w.tel.TracerProvider, MeterProvider: w.tel.MeterProvider,
				DataDir:          w.cfg.DataDir,
				AccountsInternal: accInternal,
				Authorizer:       siteaccess.New(accInternal),
				Search:           searchv1.NewSearchInternalServiceClient(srch),
				Recordings:       recordingsv1.NewRecordingsInternalServiceClient(rec),
			})
			if err != nil {
				return nil, err
			}
			notifyv1.RegisterNotifyServiceServer(w.grpc, svc)
			notifyv1.RegisterNotifyInternalServiceServer(w.grpc, svc.Internal())
			return svc, nil
		},
	}
}

func ingestModule() module {
	return module{
		name: Ingest,
		deps: []dependency{{module: Accounts}, {module: Recordings}, {module: Search}},
		init: func(ctx context.Context, w *wiring) (service, error) {
			acc, rec, srch := w.conn(Accounts), w.conn(Recordings), w.conn(Search)
			if err := w.err(); err != nil {
				return nil, err
			}
			svc, err := ingest.New(ctx, w.cfg.Ingest, ingest.Deps{
				Logger: w.log, TracerProvider: w.tel.TracerProvider, MeterProvider: w.tel.MeterProvider,
				Propagator: w.tel.Propagator, DataDir: w.cfg.DataDir,
				Accounts:   accountsv1.NewAccountsInternalServiceClient(acc),
				Recordings: recordingsv1.NewRecordingsInternalServiceClient(rec),
				Traffic:    trafficv1.NewTrafficInternalServiceClient(srch),
			})
			if err != nil {
				return nil, err
			}
			ingestv1.RegisterIngestServiceServer(w.grpc, svc)
			svc.RegisterHTTP(w.http)
			// /readyz/ingest checks only what intake needs: besides the
			// service's own check (spool not full), that the spool's disk
			// takes writes. Not accounts (settings are cached) nor
			// recordings (batches wait in the spool) nor search (hits wait
			// in the traffic spool).
			spoolDir := w.cfg.Ingest.SpoolDir
			if spoolDir == "" {
				spoolDir = filepath.Join(w.cfg.DataDir, "spool")
			}
			trafficDir := ingest.TrafficSpoolDir(w.cfg.Ingest, w.cfg.DataDir)
			w.checks.Add(Ingest, func(context.Context) error {
				return errors.Join(dirWritable(spoolDir), dirWritable(trafficDir))
			})
			return svc, nil
		},
	}
}

func gatewayModule() module {
	return module{
		name: Gateway,
		// Without ingest or notify the API lacks their routes (notify's
		// answer that notifications are off).
		deps: []dependency{{module: Accounts}, {module: Recordings}, {module: Search}, {module: Ingest, optional: true}, {module: Notify, optional: true}},
		init: func(ctx context.Context, w *wiring) (service, error) {
			deps := gateway.Deps{
				Logger: w.log, TracerProvider: w.tel.TracerProvider, Propagator: w.tel.Propagator, Version: Version(),
				Accounts: w.conn(Accounts), Recordings: w.conn(Recordings), Search: w.conn(Search),
				Ingest: w.conn(Ingest), Notify: w.conn(Notify),
			}
			if err := w.err(); err != nil {
				return nil, err
			}
			if w.cfg.DemoEnabled() {
				shop, err := demo.New(demo.Options{IngestURL: w.cfg.Ingest.PublicURL, BasePath: w.cfg.Gateway.BasePath})
				if err != nil {
					return nil, err
				}
				deps.Demo = shop
			}
			svc, err := gateway.New(ctx, w.cfg.Gateway, deps)
			if err != nil {
				return nil, err
			}
			svc.RegisterHTTP(w.http)
			return svc, nil
		},
	}
}

// recordingsClient is recordings' internal client over conn, nil without
// one (search then leaves an index refresh to `sightline reindex`).
func recordingsClient(conn *grpc.ClientConn) recordingsv1.RecordingsInternalServiceClient {
	if conn == nil {
		return nil
	}
	return recordingsv1.NewRecordingsInternalServiceClient(conn)
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
