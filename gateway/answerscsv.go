package gateway

import (
	"context"
	"encoding/csv"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/sightlinehq/sightline/devicetype"
	accountsv1 "github.com/sightlinehq/sightline/gen/sightline/accounts/v1"
	searchv1 "github.com/sightlinehq/sightline/gen/sightline/search/v1"
	sessionsv1 "github.com/sightlinehq/sightline/gen/sightline/sessions/v1"
)

// answersCSVRoute downloads a site's feedback and survey answers as CSV: the
// pages of SearchAnswers under one filter, streamed. It is mounted on the
// API mux (same authentication, limits and maintenance as every /api/v1
// route); accounts' GetSite and ListSurveys and search's SearchAnswers each
// check the caller's access to the site, so another organisation gets 404.
//
// Query parameters (all optional; repeatable ones OR within themselves, all
// AND together, as search.v1.AnswerFilter):
//
//	from, to      RFC 3339 times: answers given (client time) in [from, to)
//	kind          feedback | survey
//	survey        a survey id (repeatable)
//	rating_min    1–5
//	rating_max    1–5
//	nps           detractor | passive | promoter (repeatable)
//	page_op       equals | contains | prefix | pattern (default contains)
//	page          the page rule's value (package pagerule)
//	device        desktop | mobile | tablet | bot | other (repeatable)
//	has_text      true | false
//
// Columns: time (RFC 3339 UTC), kind, survey_id, survey, rating, nps,
// comment, then one column per question when exactly one survey is
// filtered (else one "answers" column of "question: answer" lines), page,
// device, browser, os, country, session_id, recording (the dashboard's
// replay at the moment of the answer; empty when the session was not
// recorded), answer_id.
const answersCSVRoute = "/api/v1/sites/{site_id}/answers.csv"

const (
	// csvPageSize is SearchAnswers' largest page.
	csvPageSize = 1000
	// csvMaxRows caps one export; a last comment line says when it was cut.
	csvMaxRows = 100_000
	// csvMaxRepeated caps each repeatable parameter.
	csvMaxRepeated = 100
)

func (s *Service) registerAnswersCSVRoute() error {
	if s.deps.Search == nil {
		return nil
	}
	search := searchv1.NewSearchServiceClient(s.deps.Search)
	return s.handleSiteRoute(answersCSVRoute, func(w http.ResponseWriter, r *http.Request, site int64, params map[string]string) {
		ctx := r.Context()
		filter, err := parseAnswerFilter(r.URL.Query())
		if err != nil {
			writeError(ctx, w, http.StatusBadRequest, err.Error())
			return
		}
		out := metadata.NewOutgoingContext(ctx, forwardCaller(ctx, r))
		st, err := s.accounts.GetSite(out, &accountsv1.GetSiteRequest{SiteId: site})
		if err != nil {
			s.errorHandler(ctx, s.api, nil, w, r, err)
			return
		}
		surveys, err := s.accounts.ListSurveys(out, &accountsv1.ListSurveysRequest{SiteId: site})
		if err != nil {
			s.errorHandler(ctx, s.api, nil, w, r, err)
			return
		}
		// The first page before any byte is written, so a refusal (another
		// organisation's site, a bad filter) is a proper error response.
		req := &searchv1.SearchAnswersRequest{SiteId: site, Filter: filter, PageSize: csvPageSize}
		page, err := search.SearchAnswers(out, req)
		if err != nil {
			s.errorHandler(ctx, s.api, nil, w, r, err)
			return
		}
		ex := &csvExport{
			w:       csv.NewWriter(w),
			surveys: map[int64]*accountsv1.Survey{},
			dash:    requestOrigin(r) + "/o/" + strconv.FormatInt(st.GetSite().GetOrganizationId(), 10) + "/sites/" + strconv.FormatInt(site, 10) + "/recordings/",
			out:     out,
			raw:     w,
		}
		for _, sv := range surveys.GetSurveys() {
			ex.surveys[sv.GetId()] = sv
		}
		if ids := filter.GetSurveyIds(); len(ids) == 1 {
			ex.one = ex.surveys[ids[0]]
		}
		h := w.Header()
		h.Set("Content-Type", "text/csv; charset=utf-8")
		h.Set("Content-Disposition", fmt.Sprintf(`attachment; filename="answers-site-%d-%s.csv"`, site, time.Now().UTC().Format("20060102")))
		h.Set("Cache-Control", "no-store")
		h.Set("X-Content-Type-Options", "nosniff")
		w.WriteHeader(http.StatusOK)
		rows, err := ex.run(ctx, search, req, page)
		if err != nil {
			// Headers are gone: say so in the file, where the reader looks.
			s.logger().ErrorContext(ctx, "gateway: answers export failed", "site_id", site, "rows", rows, "err", err)
			ex.comment(fmt.Sprintf("# export failed after %d rows: %v", rows, err))
		}
		ex.w.Flush()
	})
}

