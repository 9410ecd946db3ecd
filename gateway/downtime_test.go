package gateway_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sightlinehq/sightline/cmd/sightline/app"
	"github.com/sightlinehq/sightline/internal/pgtest"
	"github.com/sightlinehq/sightline/internal/poll"
	"github.com/sightlinehq/sightline/platform/config"
	accounts "github.com/sightlinehq/sightline/svc-accounts"
)

// withPostgres puts accounts on srv with the given cache bounds.
func withPostgres(srv *pgtest.Server, fresh, stale time.Duration) func(*app.Config) {
	return func(c *app.Config) {
		c.Accounts.Backend = accounts.BackendPostgres
		c.Accounts.Postgres.DSN = config.NewSecret(srv.DSN())
		c.Gateway.AuthCacheFresh, c.Gateway.AuthCacheStale = fresh, stale
	}
}

// want503 requires a 503 with Retry-After in the gateway's error format
// whose message names the accounts database and no internals.
func want503(t *testing.T, what string, r response) {
	t.Helper()
	if r.code != http.StatusServiceUnavailable || r.hdr.Get("Retry-After") == "" {
		t.Fatalf("%s = %d %s (Retry-After %q), want 503 with Retry-After", what, r.code, r.body, r.hdr.Get("Retry-After"))
	}
	checkErrorBody(t, what, r)
	if msg := string(r.body); !strings.Contains(msg, "accounts database is unreachable") || strings.Contains(msg, "127.0.0.1") || strings.Contains(msg, "dial") {
		t.Fatalf("%s: body %s should name the accounts database and no internals", what, msg)
	}
}

// TestAccountsDatabaseDownSignsNobodyOut stops accounts' PostgreSQL under a
// signed-in user: the profile and site list are served from the last good
// answers, writes and unknown credentials get 503 + Retry-After (never
// 401), and everything works again when the database returns.
func TestAccountsDatabaseDownSignsNobodyOut(t *testing.T) {
	pg := pgtest.Private(t)
	// fresh 0: every request asks accounts, so the stale path is what keeps
	// the user signed in.
	s := startServer(t, withPostgres(pg, 0, time.Hour))
	tn := newTenant(t, s)
	sites := "/api/v1/organizations/" + tn.orgID + "/sites"
	me := tn.c.must("GET", "/api/v1/me", nil)
	tn.c.must("GET", sites, nil)
	stranger := s.newClient(t)
	stranger.bearer = "slk_" + strings.Repeat("A", 43)

	if err := pg.Stop(); err != nil {
		t.Fatal(err)
	}
	r := tn.c.do("GET", "/api/v1/me", nil)
	if r.code != http.StatusOK || r.hdr.Get("X-Sightline-Stale") == "" {
		t.Fatalf("GET /api/v1/me with the database down = %d %s (X-Sightline-Stale %q), want the cached 200", r.code, r.body, r.hdr.Get("X-Sightline-Stale"))
	}
	if got := r.json(t)["user"].(map[string]any)["id"]; got != me["user"].(map[string]any)["id"] {
		t.Fatalf("stale /me is user %v, want %v", got, me["user"])
	}
	if r := tn.c.do("GET", sites, nil); r.code != http.StatusOK || !strings.Contains(string(r.body), tn.siteID) {
		t.Fatalf("GET sites with the database down = %d %s, want the cached list", r.code, r.body)
	}
	want503(t, "create site", tn.c.do("POST", sites, map[string]any{"name": "New", "domains": []string{"new.example.com"}}))
	want503(t, "unknown API key", stranger.do("GET", "/api/v1/me", nil))
	// A read with no kept answer fails clearly too.
	want503(t, "get organization", tn.c.do("GET", "/api/v1/organizations/"+tn.orgID, nil))

	if err := pg.Restart(context.Background()); err != nil {
		t.Fatal(err)
	}
	poll.Until(t, 5*time.Second, func() error {
		if r := tn.c.do("POST", sites, map[string]any{"name": "After", "domains": []string{"after.example.com"}}); r.code != http.StatusOK {
			return fmt.Errorf("create site after the database returned = %d %s", r.code, r.body)
		}
		return nil
	})
	if r := tn.c.do("GET", "/api/v1/me", nil); r.code != http.StatusOK || r.hdr.Get("X-Sightline-Stale") != "" {
		t.Fatalf("GET /api/v1/me after recovery = %d (stale %q)", r.code, r.hdr.Get("X-Sightline-Stale"))
	}
	if r := stranger.do("GET", "/api/v1/me", nil); r.code != http.StatusUnauthorized {
		t.Fatalf("unknown API key after recovery = %d %s, want 401", r.code, r.body)
	}
}

