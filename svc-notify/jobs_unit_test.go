package notify

import (
	"testing"
	"time"

	notifyv1 "github.com/sightlinehq/sightline/gen/sightline/notify/v1"
	sessionsv1 "github.com/sightlinehq/sightline/gen/sightline/sessions/v1"
	"github.com/sightlinehq/sightline/svc-notify/store"
)

func TestDigestPeriod(t *testing.T) {
	ny := location("America/New_York")
	for _, c := range []struct {
		at     time.Time
		f      store.Frequency
		want   string
		ok     bool
		window [2]string // local start and end of the period
	}{
		{time.Date(2026, 11, 30, 7, 0, 0, 0, time.UTC), store.FrequencyDaily, "daily:2026-11-29", true, [2]string{"2026-11-29T00:00:00Z", "2026-11-30T00:00:00Z"}},
		{time.Date(2026, 11, 30, 12, 59, 0, 0, time.UTC), store.FrequencyDaily, "daily:2026-11-29", true, [2]string{}}, // caught up
		{time.Date(2026, 11, 30, 13, 0, 0, 0, time.UTC), store.FrequencyDaily, "", false, [2]string{}},                 // past the window
		{time.Date(2026, 11, 30, 6, 59, 0, 0, time.UTC), store.FrequencyDaily, "", false, [2]string{}},                 // before
		{time.Date(2026, 11, 30, 7, 0, 0, 0, time.UTC), store.FrequencyWeekly, "weekly:2026-11-23", true, [2]string{"2026-11-23T00:00:00Z", "2026-11-30T00:00:00Z"}},
		{time.Date(2026, 12, 1, 7, 0, 0, 0, time.UTC), store.FrequencyWeekly, "", false, [2]string{}}, // a Tuesday
		{time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC).In(ny), store.FrequencyDaily, "daily:2026-11-29", true, [2]string{"2026-11-29T00:00:00-05:00", "2026-11-30T00:00:00-05:00"}},
		// The day clocks went back in New York is 25 hours long.
		{time.Date(2026, 11, 2, 12, 0, 0, 0, time.UTC).In(ny), store.FrequencyDaily, "daily:2026-11-01", true, [2]string{"2026-11-01T00:00:00-04:00", "2026-11-02T00:00:00-05:00"}},
	} {
		got, ok := digestPeriod(c.at, c.f, 7)
		if got != c.want || ok != c.ok {
			t.Errorf("digestPeriod(%v, %v) = %q %v, want %q %v", c.at, c.f, got, ok, c.want, c.ok)
		}
		if c.window[0] == "" {
			continue
		}
		_, start, end, err := periodWindow(got, c.at.Location())
		if err != nil || start.Format(time.RFC3339) != c.window[0] || end.Format(time.RFC3339) != c.window[1] {
			t.Errorf("periodWindow(%q) = %v %v %v, want %v", got, start, end, err, c.window)
		}
	}
	for _, bad := range []string{"", "daily", "monthly:2026-11-01", "daily:2026-13-01", "weekly:x"} {
		if _, _, _, err := periodWindow(bad, time.UTC); err == nil {
			t.Errorf("periodWindow(%q) accepted", bad)
		}
	}
	if location("Not/AZone") != time.UTC || location("") != time.UTC {
		t.Error("unknown zones are not UTC")
	}
}

func TestAnswerMatches(t *testing.T) {
	nps := func(n int32) *int32 { return &n }
	fb := &sessionsv1.Answer{Kind: sessionsv1.AnswerKind_ANSWER_KIND_FEEDBACK, Rating: 2, Comment: "Checkout is BROKEN"}
	survey := &sessionsv1.Answer{Kind: sessionsv1.AnswerKind_ANSWER_KIND_SURVEY, SurveyId: 7, Nps: nps(3),
		Answers: []*sessionsv1.QuestionAnswer{{Text: "too slow"}}}
	for _, c := range []struct {
		name string
		c    *notifyv1.AnswerCondition
		a    *sessionsv1.Answer
		want bool
	}{
		{"any", &notifyv1.AnswerCondition{MaxNps: -1}, fb, true},
		{"rating at most 2", &notifyv1.AnswerCondition{MaxRating: 2, MaxNps: -1}, fb, true},
		{"rating at most 1", &notifyv1.AnswerCondition{MaxRating: 1, MaxNps: -1}, fb, false},
		{"rating on a survey without one", &notifyv1.AnswerCondition{MaxRating: 3, MaxNps: -1}, survey, false},
		{"nps at most 6", &notifyv1.AnswerCondition{MaxNps: 6}, survey, true},
		{"nps 0 needs an nps", &notifyv1.AnswerCondition{MaxNps: 0}, fb, false},
		{"survey id", &notifyv1.AnswerCondition{SurveyId: 7, MaxNps: -1}, survey, true},
		{"other survey", &notifyv1.AnswerCondition{SurveyId: 8, MaxNps: -1}, survey, false},
		{"text in comment, any case", &notifyv1.AnswerCondition{TextContains: "broken", MaxNps: -1}, fb, true},
		{"text in a question's answer", &notifyv1.AnswerCondition{TextContains: "SLOW", MaxNps: -1}, survey, true},
		{"text absent", &notifyv1.AnswerCondition{TextContains: "price", MaxNps: -1}, fb, false},
		{"no condition", nil, fb, false},
	} {
		if got := answerMatches(c.c, c.a); got != c.want {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
}

func TestAlignedSchedule(t *testing.T) {
	a := aligned{time.Hour}
	at := time.Date(2026, 11, 30, 7, 0, 1, 0, time.UTC)
	if got := a.Next(at); !got.Equal(time.Date(2026, 11, 30, 8, 0, 1, 0, time.UTC)) {
		t.Errorf("Next(%v) = %v", at, got)
	}
	if got := a.Next(at.Add(30 * time.Minute)); !got.Equal(time.Date(2026, 11, 30, 8, 0, 1, 0, time.UTC)) {
		t.Errorf("Next mid-hour = %v", got)
	}
}

func TestMessageIDStable(t *testing.T) {
	a, b := messageID("e1", 1), messageID("e1", 2)
	if a == b || a != messageID("e1", 1) || len(a) != len("msg_")+24 {
		t.Errorf("messageID: %q %q", a, b)
	}
}
