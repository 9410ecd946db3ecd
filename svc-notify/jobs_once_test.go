package notify

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	accountsv1 "github.com/sightlinehq/sightline/gen/sightline/accounts/v1"
	notifyv1 "github.com/sightlinehq/sightline/gen/sightline/notify/v1"
	searchv1 "github.com/sightlinehq/sightline/gen/sightline/search/v1"
	"github.com/sightlinehq/sightline/internal/pgtest"
	"github.com/sightlinehq/sightline/svc-notify/mail/mailtest"
	"github.com/sightlinehq/sightline/svc-notify/store"
	"github.com/sightlinehq/sightline/svc-notify/store/teststore"
	"github.com/sightlinehq/sightline/svc-notify/webhook"
)

// onceWorld is the scheduled-sends fixture: at testNow (Monday 07:30 UTC,
// digest hour 7) site 1 (UTC) is due its digests; site 2 (Tokyo, 16:30)
// and site 3 (New York, 02:30) are not. Site 1 has 20 daily and 5 weekly
// subscribers, one more daily subscriber who left, one who turned it off;
// user 1 has a no-data rule (the last session was 10 h ago) and user 2 a
// rage-click spike rule (50 in the last hour against 1 an hour before).
type onceWorld struct {
	daily, weekly []string
}

func seedOnce(t *testing.T, st store.Store, m *mesh) onceWorld {
	t.Helper()
	ctx := context.Background()
	m.addSite(1, "Shop <One>", "UTC")
	m.addSite(2, "Tokyo", "Asia/Tokyo")
	m.addSite(3, "New York", "America/New_York")
	var w onceWorld
	sub := func(user, site int64, f store.Frequency) {
		if _, err := st.SetDigestSubscription(ctx, store.DigestSubscription{UserID: user, SiteID: site, Frequency: f}); err != nil {
			t.Fatal(err)
		}
	}
	for u := int64(1); u <= 25; u++ {
		email := fmt.Sprintf("user%d@example.test", u)
		m.addMember(1, u, email, accountsv1.Role_ROLE_MEMBER)
		m.addMember(2, u, email, accountsv1.Role_ROLE_MEMBER)
		m.addMember(3, u, email, accountsv1.Role_ROLE_MEMBER)
		f := store.FrequencyDaily
		if u > 20 {
			f = store.FrequencyWeekly
			w.weekly = append(w.weekly, email)
		} else {
			w.daily = append(w.daily, email)
		}
		sub(u, 1, f)
		sub(u, 2, store.FrequencyDaily)
		sub(u, 3, store.FrequencyWeekly)
	}
	sub(26, 1, store.FrequencyDaily) // not a member (left)
	m.addMember(1, 27, "off@example.test", accountsv1.Role_ROLE_MEMBER)
	sub(27, 1, store.FrequencyOff)

	for _, r := range []struct {
		user int64
		kind string
		cond []byte
	}{
		{1, KindNoData, mustEncode(t, &notifyv1.NoDataCondition{Hours: 6})},
		{2, KindRageClicks, mustEncode(t, &notifyv1.SpikeCondition{Factor: 3, MinSessions: 5})},
		{3, KindJSErrors, mustEncode(t, &notifyv1.SpikeCondition{Factor: 3, MinSessions: 5})},
	} {
		if _, err := st.CreateAlertRule(ctx, store.AlertRule{SiteID: 1, UserID: r.user, Enabled: true, Kind: r.kind, Params: r.cond}, 20); err != nil {
			t.Fatal(err)
		}
	}
	m.report = func(req *searchv1.GetSiteReportRequest) *searchv1.GetSiteReportResponse {
		span := req.GetEndTime().AsTime().Sub(req.GetStartTime().AsTime())
		switch {
		case span == time.Hour: // the spike's hour
			return &searchv1.GetSiteReportResponse{Sessions: 60, SessionsWithRageClicks: 50, SessionsWithErrors: 1}
		case span == 7*24*time.Hour && req.GetTopPages() == 0: // the spike's baseline
			return &searchv1.GetSiteReportResponse{Sessions: 2000, SessionsWithRageClicks: 168, SessionsWithErrors: 168}
		}
		nps := int32(42)
		return &searchv1.GetSiteReportResponse{
			Sessions: 1234, SessionsWithRageClicks: 56, SessionsWithErrors: 7,
			TopPages:        []*searchv1.PageFrustration{{Url: "https://shop.example/cart?x=<1>", FrustratedSessions: 30, Sessions: 90}},
			FeedbackAnswers: 3, FeedbackAverage: 3.7, SurveyAnswers: 9, Nps: &nps,
			LastSessionTime: timestamppb.New(testNow.Add(-10 * time.Hour)),
		}
	}
	return w
}

