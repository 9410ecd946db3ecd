package ingest

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	accountsv1 "github.com/sightlinehq/sightline/gen/sightline/accounts/v1"
	searchv1 "github.com/sightlinehq/sightline/gen/sightline/search/v1"
	sessionsv1 "github.com/sightlinehq/sightline/gen/sightline/sessions/v1"
	"github.com/sightlinehq/sightline/internal/poll"
	"github.com/sightlinehq/sightline/tracker"
)

// getBootstrap fetches /s/<key>.js and returns the inlined settings object.
func (e *env) getBootstrap(key string) (map[string]any, *http.Response, string) {
	e.t.Helper()
	resp, err := http.Get(e.srv.URL + "/s/" + key + ".js")
	if err != nil {
		e.t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	body := string(b)
	i := strings.Index(body, `{"siteKey"`)
	if i < 0 {
		e.t.Fatalf("no settings in the bootstrap: %s", body)
	}
	var m map[string]any
	if err := json.NewDecoder(strings.NewReader(body[i:])).Decode(&m); err != nil {
		e.t.Fatalf("settings: %v", err)
	}
	return m, resp, body
}

func surveyIDs(m map[string]any) []string {
	ids := []string{}
	for _, s := range m["surveys"].([]any) {
		ids = append(ids, s.(map[string]any)["id"].(string))
	}
	return ids
}

func jsonValue(t *testing.T, s string) any {
	t.Helper()
	var v any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatal(err)
	}
	return v
}

