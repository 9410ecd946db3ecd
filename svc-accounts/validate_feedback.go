package accounts

import (
	"fmt"
	"math"
	"regexp"
	"strings"

	"golang.org/x/text/language"
	"google.golang.org/protobuf/types/known/timestamppb"

	accountsv1 "github.com/sightlinehq/sightline/gen/sightline/accounts/v1"
	searchv1 "github.com/sightlinehq/sightline/gen/sightline/search/v1"
	sessionsv1 "github.com/sightlinehq/sightline/gen/sightline/sessions/v1"
	"github.com/sightlinehq/sightline/pagerule"
	"github.com/sightlinehq/sightline/svc-accounts/store"
)

// Limits of the feedback widget and of surveys. They bound what the
// bootstrap script carries to every page view, so they are tight.
const (
	maxWidgetText       = 200 // runes, each wording override
	maxPageRules        = 20
	maxSurveysPerSite   = 100
	maxQuestions        = 20
	maxQuestionText     = 300
	maxChoices          = 20
	maxChoiceLabel      = 200
	maxScaleLabel       = 100
	maxSkipRules        = 20
	maxTargetAttributes = 10
	maxAttributeText    = 100
	maxEventName        = 100
	maxSurveyThanks     = 300
	maxLanguageTag      = 35
)

var hexColor = regexp.MustCompile(`^#[0-9a-fA-F]{6}$`)

// checkText trims v and checks it is valid UTF-8 of at most max runes
// without control characters other than newlines (comments and prompts may
// span lines).
func checkText(field, v string, max int, required bool) (string, error) {
	return checkString(field, v, max, required, true)
}

// checkLanguage accepts "" or a short, well-formed BCP 47 tag and returns
// its canonical form ("EN-us" → "en-US").
func checkLanguage(field, v string) (string, error) {
	v = strings.TrimSpace(v)
	if v == "" {
		return "", nil
	}
	if len(v) > maxLanguageTag {
		return "", invalid("%s is longer than %d bytes", field, maxLanguageTag)
	}
	t, err := language.Parse(v)
	if err != nil {
		return "", invalid("%s %q is not a BCP 47 language tag (e.g. en, de, pt-BR)", field, v)
	}
	return t.String(), nil
}

// checkPages validates page rules as search and heatmaps do (package
// pagerule), so a rule means the same pages everywhere.
func checkPages(field string, ms []*searchv1.UrlMatch) error {
	if len(ms) > maxPageRules {
		return invalid("%s has %d rules; at most %d", field, len(ms), maxPageRules)
	}
	for i, m := range ms {
		if err := checkPage(fmt.Sprintf("%s[%d]", field, i), m); err != nil {
			return err
		}
	}
	return nil
}

// checkPage validates one page rule (package pagerule); funnel steps use it
// too.
func checkPage(f string, m *searchv1.UrlMatch) error {
	if m == nil {
		return invalid("%s is empty", f)
	}
	if _, ok := searchv1.UrlMatch_Operator_name[int32(m.GetOperator())]; !ok || m.GetOperator() == searchv1.UrlMatch_OPERATOR_UNSPECIFIED {
		return invalid("%s.operator must be equals, contains, prefix or pattern", f)
	}
	if err := (pagerule.Rule{Op: pagerule.Op(m.GetOperator()), Value: m.GetValue()}).Check(); err != nil {
		return invalid("%s.%v", f, err)
	}
	return nil
}

