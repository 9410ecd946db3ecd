package summary

import (
	sessionsv1 "github.com/sightlinehq/sightline/gen/sightline/sessions/v1"
)

// AnswerTally is what a session's summary says of its answers: feedback
// answers and their lowest rating (1–5, 0 when none rated), survey
// responses.
type AnswerTally struct {
	Feedback  int32 `json:"f,omitempty"`
	MinRating int32 `json:"r,omitempty"`
	Surveys   int32 `json:"s,omitempty"`
}

// Add counts one answer of kind with rating (0: none).
func (t *AnswerTally) Add(kind sessionsv1.AnswerKind, rating int32) {
	switch kind {
	case sessionsv1.AnswerKind_ANSWER_KIND_FEEDBACK:
		t.Feedback++
		if rating >= 1 && rating <= 5 && (t.MinRating == 0 || rating < t.MinRating) {
			t.MinRating = rating
		}
	case sessionsv1.AnswerKind_ANSWER_KIND_SURVEY:
		t.Surveys++
	}
}

// IsZero reports a tally of no answers.
func (t *AnswerTally) IsZero() bool { return t == nil || *t == AnswerTally{} }

func (t *AnswerTally) fill(out *sessionsv1.SessionSummary) {
	if t == nil {
		return
	}
	out.FeedbackCount, out.MinFeedbackRating, out.SurveyResponseCount = t.Feedback, t.MinRating, t.Surveys
}
