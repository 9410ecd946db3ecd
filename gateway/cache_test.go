package gateway

import (
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	accountsv1 "github.com/sightlinehq/sightline/gen/sightline/accounts/v1"
	notifyv1 "github.com/sightlinehq/sightline/gen/sightline/notify/v1"
)

func TestAuthCacheFreshStaleAndExpiry(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	c := newAuthCache(2, 10*time.Second, 15*time.Minute)
	c.now = func() time.Time { return now }
	k := keyOf("sls_a")
	c.put(k, &accountsv1.Principal{UserId: 1}, now.Add(time.Hour))
	now = now.Add(9 * time.Second)
	if _, ok := c.lookup(k, c.fresh); !ok {
		t.Fatal("entry not fresh after 9 s")
	}
	now = now.Add(2 * time.Second)
	if _, ok := c.lookup(k, c.fresh); ok {
		t.Fatal("entry still fresh after 11 s")
	}
	if _, ok := c.lookup(k, c.stale); !ok {
		t.Fatal("entry not usable stale after 11 s")
	}
	now = now.Add(time.Hour)
	if _, ok := c.lookup(k, time.Duration(1<<62)); ok {
		t.Fatal("entry served past the session's own expiry")
	}
	// Bounded: a third credential evicts the least recently used.
	c.put(keyOf("sls_b"), &accountsv1.Principal{UserId: 2}, time.Time{})
	c.put(keyOf("sls_c"), &accountsv1.Principal{UserId: 3, ApiKeyId: 7}, time.Time{})
	if c.entries.Len() != 2 {
		t.Fatalf("cache holds %d entries, bound is 2", c.entries.Len())
	}
	c.removeAPIKey(7)
	if _, ok := c.lookup(keyOf("sls_c"), c.stale); ok {
		t.Fatal("revoked API key still cached")
	}
}

func TestStaleReadable(t *testing.T) {
	for path, want := range map[string]bool{
		"/api/v1/me":                           true,
		"/api/v1/config":                       true,
		"/api/v1/organizations/42/sites":       true,
		"/api/v1/organizations/42/sites/x":     false,
		"/api/v1/organizations//sites":         false,
		"/api/v1/organizations/42/members":     false,
		"/api/v1/sites/42/sessions":            false,
		"/api/v1/organizations/42/sites/extra": false,
	} {
		if got := staleReadable(httptest.NewRequest("GET", path, nil)); got != want {
			t.Errorf("staleReadable(GET %s) = %v, want %v", path, got, want)
		}
	}
	if staleReadable(httptest.NewRequest("POST", "/api/v1/organizations/42/sites", nil)) {
		t.Error("a write is stale-readable")
	}
}

func TestUnavailableMessageNamesThePartOnly(t *testing.T) {
	for _, c := range []struct{ method, msg, want string }{
		{accountsv1.AccountsService_GetCurrentUser_FullMethodName, "the accounts database is unreachable; try again shortly", "the accounts database is unreachable"},
		{"/sightline.recordings.v1.RecordingsService/GetSession", "the accounts database is unreachable; try again shortly", "the accounts database is unreachable"},
		{"/sightline.search.v1.SearchService/SearchSessions", "connection error: desc = \"transport: Error while dialing: dial tcp 10.1.2.3:9090: connect: connection refused\"", "the search service is unreachable"},
		{accountsv1.AccountsService_ListSites_FullMethodName, "dial tcp 127.0.0.1:9090: connect: connection refused", "the accounts service is unreachable"},
		// Every service is named, notify too (the chaos run saw the generic
		// message while notify was down).
		{notifyv1.NotifyService_ListAlertRules_FullMethodName, "connection refused", "the notify service is unreachable"},
		{"", "connection refused", "a Sightline service is unreachable"},
	} {
		got := unavailableMessage(c.method, c.msg)
		if !strings.HasPrefix(got, c.want) || strings.Contains(got, "dial") || strings.Contains(got, "10.1.2.3") {
			t.Errorf("unavailableMessage(%s, %q) = %q, want %q… without internals", c.method, c.msg, got, c.want)
		}
	}
}

func TestReadMaintenanceFile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "m")
	write := func(b string) {
		t.Helper()
		if err := os.WriteFile(p, []byte(b), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if _, on := readMaintenanceFile(p); on {
		t.Fatal("missing file means maintenance")
	}
	write("  \n")
	if msg, on := readMaintenanceFile(p); !on || msg != defaultMaintenanceMessage {
		t.Fatalf("empty file = %q, %v; want the default banner", msg, on)
	}
	write(strings.Repeat("x", 2000))
	if msg, on := readMaintenanceFile(p); !on || len(msg) != maxMaintenanceMessage {
		t.Fatalf("long file gives a %d-byte banner, want %d", len(msg), maxMaintenanceMessage)
	}
}
