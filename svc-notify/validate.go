package notify

import (
	"context"
	"math"
	"slices"
	"strconv"
	"unicode/utf8"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/reflect/protoreflect"

	notifyv1 "github.com/sightlinehq/sightline/gen/sightline/notify/v1"
	"github.com/sightlinehq/sightline/platform/rpc"
	"github.com/sightlinehq/sightline/svc-notify/store"
	"github.com/sightlinehq/sightline/svc-notify/webhook"
)

// Input limits of the dashboard RPCs.
const (
	maxDescriptionChars      = 200
	maxWebhookEvents         = 4
	maxTextContains          = 200
	maxUnsubscribeTokenBytes = 2048
	maxOutboxIDBytes         = 200
	defaultPageSize          = 50
	maxPageSize              = 100
)

// Alert rule kinds (store.AlertRule.Kind, notifyv1.Alert.kind).
const (
	KindNoData     = "no_data"
	KindRageClicks = "rage_clicks"
	KindJSErrors   = "js_errors"
	KindAnswer     = "answer"
)

// Spike defaults (notify.proto: SpikeCondition).
const (
	defaultSpikeFactor      = 3
	defaultSpikeMinSessions = 5
)

func invalidf(format string, args ...any) error {
	return status.Errorf(codes.InvalidArgument, format, args...)
}

func checkID(name string, id int64) error {
	if id <= 0 {
		return invalidf("%s must be a positive id, got %d", name, id)
	}
	return nil
}

// checkChars bounds a free-text field in characters and requires UTF-8.
func checkChars(name, v string, maxChars int) error {
	if !utf8.ValidString(v) {
		return invalidf("%s is not valid UTF-8", name)
	}
	if n := utf8.RuneCountInString(v); n > maxChars {
		return invalidf("%s is %d characters, at most %d allowed", name, n, maxChars)
	}
	return nil
}

// checkWebhookURL checks a target URL with the webhook package's rules
// (scheme, host, no credentials; private addresses only when the operator
// allows them).
func checkWebhookURL(raw string, allowPrivate bool) error {
	if raw == "" {
		return invalidf("url is required")
	}
	if len(raw) > webhook.MaxURLBytes {
		return invalidf("url is %d bytes, at most %d allowed", len(raw), webhook.MaxURLBytes)
	}
	if err := webhook.CheckURL(raw, allowPrivate); err != nil {
		return invalidf("url: %v", err)
	}
	return nil
}

// normalizeEvents checks a webhook's event types: 1..4, known, unique.
// It returns them sorted, as the store keeps them.
func normalizeEvents(events []string) ([]string, error) {
	if len(events) == 0 {
		return nil, invalidf("events: name at least one of %v", webhook.Events())
	}
	if len(events) > maxWebhookEvents {
		return nil, invalidf("events: %d given, at most %d", len(events), maxWebhookEvents)
	}
	out := make([]string, 0, len(events))
	for i, e := range events {
		if !webhook.KnownEvent(e) {
			if len(e) > 64 {
				e = e[:64] + "…"
			}
			return nil, invalidf("events[%d]: %q is not an event type (one of %v)", i, e, webhook.Events())
		}
		if slices.Contains(out, e) {
			return nil, invalidf("events[%d]: %q is named twice", i, e)
		}
		out = append(out, e)
	}
	slices.Sort(out)
	return out, nil
}

// webhookMaskFields are the fields UpdateWebhook may change.
var webhookMaskFields = []string{"url", "events", "description", "enabled"}

// checkMask requires a non-empty update_mask of known, unique fields.
func checkMask(mask, known []string) error {
	if len(mask) == 0 {
		return invalidf("update_mask: name the fields to change (%v)", known)
	}
	if len(mask) > len(known) {
		return invalidf("update_mask: %d fields named, there are only %d (%v)", len(mask), len(known), known)
	}
	seen := map[string]bool{}
	for i, f := range mask {
		if !slices.Contains(known, f) {
			if len(f) > 64 {
				f = f[:64] + "…"
			}
			return invalidf("update_mask[%d]: %q is not a field that can be changed (%v)", i, f, known)
		}
		if seen[f] {
			return invalidf("update_mask[%d]: %q is named twice", i, f)
		}
		seen[f] = true
	}
	return nil
}

