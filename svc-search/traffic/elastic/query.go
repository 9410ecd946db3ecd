package elastic

import (
	"context"
	"fmt"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	searchv1 "github.com/sightlinehq/sightline/gen/sightline/search/v1"
	trafficv1 "github.com/sightlinehq/sightline/gen/sightline/traffic/v1"
	sessionsindex "github.com/sightlinehq/sightline/svc-search/index/elastic"
	"github.com/sightlinehq/sightline/svc-search/traffic"
)

func ts(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

func term(field string, v any) map[string]any {
	return map[string]any{"term": map[string]any{field: v}}
}

func rangeQ(field string, bounds map[string]any) map[string]any {
	return map[string]any{"range": map[string]any{field: bounds}}
}

// hasPageView is the clause every query carries: a session without a page
// view does not exist for any query.
func hasPageView() map[string]any { return rangeQ(fPageCount, map[string]any{"gte": 1}) }

func startIn(start, end time.Time) map[string]any {
	return rangeQ(fStart, map[string]any{"gte": ts(start), "lt": ts(end)})
}

// FilterQuery is the bool filter of one site's sessions starting in
// [start, end) that pass f: the sessions index's FilterQuery for the
// conditions the two share (site first, start range, device, country,
// browser, OS, referrer, UTM and the URL rules on the same field names),
// then direct, screen size and "has a page view".
func FilterQuery(siteID int64, start, end time.Time, f *trafficv1.TrafficFilter) (map[string]any, error) {
	sf := &searchv1.SessionFilter{
		StartTime:   &searchv1.TimeRange{Start: timestamppb.New(start), End: timestamppb.New(end)},
		DeviceTypes: f.GetDeviceTypes(), Countries: f.GetCountries(), Browsers: f.GetBrowsers(), Oses: f.GetOses(),
		ReferrerDomain: f.GetReferrerDomain(), UtmSource: f.GetUtmSource(), UtmMedium: f.GetUtmMedium(), UtmCampaign: f.GetUtmCampaign(),
		VisitedPage: f.GetVisitedPage(), EntryPage: f.GetEntryPage(), ExitPage: f.GetExitPage(),
	}
	q, err := sessionsindex.FilterQuery(siteID, sf)
	if err != nil {
		return nil, err
	}
	b := q["bool"].(map[string]any)
	filters := b["filter"].([]any)
	filters = append(filters, hasPageView())
	if f.GetDirect() {
		filters = append(filters, term(fReferrer, ""))
	}
	if f.GetScreenSize() != "" {
		filters = append(filters, term(fScreen, f.GetScreenSize()))
	}
	b["filter"] = filters
	return q, nil
}

func cardinality(field string) map[string]any {
	return map[string]any{"cardinality": map[string]any{"field": field, "precision_threshold": precision}}
}

func sum(field string) map[string]any { return map[string]any{"sum": map[string]any{"field": field}} }

// totalsAggs are the aggregations of one period's tiles; the percentiles
// only estimate the median, which median.go then pins exactly.
func totalsAggs() map[string]any {
	return map[string]any{
		"visitors":   cardinality(fVisitor),
		"page_views": sum(fPageCount),
		"bounces":    sum(fBounce),
		"median":     map[string]any{"percentiles": map[string]any{"field": fDuration, "percents": []any{50}}},
		"recorded": map[string]any{
			"filter": term(fRecorded, true),
			"aggs": map[string]any{
				"rage": map[string]any{"filter": term(fRage, true)}, "dead": map[string]any{"filter": term(fDead, true)},
				"errors": map[string]any{"filter": term(fErrors, true)},
			},
		},
	}
}

var calendarInterval = map[trafficv1.TrafficInterval]string{
	trafficv1.TrafficInterval_TRAFFIC_INTERVAL_HOUR: "hour",
	trafficv1.TrafficInterval_TRAFFIC_INTERVAL_DAY:  "day",
	trafficv1.TrafficInterval_TRAFFIC_INTERVAL_WEEK: "week",
}

// OverviewBody is the one aggregation request of an overview: the sessions
// of the previous period and the current one, told apart by filter
// aggregations, the current one with its series. buckets are
// traffic.Buckets of the range (at least one).
func OverviewBody(q traffic.Query, iv trafficv1.TrafficInterval, buckets []time.Time) (map[string]any, error) {
	ci, ok := calendarInterval[iv]
	if !ok {
		return nil, fmt.Errorf("elasticsearch: traffic interval %v", iv)
	}
	prev := q.Start.Add(-q.End.Sub(q.Start))
	fq, err := FilterQuery(q.SiteID, prev, q.End, q.Filter)
	if err != nil {
		return nil, err
	}
	cur := totalsAggs()
	cur["series"] = map[string]any{
		"date_histogram": map[string]any{
			"field": fStart, "calendar_interval": ci, "time_zone": q.Loc().String(), "min_doc_count": 0,
			// Every bucket of the range, empty ones too.
			"extended_bounds": map[string]any{"min": buckets[0].UnixMilli(), "max": buckets[len(buckets)-1].UnixMilli()},
		},
		"aggs": map[string]any{"visitors": cardinality(fVisitor), "page_views": sum(fPageCount)},
	}
	return map[string]any{
		"size": 0, "track_total_hits": false, "query": fq,
		"aggs": map[string]any{
			"current":  map[string]any{"filter": startIn(q.Start, q.End), "aggs": cur},
			"previous": map[string]any{"filter": startIn(prev, q.Start), "aggs": totalsAggs()},
		},
	}, nil
}

type valueAgg struct {
	Value float64 `json:"value"`
}

type countAgg struct {
	DocCount int64 `json:"doc_count"`
}

type periodAggs struct {
	DocCount  int64    `json:"doc_count"`
	Visitors  valueAgg `json:"visitors"`
	PageViews valueAgg `json:"page_views"`
	Bounces   valueAgg `json:"bounces"`
	Median    struct {
		Values map[string]*float64 `json:"values"`
	} `json:"median"`
	Recorded struct {
		DocCount int64    `json:"doc_count"`
		Rage     countAgg `json:"rage"`
		Dead     countAgg `json:"dead"`
		Errors   countAgg `json:"errors"`
	} `json:"recorded"`
	Series struct {
		Buckets []struct {
			Key       int64    `json:"key"`
			DocCount  int64    `json:"doc_count"`
			Visitors  valueAgg `json:"visitors"`
			PageViews valueAgg `json:"page_views"`
		} `json:"buckets"`
	} `json:"series"`
}

type overviewResponse struct {
	Aggregations struct {
		Current  periodAggs `json:"current"`
		Previous periodAggs `json:"previous"`
	} `json:"aggregations"`
}

// totals are one period's tiles without the median.
func (p periodAggs) totals() *trafficv1.TrafficTotals {
	t := &trafficv1.TrafficTotals{
		Visitors: int64(p.Visitors.Value), Sessions: p.DocCount, PageViews: int64(p.PageViews.Value),
		Bounces: int64(p.Bounces.Value), RecordedSessions: p.Recorded.DocCount,
	}
	if t.Sessions > 0 {
		t.ViewsPerSession = float64(t.PageViews) / float64(t.Sessions)
		t.BounceRate = float64(t.Bounces) / float64(t.Sessions)
	}
	if r := float64(p.Recorded.DocCount); r > 0 {
		rage, dead, errs := float64(p.Recorded.Rage.DocCount)/r, float64(p.Recorded.Dead.DocCount)/r, float64(p.Recorded.Errors.DocCount)/r
		t.RageClickRate, t.DeadClickRate, t.ErrorRate = &rage, &dead, &errs
	}
	return t
}

// estimate is the percentiles aggregation's median, 0 without one.
func (p periodAggs) estimate() float64 {
	for _, v := range p.Median.Values {
		if v != nil {
			return *v
		}
	}
	return 0
}

// series fills the range's buckets from the histogram's, by start: a
// bucket Elasticsearch cut differently (it should not) is added to the one
// holding its start, visitors taking the larger count (visitors do not
// add up).
func (p periodAggs) series(buckets []time.Time, iv trafficv1.TrafficInterval, loc *time.Location) []*trafficv1.TrafficBucket {
	out := make([]*trafficv1.TrafficBucket, len(buckets))
	at := make(map[int64]int, len(buckets))
	for i, b := range buckets {
		out[i] = &trafficv1.TrafficBucket{Start: timestamppb.New(b)}
		at[b.UnixNano()] = i
	}
	for _, b := range p.Series.Buckets {
		i, ok := at[time.UnixMilli(b.Key).UnixNano()]
		if !ok {
			if i, ok = at[traffic.BucketStart(time.UnixMilli(b.Key), iv, loc).UnixNano()]; !ok {
				continue
			}
		}
		o := out[i]
		o.Sessions += b.DocCount
		o.PageViews += int64(b.PageViews.Value)
		o.Visitors = max(o.Visitors, int64(b.Visitors.Value))
	}
	return out
}

// Overview implements traffic.Store.
func (s *Store) Overview(ctx context.Context, q traffic.Query, iv trafficv1.TrafficInterval) (*trafficv1.GetTrafficOverviewResponse, error) {
	buckets, err := traffic.Buckets(q.Start, q.End, iv, q.Loc())
	if err != nil {
		return nil, err
	}
	if len(buckets) == 0 {
		return nil, fmt.Errorf("elasticsearch: traffic overview: empty range")
	}
	body, err := OverviewBody(q, iv, buckets)
	if err != nil {
		return nil, err
	}
	var out overviewResponse
	if err := s.search(ctx, q.SiteID, body, "traffic overview", &out); err != nil {
		return nil, err
	}
	resp := &trafficv1.GetTrafficOverviewResponse{Interval: iv}
	prevStart := q.Start.Add(-q.End.Sub(q.Start))
	for _, p := range []struct {
		aggs       periodAggs
		start, end time.Time
		dst        **trafficv1.TrafficTotals
	}{{out.Aggregations.Current, q.Start, q.End, &resp.Current}, {out.Aggregations.Previous, prevStart, q.Start, &resp.Previous}} {
		t := p.aggs.totals()
		if t.Sessions > 0 {
			fq, err := FilterQuery(q.SiteID, p.start, p.end, q.Filter)
			if err != nil {
				return nil, err
			}
			ms, err := s.nth(ctx, q.SiteID, fq, (t.Sessions-1)/2, p.aggs.estimate())
			if err != nil {
				return nil, err
			}
			t.MedianDuration = durationpb.New(time.Duration(ms) * time.Millisecond)
		}
		*p.dst = t
	}
	resp.Series = out.Aggregations.Current.series(buckets, iv, q.Loc())
	return resp, nil
}

// dimensionField is the field a session-level breakdown groups by.
var dimensionField = map[trafficv1.TrafficDimension]string{
	trafficv1.TrafficDimension_TRAFFIC_DIMENSION_ENTRY_PAGE:   fEntryKey,
	trafficv1.TrafficDimension_TRAFFIC_DIMENSION_EXIT_PAGE:    fExitKey,
	trafficv1.TrafficDimension_TRAFFIC_DIMENSION_REFERRER:     fReferrer,
	trafficv1.TrafficDimension_TRAFFIC_DIMENSION_UTM_SOURCE:   fUTMSource,
	trafficv1.TrafficDimension_TRAFFIC_DIMENSION_UTM_MEDIUM:   fUTMMedium,
	trafficv1.TrafficDimension_TRAFFIC_DIMENSION_UTM_CAMPAIGN: fUTMCamp,
	trafficv1.TrafficDimension_TRAFFIC_DIMENSION_COUNTRY:      fCountry,
	trafficv1.TrafficDimension_TRAFFIC_DIMENSION_DEVICE_TYPE:  fDevice,
	trafficv1.TrafficDimension_TRAFFIC_DIMENSION_BROWSER:      fBrowser,
	trafficv1.TrafficDimension_TRAFFIC_DIMENSION_OS:           fOS,
	trafficv1.TrafficDimension_TRAFFIC_DIMENSION_SCREEN_SIZE:  fScreen,
}

// byCountThenKey is the breakdown's row order. The documents of a site
// live on one shard (routing), so the top terms are exact.
func byCountThenKey() []any {
	return []any{map[string]any{"_count": "desc"}, map[string]any{"_key": "asc"}}
}

// BreakdownBody is the aggregation request of one dimension's top rows.
// Session dimensions are terms on the session's field; pages are terms on
// the nested per-page view counts, whose documents are one per session
// and page key (so a bucket's count is its sessions), with the views
// summed and the bounces read back on the sessions (reverse_nested).
func BreakdownBody(q traffic.Query, dim trafficv1.TrafficDimension, limit int) (map[string]any, error) {
	if limit <= 0 || limit > traffic.MaxBreakdownRows {
		return nil, fmt.Errorf("elasticsearch: breakdown limit %d outside 1–%d", limit, traffic.MaxBreakdownRows)
	}
	fq, err := FilterQuery(q.SiteID, q.Start, q.End, q.Filter)
	if err != nil {
		return nil, err
	}
	var aggs map[string]any
	if dim == trafficv1.TrafficDimension_TRAFFIC_DIMENSION_PAGE {
		key := fPageViews + "." + fPVKey
		aggs = map[string]any{"pages": map[string]any{
			"nested": map[string]any{"path": fPageViews},
			"aggs": map[string]any{
				"rows": map[string]any{
					"terms": map[string]any{"field": key, "size": limit, "order": byCountThenKey()},
					"aggs": map[string]any{
						"page_views": sum(fPageViews + "." + fPVCount),
						"sessions":   map[string]any{"reverse_nested": map[string]any{}, "aggs": map[string]any{"bounces": sum(fBounce)}},
					},
				},
				"values": cardinality(key),
			},
		}}
	} else {
		field, ok := dimensionField[dim]
		if !ok {
			return nil, fmt.Errorf("elasticsearch: traffic dimension %v", dim)
		}
		aggs = map[string]any{
			"rows": map[string]any{
				"terms": map[string]any{"field": field, "size": limit, "order": byCountThenKey()},
				"aggs":  map[string]any{"page_views": sum(fPageCount), "bounces": sum(fBounce)},
			},
			"values": cardinality(field),
		}
	}
	return map[string]any{"size": 0, "track_total_hits": true, "query": fq, "aggs": aggs}, nil
}

type rowsAggs struct {
	Rows struct {
		Buckets []struct {
			Key       string   `json:"key"`
			DocCount  int64    `json:"doc_count"`
			PageViews valueAgg `json:"page_views"`
			Bounces   valueAgg `json:"bounces"`
			Sessions  struct {
				Bounces valueAgg `json:"bounces"`
			} `json:"sessions"`
		} `json:"buckets"`
	} `json:"rows"`
	Values valueAgg `json:"values"`
}

type breakdownResponse struct {
	sessionsindex.TotalHits
	Aggregations struct {
		rowsAggs
		Pages rowsAggs `json:"pages"`
	} `json:"aggregations"`
}

// parseBreakdown turns the response into rows.
func parseBreakdown(dim trafficv1.TrafficDimension, out breakdownResponse) *trafficv1.GetTrafficBreakdownResponse {
	resp := &trafficv1.GetTrafficBreakdownResponse{Dimension: dim, Sessions: out.Hits.Total.Value}
	a := out.Aggregations.rowsAggs
	page := dim == trafficv1.TrafficDimension_TRAFFIC_DIMENSION_PAGE
	if page {
		a = out.Aggregations.Pages
	}
	resp.TotalValues = int64(a.Values.Value)
	for _, b := range a.Rows.Buckets {
		r := &trafficv1.TrafficRow{Value: b.Key, Sessions: b.DocCount, PageViews: int64(b.PageViews.Value), Bounces: int64(b.Bounces.Value)}
		if page {
			r.Bounces = int64(b.Sessions.Bounces.Value)
		}
		resp.Rows = append(resp.Rows, r)
	}
	// Cardinality is approximate; it never reads fewer values than rows.
	resp.TotalValues = max(resp.TotalValues, int64(len(resp.Rows)))
	return resp
}

// Breakdown implements traffic.Store.
func (s *Store) Breakdown(ctx context.Context, q traffic.Query, dim trafficv1.TrafficDimension, limit int) (*trafficv1.GetTrafficBreakdownResponse, error) {
	body, err := BreakdownBody(q, dim, limit)
	if err != nil {
		return nil, err
	}
	var out breakdownResponse
	if err := s.search(ctx, q.SiteID, body, "traffic breakdown", &out); err != nil {
		return nil, err
	}
	return parseBreakdown(dim, out), nil
}
