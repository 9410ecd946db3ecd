package main

// The accounts-database row of the downtime matrix (issue 20, README
// "Operations"), in the one-process mode: accounts on a real PostgreSQL
// that is stopped for pgOutage under steady ingest load.

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/sightlinehq/sightline/internal/pgtest"
)

const (
	// pgOutage is how long PostgreSQL stays stopped: issue 20's target of
	// 60 s, long enough for every cache freshness (10 s) to run out.
	pgOutage = 60 * time.Second
	// pgRecoverWithin is how soon after PostgreSQL returns everything must
	// work again, without a restart.
	pgRecoverWithin = 5 * time.Second
)

// readyz answers the status of the admin listener's path.
func readyz(t *testing.T, p *process, path string) int {
	t.Helper()
	code, _, _ := httpGet(t, "http://"+p.addrs.Admin+path)
	return code
}

// TestAccountsPostgresDown stops accounts' PostgreSQL for pgOutage under
// ingest load in the one-process mode. During the outage ingest answers 204
// to every batch; GET /api/v1/me with the session cookie answers 200 (from
// the gateway's cache) or 503 + Retry-After, never 401; creating a site
// answers 503 + Retry-After; /readyz/ingest stays 200 while
// /readyz/accounts fails. Within pgRecoverWithin of PostgreSQL's return
// everything works again without a restart, and every accepted batch is
// stored.
func TestAccountsPostgresDown(t *testing.T) {
	pg := pgtest.Private(t)
	p := startServe(t, nil, "--accounts.backend=postgres", "--accounts.postgres.dsn="+pg.DSN(),
		"--ingest.rate-per-ip=0", "--accounts.default-plan.sessions-per-day=1000000")
	accountsPostgresDown(t, pg, pgRoles{accounts: p, ingest: p, gateway: p})
}

// TestAccountsPostgresDownManyProcesses is the same outage with every
// module in its own process: only the accounts process's readiness fails.
func TestAccountsPostgresDownManyProcesses(t *testing.T) {
	pg := pgtest.Private(t)
	acc := startServe(t, nil, "--target=accounts", "--accounts.backend=postgres", "--accounts.postgres.dsn="+pg.DSN(),
		"--accounts.default-plan.sessions-per-day=1000000")
	srch := startServe(t, nil, "--target=search", "--remote.accounts", acc.addrs.GRPC)
	rec := startServe(t, nil, "--target=recordings", "--remote.accounts", acc.addrs.GRPC, "--remote.search", srch.addrs.GRPC)
	ing := startServe(t, nil, "--target=ingest", "--remote.accounts", acc.addrs.GRPC, "--remote.recordings", rec.addrs.GRPC,
		"--remote.search", srch.addrs.GRPC, "--ingest.rate-per-ip=0")
	gw := startServe(t, nil, "--target=gateway", "--remote.accounts", acc.addrs.GRPC, "--remote.recordings", rec.addrs.GRPC,
		"--remote.search", srch.addrs.GRPC, "--remote.ingest", ing.addrs.GRPC)
	accountsPostgresDown(t, pg, pgRoles{accounts: acc, ingest: ing, gateway: gw, others: []*process{srch, rec}})
}

// pgRoles are the processes that run accounts, ingest and the gateway (one
// process for all three in the one-process mode), and any others.
type pgRoles struct {
	accounts, ingest, gateway *process
	others                    []*process
}

