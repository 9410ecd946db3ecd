package search

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	// The zone database in the binary: a minimal container image has no
	// /usr/share/zoneinfo, and stats must still take any IANA zone.
	_ "time/tzdata"
	"unicode/utf8"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
	grpccodes "google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	searchv1 "github.com/sightlinehq/sightline/gen/sightline/search/v1"
	sessionsv1 "github.com/sightlinehq/sightline/gen/sightline/sessions/v1"
	"github.com/sightlinehq/sightline/svc-search/index"
)

// Limits of answers. Texts are bounded by the browser contract (2,000
// characters, at most 4 bytes each); the service accepts what ingest can.
const (
	maxAnswerPageSize  = 1000
	maxAnswerQuestions = 100
	maxAnswerTextBytes = 8000
	maxAnswerChoices   = 100
	maxTimeZoneBytes   = 64
)

// UpsertAnswers implements searchv1.SearchServiceServer (internal: fed by
// recordings' outbox and the reindex tool, like UpsertSessions).
func (s *Service) UpsertAnswers(ctx context.Context, req *searchv1.UpsertAnswersRequest) (_ *searchv1.UpsertAnswersResponse, err error) {
	defer func() { err = s.finish(ctx, "UpsertAnswers", err) }()
	if s.ax == nil {
		return nil, errNoAnswers
	}
	if err := checkBatch("answers", req.GetAnswers(), s.cfg.MaxUpsertBatch, validateAnswer); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.WriteTimeout)
	defer cancel()
	n, err := s.ax.UpsertAnswers(ctx, req.GetAnswers())
	if err != nil {
		return nil, err
	}
	s.m.answersUpserted.Add(ctx, int64(n))
	s.log.DebugContext(ctx, "answers upserted", "upserted", n)
	return &searchv1.UpsertAnswersResponse{Upserted: int32(n)}, nil
}

// DeleteAnswers implements searchv1.SearchServiceServer (internal).
func (s *Service) DeleteAnswers(ctx context.Context, req *searchv1.DeleteAnswersRequest) (_ *searchv1.DeleteAnswersResponse, err error) {
	defer func() { err = s.finish(ctx, "DeleteAnswers", err) }()
	if s.ax == nil {
		return nil, errNoAnswers
	}
	if err := validateSite(req.GetSiteId()); err != nil {
		return nil, err
	}
	var sel index.AnswerSelector
	switch x := req.GetSelector().(type) {
	case *searchv1.DeleteAnswersRequest_AnswerIds:
		sel.AnswerIDs, err = selectedIDs("answer_ids", x.AnswerIds.GetIds())
	case *searchv1.DeleteAnswersRequest_VisitorId:
		sel.VisitorID, err = selectedString("visitor_id", x.VisitorId)
	case *searchv1.DeleteAnswersRequest_SessionId:
		sel.SessionID, err = selectedString("session_id", x.SessionId)
	case *searchv1.DeleteAnswersRequest_WholeSite:
		sel.WholeSite, err = selectedWholeSite(x.WholeSite)
	case *searchv1.DeleteAnswersRequest_GivenBefore:
		sel.GivenBefore, err = selectedTime("given_before", x.GivenBefore)
	default:
		err = invalidf("one selector (answer_ids, visitor_id, session_id, whole_site, given_before) is required")
	}
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.WriteTimeout)
	defer cancel()
	n, err := s.ax.DeleteAnswers(ctx, req.GetSiteId(), sel)
	if err != nil {
		return nil, err
	}
	s.m.answersDeleted.Add(ctx, n)
	s.log.InfoContext(ctx, "answers deleted", "site_id", req.GetSiteId(), "deleted", n)
	return &searchv1.DeleteAnswersResponse{Deleted: n}, nil
}

