package search

import (
	"cmp"
	"context"
	"slices"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	searchv1 "github.com/sightlinehq/sightline/gen/sightline/search/v1"
	sessionsv1 "github.com/sightlinehq/sightline/gen/sightline/sessions/v1"
	"github.com/sightlinehq/sightline/svc-search/index"
)

// Limits of GetSiteReport.
const (
	maxReportWindow   = 400 * 24 * time.Hour
	maxReportTopPages = 50
	// reportFacetSize is how many page paths each facet of the report
	// reads: the frustrated-page counts are exact while a slice of the
	// window's frustrated sessions spans at most this many distinct paths.
	reportFacetSize = 1000
	// reportLatest is how many of the latest-started sessions are looked
	// at for the last session end (one that started earlier but ran
	// longer than all of them is not seen).
	reportLatest = 20
)

// InternalServer implements searchv1.SearchInternalServiceServer (recordings'
// outbox, reindexing, notify's digests and alerts). Its own type: two services' Unimplemented servers
// cannot both be embedded in Service.
type InternalServer struct {
	searchv1.UnimplementedSearchInternalServiceServer
	s *Service
}

// Internal is the SearchInternalService of this service, to register on
// the same gRPC server as the SearchService.
func (s *Service) Internal() searchv1.SearchInternalServiceServer { return &InternalServer{s: s} }

// GetSiteReport counts a site's sessions and answers in a window. Internal:
// the caller holds the service credential, so no site check, but the input
// is validated like any other.
//
// Sessions count by start time in [start_time, end_time), answers by
// client time. Frustrated sessions (a rage click, a dead click or an
// error) are counted per URL path through the index's page facet over
// three disjoint filters — rage; no rage and dead; no rage, no dead and
// errors — so a session with several kinds of trouble counts once.
func (x *InternalServer) GetSiteReport(ctx context.Context, req *searchv1.GetSiteReportRequest) (_ *searchv1.GetSiteReportResponse, err error) {
	s := x.s
	defer func() { err = s.finish(ctx, "GetSiteReport", err) }()
	if err := validateSite(req.GetSiteId()); err != nil {
		return nil, err
	}
	if err := checkNoUnknown("request", req.ProtoReflect()); err != nil {
		return nil, err
	}
	if req.GetStartTime() == nil || req.GetEndTime() == nil {
		return nil, invalidf("start_time and end_time are both required")
	}
	if err := checkTime("start_time", req.GetStartTime()); err != nil {
		return nil, err
	}
	if err := checkTime("end_time", req.GetEndTime()); err != nil {
		return nil, err
	}
	from, to := req.GetStartTime().AsTime(), req.GetEndTime().AsTime()
	if !from.Before(to) {
		return nil, invalidf("start_time must be before end_time")
	}
	if to.Sub(from) > maxReportWindow {
		return nil, invalidf("the window spans %s, at most %d days allowed", to.Sub(from).Round(time.Hour), int(maxReportWindow/(24*time.Hour)))
	}
	if n := req.GetTopPages(); n < 0 || n > maxReportTopPages {
		return nil, invalidf("top_pages %d must be in [0, %d]", n, maxReportTopPages)
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.QueryTimeout)
	defer cancel()
	return s.siteReport(ctx, req.GetSiteId(), from, to, int(req.GetTopPages()))
}

