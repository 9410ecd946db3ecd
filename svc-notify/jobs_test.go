package notify

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/riverqueue/river/rivertype"

	accountsv1 "github.com/sightlinehq/sightline/gen/sightline/accounts/v1"
	notifyv1 "github.com/sightlinehq/sightline/gen/sightline/notify/v1"
	recordingsv1 "github.com/sightlinehq/sightline/gen/sightline/recordings/v1"
	sessionsv1 "github.com/sightlinehq/sightline/gen/sightline/sessions/v1"
	"github.com/sightlinehq/sightline/internal/pgtest"
	"github.com/sightlinehq/sightline/svc-notify/mail/mailtest"
	"github.com/sightlinehq/sightline/svc-notify/store"
	"github.com/sightlinehq/sightline/svc-notify/store/teststore"
	"github.com/sightlinehq/sightline/svc-notify/webhook"
)

// receiver is a webhook endpoint on 127.0.0.1 that verifies every
// delivery's signature and answers with status.
type receiver struct {
	srv    *httptest.Server
	secret string
	mu     sync.Mutex
	got    []delivered
	status int
	bad    int
}

type delivered struct {
	id   string
	body map[string]any
}

func newReceiver(t *testing.T, secret string, status int) *receiver {
	r := &receiver{secret: secret, status: status}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		defer r.mu.Unlock()
		// The service signs with its (test) clock.
		if err := webhook.Verify(r.secret, req.Header, body, testNow, webhook.DefaultTolerance); err != nil {
			r.bad++
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		var m map[string]any
		if err := json.Unmarshal(body, &m); err != nil {
			r.bad++
		}
		r.got = append(r.got, delivered{id: req.Header.Get("webhook-id"), body: m})
		w.WriteHeader(r.status)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) deliveries() []delivered {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]delivered(nil), r.got...)
}

