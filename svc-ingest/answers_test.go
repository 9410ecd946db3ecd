package ingest

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/sightlinehq/sightline/batch/batchtest"
	accountsv1 "github.com/sightlinehq/sightline/gen/sightline/accounts/v1"
	ingestv1 "github.com/sightlinehq/sightline/gen/sightline/ingest/v1"
	recordingsv1 "github.com/sightlinehq/sightline/gen/sightline/recordings/v1"
	sessionsv1 "github.com/sightlinehq/sightline/gen/sightline/sessions/v1"
	"github.com/sightlinehq/sightline/internal/poll"
	"github.com/sightlinehq/sightline/internal/testproc"
	"github.com/sightlinehq/sightline/platform/rpc"
	"github.com/sightlinehq/sightline/svc-ingest/spool"
)

const surveyID = int64(9_000_000_000_000_000_001)

func answerID(i int) string { return fmt.Sprintf("a_answer%018d", i) }

// feedbackAnswer is a feedback-widget answer body with fields changed (a
// nil value deletes one).
func feedbackAnswer(t testing.TB, i int, mod map[string]any) []byte {
	t.Helper()
	m := map[string]any{
		"v": 1, "siteKey": siteKey, "sessionId": sessionID(i), "visitorId": "v_VmlzaXRvcklkZW50aWZpZXI", "pageViewId": "p_UGFnZVZpZXdJZGVudGlmaWVy",
		"id": answerID(i), "clientTime": 1763890000123, "recorded": true,
		"page": map[string]any{"url": "https://shop.example.com/pricing?x=1", "viewport": map[string]any{"w": 1280, "h": 720}},
		"kind": "feedback", "rating": 2, "comment": "Checkout broke, write me at jane@example.com or card 4111 1111 1111 1111",
		"selector": "main > button.buy", "language": "en",
	}
	return batchtest.With(t, m, mod)
}

func surveyAnswer(t testing.TB, i int, survey int64, answers []any) []byte {
	return feedbackAnswer(t, i, map[string]any{"kind": "survey", "surveyId": strconv.FormatInt(survey, 10), "rating": nil,
		"comment": nil, "selector": nil, "answers": answers})
}

func (e *env) postAnswer(r req) (*http.Response, string) {
	e.t.Helper()
	return e.send("/i/v1/answer", r)
}

// testSurvey is an active survey: a 1–5 rating, an NPS question, a choice
// and a text question.
func testSurvey() *accountsv1.Survey {
	return &accountsv1.Survey{Id: surveyID, SiteId: siteID, Name: "Checkout", Status: accountsv1.SurveyStatus_SURVEY_STATUS_ACTIVE,
		Questions: []*accountsv1.Question{
			{Id: 1, Type: accountsv1.QuestionType_QUESTION_TYPE_SINGLE_CHOICE, Text: "Did you find it?", Choices: []*accountsv1.Choice{{Id: 1, Label: "Yes"}, {Id: 2, Label: "No"}}},
			{Id: 2, Type: accountsv1.QuestionType_QUESTION_TYPE_NPS, Text: "Recommend us?", Required: true},
			{Id: 3, Type: accountsv1.QuestionType_QUESTION_TYPE_RATING_5, Text: "How easy?"},
			{Id: 4, Type: accountsv1.QuestionType_QUESTION_TYPE_RATING_5, Text: "How fast?"},
			{Id: 5, Type: accountsv1.QuestionType_QUESTION_TYPE_LONG_TEXT, Text: "Anything else?"},
		}}
}

func (e *env) setSurveys(key string, surveys ...*accountsv1.Survey) {
	e.acc.mu.Lock()
	defer e.acc.mu.Unlock()
	site := proto.Clone(e.acc.sites[key]).(*accountsv1.GetSiteConfigResponse)
	site.Surveys = surveys
	e.acc.sites[key] = site
}

// spooled reads the spool's undelivered records as chunks (the forwarder
// is not running).
func (e *env) spooled(n int) []*recordingsv1.Chunk {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var out []*recordingsv1.Chunk
	for len(out) < n {
		recs, err := e.svc.spool.Read(ctx, n-len(out), 1<<20)
		if err != nil {
			e.t.Fatalf("spool read: %v (have %d of %d)", err, len(out), n)
		}
		for _, r := range recs {
			var c recordingsv1.Chunk
			if err := proto.Unmarshal(r.Payload, &c); err != nil {
				e.t.Fatal(err)
			}
			out = append(out, &c)
		}
	}
	return out
}

