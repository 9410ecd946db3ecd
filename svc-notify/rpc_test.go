package notify

import (
	"context"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	notifyv1 "github.com/sightlinehq/sightline/gen/sightline/notify/v1"
	"github.com/sightlinehq/sightline/svc-notify/store"
	"github.com/sightlinehq/sightline/svc-notify/webhook"
)

// Webhooks through their life: the secret is shown at creation and
// rotation only, an update changes only the masked fields, enabling a
// webhook the service disabled clears its failures, and the per-site limit
// holds.
func TestWebhookLifecycle(t *testing.T) {
	e := newRPCEnv(t, func(c *Config) { c.Webhook.MaxPerSite = 3 })
	c, ctx := e.client, as(e.admin.token)
	cr, err := c.CreateWebhook(ctx, &notifyv1.CreateWebhookRequest{SiteId: e.site, Url: "https://hooks.example.com/a",
		Events: []string{"site.no_data", "session.ended"}, Description: "Ops channel"})
	if err != nil {
		t.Fatal(err)
	}
	w := cr.GetWebhook()
	if !strings.HasPrefix(cr.GetSecret(), webhook.SecretPrefix) || !w.GetEnabled() || w.GetSiteId() != e.site ||
		strings.Join(w.GetEvents(), ",") != "session.ended,site.no_data" || w.GetCreateTime() == nil {
		t.Fatalf("created %v with secret %q", w, cr.GetSecret())
	}
	// The secret never appears in a listing.
	ls, err := c.ListWebhooks(as(e.viewer.token), &notifyv1.ListWebhooksRequest{SiteId: e.site})
	if err != nil || len(ls.GetWebhooks()) != 1 {
		t.Fatalf("list = %v, %v", ls, err)
	}
	if b, _ := proto.Marshal(ls); strings.Contains(string(b), strings.TrimPrefix(cr.GetSecret(), webhook.SecretPrefix)) {
		t.Fatal("the listing carries the secret")
	}

	// Only masked fields change.
	up, err := c.UpdateWebhook(ctx, &notifyv1.UpdateWebhookRequest{SiteId: e.site, WebhookId: w.GetId(), Url: "https://hooks.example.com/b",
		Description: "ignored: not in the mask", UpdateMask: []string{"url"}})
	if err != nil {
		t.Fatal(err)
	}
	if up.GetWebhook().GetUrl() != "https://hooks.example.com/b" || up.GetWebhook().GetDescription() != "Ops channel" {
		t.Fatalf("update = %v", up.GetWebhook())
	}

	// Rotation: a new secret, the old one signing for 24 hours more.
	rot, err := c.RotateWebhookSecret(ctx, &notifyv1.RotateWebhookSecretRequest{SiteId: e.site, WebhookId: w.GetId()})
	if err != nil {
		t.Fatal(err)
	}
	if rot.GetSecret() == cr.GetSecret() || !strings.HasPrefix(rot.GetSecret(), webhook.SecretPrefix) {
		t.Fatalf("rotated secret %q", rot.GetSecret())
	}
	if exp := rot.GetWebhook().GetPreviousSecretExpireTime().AsTime(); time.Until(exp) < 23*time.Hour || time.Until(exp) > 25*time.Hour {
		t.Fatalf("previous secret expires at %v, want in 24 h", exp)
	}
	stored, err := e.svc.store.GetWebhook(as(""), e.site, w.GetId())
	if err != nil || stored.Secret != rot.GetSecret() || stored.PreviousSecret != cr.GetSecret() {
		t.Fatalf("stored secrets %q/%q, %v", stored.Secret, stored.PreviousSecret, err)
	}

	// The service disabled it after failures; a user's enabling starts the
	// count afresh.
	stored.Enabled, stored.DisabledReason, stored.ConsecutiveFailures, stored.FailingSince = false, "failing", 40, time.Now().Add(-80*time.Hour)
	if _, err := e.svc.store.UpdateWebhook(as(""), stored); err != nil {
		t.Fatal(err)
	}
	if _, err := c.SendTestWebhookEvent(ctx, &notifyv1.SendTestWebhookEventRequest{SiteId: e.site, WebhookId: w.GetId()}); code(err) != codes.FailedPrecondition {
		t.Fatalf("test event to a disabled webhook: %v, want FailedPrecondition", err)
	}
	en, err := c.UpdateWebhook(ctx, &notifyv1.UpdateWebhookRequest{SiteId: e.site, WebhookId: w.GetId(), Enabled: true, UpdateMask: []string{"enabled"}})
	if err != nil {
		t.Fatal(err)
	}
	if g := en.GetWebhook(); !g.GetEnabled() || g.GetDisabledReason() != "" || g.GetConsecutiveFailures() != 0 || g.GetFailingSince() != nil {
		t.Fatalf("re-enabled webhook = %v, want failures cleared", g)
	}

	// The test event is queued as a delivery of the webhook.test type, and
	// its redelivery keeps the webhook-id.
	te, err := c.SendTestWebhookEvent(ctx, &notifyv1.SendTestWebhookEventRequest{SiteId: e.site, WebhookId: w.GetId()})
	if err != nil {
		t.Fatal(err)
	}
	d := te.GetDelivery()
	if d.GetEventType() != webhook.EventTest || d.GetWebhookId() != w.GetId() || !strings.HasPrefix(d.GetMessageId(), "msg_") || !strings.Contains(d.GetPayload(), `"webhook.test"`) {
		t.Fatalf("test delivery = %v", d)
	}
	rd, err := c.RedeliverWebhookDelivery(ctx, &notifyv1.RedeliverWebhookDeliveryRequest{SiteId: e.site, DeliveryId: d.GetId()})
	if err != nil {
		t.Fatal(err)
	}
	if rd.GetDelivery().GetId() == d.GetId() || rd.GetDelivery().GetMessageId() != d.GetMessageId() || rd.GetDelivery().GetPayload() != d.GetPayload() {
		t.Fatalf("redelivery = %v of %v: want a new delivery, same webhook-id and body", rd.GetDelivery(), d)
	}
	// Newest first, one per page.
	p1, err := c.ListWebhookDeliveries(ctx, &notifyv1.ListWebhookDeliveriesRequest{SiteId: e.site, WebhookId: w.GetId(), PageSize: 1})
	if err != nil || len(p1.GetDeliveries()) != 1 || p1.GetDeliveries()[0].GetId() != rd.GetDelivery().GetId() || p1.GetNextPageToken() == "" {
		t.Fatalf("page 1 = %v, %v", p1, err)
	}
	p2, err := c.ListWebhookDeliveries(ctx, &notifyv1.ListWebhookDeliveriesRequest{SiteId: e.site, WebhookId: w.GetId(), PageSize: 1, PageToken: p1.GetNextPageToken()})
	if err != nil || len(p2.GetDeliveries()) != 1 || p2.GetDeliveries()[0].GetId() != d.GetId() {
		t.Fatalf("page 2 = %v, %v", p2, err)
	}

	// The limit: 3 per site here.
	for i := 0; i < 2; i++ {
		if _, err := c.CreateWebhook(ctx, &notifyv1.CreateWebhookRequest{SiteId: e.site, Url: "https://hooks.example.com/more", Events: []string{"feedback.created"}}); err != nil {
			t.Fatal(err)
		}
	}
	_, err = c.CreateWebhook(ctx, &notifyv1.CreateWebhookRequest{SiteId: e.site, Url: "https://hooks.example.com/more", Events: []string{"feedback.created"}})
	if code(err) != codes.ResourceExhausted || !strings.Contains(err.Error(), "notify.webhook.max-per-site") {
		t.Fatalf("fourth webhook: %v, want ResourceExhausted naming the limit", err)
	}

	// Deleting takes its deliveries along.
	if _, err := c.DeleteWebhook(ctx, &notifyv1.DeleteWebhookRequest{SiteId: e.site, WebhookId: w.GetId()}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ListWebhookDeliveries(ctx, &notifyv1.ListWebhookDeliveriesRequest{SiteId: e.site, WebhookId: w.GetId()}); code(err) != codes.NotFound {
		t.Fatalf("deliveries of a deleted webhook: %v, want NotFound", err)
	}
	if _, err := c.DeleteWebhook(ctx, &notifyv1.DeleteWebhookRequest{SiteId: e.site, WebhookId: w.GetId()}); code(err) != codes.NotFound {
		t.Fatalf("second delete: %v, want NotFound", err)
	}
}

// Webhook requests are refused with a message naming the field, before
// anything is stored.
func TestWebhookValidation(t *testing.T) {
	e := newRPCEnv(t, nil)
	c, ctx := e.client, as(e.owner.token)
	ok := &notifyv1.CreateWebhookRequest{SiteId: e.site, Url: "https://hooks.example.com/a", Events: []string{"session.ended"}}
	for _, tc := range []struct {
		name  string
		edit  func(r *notifyv1.CreateWebhookRequest)
		field string
	}{
		{"loopback target", func(r *notifyv1.CreateWebhookRequest) { r.Url = "http://127.0.0.1:9/" }, "url"},
		{"metadata service", func(r *notifyv1.CreateWebhookRequest) { r.Url = "http://169.254.169.254/" }, "url"},
		{"no URL", func(r *notifyv1.CreateWebhookRequest) { r.Url = "" }, "url"},
		{"scheme", func(r *notifyv1.CreateWebhookRequest) { r.Url = "gopher://hooks.example.com/" }, "url"},
		{"no events", func(r *notifyv1.CreateWebhookRequest) { r.Events = nil }, "events"},
		{"unknown event", func(r *notifyv1.CreateWebhookRequest) { r.Events = []string{"everything"} }, "events"},
		{"long description", func(r *notifyv1.CreateWebhookRequest) { r.Description = strings.Repeat("d", 201) }, "description"},
		{"site 0", func(r *notifyv1.CreateWebhookRequest) { r.SiteId = 0 }, "site_id"},
		{"negative site", func(r *notifyv1.CreateWebhookRequest) { r.SiteId = -1 }, "site_id"},
		{"unknown field", func(r *notifyv1.CreateWebhookRequest) {
			r.ProtoReflect().SetUnknown(protowire.AppendVarint(protowire.AppendTag(nil, 77, protowire.VarintType), 1))
		}, "unknown fields"},
	} {
		r := proto.Clone(ok).(*notifyv1.CreateWebhookRequest)
		tc.edit(r)
		_, err := c.CreateWebhook(ctx, r)
		wantInvalid(t, tc.name, err, tc.field)
	}
	if ws, _ := c.ListWebhooks(ctx, &notifyv1.ListWebhooksRequest{SiteId: e.site}); len(ws.GetWebhooks()) != 0 {
		t.Fatalf("refused requests stored %d webhooks", len(ws.GetWebhooks()))
	}
	w := e.webhook()
	for _, tc := range []struct {
		name  string
		req   *notifyv1.UpdateWebhookRequest
		field string
	}{
		{"empty mask", &notifyv1.UpdateWebhookRequest{SiteId: e.site, WebhookId: w.GetId()}, "update_mask"},
		{"secret in mask", &notifyv1.UpdateWebhookRequest{SiteId: e.site, WebhookId: w.GetId(), UpdateMask: []string{"secret"}}, "update_mask"},
		{"private URL", &notifyv1.UpdateWebhookRequest{SiteId: e.site, WebhookId: w.GetId(), Url: "http://10.0.0.1/", UpdateMask: []string{"url"}}, "url"},
		{"events emptied", &notifyv1.UpdateWebhookRequest{SiteId: e.site, WebhookId: w.GetId(), UpdateMask: []string{"events"}}, "events"},
		{"webhook 0", &notifyv1.UpdateWebhookRequest{SiteId: e.site, UpdateMask: []string{"enabled"}}, "webhook_id"},
	} {
		_, err := c.UpdateWebhook(ctx, tc.req)
		wantInvalid(t, tc.name, err, tc.field)
	}
	for _, tc := range []struct {
		name  string
		req   *notifyv1.ListWebhookDeliveriesRequest
		field string
	}{
		{"page size", &notifyv1.ListWebhookDeliveriesRequest{SiteId: e.site, WebhookId: w.GetId(), PageSize: 101}, "page_size"},
		{"page token", &notifyv1.ListWebhookDeliveriesRequest{SiteId: e.site, WebhookId: w.GetId(), PageToken: "../../etc"}, "page_token"},
	} {
		_, err := c.ListWebhookDeliveries(ctx, tc.req)
		wantInvalid(t, tc.name, err, tc.field)
	}
}

// With notify.webhook.allow-private (tests, closed networks) a loopback
// receiver is accepted.
func TestWebhookAllowPrivate(t *testing.T) {
	e := newRPCEnv(t, func(c *Config) { c.Webhook.AllowPrivate = true })
	if _, err := e.client.CreateWebhook(as(e.owner.token), &notifyv1.CreateWebhookRequest{SiteId: e.site, Url: "http://127.0.0.1:9/hook", Events: []string{"session.ended"}}); err != nil {
		t.Fatal(err)
	}
}

// Alert rules are each user's own; conditions get their defaults; the
// per-user limit holds; unsubscribing from an alert e-mail disables the
// rule and from a digest turns it off, idempotently.
func TestAlertRulesDigestsAndUnsubscribe(t *testing.T) {
	e := newRPCEnv(t, func(c *Config) { c.Alerts.MaxRulesPerUserSite = 2 })
	c := e.client
	cr, err := c.CreateAlertRule(as(e.member.token), &notifyv1.CreateAlertRuleRequest{Rule: &notifyv1.AlertRule{
		Id: 999, UserId: e.owner.id, SiteId: e.site, Enabled: true, // id and user are ignored
		Condition: &notifyv1.AlertRule_RageClicks{RageClicks: &notifyv1.SpikeCondition{MinSessions: 10}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	r := cr.GetRule()
	if r.GetId() == 999 || r.GetUserId() != e.member.id || r.GetRageClicks().GetFactor() != 3 || r.GetRageClicks().GetMinSessions() != 10 || !r.GetEnabled() {
		t.Fatalf("created rule = %v", r)
	}
	if _, err := c.CreateAlertRule(as(e.member.token), &notifyv1.CreateAlertRuleRequest{Rule: &notifyv1.AlertRule{SiteId: e.site, Enabled: true,
		Condition: &notifyv1.AlertRule_Answer{Answer: &notifyv1.AnswerCondition{MaxRating: 2, MaxNps: -1}}}}); err != nil {
		t.Fatal(err)
	}
	_, err = c.CreateAlertRule(as(e.member.token), &notifyv1.CreateAlertRuleRequest{Rule: &notifyv1.AlertRule{SiteId: e.site,
		Condition: &notifyv1.AlertRule_NoData{NoData: &notifyv1.NoDataCondition{Hours: 3}}}})
	if code(err) != codes.ResourceExhausted || !strings.Contains(err.Error(), "max-rules-per-user-site") {
		t.Fatalf("third rule: %v, want ResourceExhausted naming the limit", err)
	}
	// The limit is per user: the owner still has room.
	e.rule(e.owner)
	mine, err := c.ListAlertRules(as(e.member.token), &notifyv1.ListAlertRulesRequest{SiteId: e.site})
	if err != nil || len(mine.GetRules()) != 2 {
		t.Fatalf("member's rules = %v, %v; want their 2 only", mine, err)
	}

	// Update replaces condition and enabled state.
	up, err := c.UpdateAlertRule(as(e.member.token), &notifyv1.UpdateAlertRuleRequest{Rule: &notifyv1.AlertRule{Id: r.GetId(), SiteId: e.site, Enabled: true,
		Condition: &notifyv1.AlertRule_JsErrors{JsErrors: &notifyv1.SpikeCondition{Factor: 5}}}})
	if err != nil || up.GetRule().GetJsErrors().GetFactor() != 5 || up.GetRule().GetRageClicks() != nil {
		t.Fatalf("update = %v, %v", up, err)
	}
	_, err = c.UpdateAlertRule(as(e.member.token), &notifyv1.UpdateAlertRuleRequest{Rule: &notifyv1.AlertRule{Id: r.GetId(), SiteId: e.site,
		Condition: &notifyv1.AlertRule_NoData{NoData: &notifyv1.NoDataCondition{Hours: 500}}}})
	wantInvalid(t, "update out of range", err, "rule.no_data.hours")
	_, err = c.CreateAlertRule(as(e.member.token), &notifyv1.CreateAlertRuleRequest{})
	wantInvalid(t, "no rule", err, "rule")

	// Unsubscribing from the alert e-mail disables the rule; twice is fine.
	tok := e.svc.unsubscribeToken(Unsubscribe{Kind: UnsubscribeAlert, UserID: e.member.id, SiteID: e.site, RuleID: r.GetId()})
	for i := 0; i < 2; i++ {
		u, err := c.Unsubscribe(as(""), &notifyv1.UnsubscribeRequest{Token: tok})
		if err != nil || u.GetKind() != "alert" || u.GetSiteId() != e.site || u.GetSiteName() != "A shop" {
			t.Fatalf("unsubscribe #%d = %v, %v", i+1, u, err)
		}
	}
	got, err := e.svc.store.GetAlertRule(as(""), e.site, e.member.id, r.GetId())
	if err != nil || got.Enabled {
		t.Fatalf("rule after unsubscribe: enabled %v, %v", got.Enabled, err)
	}

	// Digest: OFF until set; set; unsubscribed by its e-mail's link.
	g, err := c.GetDigestSubscription(as(e.viewer.token), &notifyv1.GetDigestSubscriptionRequest{SiteId: e.site})
	if err != nil || g.GetFrequency() != notifyv1.DigestFrequency_DIGEST_FREQUENCY_OFF {
		t.Fatalf("never set = %v, %v", g, err)
	}
	if _, err := c.UpdateDigestSubscription(as(e.viewer.token), &notifyv1.UpdateDigestSubscriptionRequest{SiteId: e.site, Frequency: notifyv1.DigestFrequency_DIGEST_FREQUENCY_DAILY}); err != nil {
		t.Fatal(err)
	}
	_, err = c.UpdateDigestSubscription(as(e.viewer.token), &notifyv1.UpdateDigestSubscriptionRequest{SiteId: e.site})
	wantInvalid(t, "unspecified frequency", err, "frequency")
	_, err = c.UpdateDigestSubscription(as(e.viewer.token), &notifyv1.UpdateDigestSubscriptionRequest{SiteId: e.site, Frequency: 42})
	wantInvalid(t, "unknown frequency", err, "frequency")
	dtok := e.svc.unsubscribeToken(Unsubscribe{Kind: UnsubscribeDigest, UserID: e.viewer.id, SiteID: e.site})
	if u, err := c.Unsubscribe(as(""), &notifyv1.UnsubscribeRequest{Token: dtok}); err != nil || u.GetKind() != "digest" {
		t.Fatalf("digest unsubscribe = %v, %v", u, err)
	}
	g, err = c.GetDigestSubscription(as(e.viewer.token), &notifyv1.GetDigestSubscriptionRequest{SiteId: e.site})
	if err != nil || g.GetFrequency() != notifyv1.DigestFrequency_DIGEST_FREQUENCY_OFF {
		t.Fatalf("after unsubscribe = %v, %v", g, err)
	}

	// Hostile tokens: one message, no detail.
	for _, bad := range []string{"", "1.", "garbage", strings.Repeat("A", 100_000), dtok + "x", strings.Replace(dtok, "1.", "2.", 1)} {
		_, err := c.Unsubscribe(as(""), &notifyv1.UnsubscribeRequest{Token: bad})
		if code(err) != codes.InvalidArgument {
			t.Errorf("token %.20q: %v, want InvalidArgument", bad, err)
		}
		if bad != "" && !strings.Contains(err.Error(), "this unsubscribe link is not valid") {
			t.Errorf("token %.20q: message %v", bad, err)
		}
	}

	// Deleting: another user's rule is NotFound and stays.
	if _, err := c.DeleteAlertRule(as(e.admin.token), &notifyv1.DeleteAlertRuleRequest{SiteId: e.site, RuleId: r.GetId()}); code(err) != codes.NotFound {
		t.Fatalf("admin deletes the member's rule: %v, want NotFound", err)
	}
	if _, err := c.DeleteAlertRule(as(e.member.token), &notifyv1.DeleteAlertRuleRequest{SiteId: e.site, RuleId: r.GetId()}); err != nil {
		t.Fatal(err)
	}
}

// Fired alerts are listed newest first for every member, a page at a time.
func TestListAlerts(t *testing.T) {
	e := newRPCEnv(t, nil)
	rule := e.rule(e.owner)
	base := time.Date(2026, 11, 30, 7, 0, 0, 0, time.UTC)
	for i := 0; i < 3; i++ {
		err := e.svc.store.InTx(as(""), func(ctx context.Context, tx store.Tx) error {
			_, _, err := tx.RecordAlert(ctx, store.Alert{SiteID: e.site, RuleID: rule.GetId(), UserID: e.owner.id, Kind: KindNoData,
				PeriodKey: base.Add(time.Duration(i) * time.Hour).Format("2006-01-02T15"), FireTime: base.Add(time.Duration(i) * time.Hour),
				Summary: "No sessions for 6 hours", Link: "http://localhost:8080/sites/1/recordings"})
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	var seen []int64
	tok := ""
	for page := 0; page < 5; page++ {
		r, err := e.client.ListAlerts(as(e.viewer.token), &notifyv1.ListAlertsRequest{SiteId: e.site, PageSize: 2, PageToken: tok})
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range r.GetAlerts() {
			if a.GetKind() != KindNoData || a.GetRuleId() != rule.GetId() || a.GetSummary() == "" {
				t.Fatalf("alert = %v", a)
			}
			seen = append(seen, a.GetId())
		}
		if tok = r.GetNextPageToken(); tok == "" {
			break
		}
	}
	if len(seen) != 3 || seen[0] < seen[1] || seen[1] < seen[2] {
		t.Fatalf("alerts by page = %v, want 3 newest first", seen)
	}
}
