package notify

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"errors"
	"slices"
	"strconv"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	notifyv1 "github.com/sightlinehq/sightline/gen/sightline/notify/v1"
	"github.com/sightlinehq/sightline/svc-notify/store"
	"github.com/sightlinehq/sightline/svc-notify/webhook"
)

// previousSecretTTL is how long a rotated-out secret still signs, so
// receivers can switch without losing a delivery (notify.proto).
const previousSecretTTL = 24 * time.Hour

// newMessageID makes a webhook-id for a new event ("msg_" + 26 base32
// characters of randomness).
func newMessageID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b) // never fails (crashes instead)
	return "msg_" + base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b)
}

func (s *Service) clock() time.Time {
	if s.now != nil {
		return s.now()
	}
	return time.Now()
}

// ListWebhooks implements notifyv1.NotifyServiceServer (member).
func (s *Service) ListWebhooks(ctx context.Context, req *notifyv1.ListWebhooksRequest) (*notifyv1.ListWebhooksResponse, error) {
	if _, err := s.admit(ctx, req.GetSiteId(), needMember, req); err != nil {
		return nil, err
	}
	ws, err := s.store.ListWebhooks(ctx, req.GetSiteId())
	if err != nil {
		return nil, s.storeErr(ctx, "list webhooks", "site", err)
	}
	out := &notifyv1.ListWebhooksResponse{Webhooks: make([]*notifyv1.Webhook, 0, len(ws))}
	for _, w := range ws {
		out.Webhooks = append(out.Webhooks, webhookPB(w))
	}
	return out, nil
}

// CreateWebhook implements notifyv1.NotifyServiceServer (admin).
func (s *Service) CreateWebhook(ctx context.Context, req *notifyv1.CreateWebhookRequest) (*notifyv1.CreateWebhookResponse, error) {
	if _, err := s.admit(ctx, req.GetSiteId(), needAdmin, req); err != nil {
		return nil, err
	}
	if err := checkWebhookURL(req.GetUrl(), s.cfg.Webhook.AllowPrivate); err != nil {
		return nil, err
	}
	events, err := normalizeEvents(req.GetEvents())
	if err != nil {
		return nil, err
	}
	if err := checkChars("description", req.GetDescription(), maxDescriptionChars); err != nil {
		return nil, err
	}
	w := store.Webhook{
		SiteID: req.GetSiteId(), URL: req.GetUrl(), Events: events, Description: req.GetDescription(),
		Enabled: true, Secret: webhook.NewSecret(),
	}
	w, err = s.store.CreateWebhook(ctx, w, s.cfg.Webhook.MaxPerSite)
	if errors.Is(err, store.ErrLimit) {
		return nil, status.Errorf(codes.ResourceExhausted, "the site already has %d webhooks, the most allowed (notify.webhook.max-per-site); delete one first", s.cfg.Webhook.MaxPerSite)
	}
	if err != nil {
		return nil, s.storeErr(ctx, "create webhook", "site", err)
	}
	return &notifyv1.CreateWebhookResponse{Webhook: webhookPB(w), Secret: w.Secret}, nil
}

// webhookOf loads a webhook of the site (another site's is NotFound).
func (s *Service) webhookOf(ctx context.Context, siteID, id int64) (store.Webhook, error) {
	if err := checkID("webhook_id", id); err != nil {
		return store.Webhook{}, err
	}
	w, err := s.store.GetWebhook(ctx, siteID, id)
	if err != nil {
		return w, s.storeErr(ctx, "get webhook", "webhook "+strconv.FormatInt(id, 10), err)
	}
	return w, nil
}