func TestBootstrapFeedbackAndSurveys(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.SiteCacheTTL = 50 * time.Millisecond })
	now := time.Now()
	full := &accountsv1.Survey{
		Id: surveyID, SiteId: siteID, Name: "Checkout", Status: accountsv1.SurveyStatus_SURVEY_STATUS_ACTIVE,
		Questions: []*accountsv1.Question{
			{Id: 1, Type: accountsv1.QuestionType_QUESTION_TYPE_NPS, Text: "Recommend us?</script>", Required: true, LowLabel: "Not likely", HighLabel: "Very likely",
				Skip: []*accountsv1.SkipRule{{MinScore: proto.Int32(0), MaxScore: proto.Int32(6), ToQuestionId: 3}}},
			{Id: 2, Type: accountsv1.QuestionType_QUESTION_TYPE_MULTIPLE_CHOICE, Text: "What did you buy?",
				Choices: []*accountsv1.Choice{{Id: 1, Label: "Shoes"}, {Id: 2, Label: "Hats"}}, Skip: []*accountsv1.SkipRule{{ChoiceIds: []int32{2}, ToQuestionId: 0}}},
			{Id: 3, Type: accountsv1.QuestionType_QUESTION_TYPE_LONG_TEXT, Text: "Why?"},
		},
		Targeting: &accountsv1.SurveyTargeting{
			Pages:       []*searchv1.UrlMatch{{Operator: searchv1.UrlMatch_OPERATOR_PATTERN, Value: "/product/*"}, {Operator: searchv1.UrlMatch_OPERATOR_PREFIX, Value: "https://shop.example.com/checkout"}},
			DeviceTypes: []sessionsv1.DeviceType{sessionsv1.DeviceType_DEVICE_TYPE_DESKTOP, sessionsv1.DeviceType_DEVICE_TYPE_TABLET},
			Visitors:    accountsv1.SurveyTargeting_VISITORS_RETURNING,
			Attributes:  []*sessionsv1.Attribute{{Key: "plan", Value: "pro"}},
		},
		Trigger:    &accountsv1.SurveyTrigger{Kind: accountsv1.SurveyTrigger_KIND_AFTER_SECONDS, Seconds: 10},
		SampleRate: proto.Float64(0.25), OncePerVisitor: true, ResponseLimit: 100, Thanks: "Merci", Language: "fr",
		StartTime: timestamppb.New(now.Add(-time.Hour).Truncate(time.Millisecond)), EndTime: timestamppb.New(now.Add(time.Hour).Truncate(time.Millisecond)),
	}
	simple := func(id int64, mod func(*accountsv1.Survey)) *accountsv1.Survey {
		s := &accountsv1.Survey{Id: id, Status: accountsv1.SurveyStatus_SURVEY_STATUS_ACTIVE,
			Questions: []*accountsv1.Question{{Id: 1, Type: accountsv1.QuestionType_QUESTION_TYPE_RATING_5, Text: "How was it?"}}}
		mod(s)
		return s
	}
	e.setSurveys(siteKey,
		full,
		simple(9_000_000_000_000_000_002, func(s *accountsv1.Survey) { s.EndTime = timestamppb.New(now.Add(-time.Minute)) }),      // ended
		simple(9_000_000_000_000_000_003, func(s *accountsv1.Survey) { s.StartTime = timestamppb.New(now.Add(time.Hour)) }),       // not started
		simple(9_000_000_000_000_000_004, func(s *accountsv1.Survey) { s.ResponseLimit = 50 }),                                    // at its limit
		simple(9_000_000_000_000_000_005, func(s *accountsv1.Survey) { s.Status = accountsv1.SurveyStatus_SURVEY_STATUS_PAUSED }), // paused
		simple(9_000_000_000_000_000_006, func(s *accountsv1.Survey) {
			s.Trigger = &accountsv1.SurveyTrigger{Kind: accountsv1.SurveyTrigger_KIND_CUSTOM_EVENT, Event: "checkout"}
		}),
	)
	e.acc.mu.Lock()
	e.acc.sites[siteKey].GetSettings().Feedback = &accountsv1.FeedbackWidget{Enabled: true, Position: accountsv1.FeedbackWidget_POSITION_BOTTOM_LEFT,
		Color: "#ff6600", Language: "de", TabLabel: "Feedback", Title: "Wie war's?", CommentPrompt: "", Thanks: "Danke", AllowElement: true,
		Pages: []*searchv1.UrlMatch{{Operator: searchv1.UrlMatch_OPERATOR_CONTAINS, Value: "pricing"}, {Operator: searchv1.UrlMatch_OPERATOR_EQUALS, Value: "https://shop.example.com/"}}}
	e.acc.mu.Unlock()
	e.rec.mu.Lock()
	e.rec.counts[siteID] = map[int64]int64{surveyID: 99, 9_000_000_000_000_000_004: 50}
	e.rec.mu.Unlock()

	m, resp, body := e.getBootstrap(siteKey)
	if strings.Contains(body, "</script>") {
		t.Fatalf("a survey text ends the script element: %s", body)
	}
	if m["answerEndpoint"] != e.srv.URL+"/i/v1/answer" || !strings.HasPrefix(m["feedbackUrl"].(string), e.srv.URL+"/static/feedback.") {
		t.Fatalf("endpoints: %v %v", m["answerEndpoint"], m["feedbackUrl"])
	}
	wantFeedback := jsonValue(t, `{"position":"bottom-left","color":"#ff6600","language":"de",
		"texts":{"tab":"Feedback","title":"Wie war's?","prompt":"","thanks":"Danke"},"element":true,
		"pages":[{"op":"contains","value":"pricing"},{"op":"equals","value":"https://shop.example.com/"}]}`)
	if !reflect.DeepEqual(m["feedback"], wantFeedback) {
		t.Fatalf("feedback %v\nwant     %v", m["feedback"], wantFeedback)
	}
	if ids := surveyIDs(m); !reflect.DeepEqual(ids, []string{"9000000000000000001", "9000000000000000006"}) {
		t.Fatalf("surveys %v (want the active one under its limit and the custom-event one)", ids)
	}
	wantSurvey := jsonValue(t, `{"id":"9000000000000000001","language":"fr","thanks":"Merci",
		"questions":[
			{"id":1,"type":"nps","text":"Recommend us?</script>","required":true,"choices":[],"low":"Not likely","high":"Very likely","skip":[{"choices":[],"min":0,"max":6,"to":3}]},
			{"id":2,"type":"multiple","text":"What did you buy?","required":false,"choices":[{"id":1,"label":"Shoes"},{"id":2,"label":"Hats"}],"low":"","high":"","skip":[{"choices":[2],"to":0}]},
			{"id":3,"type":"long","text":"Why?","required":false,"choices":[],"low":"","high":"","skip":[]}],
		"target":{"pages":[{"op":"pattern","value":"/product/*"},{"op":"prefix","value":"https://shop.example.com/checkout"}],
			"devices":["desktop","tablet"],"visitors":"returning","attrs":[{"k":"plan","v":"pro"}]},
		"trigger":{"kind":"seconds","seconds":10,"scroll":0,"event":""},"sample":0.25,"once":true,
		"start":`+jsonInt(full.GetStartTime().AsTime().UnixMilli())+`,"end":`+jsonInt(full.GetEndTime().AsTime().UnixMilli())+`}`)
	if got := m["surveys"].([]any)[0]; !reflect.DeepEqual(got, wantSurvey) {
		g, _ := json.Marshal(got)
		w, _ := json.Marshal(wantSurvey)
		t.Fatalf("survey\n%s\nwant\n%s", g, w)
	}
	if got := m["surveys"].([]any)[1].(map[string]any); !reflect.DeepEqual(got["trigger"], jsonValue(t, `{"kind":"event","seconds":0,"scroll":0,"event":"checkout"}`)) ||
		got["start"] != nil || got["end"] != nil || got["sample"] != 1.0 || got["once"] != false ||
		!reflect.DeepEqual(got["target"], jsonValue(t, `{"pages":[],"devices":[],"visitors":"","attrs":[]}`)) {
		t.Fatalf("defaults: %v", got)
	}

	// The 100th response arrives: once the counts are refreshed the survey
	// is gone, and the ETag changes with it.
	etag := resp.Header.Get("ETag")
	e.rec.mu.Lock()
	e.rec.counts[siteID][surveyID] = 100
	e.rec.mu.Unlock()
	poll.Until(t, 10*time.Second, func() error {
		if m, resp, _ = e.getBootstrap(siteKey); !reflect.DeepEqual(surveyIDs(m), []string{"9000000000000000006"}) {
			return fmt.Errorf("survey at its limit still served: %v", surveyIDs(m))
		}
		return nil
	})
	if resp.Header.Get("ETag") == etag {
		t.Fatal("ETag unchanged though the surveys changed")
	}
	// Recordings down: the last known counts are kept.
	e.rec.mu.Lock()
	e.rec.countsDown = true
	calls := e.rec.countCalls
	e.rec.mu.Unlock()
	time.Sleep(100 * time.Millisecond) // the counts' 50 ms TTL passes: the next bootstrap refreshes them
	for range 3 {
		m, resp, _ = e.getBootstrap(siteKey)
		if resp.StatusCode != 200 || !reflect.DeepEqual(surveyIDs(m), []string{"9000000000000000006"}) {
			t.Fatalf("recordings down: %d %v", resp.StatusCode, surveyIDs(m))
		}
	}
	// The refresh runs in the background: wait for recordings to be asked.
	poll.Until(t, 10*time.Second, func() error {
		e.rec.mu.Lock()
		defer e.rec.mu.Unlock()
		if e.rec.countCalls == calls {
			return errors.New("stale counts never refreshed")
		}
		return nil
	})

	// The bundle named by feedbackUrl is served, immutable.
	fr, err := http.Get(m["feedbackUrl"].(string))
	if err != nil {
		t.Fatal(err)
	}
	fb, _ := io.ReadAll(fr.Body)
	fr.Body.Close()
	if fr.StatusCode != 200 || string(fb) != string(tracker.Feedback) || !strings.Contains(fr.Header.Get("Cache-Control"), "immutable") ||
		!strings.HasPrefix(fr.Header.Get("Content-Type"), "text/javascript") {
		t.Fatalf("feedback bundle: %d %v", fr.StatusCode, fr.Header)
	}
	r, err := http.Get(e.srv.URL + "/static/feedback.0000000000000000.js")
	if err != nil {
		t.Fatal(err)
	}
	r.Body.Close()
	if r.StatusCode != 404 {
		t.Fatalf("stale bundle hash: %d", r.StatusCode)
	}
}

