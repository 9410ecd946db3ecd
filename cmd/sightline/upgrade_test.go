package main

// Upgrades (issue 18): the data directory of the previous release
// (testdata/upgrade, made by make-fixture.sh) opens with this binary and
// migrates; a data directory of a newer release is refused.

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/http/cookiejar"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sightlinehq/sightline/platform/storeformat"
)

// fixtureEnv reads testdata/upgrade/fixture.env: what make-fixture.sh
// wrote into the fixture.
func fixtureEnv(t *testing.T) map[string]string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "upgrade", "fixture.env"))
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{}
	for line := range strings.Lines(string(b)) {
		k, v, ok := strings.Cut(strings.TrimSpace(line), "=")
		if ok && !strings.HasPrefix(k, "#") {
			env[k] = strings.Trim(v, `'"`)
		}
	}
	return env
}

// unpackFixture unpacks the previous release's data directory into a new
// temporary directory.
func unpackFixture(t *testing.T) string {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", "upgrade", "datadir.tar.gz"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	root, err := os.OpenRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return dir
		}
		if err != nil {
			t.Fatal(err)
		}
		name := filepath.Clean(h.Name)
		switch h.Typeflag {
		case tar.TypeDir:
			err = root.MkdirAll(name, 0o750)
		case tar.TypeReg:
			var w *os.File
			if w, err = root.OpenFile(name, os.O_CREATE|os.O_EXCL|os.O_WRONLY, os.FileMode(h.Mode).Perm()); err == nil {
				_, err = io.Copy(w, tr)
				err = errors.Join(err, w.Close())
			}
		default:
			err = fmt.Errorf("unexpected entry type %c", h.Typeflag)
		}
		if err != nil {
			t.Fatalf("unpack %s: %v", h.Name, err)
		}
	}
}

// logIn logs in to p as the fixture's user and finds its one site.
func logIn(t *testing.T, p *process, env map[string]string) *dashboard {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	d := &dashboard{t: t, base: "http://" + p.addrs.HTTP, http: &http.Client{Jar: jar, Timeout: 10 * time.Second}, email: env["FIXTURE_EMAIL"]}
	d.call("POST", "/api/v1/auth/login", map[string]any{"email": d.email, "password": env["FIXTURE_PASSWORD"]})
	var orgs struct{ Organizations []struct{ ID string } }
	remarshal(t, d.call("GET", "/api/v1/organizations", nil), &orgs)
	if len(orgs.Organizations) != 1 {
		t.Fatalf("the fixture's user belongs to %d organisations, want 1", len(orgs.Organizations))
	}
	d.org = orgs.Organizations[0].ID
	var sites struct {
		Sites []struct {
			ID, SiteKey string
			Domains     []string
		}
	}
	remarshal(t, d.call("GET", "/api/v1/organizations/"+d.org+"/sites", nil), &sites)
	i := slices.IndexFunc(sites.Sites, func(s struct {
		ID, SiteKey string
		Domains     []string
	}) bool {
		return slices.Contains(s.Domains, env["FIXTURE_DOMAIN"])
	})
	if i < 0 {
		t.Fatalf("no site of %s among %+v", env["FIXTURE_DOMAIN"], sites.Sites)
	}
	d.siteID, _ = strconv.ParseInt(sites.Sites[i].ID, 10, 64)
	d.key = sites.Sites[i].SiteKey
	return d
}

func remarshal(t *testing.T, from map[string]any, to any) {
	t.Helper()
	b, _ := json.Marshal(from)
	if err := json.Unmarshal(b, to); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
}

// searchIDs answers the ids of the sessions filter matches, sorted.
func searchIDs(d *dashboard, filter map[string]any) []string {
	var res struct{ Sessions []struct{ SessionID string } }
	remarshal(d.t, d.call("POST", fmt.Sprintf("/api/v1/sites/%d/sessions:search", d.siteID), map[string]any{"pageSize": 50, "filter": filter}), &res)
	var ids []string
	for _, s := range res.Sessions {
		ids = append(ids, s.SessionID)
	}
	slices.Sort(ids)
	return ids
}

