package webhook

import (
	"encoding/json"
	"fmt"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/sightlinehq/sightline/devicetype"
	sessionsv1 "github.com/sightlinehq/sightline/gen/sightline/sessions/v1"
)

// Event types. A webhook subscribes to any of Events; EventTest is sent
// only on request (the dashboard's "send test event"), whatever the
// subscription.
const (
	EventSessionEnded          = "session.ended"
	EventFeedbackCreated       = "feedback.created"
	EventSurveyResponseCreated = "survey.response.created"
	EventSiteNoData            = "site.no_data"
	EventTest                  = "webhook.test"
)

// Events returns the event types a webhook can subscribe to.
func Events() []string {
	return []string{EventSessionEnded, EventFeedbackCreated, EventSurveyResponseCreated, EventSiteNoData}
}

// KnownEvent reports whether t is one of Events.
func KnownEvent(t string) bool {
	switch t {
	case EventSessionEnded, EventFeedbackCreated, EventSurveyResponseCreated, EventSiteNoData:
		return true
	}
	return false
}

// timeLayout is RFC 3339 in UTC with milliseconds, as in the envelope.
const timeLayout = "2006-01-02T15:04:05.000Z07:00"

// Time is a timestamp in a payload: RFC 3339 in UTC with milliseconds
// ("2026-11-30T07:19:22.123Z"), or null when unknown.
type Time time.Time

// MarshalJSON writes the RFC 3339 form, or null for the zero time.
func (t Time) MarshalJSON() ([]byte, error) {
	tt := time.Time(t)
	if tt.IsZero() {
		return []byte("null"), nil
	}
	return []byte(`"` + tt.UTC().Format(timeLayout) + `"`), nil
}

// UnmarshalJSON reads what MarshalJSON writes (receivers in Go, tests).
func (t *Time) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*t = Time{}
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	tt, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return err
	}
	*t = Time(tt)
	return nil
}

func pbTime(ts *timestamppb.Timestamp) Time {
	if ts == nil {
		return Time{}
	}
	return Time(ts.AsTime())
}

// envelope is the Standard Webhooks payload structure.
type envelope struct {
	Type      string `json:"type"`
	Timestamp Time   `json:"timestamp"`
	Data      any    `json:"data"`
}

// Envelope is the JSON body of a delivery:
//
//	{"type":"session.ended","timestamp":"2026-11-30T07:19:22.123Z","data":{…}}
//
// where timestamp is when the event happened and data is one of the
// payload types of this package (SessionEndedData, AnswerData, SiteNoDataData,
// TestData).
func Envelope(eventType string, ts time.Time, data any) ([]byte, error) {
	if eventType == "" {
		return nil, fmt.Errorf("webhook: envelope: empty event type")
	}
	if ts.IsZero() {
		return nil, fmt.Errorf("webhook: envelope of %s: no timestamp", eventType)
	}
	b, err := json.Marshal(envelope{Type: eventType, Timestamp: Time(ts), Data: data})
	if err != nil {
		return nil, fmt.Errorf("webhook: envelope of %s: %w", eventType, err)
	}
	return b, nil
}

// SessionEndedData is session.ended's data: the final summary of a
// session (recordings decided it ended after its idle period).
type SessionEndedData struct {
	SiteID    int64  `json:"site_id"`
	SessionID string `json:"session_id"`
	VisitorID string `json:"visitor_id"`
	// UserID is what the site set with identify(), "" when none.
	UserID    string `json:"user_id"`
	StartTime Time   `json:"start_time"`
	// EndTime is the session's last event; EndedTime when recordings
	// decided it was over.
	EndTime          Time     `json:"end_time"`
	EndedTime        Time     `json:"ended_time"`
	DurationMS       int64    `json:"duration_ms"`
	ActiveDurationMS int64    `json:"active_duration_ms"`
	PageCount        int32    `json:"page_count"`
	EntryURL         string   `json:"entry_url"`
	ExitURL          string   `json:"exit_url"`
	ClickCount       int32    `json:"click_count"`
	RageClickCount   int32    `json:"rage_click_count"`
	DeadClickCount   int32    `json:"dead_click_count"`
	ErrorCount       int32    `json:"error_count"`
	CustomEvents     []string `json:"custom_events"`
	// Device is "desktop", "mobile", "tablet", "bot", "other" or "".
	Device  string `json:"device"`
	Browser string `json:"browser"`
	OS      string `json:"os"`
	// Country is ISO 3166-1 alpha-2, "" when unknown.
	Country             string `json:"country"`
	ReferrerDomain      string `json:"referrer_domain"`
	UTMSource           string `json:"utm_source"`
	UTMMedium           string `json:"utm_medium"`
	UTMCampaign         string `json:"utm_campaign"`
	FeedbackCount       int32  `json:"feedback_count"`
	MinFeedbackRating   int32  `json:"min_feedback_rating"`
	SurveyResponseCount int32  `json:"survey_response_count"`
	// RecordingURL opens the replay in the dashboard.
	RecordingURL string `json:"recording_url"`
}

