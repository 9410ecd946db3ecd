package search

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"
	grpccodes "google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	recordingsv1 "github.com/sightlinehq/sightline/gen/sightline/recordings/v1"
	searchv1 "github.com/sightlinehq/sightline/gen/sightline/search/v1"
	sessionsv1 "github.com/sightlinehq/sightline/gen/sightline/sessions/v1"
	trafficv1 "github.com/sightlinehq/sightline/gen/sightline/traffic/v1"
	"github.com/sightlinehq/sightline/platform/telemetry"
	"github.com/sightlinehq/sightline/svc-search/index"
	"github.com/sightlinehq/sightline/svc-search/traffic"
)

// TrafficServer implements trafficv1.TrafficServiceServer over the
// service's traffic store and sessions index. It is its own type because
// the generated Unimplemented servers of two services cannot both be
// embedded in one.
type TrafficServer struct {
	trafficv1.UnimplementedTrafficServiceServer
	// AppendHits (ingest's) is on the internal contract; the same server
	// registers for both.
	trafficv1.UnimplementedTrafficInternalServiceServer
	s *Service
}

// Traffic is the TrafficService of this service, to register on the same
// gRPC server as the SearchService.
func (s *Service) Traffic() *TrafficServer { return &TrafficServer{s: s} }

// finishTraffic is finish with the traffic store's own errors mapped.
func (s *Service) finishTraffic(ctx context.Context, rpc string, err error) error {
	if errors.Is(err, traffic.ErrTooManyBuckets) {
		err = invalidf("the series would hold more than %d buckets; narrow the time range or choose a wider interval", traffic.MaxBuckets)
	}
	return s.finish(ctx, rpc, err)
}

// authorize checks the caller may read the site (NotFound for another
// organisation's), before anything about the request is looked at, so a
// foreign site answers the same whatever the request says. New refuses a
// service without an Authorizer, so there is always one.
func (s *Service) authorize(ctx context.Context, site int64) error {
	if err := validateSite(site); err != nil {
		return err
	}
	return s.deps.Authorizer.AuthorizeSite(ctx, site, false)
}

// AppendHits implements trafficv1.TrafficServiceServer (internal: ingest's
// traffic spool forwarder). Outcomes per chunk as recordings'
// AppendChunks: REFUSED for a chunk that can never be stored, STORED for
// the rest — the store's AddHits is idempotent but does not tell a
// re-delivery from a first delivery, so a duplicate is answered STORED too.
// A store failure fails the call with Unavailable: the forwarder retries.
func (t *TrafficServer) AppendHits(ctx context.Context, req *trafficv1.AppendHitsRequest) (_ *trafficv1.AppendHitsResponse, err error) {
	s := t.s
	defer func() { err = s.finish(ctx, "AppendHits", err) }()
	if n := len(req.GetChunks()); n > s.cfg.Traffic.MaxAppendHits {
		return nil, invalidf("%d chunks in one call, at most %d allowed", n, s.cfg.Traffic.MaxAppendHits)
	}
	out := &trafficv1.AppendHitsResponse{Results: make([]*recordingsv1.ChunkResult, len(req.GetChunks()))}
	hits := make([]traffic.Hit, 0, len(req.GetChunks()))
	var firstReason string
	for i, c := range req.GetChunks() {
		if err := checkHit(c); err != nil {
			reason := fmt.Sprintf("chunks[%d]: %v", i, err)
			out.Results[i] = &recordingsv1.ChunkResult{Outcome: recordingsv1.ChunkOutcome_CHUNK_OUTCOME_REFUSED, Reason: reason}
			out.Refused++
			if firstReason == "" {
				firstReason = reason
			}
			continue
		}
		hits = append(hits, hitOf(c))
		out.Results[i] = &recordingsv1.ChunkResult{Outcome: recordingsv1.ChunkOutcome_CHUNK_OUTCOME_STORED}
		out.Stored++
	}
	if len(hits) > 0 {
		wctx, cancel := context.WithTimeout(ctx, s.cfg.WriteTimeout)
		defer cancel()
		if err := s.tx.AddHits(wctx, hits); err != nil {
			s.log.ErrorContext(ctx, "traffic: storing hits failed", "hits", len(hits), "err", err)
			return nil, status.Error(grpccodes.Unavailable, "search: the traffic store is unavailable; retry")
		}
	}
	s.m.hits.Add(ctx, int64(out.Stored), metric.WithAttributes(attribute.String("outcome", "stored")))
	if out.Refused > 0 {
		s.m.hits.Add(ctx, int64(out.Refused), metric.WithAttributes(attribute.String("outcome", "refused")))
		s.log.WarnContext(ctx, "traffic: hits refused", "refused", out.Refused, "chunks", len(out.Results), "first_reason", firstReason)
	}
	return out, nil
}

