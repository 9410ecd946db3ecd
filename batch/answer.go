package batch

import (
	"math"
	"strconv"
	"time"
	"unicode/utf8"

	"google.golang.org/protobuf/types/known/timestamppb"

	sessionsv1 "github.com/sightlinehq/sightline/gen/sightline/sessions/v1"
)

// Limits of a feedback or survey answer (docs/wire-format.md, "Answer").
// DecodeAnswer (ingest) and CheckAnswer (recordings) read the same
// constants, so an answer ingest accepts is one recordings stores.
const (
	// MaxAnswerBytes bounds an answer's body after decompression.
	MaxAnswerBytes = 16 << 10
	// MaxAnswers bounds a survey response's answered questions.
	MaxAnswers = 20
	// MaxChoices bounds the choices of one answer.
	MaxChoices = 20
	// MaxAnswerText bounds a comment and a text answer, in characters.
	MaxAnswerText = 2000
	// MaxSelector bounds the selector of the element pointed at, in characters.
	MaxSelector = 200
	// MaxLanguage bounds the language tag, in bytes.
	MaxLanguage = 35
	// MaxScore bounds a question's score (NPS is 0–10).
	MaxScore = 10
)

// Answer is one decoded feedback-widget answer or survey response.
type Answer struct {
	V          int64
	SiteKey    string
	SessionID  string
	VisitorID  string
	PageViewID string
	ID         string
	ClientTime int64 // ms since the Unix epoch
	Recorded   bool
	URL        string
	ViewportW  int32
	ViewportH  int32
	Kind       sessionsv1.AnswerKind
	SurveyID   int64 // surveys only
	Rating     int32 // feedback: 1–5, 0 when none
	Comment    string
	Selector   string
	Language   string
	// Answers are a survey's answered questions, in the order shown.
	Answers     []QuestionAnswer
	Traceparent string
}

// QuestionAnswer is one answered survey question.
type QuestionAnswer struct {
	Question int32
	HasScore bool
	Score    int32
	Choices  []int32
	Text     string
}

// DecodeAnswer parses one answer body (POST /i/v1/answer) and applies the
// whole contract to it. A refusal is a *Error whose message names the
// field, never its content.
func DecodeAnswer(b []byte) (Answer, error) {
	var a Answer
	if len(b) > MaxAnswerBytes {
		return a, errf("answer body larger than %d bytes", MaxAnswerBytes)
	}
	d, err := objectBody(b)
	if err != nil {
		return a, err
	}
	var (
		seen                  uint16
		kind, surveyID        string
		hasRating, hasAnswers bool
		hasSurveyID           bool
	)
	const (
		fID = fHead << (iota + 1)
		fClientTime
		fKind
	)
	err = d.object("answer", func(key []byte) error {
		var err error
		switch string(key) {
		case "v":
			a.V, err = d.int("v", math.MinInt64, math.MaxInt64)
			seen |= fV
		case "siteKey":
			a.SiteKey, err = d.typedStr("siteKey")
			seen |= fSite
		case "sessionId":
			a.SessionID, err = d.typedStr("sessionId")
			seen |= fSession
		case "visitorId":
			a.VisitorID, err = d.typedStr("visitorId")
			seen |= fVisitor
		case "pageViewId":
			a.PageViewID, err = d.typedStr("pageViewId")
			seen |= fPage
		case "id":
			a.ID, err = d.typedStr("id")
			seen |= fID
		case "clientTime":
			a.ClientTime, err = d.int("clientTime", 1, MaxTimestampMs)
			seen |= fClientTime
		case "recorded":
			a.Recorded, err = d.boolOrNull("recorded")
		case "page":
			err = d.answerPage(&a)
		case "kind":
			kind, err = d.typedStr("kind")
			seen |= fKind
		case "surveyId":
			if d.peek() == 'n' {
				return d.lit("null")
			}
			surveyID, err = d.typedStr("surveyId")
			hasSurveyID = true
		case "rating":
			if d.peek() == 'n' {
				return d.lit("null")
			}
			var n int64
			n, err = d.int("rating", 1, 5)
			a.Rating, hasRating = int32(n), true
		case "comment":
			a.Comment, err = d.textOrNull("comment", MaxAnswerText)
		case "selector":
			a.Selector, err = d.textOrNull("selector", MaxSelector)
		case "language":
			a.Language, err = d.textOrNull("language", MaxLanguage)
		case "traceparent":
			a.Traceparent, err = d.textOrNull("traceparent", math.MaxInt)
		case "answers":
			if d.peek() == 'n' {
				return d.lit("null")
			}
			hasAnswers = true
			err = d.answers(&a)
		default:
			// Unknown fields are skipped so that newer trackers keep working.
			err = d.skip(1)
		}
		return err
	})
	if err != nil {
		return a, err
	}
	if err := d.end("the answer"); err != nil {
		return a, err
	}
	if err := checkHead(seen, a.V); err != nil {
		return a, err
	}
	switch {
	case seen&fID == 0:
		return a, errf("id is required")
	case seen&fClientTime == 0:
		return a, errf("clientTime is required")
	case seen&fKind == 0:
		return a, errf("kind is required")
	case a.URL == "":
		return a, errf("page.url is required")
	}
	if len(a.SiteKey) == 0 || len(a.SiteKey) > 64 {
		return a, errf("siteKey must be 1-64 characters")
	}
	switch kind {
	case "feedback":
		a.Kind = sessionsv1.AnswerKind_ANSWER_KIND_FEEDBACK
		switch {
		case hasSurveyID:
			return a, errf("surveyId is for surveys only")
		case hasAnswers && len(a.Answers) > 0:
			return a, errf("answers are for surveys only")
		case !hasRating && a.Comment == "":
			return a, errf("feedback needs a rating or a comment")
		}
	case "survey":
		a.Kind = sessionsv1.AnswerKind_ANSWER_KIND_SURVEY
		if !hasSurveyID {
			return a, errf("surveyId is required for a survey")
		}
		id, err := strconv.ParseInt(surveyID, 10, 64)
		if err != nil || id <= 0 || strconv.FormatInt(id, 10) != surveyID {
			return a, errf("surveyId must be a positive integer as a decimal string")
		}
		a.SurveyID = id
		if hasRating {
			return a, errf("rating is for feedback only (a survey sends answers)")
		}
	default:
		return a, errf(`kind must be "feedback" or "survey"`)
	}
	if err := checkAnswerIDs(a.ID, a.SessionID, a.VisitorID, a.PageViewID); err != nil {
		return a, err
	}
	if err := checkLanguage(a.Language); err != nil {
		return a, err
	}
	if len(a.Traceparent) > MaxTraceparent {
		a.Traceparent = "" // only a tracing hint: ignored, not refused
	}
	return a, nil
}

