package notify

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/jackc/pgx/v5/pgconn"
	notifyv1 "github.com/sightlinehq/sightline/gen/sightline/notify/v1"
	"github.com/sightlinehq/sightline/svc-notify/store"
)

// wantInvalid checks err is InvalidArgument naming field.
func wantInvalid(t *testing.T, what string, err error, field string) {
	t.Helper()
	st, _ := status.FromError(err)
	if st.Code() != codes.InvalidArgument {
		t.Errorf("%s: %v, want InvalidArgument", what, err)
		return
	}
	if !strings.Contains(st.Message(), field) {
		t.Errorf("%s: message %q does not name %q", what, st.Message(), field)
	}
}

func TestNormalizeEvents(t *testing.T) {
	got, err := normalizeEvents([]string{"site.no_data", "feedback.created"})
	if err != nil || !slices.Equal(got, []string{"feedback.created", "site.no_data"}) {
		t.Fatalf("normalizeEvents = %v, %v; want sorted", got, err)
	}
	all := []string{"session.ended", "feedback.created", "survey.response.created", "site.no_data"}
	if _, err := normalizeEvents(all); err != nil {
		t.Fatalf("all four events: %v", err)
	}
	for name, events := range map[string][]string{
		"none":        nil,
		"unknown":     {"session.started"},
		"test event":  {"webhook.test"},
		"duplicate":   {"session.ended", "session.ended"},
		"five":        append(slices.Clone(all), "session.ended"),
		"empty name":  {""},
		"huge name":   {strings.Repeat("x", 100_000)},
		"wrong case":  {"Session.Ended"},
		"with spaces": {" session.ended"},
	} {
		_, err := normalizeEvents(events)
		wantInvalid(t, name, err, "events")
		if st, _ := status.FromError(err); len(st.Message()) > 500 {
			t.Errorf("%s: message of %d bytes echoes the input", name, len(st.Message()))
		}
	}
}

func TestCheckMask(t *testing.T) {
	if err := checkMask([]string{"url", "enabled"}, webhookMaskFields); err != nil {
		t.Fatal(err)
	}
	for name, mask := range map[string][]string{
		"empty":     nil,
		"unknown":   {"secret"},
		"id":        {"id"},
		"twice":     {"url", "url"},
		"camelCase": {"disabledReason"},
	} {
		wantInvalid(t, name, checkMask(mask, webhookMaskFields), "update_mask")
	}
}