// SearchAnswers implements searchv1.SearchServiceServer (dashboard).
func (s *Service) SearchAnswers(ctx context.Context, req *searchv1.SearchAnswersRequest) (_ *searchv1.SearchAnswersResponse, err error) {
	defer func() { err = s.finish(ctx, "SearchAnswers", err) }()
	if err := s.admitAnswers(ctx, req); err != nil {
		return nil, err
	}
	size, err := s.pageSize(ctx, req.GetPageSize(), maxAnswerPageSize, "answers_page_size")
	if err != nil {
		return nil, err
	}
	hash := queryHash(req.GetSiteId(), req.GetFilter())
	q := index.AnswerQuery{SiteID: req.GetSiteId(), Filter: req.GetFilter(), Ascending: req.GetAscending(), Limit: size}
	if req.GetPageToken() != "" {
		tok, err := decodeAnswerToken(req.GetPageToken())
		if err := checkToken(err, tok.queryHash == hash && tok.ascending == req.GetAscending(), "site, filter or order"); err != nil {
			return nil, err
		}
		q.After = &tok.cursor
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.QueryTimeout)
	defer cancel()
	res, err := s.ax.SearchAnswers(ctx, q)
	if err != nil {
		return nil, err
	}
	out := &searchv1.SearchAnswersResponse{Answers: res.Answers, Total: res.Total}
	if res.Next != nil {
		out.NextPageToken = encodeAnswerToken(answerToken{ascending: req.GetAscending(), queryHash: hash, cursor: *res.Next})
	}
	return out, nil
}

// GetAnswerStats implements searchv1.SearchServiceServer (dashboard).
func (s *Service) GetAnswerStats(ctx context.Context, req *searchv1.GetAnswerStatsRequest) (_ *searchv1.GetAnswerStatsResponse, err error) {
	defer func() { err = s.finish(ctx, "GetAnswerStats", err) }()
	if err := s.admitAnswers(ctx, req); err != nil {
		return nil, err
	}
	if _, ok := searchv1.StatsInterval_name[int32(req.GetInterval())]; !ok {
		return nil, invalidf("interval %d is unknown", req.GetInterval())
	}
	loc, err := timeZone(req.GetTimeZone())
	if err != nil {
		return nil, err
	}
	// A bounded range is checked before any work: at most MaxBuckets.
	if tr := req.GetFilter().GetTime(); tr.GetStart() != nil && tr.GetEnd() != nil {
		first, last, iv, _ := index.SeriesRange(req.GetFilter(), req.GetInterval(), time.Time{}, time.Time{}, false)
		if _, err := index.Buckets(first, last, iv, loc); err != nil {
			return nil, invalidf("the time range holds more than %d %s buckets; narrow it or choose a wider interval", index.MaxBuckets, intervalName(iv))
		}
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.QueryTimeout)
	defer cancel()
	return s.ax.AnswerStats(ctx, index.StatsQuery{SiteID: req.GetSiteId(), Filter: req.GetFilter(), Interval: req.GetInterval(), Location: loc})
}

// answersRequest is a dashboard request over the answers' filter.
type answersRequest interface {
	dashboardRequest
	GetFilter() *searchv1.AnswerFilter
}

// admitAnswers authorizes the caller for the site, refuses when this
// backend has no answers index, then checks the request like admit and its
// filter.
func (s *Service) admitAnswers(ctx context.Context, req answersRequest) error {
	if err := s.authorize(ctx, req.GetSiteId()); err != nil {
		return err
	}
	if s.ax == nil {
		return errNoAnswers
	}
	if err := checkNoUnknown("request", req.ProtoReflect()); err != nil {
		return err
	}
	return validateAnswerFilter(req.GetFilter())
}

var errNoAnswers = status.Error(grpccodes.Unimplemented, "search: this backend has no answers index")

func intervalName(iv searchv1.StatsInterval) string {
	return strings.ToLower(strings.TrimPrefix(iv.String(), "STATS_INTERVAL_"))
}

// timeZone resolves an IANA zone name; empty is UTC. "Local" (the server's
// zone) and anything that is not a zone name are refused.
func timeZone(name string) (*time.Location, error) {
	if name == "" {
		return time.UTC, nil
	}
	if len(name) > maxTimeZoneBytes || !utf8.ValidString(name) || name == "Local" || strings.Contains(name, "..") || strings.HasPrefix(name, "/") {
		return nil, invalidf("time_zone %q is not an IANA time zone name", truncate(name, maxTimeZoneBytes))
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return nil, invalidf("time_zone %q is not an IANA time zone name", name)
	}
	return loc, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "") + "…"
}

