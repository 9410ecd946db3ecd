package batch_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/sightlinehq/sightline/batch"
	"github.com/sightlinehq/sightline/batch/batchtest"
	sessionsv1 "github.com/sightlinehq/sightline/gen/sightline/sessions/v1"
)

const (
	feedbackBody = `{"v":1,"siteKey":"k_test","sessionId":"s_abcdefgh","visitorId":"v_abcdefgh","pageViewId":"p_abcdefgh",` +
		`"id":"a_0123456789abcdefghijkl","clientTime":1763890000000,"recorded":true,` +
		`"page":{"url":"https://a.example/pricing","viewport":{"w":1280,"h":720}},"kind":"feedback","rating":2,` +
		`"comment":"The \"Buy\" button does nothing","selector":"main > button.buy","language":"en"}`
	surveyBody = `{"v":1,"siteKey":"k_test","sessionId":"s_abcdefgh","visitorId":"v_abcdefgh","pageViewId":"p_abcdefgh",` +
		`"id":"a_0123456789abcdefghijkm","clientTime":1763890000000,"recorded":false,` +
		`"page":{"url":"https://a.example/checkout"},"kind":"survey","surveyId":"9000000000000000001",` +
		`"answers":[{"q":1,"score":9},{"q":2,"choices":[3,1]},{"q":3,"text":"faster ✓"},{"q":4,"choices":[5],"text":"other: price"}],"language":"pt-BR"}`
)

// with returns body with top-level fields set (a nil value deletes one).
func with(t testing.TB, body string, fields map[string]any) []byte {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(body), &m); err != nil {
		t.Fatal(err)
	}
	return batchtest.With(t, m, fields)
}

func TestDecodeAnswerFeedback(t *testing.T) {
	a, err := batch.DecodeAnswer([]byte(feedbackBody))
	if err != nil {
		t.Fatal(err)
	}
	want := batch.Answer{V: 1, SiteKey: "k_test", SessionID: "s_abcdefgh", VisitorID: "v_abcdefgh", PageViewID: "p_abcdefgh",
		ID: "a_0123456789abcdefghijkl", ClientTime: 1763890000000, Recorded: true, URL: "https://a.example/pricing",
		ViewportW: 1280, ViewportH: 720, Kind: sessionsv1.AnswerKind_ANSWER_KIND_FEEDBACK, Rating: 2,
		Comment: `The "Buy" button does nothing`, Selector: "main > button.buy", Language: "en"}
	if !equalAnswers(a, want) {
		t.Fatalf("decoded %+v\nwant    %+v", a, want)
	}
	// What recordings receives passes CheckAnswer, through a proto round trip.
	p := &sessionsv1.Answer{SiteId: 3_000_000_001, OrganizationId: 4_000_000_001, ServerTime: timestamppb.Now()}
	a.Fill(p)
	if p.GetClientTime().AsTime() != time.UnixMilli(1763890000000).UTC() || p.GetViewportWidth() != 1280 || p.GetRating() != 2 {
		t.Fatalf("Fill: %v", p)
	}
	roundTrip(t, p)
}