func checkAnswerIDs(id, session, visitor, pageView string) error {
	if err := checkID("id", id, "a_"); err != nil {
		return err
	}
	return checkIDs(session, visitor, pageView)
}

// checkLanguage allows a BCP 47 tag's characters: letters, digits, "-".
func checkLanguage(s string) error {
	if len(s) > MaxLanguage {
		return errf("language must be at most %d characters", MaxLanguage)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
			return errf("language must be a language tag such as \"en\" or \"pt-BR\"")
		}
	}
	return nil
}

// array walks a JSON array of at most max elements, calling fn at each.
func (d *decoder) array(name string, max int, fn func(i int) error) error {
	a := elements{name: name}
	for d.element(&a) {
		if a.n > max {
			return errf("%s must have at most %d elements", name, max)
		}
		if err := fn(a.n - 1); err != nil {
			return err
		}
	}
	return a.err
}

func (d *decoder) typedStr(name string) (string, error) {
	if d.peek() != '"' {
		return "", errf("%s must be a string", name)
	}
	return d.str()
}

// textOrNull reads a string of at most max characters; null reads as "".
func (d *decoder) textOrNull(name string, max int) (string, error) {
	if d.peek() == 'n' {
		return "", d.lit("null")
	}
	s, err := d.typedStr(name)
	if err != nil {
		return "", err
	}
	if len(s) > max && utf8.RuneCountInString(s) > max {
		return "", errf("%s must be at most %d characters", name, max)
	}
	return s, nil
}

func (d *decoder) boolOrNull(name string) (bool, error) {
	switch d.peek() {
	case 't':
		return true, d.lit("true")
	case 'f':
		return false, d.lit("false")
	case 'n':
		return false, d.lit("null")
	}
	return false, errf("%s must be a boolean", name)
}

