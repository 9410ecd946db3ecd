package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"strings"
	"text/tabwriter"

	"github.com/sightlinehq/sightline/cmd/sightline/app"
	"github.com/sightlinehq/sightline/platform/backup"
)

// backupCommand asks a running process (its admin listener) for an online
// backup of its embedded stores and writes it to -to.
func backupCommand(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var to, adminAddr string
	cfg, _, err := loadConfig("backup", args, stderr, func(fs *flag.FlagSet) {
		fs.StringVar(&to, "to", "", "New or empty directory the backup is written to (required).")
		fs.StringVar(&adminAddr, "admin-address", "", "Admin listener of the running process (default: --admin.listen-address).")
	})
	if err != nil {
		return err
	}
	if to == "" {
		return errors.New("backup: -to is required")
	}
	if adminAddr == "" {
		adminAddr = cfg.Admin.ListenAddress
	}
	secret, err := cfg.ServiceSecret(false)
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+adminAddr+app.BackupPath, nil)
	if err != nil {
		return fmt.Errorf("backup: -admin-address: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+secret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("backup: is sightline running with its admin listener at %s? %w", adminAddr, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
		return fmt.Errorf("backup: %s answered %s: %s", adminAddr, resp.Status, strings.TrimSpace(string(msg)))
	}
	m, err := backup.Receive(resp.Body, to)
	if err != nil {
		return err
	}
	printManifest(stdout, fmt.Sprintf("backup of Sightline %s in %s (stores copied in %s)", m.Version, to, m.Took), m)
	return nil
}

// restoreCommand checks a backup and places its stores in --data-dir.
func restoreCommand(_ context.Context, args []string, stdout, stderr io.Writer) error {
	var from string
	var force bool
	cfg, _, err := loadConfig("restore", args, stderr, func(fs *flag.FlagSet) {
		fs.StringVar(&from, "from", "", "Backup directory written by sightline backup (required).")
		fs.BoolVar(&force, "force", false, "Restore into a data directory that is not empty, replacing the stores the backup holds.")
	})
	if err != nil {
		return err
	}
	if from == "" {
		return errors.New("restore: -from is required")
	}
	m, err := backup.Restore(from, cfg.DataDir, force)
	if err != nil {
		return err
	}
	printManifest(stdout, fmt.Sprintf("restored the backup of %s (Sightline %s) into %s", m.Created.Format("2006-01-02 15:04:05 MST"), m.Version, cfg.DataDir), m)
	return nil
}

func printManifest(w io.Writer, title string, m backup.Manifest) {
	fmt.Fprintln(w, title)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	var files int
	var bytes int64
	for _, s := range m.Stores {
		fmt.Fprintf(tw, "  %s\t%d files\t%d bytes\t\n", s.Name, len(s.Files), s.Bytes)
		files += len(s.Files)
		bytes += s.Bytes
	}
	fmt.Fprintf(tw, "  total\t%d files\t%d bytes\t\n", files, bytes)
	_ = tw.Flush()
}
