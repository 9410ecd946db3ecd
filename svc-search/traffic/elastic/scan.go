package elastic

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	searchv1 "github.com/sightlinehq/sightline/gen/sightline/search/v1"
	trafficv1 "github.com/sightlinehq/sightline/gen/sightline/traffic/v1"
	"github.com/sightlinehq/sightline/svc-search/index"
	sessionsindex "github.com/sightlinehq/sightline/svc-search/index/elastic"
	"github.com/sightlinehq/sightline/svc-search/traffic"
)

// scanPage is the page size of a scan over stored hits.
const scanPage = 1000

// The parts of the stored hits a funnel and realtime read (source
// filtering works inside the non-indexed state object): not the
// referrers, clients and screens.
var (
	funnelSource   = []any{fSession, "state.pv.id", "state.pv.t", "state.pv.u", "state.ev.pv", "state.ev.t", "state.ev.n", "state.mk"}
	realtimeSource = []any{fSession, "state.pv.id", "state.pv.t", "state.pv.u", "state.pv.v", "state.pv.lt", "state.ev.t", "state.ev.v", "state.pl.lt", "state.pl.v"}
)

// ScanBody is one page of a scan over the stored hits (the source fields
// named) of the sessions of fq, in (start, session id) order — unique
// within a site, so search_after neither repeats nor skips a session;
// after is the previous page's last sort values.
func ScanBody(fq map[string]any, source []any, after []json.RawMessage) map[string]any {
	body := map[string]any{
		"size": scanPage, "track_total_hits": false, "query": fq,
		"_source": source,
		"sort": []any{
			map[string]any{fStart: map[string]any{"order": "asc"}},
			map[string]any{fSession: map[string]any{"order": "asc"}},
		},
	}
	if after != nil {
		body["search_after"] = after
	}
	return body
}

type scanResponse struct {
	Hits struct {
		Hits []struct {
			ID     string            `json:"_id"`
			Sort   []json.RawMessage `json:"sort"`
			Source struct {
				Session string `json:"session_id"`
				State   state  `json:"state"`
			} `json:"_source"`
		} `json:"hits"`
	} `json:"hits"`
}

// scan calls fn with every session of fq, page by page. Elasticsearch has
// no ordered-sequence aggregation, so funnels (and realtime's per-hit
// windows) are evaluated here, in Go, on the sessions' stored hits.
func (s *Store) scan(ctx context.Context, siteID int64, fq map[string]any, source []any, what string, fn func(id string, st *state)) error {
	var after []json.RawMessage
	for {
		var out scanResponse
		if err := s.search(ctx, siteID, ScanBody(fq, source, after), what, &out); err != nil {
			return err
		}
		hits := out.Hits.Hits
		for i := range hits {
			fn(hits[i].Source.Session, &hits[i].Source.State)
		}
		if len(hits) < scanPage {
			return nil
		}
		if after = hits[len(hits)-1].Sort; len(after) == 0 {
			return fmt.Errorf("elasticsearch: %s: hit %s without sort values", what, hits[len(hits)-1].ID)
		}
	}
}

// FunnelQueryBody is the bool filter of a funnel's sessions: the site's
// sessions starting in the range with a page view, on the devices, and —
// to read fewer of them — with a hit that can match the first step (the
// sessions index's clauses for a visited page or a custom event, which
// match exactly what traffic.MatchStep does).
func FunnelQueryBody(q traffic.FunnelQuery) (map[string]any, error) {
	sf := &searchv1.SessionFilter{
		StartTime:   &searchv1.TimeRange{Start: timestamppb.New(q.Start), End: timestamppb.New(q.End)},
		DeviceTypes: q.DeviceTypes,
	}
	if len(q.Steps) > 0 {
		switch m := q.Steps[0].GetMatch().(type) {
		case *trafficv1.FunnelStep_Page:
			sf.VisitedPage = m.Page
		case *trafficv1.FunnelStep_Event:
			sf.CustomEvent = m.Event
		}
	}
	fq, err := sessionsindex.FilterQuery(q.SiteID, sf)
	if err != nil {
		return nil, err
	}
	b := fq["bool"].(map[string]any)
	b["filter"] = append(b["filter"].([]any), hasPageView())
	return fq, nil
}