// checkFeedback validates and normalises the feedback widget's settings.
func checkFeedback(w *store.FeedbackWidget) error {
	if _, ok := accountsv1.FeedbackWidget_Position_name[w.Position]; !ok {
		return invalid("settings.feedback.position %d is unknown", w.Position)
	}
	w.Color = strings.TrimSpace(w.Color)
	if w.Color != "" && !hexColor.MatchString(w.Color) {
		return invalid("settings.feedback.color must be #rrggbb (e.g. #0a7cff)")
	}
	w.Color = strings.ToLower(w.Color)
	var err error
	if w.Language, err = checkLanguage("settings.feedback.language", w.Language); err != nil {
		return err
	}
	for _, t := range []struct {
		field string
		v     *string
	}{
		{"tab_label", &w.TabLabel}, {"title", &w.Title}, {"comment_prompt", &w.CommentPrompt}, {"thanks", &w.Thanks},
	} {
		if *t.v, err = checkText("settings.feedback."+t.field, *t.v, maxWidgetText, false); err != nil {
			return err
		}
		if strings.Contains(*t.v, "<") {
			// Texts end up in a script and the widget's DOM.
			return invalid("settings.feedback.%s contains '<'", t.field)
		}
	}
	ms := make([]*searchv1.UrlMatch, len(w.Pages))
	for i, p := range w.Pages {
		ms[i] = &searchv1.UrlMatch{Operator: searchv1.UrlMatch_Operator(p.Op), Value: p.Value}
	}
	return checkPages("settings.feedback.pages", ms)
}

// ---- surveys ----

// scoreRange is the answer range of a rating question type.
func scoreRange(t accountsv1.QuestionType) (lo, hi int32, ok bool) {
	switch t {
	case accountsv1.QuestionType_QUESTION_TYPE_RATING_5:
		return 1, 5, true
	case accountsv1.QuestionType_QUESTION_TYPE_RATING_10:
		return 1, 10, true
	case accountsv1.QuestionType_QUESTION_TYPE_NPS:
		return 0, 10, true
	}
	return 0, 0, false
}

func isChoice(t accountsv1.QuestionType) bool {
	return t == accountsv1.QuestionType_QUESTION_TYPE_SINGLE_CHOICE || t == accountsv1.QuestionType_QUESTION_TYPE_MULTIPLE_CHOICE
}

func checkTime(field string, ts *timestamppb.Timestamp) error {
	if ts == nil {
		return nil
	}
	if err := ts.CheckValid(); err != nil {
		return invalid("%s: %v", field, err)
	}
	if y := ts.AsTime().Year(); y < 2000 || y > 9999 {
		return invalid("%s: year %d is out of range", field, y)
	}
	return nil
}

// checkSurvey validates a survey definition a client sent and normalises
// it in place. Question and choice ids are the client's references here
// (a skip rule names a question or a choice by them); assignIDs maps them
// to stored ids afterwards.
func checkSurvey(sv *accountsv1.Survey) error {
	if sv == nil {
		return invalid("survey is required")
	}
	var err error
	if sv.Name, err = checkName("survey.name", sv.GetName()); err != nil {
		return err
	}
	if _, ok := accountsv1.SurveyStatus_name[int32(sv.GetStatus())]; !ok {
		return invalid("survey.status %d is unknown", sv.GetStatus())
	}
	if sv.Status == accountsv1.SurveyStatus_SURVEY_STATUS_UNSPECIFIED {
		sv.Status = accountsv1.SurveyStatus_SURVEY_STATUS_DRAFT
	}
	qs := sv.GetQuestions()
	if len(qs) == 0 || len(qs) > maxQuestions {
		return invalid("survey.questions: want 1 to %d questions, got %d", maxQuestions, len(qs))
	}
	// Positions of the questions by the client's ids, for skip rules.
	pos := make(map[int32]int, len(qs))
	for i, q := range qs {
		f := fmt.Sprintf("survey.questions[%d]", i)
		if q == nil {
			return invalid("%s is empty", f)
		}
		if q.GetId() < 0 {
			return invalid("%s.id must not be negative", f)
		}
		if q.GetId() != 0 {
			if _, dup := pos[q.GetId()]; dup {
				return invalid("%s.id %d is used twice", f, q.GetId())
			}
			pos[q.GetId()] = i
		}
	}
	for i, q := range qs {
		if err := checkQuestion(fmt.Sprintf("survey.questions[%d]", i), q, i, pos); err != nil {
			return err
		}
	}
	if sv.Targeting == nil {
		sv.Targeting = &accountsv1.SurveyTargeting{}
	}
	if err := checkTargeting(sv.Targeting); err != nil {
		return err
	}
	if sv.Trigger == nil {
		sv.Trigger = &accountsv1.SurveyTrigger{}
	}
	if err := checkTrigger(sv.Trigger); err != nil {
		return err
	}
	if sv.SampleRate != nil && (math.IsNaN(sv.GetSampleRate()) || sv.GetSampleRate() < 0 || sv.GetSampleRate() > 1) {
		return invalid("survey.sample_rate must be between 0 and 1")
	}
	if err := checkTime("survey.start_time", sv.GetStartTime()); err != nil {
		return err
	}
	if err := checkTime("survey.end_time", sv.GetEndTime()); err != nil {
		return err
	}
	if sv.StartTime != nil && sv.EndTime != nil && !sv.GetEndTime().AsTime().After(sv.GetStartTime().AsTime()) {
		return invalid("survey.end_time must be after survey.start_time")
	}
	if sv.GetResponseLimit() < 0 {
		return invalid("survey.response_limit must not be negative (0 means no limit)")
	}
	if sv.Thanks, err = checkText("survey.thanks", sv.GetThanks(), maxSurveyThanks, false); err != nil {
		return err
	}
	if sv.Language, err = checkLanguage("survey.language", sv.GetLanguage()); err != nil {
		return err
	}
	return nil
}