// csvExport writes one export.
type csvExport struct {
	w       *csv.Writer
	surveys map[int64]*accountsv1.Survey
	// one is the survey filtered for alone: its questions get columns.
	one  *accountsv1.Survey
	dash string          // dashboard URL of the site's recordings, ending in "/"
	out  context.Context // outgoing context with the caller's credential
	raw  http.ResponseWriter
}

func (e *csvExport) run(ctx context.Context, search searchv1.SearchServiceClient, req *searchv1.SearchAnswersRequest, page *searchv1.SearchAnswersResponse) (int, error) {
	if err := e.w.Write(e.header()); err != nil {
		return 0, err
	}
	rows := 0
	for {
		for _, a := range page.GetAnswers() {
			if rows == csvMaxRows {
				e.comment(fmt.Sprintf("# cut at %d rows of %d matching: narrow the filter (e.g. by date) to export the rest", csvMaxRows, page.GetTotal()))
				return rows, nil
			}
			if err := e.w.Write(e.row(ctx, a)); err != nil {
				return rows, err
			}
			rows++
		}
		e.w.Flush()
		if err := e.w.Error(); err != nil {
			return rows, err // the client went away
		}
		if page.GetNextPageToken() == "" || len(page.GetAnswers()) == 0 {
			return rows, nil
		}
		req.PageToken = page.GetNextPageToken()
		var err error
		if page, err = search.SearchAnswers(e.out, req); err != nil {
			return rows, err
		}
	}
}

// comment ends the file with a line for the reader, written raw (the CSV
// writer would quote it) and kept to one line.
func (e *csvExport) comment(line string) {
	e.w.Flush()
	if e.w.Error() != nil {
		return
	}
	line = strings.Map(func(r rune) rune {
		if r == '\n' || r == '\r' {
			return ' '
		}
		return r
	}, line)
	_, _ = e.raw.Write([]byte(line + "\r\n"))
}

func (e *csvExport) header() []string {
	h := []string{"time", "kind", "survey_id", "survey", "rating", "nps", "comment"}
	if e.one != nil {
		for _, q := range e.one.GetQuestions() {
			h = append(h, cell(q.GetText()))
		}
	} else {
		h = append(h, "answers")
	}
	return append(h, "page", "device", "browser", "os", "country", "session_id", "recording", "answer_id")
}

func (e *csvExport) row(ctx context.Context, a *sessionsv1.Answer) []string {
	kind := "feedback"
	if a.GetKind() == sessionsv1.AnswerKind_ANSWER_KIND_SURVEY {
		kind = "survey"
	}
	sv := e.surveys[a.GetSurveyId()]
	var surveyID, rating, nps string
	if a.GetSurveyId() != 0 {
		surveyID = strconv.FormatInt(a.GetSurveyId(), 10)
	}
	if a.GetRating() != 0 {
		rating = strconv.Itoa(int(a.GetRating()))
	}
	if a.Nps != nil {
		nps = strconv.Itoa(int(a.GetNps()))
	}
	out := []string{csvTime(a.GetClientTime()), kind, surveyID, cell(sv.GetName()), rating, nps, cell(a.GetComment())}
	if e.one != nil {
		byQ := map[int32]*sessionsv1.QuestionAnswer{}
		for _, qa := range a.GetAnswers() {
			byQ[qa.GetQuestionId()] = qa
		}
		for _, q := range e.one.GetQuestions() {
			v := ""
			if qa, ok := byQ[q.GetId()]; ok && a.GetSurveyId() == e.one.GetId() {
				v = answerText(q, qa)
			}
			out = append(out, cell(v))
		}
	} else {
		out = append(out, cell(e.summary(sv, a)))
	}
	c := a.GetClient()
	return append(out, cell(a.GetUrl()), devicetype.Name(c.GetDeviceType()), cell(c.GetBrowser()), cell(c.GetOs()), cell(c.GetCountry()),
		cell(a.GetSessionId()), cell(e.link(a)), cell(a.GetId()))
}