func TestDecodeAnswerSurvey(t *testing.T) {
	a, err := batch.DecodeAnswer([]byte(surveyBody))
	if err != nil {
		t.Fatal(err)
	}
	if a.Kind != sessionsv1.AnswerKind_ANSWER_KIND_SURVEY || a.SurveyID != 9_000_000_000_000_000_001 || a.Language != "pt-BR" ||
		len(a.Answers) != 4 || !a.Answers[0].HasScore || a.Answers[0].Score != 9 || a.Answers[1].HasScore ||
		len(a.Answers[1].Choices) != 2 || a.Answers[1].Choices[0] != 3 || a.Answers[2].Text != "faster ✓" ||
		a.Answers[3].Text != "other: price" || a.Answers[3].Choices[0] != 5 {
		t.Fatalf("decoded %+v", a)
	}
	p := &sessionsv1.Answer{SiteId: 3_000_000_001, OrganizationId: 4_000_000_001}
	a.Fill(p)
	if p.GetAnswers()[0].Score == nil || p.GetAnswers()[0].GetScore() != 9 || p.GetAnswers()[1].Score != nil || p.GetSurveyId() != a.SurveyID {
		t.Fatalf("Fill: %v", p)
	}
	roundTrip(t, p)
	// A score of 0 (NPS) is a score, not "none".
	a, err = batch.DecodeAnswer(with(t, surveyBody, map[string]any{"answers": []any{map[string]any{"q": 1, "score": 0}}}))
	if err != nil || !a.Answers[0].HasScore || a.Answers[0].Score != 0 {
		t.Fatalf("score 0: %+v %v", a, err)
	}
}

func roundTrip(t *testing.T, p *sessionsv1.Answer) {
	t.Helper()
	wire, err := proto.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	var got sessionsv1.Answer
	if err := proto.Unmarshal(wire, &got); err != nil {
		t.Fatal(err)
	}
	if err := batch.CheckAnswer(&got); err != nil {
		t.Fatalf("recordings would refuse what ingest accepted: %v", err)
	}
}

func equalAnswers(a, b batch.Answer) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return string(ja) == string(jb)
}