func jsonInt(n int64) string { b, _ := json.Marshal(n); return string(b) }

func TestBootstrapWithoutFeedback(t *testing.T) {
	e := newEnv(t, nil)
	// A limited survey while recordings never answered: shown (the limit
	// is approximate; recordings down must not change the page).
	e.rec.mu.Lock()
	e.rec.countsDown = true
	e.rec.mu.Unlock()
	e.setSurveys(dntKey, &accountsv1.Survey{Id: 12, Status: accountsv1.SurveyStatus_SURVEY_STATUS_ACTIVE, ResponseLimit: 1,
		Questions: []*accountsv1.Question{{Id: 1, Type: accountsv1.QuestionType_QUESTION_TYPE_SHORT_TEXT, Text: "Hi?"}}},
		// A rule this ingest cannot render: the survey is left out rather
		// than shown on every page.
		&accountsv1.Survey{Id: 13, Status: accountsv1.SurveyStatus_SURVEY_STATUS_ACTIVE,
			Questions: []*accountsv1.Question{{Id: 1, Type: accountsv1.QuestionType_QUESTION_TYPE_SHORT_TEXT, Text: "Hi?"}},
			Targeting: &accountsv1.SurveyTargeting{Pages: []*searchv1.UrlMatch{{Operator: 99, Value: "/x"}}}})
	m, resp, body := e.getBootstrap(dntKey)
	if resp.StatusCode != 200 || !strings.Contains(body, `"feedback":null`) || !reflect.DeepEqual(surveyIDs(m), []string{"12"}) {
		t.Fatalf("bootstrap: %d %s", resp.StatusCode, body)
	}
	m, _, body = e.getBootstrap(quotaKey)
	if !strings.Contains(body, `"feedback":null`) || !strings.Contains(body, `"surveys":[]`) || m["answerEndpoint"] == "" {
		t.Fatalf("bootstrap without feedback or surveys: %s", body)
	}
	// A site without surveys never asks recordings.
	e.rec.mu.Lock()
	defer e.rec.mu.Unlock()
	if e.rec.countCalls != 1 {
		t.Fatalf("GetAnswerCounts called %d times", e.rec.countCalls)
	}
}