// summary is "question: answer" lines for the answers column.
func (e *csvExport) summary(sv *accountsv1.Survey, a *sessionsv1.Answer) string {
	qs := map[int32]*accountsv1.Question{}
	for _, q := range sv.GetQuestions() {
		qs[q.GetId()] = q
	}
	var b strings.Builder
	for i, qa := range a.GetAnswers() {
		if i > 0 {
			b.WriteString("\n")
		}
		q := qs[qa.GetQuestionId()]
		if q != nil {
			b.WriteString(q.GetText())
		} else {
			// A question since deleted from the survey (or the survey).
			fmt.Fprintf(&b, "question %d", qa.GetQuestionId())
		}
		b.WriteString(": ")
		b.WriteString(answerText(q, qa))
	}
	return b.String()
}

// answerText renders one answer: the score, the chosen choices' labels
// ("#id" for a choice since removed) or the text.
func answerText(q *accountsv1.Question, qa *sessionsv1.QuestionAnswer) string {
	var parts []string
	if qa.Score != nil {
		parts = append(parts, strconv.Itoa(int(qa.GetScore())))
	}
	for _, id := range qa.GetChoiceIds() {
		label := "#" + strconv.Itoa(int(id))
		for _, c := range q.GetChoices() {
			if c.GetId() == id {
				label = c.GetLabel()
				break
			}
		}
		parts = append(parts, label)
	}
	if qa.GetText() != "" {
		parts = append(parts, qa.GetText())
	}
	return strings.Join(parts, "; ")
}

// link is the dashboard's replay of the answer's session at the moment it
// was given (?at=, ms since the epoch: the replay finds the offset), when
// the session was recorded.
func (e *csvExport) link(a *sessionsv1.Answer) string {
	if !a.GetRecorded() || a.GetSessionId() == "" {
		return ""
	}
	u := e.dash + url.PathEscape(a.GetSessionId())
	if t := a.GetClientTime(); t != nil {
		u += "?at=" + strconv.FormatInt(t.AsTime().UnixMilli(), 10)
	}
	return u
}

func csvTime(ts *timestamppb.Timestamp) string {
	if ts == nil {
		return ""
	}
	return ts.AsTime().UTC().Format("2006-01-02T15:04:05.000Z07:00")
}

// cell guards against CSV (formula) injection: a spreadsheet runs a cell
// starting with = + - @ (or a tab or carriage return before one) as a
// formula, so such cells are prefixed with an apostrophe (OWASP's advice).
// Quoting is encoding/csv's.
func cell(v string) string {
	if v != "" && strings.ContainsRune("=+-@\t\r", rune(v[0])) {
		return "'" + v
	}
	return v
}