func createWebhook(t *testing.T, st store.Store, site int64, url string, events ...string) store.Webhook {
	t.Helper()
	w, err := st.CreateWebhook(context.Background(), store.Webhook{
		SiteID: site, URL: url, Events: events, Enabled: true, Secret: webhook.NewSecret(),
	}, 20)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func sessionEvent(site int64, session string) *notifyv1.Event {
	return &notifyv1.Event{
		Id: fmt.Sprintf("session.ended:%d:%s", site, session), Type: webhook.EventSessionEnded, SiteId: site,
		Time: timestamppb.New(testNow),
		Payload: &notifyv1.Event_Session{Session: &sessionsv1.SessionSummary{
			SiteId: site, SessionId: session, StartTime: timestamppb.New(testNow.Add(-time.Hour)),
			EndTime: timestamppb.New(testNow.Add(-40 * time.Minute)), PageCount: 3, RageClickCount: 2,
		}},
	}
}

func answerEvent(site int64, id string, rating int32, comment string) *notifyv1.Event {
	return &notifyv1.Event{
		Id: fmt.Sprintf("answer.created:%d:%s", site, id), Type: webhook.EventFeedbackCreated, SiteId: site,
		Time: timestamppb.New(testNow),
		Payload: &notifyv1.Event_Answer{Answer: &sessionsv1.Answer{
			Id: id, SiteId: site, Kind: sessionsv1.AnswerKind_ANSWER_KIND_FEEDBACK, Rating: rating, Comment: comment,
			SessionId: "s-" + id, Recorded: true, Url: "https://shop.example/cart",
		}},
	}
}

func TestSendEmailEveryKind(t *testing.T) {
	smtp := mailtest.NewServer(t)
	e := startJobs(t, teststore.SQLite(t), newMesh(t), smtp, nil)
	ctx := context.Background()
	reqs := []*notifyv1.SendEmailRequest{
		{To: "a@example.test", Name: "Ada", IdempotencyKey: "verify:1", Content: &notifyv1.SendEmailRequest_VerifyEmail{VerifyEmail: &notifyv1.VerifyEmail{Token: "tok/1+x"}}},
		{To: "b@example.test", IdempotencyKey: "reset:1", Content: &notifyv1.SendEmailRequest_PasswordReset{PasswordReset: &notifyv1.PasswordReset{Token: "rst"}}},
		{To: "c@example.test", IdempotencyKey: "inv:1", Content: &notifyv1.SendEmailRequest_Invitation{Invitation: &notifyv1.Invitation{Token: "inv", OrganizationName: "Acme", InviterName: "Ada", Role: "member"}}},
		{To: "d@example.test", IdempotencyKey: "login:1", Content: &notifyv1.SendEmailRequest_NewLogin{NewLogin: &notifyv1.NewLogin{Device: "Firefox on Linux", IpPrefix: "203.0.113.0/24", Time: timestamppb.New(testNow)}}},
		{To: "e@example.test", IdempotencyKey: "exists:1", Content: &notifyv1.SendEmailRequest_SignupExisting{SignupExisting: &notifyv1.SignUpExisting{}}},
	}
	for _, r := range reqs {
		// Twice: a retried RPC queues nothing more.
		for range 2 {
			if _, err := e.internal.SendEmail(ctx, r); err != nil {
				t.Fatalf("SendEmail %s: %v", r.GetIdempotencyKey(), err)
			}
		}
	}
	smtp.Wait(t, len(reqs), 20*time.Second)
	e.settle(10 * time.Second)
	msgs := smtp.Messages()
	if len(msgs) != len(reqs) {
		t.Fatalf("got %d e-mails, want %d (one per idempotency key)", len(msgs), len(reqs))
	}
	want := map[string]struct{ kind, link string }{
		"a@example.test": {"verify_email", "https://dash.example.test/verify-email?token=tok%2F1%2Bx"},
		"b@example.test": {"password_reset", "https://dash.example.test/reset-password?token=rst"},
		"c@example.test": {"invitation", "https://dash.example.test/invitations/accept?token=inv"},
		"d@example.test": {"new_login", "https://dash.example.test/forgot-password"},
		"e@example.test": {"signup_existing", "https://dash.example.test/login"},
	}
	for _, m := range msgs {
		w, ok := want[m.To]
		if !ok {
			t.Errorf("unexpected e-mail to %s", m.To)
			continue
		}
		if m.Kind != w.kind {
			t.Errorf("%s: kind %q, want %q", m.To, m.Kind, w.kind)
		}
		if !containsString(m.Links(), w.link) || !strings.Contains(m.Text, w.link) {
			t.Errorf("%s: link %s missing from %v", m.To, w.link, m.Links())
		}
		if m.Subject == "" || m.HTML == "" || m.Text == "" {
			t.Errorf("%s: empty subject or part", m.To)
		}
	}
}

func containsString(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func TestSendEmailRejectedIsNotRetried(t *testing.T) {
	smtp := mailtest.NewServer(t)
	smtp.Reject("gone@example.test", 550)
	e := startJobs(t, teststore.SQLite(t), newMesh(t), smtp, nil)
	_, err := e.internal.SendEmail(context.Background(), &notifyv1.SendEmailRequest{
		To: "gone@example.test", IdempotencyKey: "verify:gone",
		Content: &notifyv1.SendEmailRequest_VerifyEmail{VerifyEmail: &notifyv1.VerifyEmail{Token: "t"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	e.settle(10 * time.Second)
	jobs := e.jobs(kindEmail)
	if len(jobs) != 1 || jobs[0].State != rivertype.JobStateCancelled || jobs[0].Attempt != 1 {
		t.Fatalf("rejected e-mail's job: %+v, want one cancelled after one attempt", jobs)
	}
	if len(smtp.Messages()) != 0 {
		t.Fatal("a refused e-mail was delivered")
	}
}

func TestInternalRefusesHostileInput(t *testing.T) {
	smtp := mailtest.NewServer(t)
	e := startJobs(t, teststore.SQLite(t), newMesh(t), smtp, nil)
	ctx := context.Background()
	ok := &notifyv1.VerifyEmail{Token: "t"}
	mails := map[string]*notifyv1.SendEmailRequest{
		"no to":          {IdempotencyKey: "k", Content: &notifyv1.SendEmailRequest_VerifyEmail{VerifyEmail: ok}},
		"display name":   {To: "Eve <eve@example.test>", IdempotencyKey: "k", Content: &notifyv1.SendEmailRequest_VerifyEmail{VerifyEmail: ok}},
		"header inject":  {To: "eve@example.test\r\nBcc: x@example.test", IdempotencyKey: "k", Content: &notifyv1.SendEmailRequest_VerifyEmail{VerifyEmail: ok}},
		"long to":        {To: strings.Repeat("a", 250) + "@example.test", IdempotencyKey: "k", Content: &notifyv1.SendEmailRequest_VerifyEmail{VerifyEmail: ok}},
		"no key":         {To: "a@example.test", Content: &notifyv1.SendEmailRequest_VerifyEmail{VerifyEmail: ok}},
		"long key":       {To: "a@example.test", IdempotencyKey: strings.Repeat("k", 201), Content: &notifyv1.SendEmailRequest_VerifyEmail{VerifyEmail: ok}},
		"no content":     {To: "a@example.test", IdempotencyKey: "k"},
		"no token":       {To: "a@example.test", IdempotencyKey: "k", Content: &notifyv1.SendEmailRequest_VerifyEmail{VerifyEmail: &notifyv1.VerifyEmail{}}},
		"name newline":   {To: "a@example.test", Name: "A\nB", IdempotencyKey: "k", Content: &notifyv1.SendEmailRequest_VerifyEmail{VerifyEmail: ok}},
		"invitation org": {To: "a@example.test", IdempotencyKey: "k", Content: &notifyv1.SendEmailRequest_Invitation{Invitation: &notifyv1.Invitation{Token: "t", Role: "member"}}},
	}
	for name, r := range mails {
		if _, err := e.internal.SendEmail(ctx, r); status.Code(err) != codes.InvalidArgument || status.Convert(err).Message() == "" {
			t.Errorf("SendEmail %s: %v, want InvalidArgument with a message", name, err)
		}
	}
	good := sessionEvent(1, "s1")
	events := map[string]func(*notifyv1.Event){
		"no id":         func(ev *notifyv1.Event) { ev.Id = "" },
		"long id":       func(ev *notifyv1.Event) { ev.Id = strings.Repeat("x", 201) },
		"unknown type":  func(ev *notifyv1.Event) { ev.Type = "site.deleted" },
		"test type":     func(ev *notifyv1.Event) { ev.Type = webhook.EventTest },
		"no site":       func(ev *notifyv1.Event) { ev.SiteId = 0 },
		"other site":    func(ev *notifyv1.Event) { ev.GetSession().SiteId = 2 },
		"no payload":    func(ev *notifyv1.Event) { ev.Payload = nil },
		"wrong payload": func(ev *notifyv1.Event) { ev.Type = webhook.EventFeedbackCreated },
	}
	for name, f := range events {
		ev := sessionEvent(1, "s1")
		f(ev)
		_, err := e.internal.PublishEvents(ctx, &notifyv1.PublishEventsRequest{Events: []*notifyv1.Event{good, ev}})
		if status.Code(err) != codes.InvalidArgument || !strings.Contains(status.Convert(err).Message(), "events[1]") {
			t.Errorf("PublishEvents %s: %v, want InvalidArgument naming events[1]", name, err)
		}
	}
	many := make([]*notifyv1.Event, 501)
	for i := range many {
		many[i] = sessionEvent(1, fmt.Sprint(i))
	}
	if _, err := e.internal.PublishEvents(ctx, &notifyv1.PublishEventsRequest{Events: many}); status.Code(err) != codes.InvalidArgument {
		t.Errorf("501 events: %v, want InvalidArgument", err)
	}
	e.settle(5 * time.Second)
	if n := len(e.jobs(kindEvent)) + len(e.jobs(kindEmail)); n != 0 {
		t.Fatalf("refused requests queued %d jobs", n)
	}
}

func TestWebhookDeliveryOnceSQLite(t *testing.T) { testWebhookDeliveryOnce(t, teststore.SQLite(t)) }

func TestWebhookDeliveryOncePostgres(t *testing.T) {
	testWebhookDeliveryOnce(t, teststore.Postgres(t, pgtest.Start(t), 24))
}

// testWebhookDeliveryOnce publishes events (one of them three times) to a
// site with two webhooks: each webhook gets each event once, signed, with
// a webhook-id stable per (event, webhook).
func testWebhookDeliveryOnce(t *testing.T, st store.Store) {
	smtp := mailtest.NewServer(t)
	m := newMesh(t)
	m.addSite(1, "Shop", "UTC")
	e := startJobs(t, st, m, smtp, nil)
	ctx := context.Background()
	r1 := newReceiver(t, "", http.StatusNoContent)
	r2 := newReceiver(t, "", http.StatusOK)
	w1 := createWebhook(t, st, 1, r1.srv.URL+"/hook", webhook.EventSessionEnded, webhook.EventFeedbackCreated)
	w2 := createWebhook(t, st, 1, r2.srv.URL+"/hook", webhook.EventSessionEnded)
	r1.secret, r2.secret = w1.Secret, w2.Secret
	other := createWebhook(t, st, 2, r2.srv.URL+"/other", webhook.EventSessionEnded)
	_ = other

	batch := []*notifyv1.Event{sessionEvent(1, "s1"), sessionEvent(1, "s2"), answerEvent(1, "a_1", 4, "fine")}
	for range 3 {
		if _, err := e.internal.PublishEvents(ctx, &notifyv1.PublishEventsRequest{Events: batch}); err != nil {
			t.Fatal(err)
		}
	}
	// The same event twice in one call.
	dup := sessionEvent(1, "s3")
	if _, err := e.internal.PublishEvents(ctx, &notifyv1.PublishEventsRequest{Events: []*notifyv1.Event{dup, dup}}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, func() bool { return len(r1.deliveries()) >= 4 && len(r2.deliveries()) >= 3 })
	e.settle(10 * time.Second)
	got1, got2 := r1.deliveries(), r2.deliveries()
	if len(got1) != 4 || len(got2) != 3 || r1.bad+r2.bad != 0 {
		t.Fatalf("deliveries: %d to webhook 1 (want 4), %d to webhook 2 (want 3), %d unverified", len(got1), len(got2), r1.bad+r2.bad)
	}
	ids := map[string]bool{}
	for _, d := range append(got1, got2...) {
		if ids[d.id] {
			t.Errorf("webhook-id %s delivered twice", d.id)
		}
		ids[d.id] = true
	}
	if !ids[messageID(sessionEvent(1, "s1").GetId(), w1.ID)] || !ids[messageID(sessionEvent(1, "s1").GetId(), w2.ID)] {
		t.Errorf("webhook-ids are not messageID(event, webhook): %v", ids)
	}
	for _, d := range got1 {
		if d.body["type"] == webhook.EventSessionEnded {
			data, _ := d.body["data"].(map[string]any)
			if link, _ := data["recording_url"].(string); link != "" && !strings.HasPrefix(link, "https://dash.example.test/sites/1/recordings/") {
				t.Errorf("session link %q", link)
			}
		}
	}
	ds, err := st.ListDeliveries(ctx, 1, w1.ID, store.Page{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range ds {
		if d.State != store.DeliverySucceeded || d.Attempts != 1 {
			t.Errorf("delivery %d: state %v after %d attempts, want succeeded after 1", d.ID, d.State, d.Attempts)
		}
	}
}

func waitFor(t *testing.T, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within %v", timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestWebhookRetryThenDisable: a failing receiver gets the delivery
// snoozed for webhook.Backoff(1); with a short disable-after the webhook
// is disabled (reason "failing"), its pending deliveries failed, and each
// admin of the site e-mailed once.
func TestWebhookRetryThenDisable(t *testing.T) {
	smtp := mailtest.NewServer(t)
	m := newMesh(t)
	m.addSite(1, "Shop", "UTC")
	m.addMember(1, 10, "owner@example.test", accountsv1.Role_ROLE_OWNER)
	m.addMember(1, 11, "admin@example.test", accountsv1.Role_ROLE_ADMIN)
	m.addMember(1, 12, "member@example.test", accountsv1.Role_ROLE_MEMBER)
	st := teststore.SQLite(t)
	// First a webhook that fails but is far from disable-after.
	e := startJobs(t, st, m, smtp, nil)
	ctx := context.Background()
	r := newReceiver(t, "", http.StatusServiceUnavailable)
	w := createWebhook(t, st, 1, r.srv.URL, webhook.EventSessionEnded)
	r.secret = w.Secret
	if _, err := e.internal.PublishEvents(ctx, &notifyv1.PublishEventsRequest{Events: []*notifyv1.Event{sessionEvent(1, "s1")}}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, func() bool { return len(r.deliveries()) == 1 })
	e.settle(10 * time.Second)
	jobs := e.jobs(kindWebhookDelivery)
	if len(jobs) != 1 || jobs[0].State != rivertype.JobStateScheduled {
		t.Fatalf("delivery job after a failure: %+v, want one scheduled (snoozed)", jobs)
	}
	wait := jobs[0].ScheduledAt.Sub(*jobs[0].AttemptedAt)
	if wait < webhook.BackoffBase-time.Second || wait > webhook.BackoffBase*6/5+2*time.Second {
		t.Errorf("snoozed for %v, want webhook.Backoff(1) = %v + up to 20%%", wait, webhook.BackoffBase)
	}
	ds, err := st.ListDeliveries(ctx, 1, w.ID, store.Page{Limit: 10})
	if err != nil || len(ds) != 1 {
		t.Fatal(ds, err)
	}
	if d := ds[0]; d.State != store.DeliveryRetrying || d.Attempts != 1 || d.LastStatusCode != 503 || d.NextAttemptTime.IsZero() {
		t.Errorf("delivery after a failure: %+v", d)
	}
	hook, err := st.GetWebhook(ctx, 1, w.ID)
	if err != nil || !hook.Enabled || hook.ConsecutiveFailures != 1 || hook.FailingSince.IsZero() {
		t.Fatalf("webhook after a failure: %+v %v", hook, err)
	}

	// Now disable-after is reached at the next failure.
	e.svc.cfg.Webhook.DisableAfter = 0
	if _, err := e.internal.PublishEvents(ctx, &notifyv1.PublishEventsRequest{Events: []*notifyv1.Event{sessionEvent(1, "s2")}}); err != nil {
		t.Fatal(err)
	}
	smtp.Wait(t, 2, 20*time.Second)
	e.settle(10 * time.Second)
	hook, err = st.GetWebhook(ctx, 1, w.ID)
	if err != nil || hook.Enabled || hook.DisabledReason != "failing" {
		t.Fatalf("webhook not disabled: %+v %v", hook, err)
	}
	ds, err = st.ListDeliveries(ctx, 1, w.ID, store.Page{Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range ds {
		if d.State != store.DeliveryFailed {
			t.Errorf("delivery %d of a disabled webhook: %v, want failed", d.ID, d.State)
		}
	}
	msgs := smtp.Messages()
	got := byRecipient(msgs)
	if len(msgs) != 2 || got["owner@example.test"] != 1 || got["admin@example.test"] != 1 {
		t.Fatalf("webhook_disabled e-mails: %v, want one each to the owner and the admin", got)
	}
	for _, m := range msgs {
		if m.Kind != "webhook_disabled" || !containsString(m.Links(), "https://dash.example.test/sites/1/settings/webhooks") {
			t.Errorf("e-mail %q (%s) lacks the settings link: %v", m.Subject, m.Kind, m.Links())
		}
	}
	// A disabled webhook gets no more deliveries.
	if _, err := e.internal.PublishEvents(ctx, &notifyv1.PublishEventsRequest{Events: []*notifyv1.Event{sessionEvent(1, "s3")}}); err != nil {
		t.Fatal(err)
	}
	e.settle(10 * time.Second)
	if n := len(r.deliveries()); n != 2 {
		t.Errorf("receiver got %d attempts, want 2", n)
	}
}

func answerRule(t *testing.T, st store.Store, site, user int64, c *notifyv1.AnswerCondition) store.AlertRule {
	t.Helper()
	p, err := encodeCondition(c)
	if err != nil {
		t.Fatal(err)
	}
	r, err := st.CreateAlertRule(context.Background(), store.AlertRule{SiteID: site, UserID: user, Enabled: true, Kind: KindAnswer, Params: p}, 20)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestAnswerAlertOnce(t *testing.T) {
	smtp := mailtest.NewServer(t)
	m := newMesh(t)
	m.addSite(1, "Shop", "UTC")
	m.addMember(1, 10, "low@example.test", accountsv1.Role_ROLE_MEMBER)
	m.addMember(1, 11, "text@example.test", accountsv1.Role_ROLE_VIEWER)
	st := teststore.SQLite(t)
	e := startJobs(t, st, m, smtp, nil)
	ctx := context.Background()
	low := answerRule(t, st, 1, 10, &notifyv1.AnswerCondition{MaxRating: 2, MaxNps: -1})
	answerRule(t, st, 1, 11, &notifyv1.AnswerCondition{MaxNps: -1, TextContains: "BROKEN"})
	answerRule(t, st, 1, 99, &notifyv1.AnswerCondition{MaxNps: -1}) // a former member

	events := []*notifyv1.Event{
		answerEvent(1, "a_low", 1, "the cart is broken"), // both rules
		answerEvent(1, "a_ok", 5, "lovely"),              // neither
		answerEvent(1, "a_two", 2, "meh"),                // low only
	}
	for range 2 {
		if _, err := e.internal.PublishEvents(ctx, &notifyv1.PublishEventsRequest{Events: events}); err != nil {
			t.Fatal(err)
		}
	}
	smtp.Wait(t, 3, 20*time.Second)
	e.settle(10 * time.Second)
	got := byRecipient(smtp.Messages())
	if len(smtp.Messages()) != 3 || got["low@example.test"] != 2 || got["text@example.test"] != 1 {
		t.Fatalf("alert e-mails %v, want 2 to low@, 1 to text@", got)
	}
	for _, msg := range smtp.Messages() {
		if msg.Kind != "alert" || msg.Header.Get("List-Unsubscribe") == "" {
			t.Errorf("alert e-mail %q: kind %s, List-Unsubscribe %q", msg.Subject, msg.Kind, msg.Header.Get("List-Unsubscribe"))
		}
		if !containsString(msg.Links(), "https://dash.example.test/sites/1/recordings/s-a_low") &&
			!containsString(msg.Links(), "https://dash.example.test/sites/1/recordings/s-a_two") {
			t.Errorf("alert e-mail lacks the recording link: %v", msg.Links())
		}
	}
	alerts, err := st.ListAlerts(ctx, 1, store.Page{Limit: 100})
	if err != nil || len(alerts) != 3 {
		t.Fatalf("alerts %v %v, want 3", alerts, err)
	}
	// The unsubscribe link of low@'s alert names low@'s rule.
	for _, msg := range smtp.Messages() {
		if msg.To != "low@example.test" {
			continue
		}
		u := strings.Trim(msg.Header.Get("List-Unsubscribe"), "<>")
		tok := u[strings.Index(u, "token=")+len("token="):]
		un, err := e.svc.parseUnsubscribeToken(tok)
		if err != nil || un != (Unsubscribe{Kind: UnsubscribeAlert, UserID: 10, SiteID: 1, RuleID: low.ID}) {
			t.Errorf("unsubscribe token of %s: %+v %v", u, un, err)
		}
	}
}

func TestRecordingsSweepRunsWhileMore(t *testing.T) {
	smtp := mailtest.NewServer(t)
	m := newMesh(t)
	m.more[recordingsv1.SweepTask_SWEEP_TASK_END_IDLE_SESSIONS] = 2
	e := startJobs(t, teststore.SQLite(t), m, smtp, nil)
	at := time.Date(2031, 1, 1, 0, 0, 0, 0, time.UTC) // not a period the leader schedules
	e.insert(sweepArgs{Task: sweepEndIdle, At: at})
	e.insert(sweepArgs{Task: sweepEndIdle, At: at}) // the same period: no second run
	e.insert(sweepArgs{Task: sweepRetention, At: at})
	waitFor(t, 20*time.Second, func() bool {
		return m.sweepCount(recordingsv1.SweepTask_SWEEP_TASK_RETENTION) >= 1 && len(e.jobsDone(kindRecordingsSweep, at)) == 2
	})
	// The leader's own schedule may have run passes too: count ours by
	// the periods' jobs, and the passes at least 3 (2 × more, then done).
	if n := m.sweepCount(recordingsv1.SweepTask_SWEEP_TASK_END_IDLE_SESSIONS); n < 3 {
		t.Errorf("END_IDLE_SESSIONS passes: %d, want at least 3", n)
	}
}

// jobsDone lists completed jobs of kind whose args name the time at.
func (e *jobsEnv) jobsDone(kind string, at time.Time) []*rivertype.JobRow {
	var out []*rivertype.JobRow
	for _, j := range e.jobs(kind) {
		if j.State == rivertype.JobStateCompleted && strings.Contains(string(j.EncodedArgs), at.Format("2006-01-02T15:04:05")) {
			out = append(out, j)
		}
	}
	return out
}

// TestLeaderSchedulesPeriodicJobs: the elected leader queues every
// periodic job at start (and each period after), once per period however
// many processes run.
func TestLeaderSchedulesPeriodicJobs(t *testing.T) {
	smtp := mailtest.NewServer(t)
	m := newMesh(t)
	dsn := pgtest.Start(t)
	var envs []*jobsEnv
	for range 3 {
		envs = append(envs, startJobs(t, teststore.Postgres(t, dsn, 24), m, smtp, nil))
	}
	e := envs[0]
	waitFor(t, 60*time.Second, func() bool {
		return m.sweepCount(recordingsv1.SweepTask_SWEEP_TASK_END_IDLE_SESSIONS) >= 1 &&
			m.sweepCount(recordingsv1.SweepTask_SWEEP_TASK_RETENTION) >= 1 &&
			len(e.jobs(kindPrune)) >= 1 && len(e.jobs(kindDigestFanout)) >= 1 && len(e.jobs(kindAlertsCheck)) >= 1
	})
	for _, env := range envs {
		env.settle(20 * time.Second)
	}
	// The test clock stands still, so every period is testNow's: one job
	// each, whichever process led.
	for _, kind := range []string{kindPrune, kindAlertsCheck} {
		if n := len(e.jobs(kind)); n != 1 {
			t.Errorf("%d %s jobs, want 1 for the one period", n, kind)
		}
	}
	// The hour's fan-out: its daily page, then its weekly page.
	if n := len(e.jobs(kindDigestFanout)); n != 2 {
		t.Errorf("%d digest_fanout jobs, want 2 (daily, weekly)", n)
	}
	if n := len(e.jobs(kindRecordingsSweep)); n != 2 {
		t.Errorf("%d recordings_sweep jobs, want 2 (one per task)", n)
	}
}