func accountsPostgresDown(t *testing.T, pg *pgtest.Server, r pgRoles) {
	p := r.ingest
	d := newDashboard(t, r.gateway)
	org := d.call("GET", fmt.Sprintf("/api/v1/sites/%d", d.siteID), nil)["site"].(map[string]any)["organizationId"].(string)
	sites := "/api/v1/organizations/" + org + "/sites"
	d.call("GET", "/api/v1/me", nil)
	d.call("GET", sites, nil)
	for _, proc := range append([]*process{r.accounts, r.ingest, r.gateway}, r.others...) {
		if code := readyz(t, proc, "/readyz"); code != http.StatusOK {
			t.Fatalf("/readyz of %s before the outage = %d", proc.cmd.Args, code)
		}
	}
	for m, proc := range map[string]*process{"accounts": r.accounts, "ingest": r.ingest, "gateway": r.gateway} {
		if code := readyz(t, proc, "/readyz/"+m); code != http.StatusOK {
			t.Fatalf("/readyz/%s before the outage = %d", m, code)
		}
	}

	l := startLoad(p, d.key, "pgdown")
	stopped := false
	defer func() {
		if !stopped {
			close(l.stop)
			<-l.done
		}
	}()
	waitFlowing(t, d, l) // the load runs, and ingest's caches are warm
	search := fmt.Sprintf("/api/v1/sites/%d/sessions:search", d.siteID)
	d.total(d.siteID) // the user has the recordings list open: search's access check is warm

	if err := pg.Stop(); err != nil {
		t.Fatal(err)
	}
	down := time.Now()
	meAnswers := map[int]int{}
	for checks := 0; ; checks++ {
		code, hdr, body, err := d.do("GET", "/api/v1/me", nil)
		if err != nil {
			t.Fatalf("GET /api/v1/me during the outage: %v", err)
		}
		meAnswers[code]++
		switch {
		case code == http.StatusOK:
		case code == http.StatusServiceUnavailable && hdr.Get("Retry-After") != "":
		default:
			t.Fatalf("GET /api/v1/me %v into the outage = %d %s (Retry-After %q); want 200 or 503 with Retry-After, never a sign-out",
				time.Since(down).Round(time.Second), code, body, hdr.Get("Retry-After"))
		}
		code, hdr, body, err = d.do("POST", sites, map[string]any{"name": "During", "domains": []string{"during.example.com"}})
		if err != nil || code != http.StatusServiceUnavailable || hdr.Get("Retry-After") == "" {
			t.Fatalf("create site during the outage = %d %s (Retry-After %q, %v); want 503 with Retry-After", code, body, hdr.Get("Retry-After"), err)
		}
		if checks == 0 {
			t.Logf("create site during the outage: %d %s", code, strings.TrimSpace(string(body)))
		}
		// Reads the user already had keep working: search checks the
		// caller with accounts and serves its last decision while accounts
		// is unreachable (siteaccess).
		if code, _, lbody, err := d.do("POST", search, map[string]any{"pageSize": 1}); err != nil || code != http.StatusOK {
			t.Fatalf("the recordings list %v into the outage = %d %s (%v); want 200 from the last access decision",
				time.Since(down).Round(time.Second), code, lbody, err)
		}
		if !strings.Contains(string(body), "accounts database is unreachable") || strings.Contains(string(body), "127.0.0.1") {
			t.Fatalf("503 body %s should name the accounts database and no internals", body)
		}
		if code := readyz(t, r.ingest, "/readyz/ingest"); code != http.StatusOK {
			t.Fatalf("/readyz/ingest during the outage = %d; ingest must stay in rotation", code)
		}
		if code := readyz(t, r.gateway, "/readyz/gateway"); code != http.StatusOK {
			t.Fatalf("/readyz/gateway during the outage = %d; it serves from its caches", code)
		}
		if code := readyz(t, r.accounts, "/readyz/accounts"); code != http.StatusServiceUnavailable {
			t.Fatalf("/readyz/accounts during the outage = %d, want 503", code)
		}
		if code := readyz(t, r.accounts, "/readyz"); code != http.StatusServiceUnavailable {
			t.Fatalf("/readyz (all) of the accounts process during the outage = %d, want 503", code)
		}
		if r.ingest != r.accounts {
			// Its own process: nothing of it depends on accounts' database.
			if code := readyz(t, r.ingest, "/readyz"); code != http.StatusOK {
				t.Fatalf("/readyz of the ingest process during the outage = %d, want 200", code)
			}
		}
		if time.Since(down) >= pgOutage {
			break
		}
		time.Sleep(2 * time.Second) // the outage lasts pgOutage: check now and then
	}
	if meAnswers[http.StatusOK] == 0 {
		t.Errorf("GET /api/v1/me never answered from the cache during the outage: %v", meAnswers)
	}
	t.Logf("GET /api/v1/me during %v without PostgreSQL: %v", pgOutage, meAnswers)

	if err := pg.Restart(context.Background()); err != nil {
		t.Fatal(err)
	}
	back := time.Now()
	for {
		code, hdr, _, _ := d.do("GET", "/api/v1/me", nil)
		created, _, body, _ := d.do("POST", sites, map[string]any{"name": "After", "domains": []string{fmt.Sprintf("after%d.example.com", time.Now().UnixNano())}})
		if code == http.StatusOK && hdr.Get("X-Sightline-Stale") == "" && created == http.StatusOK &&
			readyz(t, r.accounts, "/readyz/accounts") == http.StatusOK && readyz(t, r.accounts, "/readyz") == http.StatusOK {
			break
		}
		if time.Since(back) > pgRecoverWithin {
			t.Fatalf("%v after PostgreSQL returned: /me %d, create site %d %s\n%s", pgRecoverWithin, code, created, body, problems(r.gateway.logs.String()+r.accounts.logs.String(), 20))
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("dashboard writes work again %d ms after PostgreSQL returned", time.Since(back).Milliseconds())

	accepted := len(l.halt(t))
	stopped = true
	sent := time.Now()
	for {
		n := d.total(d.siteID)
		if n == int64(accepted) {
			t.Logf("all %d accepted sessions searchable %d ms after the load stopped", n, time.Since(sent).Milliseconds())
			break
		}
		if n > int64(accepted) {
			t.Fatalf("search counts %d sessions; %d were accepted", n, accepted)
		}
		if time.Since(sent) > pgRecoverWithin {
			t.Fatalf("%d of %d accepted sessions searchable %v after the load stopped", n, accepted, pgRecoverWithin)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestKubernetesProbesUseModuleReadiness: every Deployment in
// deploy/kubernetes probes readiness on its own module's path, so that no
// module is taken out of rotation for another's dependency (ingest for
// accounts' database), and liveness on /healthz.
func TestKubernetesProbesUseModuleReadiness(t *testing.T) {
	seen := 0
	for _, doc := range readManifests(t) {
		if !doc.isWorkload() {
			continue
		}
		seen++
		for _, c := range doc.Spec.Template.Spec.Containers {
			target := ""
			for _, a := range c.Args {
				if v, ok := strings.CutPrefix(a, "--target="); ok {
					target = v
				}
			}
			if target == "" || strings.Contains(target, ",") {
				t.Errorf("%s: deployment %s runs %q; want one module per Deployment", doc.file, doc.Metadata.Name, target)
				continue
			}
			if c.ReadinessProbe == nil || c.ReadinessProbe.HTTPGet.Path != "/readyz/"+target || c.ReadinessProbe.HTTPGet.Port != "admin" {
				t.Errorf("%s: deployment %s readiness probe %+v; want /readyz/%s on the admin port", doc.file, doc.Metadata.Name, c.ReadinessProbe, target)
			}
			if c.LivenessProbe == nil || c.LivenessProbe.HTTPGet.Path != "/healthz" {
				t.Errorf("%s: deployment %s liveness probe %+v; want /healthz", doc.file, doc.Metadata.Name, c.LivenessProbe)
			}
		}
	}
	if seen < 6 {
		t.Fatalf("found %d Deployments in deploy/kubernetes; want one per module (6)", seen)
	}
	// The paths exist: a process of one module answers its own path and
	// 404 for another's (a probe pointed at the wrong module fails).
	// (Accounts: the one module that needs no other to start.)
	p := startServe(t, nil, "--target=accounts")
	if code := readyz(t, p, "/readyz/accounts"); code != http.StatusOK {
		t.Errorf("/readyz/accounts of an accounts process = %d", code)
	}
	if code := readyz(t, p, "/readyz/ingest"); code != http.StatusNotFound {
		t.Errorf("/readyz/ingest of an accounts process = %d, want 404", code)
	}
	var rep struct{ Ready bool }
	_, _, body := httpGet(t, "http://"+p.addrs.Admin+"/readyz/accounts")
	if err := json.Unmarshal(body, &rep); err != nil || !rep.Ready {
		t.Errorf("/readyz/accounts body %s (%v)", body, err)
	}
}
