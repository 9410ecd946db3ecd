package webhook

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	sessionsv1 "github.com/sightlinehq/sightline/gen/sightline/sessions/v1"
)

var t0 = time.Date(2026, 11, 30, 7, 19, 22, 123_456_789, time.UTC)

// The payloads are the public reference (docs/webhooks.md): their JSON is
// pinned byte for byte, so a renamed or dropped field fails here.
func TestSessionEndedPayload(t *testing.T) {
	sum := &sessionsv1.SessionSummary{
		SiteId: 5_000_000_001, OrganizationId: 9, SessionId: "s_7Hq2", VisitorId: "v_Qm3", UserId: "user-42",
		StartTime: timestamppb.New(t0), EndTime: timestamppb.New(t0.Add(95 * time.Second)),
		EndedTime: timestamppb.New(t0.Add(35 * time.Minute)), Duration: durationpb.New(95 * time.Second),
		ActiveDuration: durationpb.New(61500 * time.Millisecond), PageCount: 3,
		EntryUrl: "https://shop.example.com/", ExitUrl: "https://shop.example.com/checkout",
		ClickCount: 14, RageClickCount: 2, DeadClickCount: 1, ErrorCount: 3, CustomEvents: []string{"signup"},
		Client: &sessionsv1.Client{DeviceType: sessionsv1.DeviceType_DEVICE_TYPE_MOBILE, Browser: "Safari", Os: "iOS", Country: "DE",
			IpPrefix: "203.0.113.0", UserAgent: "Mozilla/5.0"},
		ReferrerDomain: "google.com", UtmSource: "newsletter", FeedbackCount: 1, MinFeedbackRating: 2, SurveyResponseCount: 0,
	}
	body, err := Envelope(EventSessionEnded, t0.Add(35*time.Minute), SessionEnded(sum, "http://localhost:8080/sites/5000000001/recordings/s_7Hq2"))
	if err != nil {
		t.Fatal(err)
	}
	want := `{"type":"session.ended","timestamp":"2026-11-30T07:54:22.123Z","data":{` +
		`"site_id":5000000001,"session_id":"s_7Hq2","visitor_id":"v_Qm3","user_id":"user-42",` +
		`"start_time":"2026-11-30T07:19:22.123Z","end_time":"2026-11-30T07:20:57.123Z","ended_time":"2026-11-30T07:54:22.123Z",` +
		`"duration_ms":95000,"active_duration_ms":61500,"page_count":3,"entry_url":"https://shop.example.com/",` +
		`"exit_url":"https://shop.example.com/checkout","click_count":14,"rage_click_count":2,"dead_click_count":1,` +
		`"error_count":3,"custom_events":["signup"],"device":"mobile","browser":"Safari","os":"iOS","country":"DE",` +
		`"referrer_domain":"google.com","utm_source":"newsletter","utm_medium":"","utm_campaign":"",` +
		`"feedback_count":1,"min_feedback_rating":2,"survey_response_count":0,` +
		`"recording_url":"http://localhost:8080/sites/5000000001/recordings/s_7Hq2"}}`
	if string(body) != want {
		t.Fatalf("session.ended =\n%s\nwant\n%s", body, want)
	}
	// Nothing about the visitor's network leaves.
	if strings.Contains(string(body), "203.0.113") || strings.Contains(string(body), "Mozilla") {
		t.Fatal("the IP prefix or user agent is in the payload")
	}
	// A nil or empty summary still builds (never panics), with stable keys.
	b, err := json.Marshal(SessionEnded(nil, ""))
	if err != nil || !strings.Contains(string(b), `"start_time":null`) || !strings.Contains(string(b), `"custom_events":[]`) {
		t.Fatalf("empty summary: %s %v", b, err)
	}
}