// parseAnswerFilter reads the export's query parameters; unknown ones are
// refused so a typo does not silently export everything.
func parseAnswerFilter(q url.Values) (*searchv1.AnswerFilter, error) {
	f := &searchv1.AnswerFilter{}
	for k, vs := range q {
		if len(vs) > csvMaxRepeated {
			return nil, fmt.Errorf("%s: at most %d values", k, csvMaxRepeated)
		}
		switch k {
		case "from", "to", "kind", "rating_min", "rating_max", "page_op", "page", "has_text":
			if len(vs) > 1 {
				return nil, fmt.Errorf("%s: give it once", k)
			}
		case "survey", "nps", "device":
		default:
			return nil, fmt.Errorf("unknown parameter %q (want from, to, kind, survey, rating_min, rating_max, nps, page_op, page, device, has_text)", k)
		}
	}
	for _, k := range []string{"from", "to"} {
		v := q.Get(k)
		if v == "" {
			continue
		}
		t, err := time.Parse(time.RFC3339Nano, v)
		if err != nil {
			return nil, fmt.Errorf("%s: want an RFC 3339 time such as 2026-01-31T00:00:00Z, got %q", k, v)
		}
		if f.Time == nil {
			f.Time = &searchv1.TimeRange{}
		}
		if k == "from" {
			f.Time.Start = timestamppb.New(t)
		} else {
			f.Time.End = timestamppb.New(t)
		}
	}
	if f.Time.GetStart() != nil && f.Time.GetEnd() != nil && !f.Time.GetEnd().AsTime().After(f.Time.GetStart().AsTime()) {
		return nil, fmt.Errorf("to must be after from")
	}
	switch v := q.Get("kind"); v {
	case "":
	case "feedback":
		f.Kind = sessionsv1.AnswerKind_ANSWER_KIND_FEEDBACK
	case "survey":
		f.Kind = sessionsv1.AnswerKind_ANSWER_KIND_SURVEY
	default:
		return nil, fmt.Errorf("kind: want feedback or survey, got %q", v)
	}
	for _, v := range q["survey"] {
		id, err := strconv.ParseInt(v, 10, 64)
		if err != nil || id <= 0 {
			return nil, fmt.Errorf("survey: want a survey id, got %q", v)
		}
		f.SurveyIds = append(f.SurveyIds, id)
	}
	for _, k := range []string{"rating_min", "rating_max"} {
		v := q.Get(k)
		if v == "" {
			continue
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 5 {
			return nil, fmt.Errorf("%s: want 1 to 5, got %q", k, v)
		}
		if f.Rating == nil {
			f.Rating = &searchv1.IntRange{}
		}
		if k == "rating_min" {
			f.Rating.Min = int64(n)
		} else {
			f.Rating.Max = int64(n)
		}
	}
	if f.Rating.GetMin() != 0 && f.Rating.GetMax() != 0 && f.Rating.GetMin() > f.Rating.GetMax() {
		return nil, fmt.Errorf("rating_min is above rating_max")
	}
	for _, v := range q["nps"] {
		g, ok := map[string]searchv1.NpsGroup{"detractor": searchv1.NpsGroup_NPS_GROUP_DETRACTOR,
			"passive": searchv1.NpsGroup_NPS_GROUP_PASSIVE, "promoter": searchv1.NpsGroup_NPS_GROUP_PROMOTER}[v]
		if !ok {
			return nil, fmt.Errorf("nps: want detractor, passive or promoter, got %q", v)
		}
		f.NpsGroups = append(f.NpsGroups, g)
	}
	if page := q.Get("page"); page != "" {
		op, ok := map[string]searchv1.UrlMatch_Operator{"": searchv1.UrlMatch_OPERATOR_CONTAINS,
			"equals": searchv1.UrlMatch_OPERATOR_EQUALS, "contains": searchv1.UrlMatch_OPERATOR_CONTAINS,
			"prefix": searchv1.UrlMatch_OPERATOR_PREFIX, "pattern": searchv1.UrlMatch_OPERATOR_PATTERN}[q.Get("page_op")]
		if !ok {
			return nil, fmt.Errorf("page_op: want equals, contains, prefix or pattern, got %q", q.Get("page_op"))
		}
		f.Page = &searchv1.UrlMatch{Operator: op, Value: page}
	} else if q.Get("page_op") != "" {
		return nil, fmt.Errorf("page_op needs page")
	}
	for _, v := range q["device"] {
		d, ok := devicetype.Parse(v)
		if !ok {
			return nil, fmt.Errorf("device: want desktop, mobile, tablet, bot or other, got %q", v)
		}
		f.DeviceTypes = append(f.DeviceTypes, d)
	}
	if v := q.Get("has_text"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return nil, fmt.Errorf("has_text: want true or false, got %q", v)
		}
		f.HasText = &b
	}
	return f, nil
}
