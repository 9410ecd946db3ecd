package deploy

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

// runbookBase is where alerts' runbook_url point: the runbooks in the
// repository, as GitHub shows them.
const runbookBase = "https://github.com/sightlinehq/sightline/blob/main/docs/runbooks/"

// TestEveryAlertHasARunbook: each alert in prometheus/alerts.yaml carries a
// runbook_url naming docs/runbooks/<alert>.md, that file exists with the
// sections an on-call engineer needs, and every runbook is for an alert.
func TestEveryAlertHasARunbook(t *testing.T) {
	raw, err := os.ReadFile("prometheus/alerts.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var rules struct {
		Groups []struct {
			Rules []struct {
				Alert       string            `json:"alert"`
				Annotations map[string]string `json:"annotations"`
			} `json:"rules"`
		} `json:"groups"`
	}
	if err := yaml.Unmarshal(raw, &rules); err != nil {
		t.Fatal(err)
	}
	alerts := map[string]bool{}
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			if r.Alert == "" {
				continue
			}
			alerts[r.Alert] = true
			if want := runbookBase + r.Alert + ".md"; r.Annotations["runbook_url"] != want {
				t.Errorf("alert %s: runbook_url = %q; want %q", r.Alert, r.Annotations["runbook_url"], want)
			}
			body, err := os.ReadFile(filepath.Join("../docs/runbooks", r.Alert+".md"))
			if err != nil {
				t.Errorf("alert %s has no runbook: %v", r.Alert, err)
				continue
			}
			for _, section := range []string{"# " + r.Alert, "## What it means", "## Confirm", "## Likely causes", "## What to do", "## Verify recovery"} {
				if !strings.Contains(string(body), "\n"+section+"\n") && !strings.HasPrefix(string(body), section+"\n") {
					t.Errorf("docs/runbooks/%s.md lacks the line %q", r.Alert, section)
				}
			}
		}
	}
	if len(alerts) < 11 {
		t.Fatalf("%d alerts in alerts.yaml; want at least 11", len(alerts))
	}
	books, err := filepath.Glob("../docs/runbooks/*.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range books {
		name := strings.TrimSuffix(filepath.Base(b), ".md")
		if name != "README" && !alerts[name] {
			t.Errorf("docs/runbooks/%s.md is for no alert in alerts.yaml", name)
		}
	}
}