func TestAnswerPayloads(t *testing.T) {
	fb := &sessionsv1.Answer{
		Id: "a_Xy1aaaaaaaaaaaaaaaaaaaaa", SiteId: 5_000_000_001, Kind: sessionsv1.AnswerKind_ANSWER_KIND_FEEDBACK,
		SessionId: "s_7Hq2", VisitorId: "v_Qm3", Recorded: true, Url: "https://shop.example.com/checkout",
		ClientTime: timestamppb.New(t0), ServerTime: timestamppb.New(t0.Add(time.Second)), Rating: 2,
		Comment: "The pay button does nothing", Language: "en",
	}
	if AnswerEventType(fb.Kind) != EventFeedbackCreated {
		t.Fatal("feedback kind")
	}
	body, err := Envelope(EventFeedbackCreated, t0, AnswerCreated(fb, "http://localhost:8080/sites/5000000001/recordings/s_7Hq2?t=0"))
	if err != nil {
		t.Fatal(err)
	}
	want := `{"type":"feedback.created","timestamp":"2026-11-30T07:19:22.123Z","data":{"site_id":5000000001,` +
		`"id":"a_Xy1aaaaaaaaaaaaaaaaaaaaa","kind":"feedback","survey_id":0,"rating":2,"nps":null,` +
		`"comment":"The pay button does nothing","answers":[],"language":"en","page_url":"https://shop.example.com/checkout",` +
		`"session_id":"s_7Hq2","visitor_id":"v_Qm3","recorded":true,"time":"2026-11-30T07:19:22.123Z",` +
		`"dashboard_url":"http://localhost:8080/sites/5000000001/recordings/s_7Hq2?t=0"}}`
	if string(body) != want {
		t.Fatalf("feedback.created =\n%s\nwant\n%s", body, want)
	}

	sv := &sessionsv1.Answer{
		Id: "a_Sv2aaaaaaaaaaaaaaaaaaaaa", SiteId: 5_000_000_001, Kind: sessionsv1.AnswerKind_ANSWER_KIND_SURVEY,
		SurveyId: 6_000_000_001, ServerTime: timestamppb.New(t0), Nps: proto.Int32(9),
		Answers: []*sessionsv1.QuestionAnswer{
			{QuestionId: 1, Score: proto.Int32(9)},
			{QuestionId: 2, ChoiceIds: []int32{3, 4}},
			{QuestionId: 3, Text: "faster checkout"},
		},
	}
	if AnswerEventType(sv.Kind) != EventSurveyResponseCreated || AnswerEventType(0) != "" {
		t.Fatal("survey kind")
	}
	b, _ := json.Marshal(AnswerCreated(sv, ""))
	for _, frag := range []string{
		`"kind":"survey","survey_id":6000000001`, `"nps":9`, `"time":"2026-11-30T07:19:22.123Z"`,
		`"answers":[{"question_id":1,"score":9,"choice_ids":[],"text":""},{"question_id":2,"score":null,"choice_ids":[3,4],"text":""},{"question_id":3,"score":null,"choice_ids":[],"text":"faster checkout"}]`,
	} {
		if !strings.Contains(string(b), frag) {
			t.Errorf("survey answer %s lacks %s", b, frag)
		}
	}
	if _, err := json.Marshal(AnswerCreated(nil, "")); err != nil {
		t.Fatal(err)
	}
}

func TestSiteNoDataAndTestPayloads(t *testing.T) {
	body, err := Envelope(EventSiteNoData, t0, SiteNoData(5_000_000_001, "Shop", t0.Add(-25*time.Hour), 24, "http://localhost:8080/sites/5000000001/recordings"))
	if err != nil {
		t.Fatal(err)
	}
	want := `{"type":"site.no_data","timestamp":"2026-11-30T07:19:22.123Z","data":{"site_id":5000000001,"site_name":"Shop",` +
		`"last_data_time":"2026-11-29T06:19:22.123Z","hours":24,"dashboard_url":"http://localhost:8080/sites/5000000001/recordings"}}`
	if string(body) != want {
		t.Fatalf("site.no_data =\n%s\nwant\n%s", body, want)
	}
	body, _ = Envelope(EventTest, t0.In(time.FixedZone("CET", 3600)), Test(5_000_000_001, 7_000_000_001))
	want = `{"type":"webhook.test","timestamp":"2026-11-30T07:19:22.123Z","data":{"site_id":5000000001,"webhook_id":7000000001,"message":"This is a test event from Sightline."}}`
	if string(body) != want {
		t.Fatalf("webhook.test =\n%s\nwant\n%s", body, want)
	}
	// Round trip through Time.
	var env struct {
		Timestamp Time `json:"timestamp"`
	}
	if err := json.Unmarshal(body, &env); err != nil || !time.Time(env.Timestamp).Equal(t0.Truncate(time.Millisecond)) {
		t.Fatalf("Time round trip: %v %v", time.Time(env.Timestamp), err)
	}
	if _, err := Envelope("", t0, nil); err == nil {
		t.Fatal("Envelope without a type")
	}
	if _, err := Envelope(EventTest, time.Time{}, nil); err == nil {
		t.Fatal("Envelope without a time")
	}
	if _, err := Envelope(EventTest, t0, func() {}); err == nil {
		t.Fatal("Envelope of unencodable data")
	}
	for _, e := range Events() {
		if !KnownEvent(e) {
			t.Fatal(e)
		}
	}
	if KnownEvent(EventTest) || KnownEvent("session.started") {
		t.Fatal("KnownEvent accepts unknown types")
	}
}