// validateAnswerFilter checks every condition of an answer filter.
func validateAnswerFilter(f *searchv1.AnswerFilter) error {
	if f == nil {
		return nil
	}
	if err := checkNoUnknown("filter", f.ProtoReflect()); err != nil {
		return err
	}
	if tr := f.GetTime(); tr != nil {
		if err := checkTime("filter.time.start", tr.Start); err != nil {
			return err
		}
		if err := checkTime("filter.time.end", tr.End); err != nil {
			return err
		}
		if tr.Start != nil && tr.End != nil && !tr.Start.AsTime().Before(tr.End.AsTime()) {
			return invalidf("filter.time.start must be before filter.time.end")
		}
	}
	if _, ok := sessionsv1.AnswerKind_name[int32(f.GetKind())]; !ok {
		return invalidf("filter.kind %d is unknown", f.GetKind())
	}
	if len(f.GetSurveyIds()) > maxValues {
		return invalidf("filter.survey_ids has %d values, at most %d allowed", len(f.GetSurveyIds()), maxValues)
	}
	for i, id := range f.GetSurveyIds() {
		if id <= 0 {
			return invalidf("filter.survey_ids[%d] must be positive", i)
		}
	}
	if err := checkRatingRange("filter.rating", f.GetRating()); err != nil {
		return err
	}
	if len(f.GetNpsGroups()) > maxValues {
		return invalidf("filter.nps_groups has %d values, at most %d allowed", len(f.GetNpsGroups()), maxValues)
	}
	for i, g := range f.GetNpsGroups() {
		if _, ok := searchv1.NpsGroup_name[int32(g)]; !ok || g == searchv1.NpsGroup_NPS_GROUP_UNSPECIFIED {
			return invalidf("filter.nps_groups[%d] = %d is unknown", i, g)
		}
	}
	if err := checkURLMatch("filter.page", f.GetPage()); err != nil {
		return err
	}
	if len(f.GetDeviceTypes()) > maxValues {
		return invalidf("filter.device_types has %d values, at most %d allowed", len(f.GetDeviceTypes()), maxValues)
	}
	for i, d := range f.GetDeviceTypes() {
		if _, ok := sessionsv1.DeviceType_name[int32(d)]; !ok {
			return invalidf("filter.device_types[%d] = %d is unknown", i, d)
		}
	}
	if err := checkString("filter.session_id", f.GetSessionId()); err != nil {
		return err
	}
	return checkString("filter.visitor_id", f.GetVisitorId())
}

// checkRatingRange checks a 1–5 rating range (max 0 is unbounded).
func checkRatingRange(name string, r *searchv1.IntRange) error {
	if r == nil {
		return nil
	}
	if r.Min < 0 || r.Min > 5 || r.Max < 0 || r.Max > 5 {
		return invalidf("%s must lie within 1–5 (max 0 is unbounded)", name)
	}
	if r.Max != 0 && r.Min > r.Max {
		return invalidf("%s.min is greater than %s.max", name, name)
	}
	return nil
}