func (s *Service) siteReport(ctx context.Context, site int64, from, to time.Time, topPages int) (*searchv1.GetSiteReportResponse, error) {
	window := &searchv1.TimeRange{Start: timestamppb.New(from), End: timestamppb.New(to)}
	filter := func(set func(f *searchv1.SessionFilter)) *searchv1.SessionFilter {
		f := &searchv1.SessionFilter{StartTime: window}
		if set != nil {
			set(f)
		}
		return f
	}
	out := &searchv1.GetSiteReportResponse{}
	var feedback, survey *searchv1.AnswerCounts
	g, ctx := errgroup.WithContext(ctx)
	count := func(dst *int64, f *searchv1.SessionFilter) {
		g.Go(func() (err error) {
			*dst, err = s.ix.Count(ctx, site, f)
			return err
		})
	}
	count(&out.Sessions, filter(nil))
	count(&out.SessionsWithRageClicks, filter(func(f *searchv1.SessionFilter) { f.HasRageClicks = proto.Bool(true) }))
	count(&out.SessionsWithErrors, filter(func(f *searchv1.SessionFilter) { f.HasErrors = proto.Bool(true) }))
	g.Go(func() error {
		res, err := s.ix.Search(ctx, index.Query{SiteID: site, Limit: reportLatest})
		if err != nil {
			return err
		}
		var last time.Time
		for _, sum := range res.Sessions {
			end := sum.GetEndTime().AsTime()
			if sum.GetEndTime() == nil {
				end = sum.GetStartTime().AsTime()
			}
			if end.After(last) {
				last = end
			}
		}
		if !last.IsZero() {
			out.LastSessionTime = timestamppb.New(last)
		}
		return nil
	})
	if s.ax != nil {
		stats := func(dst **searchv1.AnswerCounts, kind sessionsv1.AnswerKind) {
			g.Go(func() error {
				res, err := s.ax.AnswerStats(ctx, index.StatsQuery{SiteID: site, Filter: &searchv1.AnswerFilter{Time: window, Kind: kind}})
				if err != nil {
					return err
				}
				*dst = res.GetTotal()
				return nil
			})
		}
		stats(&feedback, sessionsv1.AnswerKind_ANSWER_KIND_FEEDBACK)
		stats(&survey, sessionsv1.AnswerKind_ANSWER_KIND_SURVEY)
	}
	var pages []*searchv1.PageFrustration
	if topPages > 0 {
		g.Go(func() (err error) {
			pages, err = s.frustratedPages(ctx, site, filter, topPages)
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	out.TopPages = pages
	out.FeedbackAnswers = feedback.GetAnswers()
	out.FeedbackAverage = feedback.GetMeanRating()
	out.SurveyAnswers = survey.GetAnswers()
	if n := survey.GetDetractors() + survey.GetPassives() + survey.GetPromoters(); n > 0 {
		// Promoters minus detractors in % of the scored answers, rounded
		// half away from zero in integers.
		d := (survey.GetPromoters() - survey.GetDetractors()) * 100
		nps := (2*d + sign(d)*n) / (2 * n)
		out.Nps = proto.Int32(int32(nps))
	}
	return out, nil
}

func sign(v int64) int64 {
	if v < 0 {
		return -1
	}
	return 1
}

// frustratedPages ranks the window's URL paths by frustrated sessions,
// most first (ties by path), and counts each top path's sessions.
func (s *Service) frustratedPages(ctx context.Context, site int64, filter func(func(*searchv1.SessionFilter)) *searchv1.SessionFilter, n int) ([]*searchv1.PageFrustration, error) {
	yes, no := proto.Bool(true), proto.Bool(false)
	parts := []*searchv1.SessionFilter{
		filter(func(f *searchv1.SessionFilter) { f.HasRageClicks = yes }),
		filter(func(f *searchv1.SessionFilter) { f.HasRageClicks, f.HasDeadClicks = no, yes }),
		filter(func(f *searchv1.SessionFilter) { f.HasRageClicks, f.HasDeadClicks, f.HasErrors = no, no, yes }),
	}
	frustrated := map[string]int64{}
	for _, f := range parts {
		counts, err := s.pageFacet(ctx, site, f)
		if err != nil {
			return nil, err
		}
		for _, c := range counts {
			frustrated[c.GetValue()] += c.GetCount()
		}
	}
	top := make([]*searchv1.PageFrustration, 0, len(frustrated))
	for path, k := range frustrated {
		top = append(top, &searchv1.PageFrustration{Url: path, FrustratedSessions: k})
	}
	sortPages(top)
	top = top[:min(n, len(top))]
	if len(top) == 0 {
		return top, nil
	}
	// Sessions per top path: the window's page facet, and a count of its
	// own for a path beyond the facet's reach.
	all, err := s.pageFacet(ctx, site, filter(nil))
	if err != nil {
		return nil, err
	}
	visits := make(map[string]int64, len(all))
	for _, c := range all {
		visits[c.GetValue()] = c.GetCount()
	}
	for _, p := range top {
		v, ok := visits[p.Url]
		if !ok && strings.HasPrefix(p.Url, "/") {
			v, err = s.ix.Count(ctx, site, filter(func(f *searchv1.SessionFilter) {
				f.VisitedPage = &searchv1.UrlMatch{Operator: searchv1.UrlMatch_OPERATOR_EQUALS, Value: p.Url}
			}))
			if err != nil {
				return nil, err
			}
		}
		p.Sessions = max(v, p.FrustratedSessions)
	}
	return top, nil
}

// pageFacet is the page-path facet of the sessions matching f.
func (s *Service) pageFacet(ctx context.Context, site int64, f *searchv1.SessionFilter) ([]*searchv1.FacetCount, error) {
	res, err := s.ix.Search(ctx, index.Query{
		SiteID: site, Filter: f, Limit: 1,
		Facets: []searchv1.FacetField{searchv1.FacetField_FACET_FIELD_PAGE}, FacetSize: reportFacetSize,
	})
	if err != nil {
		return nil, err
	}
	for _, fc := range res.Facets {
		if fc.GetField() == searchv1.FacetField_FACET_FIELD_PAGE {
			return fc.GetCounts(), nil
		}
	}
	return nil, nil
}

func sortPages(ps []*searchv1.PageFrustration) {
	slices.SortFunc(ps, func(a, b *searchv1.PageFrustration) int {
		if c := cmp.Compare(b.FrustratedSessions, a.FrustratedSessions); c != 0 {
			return c
		}
		return strings.Compare(a.Url, b.Url)
	})
}

// The index-feeding RPCs keep their implementations on Service; the
// internal contract exposes them.

func (x *InternalServer) UpsertSessions(ctx context.Context, req *searchv1.UpsertSessionsRequest) (*searchv1.UpsertSessionsResponse, error) {
	return x.s.UpsertSessions(ctx, req)
}

func (x *InternalServer) DeleteSessions(ctx context.Context, req *searchv1.DeleteSessionsRequest) (*searchv1.DeleteSessionsResponse, error) {
	return x.s.DeleteSessions(ctx, req)
}

func (x *InternalServer) UpsertAnswers(ctx context.Context, req *searchv1.UpsertAnswersRequest) (*searchv1.UpsertAnswersResponse, error) {
	return x.s.UpsertAnswers(ctx, req)
}

func (x *InternalServer) DeleteAnswers(ctx context.Context, req *searchv1.DeleteAnswersRequest) (*searchv1.DeleteAnswersResponse, error) {
	return x.s.DeleteAnswers(ctx, req)
}

func (x *InternalServer) FinishReindex(ctx context.Context, req *searchv1.FinishReindexRequest) (*searchv1.FinishReindexResponse, error) {
	return x.s.FinishReindex(ctx, req)
}