// dashboardRequest is any dashboard request of the traffic service.
type dashboardRequest interface {
	proto.Message
	GetSiteId() int64
}

// admit authorizes the caller for the request's site and refuses a request
// carrying fields this build does not know.
func (s *Service) admit(ctx context.Context, req dashboardRequest) error {
	if err := s.authorize(ctx, req.GetSiteId()); err != nil {
		return err
	}
	return checkNoUnknown("request", req.ProtoReflect())
}

// trafficWindow checks an overview's or a breakdown's range and filter.
func trafficWindow(tr *searchv1.TimeRange, f *trafficv1.TrafficFilter) (from, to time.Time, err error) {
	if from, to, err = trafficRange(tr); err != nil {
		return from, to, err
	}
	return from, to, validateTrafficFilter(f)
}

// GetTrafficOverview implements trafficv1.TrafficServiceServer (dashboard).
func (t *TrafficServer) GetTrafficOverview(ctx context.Context, req *trafficv1.GetTrafficOverviewRequest) (_ *trafficv1.GetTrafficOverviewResponse, err error) {
	s := t.s
	defer func() { err = s.finishTraffic(ctx, "GetTrafficOverview", err) }()
	if err := s.admit(ctx, req); err != nil {
		return nil, err
	}
	from, to, err := trafficWindow(req.GetRange(), req.GetFilter())
	if err != nil {
		return nil, err
	}
	loc, err := timeZone(req.GetTimeZone())
	if err != nil {
		return nil, err
	}
	iv := req.GetInterval()
	if _, ok := trafficv1.TrafficInterval_name[int32(iv)]; !ok {
		return nil, invalidf("interval %d is unknown", iv)
	}
	if iv == trafficv1.TrafficInterval_TRAFFIC_INTERVAL_UNSPECIFIED {
		iv = traffic.AutoInterval(from, to)
	}
	// The series is bounded before any work.
	if _, err := traffic.Buckets(from, to, iv, loc); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.QueryTimeout)
	defer cancel()
	res, err := s.tx.Overview(ctx, traffic.Query{SiteID: req.GetSiteId(), Start: from, End: to, Filter: req.GetFilter(), Location: loc}, iv)
	if err != nil {
		return nil, err
	}
	res.Interval = iv
	return res, nil
}

// GetTrafficBreakdown implements trafficv1.TrafficServiceServer (dashboard).
func (t *TrafficServer) GetTrafficBreakdown(ctx context.Context, req *trafficv1.GetTrafficBreakdownRequest) (_ *trafficv1.GetTrafficBreakdownResponse, err error) {
	s := t.s
	defer func() { err = s.finishTraffic(ctx, "GetTrafficBreakdown", err) }()
	if err := s.admit(ctx, req); err != nil {
		return nil, err
	}
	from, to, err := trafficWindow(req.GetRange(), req.GetFilter())
	if err != nil {
		return nil, err
	}
	dim := req.GetDimension()
	if _, ok := trafficv1.TrafficDimension_name[int32(dim)]; !ok || dim == trafficv1.TrafficDimension_TRAFFIC_DIMENSION_UNSPECIFIED {
		return nil, invalidf("dimension %d is unknown; name one (TRAFFIC_DIMENSION_PAGE, …)", dim)
	}
	limit := int(req.GetLimit())
	switch {
	case limit == 0:
		limit = defaultBreakdownRows
	case limit < 0 || limit > traffic.MaxBreakdownRows:
		return nil, invalidf("limit %d must be between 1 and %d", limit, traffic.MaxBreakdownRows)
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.QueryTimeout)
	defer cancel()
	res, err := s.tx.Breakdown(ctx, traffic.Query{SiteID: req.GetSiteId(), Start: from, End: to, Filter: req.GetFilter()}, dim, limit)
	if err != nil {
		return nil, err
	}
	res.Dimension = dim
	return res, nil
}

// GetRealtime implements trafficv1.TrafficServiceServer (dashboard).
func (t *TrafficServer) GetRealtime(ctx context.Context, req *trafficv1.GetRealtimeRequest) (_ *trafficv1.GetRealtimeResponse, err error) {
	s := t.s
	defer func() { err = s.finishTraffic(ctx, "GetRealtime", err) }()
	if err := s.admit(ctx, req); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.QueryTimeout)
	defer cancel()
	return s.tx.Realtime(ctx, req.GetSiteId(), time.Now())
}

