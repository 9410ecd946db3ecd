package main

// Backup and restore (issue 18): `sightline backup` against a process under
// ingest load, `sightline restore` into a fresh data directory, a process
// started on it, and the refusals.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/metadata"

	recordingsv1 "github.com/sightlinehq/sightline/gen/sightline/recordings/v1"
	"github.com/sightlinehq/sightline/internal/poll"
	"github.com/sightlinehq/sightline/platform/backup"
)

// runCommand runs the binary with args and returns its stdout, stderr and
// error.
func runCommand(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(binary, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	return stdout.String(), stderr.String(), err
}

// chunksBySession reads from p's recordings, with the site's API key, how
// many chunks each of d's sessions holds.
func chunksBySession(t *testing.T, p *process, d *dashboard) map[string]int32 {
	t.Helper()
	conn := p.internalConn(t)
	defer conn.Close()
	rec := recordingsv1.NewRecordingsInternalServiceClient(conn)
	ctx := metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer "+d.apiKey)
	stored := map[string]int32{}
	for token := ""; ; {
		page, err := rec.ListSessionSummaries(ctx, &recordingsv1.ListSessionSummariesRequest{SiteId: d.siteID, PageSize: 1000, PageToken: token})
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range page.GetSessions() {
			stored[s.GetSessionId()] += s.GetChunkCount()
		}
		if token = page.GetNextPageToken(); token == "" {
			return stored
		}
	}
}

// accountsView is what the dashboard shows of accounts and notify's
// settings: compared before the backup and after the restore.
func accountsView(d *dashboard) map[string]any {
	site := strconv.FormatInt(d.siteID, 10)
	view := map[string]any{}
	for _, path := range []string{"/api/v1/me", "/api/v1/organizations/" + d.org + "/sites", "/api/v1/organizations/" + d.org + "/api-keys",
		"/api/v1/organizations/" + d.org + "/members", "/api/v1/sites/" + site + "/webhooks", "/api/v1/sites/" + site + "/alert-rules"} {
		view[path] = d.call("GET", path, nil)
	}
	return view
}

// TestBackupRestoreUnderLoad: a backup taken while ingest accepts 20
// batches a second is restored into a fresh data directory; a process
// started on it holds every batch answered 204 before the backup began
// (one chunk each, searchable), the same users, organisation, sites, keys
// and notify settings, and signs the same cookie in.
func TestBackupRestoreUnderLoad(t *testing.T) {
	p := startServe(t, nil)
	dataDir := flagValue(p.args, "data-dir")
	d := newDashboard(t, p)
	site := strconv.FormatInt(d.siteID, 10)
	d.call("POST", "/api/v1/sites/"+site+"/webhooks", map[string]any{"url": "https://hooks.example.com/sightline", "events": []string{"session.ended"}})
	d.call("POST", "/api/v1/sites/"+site+"/alert-rules", map[string]any{"rule": map[string]any{"siteId": site, "enabled": true, "answer": map[string]any{"maxRating": 2, "maxNps": -1}}})
	view := accountsView(d)

	l := startLoad(p, d.key, "backup")
	waitFlowing(t, d, l)
	// Let a backlog build in the spool too: the last second's batches are
	// accepted but not all delivered when the backup starts.
	time.Sleep(time.Second)
	l.mu.Lock()
	before := slices.Clone(l.accepted)
	l.mu.Unlock()

	dir := filepath.Join(t.TempDir(), "backup")
	began := time.Now()
	out, stderr, err := runCommand(t, "backup", "--data-dir", dataDir, "--admin-address", p.addrs.Admin, "--to", dir)
	if err != nil {
		t.Fatalf("sightline backup: %v\n%s%s\n%s", err, out, stderr, p.logs)
	}
	t.Logf("backup under load took %v:\n%s", time.Since(began).Round(time.Millisecond), out)
	time.Sleep(500 * time.Millisecond) // more load after the backup, which it need not hold
	accepted := l.halt(t)
	if len(accepted) <= len(before) {
		t.Errorf("no batch was accepted after the backup began (%d before, %d in all): the load stopped", len(before), len(accepted))
	}
	p.stop()

	m, err := backup.Verify(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range m.Stores {
		names = append(names, s.Name)
	}
	for _, want := range []string{"accounts.db", "notify.db", "notify.key", "recordings", "search", "service-secret", "spool", "spool-traffic", "traffic"} {
		if !slices.Contains(names, want) {
			t.Errorf("backup holds %v, not %s", names, want)
		}
	}

	restored := filepath.Join(t.TempDir(), "restored")
	if out, stderr, err := runCommand(t, "restore", "--from", dir, "--data-dir", restored); err != nil {
		t.Fatalf("sightline restore: %v\n%s%s", err, out, stderr)
	}
	q := startServe(t, nil, "--data-dir", restored)

	// The same cookie, user, organisation, sites, keys, webhooks and rules.
	d2 := *d
	d2.base = "http://" + q.addrs.HTTP
	if got := accountsView(&d2); !reflect.DeepEqual(got, view) {
		gb, _ := json.Marshal(got)
		wb, _ := json.Marshal(view)
		t.Errorf("after the restore the dashboard shows\n%s\nbefore the backup\n%s", gb, wb)
	}
	// Every batch answered 204 before the backup began is stored once
	// (from recordings' copy, or delivered again from the spool's).
	var stored map[string]int32
	poll.Until(t, 10*time.Second, func() error {
		stored = chunksBySession(t, q, &d2)
		var missing []string
		for _, s := range before {
			if stored[s] != 1 {
				missing = append(missing, fmt.Sprintf("%s: %d chunks", s, stored[s]))
			}
		}
		if len(missing) > 0 {
			return fmt.Errorf("%d of the %d sessions accepted before the backup are not stored once: %v", len(missing), len(before), missing)
		}
		return nil
	})
	for s, n := range stored {
		if n != 1 || !slices.Contains(accepted, s) {
			t.Errorf("restored recordings hold session %s with %d chunks; one batch of each accepted session was sent", s, n)
		}
	}
	// Search finds every stored session (the index's copy, and what
	// recordings' outbox delivers again).
	waitSearchable(t, &d2, len(stored), time.Now(), 10*time.Second)
	t.Logf("%d batches accepted before the backup, %d in all; %d sessions restored", len(before), len(accepted), len(stored))

	// Refusals: the data directory of a running process, one that is not
	// empty, a damaged backup, one from a newer Sightline, a backup
	// directory that is not empty, a caller without the service secret.
	refused := func(what, want string, args ...string) {
		t.Helper()
		out, stderr, err := runCommand(t, args...)
		if err == nil || !strings.Contains(stderr, want) {
			t.Errorf("%s: err %v, stderr %q, stdout %q; want a refusal saying %q", what, err, stderr, out, want)
		}
	}
	refused("restore into a running process's data directory", "in use by a running process", "restore", "--from", dir, "--data-dir", restored, "--force")
	refused("restore into a data directory that is not empty", "is not empty", "restore", "--from", dir, "--data-dir", dataDir)
	refused("backup into a directory that is not empty", "is not empty", "backup", "--data-dir", restored, "--admin-address", q.addrs.Admin, "--to", dir)

	damaged := copyBackup(t, dir)
	seg := filepath.Join(damaged, filepath.FromSlash(m.Stores[slices.Index(names, "accounts.db")].Files[0].Path))
	b, err := os.ReadFile(seg)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 0xff
	if err := os.WriteFile(seg, b, 0o600); err != nil {
		t.Fatal(err)
	}
	refused("restore of a damaged backup", "checksum mismatch", "restore", "--from", damaged, "--data-dir", filepath.Join(t.TempDir(), "d"))

	newer := copyBackup(t, dir)
	mb, err := os.ReadFile(filepath.Join(newer, backup.ManifestName))
	if err != nil {
		t.Fatal(err)
	}
	mb = bytes.Replace(mb, []byte(fmt.Sprintf(`"format": %d`, backup.Format)), []byte(fmt.Sprintf(`"format": %d`, backup.Format+1)), 1)
	if err := os.WriteFile(filepath.Join(newer, backup.ManifestName), mb, 0o600); err != nil {
		t.Fatal(err)
	}
	refused("restore of a backup from a newer Sightline", "cannot read it", "restore", "--from", newer, "--data-dir", filepath.Join(t.TempDir(), "d"))

	req, _ := http.NewRequest("POST", "http://"+q.addrs.Admin+"/backup", nil)
	req.Header.Set("Authorization", "Bearer not-the-secret")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("backup with a wrong secret = %d, want 401", resp.StatusCode)
	}
	q.stop()
	if ents, err := os.ReadDir(restored); err != nil {
		t.Fatal(err)
	} else {
		for _, e := range ents {
			if strings.HasPrefix(e.Name(), ".backup-") || strings.HasPrefix(e.Name(), ".restore-") {
				t.Errorf("%s left in the data directory", e.Name())
			}
		}
	}
}

// copyBackup copies the backup directory dir to a new one.
func copyBackup(t *testing.T, dir string) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "copy")
	if err := os.CopyFS(dst, os.DirFS(dir)); err != nil {
		t.Fatal(err)
	}
	return dst
}