// checkCondition validates an alert rule's condition against the ranges in
// notify.proto and returns the kind and the condition with defaults filled
// in (the message the store keeps, encoded).
func checkCondition(r *notifyv1.AlertRule) (kind string, cond protoreflect.ProtoMessage, err error) {
	switch c := r.GetCondition().(type) {
	case *notifyv1.AlertRule_NoData:
		h := c.NoData.GetHours()
		if h < 1 || h > 168 {
			return "", nil, invalidf("rule.no_data.hours must be between 1 and 168, got %d", h)
		}
		return KindNoData, &notifyv1.NoDataCondition{Hours: h}, nil
	case *notifyv1.AlertRule_RageClicks:
		sc, err := checkSpike("rule.rage_clicks", c.RageClicks)
		return KindRageClicks, sc, err
	case *notifyv1.AlertRule_JsErrors:
		sc, err := checkSpike("rule.js_errors", c.JsErrors)
		return KindJSErrors, sc, err
	case *notifyv1.AlertRule_Answer:
		a := c.Answer
		if a.GetMaxRating() < 0 || a.GetMaxRating() > 5 {
			return "", nil, invalidf("rule.answer.max_rating must be between 0 (any) and 5, got %d", a.GetMaxRating())
		}
		if a.GetMaxNps() < -1 || a.GetMaxNps() > 10 {
			return "", nil, invalidf("rule.answer.max_nps must be between -1 (any) and 10, got %d", a.GetMaxNps())
		}
		if a.GetSurveyId() < 0 {
			return "", nil, invalidf("rule.answer.survey_id must be 0 (any) or a survey id, got %d", a.GetSurveyId())
		}
		if err := checkChars("rule.answer.text_contains", a.GetTextContains(), maxTextContains); err != nil {
			return "", nil, err
		}
		return KindAnswer, &notifyv1.AnswerCondition{MaxRating: a.GetMaxRating(), MaxNps: a.GetMaxNps(), SurveyId: a.GetSurveyId(), TextContains: a.GetTextContains()}, nil
	case nil:
		return "", nil, invalidf("rule: set one condition (no_data, rage_clicks, js_errors or answer)")
	}
	return "", nil, invalidf("rule: unknown condition")
}

func checkSpike(name string, c *notifyv1.SpikeCondition) (*notifyv1.SpikeCondition, error) {
	f, n := c.GetFactor(), c.GetMinSessions()
	if f == 0 {
		f = defaultSpikeFactor
	}
	if n == 0 {
		n = defaultSpikeMinSessions
	}
	if math.IsNaN(f) || f < 1.5 || f > 100 {
		return nil, invalidf("%s.factor must be between 1.5 and 100 (0: %d), got %v", name, defaultSpikeFactor, c.GetFactor())
	}
	if n < 1 || n > 100000 {
		return nil, invalidf("%s.min_sessions must be between 1 and 100000 (0: %d), got %d", name, defaultSpikeMinSessions, c.GetMinSessions())
	}
	return &notifyv1.SpikeCondition{Factor: f, MinSessions: n}, nil
}

// pageSize checks a page size: 0 is the default, else 1..maxPageSize.
func pageSize(n int32) (int, error) {
	switch {
	case n == 0:
		return defaultPageSize, nil
	case n < 0 || n > maxPageSize:
		return 0, invalidf("page_size must be between 1 and %d, got %d", maxPageSize, n)
	}
	return int(n), nil
}

// Page tokens of the newest-first lists are the id to continue below.
func pageToken(id int64) string { return strconv.FormatInt(id, 36) }

func parsePageToken(tok string) (int64, error) {
	if tok == "" {
		return 0, nil
	}
	id, err := strconv.ParseInt(tok, 36, 64)
	if err != nil || id <= 0 || len(tok) > 16 {
		return 0, invalidf("page_token is not valid: pass next_page_token from the previous page")
	}
	return id, nil
}

// pageRequest is a newest-first list request.
type pageRequest interface {
	GetPageSize() int32
	GetPageToken() string
}

// readPage answers a newest-first list request: it reads the page req
// names through read, one entry longer than the page (the extra one tells
// that another page follows), keeps the page's entries converted with pb
// and returns the token of the next page. A read error is answered as
// storeErr(op, what) does (a status passes unchanged).
func readPage[T, P any](ctx context.Context, s *Service, req pageRequest, op, what string, read func(store.Page) ([]T, error), id func(T) int64, pb func(T) P) ([]P, string, error) {
	n, err := pageSize(req.GetPageSize())
	if err != nil {
		return nil, "", err
	}
	before, err := parsePageToken(req.GetPageToken())
	if err != nil {
		return nil, "", err
	}
	items, err := read(store.Page{Before: before, Limit: n + 1})
	if err != nil {
		return nil, "", s.storeErr(ctx, op, what, err)
	}
	next := ""
	if len(items) > n {
		items = items[:n]
		next = pageToken(id(items[n-1]))
	}
	var out []P
	for _, it := range items {
		out = append(out, pb(it))
	}
	return out, next, nil
}

// checkNoUnknown refuses messages carrying fields this server does not know
// (a client built against a newer contract), at any depth.
func checkNoUnknown(name string, m protoreflect.Message) error {
	if at := rpc.UnknownFieldsAt(name, m); at != "" {
		return invalidf("%s carries unknown fields", at)
	}
	return nil
}