// UpdateWebhook implements notifyv1.NotifyServiceServer (admin).
func (s *Service) UpdateWebhook(ctx context.Context, req *notifyv1.UpdateWebhookRequest) (*notifyv1.UpdateWebhookResponse, error) {
	if _, err := s.admit(ctx, req.GetSiteId(), needAdmin, req); err != nil {
		return nil, err
	}
	if err := checkID("webhook_id", req.GetWebhookId()); err != nil {
		return nil, err
	}
	mask := req.GetUpdateMask()
	if err := checkMask(mask, webhookMaskFields); err != nil {
		return nil, err
	}
	// Every field is checked before anything is read or written.
	var events []string
	if slices.Contains(mask, "url") {
		if err := checkWebhookURL(req.GetUrl(), s.cfg.Webhook.AllowPrivate); err != nil {
			return nil, err
		}
	}
	if slices.Contains(mask, "events") {
		var err error
		if events, err = normalizeEvents(req.GetEvents()); err != nil {
			return nil, err
		}
	}
	if slices.Contains(mask, "description") {
		if err := checkChars("description", req.GetDescription(), maxDescriptionChars); err != nil {
			return nil, err
		}
	}
	w, err := s.webhookOf(ctx, req.GetSiteId(), req.GetWebhookId())
	if err != nil {
		return nil, err
	}
	wasEnabled := w.Enabled
	for _, f := range mask {
		switch f {
		case "url":
			w.URL = req.GetUrl()
		case "events":
			w.Events = events
		case "description":
			w.Description = req.GetDescription()
		case "enabled":
			w.Enabled = req.GetEnabled()
		}
	}
	if w.Enabled && !wasEnabled {
		// A user's enabling starts the failure count afresh, or the next
		// failure would disable it again at once.
		w.DisabledReason, w.ConsecutiveFailures, w.FailingSince = "", 0, time.Time{}
	}
	w, err = s.store.UpdateWebhook(ctx, w)
	if err != nil {
		return nil, s.storeErr(ctx, "update webhook", "webhook "+strconv.FormatInt(req.GetWebhookId(), 10), err)
	}
	if wasEnabled && !w.Enabled {
		// Queued deliveries of a disabled webhook will not be sent: say so
		// in the log now rather than leave them pending.
		if _, err := s.store.FailPendingDeliveries(ctx, w.SiteID, w.ID, "webhook disabled"); err != nil {
			return nil, s.storeErr(ctx, "fail pending deliveries", "webhook", err)
		}
	}
	return &notifyv1.UpdateWebhookResponse{Webhook: webhookPB(w)}, nil
}

// DeleteWebhook implements notifyv1.NotifyServiceServer (admin).
func (s *Service) DeleteWebhook(ctx context.Context, req *notifyv1.DeleteWebhookRequest) (*notifyv1.DeleteWebhookResponse, error) {
	if _, err := s.admit(ctx, req.GetSiteId(), needAdmin, req); err != nil {
		return nil, err
	}
	if err := checkID("webhook_id", req.GetWebhookId()); err != nil {
		return nil, err
	}
	if err := s.store.DeleteWebhook(ctx, req.GetSiteId(), req.GetWebhookId()); err != nil {
		return nil, s.storeErr(ctx, "delete webhook", "webhook "+strconv.FormatInt(req.GetWebhookId(), 10), err)
	}
	return &notifyv1.DeleteWebhookResponse{}, nil
}

// RotateWebhookSecret implements notifyv1.NotifyServiceServer (admin).
func (s *Service) RotateWebhookSecret(ctx context.Context, req *notifyv1.RotateWebhookSecretRequest) (*notifyv1.RotateWebhookSecretResponse, error) {
	if _, err := s.admit(ctx, req.GetSiteId(), needAdmin, req); err != nil {
		return nil, err
	}
	w, err := s.webhookOf(ctx, req.GetSiteId(), req.GetWebhookId())
	if err != nil {
		return nil, err
	}
	// A second rotation within 24 h drops the oldest secret: only the two
	// newest ever sign.
	w.PreviousSecret, w.PreviousSecretExpire = w.Secret, s.clock().Add(previousSecretTTL)
	w.Secret = webhook.NewSecret()
	if w, err = s.store.UpdateWebhook(ctx, w); err != nil {
		return nil, s.storeErr(ctx, "rotate webhook secret", "webhook "+strconv.FormatInt(req.GetWebhookId(), 10), err)
	}
	return &notifyv1.RotateWebhookSecretResponse{Webhook: webhookPB(w), Secret: w.Secret}, nil
}

