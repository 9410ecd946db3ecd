package app

import (
	"net/http"
	"os"
	"path/filepath"
	"testing"
)

// TestReadinessPerModule: /readyz/ingest fails when the spool's directory
// takes no writes and only then (accounts stays ready), and recovers with
// it; /readyz covers every module.
func TestReadinessPerModule(t *testing.T) {
	cfg := defaults(t, All)
	a := start(t, cfg, newTelemetry(t, "readiness", nil))
	get := func(path string) int {
		t.Helper()
		resp, err := http.Get("http://" + a.Addrs().Admin + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for _, m := range moduleNames() {
		if code := get("/readyz/" + m); code != http.StatusOK {
			t.Fatalf("/readyz/%s = %d", m, code)
		}
	}
	// A file where the spool's directory was: nothing can be created there.
	spool := filepath.Join(cfg.DataDir, "spool")
	if err := os.Rename(spool, spool+".away"); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(spool, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	ingest, accounts, all := get("/readyz/ingest"), get("/readyz/accounts"), get("/readyz")
	if err := os.Remove(spool); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(spool+".away", spool); err != nil {
		t.Fatal(err)
	}
	if ingest != http.StatusServiceUnavailable || accounts != http.StatusOK || all != http.StatusServiceUnavailable {
		t.Fatalf("spool not writable: /readyz/ingest %d, /readyz/accounts %d, /readyz %d; want 503, 200, 503", ingest, accounts, all)
	}
	if code := get("/readyz/ingest"); code != http.StatusOK {
		t.Fatalf("/readyz/ingest with the spool back = %d", code)
	}
	if entries, _ := filepath.Glob(filepath.Join(spool, ".readyz-*")); len(entries) != 0 {
		t.Fatalf("readiness probes left files in the spool: %v", entries)
	}
}