func TestCheckCondition(t *testing.T) {
	rule := func(c any) *notifyv1.AlertRule {
		r := &notifyv1.AlertRule{}
		switch c := c.(type) {
		case *notifyv1.NoDataCondition:
			r.Condition = &notifyv1.AlertRule_NoData{NoData: c}
		case *notifyv1.SpikeCondition:
			r.Condition = &notifyv1.AlertRule_JsErrors{JsErrors: c}
		case *notifyv1.AnswerCondition:
			r.Condition = &notifyv1.AlertRule_Answer{Answer: c}
		}
		return r
	}
	// Defaults fill a spike's zero fields.
	kind, cond, err := checkCondition(rule(&notifyv1.SpikeCondition{}))
	if err != nil || kind != KindJSErrors {
		t.Fatalf("spike defaults: %v %v", kind, err)
	}
	if sc := cond.(*notifyv1.SpikeCondition); sc.GetFactor() != 3 || sc.GetMinSessions() != 5 {
		t.Fatalf("spike defaults = %v, want factor 3, min 5", sc)
	}
	for _, ok := range []any{
		&notifyv1.NoDataCondition{Hours: 1}, &notifyv1.NoDataCondition{Hours: 168},
		&notifyv1.SpikeCondition{Factor: 1.5, MinSessions: 1}, &notifyv1.SpikeCondition{Factor: 100, MinSessions: 100000},
		&notifyv1.AnswerCondition{MaxRating: 5, MaxNps: -1}, &notifyv1.AnswerCondition{MaxNps: 10, SurveyId: 1 << 40, TextContains: "slow"},
	} {
		if _, _, err := checkCondition(rule(ok)); err != nil {
			t.Errorf("%v: %v", ok, err)
		}
	}
	for _, tc := range []struct {
		cond  any
		field string
	}{
		{nil, "condition"},
		{&notifyv1.NoDataCondition{}, "rule.no_data.hours"},
		{&notifyv1.NoDataCondition{Hours: 169}, "rule.no_data.hours"},
		{&notifyv1.NoDataCondition{Hours: -1}, "rule.no_data.hours"},
		{&notifyv1.SpikeCondition{Factor: 1.4}, "rule.js_errors.factor"},
		{&notifyv1.SpikeCondition{Factor: 100.5}, "rule.js_errors.factor"},
		{&notifyv1.SpikeCondition{Factor: math.NaN()}, "rule.js_errors.factor"},
		{&notifyv1.SpikeCondition{Factor: math.Inf(1)}, "rule.js_errors.factor"},
		{&notifyv1.SpikeCondition{Factor: -3}, "rule.js_errors.factor"},
		{&notifyv1.SpikeCondition{MinSessions: -1}, "rule.js_errors.min_sessions"},
		{&notifyv1.SpikeCondition{MinSessions: 100001}, "rule.js_errors.min_sessions"},
		{&notifyv1.AnswerCondition{MaxRating: 6}, "rule.answer.max_rating"},
		{&notifyv1.AnswerCondition{MaxRating: -1}, "rule.answer.max_rating"},
		{&notifyv1.AnswerCondition{MaxNps: 11}, "rule.answer.max_nps"},
		{&notifyv1.AnswerCondition{MaxNps: -2}, "rule.answer.max_nps"},
		{&notifyv1.AnswerCondition{SurveyId: -5}, "rule.answer.survey_id"},
		{&notifyv1.AnswerCondition{TextContains: strings.Repeat("é", 201)}, "rule.answer.text_contains"},
		{&notifyv1.AnswerCondition{TextContains: "\xff"}, "rule.answer.text_contains"},
	} {
		_, _, err := checkCondition(rule(tc.cond))
		wantInvalid(t, tc.field, err, tc.field)
	}
}

// A condition survives the store's encoding, defaults included.
func TestConditionRoundTrip(t *testing.T) {
	in := &notifyv1.AlertRule{Id: 1 << 40, SiteId: 1 << 41, UserId: 1 << 42, Enabled: true,
		Condition: &notifyv1.AlertRule_Answer{Answer: &notifyv1.AnswerCondition{MaxRating: 2, MaxNps: -1, SurveyId: 1 << 33, TextContains: "Checkout"}}}
	kind, params, err := ruleFromRequest(in)
	if err != nil {
		t.Fatal(err)
	}
	out, err := DecodeRule(storeRule(in, kind, params))
	if err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(in, out) {
		t.Fatalf("round trip: %v, want %v", out, in)
	}
	if _, err := DecodeRule(storeRule(in, "weather", params)); err == nil {
		t.Error("unknown kind decoded")
	}
	if _, err := DecodeRule(storeRule(in, KindNoData, []byte{0xff, 0xff})); err == nil {
		t.Error("damaged params decoded")
	}
}

