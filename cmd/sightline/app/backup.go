package app

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/sightlinehq/sightline/platform/admin"
	"github.com/sightlinehq/sightline/platform/backup"
)

// BackupPath is the admin listener's backup endpoint: POST with the
// service secret as a bearer token; the answer is the backup as a tar
// stream (backup.Stream), its manifest last.
const BackupPath = "/backup"

// backupOrder is the order modules copy their stores in: ingest's spool
// before recordings, recordings before search and notify. Each copy is
// taken after the copies of what delivers into it, so a record that one
// copy counts as delivered is in the next (see README, Backups).
var backupOrder = []string{Ingest, Recordings, Search, Accounts, Notify}

// backupModule is a module whose embedded stores copy themselves.
type backupModule interface {
	Backup(ctx context.Context, dir string) error
}

// adminHandler is the admin listener's mux: platform/admin's endpoints
// and the backup endpoint.
func (a *App) adminHandler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/", admin.NewHandler(a.tel, a.checks))
	mux.HandleFunc("POST "+BackupPath, a.serveBackup)
	return mux
}

// serveBackup takes an online backup of this process's embedded stores.
// The admin listener is operator-only by binding (127.0.0.1 by default);
// the endpoint also demands the service secret, since it hands out every
// store's contents.
func (a *App) serveBackup(w http.ResponseWriter, r *http.Request) {
	token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || a.secret == "" || subtle.ConstantTimeCompare([]byte(token), []byte(a.secret)) != 1 {
		http.Error(w, "the backup endpoint needs the service secret as a bearer token (sightline backup reads it like the other processes)", http.StatusUnauthorized)
		return
	}
	if !a.backupMu.TryLock() {
		http.Error(w, "a backup is already running in this process", http.StatusConflict)
		return
	}
	defer a.backupMu.Unlock()
	if a.backupCtx.Err() != nil {
		http.Error(w, "the process is shutting down", http.StatusServiceUnavailable)
		return
	}
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	defer context.AfterFunc(a.backupCtx, cancel)()

	start := time.Now()
	stage, err := os.MkdirTemp(a.cfg.DataDir, ".backup-")
	if err != nil {
		http.Error(w, "backup: staging directory: "+err.Error(), http.StatusInternalServerError)
		return
	}
	defer os.RemoveAll(stage)
	if err := a.backupStores(ctx, stage); err != nil {
		a.logger.ErrorContext(ctx, "backup failed", "error", err)
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	if ents, err := os.ReadDir(stage); err == nil && len(ents) == 0 {
		http.Error(w, fmt.Sprintf("this process (%s) holds no embedded store: back up the processes that do", strings.Join(a.targets, ", ")), http.StatusConflict)
		return
	}
	took := time.Since(start)
	w.Header().Set("Content-Type", "application/x-tar")
	w.Header().Set("Cache-Control", "no-store")
	m, err := backup.Stream(w, stage, Version(), start, took)
	if err != nil {
		// The status is sent: the stream ends without its manifest, which
		// the receiver reports.
		a.logger.ErrorContext(ctx, "backup stream failed", "error", err)
		return
	}
	var bytes int64
	for _, s := range m.Stores {
		bytes += s.Bytes
	}
	a.logger.InfoContext(ctx, "backup taken", "stores", len(m.Stores), "bytes", bytes, "copy", took.Round(time.Millisecond), "total", time.Since(start).Round(time.Millisecond))
}

// backupStores has every module of this process that has embedded stores
// copy them into stage, in backupOrder, then copies the service secret
// when it lives in the data directory.
func (a *App) backupStores(ctx context.Context, stage string) error {
	for _, name := range backupOrder {
		i := slices.IndexFunc(a.modules, func(m runningModule) bool { return m.name == name })
		if i < 0 {
			continue
		}
		b, ok := a.modules[i].svc.(backupModule)
		if !ok {
			continue
		}
		if err := b.Backup(ctx, stage); err != nil {
			return fmt.Errorf("backup: %w", err)
		}
	}
	if a.cfg.Server.ServiceSecretFile == "" {
		if err := copySecret(filepath.Join(a.cfg.DataDir, serviceSecretName), filepath.Join(stage, serviceSecretName)); err != nil {
			return fmt.Errorf("backup: service secret: %w", err)
		}
	}
	return nil
}

func copySecret(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	_, err = io.Copy(out, in)
	return errors.Join(err, out.Close())
}

// stopBackups ends a backup in flight (its current store's copy finishes)
// and refuses new ones, before the stores close.
func (a *App) stopBackups() {
	a.backupStop()
	a.backupMu.Lock()
}