// SessionEnded builds session.ended's data from the final summary; link
// is the recording's dashboard URL.
func SessionEnded(sum *sessionsv1.SessionSummary, link string) SessionEndedData {
	c := sum.GetClient()
	events := sum.GetCustomEvents()
	if events == nil {
		events = []string{}
	}
	return SessionEndedData{
		SiteID:              sum.GetSiteId(),
		SessionID:           sum.GetSessionId(),
		VisitorID:           sum.GetVisitorId(),
		UserID:              sum.GetUserId(),
		StartTime:           pbTime(sum.GetStartTime()),
		EndTime:             pbTime(sum.GetEndTime()),
		EndedTime:           pbTime(sum.GetEndedTime()),
		DurationMS:          sum.GetDuration().AsDuration().Milliseconds(),
		ActiveDurationMS:    sum.GetActiveDuration().AsDuration().Milliseconds(),
		PageCount:           sum.GetPageCount(),
		EntryURL:            sum.GetEntryUrl(),
		ExitURL:             sum.GetExitUrl(),
		ClickCount:          sum.GetClickCount(),
		RageClickCount:      sum.GetRageClickCount(),
		DeadClickCount:      sum.GetDeadClickCount(),
		ErrorCount:          sum.GetErrorCount(),
		CustomEvents:        events,
		Device:              devicetype.Name(c.GetDeviceType()),
		Browser:             c.GetBrowser(),
		OS:                  c.GetOs(),
		Country:             c.GetCountry(),
		ReferrerDomain:      sum.GetReferrerDomain(),
		UTMSource:           sum.GetUtmSource(),
		UTMMedium:           sum.GetUtmMedium(),
		UTMCampaign:         sum.GetUtmCampaign(),
		FeedbackCount:       sum.GetFeedbackCount(),
		MinFeedbackRating:   sum.GetMinFeedbackRating(),
		SurveyResponseCount: sum.GetSurveyResponseCount(),
		RecordingURL:        link,
	}
}

// AnswerData is the data of feedback.created (the on-page widget) and
// survey.response.created (a survey).
type AnswerData struct {
	SiteID int64 `json:"site_id"`
	// ID is the answer's id ("a_…"), unique within the site.
	ID string `json:"id"`
	// Kind is "feedback" or "survey".
	Kind string `json:"kind"`
	// SurveyID is 0 for feedback.
	SurveyID int64 `json:"survey_id"`
	// Rating is 1–5 (the widget's faces, or a survey's first rating
	// question), 0 when none.
	Rating int32 `json:"rating"`
	// NPS is 0–10 (a survey's first NPS question), null when none.
	NPS     *int32 `json:"nps"`
	Comment string `json:"comment"`
	// Answers are a survey's answered questions in the order shown; empty
	// for feedback.
	Answers  []QuestionAnswerData `json:"answers"`
	Language string               `json:"language"`
	// PageURL is the page the answer was given on.
	PageURL   string `json:"page_url"`
	SessionID string `json:"session_id"`
	VisitorID string `json:"visitor_id"`
	// Recorded tells whether the session was recorded (the link then opens
	// the replay at the moment of the answer).
	Recorded bool `json:"recorded"`
	// Time is when the visitor answered.
	Time Time `json:"time"`
	// DashboardURL shows the answer in the dashboard.
	DashboardURL string `json:"dashboard_url"`
}