func TestDecodeAnswerRefusals(t *testing.T) {
	long := func(n int, s string) string { return strings.Repeat(s, n) }
	many := func(n int, mk func(i int) any) []any {
		out := make([]any, n)
		for i := range out {
			out[i] = mk(i)
		}
		return out
	}
	for _, c := range []struct {
		name string
		body []byte
		msg  string
	}{
		{"not json", []byte(`{"v":1,`), "expected a key"},
		{"array", []byte(`[1]`), "not a JSON object"},
		{"trailing", []byte(feedbackBody + `{}`), "trailing data"},
		{"version", with(t, feedbackBody, map[string]any{"v": 2}), "version"},
		{"no v", with(t, feedbackBody, map[string]any{"v": nil}), "version"},
		{"no id", with(t, feedbackBody, map[string]any{"id": nil}), "id is required"},
		{"id prefix", with(t, feedbackBody, map[string]any{"id": "s_0123456789abcdefghijkl"}), "id must be a_"},
		{"id chars", with(t, feedbackBody, map[string]any{"id": "a_0123456789abcdef/hijkl"}), "id has a character"},
		{"id type", with(t, feedbackBody, map[string]any{"id": 12}), "id must be a string"},
		{"session", with(t, feedbackBody, map[string]any{"sessionId": "x"}), "sessionId"},
		{"no clientTime", with(t, feedbackBody, map[string]any{"clientTime": nil}), "clientTime is required"},
		{"clientTime range", with(t, feedbackBody, map[string]any{"clientTime": 9e15}), "clientTime must be between"},
		{"clientTime type", with(t, feedbackBody, map[string]any{"clientTime": "now"}), "clientTime must be an integer"},
		{"no url", with(t, feedbackBody, map[string]any{"page": map[string]any{}}), "page.url is required"},
		{"url long", with(t, feedbackBody, map[string]any{"page": map[string]any{"url": "https://a.example/" + long(8200, "x")}}), "page.url must be at most"},
		{"viewport", with(t, feedbackBody, map[string]any{"page": map[string]any{"url": "https://a.example/", "viewport": map[string]any{"w": -1}}}), "page.viewport.w"},
		{"recorded type", with(t, feedbackBody, map[string]any{"recorded": "yes"}), "recorded must be a boolean"},
		{"kind", with(t, feedbackBody, map[string]any{"kind": "poll"}), `kind must be "feedback" or "survey"`},
		{"no kind", with(t, feedbackBody, map[string]any{"kind": nil}), "kind is required"},
		{"rating 0", with(t, feedbackBody, map[string]any{"rating": 0}), "rating must be between 1 and 5"},
		{"rating 6", with(t, feedbackBody, map[string]any{"rating": 6}), "rating must be between 1 and 5"},
		{"rating float", with(t, feedbackBody, map[string]any{"rating": 2.5}), "rating must be an integer"},
		{"empty feedback", with(t, feedbackBody, map[string]any{"rating": nil, "comment": ""}), "a rating or a comment"},
		{"feedback surveyId", with(t, feedbackBody, map[string]any{"surveyId": "12"}), "surveyId is for surveys only"},
		{"feedback answers", with(t, feedbackBody, map[string]any{"answers": []any{map[string]any{"q": 1, "score": 3}}}), "answers are for surveys only"},
		{"comment long", with(t, feedbackBody, map[string]any{"comment": long(2001, "é")}), "comment must be at most 2000"},
		{"selector long", with(t, feedbackBody, map[string]any{"selector": long(201, "a")}), "selector must be at most 200"},
		{"language", with(t, feedbackBody, map[string]any{"language": "en_US"}), "language must be"},
		{"language long", with(t, feedbackBody, map[string]any{"language": long(36, "a")}), "language must be at most"},
		{"siteKey long", with(t, feedbackBody, map[string]any{"siteKey": long(65, "k")}), "siteKey must be"},
		{"survey no id", with(t, surveyBody, map[string]any{"surveyId": nil}), "surveyId is required"},
		{"survey id number", with(t, surveyBody, map[string]any{"surveyId": 12}), "surveyId must be a string"},
		{"survey id zero", with(t, surveyBody, map[string]any{"surveyId": "0"}), "surveyId must be a positive"},
		{"survey id padded", with(t, surveyBody, map[string]any{"surveyId": "012"}), "surveyId must be a positive"},
		{"survey id overflow", with(t, surveyBody, map[string]any{"surveyId": "92233720368547758070"}), "surveyId must be a positive"},
		{"survey rating", with(t, surveyBody, map[string]any{"rating": 3}), "rating is for feedback only"},
		{"answers type", with(t, surveyBody, map[string]any{"answers": map[string]any{}}), "answers must be an array"},
		{"too many answers", with(t, surveyBody, map[string]any{"answers": many(21, func(i int) any { return map[string]any{"q": i + 1, "score": 1} })}), "at most 20"},
		{"no q", with(t, surveyBody, map[string]any{"answers": []any{map[string]any{"score": 1}}}), "q is required"},
		{"q zero", with(t, surveyBody, map[string]any{"answers": []any{map[string]any{"q": 0, "score": 1}}}), "answers[].q must be between"},
		{"q twice", with(t, surveyBody, map[string]any{"answers": []any{map[string]any{"q": 1, "score": 1}, map[string]any{"q": 1, "score": 2}}}), "question 1 twice"},
		{"score 11", with(t, surveyBody, map[string]any{"answers": []any{map[string]any{"q": 1, "score": 11}}}), "score must be between 0 and 10"},
		{"score and text", with(t, surveyBody, map[string]any{"answers": []any{map[string]any{"q": 1, "score": 1, "text": "x"}}}), "one kind of answer"},
		{"empty answer", with(t, surveyBody, map[string]any{"answers": []any{map[string]any{"q": 1}}}), "needs a score, choices or text"},
		{"too many choices", with(t, surveyBody, map[string]any{"answers": []any{map[string]any{"q": 1, "choices": many(21, func(i int) any { return i + 1 })}}}), "at most 20"},
		{"choice twice", with(t, surveyBody, map[string]any{"answers": []any{map[string]any{"q": 1, "choices": []any{2, 2}}}}), "a choice twice"},
		{"choice zero", with(t, surveyBody, map[string]any{"answers": []any{map[string]any{"q": 1, "choices": []any{0}}}}), "choices[] must be between"},
		{"text long", with(t, surveyBody, map[string]any{"answers": []any{map[string]any{"q": 1, "text": long(2001, "a")}}}), "text must be at most 2000"},
		{"answer not object", with(t, surveyBody, map[string]any{"answers": []any{1}}), "answers[] must be an object"},
		{"huge", []byte(`{"v":1,"x":"` + long(17000, "a") + `"}`), "larger than"},
		{"deep", []byte(`{"v":1,"x":` + long(2000, "[") + long(2000, "]") + `}`), "nesting deeper"},
		{"bad utf8", []byte("{\"v\":1,\"comment\":\"\xff\"}"), "UTF-8"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := batch.DecodeAnswer(c.body)
			var be *batch.Error
			if !errors.As(err, &be) {
				t.Fatalf("err = %v, want a *batch.Error", err)
			}
			if !strings.Contains(err.Error(), c.msg) {
				t.Fatalf("err = %q, want it to say %q", err, c.msg)
			}
		})
	}
}