// TestStaleBoundIsKept: past gateway.auth-cache-stale a cached credential
// is no longer served, and the answer is still 503, not 401.
func TestStaleBoundIsKept(t *testing.T) {
	pg := pgtest.Private(t)
	s := startServer(t, withPostgres(pg, 0, 500*time.Millisecond))
	tn := newTenant(t, s)
	tn.c.must("GET", "/api/v1/me", nil)
	if err := pg.Stop(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(600 * time.Millisecond) // the 500 ms stale bound passes
	want503(t, "GET /api/v1/me past the stale bound", tn.c.do("GET", "/api/v1/me", nil))
}

// TestLogOutEvictsAtOnce: a session logged out, or an API key revoked,
// through this gateway is forgotten at once, even with a long freshness:
// with accounts' database then down, it is not served from the cache (503),
// while a session still valid is (200).
func TestLogOutEvictsAtOnce(t *testing.T) {
	pg := pgtest.Private(t)
	s := startServer(t, withPostgres(pg, time.Hour, time.Hour))
	tn := newTenant(t, s)
	tn.c.must("GET", "/api/v1/me", nil)
	var token string
	for _, ck := range tn.c.http.Jar.Cookies(mustURL(t, s.base)) {
		if ck.Name == "sl_session" {
			token = ck.Value
		}
	}
	if token == "" {
		t.Fatal("no session cookie")
	}
	tn.c.must("POST", "/api/v1/auth/logout", map[string]any{})
	old := s.newClient(t)
	old.bearer = token
	if r := old.do("GET", "/api/v1/me", nil); r.code != http.StatusUnauthorized {
		t.Fatalf("logged-out session = %d %s, want 401 at once", r.code, r.body)
	}

	owner := newTenant(t, s)
	sites := "/api/v1/organizations/" + owner.orgID + "/sites"
	owner.c.must("GET", "/api/v1/me", nil)
	key := owner.c.must("POST", "/api/v1/organizations/"+owner.orgID+"/api-keys", map[string]any{"name": "gone", "role": "ROLE_MEMBER"})
	kc := s.newClient(t)
	kc.bearer = key["secret"].(string)
	kc.must("GET", sites, nil)
	owner.c.must("DELETE", "/api/v1/organizations/"+owner.orgID+"/api-keys/"+key["apiKey"].(map[string]any)["id"].(string), nil)
	if r := kc.do("GET", sites, nil); r.code != http.StatusUnauthorized {
		t.Fatalf("revoked API key = %d %s, want 401 at once", r.code, r.body)
	}

	if err := pg.Stop(); err != nil {
		t.Fatal(err)
	}
	want503(t, "logged-out session with the database down", old.do("GET", "/api/v1/me", nil))
	want503(t, "revoked API key with the database down", kc.do("GET", sites, nil))
	if r := owner.c.do("GET", "/api/v1/me", nil); r.code != http.StatusOK {
		t.Fatalf("a valid session with the database down = %d %s, want 200 from the cache", r.code, r.body)
	}
}

// TestMaintenanceFile: while the operator's file exists the dashboard API
// answers 503 + Retry-After with the file's banner, even with accounts'
// database down; the public config reports it; removing the file ends it.
func TestMaintenanceFile(t *testing.T) {
	pg := pgtest.Private(t)
	file := filepath.Join(t.TempDir(), "maintenance")
	s := startServer(t, func(c *app.Config) {
		withPostgres(pg, 10*time.Second, 15*time.Minute)(c)
		c.Gateway.MaintenanceFile = file
	})
	tn := newTenant(t, s)
	if err := os.WriteFile(file, []byte("Upgrading PostgreSQL until 14:00 UTC\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := pg.Stop(); err != nil {
		t.Fatal(err)
	}
	var r response
	poll.Until(t, 3*time.Second, func() error {
		if r = tn.c.do("GET", "/api/v1/me", nil); r.code != http.StatusServiceUnavailable || !strings.Contains(string(r.body), "maintenance") {
			return fmt.Errorf("GET /api/v1/me with the maintenance file = %d %s", r.code, r.body)
		}
		return nil
	})
	if r.code != http.StatusServiceUnavailable || r.hdr.Get("Retry-After") == "" || !strings.Contains(string(r.body), "Upgrading PostgreSQL until 14:00 UTC") {
		t.Fatalf("GET /api/v1/me with the maintenance file = %d %s (Retry-After %q)", r.code, r.body, r.hdr.Get("Retry-After"))
	}
	checkErrorBody(t, "maintenance", r)
	if r := tn.c.do("POST", "/api/v1/organizations/"+tn.orgID+"/sites", map[string]any{"name": "x"}); r.code != http.StatusServiceUnavailable {
		t.Fatalf("write in maintenance = %d %s", r.code, r.body)
	}
	cfg := s.newClient(t).must("GET", "/api/v1/config", nil)
	m, _ := cfg["maintenance"].(map[string]any)
	if m["enabled"] != true || m["message"] != "Upgrading PostgreSQL until 14:00 UTC" || cfg["version"] == nil {
		t.Fatalf("public config in file maintenance = %v", cfg)
	}

	if err := pg.Restart(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(file); err != nil {
		t.Fatal(err)
	}
	poll.Until(t, 5*time.Second, func() error {
		if r = tn.c.do("GET", "/api/v1/me", nil); r.code != http.StatusOK {
			return fmt.Errorf("GET /api/v1/me after the file was removed = %d %s", r.code, r.body)
		}
		return nil
	})
	if m, _ := tn.c.must("GET", "/api/v1/config", nil)["maintenance"].(map[string]any); m["enabled"] == true {
		t.Fatalf("config still in maintenance after the file was removed: %v", m)
	}
}

func mustURL(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}