func checkQuestion(f string, q *accountsv1.Question, at int, pos map[int32]int) error {
	if _, ok := accountsv1.QuestionType_name[int32(q.GetType())]; !ok || q.GetType() == accountsv1.QuestionType_QUESTION_TYPE_UNSPECIFIED {
		return invalid("%s.type is required (rating, NPS, choice or text)", f)
	}
	var err error
	if q.Text, err = checkText(f+".text", q.GetText(), maxQuestionText, true); err != nil {
		return err
	}
	lo, hi, rating := scoreRange(q.GetType())
	if !rating && (q.GetLowLabel() != "" || q.GetHighLabel() != "") {
		return invalid("%s: low_label and high_label are for rating and NPS questions", f)
	}
	if q.LowLabel, err = checkText(f+".low_label", q.GetLowLabel(), maxScaleLabel, false); err != nil {
		return err
	}
	if q.HighLabel, err = checkText(f+".high_label", q.GetHighLabel(), maxScaleLabel, false); err != nil {
		return err
	}
	choices := map[int32]bool{}
	if isChoice(q.GetType()) {
		if n := len(q.GetChoices()); n < 2 || n > maxChoices {
			return invalid("%s.choices: want 2 to %d choices, got %d", f, maxChoices, n)
		}
		for j, c := range q.GetChoices() {
			cf := fmt.Sprintf("%s.choices[%d]", f, j)
			if c == nil {
				return invalid("%s is empty", cf)
			}
			if c.GetId() < 0 {
				return invalid("%s.id must not be negative", cf)
			}
			if c.GetId() != 0 {
				if choices[c.GetId()] {
					return invalid("%s.id %d is used twice", cf, c.GetId())
				}
				choices[c.GetId()] = true
			}
			if c.Label, err = checkText(cf+".label", c.GetLabel(), maxChoiceLabel, true); err != nil {
				return err
			}
		}
	} else if len(q.GetChoices()) > 0 {
		return invalid("%s.choices: only single and multiple choice questions have choices", f)
	}
	if len(q.GetSkip()) > maxSkipRules {
		return invalid("%s.skip has %d rules; at most %d", f, len(q.GetSkip()), maxSkipRules)
	}
	for k, r := range q.GetSkip() {
		rf := fmt.Sprintf("%s.skip[%d]", f, k)
		if r == nil {
			return invalid("%s is empty", rf)
		}
		if to := r.GetToQuestionId(); to != 0 {
			p, ok := pos[to]
			if !ok {
				return invalid("%s.to_question_id %d names no question of the survey", rf, to)
			}
			if p <= at {
				return invalid("%s.to_question_id %d must name a later question (or 0 to end the survey)", rf, to)
			}
		}
		switch {
		case isChoice(q.GetType()):
			if r.MinScore != nil || r.MaxScore != nil {
				return invalid("%s: a choice question's rule matches choice_ids, not scores", rf)
			}
			if len(r.GetChoiceIds()) == 0 {
				return invalid("%s.choice_ids: name at least one choice", rf)
			}
			for _, id := range r.GetChoiceIds() {
				if !choices[id] {
					return invalid("%s.choice_ids: %d names no choice of the question", rf, id)
				}
			}
		case rating:
			if len(r.GetChoiceIds()) > 0 {
				return invalid("%s: a rating question's rule matches min_score/max_score, not choice_ids", rf)
			}
			if r.MinScore == nil && r.MaxScore == nil {
				return invalid("%s: set min_score, max_score or both", rf)
			}
			for _, s := range []struct {
				name string
				v    *int32
			}{{"min_score", r.MinScore}, {"max_score", r.MaxScore}} {
				if s.v != nil && (*s.v < lo || *s.v > hi) {
					return invalid("%s.%s %d is outside the question's %d–%d", rf, s.name, *s.v, lo, hi)
				}
			}
			if r.MinScore != nil && r.MaxScore != nil && r.GetMinScore() > r.GetMaxScore() {
				return invalid("%s: min_score %d is above max_score %d", rf, r.GetMinScore(), r.GetMaxScore())
			}
		default:
			return invalid("%s: text questions take no skip rules (nothing to match)", rf)
		}
	}
	return nil
}