// QuestionAnswerData is one answered survey question.
type QuestionAnswerData struct {
	QuestionID int32 `json:"question_id"`
	// Score of a rating or NPS question, null otherwise.
	Score *int32 `json:"score"`
	// ChoiceIDs of a choice question, empty otherwise.
	ChoiceIDs []int32 `json:"choice_ids"`
	// Text of a text question or an "other" choice.
	Text string `json:"text"`
}

// AnswerEventType is the event an answer of kind k raises: EventFeedbackCreated,
// EventSurveyResponseCreated, or "" for an unknown kind.
func AnswerEventType(k sessionsv1.AnswerKind) string {
	switch k {
	case sessionsv1.AnswerKind_ANSWER_KIND_FEEDBACK:
		return EventFeedbackCreated
	case sessionsv1.AnswerKind_ANSWER_KIND_SURVEY:
		return EventSurveyResponseCreated
	}
	return ""
}

// AnswerCreated builds feedback.created's or survey.response.created's
// data; link shows the answer (or its recording) in the dashboard.
func AnswerCreated(a *sessionsv1.Answer, link string) AnswerData {
	kind := "feedback"
	if a.GetKind() == sessionsv1.AnswerKind_ANSWER_KIND_SURVEY {
		kind = "survey"
	}
	at := a.GetClientTime()
	if at == nil {
		at = a.GetServerTime()
	}
	d := AnswerData{
		SiteID:       a.GetSiteId(),
		ID:           a.GetId(),
		Kind:         kind,
		SurveyID:     a.GetSurveyId(),
		Rating:       a.GetRating(),
		Comment:      a.GetComment(),
		Answers:      make([]QuestionAnswerData, 0, len(a.GetAnswers())),
		Language:     a.GetLanguage(),
		PageURL:      a.GetUrl(),
		SessionID:    a.GetSessionId(),
		VisitorID:    a.GetVisitorId(),
		Recorded:     a.GetRecorded(),
		Time:         pbTime(at),
		DashboardURL: link,
	}
	if a != nil && a.Nps != nil {
		n := a.GetNps()
		d.NPS = &n
	}
	for _, q := range a.GetAnswers() {
		qa := QuestionAnswerData{QuestionID: q.GetQuestionId(), ChoiceIDs: q.GetChoiceIds(), Text: q.GetText()}
		if q.Score != nil {
			s := q.GetScore()
			qa.Score = &s
		}
		if qa.ChoiceIDs == nil {
			qa.ChoiceIDs = []int32{}
		}
		d.Answers = append(d.Answers, qa)
	}
	return d
}

// SiteNoDataData is site.no_data's data: a site that used to send data
// sent none for Hours.
type SiteNoDataData struct {
	SiteID   int64  `json:"site_id"`
	SiteName string `json:"site_name"`
	// LastDataTime is when the last session started or ended, null when
	// never.
	LastDataTime Time `json:"last_data_time"`
	// Hours is the silence that fired it: a member's no-data alert's hours,
	// or notify.webhook.no-data-hours.
	Hours int `json:"hours"`
	// DashboardURL opens the site's recordings.
	DashboardURL string `json:"dashboard_url"`
}

// SiteNoData builds site.no_data's data.
func SiteNoData(siteID int64, siteName string, last time.Time, hours int, link string) SiteNoDataData {
	return SiteNoDataData{SiteID: siteID, SiteName: siteName, LastDataTime: Time(last), Hours: hours, DashboardURL: link}
}

// TestData is webhook.test's data.
type TestData struct {
	SiteID    int64  `json:"site_id"`
	WebhookID int64  `json:"webhook_id"`
	Message   string `json:"message"`
}

// Test builds webhook.test's data.
func Test(siteID, webhookID int64) TestData {
	return TestData{SiteID: siteID, WebhookID: webhookID, Message: "This is a test event from Sightline."}
}
