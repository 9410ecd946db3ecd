package ingest

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	accountsv1 "github.com/sightlinehq/sightline/gen/sightline/accounts/v1"
	"github.com/sightlinehq/sightline/svc-ingest/siteconfig"
)

// TestRetentionReachesRecordings: the site's retention (capped by its plan)
// its cold age (capped by the retention) and its asset-capture switch
// (unset = on) travel on every chunk to
// recordings, over real HTTP and gRPC.
func TestRetentionReachesRecordings(t *testing.T) {
	e := newEnv(t, nil)
	sites := []struct {
		key            string
		id             int64
		days, ceiling  int32
		want           int32
		capture        *bool
		wantCapture    bool
		cold, wantCold int32
	}{
		{"k_retention000007", 5_000_000_107, 7, 30, 7, nil, true, 3, 3},             // the site's setting
		{"k_retention000090", 5_000_000_190, 90, 30, 30, new(false), false, 60, 30}, // capped by the plan; cold by retention
		{"k_retention000000", 5_000_000_100, 0, 60, 60, new(true), true, 0, 0},      // unset: the plan's ceiling; never cold
		{"k_retention0nocap", 5_000_000_101, 14, 0, 14, new(false), false, -2, 0},   // no ceiling on the plan
		{"k_retention0unset", 5_000_000_102, 0, 0, 0, nil, true, 400, 400},          // neither: recordings' default
	}
	e.acc.mu.Lock()
	for i, s := range sites {
		e.acc.sites[s.key] = &accountsv1.GetSiteConfigResponse{SiteId: s.id, OrganizationId: orgID, SiteKey: s.key,
			Domains:  []string{fmt.Sprintf("r%d.example", i)},
			Settings: &accountsv1.SiteSettings{RecordingEnabled: true, SampleRate: 1, RetentionDays: s.days, CaptureAssets: s.capture, ColdAfterDays: s.cold},
			Plan:     &accountsv1.Plan{Name: "p", MaxRetentionDays: s.ceiling}}
	}
	e.acc.mu.Unlock()
	const perSite = 3
	for i, s := range sites {
		for seq := range perSite {
			body := batchBody(t, func(m map[string]any) { m["siteKey"] = s.key; m["seq"] = seq })
			resp := e.post(req{query: "k=" + s.key + "&ce=gzip", body: gz(body),
				headers: map[string]string{"Origin": fmt.Sprintf("https://r%d.example", i)}})
			if resp.StatusCode != http.StatusNoContent {
				t.Fatalf("%s seq %d: status %d", s.key, seq, resp.StatusCode)
			}
		}
	}
	e.run()
	e.rec.waitChunks(t, len(sites)*perSite, 10*time.Second)
	e.rec.mu.Lock()
	defer e.rec.mu.Unlock()
	for _, s := range sites {
		for seq := range perSite {
			c := e.rec.chunks[chunkKey{s.id, "s_Qm9vc3RlZFNlc3Npb24wMQ", int64(seq)}]
			if c == nil {
				t.Fatalf("%s seq %d: not delivered", s.key, seq)
			}
			if c.GetRetentionDays() != s.want {
				t.Errorf("%s seq %d: retention_days %d, want %d (site %d, plan ceiling %d)", s.key, seq, c.GetRetentionDays(), s.want, s.days, s.ceiling)
			}
			if c.GetColdAfterDays() != s.wantCold {
				t.Errorf("%s seq %d: cold_after_days %d, want %d", s.key, seq, c.GetColdAfterDays(), s.wantCold)
			}
			if c.GetCaptureAssets() != s.wantCapture {
				t.Errorf("%s seq %d: capture_assets %v, want %v", s.key, seq, c.GetCaptureAssets(), s.wantCapture)
			}
		}
	}
}

func TestRetentionDays(t *testing.T) {
	for _, c := range []struct{ days, ceiling, want int32 }{
		{7, 30, 7}, {30, 30, 30}, {365, 30, 30}, {0, 90, 90}, {14, 0, 14}, {0, 0, 0}, {-3, 30, 30}, {5, -1, 5},
	} {
		site := &siteconfig.Site{GetSiteConfigResponse: &accountsv1.GetSiteConfigResponse{
			Settings: &accountsv1.SiteSettings{RetentionDays: c.days}, Plan: &accountsv1.Plan{MaxRetentionDays: c.ceiling}}}
		if got := retentionDays(site); got != c.want {
			t.Errorf("site %d, ceiling %d: %d, want %d", c.days, c.ceiling, got, c.want)
		}
	}
	if got := retentionDays(&siteconfig.Site{GetSiteConfigResponse: &accountsv1.GetSiteConfigResponse{}}); got != 0 {
		t.Errorf("no settings, no plan: %d", got)
	}
}