func (d *decoder) answerPage(a *Answer) error {
	if d.peek() == 'n' {
		return d.lit("null")
	}
	return d.object("page", func(key []byte) error {
		var err error
		switch string(key) {
		case "url":
			if a.URL, err = d.textOrNull("page.url", math.MaxInt); err == nil && len(a.URL) > MaxURLBytes {
				err = errf("page.url must be at most %d bytes", MaxURLBytes)
			}
		case "viewport":
			if d.peek() == 'n' {
				return d.lit("null")
			}
			err = d.object("page.viewport", func(key []byte) error {
				switch string(key) {
				case "w":
					n, err := d.int("page.viewport.w", 0, MaxViewport)
					a.ViewportW = int32(n)
					return err
				case "h":
					n, err := d.int("page.viewport.h", 0, MaxViewport)
					a.ViewportH = int32(n)
					return err
				}
				return d.skip(3)
			})
		default:
			err = d.skip(2)
		}
		return err
	})
}

// answers reads a survey's answers: [{"q":1,"score":9}, {"q":2,"choices":[3]}, {"q":3,"text":"…"}].
func (d *decoder) answers(a *Answer) error {
	seen := map[int32]bool{}
	return d.array("answers", MaxAnswers, func(i int) error {
		var qa QuestionAnswer
		var hasQ, hasChoices, hasText bool
		if err := d.object("answers[]", func(key []byte) error {
			switch string(key) {
			case "q":
				n, err := d.int("answers[].q", 1, math.MaxInt32)
				qa.Question, hasQ = int32(n), true
				return err
			case "score":
				if d.peek() == 'n' {
					return d.lit("null")
				}
				n, err := d.int("answers[].score", 0, MaxScore)
				qa.Score, qa.HasScore = int32(n), true
				return err
			case "choices":
				if d.peek() == 'n' {
					return d.lit("null")
				}
				hasChoices = true
				qa.Choices = qa.Choices[:0]
				return d.array("answers[].choices", MaxChoices, func(int) error {
					n, err := d.int("answers[].choices[]", 1, math.MaxInt32)
					if err != nil {
						return err
					}
					for _, c := range qa.Choices {
						if c == int32(n) {
							return errf("answers[%d].choices has a choice twice", i)
						}
					}
					qa.Choices = append(qa.Choices, int32(n))
					return nil
				})
			case "text":
				if d.peek() == 'n' {
					return d.lit("null")
				}
				var err error
				qa.Text, err = d.textOrNull("answers[].text", MaxAnswerText)
				hasText = true
				return err
			}
			return d.skip(3)
		}); err != nil {
			return err
		}
		switch {
		case !hasQ:
			return errf("answers[%d].q is required", i)
		case seen[qa.Question]:
			return errf("answers[%d] answers question %d twice", i, qa.Question)
		case qa.HasScore && (hasChoices || hasText):
			return errf("answers[%d] has a score and choices or text (one kind of answer per question)", i)
		case !qa.HasScore && !hasChoices && !hasText:
			return errf("answers[%d] needs a score, choices or text", i)
		}
		seen[qa.Question] = true
		a.Answers = append(a.Answers, qa)
		return nil
	})
}

// Fill sets the proto answer from the decoded one; the caller sets the rest
// (site, organisation, server time, client) and scrubs the texts.
func (a *Answer) Fill(p *sessionsv1.Answer) {
	p.Id, p.Kind, p.SurveyId = a.ID, a.Kind, a.SurveyID
	p.SessionId, p.VisitorId, p.PageViewId = a.SessionID, a.VisitorID, a.PageViewID
	p.Recorded, p.Url = a.Recorded, a.URL
	p.ClientTime = timestamppb.New(time.UnixMilli(a.ClientTime))
	p.ViewportWidth, p.ViewportHeight = a.ViewportW, a.ViewportH
	p.Rating, p.Comment, p.Selector, p.Language = a.Rating, a.Comment, a.Selector, a.Language
	p.Answers = make([]*sessionsv1.QuestionAnswer, len(a.Answers))
	for i, qa := range a.Answers {
		q := &sessionsv1.QuestionAnswer{QuestionId: qa.Question, Text: qa.Text}
		if qa.HasScore {
			s := qa.Score
			q.Score = &s
		}
		if len(qa.Choices) > 0 {
			q.ChoiceIds = append([]int32(nil), qa.Choices...)
		}
		p.Answers[i] = q
	}
}

