package notify

import (
	"fmt"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	notifyv1 "github.com/sightlinehq/sightline/gen/sightline/notify/v1"
	"github.com/sightlinehq/sightline/svc-notify/store"
)

// tspb is a timestamp, nil for the zero time (unset).
func tspb(t time.Time) *timestamppb.Timestamp {
	if t.IsZero() {
		return nil
	}
	return timestamppb.New(t)
}

// webhookPB is a webhook as the dashboard sees it: never its secrets.
func webhookPB(w store.Webhook) *notifyv1.Webhook {
	pb := &notifyv1.Webhook{
		Id: w.ID, SiteId: w.SiteID, Url: w.URL, Events: w.Events, Description: w.Description,
		Enabled: w.Enabled, DisabledReason: w.DisabledReason, ConsecutiveFailures: w.ConsecutiveFailures,
		FailingSince: tspb(w.FailingSince), CreateTime: tspb(w.CreateTime), UpdateTime: tspb(w.UpdateTime),
	}
	if w.PreviousSecret != "" {
		pb.PreviousSecretExpireTime = tspb(w.PreviousSecretExpire)
	}
	return pb
}

func deliveryPB(d store.Delivery) *notifyv1.WebhookDelivery {
	return &notifyv1.WebhookDelivery{
		Id: d.ID, WebhookId: d.WebhookID, SiteId: d.SiteID, MessageId: d.MessageID, EventType: d.EventType,
		State: notifyv1.DeliveryState(d.State), Attempts: d.Attempts, LastStatusCode: d.LastStatusCode,
		LastError: d.LastError, Payload: string(d.Payload), CreateTime: tspb(d.CreateTime),
		LastAttemptTime: tspb(d.LastAttemptTime), NextAttemptTime: tspb(d.NextAttemptTime),
		LastDurationMs: int32(min(d.LastDuration.Milliseconds(), 1<<31-1)), LastResponse: d.LastResponse,
	}
}

func alertPB(a store.Alert) *notifyv1.Alert {
	return &notifyv1.Alert{Id: a.ID, SiteId: a.SiteID, RuleId: a.RuleID, Kind: a.Kind, FireTime: tspb(a.FireTime), Summary: a.Summary, Link: a.Link}
}

// A rule's condition is kept in the store as its proto message's wire
// form (store.AlertRule.Params), by kind: NoDataCondition for "no_data",
// SpikeCondition for "rage_clicks" and "js_errors", AnswerCondition for
// "answer". encodeCondition and DecodeRule are the only codec; the checks
// read rules through DecodeRule.
func encodeCondition(cond proto.Message) ([]byte, error) {
	return proto.MarshalOptions{Deterministic: true}.Marshal(cond)
}

// DecodeRule returns a stored rule as the contract's AlertRule, its
// condition included.
func DecodeRule(r store.AlertRule) (*notifyv1.AlertRule, error) {
	pb := &notifyv1.AlertRule{Id: r.ID, SiteId: r.SiteID, UserId: r.UserID, Enabled: r.Enabled, CreateTime: tspb(r.CreateTime), LastFireTime: tspb(r.LastFireTime)}
	switch r.Kind {
	case KindNoData:
		c := &notifyv1.NoDataCondition{}
		if err := proto.Unmarshal(r.Params, c); err != nil {
			return nil, fmt.Errorf("alert rule %d: decode %s: %w", r.ID, r.Kind, err)
		}
		pb.Condition = &notifyv1.AlertRule_NoData{NoData: c}
	case KindRageClicks, KindJSErrors:
		c := &notifyv1.SpikeCondition{}
		if err := proto.Unmarshal(r.Params, c); err != nil {
			return nil, fmt.Errorf("alert rule %d: decode %s: %w", r.ID, r.Kind, err)
		}
		if r.Kind == KindRageClicks {
			pb.Condition = &notifyv1.AlertRule_RageClicks{RageClicks: c}
		} else {
			pb.Condition = &notifyv1.AlertRule_JsErrors{JsErrors: c}
		}
	case KindAnswer:
		c := &notifyv1.AnswerCondition{}
		if err := proto.Unmarshal(r.Params, c); err != nil {
			return nil, fmt.Errorf("alert rule %d: decode %s: %w", r.ID, r.Kind, err)
		}
		pb.Condition = &notifyv1.AlertRule_Answer{Answer: c}
	default:
		return nil, fmt.Errorf("alert rule %d: unknown kind %q", r.ID, r.Kind)
	}
	return pb, nil
}