// reached answers the timeline items that reached each step, in order (a
// prefix of the steps): a session enters at its first item matching step
// 1 and reaches step k at its first item matching it after the one that
// reached step k-1.
func reached(tl []traffic.Item, steps []*trafficv1.FunnelStep) []traffic.Item {
	var out []traffic.Item
	for _, it := range tl {
		if len(out) == len(steps) {
			break
		}
		if traffic.MatchStep(steps[len(out)], it) {
			out = append(out, it)
		}
	}
	return out
}

// funnelSession is what a funnel keeps of one session.
type funnelSession struct {
	id       string
	start    time.Time
	recorded bool
	reached  []traffic.Item
}

func (s *Store) funnelScan(ctx context.Context, q traffic.FunnelQuery) ([]funnelSession, error) {
	fq, err := FunnelQueryBody(q)
	if err != nil {
		return nil, err
	}
	var out []funnelSession
	err = s.scan(ctx, q.SiteID, fq, funnelSource, "traffic funnel", func(id string, st *state) {
		if len(st.PVs) == 0 {
			return
		}
		r := reached(st.timeline(), q.Steps)
		if len(r) == 0 {
			return
		}
		out = append(out, funnelSession{id: id, start: time.Unix(0, st.PVs[0].T), recorded: st.Mark != nil, reached: r})
	})
	return out, err
}

// lowerMedian is the lower median at millisecond precision (as the
// proto's durations are compared); nil without values.
func lowerMedian(ds []time.Duration) *durationpb.Duration {
	if len(ds) == 0 {
		return nil
	}
	slices.Sort(ds)
	return durationpb.New(ds[(len(ds)-1)/2].Truncate(time.Millisecond))
}

// funnelResult counts the steps of the scanned sessions.
func funnelResult(ss []funnelSession, n int) *trafficv1.ComputeFunnelResponse {
	sessions := make([]int64, n)
	recorded := make([]int64, n)
	between := make([][]time.Duration, n)
	for _, s := range ss {
		for k := range s.reached {
			sessions[k]++
			if s.recorded {
				recorded[k]++
			}
			if k > 0 {
				between[k] = append(between[k], s.reached[k].Time.Sub(s.reached[k-1].Time))
			}
		}
	}
	out := &trafficv1.ComputeFunnelResponse{Steps: traffic.FunnelSteps(sessions, recorded)}
	for k := 1; k < n; k++ {
		out.Steps[k].MedianTimeFromPrevious = lowerMedian(between[k])
	}
	return out
}

// Funnel implements traffic.Store.
func (s *Store) Funnel(ctx context.Context, q traffic.FunnelQuery) (*trafficv1.ComputeFunnelResponse, error) {
	ss, err := s.funnelScan(ctx, q)
	if err != nil {
		return nil, err
	}
	return funnelResult(ss, len(q.Steps)), nil
}

// FunnelSessions implements traffic.Store.
func (s *Store) FunnelSessions(ctx context.Context, q traffic.FunnelQuery, step int, dropped bool, after *traffic.FunnelCursor, limit int) (traffic.FunnelPage, error) {
	if step < 0 || step >= len(q.Steps) || (dropped && step == 0) {
		return traffic.FunnelPage{}, fmt.Errorf("elasticsearch: funnel step %d (dropped %v) of %d", step, dropped, len(q.Steps))
	}
	ss, err := s.funnelScan(ctx, q)
	if err != nil {
		return traffic.FunnelPage{}, err
	}
	return funnelPage(ss, step, dropped, after, limit), nil
}

// funnelPage selects one step's sessions and pages through the recorded
// ones, newest start first, ties by session id descending.
func funnelPage(ss []funnelSession, step int, dropped bool, after *traffic.FunnelCursor, limit int) traffic.FunnelPage {
	var page traffic.FunnelPage
	var rec []funnelSession
	for _, f := range ss {
		n := len(f.reached)
		if (!dropped && n > step) || (dropped && n == step) {
			page.Total++
			if f.recorded {
				page.Recorded++
				rec = append(rec, f)
			}
		}
	}
	slices.SortFunc(rec, func(a, b funnelSession) int {
		return cmp.Or(b.start.Compare(a.start), cmp.Compare(b.id, a.id))
	})
	for i, f := range rec {
		if after != nil && !(f.start.Before(after.Start) || (f.start.Equal(after.Start) && f.id < after.SessionID)) {
			continue
		}
		if len(page.SessionIDs) == limit {
			last := rec[i-1]
			page.Next = &traffic.FunnelCursor{Start: last.start, SessionID: last.id}
			break
		}
		page.SessionIDs = append(page.SessionIDs, f.id)
	}
	return page
}