// validateAnswer checks one answer before it is indexed.
func validateAnswer(i int, a *sessionsv1.Answer) error {
	name := fmt.Sprintf("answers[%d]", i)
	if a == nil {
		return invalidf("%s is empty", name)
	}
	if err := checkNoUnknown(name, a.ProtoReflect()); err != nil {
		return err
	}
	if a.SiteId <= 0 {
		return invalidf("%s.site_id must be positive", name)
	}
	if a.Id == "" {
		return invalidf("%s.id is empty", name)
	}
	for _, s := range []struct{ field, v string }{{"id", a.Id}, {"session_id", a.SessionId}, {"visitor_id", a.VisitorId}, {"page_view_id", a.PageViewId}, {"language", a.Language}} {
		if err := checkString(name+"."+s.field, s.v); err != nil {
			return err
		}
	}
	if a.ClientTime == nil {
		return invalidf("%s.client_time is required", name)
	}
	if err := checkTime(name+".client_time", a.ClientTime); err != nil {
		return err
	}
	if err := checkTime(name+".server_time", a.ServerTime); err != nil {
		return err
	}
	switch a.Kind {
	case sessionsv1.AnswerKind_ANSWER_KIND_FEEDBACK:
	case sessionsv1.AnswerKind_ANSWER_KIND_SURVEY:
		if a.SurveyId <= 0 {
			return invalidf("%s.survey_id must be positive for a survey response", name)
		}
	default:
		return invalidf("%s.kind %d is not feedback or survey", name, a.Kind)
	}
	if a.SurveyId < 0 {
		return invalidf("%s.survey_id is negative", name)
	}
	if a.Rating < 0 || a.Rating > 5 {
		return invalidf("%s.rating %d is outside 0–5", name, a.Rating)
	}
	if a.Nps != nil && (*a.Nps < 0 || *a.Nps > 10) {
		return invalidf("%s.nps %d is outside 0–10", name, *a.Nps)
	}
	if len(a.Url) > maxURLBytes || !utf8.ValidString(a.Url) {
		return invalidf("%s.url is longer than %d bytes or not UTF-8", name, maxURLBytes)
	}
	if len(a.Comment) > maxAnswerTextBytes || !utf8.ValidString(a.Comment) {
		return invalidf("%s.comment is longer than %d bytes or not UTF-8", name, maxAnswerTextBytes)
	}
	if _, ok := sessionsv1.DeviceType_name[int32(a.GetClient().GetDeviceType())]; !ok {
		return invalidf("%s.client.device_type %d is unknown", name, a.GetClient().GetDeviceType())
	}
	if err := checkSelector(name+".selector", a.Selector); err != nil {
		return err
	}
	if len(a.Answers) > maxAnswerQuestions {
		return invalidf("%s has %d question answers, at most %d allowed", name, len(a.Answers), maxAnswerQuestions)
	}
	for j, q := range a.Answers {
		if q == nil {
			return invalidf("%s.answers[%d] is empty", name, j)
		}
		if len(q.Text) > maxAnswerTextBytes || !utf8.ValidString(q.Text) {
			return invalidf("%s.answers[%d].text is longer than %d bytes or not UTF-8", name, j, maxAnswerTextBytes)
		}
		if len(q.ChoiceIds) > maxAnswerChoices {
			return invalidf("%s.answers[%d] has %d choices, at most %d allowed", name, j, len(q.ChoiceIds), maxAnswerChoices)
		}
	}
	return nil
}

// tracedAnswers wraps the answers index with a span and a latency record
// per call, as traced does for sessions.
type tracedAnswers struct {
	ix index.AnswerIndex
	t  *traced
}

func (t *tracedAnswers) UpsertAnswers(ctx context.Context, as []*sessionsv1.Answer) (int, error) {
	ctx, end := t.t.span(ctx, "answers.upsert", 0)
	n, err := t.ix.UpsertAnswers(ctx, as)
	trace.SpanFromContext(ctx).SetAttributes(attribute.Int("sightline.upserted", n))
	end(err)
	return n, err
}

func (t *tracedAnswers) DeleteAnswers(ctx context.Context, site int64, sel index.AnswerSelector) (int64, error) {
	ctx, end := t.t.span(ctx, "answers.delete", site)
	n, err := t.ix.DeleteAnswers(ctx, site, sel)
	end(err)
	return n, err
}

func (t *tracedAnswers) SearchAnswers(ctx context.Context, q index.AnswerQuery) (*index.AnswerResult, error) {
	ctx, end := t.t.span(ctx, "answers.search", q.SiteID)
	r, err := t.ix.SearchAnswers(ctx, q)
	if r != nil {
		trace.SpanFromContext(ctx).SetAttributes(attribute.Int64("sightline.total", r.Total))
	}
	end(err)
	return r, err
}

func (t *tracedAnswers) AnswerStats(ctx context.Context, q index.StatsQuery) (*searchv1.GetAnswerStatsResponse, error) {
	ctx, end := t.t.span(ctx, "answers.stats", q.SiteID)
	r, err := t.ix.AnswerStats(ctx, q)
	if r != nil {
		trace.SpanFromContext(ctx).SetAttributes(attribute.Int64("sightline.total", r.GetTotal().GetAnswers()))
	}
	end(err)
	return r, err
}

func (t *tracedAnswers) Ready(ctx context.Context) error { return t.ix.Ready(ctx) }
func (t *tracedAnswers) Close() error                    { return t.ix.Close() }

// errTooManyBuckets is how finish reports index.ErrTooManyBuckets.
func tooManyBuckets(err error) bool { return errors.Is(err, index.ErrTooManyBuckets) }
