package notify

import (
	"context"
	"flag"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"

	notifyv1 "github.com/sightlinehq/sightline/gen/sightline/notify/v1"
	"github.com/sightlinehq/sightline/svc-accounts/accountstest"
)

// authzCase calls one RPC on organisation A's objects; want lists the code
// each caller gets.
type authzCase struct {
	method string
	call   func(ctx context.Context) error
	want   callers
}

// callers are the codes expected for each kind of caller.
type callers struct {
	// A user of another organisation, A's viewer, member, admin and
	// owner, an API key of A with the admin role, an instance operator
	// outside A, and no credential at all.
	foreign, viewer, member, admin, owner, adminKey, operator, anon codes.Code
}

// TestAuthorizationEveryRPC walks every RPC of NotifyService over real
// sockets with real accounts: another organisation's caller gets NotFound,
// viewers and members may read but not change webhooks, alert rules and
// digests are each user's own (API keys have none), the outbox is the
// operator's, and Unsubscribe needs only its token.
func TestAuthorizationEveryRPC(t *testing.T) {
	e := newRPCEnv(t, func(c *Config) { c.Webhook.AllowPrivate = false })
	c := e.client
	const (
		OK = codes.OK
		NF = codes.NotFound
		PD = codes.PermissionDenied
		UA = codes.Unauthenticated
		IA = codes.InvalidArgument
	)
	// A's webhook and one delivery of it, and the owner's rule, read and
	// written by everyone below.
	hook := e.webhook()
	test, err := c.SendTestWebhookEvent(as(e.owner.token), &notifyv1.SendTestWebhookEventRequest{SiteId: e.site, WebhookId: hook.GetId()})
	if err != nil {
		t.Fatal(err)
	}
	delivery := test.GetDelivery().GetId()
	ownerRule := e.rule(e.owner)

	read := callers{foreign: NF, viewer: OK, member: OK, admin: OK, owner: OK, adminKey: OK, operator: NF, anon: UA}
	write := callers{foreign: NF, viewer: PD, member: PD, admin: OK, owner: OK, adminKey: OK, operator: NF, anon: UA}
	own := callers{foreign: NF, viewer: OK, member: OK, admin: OK, owner: OK, adminKey: PD, operator: NF, anon: UA}
	// Another user's rule is not theirs to see: NotFound, as for a rule
	// that does not exist.
	ownersRule := callers{foreign: NF, viewer: NF, member: NF, admin: NF, owner: OK, adminKey: PD, operator: NF, anon: UA}
	operator := callers{foreign: PD, viewer: PD, member: PD, admin: PD, owner: PD, adminKey: PD, operator: OK, anon: UA}

	cases := []authzCase{
		{"ListWebhooks", func(ctx context.Context) error {
			_, err := c.ListWebhooks(ctx, &notifyv1.ListWebhooksRequest{SiteId: e.site})
			return err
		}, read},
		{"CreateWebhook", func(ctx context.Context) error {
			_, err := c.CreateWebhook(ctx, &notifyv1.CreateWebhookRequest{SiteId: e.site, Url: "https://hooks.example.com/x", Events: []string{"feedback.created"}})
			return err
		}, write},
		{"UpdateWebhook", func(ctx context.Context) error {
			_, err := c.UpdateWebhook(ctx, &notifyv1.UpdateWebhookRequest{SiteId: e.site, WebhookId: hook.GetId(), Description: "changed", UpdateMask: []string{"description"}})
			return err
		}, write},
		{"DeleteWebhook", func(ctx context.Context) error {
			// A fresh webhook each time, so a refused caller's attempt is
			// on a webhook that exists.
			_, err := c.DeleteWebhook(ctx, &notifyv1.DeleteWebhookRequest{SiteId: e.site, WebhookId: e.webhook().GetId()})
			return err
		}, write},
		{"RotateWebhookSecret", func(ctx context.Context) error {
			_, err := c.RotateWebhookSecret(ctx, &notifyv1.RotateWebhookSecretRequest{SiteId: e.site, WebhookId: hook.GetId()})
			return err
		}, write},
		{"ListWebhookDeliveries", func(ctx context.Context) error {
			_, err := c.ListWebhookDeliveries(ctx, &notifyv1.ListWebhookDeliveriesRequest{SiteId: e.site, WebhookId: hook.GetId()})
			return err
		}, read},
		{"SendTestWebhookEvent", func(ctx context.Context) error {
			_, err := c.SendTestWebhookEvent(ctx, &notifyv1.SendTestWebhookEventRequest{SiteId: e.site, WebhookId: hook.GetId()})
			return err
		}, write},
		{"RedeliverWebhookDelivery", func(ctx context.Context) error {
			_, err := c.RedeliverWebhookDelivery(ctx, &notifyv1.RedeliverWebhookDeliveryRequest{SiteId: e.site, DeliveryId: delivery})
			return err
		}, write},
		{"ListAlertRules", func(ctx context.Context) error {
			_, err := c.ListAlertRules(ctx, &notifyv1.ListAlertRulesRequest{SiteId: e.site})
			return err
		}, own},
		{"CreateAlertRule", func(ctx context.Context) error {
			_, err := c.CreateAlertRule(ctx, &notifyv1.CreateAlertRuleRequest{Rule: &notifyv1.AlertRule{SiteId: e.site, Enabled: true,
				Condition: &notifyv1.AlertRule_RageClicks{RageClicks: &notifyv1.SpikeCondition{}}}})
			return err
		}, own},
		{"UpdateAlertRule", func(ctx context.Context) error {
			_, err := c.UpdateAlertRule(ctx, &notifyv1.UpdateAlertRuleRequest{Rule: &notifyv1.AlertRule{Id: ownerRule.GetId(), SiteId: e.site, Enabled: true,
				Condition: &notifyv1.AlertRule_NoData{NoData: &notifyv1.NoDataCondition{Hours: 12}}}})
			return err
		}, ownersRule},
		{"DeleteAlertRule", func(ctx context.Context) error {
			_, err := c.DeleteAlertRule(ctx, &notifyv1.DeleteAlertRuleRequest{SiteId: e.site, RuleId: e.rule(e.owner).GetId()})
			return err
		}, ownersRule},
		{"ListAlerts", func(ctx context.Context) error {
			_, err := c.ListAlerts(ctx, &notifyv1.ListAlertsRequest{SiteId: e.site})
			return err
		}, read},
		{"GetDigestSubscription", func(ctx context.Context) error {
			_, err := c.GetDigestSubscription(ctx, &notifyv1.GetDigestSubscriptionRequest{SiteId: e.site})
			return err
		}, own},
		{"UpdateDigestSubscription", func(ctx context.Context) error {
			_, err := c.UpdateDigestSubscription(ctx, &notifyv1.UpdateDigestSubscriptionRequest{SiteId: e.site, Frequency: notifyv1.DigestFrequency_DIGEST_FREQUENCY_WEEKLY})
			return err
		}, own},
		{"Unsubscribe", func(ctx context.Context) error {
			// The token is the credential, whoever sends it.
			tok := e.svc.unsubscribeToken(Unsubscribe{Kind: UnsubscribeDigest, UserID: e.owner.id, SiteID: e.site})
			_, err := c.Unsubscribe(ctx, &notifyv1.UnsubscribeRequest{Token: tok})
			return err
		}, callers{OK, OK, OK, OK, OK, OK, OK, OK}},
		{"Unsubscribe/forged", func(ctx context.Context) error {
			tok := e.svc.unsubscribeToken(Unsubscribe{Kind: UnsubscribeDigest, UserID: e.owner.id, SiteID: e.site})
			forged := tok[:len(tok)-2] + "AA"
			if forged == tok {
				forged = tok[:len(tok)-2] + "BB"
			}
			_, err := c.Unsubscribe(ctx, &notifyv1.UnsubscribeRequest{Token: forged})
			return err
		}, callers{IA, IA, IA, IA, IA, IA, IA, IA}},
		{"ListOutboxEmails", func(ctx context.Context) error {
			_, err := c.ListOutboxEmails(ctx, &notifyv1.ListOutboxEmailsRequest{})
			return err
		}, operator},
		{"GetOutboxEmail", func(ctx context.Context) error {
			_, err := c.GetOutboxEmail(ctx, &notifyv1.GetOutboxEmailRequest{Id: "20261130T071200.000000Z-0123456789abcdef01234567.eml"})
			return err
		}, callers{foreign: PD, viewer: PD, member: PD, admin: PD, owner: PD, adminKey: PD, operator: NF, anon: UA}},
		// Site B through A's callers, and A's objects through B's site.
		{"ListWebhooks/site B", func(ctx context.Context) error {
			_, err := c.ListWebhooks(ctx, &notifyv1.ListWebhooksRequest{SiteId: e.siteB})
			return err
		}, callers{foreign: OK, viewer: NF, member: NF, admin: NF, owner: NF, adminKey: NF, operator: NF, anon: UA}},
		{"UpdateWebhook/through site B", func(ctx context.Context) error {
			_, err := c.UpdateWebhook(ctx, &notifyv1.UpdateWebhookRequest{SiteId: e.siteB, WebhookId: hook.GetId(), Enabled: false, UpdateMask: []string{"enabled"}})
			return err
		}, callers{foreign: NF, viewer: NF, member: NF, admin: NF, owner: NF, adminKey: NF, operator: NF, anon: UA}},
		{"RedeliverWebhookDelivery/through site B", func(ctx context.Context) error {
			_, err := c.RedeliverWebhookDelivery(ctx, &notifyv1.RedeliverWebhookDeliveryRequest{SiteId: e.siteB, DeliveryId: delivery})
			return err
		}, callers{foreign: NF, viewer: NF, member: NF, admin: NF, owner: NF, adminKey: NF, operator: NF, anon: UA}},
	}

	methods := make([]string, 0, len(cases))
	for _, tc := range cases {
		methods = append(methods, tc.method)
	}
	accountstest.Covered(t, methods, notifyv1.NotifyService_ServiceDesc)

	for _, tc := range cases {
		t.Run(tc.method, func(t *testing.T) {
			for _, who := range []struct {
				name  string
				token string
				want  codes.Code
			}{
				{"foreign user", e.mallory.token, tc.want.foreign},
				{"viewer", e.viewer.token, tc.want.viewer},
				{"member", e.member.token, tc.want.member},
				{"admin", e.admin.token, tc.want.admin},
				{"owner", e.owner.token, tc.want.owner},
				{"admin API key", e.adminKey, tc.want.adminKey},
				{"operator", e.ops.token, tc.want.operator},
				{"no credential", "", tc.want.anon},
			} {
				if err := tc.call(as(who.token)); code(err) != who.want {
					t.Errorf("%s as %s: %v, want %v", tc.method, who.name, err, who.want)
				}
			}
		})
	}

	// Nothing the refused callers tried took effect: the shared webhook
	// was changed only by the admins, and is still enabled on site A.
	ws, err := c.ListWebhooks(as(e.owner.token), &notifyv1.ListWebhooksRequest{SiteId: e.site})
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range ws.GetWebhooks() {
		if w.GetId() == hook.GetId() && !w.GetEnabled() {
			t.Errorf("webhook %d disabled through another site", w.GetId())
		}
	}
	// The viewer API key may read but not write.
	if _, err := c.ListWebhooks(as(e.viewerKey), &notifyv1.ListWebhooksRequest{SiteId: e.site}); err != nil {
		t.Errorf("viewer API key reads webhooks: %v", err)
	}
	if _, err := c.DeleteWebhook(as(e.viewerKey), &notifyv1.DeleteWebhookRequest{SiteId: e.site, WebhookId: hook.GetId()}); code(err) != PD {
		t.Errorf("viewer API key deletes a webhook: %v, want PermissionDenied", err)
	}
	// A forged or malformed credential is Unauthenticated, not a guess.
	if _, err := c.ListAlertRules(as("sls_forged"), &notifyv1.ListAlertRulesRequest{SiteId: e.site}); code(err) != UA {
		t.Errorf("forged session: %v, want Unauthenticated", err)
	}
	if _, err := c.ListOutboxEmails(as("nonsense"), &notifyv1.ListOutboxEmailsRequest{}); code(err) != UA {
		t.Errorf("malformed credential: %v, want Unauthenticated", err)
	}
}

// TestNewRefusesNoAuthorizer: without a way to check dashboard callers
// (no Authorizer, no accounts to make one from) notify does not start,
// rather than serve every site's webhooks and alerts to anyone.
func TestNewRefusesNoAuthorizer(t *testing.T) {
	var cfg Config
	cfg.RegisterFlags(flag.NewFlagSet("notify", flag.ContinueOnError))
	svc, err := New(t.Context(), cfg, Deps{DataDir: t.TempDir()})
	if err == nil {
		svc.Close()
		t.Fatal("New accepted Deps without an Authorizer or AccountsInternal")
	}
	if !strings.Contains(err.Error(), "Authorizer") {
		t.Fatalf("New: %v, want the missing Authorizer named", err)
	}
}
