package gateway_test

import (
	"bytes"
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/sightlinehq/sightline/cmd/sightline/app"
	accounts "github.com/sightlinehq/sightline/svc-accounts"
)

// TestMaintenanceSwitchIsCached: writes reuse accounts' maintenance switch
// for gateway.maintenance-cache rather than asking per request, so a switch
// turned on shows once the copy is that old, and not before.
func TestMaintenanceSwitchIsCached(t *testing.T) {
	const window = 2 * time.Second
	s := startServer(t, func(c *app.Config) { c.Gateway.MaintenanceCache = window })
	tn := newTenant(t, s)
	rename := func(name string) response {
		return tn.c.do("PATCH", "/api/v1/sites/"+tn.siteID, map[string]any{"name": name})
	}
	// The tenant's set-up writes read the switch; past the window their copy
	// is old, so the next write reads it (off) again, at some time between
	// sent and read, and starts a new window.
	time.Sleep(window)
	sent := time.Now()
	if r := rename("before"); r.code != http.StatusOK {
		t.Fatalf("write before maintenance = %d %s", r.code, r.body)
	}
	read := time.Now()
	setMaintenance(t, s, "upgrading the database")
	r := rename("during the window")
	if time.Since(read) < window-500*time.Millisecond && r.code != http.StatusOK {
		t.Fatalf("write within gateway.maintenance-cache of the last read = %d %s, want the cached switch (off)", r.code, r.body)
	}
	for deadline := read.Add(window + 2*time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if r = rename("after the window"); r.code == http.StatusServiceUnavailable {
			break
		}
	}
	if r.code != http.StatusServiceUnavailable || !bytes.Contains(r.body, []byte("upgrading")) {
		t.Fatalf("write past gateway.maintenance-cache = %d %s, want 503 with the banner", r.code, r.body)
	}
	if since := time.Since(sent); since < window {
		t.Fatalf("maintenance showed %v after the switch was read, within the %v cache", since, window)
	}
}

// setMaintenance turns accounts' stored switch on, as `sightline admin
// maintenance -on` does.
func setMaintenance(t *testing.T, s *server, message string) {
	t.Helper()
	adm, err := accounts.OpenAdmin(context.Background(), s.cfg.Accounts, s.cfg.DataDir)
	if err != nil {
		t.Fatal(err)
	}
	defer adm.Close()
	if err := adm.SetMaintenance(context.Background(), true, message); err != nil {
		t.Fatal(err)
	}
}