// ComputeFunnel implements trafficv1.TrafficServiceServer (dashboard).
func (t *TrafficServer) ComputeFunnel(ctx context.Context, req *trafficv1.ComputeFunnelRequest) (_ *trafficv1.ComputeFunnelResponse, err error) {
	s := t.s
	defer func() { err = s.finishTraffic(ctx, "ComputeFunnel", err) }()
	if err := s.admit(ctx, req); err != nil {
		return nil, err
	}
	q, err := funnelQuery(req.GetSiteId(), req.GetSteps(), req.GetRange(), req.GetDeviceTypes())
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.QueryTimeout)
	defer cancel()
	return s.tx.Funnel(ctx, q)
}

// ListFunnelSessions implements trafficv1.TrafficServiceServer (dashboard):
// one page of the traffic store's recorded sessions of a step, as the
// sessions index's summaries (one index query for the page), in the
// store's order. A recorded session whose summary is gone from the index
// (deleted meanwhile) is left out of the page.
func (t *TrafficServer) ListFunnelSessions(ctx context.Context, req *trafficv1.ListFunnelSessionsRequest) (_ *trafficv1.ListFunnelSessionsResponse, err error) {
	s := t.s
	defer func() { err = s.finishTraffic(ctx, "ListFunnelSessions", err) }()
	if err := s.admit(ctx, req); err != nil {
		return nil, err
	}
	q, err := funnelQuery(req.GetSiteId(), req.GetSteps(), req.GetRange(), req.GetDeviceTypes())
	if err != nil {
		return nil, err
	}
	step := int(req.GetStep())
	switch {
	case step < 0 || step >= len(q.Steps):
		return nil, invalidf("step %d must be between 0 and %d", step, len(q.Steps)-1)
	case req.GetDropped() && step == 0:
		return nil, invalidf("dropped needs step 1 or later: nobody drops off before the first step")
	}
	size := int(req.GetPageSize())
	switch {
	case size < 0:
		return nil, invalidf("page_size is negative")
	case size == 0:
		size = defaultFunnelPageSize
	case size > maxFunnelPageSize:
		size = maxFunnelPageSize
		s.m.capped.Add(ctx, 1, metric.WithAttributes(attribute.String("limit", "funnel_page_size")))
	}
	hash := funnelQueryHash(req)
	var after *traffic.FunnelCursor
	if req.GetPageToken() != "" {
		h, c, err := decodeFunnelToken(req.GetPageToken())
		if err != nil {
			return nil, invalidf("%v", err)
		}
		if h != hash {
			return nil, invalidf("page_token belongs to a different query (site, steps, range, devices, step or dropped changed)")
		}
		after = &c
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.QueryTimeout)
	defer cancel()
	page, err := s.tx.FunnelSessions(ctx, q, step, req.GetDropped(), after, size)
	if err != nil {
		return nil, err
	}
	out := &trafficv1.ListFunnelSessionsResponse{Total: page.Total, Recorded: page.Recorded}
	if len(page.SessionIDs) > 0 {
		res, err := s.ix.Search(ctx, index.Query{SiteID: req.GetSiteId(), SessionIDs: page.SessionIDs, Limit: len(page.SessionIDs)})
		if err != nil {
			return nil, err
		}
		byID := make(map[string]*sessionsv1.SessionSummary, len(res.Sessions))
		for _, sum := range res.Sessions {
			byID[sum.GetSessionId()] = sum
		}
		for _, id := range page.SessionIDs {
			if sum, ok := byID[id]; ok {
				out.Sessions = append(out.Sessions, sum)
			}
		}
	}
	if page.Next != nil {
		out.NextPageToken = encodeFunnelToken(hash, *page.Next)
	}
	return out, nil
}

// markRecorded marks the summaries' traffic sessions recorded (called by
// UpsertSessions after the index took them; the marks are
// version-guarded, so stale summaries change nothing).
func (s *Service) markRecorded(ctx context.Context, sums []*sessionsv1.SessionSummary) error {
	marks := make([]traffic.Recorded, 0, len(sums))
	for _, sum := range sums {
		marks = append(marks, traffic.RecordedOf(sum))
	}
	if err := s.tx.SetRecorded(ctx, marks); err != nil {
		return fmt.Errorf("traffic: mark recorded: %w", err)
	}
	return nil
}

