package ingest

// The feedback widget's and the surveys' part of the bootstrap settings
// (docs/wire-format.md, "Bootstrap settings"): what the tracker needs to
// decide, on every page and without another request, whether to load the
// feedback bundle.

import (
	"context"
	"math"
	"strconv"
	"time"

	"github.com/sightlinehq/sightline/devicetype"
	accountsv1 "github.com/sightlinehq/sightline/gen/sightline/accounts/v1"
	searchv1 "github.com/sightlinehq/sightline/gen/sightline/search/v1"
	"github.com/sightlinehq/sightline/svc-ingest/siteconfig"
)

type pageRuleJSON struct {
	Op    string `json:"op"`
	Value string `json:"value"`
}

type feedbackTextsJSON struct {
	Tab    string `json:"tab"`
	Title  string `json:"title"`
	Prompt string `json:"prompt"`
	Thanks string `json:"thanks"`
}

type feedbackJSON struct {
	Position string            `json:"position"`
	Color    string            `json:"color"`
	Language string            `json:"language"`
	Texts    feedbackTextsJSON `json:"texts"`
	Element  bool              `json:"element"`
	Pages    []pageRuleJSON    `json:"pages"`
}

type choiceJSON struct {
	ID    int32  `json:"id"`
	Label string `json:"label"`
}

type skipJSON struct {
	Choices []int32 `json:"choices"`
	Min     *int32  `json:"min,omitempty"`
	Max     *int32  `json:"max,omitempty"`
	To      int32   `json:"to"`
}

type questionJSON struct {
	ID       int32        `json:"id"`
	Type     string       `json:"type"`
	Text     string       `json:"text"`
	Required bool         `json:"required"`
	Choices  []choiceJSON `json:"choices"`
	Low      string       `json:"low"`
	High     string       `json:"high"`
	Skip     []skipJSON   `json:"skip"`
}

type attrJSON struct {
	K string `json:"k"`
	V string `json:"v"`
}

type targetJSON struct {
	Pages    []pageRuleJSON `json:"pages"`
	Devices  []string       `json:"devices"`
	Visitors string         `json:"visitors"`
	Attrs    []attrJSON     `json:"attrs"`
}

type triggerJSON struct {
	Kind    string `json:"kind"`
	Seconds int32  `json:"seconds"`
	Scroll  int32  `json:"scroll"`
	Event   string `json:"event"`
}

type surveyJSON struct {
	ID        string         `json:"id"` // int64 as a string: JavaScript numbers stop at 2^53
	Language  string         `json:"language"`
	Thanks    string         `json:"thanks"`
	Questions []questionJSON `json:"questions"`
	Target    targetJSON     `json:"target"`
	Trigger   triggerJSON    `json:"trigger"`
	Sample    float64        `json:"sample"`
	Once      bool           `json:"once"`
	Start     *int64         `json:"start"` // ms; null: no start
	End       *int64         `json:"end"`
}

var positions = map[accountsv1.FeedbackWidget_Position]string{
	accountsv1.FeedbackWidget_POSITION_UNSPECIFIED:  "right",
	accountsv1.FeedbackWidget_POSITION_RIGHT:        "right",
	accountsv1.FeedbackWidget_POSITION_LEFT:         "left",
	accountsv1.FeedbackWidget_POSITION_BOTTOM_RIGHT: "bottom-right",
	accountsv1.FeedbackWidget_POSITION_BOTTOM_LEFT:  "bottom-left",
}

var operators = map[searchv1.UrlMatch_Operator]string{
	searchv1.UrlMatch_OPERATOR_EQUALS:   "equals",
	searchv1.UrlMatch_OPERATOR_CONTAINS: "contains",
	searchv1.UrlMatch_OPERATOR_PREFIX:   "prefix",
	searchv1.UrlMatch_OPERATOR_PATTERN:  "pattern",
}

var questionTypes = map[accountsv1.QuestionType]string{
	accountsv1.QuestionType_QUESTION_TYPE_RATING_5:        "rating5",
	accountsv1.QuestionType_QUESTION_TYPE_RATING_10:       "rating10",
	accountsv1.QuestionType_QUESTION_TYPE_NPS:             "nps",
	accountsv1.QuestionType_QUESTION_TYPE_SINGLE_CHOICE:   "single",
	accountsv1.QuestionType_QUESTION_TYPE_MULTIPLE_CHOICE: "multiple",
	accountsv1.QuestionType_QUESTION_TYPE_SHORT_TEXT:      "short",
	accountsv1.QuestionType_QUESTION_TYPE_LONG_TEXT:       "long",
}

var triggerKinds = map[accountsv1.SurveyTrigger_Kind]string{
	accountsv1.SurveyTrigger_KIND_UNSPECIFIED:    "load",
	accountsv1.SurveyTrigger_KIND_ON_LOAD:        "load",
	accountsv1.SurveyTrigger_KIND_AFTER_SECONDS:  "seconds",
	accountsv1.SurveyTrigger_KIND_SCROLL_PERCENT: "scroll",
	accountsv1.SurveyTrigger_KIND_EXIT_INTENT:    "exit",
	accountsv1.SurveyTrigger_KIND_CUSTOM_EVENT:   "event",
}

var visitorKinds = map[accountsv1.SurveyTargeting_Visitors]string{
	accountsv1.SurveyTargeting_VISITORS_UNSPECIFIED: "",
	accountsv1.SurveyTargeting_VISITORS_NEW:         "new",
	accountsv1.SurveyTargeting_VISITORS_RETURNING:   "returning",
}