func TestAnswerLandsInTheSpoolScrubbedAndEnriched(t *testing.T) {
	e := newEnv(t, nil)
	e.setSurveys(siteKey, testSurvey())
	e.acc.mu.Lock()
	e.acc.sites[siteKey].GetSettings().RetentionDays = 30
	e.acc.sites[siteKey].GetSettings().MaskAllText = true
	e.acc.mu.Unlock()
	if resp, body := e.postAnswer(req{query: "k=" + siteKey, body: feedbackAnswer(t, 1, nil),
		headers: map[string]string{"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}}); resp.StatusCode != 204 {
		t.Fatalf("feedback: %d %s", resp.StatusCode, body)
	}
	survey := surveyAnswer(t, 2, surveyID, []any{
		map[string]any{"q": 1, "choices": []any{2}}, map[string]any{"q": 2, "score": 0}, map[string]any{"q": 4, "score": 5},
		map[string]any{"q": 3, "score": 4}, map[string]any{"q": 5, "text": "call +44 20 7946 0958"},
	})
	// Without Origin and ?k=, gzip'd: judged by page.url, site from the body.
	if resp, body := e.postAnswer(req{query: "ce=gzip", body: gz(survey), headers: map[string]string{"Origin": "", "Content-Type": ""}}); resp.StatusCode != 204 {
		t.Fatalf("survey: %d %s", resp.StatusCode, body)
	}
	// A survey the config no longer has: kept, nothing derived.
	gone := surveyAnswer(t, 3, 42, []any{map[string]any{"q": 3, "score": 4}})
	if resp, body := e.postAnswer(req{query: "k=" + siteKey, body: gone}); resp.StatusCode != 204 {
		t.Fatalf("unknown survey: %d %s", resp.StatusCode, body)
	}
	cs := e.spooled(3)
	fb, sv, unk := cs[0], cs[1], cs[2]
	for _, c := range cs {
		if len(c.GetEvents()) != 0 || c.GetEventCount() != 0 || c.GetSeq() != 0 || c.GetAnswer() == nil || c.GetSiteId() != siteID ||
			c.GetOrganizationId() != orgID || c.GetRetentionDays() != 30 || c.GetServerTime() == nil {
			t.Fatalf("chunk: %v", c)
		}
		a := c.GetAnswer()
		if a.GetSiteId() != siteID || a.GetOrganizationId() != orgID || a.GetSessionId() != c.GetSessionId() ||
			a.GetVisitorId() != c.GetVisitorId() || a.GetPageViewId() != c.GetPageViewId() || a.GetUrl() != c.GetUrl() ||
			!proto.Equal(a.GetClientTime(), c.GetClientTime()) || !proto.Equal(a.GetClient(), c.GetClient()) {
			t.Fatalf("answer and chunk disagree: %v", c)
		}
		if cl := a.GetClient(); cl.GetBrowser() != "Chrome" || cl.GetDeviceType() != sessionsv1.DeviceType_DEVICE_TYPE_DESKTOP || cl.GetIpPrefix() != "127.0.0.0/24" {
			t.Fatalf("enrichment: %v", cl)
		}
	}
	a := fb.GetAnswer()
	if a.GetId() != answerID(1) || a.GetKind() != sessionsv1.AnswerKind_ANSWER_KIND_FEEDBACK || a.GetRating() != 2 || a.Nps != nil ||
		a.GetComment() != "Checkout broke, write me at [email] or card [card]" || a.GetSelector() != "main > button.buy" ||
		!a.GetRecorded() || a.GetLanguage() != "en" || a.GetViewportWidth() != 1280 || fb.GetViewport().GetHeight() != 720 ||
		a.GetClientTime().AsTime().UnixMilli() != 1763890000123 || a.GetUrl() != "https://shop.example.com/pricing?x=1" {
		t.Fatalf("feedback answer: %v", a)
	}
	if !strings.HasPrefix(fb.GetTraceparent(), "00-4bf92f3577b34da6a3ce929d0e0e4736-") {
		t.Fatalf("traceparent %q", fb.GetTraceparent())
	}
	a = sv.GetAnswer()
	if a.GetKind() != sessionsv1.AnswerKind_ANSWER_KIND_SURVEY || a.GetSurveyId() != surveyID || a.GetRating() != 4 || a.Nps == nil || a.GetNps() != 0 ||
		len(a.GetAnswers()) != 5 || a.GetAnswers()[4].GetText() != "call [phone]" || a.GetAnswers()[0].GetChoiceIds()[0] != 2 {
		t.Fatalf("survey answer (rating from question 3, the first 1–5 question; NPS 0): %v", a)
	}
	if a := unk.GetAnswer(); a.GetSurveyId() != 42 || a.GetRating() != 0 || a.Nps != nil {
		t.Fatalf("unknown survey: %v", a)
	}
}

func TestAnswerDeliveredThroughTheForwarder(t *testing.T) {
	e := newEnv(t, nil)
	// A batch of the same session (seq 0) and an answer travel side by side.
	if resp := e.post(req{query: "k=" + siteKey, body: batchBody(t, nil)}); resp.StatusCode != 204 {
		t.Fatalf("batch: %d", resp.StatusCode)
	}
	body := feedbackAnswer(t, 7, map[string]any{"sessionId": "s_Qm9vc3RlZFNlc3Npb24wMQ"})
	if resp, msg := e.postAnswer(req{query: "k=" + siteKey, body: body}); resp.StatusCode != 204 {
		t.Fatalf("answer: %d %s", resp.StatusCode, msg)
	}
	// Sent twice (a tracker retry): recordings de-duplicates by answer id.
	if resp, _ := e.postAnswer(req{query: "k=" + siteKey, body: body}); resp.StatusCode != 204 {
		t.Fatalf("answer again: %d", resp.StatusCode)
	}
	e.run()
	e.rec.waitChunks(t, 2, 10*time.Second)
	c := e.rec.answer(siteID, answerID(7))
	if c == nil || c.GetAnswer().GetComment() != "Checkout broke, write me at [email] or card [card]" || c.GetSessionId() != "s_Qm9vc3RlZFNlc3Npb24wMQ" {
		t.Fatalf("delivered: %v", c)
	}
	poll.Until(t, 10*time.Second, func() error {
		if st := e.svc.spool.Stats(); st.Records != 0 {
			return fmt.Errorf("spool not drained: %+v", st)
		}
		return nil
	})
	if st := e.svc.fwd.Stats(); st.DeadLettered != 0 || st.Delivered != 3 {
		t.Fatalf("forwarder: %+v", st)
	}
}

func TestAnswerRefusals(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.AnswerMaxBytes = 4 << 10 })
	bomb := func() []byte {
		var buf bytes.Buffer
		w, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
		if _, err := w.Write(bytes.Repeat([]byte(" "), 1<<20)); err != nil {
			t.Fatal(err)
		}
		w.Close()
		return buf.Bytes()
	}()
	answers := make([]any, 21)
	for i := range answers {
		answers[i] = map[string]any{"q": i + 1, "score": 1}
	}
	for _, c := range []struct {
		name string
		r    req
		code int
		msg  string
	}{
		{"bad json", req{query: "k=" + siteKey, body: []byte(`{"v":1,"siteKey":`)}, 400, "batch: "},
		{"not an object", req{query: "k=" + siteKey, body: []byte(`"hi"`)}, 400, "not a JSON object"},
		{"wrong type", req{query: "k=" + siteKey, body: feedbackAnswer(t, 1, map[string]any{"rating": "5"})}, 400, "rating must be an integer"},
		{"no session", req{query: "k=" + siteKey, body: feedbackAnswer(t, 1, map[string]any{"sessionId": nil})}, 400, "sessionId is required"},
		{"too many answers", req{query: "k=" + siteKey, body: surveyAnswer(t, 1, surveyID, answers)}, 400, "at most 20"},
		{"huge", req{query: "k=" + siteKey, body: feedbackAnswer(t, 1, map[string]any{"comment": strings.Repeat("x", 5000)})}, 413, "exceeds"},
		{"bomb", req{query: "k=" + siteKey + "&ce=gzip", body: bomb}, 413, "decompressed body exceeds"},
		{"content type", req{query: "k=" + siteKey, body: feedbackAnswer(t, 1, nil), headers: map[string]string{"Content-Type": "multipart/form-data"}}, 415, "Content-Type"},
		{"foreign origin", req{query: "k=" + siteKey, body: feedbackAnswer(t, 1, nil), headers: map[string]string{"Origin": "https://evil.example"}}, 403, "not one of the site's domains"},
		{"foreign page, no origin", req{body: feedbackAnswer(t, 1, map[string]any{"page": map[string]any{"url": "https://evil.example/"}}), headers: map[string]string{"Origin": ""}}, 403, "not one of"},
		{"another site's key in the body", req{query: "k=" + siteKey, body: feedbackAnswer(t, 1, map[string]any{"siteKey": dntKey})}, 400, "differs"},
		{"another site's key, our origin", req{query: "k=" + dntKey, body: feedbackAnswer(t, 1, map[string]any{"siteKey": dntKey})}, 403, "not one of"},
		{"another site's key in the body only", req{body: feedbackAnswer(t, 1, map[string]any{"siteKey": dntKey})}, 403, "not one of"},
		{"unknown key", req{query: "k=k_nosuchsite0000", body: feedbackAnswer(t, 1, nil)}, 404, "unknown site key"},
	} {
		t.Run(c.name, func(t *testing.T) {
			resp, body := e.postAnswer(c.r)
			if resp.StatusCode != c.code || !strings.Contains(body, c.msg) {
				t.Fatalf("%d %q, want %d and %q", resp.StatusCode, body, c.code, c.msg)
			}
			if resp.Header.Get("Access-Control-Allow-Origin") == "" && c.r.headers["Origin"] != "" {
				t.Fatalf("refusal not readable by the page: %v", resp.Header)
			}
		})
	}
	if st := e.svc.spool.Stats(); st.Records != 0 {
		t.Fatalf("refused answers spooled: %+v", st)
	}
	hits := e.limitHits(t)
	if hits["answer_bytes"] != 2 {
		t.Fatalf("limit hits %v", hits)
	}
}