func mustEncode(t *testing.T, c proto.Message) []byte {
	t.Helper()
	b, err := encodeCondition(c)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// checkOnce checks the e-mails: one digest per subscriber of site 1 (of
// the right kind and period), one no-data alert to user 1, one spike
// alert to user 2, nothing else.
func checkOnce(t *testing.T, w onceWorld, smtp *mailtest.Server, st store.Store) {
	t.Helper()
	msgs := smtp.Messages()
	digests := map[string][]string{}
	alerts := map[string]int{}
	for _, m := range msgs {
		switch m.Kind {
		case "digest":
			digests[m.To] = append(digests[m.To], m.Subject)
		case "alert":
			alerts[m.To]++
			want := map[string]string{"user1@example.test": "] No data for 6 hours", "user2@example.test": "] Rage clicks up: 50 sessions in an hour"}[m.To]
			if want == "" || !strings.Contains(m.Subject, want) {
				t.Errorf("alert to %s: subject %q, want it to contain %q", m.To, m.Subject, want)
			}
		default:
			t.Errorf("unexpected %s e-mail to %s", m.Kind, m.To)
		}
	}
	for _, to := range w.daily {
		if s := digests[to]; len(s) != 1 || !strings.Contains(s[0], "29 November 2026") {
			t.Errorf("%s: digests %q, want one daily for 29 November 2026", to, s)
		}
	}
	for _, to := range w.weekly {
		if s := digests[to]; len(s) != 1 || !strings.Contains(strings.ToLower(s[0]), "week") {
			t.Errorf("%s: digests %q, want one weekly", to, s)
		}
	}
	if n := len(digests); n != len(w.daily)+len(w.weekly) {
		t.Errorf("%d users got digests, want %d", n, len(w.daily)+len(w.weekly))
	}
	if len(alerts) != 2 || alerts["user1@example.test"] != 1 || alerts["user2@example.test"] != 1 {
		t.Errorf("alert e-mails %v, want one each to user1 (no data) and user2 (rage clicks)", alerts)
	}
	got, err := st.ListAlerts(context.Background(), 1, store.Page{Limit: 100})
	if err != nil || len(got) != 2 {
		t.Errorf("alerts stored %v %v, want 2", got, err)
	}
	for _, a := range got {
		want := map[string]string{KindNoData: "range=7d", KindRageClicks: "rage=1"}[a.Kind]
		if want == "" || !strings.Contains(a.Link, want) || !strings.HasPrefix(a.Link, "https://dash.example.test/sites/1/recordings?") {
			t.Errorf("alert %s link %q", a.Kind, a.Link)
		}
	}
}

// runPeriods queues the fan-outs and checks a leader (or several, after
// changes of leader) would: the due hour twice, the next hour (inside the
// catch-up window), and alert checks at three moments of one hour.
func runPeriods(e *jobsEnv) {
	for _, h := range []time.Time{testNow.Truncate(time.Hour), testNow.Truncate(time.Hour), testNow.Truncate(time.Hour).Add(time.Hour)} {
		e.insert(fanoutArgs{Hour: h})
	}
	for _, at := range []time.Time{testNow.Truncate(5 * time.Minute), testNow.Truncate(5 * time.Minute).Add(5 * time.Minute), testNow.Add(20 * time.Minute)} {
		e.insert(alertsArgs{At: at})
	}
}

func TestDigestsAndAlertsOnceSQLite(t *testing.T) {
	smtp := mailtest.NewServer(t)
	m := newMesh(t)
	st := teststore.SQLite(t)
	w := seedOnce(t, st, m)
	rcv := newReceiver(t, "", http.StatusOK)
	hook := createWebhook(t, st, 1, rcv.srv.URL, webhook.EventSiteNoData)
	rcv.secret = hook.Secret
	e := startJobs(t, st, m, smtp, nil)
	runPeriods(e)
	runPeriods(e)
	smtp.Wait(t, len(w.daily)+len(w.weekly)+2, 60*time.Second)
	e.settle(30 * time.Second)
	checkOnce(t, w, smtp, st)
	// The outage was also delivered to the site's site.no_data webhook,
	// once.
	if got := rcv.deliveries(); len(got) != 1 || got[0].body["type"] != webhook.EventSiteNoData {
		t.Errorf("site.no_data deliveries: %+v, want one", got)
	}
	// A daily digest links the day's recordings and its top page, and
	// unsubscribes its reader from this site's digest.
	found := false
	for _, msg := range smtp.Messages() {
		if msg.To != "user3@example.test" || msg.Kind != "digest" {
			continue
		}
		found = true
		links := strings.Join(msg.Links(), "\n")
		for _, want := range []string{
			"https://dash.example.test/sites/1/recordings?from=2026-11-29&range=custom&to=2026-11-29",
			"visited=equals%3Ahttps%3A%2F%2Fshop.example%2Fcart%3Fx%3D%3C1%3E",
		} {
			if !strings.Contains(links, want) {
				t.Errorf("digest links lack %s:\n%s", want, links)
			}
		}
		u := strings.Trim(msg.Header.Get("List-Unsubscribe"), "<>")
		un, err := e.svc.parseUnsubscribeToken(u[strings.Index(u, "token=")+len("token="):])
		if err != nil || un != (Unsubscribe{Kind: UnsubscribeDigest, UserID: 3, SiteID: 1}) {
			t.Errorf("digest unsubscribe %s: %+v %v", u, un, err)
		}
	}
	if !found {
		t.Error("no digest to user3")
	}
	// The site's report was asked once for the day, not per user (12),
	// plus once per alert check for its site.no_data webhook (2), whose
	// window (notify.webhook.no-data-hours) is not the rule's.
	if n := m.reportCalls.Load(); n > 14 {
		t.Errorf("%d GetSiteReport calls, want the reports shared", n)
	}
}

// TestDigestsAndAlertsOnceThreeProcessesPostgres runs three notify
// services (three River clients, one leader) on one PostgreSQL, each
// queueing every period as if it were the leader: every digest and alert
// still goes out exactly once.
func TestDigestsAndAlertsOnceThreeProcessesPostgres(t *testing.T) {
	smtp := mailtest.NewServer(t)
	m := newMesh(t)
	dsn := pgtest.Start(t)
	var envs []*jobsEnv
	stores := make([]store.Store, 3)
	for i := range stores {
		stores[i] = teststore.Postgres(t, dsn, 24)
	}
	first := stores[0]
	w := seedOnce(t, first, m)
	for i := range stores {
		envs = append(envs, startJobs(t, stores[i], m, smtp, nil))
	}
	for range 2 {
		for _, e := range envs {
			runPeriods(e)
		}
	}
	smtp.Wait(t, len(w.daily)+len(w.weekly)+2, 90*time.Second)
	for _, e := range envs {
		e.settle(30 * time.Second)
	}
	checkOnce(t, w, smtp, first)
}
