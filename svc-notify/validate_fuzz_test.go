package notify

import (
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	notifyv1 "github.com/sightlinehq/sightline/gen/sightline/notify/v1"
)

// FuzzRequestChecks feeds arbitrary wire bytes, as a hostile client could
// send, through the checks of the write RPCs: they never panic, and they
// accept or answer InvalidArgument — and what they accept round-trips
// through the store's encoding.
func FuzzRequestChecks(f *testing.F) {
	seed := func(m proto.Message) { b, _ := proto.Marshal(m); f.Add(b) }
	seed(&notifyv1.CreateAlertRuleRequest{Rule: &notifyv1.AlertRule{SiteId: 1, Condition: &notifyv1.AlertRule_Answer{Answer: &notifyv1.AnswerCondition{MaxRating: 2, MaxNps: -1, TextContains: "slow"}}}})
	seed(&notifyv1.CreateAlertRuleRequest{Rule: &notifyv1.AlertRule{SiteId: 1, Condition: &notifyv1.AlertRule_RageClicks{RageClicks: &notifyv1.SpikeCondition{Factor: 2.5}}}})
	seed(&notifyv1.UpdateWebhookRequest{SiteId: 1, WebhookId: 2, Url: "https://hooks.example.com/", Events: []string{"session.ended"}, UpdateMask: []string{"url", "events"}})
	f.Add([]byte{0x0a, 0x02, 0x2a, 0x00})
	f.Fuzz(func(t *testing.T, b []byte) {
		invalidOrNil := func(what string, err error) {
			if err != nil && status.Code(err) != codes.InvalidArgument {
				t.Fatalf("%s: %v, want nil or InvalidArgument", what, err)
			}
		}
		var rule notifyv1.CreateAlertRuleRequest
		if proto.Unmarshal(b, &rule) == nil {
			invalidOrNil("unknown fields", checkNoUnknown("request", rule.ProtoReflect()))
			kind, params, err := ruleFromRequest(rule.GetRule())
			invalidOrNil("condition", err)
			if err == nil {
				if _, err := DecodeRule(storeRule(rule.GetRule(), kind, params)); err != nil {
					t.Fatalf("accepted condition does not decode: %v", err)
				}
			}
		}
		var up notifyv1.UpdateWebhookRequest
		if proto.Unmarshal(b, &up) == nil {
			invalidOrNil("mask", checkMask(up.GetUpdateMask(), webhookMaskFields))
			_, err := normalizeEvents(up.GetEvents())
			invalidOrNil("events", err)
			invalidOrNil("url", checkWebhookURL(up.GetUrl(), false))
			invalidOrNil("description", checkChars("description", up.GetDescription(), maxDescriptionChars))
			_, err = parsePageToken(up.GetUrl())
			invalidOrNil("page token", err)
		}
	})
}
