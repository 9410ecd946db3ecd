package notify

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/riverqueue/river"

	accountsv1 "github.com/sightlinehq/sightline/gen/sightline/accounts/v1"
	"github.com/sightlinehq/sightline/svc-notify/mail"
	"github.com/sightlinehq/sightline/svc-notify/queue"
	"github.com/sightlinehq/sightline/svc-notify/store"
	"github.com/sightlinehq/sightline/svc-notify/webhook"
)

// deliveryArgs names one delivery; its attempts are counted in the store
// (Delivery.Attempts), not by River: a failed attempt snoozes the job for
// webhook.Backoff, so River's attempts stay for errors of notify itself
// (the database down), retried with River's own backoff.
type deliveryArgs struct {
	SiteID     int64 `json:"site_id"`
	DeliveryID int64 `json:"delivery_id" river:"unique"`
}

func (deliveryArgs) Kind() string { return kindWebhookDelivery }

// queueDelivery creates a delivery of payload to w and the job sending it,
// in one transaction; a delivery with the same key already stored for w
// is returned as it is (and queues nothing).
func (s *Service) queueDelivery(ctx context.Context, w store.Webhook, key, messageID, eventType string, payload []byte) (store.Delivery, error) {
	var d store.Delivery
	err := s.store.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
		var err error
		d, err = s.createDeliveryTx(ctx, tx, w, key, messageID, eventType, payload)
		return err
	})
	if err != nil {
		return store.Delivery{}, fmt.Errorf("notify: queue delivery to webhook %d: %w", w.ID, err)
	}
	return d, nil
}

// queueDeliveryTx is queueDelivery in the caller's transaction.
func (s *Service) queueDeliveryTx(ctx context.Context, tx store.Tx, w store.Webhook, key, messageID, eventType string, payload []byte) error {
	if _, err := s.createDeliveryTx(ctx, tx, w, key, messageID, eventType, payload); err != nil {
		return fmt.Errorf("notify: queue delivery to webhook %d: %w", w.ID, err)
	}
	return nil
}

func (s *Service) createDeliveryTx(ctx context.Context, tx store.Tx, w store.Webhook, key, messageID, eventType string, payload []byte) (store.Delivery, error) {
	d, created, err := tx.CreateDelivery(ctx, store.Delivery{
		WebhookID: w.ID, SiteID: w.SiteID, Key: key, MessageID: messageID, EventType: eventType, Payload: payload,
	})
	if err != nil || !created {
		return d, err
	}
	_, err = s.queue.InsertTx(ctx, tx, deliveryArgs{SiteID: w.SiteID, DeliveryID: d.ID}, insertOpts(kindWebhookDelivery))
	return d, err
}

// messageID is the webhook-id of an event's delivery to a webhook: the
// same for every retry and redelivery, different per webhook.
func messageID(eventID string, webhookID int64) string {
	h := sha256.Sum256([]byte(eventID + "\x00" + strconv.FormatInt(webhookID, 10)))
	return "msg_" + base64.RawURLEncoding.EncodeToString(h[:18])
}