// TestDecodeAnswerLenient: unknown fields, nulls for optional ones, and an
// over-long traceparent (a hint) are accepted.
func TestDecodeAnswerLenient(t *testing.T) {
	a, err := batch.DecodeAnswer(with(t, feedbackBody, map[string]any{"newField": map[string]any{"x": []any{1}},
		"traceparent": strings.Repeat("0", 200), "selector": nil, "language": nil}))
	if err != nil || a.Traceparent != "" || a.Selector != "" {
		t.Fatalf("%+v %v", a, err)
	}
	b := strings.Replace(feedbackBody, `"rating":2,`, `"rating":null,`, 1)
	if a, err := batch.DecodeAnswer([]byte(b)); err != nil || a.Rating != 0 {
		t.Fatalf("rating null: %+v %v", a, err)
	}
	// Escaped keys are keys.
	b = strings.Replace(feedbackBody, `"kind"`, `"\u006bind"`, 1)
	if _, err := batch.DecodeAnswer([]byte(b)); err != nil {
		t.Fatalf("escaped key: %v", err)
	}
}

func TestCheckAnswer(t *testing.T) {
	good := func() *sessionsv1.Answer {
		a, err := batch.DecodeAnswer([]byte(surveyBody))
		if err != nil {
			t.Fatal(err)
		}
		p := &sessionsv1.Answer{SiteId: 3_000_000_001, OrganizationId: 4_000_000_001, ServerTime: timestamppb.Now()}
		a.Fill(p)
		nps := int32(9)
		p.Nps, p.Rating = &nps, 4
		return p
	}
	if err := batch.CheckAnswer(good()); err != nil {
		t.Fatal(err)
	}
	i32 := func(v int32) *int32 { return &v }
	for name, mod := range map[string]func(p *sessionsv1.Answer){
		"nil site":        func(p *sessionsv1.Answer) { p.SiteId = 0 },
		"org":             func(p *sessionsv1.Answer) { p.OrganizationId = -1 },
		"kind":            func(p *sessionsv1.Answer) { p.Kind = sessionsv1.AnswerKind_ANSWER_KIND_UNSPECIFIED },
		"survey id":       func(p *sessionsv1.Answer) { p.SurveyId = 0 },
		"feedback survey": func(p *sessionsv1.Answer) { p.Kind = sessionsv1.AnswerKind_ANSWER_KIND_FEEDBACK },
		"id":              func(p *sessionsv1.Answer) { p.Id = "a_x" },
		"session":         func(p *sessionsv1.Answer) { p.SessionId = "" },
		"url":             func(p *sessionsv1.Answer) { p.Url = "" },
		"url utf8":        func(p *sessionsv1.Answer) { p.Url = "https://x/\xff" },
		"rating":          func(p *sessionsv1.Answer) { p.Rating = 6 },
		"nps":             func(p *sessionsv1.Answer) { p.Nps = i32(11) },
		"viewport":        func(p *sessionsv1.Answer) { p.ViewportWidth = -1 },
		"comment":         func(p *sessionsv1.Answer) { p.Comment = strings.Repeat("é", 2001) },
		"selector":        func(p *sessionsv1.Answer) { p.Selector = strings.Repeat("a", 201) },
		"language":        func(p *sessionsv1.Answer) { p.Language = "e n" },
		"client time":     func(p *sessionsv1.Answer) { p.ClientTime = nil },
		"client range":    func(p *sessionsv1.Answer) { p.ClientTime = timestamppb.New(time.UnixMilli(batch.MaxTimestampMs + 1)) },
		"server time":     func(p *sessionsv1.Answer) { p.ServerTime = &timestamppb.Timestamp{Nanos: -1} },
		"question id":     func(p *sessionsv1.Answer) { p.Answers[0].QuestionId = 0 },
		"question twice":  func(p *sessionsv1.Answer) { p.Answers[1].QuestionId = p.Answers[0].QuestionId },
		"score":           func(p *sessionsv1.Answer) { p.Answers[0].Score = i32(11) },
		"score and text":  func(p *sessionsv1.Answer) { p.Answers[0].Text = "x" },
		"choice":          func(p *sessionsv1.Answer) { p.Answers[1].ChoiceIds = []int32{0} },
		"choice twice":    func(p *sessionsv1.Answer) { p.Answers[1].ChoiceIds = []int32{4, 4} },
		"choices":         func(p *sessionsv1.Answer) { p.Answers[1].ChoiceIds = make([]int32, 21) },
		"text":            func(p *sessionsv1.Answer) { p.Answers[2].Text = strings.Repeat("a", 2001) },
		"text utf8":       func(p *sessionsv1.Answer) { p.Answers[2].Text = "\xff" },
		"answers":         func(p *sessionsv1.Answer) { p.Answers = make([]*sessionsv1.QuestionAnswer, 21) },
	} {
		p := good()
		mod(p)
		var be *batch.Error
		if err := batch.CheckAnswer(p); !errors.As(err, &be) {
			t.Errorf("%s: CheckAnswer = %v, want a *batch.Error", name, err)
		}
	}
	if err := batch.CheckAnswer(nil); err == nil {
		t.Fatal("nil answer accepted")
	}
}