func checkTargeting(t *accountsv1.SurveyTargeting) error {
	if err := checkPages("survey.targeting.pages", t.GetPages()); err != nil {
		return err
	}
	seen := map[sessionsv1.DeviceType]bool{}
	for i, d := range t.GetDeviceTypes() {
		switch d {
		case sessionsv1.DeviceType_DEVICE_TYPE_DESKTOP, sessionsv1.DeviceType_DEVICE_TYPE_MOBILE, sessionsv1.DeviceType_DEVICE_TYPE_TABLET:
		default:
			return invalid("survey.targeting.device_types[%d] must be desktop, mobile or tablet", i)
		}
		if seen[d] {
			return invalid("survey.targeting.device_types[%d] is listed twice", i)
		}
		seen[d] = true
	}
	if _, ok := accountsv1.SurveyTargeting_Visitors_name[int32(t.GetVisitors())]; !ok {
		return invalid("survey.targeting.visitors %d is unknown", t.GetVisitors())
	}
	if len(t.GetAttributes()) > maxTargetAttributes {
		return invalid("survey.targeting.attributes has %d entries; at most %d", len(t.GetAttributes()), maxTargetAttributes)
	}
	for i, a := range t.GetAttributes() {
		f := fmt.Sprintf("survey.targeting.attributes[%d]", i)
		if a == nil {
			return invalid("%s is empty", f)
		}
		var err error
		if a.Key, err = checkText(f+".key", a.GetKey(), maxAttributeText, true); err != nil {
			return err
		}
		if a.Value, err = checkText(f+".value", a.GetValue(), maxAttributeText, false); err != nil {
			return err
		}
	}
	return nil
}

func checkTrigger(t *accountsv1.SurveyTrigger) error {
	if _, ok := accountsv1.SurveyTrigger_Kind_name[int32(t.GetKind())]; !ok {
		return invalid("survey.trigger.kind %d is unknown", t.GetKind())
	}
	// Fields of other kinds are cleared: the dashboard may keep a value
	// typed before the kind changed, and the bootstrap should not carry it.
	seconds, scroll, event := t.GetSeconds(), t.GetScrollPercent(), t.GetEvent()
	t.Seconds, t.ScrollPercent, t.Event = 0, 0, ""
	switch t.GetKind() {
	case accountsv1.SurveyTrigger_KIND_UNSPECIFIED:
		t.Kind = accountsv1.SurveyTrigger_KIND_ON_LOAD
	case accountsv1.SurveyTrigger_KIND_AFTER_SECONDS:
		if seconds < 1 || seconds > 3600 {
			return invalid("survey.trigger.seconds must be between 1 and 3600")
		}
		t.Seconds = seconds
	case accountsv1.SurveyTrigger_KIND_SCROLL_PERCENT:
		if scroll < 1 || scroll > 100 {
			return invalid("survey.trigger.scroll_percent must be between 1 and 100")
		}
		t.ScrollPercent = scroll
	case accountsv1.SurveyTrigger_KIND_CUSTOM_EVENT:
		var err error
		if t.Event, err = checkText("survey.trigger.event", event, maxEventName, true); err != nil {
			return err
		}
	}
	return nil
}
