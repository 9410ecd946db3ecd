package app

import (
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/sightlinehq/sightline/platform/backup"
	"github.com/sightlinehq/sightline/platform/rpc"
)

func postBackup(t *testing.T, a *App, secret string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, "http://"+a.Addrs().Admin+BackupPath, nil)
	if err != nil {
		t.Fatal(err)
	}
	if secret != "" {
		req.Header.Set("Authorization", "Bearer "+secret)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

// TestBackupEndpoint: the admin listener's backup answers only the
// service secret, one at a time, with every embedded store of the
// process, and says so when a process holds none; it leaves no staging
// directory behind.
func TestBackupEndpoint(t *testing.T) {
	cfg := defaults(t, All)
	a := start(t, cfg, nil)
	secret, err := rpc.ReadServiceSecret(filepath.Join(cfg.DataDir, serviceSecretName))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"", "x" + secret} {
		if resp := postBackup(t, a, s); resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("backup with secret %q = %s, want 401", s, resp.Status)
		}
	}

	a.backupMu.Lock()
	resp := postBackup(t, a, secret)
	a.backupMu.Unlock()
	if resp.StatusCode != http.StatusConflict {
		t.Errorf("backup while another runs = %s, want 409", resp.Status)
	}

	resp = postBackup(t, a, secret)
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/x-tar" {
		t.Fatalf("backup = %s (%s)", resp.Status, resp.Header.Get("Content-Type"))
	}
	m, err := backup.Receive(resp.Body, filepath.Join(t.TempDir(), "backup"))
	if err != nil {
		t.Fatal(err)
	}
	var stores []string
	for _, s := range m.Stores {
		stores = append(stores, s.Name)
	}
	for _, want := range []string{"accounts.db", "notify.db", "notify.key", "recordings", "search", serviceSecretName, "spool", "spool-traffic", "traffic"} {
		if !slices.Contains(stores, want) {
			t.Errorf("backup holds %v, not %s", stores, want)
		}
	}
	if m.Format != backup.Format || m.Version != Version() {
		t.Errorf("manifest format %d, version %q; want %d, %q", m.Format, m.Version, backup.Format, Version())
	}
	ents, err := os.ReadDir(cfg.DataDir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), ".backup-") {
			t.Errorf("staging directory %s left in the data directory", e.Name())
		}
	}

	// A gateway alone holds nothing to back up.
	gw := defaults(t, Gateway)
	gw.Remote = RemoteConfig{Accounts: a.Addrs().GRPC, Recordings: a.Addrs().GRPC, Search: a.Addrs().GRPC}
	g := start(t, gw, nil)
	meshSecret, err := rpc.ReadServiceSecret(meshSecretFile)
	if err != nil {
		t.Fatal(err)
	}
	if resp := postBackup(t, g, meshSecret); resp.StatusCode != http.StatusConflict {
		t.Errorf("backup of a gateway alone = %s, want 409", resp.Status)
	}
}