// pageRules renders page rules; false when one has an operator this
// ingest does not know (accounts validates them): dropping it would widen
// "these pages" to more pages, so the caller shows nothing instead.
func pageRules(ms []*searchv1.UrlMatch) ([]pageRuleJSON, bool) {
	out := make([]pageRuleJSON, 0, len(ms))
	for _, m := range ms {
		op, ok := operators[m.GetOperator()]
		if !ok || m.GetValue() == "" {
			return nil, false
		}
		out = append(out, pageRuleJSON{Op: op, Value: m.GetValue()})
	}
	return out, true
}

// feedbackSettings is the widget's part of the bootstrap, nil (JSON null)
// when it is off.
func feedbackSettings(w *accountsv1.FeedbackWidget) *feedbackJSON {
	if !w.GetEnabled() {
		return nil
	}
	pages, ok := pageRules(w.GetPages())
	if !ok {
		return nil
	}
	pos, ok := positions[w.GetPosition()]
	if !ok {
		pos = "right"
	}
	return &feedbackJSON{
		Position: pos, Color: w.GetColor(), Language: w.GetLanguage(), Element: w.GetAllowElement(), Pages: pages,
		Texts: feedbackTextsJSON{Tab: w.GetTabLabel(), Title: w.GetTitle(), Prompt: w.GetCommentPrompt(), Thanks: w.GetThanks()},
	}
}

// surveys renders the site's surveys that may show now: active, started,
// not ended and under their response limit. Counts come from recordings
// (cached); while they are unknown a limited survey is shown — the limit
// is approximate anyway, and recordings being down must not change what
// visitors see.
func (s *Service) surveys(ctx context.Context, site *siteconfig.Site, now time.Time) []surveyJSON {
	out := []surveyJSON{}
	var counts map[int64]int64
	for _, sv := range site.GetSurveys() {
		if sv.GetResponseLimit() > 0 && counts == nil {
			if c, ok := s.counts.Get(ctx, site.GetSiteId()); ok {
				counts = c
			} else {
				counts = map[int64]int64{}
			}
		}
		if j, ok := surveySettings(sv, counts, now); ok {
			out = append(out, j)
		}
	}
	return out
}

func surveySettings(sv *accountsv1.Survey, counts map[int64]int64, now time.Time) (surveyJSON, bool) {
	switch {
	case sv.GetStatus() != accountsv1.SurveyStatus_SURVEY_STATUS_ACTIVE, sv.GetId() <= 0, len(sv.GetQuestions()) == 0:
		return surveyJSON{}, false
	case sv.StartTime != nil && sv.GetStartTime().AsTime().After(now):
		return surveyJSON{}, false
	case sv.EndTime != nil && !sv.GetEndTime().AsTime().After(now):
		return surveyJSON{}, false
	case sv.GetResponseLimit() > 0 && counts[sv.GetId()] >= sv.GetResponseLimit():
		return surveyJSON{}, false
	}
	j := surveyJSON{ID: strconv.FormatInt(sv.GetId(), 10), Language: sv.GetLanguage(), Thanks: sv.GetThanks(),
		Once: sv.GetOncePerVisitor(), Sample: 1}
	if sv.SampleRate != nil {
		j.Sample = sv.GetSampleRate()
		if math.IsNaN(j.Sample) {
			j.Sample = 0
		}
		j.Sample = min(max(j.Sample, 0), 1)
	}
	if sv.StartTime != nil {
		ms := sv.GetStartTime().AsTime().UnixMilli()
		j.Start = &ms
	}
	if sv.EndTime != nil {
		ms := sv.GetEndTime().AsTime().UnixMilli()
		j.End = &ms
	}
	for _, q := range sv.GetQuestions() {
		typ, ok := questionTypes[q.GetType()]
		if !ok {
			return surveyJSON{}, false // a question the tracker cannot show: not the survey the owner wrote
		}
		qj := questionJSON{ID: q.GetId(), Type: typ, Text: q.GetText(), Required: q.GetRequired(),
			Low: q.GetLowLabel(), High: q.GetHighLabel(), Choices: []choiceJSON{}, Skip: []skipJSON{}}
		for _, c := range q.GetChoices() {
			qj.Choices = append(qj.Choices, choiceJSON{ID: c.GetId(), Label: c.GetLabel()})
		}
		for _, r := range q.GetSkip() {
			sj := skipJSON{Choices: append([]int32{}, r.GetChoiceIds()...), To: r.GetToQuestionId()}
			if r.MinScore != nil {
				v := r.GetMinScore()
				sj.Min = &v
			}
			if r.MaxScore != nil {
				v := r.GetMaxScore()
				sj.Max = &v
			}
			qj.Skip = append(qj.Skip, sj)
		}
		j.Questions = append(j.Questions, qj)
	}
	t := sv.GetTargeting()
	pages, ok := pageRules(t.GetPages())
	if !ok {
		return surveyJSON{}, false
	}
	visitors, ok := visitorKinds[t.GetVisitors()]
	if !ok {
		return surveyJSON{}, false
	}
	j.Target = targetJSON{Pages: pages, Devices: []string{}, Attrs: []attrJSON{}, Visitors: visitors}
	for _, d := range t.GetDeviceTypes() {
		name := devicetype.Name(d)
		if name == "" {
			return surveyJSON{}, false
		}
		j.Target.Devices = append(j.Target.Devices, name)
	}
	for _, a := range t.GetAttributes() {
		j.Target.Attrs = append(j.Target.Attrs, attrJSON{K: a.GetKey(), V: a.GetValue()})
	}
	tr := sv.GetTrigger()
	kind, ok := triggerKinds[tr.GetKind()]
	if !ok {
		return surveyJSON{}, false
	}
	j.Trigger = triggerJSON{Kind: kind, Seconds: tr.GetSeconds(), Scroll: tr.GetScrollPercent(), Event: tr.GetEvent()}
	return j, true
}