func (s *Service) workDelivery(ctx context.Context, job *river.Job[deliveryArgs]) error {
	d, err := s.store.GetDelivery(ctx, job.Args.SiteID, job.Args.DeliveryID)
	if errors.Is(err, store.ErrNotFound) {
		return nil // the webhook (and its log) was deleted
	} else if err != nil {
		return fmt.Errorf("notify: delivery %d: %w", job.Args.DeliveryID, err)
	}
	if d.State == store.DeliverySucceeded || d.State == store.DeliveryFailed {
		return nil // a rescued run of a job whose attempt was recorded
	}
	hook, err := s.store.GetWebhook(ctx, d.SiteID, d.WebhookID)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	} else if err != nil {
		return fmt.Errorf("notify: delivery %d: %w", d.ID, err)
	}
	if !hook.Enabled {
		if _, err := s.store.FailPendingDeliveries(ctx, d.SiteID, hook.ID, "webhook disabled"); err != nil {
			return fmt.Errorf("notify: delivery %d: %w", d.ID, err)
		}
		return nil
	}
	now := s.now()
	secrets := []string{hook.Secret}
	if hook.PreviousSecret != "" && now.Before(hook.PreviousSecretExpire) {
		secrets = append(secrets, hook.PreviousSecret)
	}
	res := s.hooks.Send(ctx, webhook.Request{URL: hook.URL, MessageID: d.MessageID, Time: now, Body: d.Payload, Secrets: secrets})
	attempt := int(d.Attempts) + 1
	a := store.Attempt{Time: now, StatusCode: int32(res.StatusCode), Response: res.Response, Duration: res.Duration}
	var wait time.Duration
	switch {
	case res.Err == nil:
		a.State = store.DeliverySucceeded
	case res.Permanent || attempt >= webhook.MaxAttempts:
		a.State, a.Error = store.DeliveryFailed, res.Err.Error()
	default:
		wait = webhook.Backoff(attempt)
		a.State, a.Error, a.NextTime = store.DeliveryRetrying, res.Err.Error(), now.Add(wait)
	}
	// Recorded with a context that outlives a stop's cancellation: the
	// attempt was made, and the log must say so.
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	_, hook, err = s.store.RecordAttempt(rctx, d.SiteID, d.ID, a)
	if err != nil {
		return fmt.Errorf("notify: record attempt of delivery %d: %w", d.ID, err)
	}
	count(ctx, s.m.deliveries, 1, "event", d.EventType, "outcome", map[store.DeliveryState]string{
		store.DeliverySucceeded: "succeeded", store.DeliveryFailed: "failed", store.DeliveryRetrying: "retrying",
	}[a.State])
	if a.State != store.DeliverySucceeded && !hook.FailingSince.IsZero() && now.Sub(hook.FailingSince) >= s.cfg.Webhook.DisableAfter {
		// Disabling (and e-mailing the admins) is its own job, unique per
		// failing streak, so it happens once however many deliveries see
		// the streak, and is retried apart from this delivery.
		if _, err := s.queue.Insert(rctx, disableArgs{
			SiteID: hook.SiteID, WebhookID: hook.ID, FailingSince: hook.FailingSince.UTC(),
		}, insertOpts(kindWebhookDisable)); err != nil {
			s.log.WarnContext(ctx, "notify: queue webhook disable", "webhook", hook.ID, "err", err)
		}
	}
	if a.State == store.DeliveryRetrying {
		return river.JobSnooze(wait)
	}
	return nil
}

// disableArgs disables a webhook failing since FailingSince.
type disableArgs struct {
	SiteID       int64     `json:"site_id"`
	WebhookID    int64     `json:"webhook_id" river:"unique"`
	FailingSince time.Time `json:"failing_since" river:"unique"`
}

func (disableArgs) Kind() string { return kindWebhookDisable }

func (s *Service) workDisable(ctx context.Context, job *river.Job[disableArgs]) error {
	a := job.Args
	hook, err := s.store.GetWebhook(ctx, a.SiteID, a.WebhookID)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	} else if err != nil {
		return fmt.Errorf("notify: disable webhook %d: %w", a.WebhookID, err)
	}
	if !hook.FailingSince.Equal(a.FailingSince) {
		return nil // it succeeded since, or was re-enabled
	}
	switch {
	case hook.Enabled:
		hook.Enabled, hook.DisabledReason = false, "failing"
		if hook, err = s.store.UpdateWebhook(ctx, hook); err != nil {
			return fmt.Errorf("notify: disable webhook %d: %w", a.WebhookID, err)
		}
		s.log.WarnContext(ctx, "notify: webhook disabled after failing", "site", a.SiteID, "webhook", a.WebhookID,
			"failing_since", a.FailingSince, "failures", hook.ConsecutiveFailures)
	case hook.DisabledReason != "failing":
		return nil // a user disabled it: no e-mail
	}
	if _, err := s.store.FailPendingDeliveries(ctx, a.SiteID, a.WebhookID, "webhook disabled after failing"); err != nil {
		return fmt.Errorf("notify: disable webhook %d: %w", a.WebhookID, err)
	}
	if s.deps.AccountsInternal == nil {
		return errNoMesh
	}
	rcpt, err := s.deps.AccountsInternal.ListSiteRecipients(ctx, &accountsv1.ListSiteRecipientsRequest{
		SiteId: a.SiteID, MinRole: accountsv1.Role_ROLE_ADMIN,
	})
	if err != nil {
		return fmt.Errorf("notify: admins of site %d: %w", a.SiteID, err)
	}
	settings := s.link("/sites/%d/settings/webhooks", a.SiteID)
	return s.store.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
		for _, r := range rcpt.GetRecipients() {
			key := fmt.Sprintf("webhook_disabled:%d:%d:%d", a.WebhookID, a.FailingSince.UnixMilli(), r.GetUserId())
			if err := s.queueEmailTx(ctx, tx, key, r.GetEmail(), r.GetName(), mail.WebhookDisabledData{
				SiteName: rcpt.GetSiteName(), URL: hook.URL, Failures: hook.ConsecutiveFailures,
				FailingSince: a.FailingSince, SettingsLink: settings,
			}); err != nil {
				return err
			}
		}
		return queue.CompleteTx(ctx, tx, job)
	})
}
