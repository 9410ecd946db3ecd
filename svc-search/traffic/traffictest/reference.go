// Package traffictest is the conformance suite of traffic.Store: every
// backend runs Run with a constructor of fresh, empty stores, and its
// answers are compared with Reference, an in-memory store that evaluates
// every query naively, straight from the counting rules in
// proto/sightline/traffic/v1/traffic.proto and the contract on
// traffic.Store. Reference is also what the bench and other tests can use
// as a store.
package traffictest

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	sessionsv1 "github.com/sightlinehq/sightline/gen/sightline/sessions/v1"
	trafficv1 "github.com/sightlinehq/sightline/gen/sightline/traffic/v1"
	"github.com/sightlinehq/sightline/referrer"
	"github.com/sightlinehq/sightline/svc-search/index"
	"github.com/sightlinehq/sightline/svc-search/traffic"
)

// Derivations every backend shares (the suite pins them): page keys are
// index.PageKey (pagerule.Key, or the URL as is when it is not http(s));
// a session's referrer domain is referrer.External of its entry page
// ("" is direct: no referrer, or the page's own site) and its UTM tags
// referrer.UTM of its entry page URL; device types are index.DeviceName.

// ScreenSize is "1920x1080", "" when unknown.
func ScreenSize(w, h int32) string {
	if w <= 0 || h <= 0 {
		return ""
	}
	return fmt.Sprintf("%dx%d", w, h)
}

type sessionKey struct {
	site int64
	id   string
}

type eventKey struct {
	pageViewID, name string
	at               int64
}

// stored is what Reference keeps of one (site, session id).
type stored struct {
	views  map[string]traffic.Hit // PAGE_VIEW by page view id
	leaves map[string]time.Duration
	// leaveHits are the leaves as delivered (realtime counts their visitors).
	leaveHits []traffic.Hit
	events    map[eventKey]traffic.Hit
	// latest hit time and largest retention, for Sweep.
	latest    time.Time
	retention int32
}

// Reference is the reference traffic.Store: hits kept as they came, every
// answer recomputed from them. Safe for concurrent use; slow by design.
type Reference struct {
	mu       sync.Mutex
	sessions map[sessionKey]*stored
	marks    map[sessionKey]traffic.Recorded
}

var _ traffic.Store = (*Reference)(nil)

// NewReference returns an empty reference store.
func NewReference() *Reference {
	return &Reference{sessions: map[sessionKey]*stored{}, marks: map[sessionKey]traffic.Recorded{}}
}

// AddHits implements traffic.Store.
func (r *Reference) AddHits(_ context.Context, hits []traffic.Hit) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, h := range hits {
		k := sessionKey{h.SiteID, h.SessionID}
		s := r.sessions[k]
		if s == nil {
			s = &stored{views: map[string]traffic.Hit{}, leaves: map[string]time.Duration{}, events: map[eventKey]traffic.Hit{}}
			r.sessions[k] = s
		}
		if h.Time.After(s.latest) {
			s.latest = h.Time
		}
		s.retention = max(s.retention, h.RetentionDays)
		switch h.Kind {
		case sessionsv1.HitKind_HIT_KIND_PAGE_VIEW:
			if _, ok := s.views[h.PageViewID]; !ok && len(s.views) < traffic.MaxPageViewsPerSession {
				s.views[h.PageViewID] = h
			}
		case sessionsv1.HitKind_HIT_KIND_PAGE_LEAVE:
			s.leaves[h.PageViewID] = max(s.leaves[h.PageViewID], min(h.Duration, traffic.MaxLeave))
			s.leaveHits = append(s.leaveHits, h)
		case sessionsv1.HitKind_HIT_KIND_EVENT:
			ek := eventKey{h.PageViewID, h.Event, h.Time.UnixNano()}
			if _, ok := s.events[ek]; !ok && len(s.events) < traffic.MaxEventsPerSession {
				s.events[ek] = h
			}
		default:
			return fmt.Errorf("reference: hit of kind %v", h.Kind)
		}
	}
	return nil
}

// SetRecorded implements traffic.Store.
func (r *Reference) SetRecorded(_ context.Context, marks []traffic.Recorded) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, m := range marks {
		k := sessionKey{m.SiteID, m.SessionID}
		if old, ok := r.marks[k]; ok && m.Version < old.Version {
			continue
		}
		r.marks[k] = m
	}
	return nil
}