// sweepTraffic removes expired traffic sessions once per
// Traffic.SweepInterval (the first time at start), until ctx ends.
func (s *Service) sweepTraffic(ctx context.Context) {
	tick := time.NewTicker(s.cfg.Traffic.SweepInterval)
	defer tick.Stop()
	for {
		s.sweepOnce(ctx)
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

func (s *Service) sweepOnce(ctx context.Context) {
	wctx, cancel := context.WithTimeout(ctx, s.cfg.Traffic.SweepInterval)
	defer cancel()
	start := time.Now()
	n, err := s.tx.Sweep(wctx, start, s.cfg.Traffic.DefaultRetention)
	if n > 0 || (err != nil && ctx.Err() == nil) {
		telemetry.RecordWork(ctx, s.deps.TracerProvider.Tracer("github.com/sightlinehq/sightline/svc-search"), "traffic retention sweep", start, err,
			attribute.Int64("sightline.sessions", n))
	}
	if err != nil {
		if ctx.Err() == nil {
			s.m.sweeps.Add(ctx, 1, metric.WithAttributes(attribute.Bool("error", true)))
			s.log.ErrorContext(ctx, "traffic: retention sweep failed; retried next interval", "err", err, "next", s.cfg.Traffic.SweepInterval)
		}
		return
	}
	s.m.sweeps.Add(ctx, 1, metric.WithAttributes(attribute.Bool("error", false)))
	s.m.swept.Add(ctx, n)
	if n > 0 {
		s.log.InfoContext(ctx, "traffic: retention removed expired sessions", "sessions", n)
	}
}

// tracedTraffic wraps the traffic store with a span and a latency record
// per call, as traced does for the sessions index.
type tracedTraffic struct {
	st traffic.Store
	t  *traced
}

func (t *tracedTraffic) AddHits(ctx context.Context, hits []traffic.Hit) error {
	ctx, end := t.t.span(ctx, "traffic.add_hits", 0)
	trace.SpanFromContext(ctx).SetAttributes(attribute.Int("sightline.hits", len(hits)))
	err := t.st.AddHits(ctx, hits)
	end(err)
	return err
}

func (t *tracedTraffic) SetRecorded(ctx context.Context, marks []traffic.Recorded) error {
	ctx, end := t.t.span(ctx, "traffic.set_recorded", 0)
	err := t.st.SetRecorded(ctx, marks)
	end(err)
	return err
}

func (t *tracedTraffic) Delete(ctx context.Context, site int64, sel index.Selector) (int64, error) {
	ctx, end := t.t.span(ctx, "traffic.delete", site)
	n, err := t.st.Delete(ctx, site, sel)
	end(err)
	return n, err
}

func (t *tracedTraffic) Sweep(ctx context.Context, now time.Time, def time.Duration) (int64, error) {
	ctx, end := t.t.span(ctx, "traffic.sweep", 0)
	n, err := t.st.Sweep(ctx, now, def)
	end(err)
	return n, err
}

func (t *tracedTraffic) Overview(ctx context.Context, q traffic.Query, iv trafficv1.TrafficInterval) (*trafficv1.GetTrafficOverviewResponse, error) {
	ctx, end := t.t.span(ctx, "traffic.overview", q.SiteID)
	r, err := t.st.Overview(ctx, q, iv)
	end(err)
	return r, err
}

func (t *tracedTraffic) Breakdown(ctx context.Context, q traffic.Query, dim trafficv1.TrafficDimension, limit int) (*trafficv1.GetTrafficBreakdownResponse, error) {
	ctx, end := t.t.span(ctx, "traffic.breakdown", q.SiteID)
	r, err := t.st.Breakdown(ctx, q, dim, limit)
	end(err)
	return r, err
}

func (t *tracedTraffic) Realtime(ctx context.Context, site int64, now time.Time) (*trafficv1.GetRealtimeResponse, error) {
	ctx, end := t.t.span(ctx, "traffic.realtime", site)
	r, err := t.st.Realtime(ctx, site, now)
	end(err)
	return r, err
}

func (t *tracedTraffic) Funnel(ctx context.Context, q traffic.FunnelQuery) (*trafficv1.ComputeFunnelResponse, error) {
	ctx, end := t.t.span(ctx, "traffic.funnel", q.SiteID)
	r, err := t.st.Funnel(ctx, q)
	end(err)
	return r, err
}

func (t *tracedTraffic) FunnelSessions(ctx context.Context, q traffic.FunnelQuery, step int, dropped bool, after *traffic.FunnelCursor, limit int) (traffic.FunnelPage, error) {
	ctx, end := t.t.span(ctx, "traffic.funnel_sessions", q.SiteID)
	p, err := t.st.FunnelSessions(ctx, q, step, dropped, after, limit)
	end(err)
	return p, err
}

func (t *tracedTraffic) Ready(ctx context.Context) error { return t.st.Ready(ctx) }
func (t *tracedTraffic) Close() error                    { return t.st.Close() }

var (
	_ traffic.Store                  = (*tracedTraffic)(nil)
	_ trafficv1.TrafficServiceServer = (*TrafficServer)(nil)
)