func (e *env) limitHits(t *testing.T) map[string]int64 {
	t.Helper()
	st, err := e.svc.GetStats(rpc.AsService(context.Background()), &ingestv1.GetStatsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	hits := map[string]int64{}
	for _, h := range st.GetLimitHits() {
		hits[h.GetLimit()] = h.GetCount()
	}
	return hits
}

func TestAnswerRatePerSite(t *testing.T) {
	// 60 a minute is one a second: a burst of 3, then 429.
	e := newEnv(t, func(c *Config) { c.AnswerRatePerSite = 60; c.AnswerBurstPerSite = 3 })
	var codes []int
	for i := range 5 {
		resp, _ := e.postAnswer(req{query: "k=" + siteKey, body: feedbackAnswer(t, i, nil)})
		codes = append(codes, resp.StatusCode)
		if resp.StatusCode == 429 {
			if ra, _ := strconv.Atoi(resp.Header.Get("Retry-After")); ra < 1 ||
				resp.Header.Get("Access-Control-Allow-Origin") != "https://shop.example.com" {
				t.Fatalf("429 without a readable Retry-After: %v", resp.Header)
			}
		}
	}
	if fmt.Sprint(codes) != "[204 204 204 429 429]" {
		t.Fatalf("codes %v", codes)
	}
	// Another site has its own budget; batches are not answers.
	resp, _ := e.postAnswer(req{query: "k=" + dntKey, body: feedbackAnswer(t, 9, map[string]any{"siteKey": dntKey}),
		headers: map[string]string{"Origin": "https://dnt.example"}})
	if resp.StatusCode != 204 {
		t.Fatalf("other site: %d", resp.StatusCode)
	}
	if resp := e.post(req{query: "k=" + siteKey, body: batchBody(t, nil)}); resp.StatusCode != 204 {
		t.Fatalf("batch after the answer limit: %d", resp.StatusCode)
	}
	if hits := e.limitHits(t); hits["answer_rate_site"] != 2 || hits["rate_site"] != 0 {
		t.Fatalf("limit hits %v", hits)
	}
}

func TestAnswersBypassSessionQuotaAndRecordingSwitch(t *testing.T) {
	e := newEnv(t, nil)
	e.acc.mu.Lock()
	e.acc.sites[quotaKey].GetSettings().RecordingEnabled = false
	e.acc.mu.Unlock()
	// The quota site allows 10 sessions a day and does not record: answers
	// of 15 sessions are all kept.
	for i := range 15 {
		resp, body := e.postAnswer(req{query: "k=" + quotaKey, body: feedbackAnswer(t, 100+i, map[string]any{"siteKey": quotaKey, "recorded": false}),
			headers: map[string]string{"Origin": "https://quota.example"}})
		if resp.StatusCode != 204 {
			t.Fatalf("answer %d: %d %s", i, resp.StatusCode, body)
		}
	}
	if n := len(e.spooled(15)); n != 15 {
		t.Fatalf("spooled %d", n)
	}
	// Do-Not-Track on a site that respects it: 204, nothing kept.
	resp, _ := e.postAnswer(req{query: "k=" + dntKey, body: feedbackAnswer(t, 1, map[string]any{"siteKey": dntKey}),
		headers: map[string]string{"Origin": "https://dnt.example", "Sec-GPC": "1"}})
	if resp.StatusCode != 204 {
		t.Fatalf("dnt: %d", resp.StatusCode)
	}
	if st := e.svc.spool.Stats(); st.Records != 15 {
		t.Fatalf("spool %+v", st)
	}
	if hits := e.limitHits(t); hits["quota_site"] != 0 || hits["dnt"] != 1 || hits["recording_disabled"] != 0 {
		t.Fatalf("limit hits %v", hits)
	}
}

func TestAnswerPreflight(t *testing.T) {
	e := newEnv(t, nil)
	resp := e.preflight("/i/v1/answer?k="+siteKey, "https://shop.example.com", "")
	if resp.StatusCode != 204 || resp.Header.Get("Access-Control-Allow-Origin") != "https://shop.example.com" {
		t.Fatalf("preflight: %d %v", resp.StatusCode, resp.Header)
	}
	if resp = e.preflight("/i/v1/answer?k="+siteKey, "https://evil.example", ""); resp.StatusCode != 403 {
		t.Fatalf("foreign preflight: %d", resp.StatusCode)
	}
}

// TestBinaryAnswersSurviveKill9: against the real binary, answers
// accepted while recordings is down survive a SIGKILL of ingest and arrive
// once recordings and ingest are back, as chunks with the answer set.
func TestBinaryAnswersSurviveKill9(t *testing.T) {
	rec, accSrv, recSrv := e2eServers(t)
	recSrv.stop()
	dataDir := t.TempDir()
	p := startIngestBinary(t, dataDir, accSrv.addr, recSrv.addr)
	const n = 20
	for i := range n {
		hr, _ := http.NewRequest(http.MethodPost, "http://"+p.http+"/i/v1/answer?k="+siteKey+"&ce=gzip", bytes.NewReader(gz(feedbackAnswer(t, i, nil))))
		hr.Header.Set("Origin", "https://shop.example.com")
		hr.Header.Set("Content-Type", "text/plain")
		resp, err := http.DefaultClient.Do(hr)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNoContent {
			t.Fatalf("answer %d: %d\n%s", i, resp.StatusCode, p.log())
		}
	}
	p.cmd.Process.Kill()
	if err := <-p.done; !testproc.Killed(err) {
		t.Fatalf("ingest had ended before the kill: %v\n%s", err, p.log())
	}
	recSrv.restart(t)
	startIngestBinary(t, dataDir, accSrv.addr, recSrv.addr)
	rec.waitChunks(t, n, 30*time.Second)
	for i := range n {
		c := rec.answer(siteID, answerID(i))
		if c == nil || c.GetAnswer().GetComment() != "Checkout broke, write me at [email] or card [card]" || len(c.GetEvents()) != 0 {
			t.Fatalf("answer %d after the restart: %v", i, c)
		}
	}
}

// TestRefusedAnswerIsDeadLettered: an answer recordings refuses for good
// goes to the dead-letter area, kept whole, and does not hold up the batch
// behind it (the forwarder needs nothing answer-specific).
func TestRefusedAnswerIsDeadLettered(t *testing.T) {
	e := newEnv(t, nil)
	e.rec.mu.Lock()
	e.rec.refuseAnswers = true
	e.rec.mu.Unlock()
	if resp, body := e.postAnswer(req{query: "k=" + siteKey, body: feedbackAnswer(t, 1, nil)}); resp.StatusCode != 204 {
		t.Fatalf("answer: %d %s", resp.StatusCode, body)
	}
	if resp := e.post(req{query: "k=" + siteKey, body: batchBody(t, nil)}); resp.StatusCode != 204 {
		t.Fatalf("batch: %d", resp.StatusCode)
	}
	e.run()
	e.rec.waitChunks(t, 1, 10*time.Second)
	poll.Until(t, 10*time.Second, func() error {
		if st := e.svc.fwd.Stats(); st.DeadLettered != 1 {
			return fmt.Errorf("forwarder: %+v, want one dead letter", st)
		}
		return nil
	})
	dl, err := spool.ListDead(e.cfg.SpoolDir)
	if err != nil || len(dl) != 1 {
		t.Fatalf("dead letters %v %v", dl, err)
	}
	d, payload, err := spool.ReadDead(e.cfg.SpoolDir, dl[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	var c recordingsv1.Chunk
	if err := proto.Unmarshal(payload, &c); err != nil || c.GetAnswer().GetId() != answerID(1) || d.Reason != "refused" || d.SessionID != sessionID(1) {
		t.Fatalf("dead letter %+v: %v %v", d, c.GetAnswer(), err)
	}
}