// Delete implements traffic.Store.
func (r *Reference) Delete(_ context.Context, siteID int64, sel index.Selector) (int64, error) {
	if err := sel.Validate(); err != nil {
		return 0, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	chosen := func(k sessionKey, s *stored) bool {
		switch {
		case k.site != siteID:
			return false
		case sel.WholeSite:
			return true
		case len(sel.SessionIDs) > 0:
			return slices.Contains(sel.SessionIDs, k.id)
		case sel.VisitorID != "":
			if s == nil {
				return false
			}
			for _, v := range s.views {
				if v.VisitorID == sel.VisitorID {
					return true
				}
			}
			for _, e := range s.events {
				if e.VisitorID == sel.VisitorID {
					return true
				}
			}
			return slices.ContainsFunc(s.leaveHits, func(l traffic.Hit) bool { return l.VisitorID == sel.VisitorID })
		default:
			v, ok := s.view(k, traffic.Recorded{}, false)
			return ok && v.Start.Before(sel.StartedBefore)
		}
	}
	var n int64
	for k, s := range r.sessions {
		if chosen(k, s) {
			if len(s.views) > 0 {
				n++
			}
			delete(r.sessions, k)
			delete(r.marks, k)
		}
	}
	for k := range r.marks {
		if _, ok := r.sessions[k]; !ok && chosen(k, nil) {
			delete(r.marks, k)
		}
	}
	return n, nil
}

// Sweep implements traffic.Store.
func (r *Reference) Sweep(_ context.Context, now time.Time, defaultRetention time.Duration) (int64, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var n int64
	for k, s := range r.sessions {
		keep := defaultRetention
		if s.retention > 0 {
			keep = time.Duration(s.retention) * 24 * time.Hour
		}
		if s.latest.Add(keep).Before(now) {
			if len(s.views) > 0 {
				n++
			}
			delete(r.sessions, k)
			delete(r.marks, k)
		}
	}
	return n, nil
}

// Session is one counted traffic session, derived by the counting rules.
type Session struct {
	SiteID    int64
	ID        string
	VisitorID string
	Start     time.Time
	Duration  time.Duration
	// Views are the page views in timeline order; Timeline every page
	// view and event in it (traffic.Compare).
	Views    []traffic.Hit
	Timeline []traffic.Item
	Entry    string // page keys
	Exit     string
	Referrer string // referrer.External
	Source   string
	Medium   string
	Campaign string
	Country  string
	Device   sessionsv1.DeviceType
	Browser  string
	OS       string
	Screen   string
	Recorded bool
	Mark     traffic.Recorded
}

// Bounced tells whether the session has exactly one page view.
func (s *Session) Bounced() bool { return len(s.Views) == 1 }

// view derives the counted session of s; false without a page view.
func (s *stored) view(k sessionKey, mark traffic.Recorded, recorded bool) (*Session, bool) {
	if s == nil || len(s.views) == 0 {
		return nil, false
	}
	var views []traffic.Hit
	var tl []traffic.Item
	for _, v := range s.views {
		views = append(views, v)
		tl = append(tl, traffic.Item{Time: v.Time, PageViewID: v.PageViewID, URL: v.URL})
	}
	for _, e := range s.events {
		tl = append(tl, traffic.Item{Time: e.Time, Event: true, PageViewID: e.PageViewID, Name: e.Event})
	}
	slices.SortFunc(views, func(a, b traffic.Hit) int {
		return cmp.Or(a.Time.Compare(b.Time), cmp.Compare(a.PageViewID, b.PageViewID))
	})
	slices.SortFunc(tl, traffic.Compare)
	first, last := views[0], views[len(views)-1]
	end := first.Time
	for _, v := range views {
		if e := v.Time.Add(s.leaves[v.PageViewID]); e.After(end) {
			end = e
		}
	}
	for _, e := range s.events {
		if e.Time.After(end) {
			end = e.Time
		}
	}
	src, med, camp := referrer.UTM(first.URL)
	return &Session{
		SiteID: k.site, ID: k.id, VisitorID: first.VisitorID,
		Start: first.Time, Duration: end.Sub(first.Time),
		Views: views, Timeline: tl,
		Entry: index.PageKey(first.URL), Exit: index.PageKey(last.URL),
		Referrer: referrer.External(first.URL, first.Referrer),
		Source:   src, Medium: med, Campaign: camp,
		Country: first.Country, Device: first.Device, Browser: first.Browser, OS: first.OS,
		Screen:   ScreenSize(first.ScreenW, first.ScreenH),
		Recorded: recorded, Mark: mark,
	}, true
}

// Sessions answers every counted session of a site (any start), in no
// particular order.
func (r *Reference) Sessions(siteID int64) []*Session {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []*Session
	for k, s := range r.sessions {
		if k.site != siteID {
			continue
		}
		m, rec := r.marks[k]
		if v, ok := s.view(k, m, rec); ok {
			out = append(out, v)
		}
	}
	return out
}

// Passes tells whether a session passes a traffic filter.
func Passes(f *trafficv1.TrafficFilter, s *Session) bool {
	if f == nil {
		return true
	}
	in := func(want []string, got string) bool { return len(want) == 0 || slices.Contains(want, got) }
	eq := func(want, got string) bool { return want == "" || want == got }
	if len(f.GetDeviceTypes()) > 0 && !slices.Contains(f.GetDeviceTypes(), s.Device) {
		return false
	}
	if !in(f.GetCountries(), s.Country) || !in(f.GetBrowsers(), s.Browser) || !in(f.GetOses(), s.OS) {
		return false
	}
	if !eq(f.GetReferrerDomain(), s.Referrer) || (f.GetDirect() && s.Referrer != "") {
		return false
	}
	if !eq(f.GetUtmSource(), s.Source) || !eq(f.GetUtmMedium(), s.Medium) || !eq(f.GetUtmCampaign(), s.Campaign) {
		return false
	}
	if !eq(f.GetScreenSize(), s.Screen) {
		return false
	}
	if f.GetVisitedPage().GetValue() != "" && !slices.ContainsFunc(s.Views, func(v traffic.Hit) bool { return traffic.MatchPage(f.GetVisitedPage(), v.URL) }) {
		return false
	}
	if !traffic.MatchPage(f.GetEntryPage(), s.Views[0].URL) || !traffic.MatchPage(f.GetExitPage(), s.Views[len(s.Views)-1].URL) {
		return false
	}
	return true
}

// selected answers the site's sessions starting in [start, end) that pass f.
func (r *Reference) selected(siteID int64, start, end time.Time, f *trafficv1.TrafficFilter) []*Session {
	var out []*Session
	for _, s := range r.Sessions(siteID) {
		if !s.Start.Before(start) && s.Start.Before(end) && Passes(f, s) {
			out = append(out, s)
		}
	}
	return out
}

// Totals computes the tiles of a set of sessions.
func Totals(ss []*Session) *trafficv1.TrafficTotals {
	t := &trafficv1.TrafficTotals{}
	visitors := map[string]bool{}
	var durs []time.Duration
	var rage, dead, errs int64
	for _, s := range ss {
		visitors[s.VisitorID] = true
		t.Sessions++
		t.PageViews += int64(len(s.Views))
		if s.Bounced() {
			t.Bounces++
		}
		durs = append(durs, s.Duration)
		if s.Recorded {
			t.RecordedSessions++
			if s.Mark.Rage {
				rage++
			}
			if s.Mark.Dead {
				dead++
			}
			if s.Mark.Errors {
				errs++
			}
		}
	}
	t.Visitors = int64(len(visitors))
	if t.Sessions > 0 {
		t.ViewsPerSession = float64(t.PageViews) / float64(t.Sessions)
		t.BounceRate = float64(t.Bounces) / float64(t.Sessions)
		t.MedianDuration = LowerMedian(durs)
	}
	if n := float64(t.RecordedSessions); n > 0 {
		t.RageClickRate = proto.Float64(float64(rage) / n)
		t.DeadClickRate = proto.Float64(float64(dead) / n)
		t.ErrorRate = proto.Float64(float64(errs) / n)
	}
	return t
}

// LowerMedian is the lower median of ds at millisecond precision; nil
// when ds is empty.
func LowerMedian(ds []time.Duration) *durationpb.Duration {
	if len(ds) == 0 {
		return nil
	}
	ds = slices.Clone(ds)
	slices.Sort(ds)
	return durationpb.New(ds[(len(ds)-1)/2].Truncate(time.Millisecond))
}

// Overview implements traffic.Store.
func (r *Reference) Overview(_ context.Context, q traffic.Query, iv trafficv1.TrafficInterval) (*trafficv1.GetTrafficOverviewResponse, error) {
	cur := r.selected(q.SiteID, q.Start, q.End, q.Filter)
	prev := r.selected(q.SiteID, q.Start.Add(-q.End.Sub(q.Start)), q.Start, q.Filter)
	starts, err := traffic.Buckets(q.Start, q.End, iv, q.Loc())
	if err != nil {
		return nil, err
	}
	out := &trafficv1.GetTrafficOverviewResponse{Current: Totals(cur), Previous: Totals(prev), Interval: iv}
	for _, b := range starts {
		var in []*Session
		for _, s := range cur {
			if traffic.BucketStart(s.Start, iv, q.Loc()).Equal(b) {
				in = append(in, s)
			}
		}
		t := Totals(in)
		out.Series = append(out.Series, &trafficv1.TrafficBucket{Start: timestamppb.New(b), Visitors: t.Visitors, Sessions: t.Sessions, PageViews: t.PageViews})
	}
	return out, nil
}

// DimensionValue is the value a session has in a dimension (PAGE has
// one per page view: see Breakdown).
func DimensionValue(s *Session, dim trafficv1.TrafficDimension) string {
	switch dim {
	case trafficv1.TrafficDimension_TRAFFIC_DIMENSION_ENTRY_PAGE:
		return s.Entry
	case trafficv1.TrafficDimension_TRAFFIC_DIMENSION_EXIT_PAGE:
		return s.Exit
	case trafficv1.TrafficDimension_TRAFFIC_DIMENSION_REFERRER:
		return s.Referrer
	case trafficv1.TrafficDimension_TRAFFIC_DIMENSION_UTM_SOURCE:
		return s.Source
	case trafficv1.TrafficDimension_TRAFFIC_DIMENSION_UTM_MEDIUM:
		return s.Medium
	case trafficv1.TrafficDimension_TRAFFIC_DIMENSION_UTM_CAMPAIGN:
		return s.Campaign
	case trafficv1.TrafficDimension_TRAFFIC_DIMENSION_COUNTRY:
		return s.Country
	case trafficv1.TrafficDimension_TRAFFIC_DIMENSION_DEVICE_TYPE:
		return index.DeviceName(s.Device)
	case trafficv1.TrafficDimension_TRAFFIC_DIMENSION_BROWSER:
		return s.Browser
	case trafficv1.TrafficDimension_TRAFFIC_DIMENSION_OS:
		return s.OS
	case trafficv1.TrafficDimension_TRAFFIC_DIMENSION_SCREEN_SIZE:
		return s.Screen
	}
	return ""
}

// Breakdown implements traffic.Store.
func (r *Reference) Breakdown(_ context.Context, q traffic.Query, dim trafficv1.TrafficDimension, limit int) (*trafficv1.GetTrafficBreakdownResponse, error) {
	ss := r.selected(q.SiteID, q.Start, q.End, q.Filter)
	rows := map[string]*trafficv1.TrafficRow{}
	row := func(v string) *trafficv1.TrafficRow {
		if rows[v] == nil {
			rows[v] = &trafficv1.TrafficRow{Value: v}
		}
		return rows[v]
	}
	for _, s := range ss {
		if dim != trafficv1.TrafficDimension_TRAFFIC_DIMENSION_PAGE {
			rw := row(DimensionValue(s, dim))
			rw.Sessions++
			rw.PageViews += int64(len(s.Views))
			if s.Bounced() {
				rw.Bounces++
			}
			continue
		}
		seen := map[string]bool{}
		for _, v := range s.Views {
			k := index.PageKey(v.URL)
			rw := row(k)
			rw.PageViews++
			if !seen[k] {
				seen[k] = true
				rw.Sessions++
				if s.Bounced() {
					rw.Bounces++
				}
			}
		}
	}
	out := &trafficv1.GetTrafficBreakdownResponse{Dimension: dim, TotalValues: int64(len(rows)), Sessions: int64(len(ss))}
	for _, rw := range rows {
		out.Rows = append(out.Rows, rw)
	}
	slices.SortFunc(out.Rows, func(a, b *trafficv1.TrafficRow) int {
		return cmp.Or(cmp.Compare(b.Sessions, a.Sessions), cmp.Compare(a.Value, b.Value))
	})
	if len(out.Rows) > limit {
		out.Rows = out.Rows[:limit]
	}
	return out, nil
}

// Realtime implements traffic.Store.
func (r *Reference) Realtime(_ context.Context, siteID int64, now time.Time) (*trafficv1.GetRealtimeResponse, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	in := func(t time.Time, from, to time.Time) bool { return t.After(from) && !t.After(to) }
	from := now.Add(-traffic.RealtimeWindow)
	out := &trafficv1.GetRealtimeResponse{AsOf: timestamppb.New(now), PerMinute: make([]int64, 30)}
	visitors := map[string]bool{}
	latest := map[string]traffic.Hit{} // visitor's latest page view in the window
	for k, s := range r.sessions {
		if k.site != siteID || len(s.views) == 0 {
			continue
		}
		for _, v := range s.views {
			for i := range 30 {
				if in(v.Time, now.Add(-time.Duration(30-i)*time.Minute), now.Add(-time.Duration(29-i)*time.Minute)) {
					out.PerMinute[i]++
				}
			}
			if !in(v.Time, from, now) {
				continue
			}
			visitors[v.VisitorID] = true
			out.PageViews++
			if l, ok := latest[v.VisitorID]; !ok || v.Time.After(l.Time) || (v.Time.Equal(l.Time) && v.PageViewID > l.PageViewID) {
				latest[v.VisitorID] = v
			}
		}
		// Leaves and events count their visitors too.
		for _, e := range s.events {
			if in(e.Time, from, now) {
				visitors[e.VisitorID] = true
			}
		}
		for _, l := range s.leaveHits {
			if in(l.Time, from, now) {
				visitors[l.VisitorID] = true
			}
		}
	}
	out.Visitors = int64(len(visitors))
	pages := map[string]int64{}
	for _, v := range latest {
		pages[index.PageKey(v.URL)]++
	}
	for p, n := range pages {
		out.Pages = append(out.Pages, &trafficv1.RealtimePage{Page: p, Visitors: n})
	}
	slices.SortFunc(out.Pages, func(a, b *trafficv1.RealtimePage) int {
		return cmp.Or(cmp.Compare(b.Visitors, a.Visitors), cmp.Compare(a.Page, b.Page))
	})
	if len(out.Pages) > traffic.RealtimePages {
		out.Pages = out.Pages[:traffic.RealtimePages]
	}
	return out, nil
}

// Reached answers, for a session, the timeline item that reached each
// step (a prefix of steps: those it reached).
func Reached(s *Session, steps []*trafficv1.FunnelStep) []traffic.Item {
	var out []traffic.Item
	for _, it := range s.Timeline {
		if len(out) == len(steps) {
			break
		}
		if traffic.MatchStep(steps[len(out)], it) {
			out = append(out, it)
		}
	}
	return out
}

func (r *Reference) funnelSessions(q traffic.FunnelQuery) []*Session {
	var out []*Session
	for _, s := range r.selected(q.SiteID, q.Start, q.End, nil) {
		if len(q.DeviceTypes) == 0 || slices.Contains(q.DeviceTypes, s.Device) {
			out = append(out, s)
		}
	}
	return out
}

// Funnel implements traffic.Store.
func (r *Reference) Funnel(_ context.Context, q traffic.FunnelQuery) (*trafficv1.ComputeFunnelResponse, error) {
	ss := r.funnelSessions(q)
	n := len(q.Steps)
	reached := make([]int64, n)
	recorded := make([]int64, n)
	between := make([][]time.Duration, n)
	for _, s := range ss {
		its := Reached(s, q.Steps)
		for k := range its {
			reached[k]++
			if s.Recorded {
				recorded[k]++
			}
			if k > 0 {
				between[k] = append(between[k], its[k].Time.Sub(its[k-1].Time))
			}
		}
	}
	out := &trafficv1.ComputeFunnelResponse{Steps: traffic.FunnelSteps(reached, recorded)}
	for k := 1; k < n; k++ {
		out.Steps[k].MedianTimeFromPrevious = LowerMedian(between[k])
	}
	return out, nil
}

// FunnelSessions implements traffic.Store.
func (r *Reference) FunnelSessions(_ context.Context, q traffic.FunnelQuery, step int, dropped bool, after *traffic.FunnelCursor, limit int) (traffic.FunnelPage, error) {
	if step < 0 || step >= len(q.Steps) || (dropped && step == 0) {
		return traffic.FunnelPage{}, fmt.Errorf("reference: step %d (dropped %v) of %d", step, dropped, len(q.Steps))
	}
	var page traffic.FunnelPage
	var rec []*Session
	for _, s := range r.funnelSessions(q) {
		n := len(Reached(s, q.Steps))
		if (!dropped && n > step) || (dropped && n == step) {
			page.Total++
			if s.Recorded {
				page.Recorded++
				rec = append(rec, s)
			}
		}
	}
	slices.SortFunc(rec, func(a, b *Session) int { return cmp.Or(b.Start.Compare(a.Start), cmp.Compare(b.ID, a.ID)) })
	for _, s := range rec {
		if after != nil && !(s.Start.Before(after.Start) || (s.Start.Equal(after.Start) && s.ID < after.SessionID)) {
			continue
		}
		if len(page.SessionIDs) == limit {
			last := page.SessionIDs[len(page.SessionIDs)-1]
			i := slices.IndexFunc(rec, func(x *Session) bool { return x.ID == last })
			page.Next = &traffic.FunnelCursor{Start: rec[i].Start, SessionID: last}
			break
		}
		page.SessionIDs = append(page.SessionIDs, s.ID)
	}
	return page, nil
}

// Ready implements traffic.Store.
func (r *Reference) Ready(context.Context) error { return nil }

// Close implements traffic.Store.
func (r *Reference) Close() error { return nil }