// CheckAnswer applies the answer contract to a stored answer (recordings
// calls it on every answer it is sent): the same limits as DecodeAnswer, on
// the proto's fields, so "accepted" and "storable" cannot disagree.
func CheckAnswer(p *sessionsv1.Answer) error {
	switch {
	case p == nil:
		return errf("answer missing")
	case p.GetSiteId() <= 0:
		return errf("answer site_id must be positive")
	case p.GetOrganizationId() < 0:
		return errf("answer organization_id must not be negative")
	case len(p.GetUrl()) > MaxURLBytes:
		return errf("answer url must be at most %d bytes", MaxURLBytes)
	case p.GetUrl() == "":
		return errf("answer url is required")
	case p.GetViewportWidth() < 0 || p.GetViewportWidth() > MaxViewport ||
		p.GetViewportHeight() < 0 || p.GetViewportHeight() > MaxViewport:
		return errf("answer viewport must be between 0 and %d", MaxViewport)
	case p.GetRating() < 0 || p.GetRating() > 5:
		return errf("answer rating must be between 1 and 5 (0: none)")
	case p.Nps != nil && (p.GetNps() < 0 || p.GetNps() > 10):
		return errf("answer nps must be between 0 and 10")
	case len(p.GetAnswers()) > MaxAnswers:
		return errf("answer has more than %d answers", MaxAnswers)
	}
	switch p.GetKind() {
	case sessionsv1.AnswerKind_ANSWER_KIND_FEEDBACK:
		if p.GetSurveyId() != 0 || len(p.GetAnswers()) > 0 {
			return errf("feedback has no survey_id and no answers")
		}
	case sessionsv1.AnswerKind_ANSWER_KIND_SURVEY:
		if p.GetSurveyId() <= 0 {
			return errf("a survey answer's survey_id must be positive")
		}
	default:
		return errf("answer kind must be FEEDBACK or SURVEY")
	}
	if err := checkAnswerIDs(p.GetId(), p.GetSessionId(), p.GetVisitorId(), p.GetPageViewId()); err != nil {
		return err
	}
	if err := checkLanguage(p.GetLanguage()); err != nil {
		return err
	}
	for _, f := range [...]struct {
		name, v string
		max     int
	}{{"url", p.GetUrl(), math.MaxInt}, {"comment", p.GetComment(), MaxAnswerText}, {"selector", p.GetSelector(), MaxSelector}} {
		if err := checkText("answer "+f.name, f.v, f.max); err != nil {
			return err
		}
	}
	if err := checkTime("client_time", p.GetClientTime(), true); err != nil {
		return err
	}
	if err := checkTime("server_time", p.GetServerTime(), false); err != nil {
		return err
	}
	seen := make(map[int32]bool, len(p.GetAnswers()))
	for i, qa := range p.GetAnswers() {
		switch {
		case qa.GetQuestionId() < 1:
			return errf("answers[%d].question_id must be positive", i)
		case seen[qa.GetQuestionId()]:
			return errf("answers[%d] answers question %d twice", i, qa.GetQuestionId())
		case qa.Score != nil && (qa.GetScore() < 0 || qa.GetScore() > MaxScore):
			return errf("answers[%d].score must be between 0 and %d", i, MaxScore)
		case qa.Score != nil && (len(qa.GetChoiceIds()) > 0 || qa.GetText() != ""):
			return errf("answers[%d] has a score and choices or text", i)
		case len(qa.GetChoiceIds()) > MaxChoices:
			return errf("answers[%d] has more than %d choices", i, MaxChoices)
		}
		seen[qa.GetQuestionId()] = true
		for j, c := range qa.GetChoiceIds() {
			if c < 1 {
				return errf("answers[%d].choice_ids must be positive", i)
			}
			for _, o := range qa.GetChoiceIds()[:j] {
				if o == c {
					return errf("answers[%d] has a choice twice", i)
				}
			}
		}
		if err := checkText("answers[].text", qa.GetText(), MaxAnswerText); err != nil {
			return err
		}
	}
	return nil
}

func checkText(name, s string, max int) error {
	if !utf8.ValidString(s) {
		return errf("%s must be valid UTF-8", name)
	}
	if len(s) > max && utf8.RuneCountInString(s) > max {
		return errf("%s must be at most %d characters", name, max)
	}
	return nil
}

func checkTime(name string, t *timestamppb.Timestamp, required bool) error {
	if t == nil {
		if required {
			return errf("answer %s is required", name)
		}
		return nil
	}
	if err := t.CheckValid(); err != nil {
		return errf("answer %s is not a valid timestamp", name)
	}
	if required {
		if ms := t.AsTime().UnixMilli(); ms < 1 || ms > MaxTimestampMs {
			return errf("answer %s must be between 1 and %d ms since the epoch", name, int64(MaxTimestampMs))
		}
	}
	return nil
}