// RealtimeQuery selects a site's sessions with a hit in the 30 minutes
// before now or later (realtime's widest window).
func RealtimeQuery(siteID int64, now time.Time) map[string]any {
	return map[string]any{"bool": map[string]any{"filter": []any{
		term(fSite, routing(siteID)),
		hasPageView(),
		rangeQ(fLastHit, map[string]any{"gt": ts(now.Add(-30 * time.Minute))}),
	}}}
}

// Realtime implements traffic.Store.
func (s *Store) Realtime(ctx context.Context, siteID int64, now time.Time) (*trafficv1.GetRealtimeResponse, error) {
	rt := newRealtime(now)
	if err := s.scan(ctx, siteID, RealtimeQuery(siteID, now), realtimeSource, "traffic realtime", func(_ string, st *state) { rt.add(st) }); err != nil {
		return nil, err
	}
	return rt.result(), nil
}

// realtime counts hits into (now-window, now] and per minute.
type realtime struct {
	now      int64
	out      *trafficv1.GetRealtimeResponse
	visitors map[string]bool
	latest   map[string]pageView
}

func newRealtime(now time.Time) *realtime {
	return &realtime{
		now: now.UnixNano(), visitors: map[string]bool{}, latest: map[string]pageView{},
		out: &trafficv1.GetRealtimeResponse{AsOf: timestamppb.New(now), PerMinute: make([]int64, 30)},
	}
}

func (r *realtime) inWindow(t int64) bool {
	return t > r.now-int64(traffic.RealtimeWindow) && t <= r.now
}

func (r *realtime) add(st *state) {
	if len(st.PVs) == 0 {
		return
	}
	visitor := st.PVs[0].Visitor
	for _, p := range st.PVs {
		if p.T <= r.now && p.T > r.now-int64(30*time.Minute) {
			// Minute i covers (now-(30-i) min, now-(29-i) min].
			ago := r.now - p.T // in [0, 30 min)
			r.out.PerMinute[29-int((ago)/int64(time.Minute))]++
		}
		for _, l := range p.Leaves {
			if r.inWindow(l) {
				r.visitors[cmp.Or(p.Visitor, visitor)] = true
			}
		}
		if !r.inWindow(p.T) {
			continue
		}
		r.visitors[p.Visitor] = true
		r.out.PageViews++
		if l, ok := r.latest[p.Visitor]; !ok || p.T > l.T || (p.T == l.T && p.ID > l.ID) {
			r.latest[p.Visitor] = p
		}
	}
	for _, e := range st.Events {
		if r.inWindow(e.T) {
			r.visitors[cmp.Or(e.Visitor, visitor)] = true
		}
	}
	for _, l := range st.Pending {
		for _, t := range l.Times {
			if r.inWindow(t) {
				r.visitors[cmp.Or(l.Visitor, visitor)] = true
			}
		}
	}
}

func (r *realtime) result() *trafficv1.GetRealtimeResponse {
	r.out.Visitors = int64(len(r.visitors))
	pages := map[string]int64{}
	for _, p := range r.latest {
		pages[index.PageKey(p.URL)]++
	}
	for p, n := range pages {
		r.out.Pages = append(r.out.Pages, &trafficv1.RealtimePage{Page: p, Visitors: n})
	}
	slices.SortFunc(r.out.Pages, func(a, b *trafficv1.RealtimePage) int {
		return cmp.Or(cmp.Compare(b.Visitors, a.Visitors), cmp.Compare(a.Page, b.Page))
	})
	if len(r.out.Pages) > traffic.RealtimePages {
		r.out.Pages = r.out.Pages[:traffic.RealtimePages]
	}
	return r.out
}
