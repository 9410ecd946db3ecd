package app

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

func TestServerPublicURLIsChecked(t *testing.T) {
	for raw, wantErr := range map[string]string{
		"":                                    "",
		"https://sightline.example.com":       "",
		"https://sightline.example.com/":      "",
		"https://example.com/sightline":       "",
		"http://localhost:8080":               "",
		"sightline.example.com":               "absolute http",
		"ftp://sightline.example.com":         "absolute http",
		"https://":                            "no host",
		"https://:443":                        "no host",
		"https://u:p@sightline.example.com":   "no user",
		"https://sightline.example.com/?a=b":  "no query",
		"https://sightline.example.com/#frag": "no query",
		"https://exa mple.com":                "not a URL",
	} {
		cfg := defaults(t, All)
		cfg.Server.PublicURL = raw
		err := cfg.Validate()
		switch {
		case wantErr == "" && err != nil:
			t.Errorf("%q refused: %v", raw, err)
		case wantErr != "" && (err == nil || !strings.Contains(err.Error(), "server.public-url") || !strings.Contains(err.Error(), wantErr)):
			t.Errorf("%q: error %v, want server.public-url and %q", raw, err, wantErr)
		}
	}
}

// TestServerPublicURLReachesTheDashboard: server.public-url becomes the
// public config's public_ingest_url (the install snippet's base), and
// ingest.public-url, ingest's own host, wins over it.
func TestServerPublicURLReachesTheDashboard(t *testing.T) {
	publicIngestURL := func(cfg Config) string {
		a := start(t, cfg, nil)
		resp, err := http.Get("http://" + a.Addrs().HTTP + "/api/v1/config")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var pc struct {
			PublicIngestURL string `json:"publicIngestUrl"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&pc); err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("GET /api/v1/config: %d %v", resp.StatusCode, err)
		}
		return pc.PublicIngestURL
	}
	cfg := defaults(t, All)
	if got := publicIngestURL(cfg); got != "" {
		t.Errorf("without server.public-url: public_ingest_url %q, want none (the dashboard uses its origin)", got)
	}
	cfg = defaults(t, All)
	cfg.Server.PublicURL = "https://sightline.example.com/"
	if got := publicIngestURL(cfg); got != "https://sightline.example.com" {
		t.Errorf("public_ingest_url %q, want https://sightline.example.com", got)
	}
	cfg = defaults(t, All)
	cfg.Server.PublicURL = "https://sightline.example.com"
	cfg.Ingest.PublicURL = "https://rec.example.com"
	if got := publicIngestURL(cfg); got != "https://rec.example.com" {
		t.Errorf("with ingest.public-url: public_ingest_url %q, want https://rec.example.com", got)
	}
}

// TestServerPublicURLReachesNotifyLinks: e-mail and webhook links follow
// server.public-url unless the operator set notify.dashboard-url.
func TestServerPublicURLReachesNotifyLinks(t *testing.T) {
	cfg := defaults(t, All)
	cfg.applyPublicURL()
	if cfg.Notify.DashboardURL != "http://localhost:8080" {
		t.Errorf("without server.public-url: notify.dashboard-url %q, want its default", cfg.Notify.DashboardURL)
	}
	cfg = defaults(t, All)
	cfg.Server.PublicURL = "https://sightline.example.com/"
	cfg.applyPublicURL()
	if cfg.Notify.DashboardURL != "https://sightline.example.com" {
		t.Errorf("notify.dashboard-url %q, want server.public-url", cfg.Notify.DashboardURL)
	}
	cfg = defaults(t, All)
	cfg.Server.PublicURL = "https://sightline.example.com"
	cfg.Notify.DashboardURL = "https://dash.example.com"
	cfg.applyPublicURL()
	if cfg.Notify.DashboardURL != "https://dash.example.com" {
		t.Errorf("an explicit notify.dashboard-url became %q", cfg.Notify.DashboardURL)
	}
}

// TestServerPublicURLPrefixReachesTheGateway: the path of server.public-url
// is the prefix the dashboard names as its base.
func TestServerPublicURLPrefixReachesTheGateway(t *testing.T) {
	for raw, want := range map[string]string{
		"":                               "",
		"https://sightline.example.com/": "",
		"https://example.com/sightline/": "/sightline",
	} {
		cfg := defaults(t, All)
		cfg.Server.PublicURL = raw
		cfg.applyPublicURL()
		if cfg.Gateway.BasePath != want {
			t.Errorf("server.public-url %q: gateway base path %q, want %q", raw, cfg.Gateway.BasePath, want)
		}
	}
}
