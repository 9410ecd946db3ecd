package main

// The Grafana dashboard and the alert rules in deploy/ query the metrics
// the binary exports: every expression parses as PromQL, and every series
// name one selects is on /metrics of a real `sightline serve` after a
// little traffic.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/promql/parser"
	"go.yaml.in/yaml/v3"

	"github.com/sightlinehq/sightline/internal/poll"
)

// grafanaPanel is the part of a dashboard panel (or row) that holds queries.
type grafanaPanel struct {
	Title   string
	Targets []struct{ Expr string }
	Panels  []grafanaPanel // a collapsed row's
}

// dashboardExprs answers every query of deploy/grafana/sightline.json by
// where it is, with Grafana's variables replaced by what they stand for
// so that the PromQL parser reads them.
func dashboardExprs(t *testing.T) map[string]string {
	t.Helper()
	raw, err := os.ReadFile("../../deploy/grafana/sightline.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		SchemaVersion int
		Templating    struct{ List []struct{ Name, Type string } }
		Panels        []grafanaPanel
	}
	if err := json.Unmarshal(raw, &dash); err != nil {
		t.Fatalf("sightline.json: %v", err)
	}
	if dash.SchemaVersion < 39 {
		t.Errorf("schemaVersion %d: export it from a current Grafana (≥ 11: 39)", dash.SchemaVersion)
	}
	if !slices.ContainsFunc(dash.Templating.List, func(v struct{ Name, Type string }) bool { return v.Type == "datasource" }) {
		t.Error("the dashboard has no data source variable")
	}
	vars := strings.NewReplacer("$__rate_interval", "5m", "$instance", ".*")
	exprs := map[string]string{}
	var walk func([]grafanaPanel)
	walk = func(ps []grafanaPanel) {
		for _, p := range ps {
			for i, tg := range p.Targets {
				exprs[fmt.Sprintf("panel %q query %d", p.Title, i+1)] = vars.Replace(tg.Expr)
			}
			walk(p.Panels)
		}
	}
	walk(dash.Panels)
	if len(exprs) < 30 {
		t.Fatalf("the dashboard has %d queries; want its ~40", len(exprs))
	}
	return exprs
}

// alertExprs answers every alert's expression in deploy/prometheus/alerts.yaml.
func alertExprs(t *testing.T) map[string]string {
	t.Helper()
	raw, err := os.ReadFile("../../deploy/prometheus/alerts.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var rules struct {
		Groups []struct {
			Rules []struct{ Alert, Expr string }
		}
	}
	if err := yaml.Unmarshal(raw, &rules); err != nil {
		t.Fatal(err)
	}
	exprs := map[string]string{}
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			exprs["alert "+r.Alert] = r.Expr
		}
	}
	return exprs
}

// selectedMetrics answers the metric names expr selects.
func selectedMetrics(expr string) ([]string, error) {
	e, err := parser.NewParser(parser.Options{}).ParseExpr(expr)
	if err != nil {
		return nil, err
	}
	var names []string
	parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
		if vs, ok := n.(*parser.VectorSelector); ok {
			names = append(names, vs.Name)
		}
		return nil
	})
	if len(names) == 0 {
		return nil, fmt.Errorf("selects no metric by name")
	}
	return names, nil
}

// notScraped are the names the kit uses that a short run does not show,
// each with why it cannot appear here and where it is tested instead. A
// transient one shows only at some moments (a job waiting at the scrape),
// so whether this run sees it is not checked either way.
var notScraped = map[string]struct {
	why       string
	transient bool
}{
	"up":                                     {why: "Prometheus writes it per scrape target"},
	"notify_queue_jobs":                      {why: "observed only while a job waits or was given up (svc-notify/queue's tests); a job the process schedules itself may be waiting at the scrape", transient: true},
	"ingest_forwarder_failures_total":        {why: "counted from the first failed delivery"},
	"ingest_forwarder_dead_lettered_total":   {why: "counted from the first dead letter (TestSpoolDeadLetterCommands scrapes it)"},
	"recordings_notify_outbox_entries_total": {why: "counted from the first event published to notify"},
	"recordings_heatmap_flushes_total":       {why: "counted from the first flush of heatmap changes (svc-recordings/store/pebble's TestHeatMetrics)"},
}

// TestOperationsKitMetricsExported: every query of the Grafana dashboard and
// of the alert rules is PromQL and names only metrics the binary exports.
func TestOperationsKitMetricsExported(t *testing.T) {
	exprs := dashboardExprs(t)
	for where, e := range alertExprs(t) {
		exprs[where] = e
	}
	used := map[string][]string{} // metric → where
	for where, e := range exprs {
		names, err := selectedMetrics(e)
		if err != nil {
			t.Errorf("%s: %q: %v", where, e, err)
			continue
		}
		for _, n := range names {
			used[n] = append(used[n], where)
		}
	}
	for n := range notScraped {
		if used[n] == nil {
			t.Errorf("notScraped names %s, which nothing in deploy/ uses: drop it", n)
		}
	}

	// A daily session limit, as the dashboard's quota panel assumes: an
	// unlimited instance (the default) leases no quota and so never counts
	// accounts_quota_granted_total.
	p := startServe(t, nil, "--accounts.default-plan.sessions-per-day=1000")
	d := newDashboard(t, p)
	postBatch(t, p, d.key, "https://shop.example.com", "s_opskit_metrics_000001")
	// A body over ingest.max-body-bytes is refused by a limit.
	if code, err := sendBatchBody(p.addrs.HTTP, d.key, "https://shop.example.com", strings.Repeat("x", 2<<20)); err != nil || code != http.StatusRequestEntityTooLarge {
		t.Fatalf("oversized batch = %d, %v; want 413", code, err)
	}
	poll.Until(t, 15*time.Second, func() error {
		if n := d.total(d.siteID); n != 1 {
			return fmt.Errorf("search has %d sessions; want the batch's", n)
		}
		return nil
	})

	var exported map[string]bool
	poll.Until(t, 15*time.Second, func() error {
		code, _, body := httpGet(t, "http://"+p.addrs.Admin+"/metrics")
		if code != http.StatusOK {
			return fmt.Errorf("/metrics = %d", code)
		}
		text := expfmt.NewTextParser(model.UTF8Validation)
		families, err := text.TextToMetricFamilies(bytes.NewReader(body))
		if err != nil {
			return fmt.Errorf("/metrics: %w", err)
		}
		exported = map[string]bool{}
		for name, f := range families {
			exported[name] = true
			switch f.GetType().String() {
			case "HISTOGRAM":
				exported[name+"_bucket"], exported[name+"_sum"], exported[name+"_count"] = true, true, true
			case "SUMMARY":
				exported[name+"_sum"], exported[name+"_count"] = true, true
			}
		}
		var missing []string
		for n := range used {
			if _, known := notScraped[n]; !exported[n] && !known {
				missing = append(missing, n)
			}
		}
		if len(missing) > 0 {
			slices.Sort(missing)
			return fmt.Errorf("used in deploy/ and not on /metrics: %v", missing)
		}
		return nil
	})
	for n, ns := range notScraped {
		if exported[n] && !ns.transient {
			t.Errorf("%s is on /metrics after all (notScraped says %q): drop it from notScraped", n, ns.why)
		}
	}
	t.Logf("%d queries name %d metrics, %d of them seen on /metrics", len(exprs), len(used), len(used)-len(notScraped))
}