// replayEvents streams session's recording and answers its rrweb events'
// types in order.
func replayEvents(d *dashboard, session string) []int {
	d.t.Helper()
	code, _, body, err := d.do("GET", fmt.Sprintf("/api/v1/sites/%d/sessions/%s/recording", d.siteID, session), nil)
	if err != nil || code != http.StatusOK {
		d.t.Fatalf("replay of %s = %d %s, %v", session, code, body, err)
	}
	var types []int
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(nil, 16<<20)
	for sc.Scan() {
		var msg struct {
			Result *struct{ Events []byte }
			Error  any
		}
		if err := json.Unmarshal(sc.Bytes(), &msg); err != nil || msg.Result == nil {
			d.t.Fatalf("replay of %s: %q: %v", session, sc.Bytes(), err)
		}
		var events []struct{ Type int }
		if err := json.Unmarshal(msg.Result.Events, &events); err != nil {
			d.t.Fatalf("replay of %s: events %q: %v", session, msg.Result.Events, err)
		}
		for _, e := range events {
			types = append(types, e.Type)
		}
	}
	return types
}

// TestUpgradeFromPreviousRelease: this binary serves the data directory
// the previous release wrote — the user logs in, lists, replays and
// searches its sessions, the tracker is served, and new batches are stored
// and indexed beside the old ones; then a copy of the upgraded directory
// whose accounts schema, recordings format, spool format or index schema
// is a newer release's is refused at start, naming that store.
func TestUpgradeFromPreviousRelease(t *testing.T) {
	env := fixtureEnv(t)
	dir := unpackFixture(t)
	p := startServe(t, nil, "--data-dir", dir)
	d := logIn(t, p, env)

	want := []string{"s_upgradefixture00000001", "s_upgradefixture00000002", "s_upgradefixture00000003"}
	if got := searchIDs(d, nil); !slices.Equal(got, want) {
		t.Errorf("sessions list = %v, want %v", got, want)
	}
	if got := searchIDs(d, map[string]any{"userId": env["FIXTURE_USER"]}); !slices.Equal(got, want[:1]) {
		t.Errorf("search by user %s = %v, want %v", env["FIXTURE_USER"], got, want[:1])
	}
	if got := searchIDs(d, map[string]any{"customEvent": env["FIXTURE_EVENT"]}); !slices.Equal(got, want[:1]) {
		t.Errorf("search by custom event %s = %v, want %v", env["FIXTURE_EVENT"], got, want[:1])
	}
	// The previous release's index had another schema: it was rebuilt from
	// its summaries at start, so range filters see the old sessions.
	if got := searchIDs(d, map[string]any{"startTime": map[string]any{"start": "2020-01-01T00:00:00Z"}, "pageCount": map[string]any{"min": 1}}); !slices.Equal(got, want) {
		t.Errorf("search by start time and page count = %v, want %v", got, want)
	}
	if got := searchIDs(d, map[string]any{"startTime": map[string]any{"end": "2020-01-01T00:00:00Z"}}); len(got) != 0 {
		t.Errorf("search by a start time before them all = %v, want none", got)
	}
	// Meta, full snapshot, click; the first session also identified its
	// user and sent a custom event.
	if got := replayEvents(d, want[0]); !slices.Equal(got, []int{4, 2, 3, 5, 5}) {
		t.Errorf("replay of %s: event types %v, want [4 2 3 5 5]", want[0], got)
	}
	if got := replayEvents(d, want[2]); !slices.Equal(got, []int{4, 2, 3}) {
		t.Errorf("replay of %s: event types %v, want [4 2 3]", want[2], got)
	}
	if code, _, body := httpGet(t, d.base+"/s/"+d.key+".js"); code != http.StatusOK || !strings.Contains(string(body), "/i/v1/batch") {
		t.Errorf("the site's bootstrap = %d, %d bytes (want 200 with the intake endpoint)", code, len(body))
	}
	// The stores take new writes after the upgrade.
	if code, err := sendBatch(p, d.key, "https://"+env["FIXTURE_DOMAIN"], "s_afterupgrade0000000001"); err != nil || code != http.StatusNoContent {
		t.Fatalf("a batch after the upgrade = %d, %v", code, err)
	}
	waitSearchable(t, d, len(want)+1, time.Now(), 15*time.Second)
	// The fixture's summaries predate fields of today's schema (rage- and
	// dead-clicked elements): serve re-sent them from recordings by itself
	// and cleared the mark, so no `sightline reindex` is left to run.
	for deadline := time.Now().Add(30 * time.Second); !strings.Contains(p.logs.String(), "refreshed the index from recordings"); {
		if time.Now().After(deadline) {
			t.Fatalf("no refresh from recordings within 30 s of start:\n%s", p.logs)
		}
		time.Sleep(50 * time.Millisecond)
	}
	for _, gone := range []string{"REFRESH", "refresh.cursor"} {
		if _, err := os.Stat(filepath.Join(dir, "search", gone)); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("search/%s left after the refresh: %v", gone, err)
		}
	}
	if got := searchIDs(d, nil); len(got) != len(want)+1 || slices.ContainsFunc(want, func(id string) bool { return !slices.Contains(got, id) }) {
		t.Errorf("sessions list after the refresh = %v, want %v and the one sent after the upgrade", got, want)
	}
	p.stop()

	for _, tc := range []struct {
		store string
		bump  func(t *testing.T, dir string) (stored, known int64)
	}{
		{"accounts schema", bumpSQL("accounts.db", "goose_db_version")},
		{"notify schema", bumpSQL("notify.db", "notify_goose_db_version")},
		{"notify queue (River) schema", bumpSQL("notify.db", "river_migration")},
		{"recordings format", bumpMarker(filepath.Join("recordings", storeformat.FileName))},
		{"spool format", bumpMarker(filepath.Join("spool", storeformat.FileName))},
		{"traffic format", bumpMarker(filepath.Join("traffic", storeformat.FileName))},
		{"bleve index schema", bumpMarker(filepath.Join("search", "SCHEMA"))},
		{"bleve answers index schema", bumpMarker(filepath.Join("search", "answers", "SCHEMA"))},
	} {
		t.Run(tc.store, func(t *testing.T) {
			newer := filepath.Join(t.TempDir(), "data")
			if err := os.CopyFS(newer, os.DirFS(dir)); err != nil {
				t.Fatal(err)
			}
			stored, known := tc.bump(t, newer)
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			cmd := exec.CommandContext(ctx, binary, "serve", "--data-dir", newer,
				"--server.http-listen-address", "127.0.0.1:0", "--server.grpc-listen-address", "127.0.0.1:0", "--admin.listen-address", "127.0.0.1:0")
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			err := cmd.Run()
			var exit *exec.ExitError
			if !errors.As(err, &exit) || exit.ExitCode() != 1 {
				t.Fatalf("serve on a newer data directory: %v (want exit status 1)\n%s", err, stderr.Bytes())
			}
			msg := fmt.Sprintf("written by a newer Sightline (%s %d, this binary knows %d): run that release or restore a backup taken before the upgrade", tc.store, stored, known)
			if !strings.Contains(stderr.String(), msg) {
				t.Errorf("serve's refusal does not say %q:\n%s", msg, stderr.Bytes())
			}
			lines := strings.Split(strings.TrimSpace(stderr.String()), "\n")
			t.Logf("refused: %s", lines[len(lines)-1])
			if strings.Contains(stderr.String(), "panic") || strings.Contains(stderr.String(), "sightline started") {
				t.Errorf("serve panicked or started:\n%s", stderr.Bytes())
			}
		})
	}
}