func TestPageSizeAndToken(t *testing.T) {
	for in, want := range map[int32]int{0: 50, 1: 1, 100: 100} {
		if got, err := pageSize(in); err != nil || got != want {
			t.Errorf("pageSize(%d) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, bad := range []int32{-1, 101, math.MaxInt32} {
		_, err := pageSize(bad)
		wantInvalid(t, "page size", err, "page_size")
	}
	id := int64(1)<<62 + 7
	if got, err := parsePageToken(pageToken(id)); err != nil || got != id {
		t.Errorf("token round trip = %d, %v", got, err)
	}
	for _, bad := range []string{"-5", "0", "!!", strings.Repeat("z", 40), "zzzzzzzzzzzzzzz"} {
		_, err := parsePageToken(bad)
		wantInvalid(t, "token "+bad, err, "page_token")
	}
}

func TestCheckWebhookURL(t *testing.T) {
	if err := checkWebhookURL("https://hooks.example.com/x", false); err != nil {
		t.Fatal(err)
	}
	for _, u := range []string{"http://127.0.0.1:8080/hook", "http://10.1.2.3/", "http://[::1]/", "http://169.254.169.254/latest/meta-data", "http://localhost/"} {
		wantInvalid(t, u, checkWebhookURL(u, false), "url")
		if err := checkWebhookURL(u, true); err != nil && !strings.Contains(u, "localhost") {
			t.Errorf("%s with allow-private: %v", u, err)
		}
	}
	for _, u := range []string{"", "ftp://example.com/", "https://", "not a url", "https://user:pw@example.com/", "https://example.com/" + strings.Repeat("a", 3000)} {
		wantInvalid(t, "url "+u[:min(len(u), 30)], checkWebhookURL(u, false), "url")
	}
}

func TestCheckChars(t *testing.T) {
	if err := checkChars("description", strings.Repeat("ü", 200), maxDescriptionChars); err != nil {
		t.Errorf("200 characters: %v", err)
	}
	wantInvalid(t, "201 characters", checkChars("description", strings.Repeat("a", 201), maxDescriptionChars), "description")
	wantInvalid(t, "invalid UTF-8", checkChars("description", "a\xc3", maxDescriptionChars), "description")
}

func TestCheckNoUnknown(t *testing.T) {
	req := &notifyv1.CreateAlertRuleRequest{Rule: &notifyv1.AlertRule{SiteId: 1}}
	if err := checkNoUnknown("request", req.ProtoReflect()); err != nil {
		t.Fatal(err)
	}
	// A field from a newer client, nested two deep.
	req.GetRule().ProtoReflect().SetUnknown(protowire.AppendVarint(protowire.AppendTag(nil, 99, protowire.VarintType), 1))
	wantInvalid(t, "unknown nested field", checkNoUnknown("request", req.ProtoReflect()), "request.rule")
}

func storeRule(r *notifyv1.AlertRule, kind string, params []byte) store.AlertRule {
	return store.AlertRule{ID: r.GetId(), SiteID: r.GetSiteId(), UserID: r.GetUserId(), Enabled: r.GetEnabled(), Kind: kind, Params: params}
}

// Store errors reach clients as codes; anything unexpected is Internal
// without the store's words. A deadline is the caller's when its context
// has expired, else the database's own (Unavailable, retried).
func TestStoreErrMapping(t *testing.T) {
	s := &Service{errs: newStoreErrors(slog.New(slog.NewTextHandler(io.Discard, nil)))}
	bg := context.Background()
	expired, cancel := context.WithDeadline(bg, time.Now().Add(-time.Second))
	defer cancel()
	for _, tc := range []struct {
		ctx  context.Context
		err  error
		want codes.Code
		msg  string
	}{
		{bg, fmt.Errorf("get: %w", store.ErrNotFound), codes.NotFound, "webhook 7 not found"},
		{bg, fmt.Errorf("create: %w", store.ErrLimit), codes.ResourceExhausted, "limit reached: webhook 7"},
		{bg, fmt.Errorf("create: %w", store.ErrConflict), codes.AlreadyExists, "webhook 7 already exists"},
		{bg, context.Canceled, codes.Canceled, ""},
		{expired, fmt.Errorf("query: %w", context.DeadlineExceeded), codes.DeadlineExceeded, ""},
		{bg, fmt.Errorf("query: %w", context.DeadlineExceeded), codes.Unavailable, "the notify database is unavailable; try again shortly"},
		{bg, fmt.Errorf("query: %w", &pgconn.PgError{Code: "57P01", Message: "terminating connection due to administrator command"}), codes.Unavailable, "the notify database is unavailable; try again shortly"},
		{bg, errors.New(`pq: relation "notify_webhooks" does not exist`), codes.Internal, "notify: internal error during op"},
	} {
		got := s.storeErr(tc.ctx, "op", "webhook 7", tc.err)
		st := status.Convert(got)
		if st.Code() != tc.want || tc.msg != "" && st.Message() != tc.msg {
			t.Errorf("%v → %v, want %v %q", tc.err, got, tc.want, tc.msg)
		}
		if strings.Contains(got.Error(), "notify_webhooks") || strings.Contains(got.Error(), "pq:") || strings.Contains(got.Error(), "administrator") {
			t.Errorf("%v → %v leaks the store's error", tc.err, got)
		}
	}
}
