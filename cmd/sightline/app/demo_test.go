package app

import (
	"encoding/json"
	"flag"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sightlinehq/sightline/platform/config"
)

// TestDemoDefaultPerMode: unset, the demo shop is on only when every module
// runs here on the embedded stores without a public URL; demo.enabled wins
// either way, from a flag, the environment or the file.
func TestDemoDefaultPerMode(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want bool
	}{
		{nil, true},
		{[]string{"-target=all"}, true},
		{[]string{"-demo.enabled=false"}, false},
		{[]string{"-demo.enabled"}, true},
		{[]string{"-target=gateway"}, false},
		{[]string{"-target=accounts,search,recordings,notify,ingest"}, false},
		{[]string{"-accounts.backend=postgres"}, false},
		{[]string{"-recordings.backend=scylla"}, false},
		{[]string{"-search.backend=elasticsearch"}, false},
		{[]string{"-ingest.public-url=https://sightline.example.com"}, false},
		{[]string{"-server.public-url=https://sightline.example.com"}, false},
		{[]string{"-accounts.backend=postgres", "-demo.enabled=true"}, true},
		{[]string{"-target=gateway", "-demo.enabled"}, true},
	} {
		var cfg Config
		if err := quietFlags(&cfg).Parse(tc.args); err != nil {
			t.Fatalf("%v: %v", tc.args, err)
		}
		if got := cfg.DemoEnabled(); got != tc.want {
			t.Errorf("%v: DemoEnabled() = %v, want %v", tc.args, got, tc.want)
		}
	}

	if err := quietFlags(&Config{}).Parse([]string{"-demo.enabled=maybe"}); err == nil {
		t.Error("-demo.enabled=maybe was accepted")
	}

	// The environment and the file, through the loader serve uses.
	load := func(args []string, env map[string]string) Config {
		t.Helper()
		var cfg Config
		lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
		if err := config.Load(quietFlags(&cfg), args, lookup, &cfg); err != nil {
			t.Fatalf("Load(%v, %v): %v", args, env, err)
		}
		return cfg
	}
	if c := load(nil, map[string]string{"SIGHTLINE_DEMO_ENABLED": "false"}); c.DemoEnabled() {
		t.Error("SIGHTLINE_DEMO_ENABLED=false left the demo on")
	}
	file := filepath.Join(t.TempDir(), "sightline.yaml")
	if err := os.WriteFile(file, []byte("demo:\n  enabled: false\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if c := load([]string{"-config.file=" + file}, nil); c.DemoEnabled() {
		t.Error("demo.enabled: false in the file left the demo on")
	}
	if c := load([]string{"-config.file=" + file, "-demo.enabled"}, nil); !c.DemoEnabled() {
		t.Error("-demo.enabled did not win over the file")
	}
}

// quietFlags registers cfg's flags on a flag set that prints nothing.
func quietFlags(cfg *Config) *flag.FlagSet {
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	cfg.RegisterFlags(fs)
	return fs
}

// TestDemoServedPerFlag: the one-process default serves the shop on the
// dashboard's listener and says so in the public config; turned off,
// /demo/ is 404 (not the dashboard) and the config says it is off; turned
// on behind a public URL, the snippet loads from there.
func TestDemoServedPerFlag(t *testing.T) {
	on, off := true, false
	for _, tc := range []struct {
		name      string
		enabled   *bool
		publicURL string
		wantSrc   string // "" when the shop is off
	}{
		{"default", nil, "", "/s/k_demo0123456789.js"},
		{"off", &off, "", ""},
		{"public URL", nil, "https://sightline.example.com", ""},
		{"on behind a public URL", &on, "https://sightline.example.com/", "https://sightline.example.com/s/k_demo0123456789.js"},
	} {
		cfg := defaults(t, All)
		cfg.Demo.Enabled, cfg.Server.PublicURL = tc.enabled, tc.publicURL
		a := start(t, cfg, nil)
		base := "http://" + a.Addrs().HTTP

		resp, err := http.Get(base + "/demo/k_demo0123456789/products/mug")
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		wantStatus := http.StatusOK
		if tc.wantSrc == "" {
			wantStatus = http.StatusNotFound
		}
		if resp.StatusCode != wantStatus {
			t.Errorf("%s: GET /demo/…: %d, want %d", tc.name, resp.StatusCode, wantStatus)
		}
		if tc.wantSrc != "" && !strings.Contains(string(body), `<script async src="`+tc.wantSrc+`"></script>`) {
			t.Errorf("%s: page lacks the snippet from %s:\n%s", tc.name, tc.wantSrc, body)
		}
		if tc.wantSrc == "" && strings.Contains(string(body), "<script") {
			t.Errorf("%s: the 404 carries a script:\n%s", tc.name, body)
		}

		resp, err = http.Get(base + "/api/v1/config")
		if err != nil {
			t.Fatal(err)
		}
		var pc struct {
			DemoEnabled bool `json:"demoEnabled"`
		}
		err = json.NewDecoder(resp.Body).Decode(&pc)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: GET /api/v1/config: %d %v", tc.name, resp.StatusCode, err)
		}
		if pc.DemoEnabled != (tc.wantSrc != "") {
			t.Errorf("%s: public config demoEnabled = %v", tc.name, pc.DemoEnabled)
		}
	}
}