// bumpMarker writes one past the version in the marker file at rel.
func bumpMarker(rel string) func(t *testing.T, dir string) (int64, int64) {
	return func(t *testing.T, dir string) (int64, int64) {
		path := filepath.Join(dir, rel)
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		known, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if err := os.WriteFile(path, []byte(strconv.FormatInt(known+1, 10)+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		return known + 1, known
	}
}

// bumpSQL records in the SQLite database at rel a migration one past the
// last applied, in table (goose's or River's), as a newer release would.
func bumpSQL(rel, table string) func(t *testing.T, dir string) (int64, int64) {
	last, insert := `SELECT max(version_id) FROM `+table, `INSERT INTO `+table+` (version_id, is_applied) VALUES (?, 1)`
	if table == "river_migration" {
		last, insert = `SELECT max(version) FROM river_migration WHERE line = 'main'`, `INSERT INTO river_migration (line, version) VALUES ('main', ?)`
	}
	return func(t *testing.T, dir string) (int64, int64) {
		db, err := sql.Open("sqlite", filepath.Join(dir, rel))
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		var known int64
		if err := db.QueryRow(last).Scan(&known); err != nil {
			t.Fatal(err)
		}
		if _, err := db.Exec(insert, known+1); err != nil {
			t.Fatal(err)
		}
		return known + 1, known
	}
}