// FuzzDecodeAnswer: DecodeAnswer never panics, refuses only with a
// *batch.Error, and whatever it accepts recordings stores (CheckAnswer after
// a protobuf round trip).
func FuzzDecodeAnswer(f *testing.F) {
	for _, s := range []string{
		feedbackBody, surveyBody, `{}`, `{"v":1}`, `{"answers":[{"q":1,"choices":[1,2]}]}`, `{"page":{"viewport":{"w":1}}}`,
		strings.Replace(surveyBody, `"score":9`, `"score":-0`, 1), strings.Replace(feedbackBody, `"rating":2`, `"rating":2e0`, 1),
		strings.Replace(feedbackBody, "Buy", `\ud800\u00e9`, 1), `{"v":1,"x":[[[[[{"a":null}]]]]]}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		a, err := batch.DecodeAnswer(b)
		if err != nil {
			var be *batch.Error
			if !errors.As(err, &be) {
				t.Fatalf("refusal is not a *batch.Error: %v", err)
			}
			return
		}
		p := &sessionsv1.Answer{SiteId: 1, ServerTime: timestamppb.Now()}
		a.Fill(p)
		wire, err := proto.Marshal(p)
		if err != nil {
			t.Fatalf("accepted answer does not encode: %v", err)
		}
		var got sessionsv1.Answer
		if err := proto.Unmarshal(wire, &got); err != nil {
			t.Fatalf("accepted answer does not decode: %v", err)
		}
		if err := batch.CheckAnswer(&got); err != nil {
			t.Fatalf("accepted but not storable: %v\n%s", err, b)
		}
	})
}
