package notify

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	accountsv1 "github.com/sightlinehq/sightline/gen/sightline/accounts/v1"
	searchv1 "github.com/sightlinehq/sightline/gen/sightline/search/v1"
	"github.com/sightlinehq/sightline/svc-notify/mail/mailtest"
	"github.com/sightlinehq/sightline/svc-notify/store/teststore"
	"github.com/sightlinehq/sightline/svc-notify/webhook"
)

// TestNoDataWebhookWithoutRules: a site.no_data webhook fires after
// notify.webhook.no-data-hours of silence even when no member set a
// no-data alert, once per outage, and not for a site silent for less or
// for longer than the week before.
func TestNoDataWebhookWithoutRules(t *testing.T) {
	m := newMesh(t)
	st := teststore.SQLite(t)
	silence := map[int64]time.Duration{
		2: 25 * time.Hour,                  // broke a day ago: fires
		3: 5 * time.Hour,                   // quiet for less than 24 h: not yet
		4: 24*8*time.Hour + 30*time.Minute, // stopped long ago: not news
	}
	for site := range silence {
		m.addSite(site, fmt.Sprintf("Shop %d", site), "UTC")
		m.addMember(site, 1, "owner@example.test", accountsv1.Role_ROLE_OWNER)
	}
	m.report = func(req *searchv1.GetSiteReportRequest) *searchv1.GetSiteReportResponse {
		return &searchv1.GetSiteReportResponse{Sessions: 10, LastSessionTime: timestamppb.New(testNow.Add(-silence[req.GetSiteId()]))}
	}
	rcvs := map[int64]*receiver{}
	for site := range silence {
		rcvs[site] = newReceiver(t, "", http.StatusOK)
		rcvs[site].secret = createWebhook(t, st, site, rcvs[site].srv.URL, webhook.EventSiteNoData, webhook.EventSessionEnded).Secret
	}
	e := startJobs(t, st, m, mailtest.NewServer(t), nil)
	for _, at := range []time.Time{testNow.Truncate(5 * time.Minute), testNow.Truncate(5 * time.Minute).Add(5 * time.Minute)} {
		e.insert(alertsArgs{At: at})
	}
	e.settle(30 * time.Second)
	for site, r := range rcvs {
		got := r.deliveries()
		if site != 2 {
			if len(got) != 0 {
				t.Errorf("site %d, silent %v: %d deliveries, want none", site, silence[site], len(got))
			}
			continue
		}
		if len(got) != 1 || got[0].body["type"] != webhook.EventSiteNoData {
			t.Fatalf("site 2: deliveries %+v, want one site.no_data", got)
		}
		data, _ := got[0].body["data"].(map[string]any)
		if data["site_id"] != float64(2) || data["hours"] != float64(24) {
			t.Errorf("site.no_data data %v, want site 2 after 24 hours", data)
		}
	}
}
