// Command sightline is the one binary of Sightline: `sightline serve` runs
// every service in one process, `sightline serve -target=ingest,search` runs
// some of them. See `sightline help`.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/sightlinehq/sightline/cmd/sightline/app"
	"github.com/sightlinehq/sightline/platform/config"
	"github.com/sightlinehq/sightline/platform/memorylimit"
	"github.com/sightlinehq/sightline/platform/openfiles"
)

const usage = `sightline — self-hosted session recordings, heatmaps and feedback.

Usage:
  sightline serve   [flags]   run the services named by -target (default: all, one process)
  sightline migrate [flags]   apply database migrations and exit
  sightline admin   <command> operator tasks (create-user, maintenance); see sightline admin -h
  sightline reindex [flags]   rebuild the search index from recordings' summaries
  sightline heatmaps rebuild  recompute a site's heatmaps from its recordings; see sightline heatmaps -h
  sightline spool   <command> ingest's spool: dead-letter list|show|replay; see sightline spool -h
  sightline backup  -to DIR   online copy of a running process's embedded stores [-admin-address A]
  sightline restore -from DIR place a backup in -data-dir (process stopped) [-force]
  sightline version           print the build version

Every flag of serve can also be set in a YAML file (-config.file) or as
SIGHTLINE_<FLAG> in the environment; run 'sightline serve -h' for the list.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(0)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "sightline:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return errors.New("no command given")
	}
	switch cmd, rest := args[0], args[1:]; cmd {
	case "serve":
		return serve(ctx, rest, stdout, stderr)
	case "migrate":
		return migrate(ctx, rest, stderr)
	case "admin":
		return adminCommand(ctx, rest, stdout, stderr)
	case "reindex":
		return reindex(ctx, rest, stdout, stderr)
	case "spool":
		return spoolCommand(ctx, rest, stdout, stderr)
	case "heatmaps":
		return heatmapsCommand(ctx, rest, stdout, stderr)
	case "backup":
		return backupCommand(ctx, rest, stdout, stderr)
	case "restore":
		return restoreCommand(ctx, rest, stdout, stderr)
	case "version", "-version", "--version":
		fmt.Fprintln(stdout, app.Version())
		return nil
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	default:
		fmt.Fprint(stderr, usage)
		return fmt.Errorf("unknown command %q", cmd)
	}
}

// loadConfig registers every flag of the process configuration (plus
// extra) on a new flag set and loads defaults, file, environment and args.
// It also returns the settings that differ from their defaults, for the
// start-up log; secrets print as "[redacted]" through their flag.Value.
func loadConfig(name string, args []string, stderr io.Writer, extra func(*flag.FlagSet)) (app.Config, []any, error) {
	var cfg app.Config
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfg.RegisterFlags(fs)
	config.RegisterFileFlag(fs)
	if extra != nil {
		extra(fs)
	}
	if err := config.Load(fs, args, os.LookupEnv, &cfg); err != nil {
		return cfg, nil, err
	}
	var changed []any
	fs.VisitAll(func(f *flag.Flag) {
		if v := f.Value.String(); v != f.DefValue {
			changed = append(changed, slog.String(f.Name, v))
		}
	})
	return cfg, changed, nil
}

// logOpenFiles says what the process may open and what each embedded
// store's file cache took of it (openfiles), warning below openfiles.Low.
func logOpenFiles(ctx context.Context, log *slog.Logger) {
	limit, err := openfiles.Limit()
	switch {
	case err != nil:
		log.WarnContext(ctx, "open file limit", slog.Any("error", err))
	case limit < openfiles.Low:
		log.WarnContext(ctx, "open file limit", append(openfiles.Attrs(limit), slog.Bool("low", true),
			slog.String("advice", fmt.Sprintf("below %d the embedded stores keep fewer files open (reopening more) and connections compete for the rest: raise it (systemd LimitNOFILE, ulimit -n, the container runtime's nofile)", openfiles.Low)))...)
	default:
		log.InfoContext(ctx, "open file limit", openfiles.Attrs(limit)...)
	}
}

func serve(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var verify, printURL bool
	cfg, changed, err := loadConfig("serve", args, stderr, func(fs *flag.FlagSet) {
		fs.BoolVar(&verify, "config.verify", false, "Load and validate the configuration, then exit.")
		fs.BoolVar(&printURL, "print-url", false, "Print the dashboard's URL on stderr once it serves (always done when stderr is a terminal).")
	})
	if err != nil {
		return err
	}
	if verify {
		fmt.Fprintln(stdout, "configuration is valid")
		return nil
	}
	a, err := app.New(ctx, cfg, app.Options{})
	if err != nil {
		return err
	}
	a.SetGlobalTelemetry()
	a.Logger().InfoContext(ctx, "configuration", slog.Group("changed", changed...))
	// Process-wide, so here rather than in app.New (tests run many Apps in
	// one process). A limit that cannot be read costs the protection, not
	// the service: warn and go on.
	if limit, err := memorylimit.Apply(ctx, cfg.Runtime.MemoryLimitRatio, a.Logger()); err != nil {
		a.Logger().WarnContext(ctx, "memory limit not set", slog.Any("error", err))
	} else {
		a.Logger().InfoContext(ctx, "memory limit", limit.Attrs()...)
	}
	logOpenFiles(ctx, a.Logger())
	if printURL || isTerminal(stderr) {
		go announceURL(ctx, a.Started(), a.Addrs().HTTP, stderr)
	}
	return a.Run(ctx)
}