// ListWebhookDeliveries implements notifyv1.NotifyServiceServer (member).
func (s *Service) ListWebhookDeliveries(ctx context.Context, req *notifyv1.ListWebhookDeliveriesRequest) (*notifyv1.ListWebhookDeliveriesResponse, error) {
	if _, err := s.admit(ctx, req.GetSiteId(), needMember, req); err != nil {
		return nil, err
	}
	ds, next, err := readPage(ctx, s, req, "list deliveries", "webhook", func(p store.Page) ([]store.Delivery, error) {
		// The webhook itself must be the site's: an empty page would not
		// tell another site's webhook from one without deliveries.
		if _, err := s.webhookOf(ctx, req.GetSiteId(), req.GetWebhookId()); err != nil {
			return nil, err
		}
		return s.store.ListDeliveries(ctx, req.GetSiteId(), req.GetWebhookId(), p)
	}, func(d store.Delivery) int64 { return d.ID }, deliveryPB)
	if err != nil {
		return nil, err
	}
	return &notifyv1.ListWebhookDeliveriesResponse{Deliveries: ds, NextPageToken: next}, nil
}

// SendTestWebhookEvent implements notifyv1.NotifyServiceServer (admin).
func (s *Service) SendTestWebhookEvent(ctx context.Context, req *notifyv1.SendTestWebhookEventRequest) (*notifyv1.SendTestWebhookEventResponse, error) {
	if _, err := s.admit(ctx, req.GetSiteId(), needAdmin, req); err != nil {
		return nil, err
	}
	w, err := s.webhookOf(ctx, req.GetSiteId(), req.GetWebhookId())
	if err != nil {
		return nil, err
	}
	if !w.Enabled {
		return nil, status.Errorf(codes.FailedPrecondition, "webhook %d is disabled: enable it to send a test event", w.ID)
	}
	msgID := newMessageID()
	payload, err := webhook.Envelope(webhook.EventTest, s.clock(), webhook.Test(w.SiteID, w.ID))
	if err != nil {
		return nil, s.internal(ctx, "build test event", err)
	}
	d, err := s.queueDelivery(ctx, w, "test:"+msgID, msgID, webhook.EventTest, payload)
	if err != nil {
		return nil, s.storeErr(ctx, "queue test event", "webhook", err)
	}
	return &notifyv1.SendTestWebhookEventResponse{Delivery: deliveryPB(d)}, nil
}

// RedeliverWebhookDelivery implements notifyv1.NotifyServiceServer (admin).
func (s *Service) RedeliverWebhookDelivery(ctx context.Context, req *notifyv1.RedeliverWebhookDeliveryRequest) (*notifyv1.RedeliverWebhookDeliveryResponse, error) {
	if _, err := s.admit(ctx, req.GetSiteId(), needAdmin, req); err != nil {
		return nil, err
	}
	if err := checkID("delivery_id", req.GetDeliveryId()); err != nil {
		return nil, err
	}
	d, err := s.store.GetDelivery(ctx, req.GetSiteId(), req.GetDeliveryId())
	if err != nil {
		return nil, s.storeErr(ctx, "get delivery", "delivery "+strconv.FormatInt(req.GetDeliveryId(), 10), err)
	}
	w, err := s.webhookOf(ctx, req.GetSiteId(), d.WebhookID)
	if err != nil {
		return nil, err
	}
	if !w.Enabled {
		return nil, status.Errorf(codes.FailedPrecondition, "webhook %d is disabled: enable it to redeliver", w.ID)
	}
	// A new delivery (its own key) of the same event, under the same
	// webhook-id so the receiver can de-duplicate.
	key := "redeliver:" + strconv.FormatInt(d.ID, 10) + ":" + newMessageID()
	nd, err := s.queueDelivery(ctx, w, key, d.MessageID, d.EventType, d.Payload)
	if err != nil {
		return nil, s.storeErr(ctx, "queue redelivery", "webhook", err)
	}
	return &notifyv1.RedeliverWebhookDeliveryResponse{Delivery: deliveryPB(nd)}, nil
}
