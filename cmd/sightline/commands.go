package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/sightlinehq/sightline/cmd/sightline/app"
	recordingsv1 "github.com/sightlinehq/sightline/gen/sightline/recordings/v1"
	searchv1 "github.com/sightlinehq/sightline/gen/sightline/search/v1"
	"github.com/sightlinehq/sightline/platform/rpc"
	"github.com/sightlinehq/sightline/platform/telemetry"
	accounts "github.com/sightlinehq/sightline/svc-accounts"
	search "github.com/sightlinehq/sightline/svc-search"
)

// migrate applies accounts' schema migrations (they also run on start).
func migrate(ctx context.Context, args []string, stderr io.Writer) error {
	cfg, _, err := loadConfig("migrate", args, stderr, nil)
	if err != nil {
		return err
	}
	if err := accounts.Migrate(ctx, cfg.Accounts, cfg.DataDir); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	fmt.Fprintln(stderr, "migrations applied")
	return nil
}

const adminUsage = `Usage:
  sightline admin create-user -email E -password-file F [-organization NAME] [-operator] [serve flags]
  sightline admin maintenance -on|-off [-message TEXT] [serve flags]
`

// adminCommand runs operator tasks directly against accounts' database.
func adminCommand(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, adminUsage)
		return errors.New("admin: no command given")
	}
	switch args[0] {
	case "create-user":
		var email, passwordFile, org string
		var operator bool
		cfg, _, err := loadConfig("admin create-user", args[1:], stderr, func(fs *flag.FlagSet) {
			fs.StringVar(&email, "email", "", "E-mail address of the new user.")
			fs.StringVar(&passwordFile, "password-file", "", "File holding the password (never a flag value, so it stays out of shell history).")
			fs.StringVar(&org, "organization", "", "Name of the user's first organisation (default: from the e-mail).")
			fs.BoolVar(&operator, "operator", false, "Make the user an operator of this installation.")
		})
		if err != nil {
			return err
		}
		if email == "" || passwordFile == "" {
			return errors.New("admin create-user: -email and -password-file are required")
		}
		pw, err := os.ReadFile(passwordFile)
		if err != nil {
			return fmt.Errorf("admin create-user: -password-file: %w", err)
		}
		if org == "" {
			org = email
		}
		adm, err := accounts.OpenAdmin(ctx, cfg.Accounts, cfg.DataDir)
		if err != nil {
			return fmt.Errorf("admin: %w", err)
		}
		defer adm.Close()
		userID, orgID, err := adm.CreateUser(ctx, email, trimNewline(string(pw)), org, operator)
		if err != nil {
			return fmt.Errorf("admin create-user: %w", err)
		}
		fmt.Fprintf(stdout, "created user %d in organisation %d\n", userID, orgID)
		return nil
	case "maintenance":
		var on, off bool
		var message string
		cfg, _, err := loadConfig("admin maintenance", args[1:], stderr, func(fs *flag.FlagSet) {
			fs.BoolVar(&on, "on", false, "Turn maintenance mode on.")
			fs.BoolVar(&off, "off", false, "Turn maintenance mode off.")
			fs.StringVar(&message, "message", "", "Banner shown in the dashboard.")
		})
		if err != nil {
			return err
		}
		if on == off {
			return errors.New("admin maintenance: give exactly one of -on and -off")
		}
		adm, err := accounts.OpenAdmin(ctx, cfg.Accounts, cfg.DataDir)
		if err != nil {
			return fmt.Errorf("admin: %w", err)
		}
		defer adm.Close()
		if err := adm.SetMaintenance(ctx, on, message); err != nil {
			return fmt.Errorf("admin maintenance: %w", err)
		}
		fmt.Fprintf(stdout, "maintenance mode %s\n", map[bool]string{true: "on", false: "off"}[on])
		return nil
	default:
		fmt.Fprint(stderr, adminUsage)
		return fmt.Errorf("admin: unknown command %q", args[0])
	}
}

// reindex rebuilds search from recordings' summaries over gRPC, resumably.
func reindex(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var siteID int64
	var recordingsAddr, searchAddr, cursor string
	cfg, _, err := loadConfig("reindex", args, stderr, func(fs *flag.FlagSet) {
		fs.Int64Var(&siteID, "site", 0, "Site to reindex (0: every site).")
		fs.StringVar(&recordingsAddr, "from", "127.0.0.1:9090", "gRPC address of svc-recordings.")
		fs.StringVar(&searchAddr, "to", "127.0.0.1:9090", "gRPC address of svc-search.")
		fs.StringVar(&cursor, "cursor-file", "", "Where progress is kept so an interrupted run resumes (default: <data-dir>/reindex.cursor).")
	})
	if err != nil {
		return err
	}
	if cursor == "" {
		cursor = filepath.Join(cfg.DataDir, "reindex.cursor")
	}
	tel, err := telemetry.Setup(ctx, telemetry.Options{ServiceName: "sightline-reindex", Version: app.Version()})
	if err != nil {
		return err
	}
	defer tel.Shutdown(context.WithoutCancel(ctx))
	opts := rpc.ClientOptions{DefaultTimeout: cfg.Server.ClientTimeout, MaxRecvMsgBytes: cfg.Server.MaxMessageBytes}
	rc, err := rpc.Dial(recordingsAddr, tel, opts)
	if err != nil {
		return fmt.Errorf("reindex: -from: %w", err)
	}
	defer rc.Close()
	sc, err := rpc.Dial(searchAddr, tel, opts)
	if err != nil {
		return fmt.Errorf("reindex: -to: %w", err)
	}
	defer sc.Close()
	return search.Reindex(ctx, recordingsv1.NewRecordingsServiceClient(rc), searchv1.NewSearchServiceClient(sc), siteID, cursor, stdout)
}

func trimNewline(s string) string {
	for len(s) > 0 && (s[len(s)-1] == '\n' || s[len(s)-1] == '\r') {
		s = s[:len(s)-1]
	}
	return s
}
