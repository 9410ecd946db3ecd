package embedded

import (
	"cmp"
	"context"
	"slices"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	trafficv1 "github.com/sightlinehq/sightline/gen/sightline/traffic/v1"
	"github.com/sightlinehq/sightline/svc-search/index"
	"github.com/sightlinehq/sightline/svc-search/traffic"
)

// perMinute is how many minutes Realtime's per_minute covers.
const perMinute = 30

// realtime accumulates Realtime's answer.
type realtime struct {
	n, wlo int64
	out    *trafficv1.GetRealtimeResponse
	active map[string]bool
	last   map[string]latestView // each visitor's latest page view in the window
}

type latestView struct {
	t        int64
	pv, page string
}

func (rt *realtime) in(t int64) bool { return t > rt.wlo && t <= rt.n }

// view counts one page view.
func (rt *realtime) view(visitor string, t int64, pv string, page func() string) {
	if d := rt.n - t; d >= 0 && d < perMinute*int64(time.Minute) {
		rt.out.PerMinute[perMinute-1-int(d/int64(time.Minute))]++
	}
	if !rt.in(t) {
		return
	}
	rt.out.PageViews++
	rt.active[visitor] = true
	if b, ok := rt.last[visitor]; !ok || t > b.t || (t == b.t && pv > b.pv) {
		rt.last[visitor] = latestView{t, pv, page()}
	}
}

// Realtime answers the hits of one site with Time in (now-RealtimeWindow,
// now]. Sessions whose latest hit is at most now are answered from the
// in-memory copy: a session has a hit in the window exactly when its
// latest one is in it, and its page views are on its timeline (page views
// of one session tie-break by their timeline order, which is by page view
// id; a session's hits count for its visitor, its entry page view's).
// The rare sessions with hits after now are read whole from Pebble.
func (s *Store) Realtime(ctx context.Context, siteID int64, now time.Time) (*trafficv1.GetRealtimeResponse, error) {
	l, err := s.site(ctx, siteID)
	if err != nil {
		return nil, err
	}
	defer s.life.RUnlock() // l.done() less the site's lock, released below
	n := now.UnixNano()
	rt := &realtime{
		n: n, wlo: n - int64(traffic.RealtimeWindow),
		out:    &trafficv1.GetRealtimeResponse{AsOf: timestamppb.New(now), PerMinute: make([]int64, perMinute)},
		active: map[string]bool{}, last: map[string]latestView{},
	}
	mlo := n - perMinute*int64(time.Minute)
	st := l.s
	var later []string
	for i := range st.rows {
		r := &st.rows[i]
		if r.flags&rowLive == 0 || r.last <= mlo {
			continue
		}
		if r.last > n {
			later = append(later, st.sids.get(uint32(i)))
			continue
		}
		visitor := st.vis.get(r.visitor)
		if r.last > rt.wlo {
			rt.active[visitor] = true
		}
		ts, vs := st.timeline(r)
		for j, v := range vs {
			if v&evBit == 0 && ts[j] > mlo {
				// Within a session, later on the timeline at one time means
				// a larger page view id: the position (big-endian, so its
				// bytes order as it does) stands in for the id.
				pos := string([]byte{byte(j >> 8), byte(j)})
				rt.view(visitor, ts[j], pos, func() string { return st.strs.s[st.keyOf[v]] })
			}
		}
	}
	l.mu.RUnlock()
	for _, id := range later {
		ss, err := s.get(siteID, id)
		if err != nil {
			return nil, err
		}
		if ss == nil || !ss.hasPageView() {
			continue // deleted since
		}
		for i := range ss.pvs {
			p := &ss.pvs[i]
			for _, t := range p.leaves {
				if rt.in(t) {
					rt.active[p.visitor] = true
				}
			}
			if p.seen {
				rt.view(p.visitor, p.time, p.id, func() string { return index.PageKey(p.url) })
			}
		}
		for i := range ss.events {
			if rt.in(ss.events[i].time) {
				rt.active[ss.events[i].visitor] = true
			}
		}
	}
	out := rt.out
	out.Visitors = int64(len(rt.active))
	byPage := map[string]int64{}
	for _, b := range rt.last {
		byPage[b.page]++
	}
	for p, v := range byPage {
		out.Pages = append(out.Pages, &trafficv1.RealtimePage{Page: p, Visitors: v})
	}
	slices.SortFunc(out.Pages, func(a, b *trafficv1.RealtimePage) int {
		if a.Visitors != b.Visitors {
			return cmp.Compare(b.Visitors, a.Visitors)
		}
		return cmp.Compare(a.Page, b.Page)
	})
	out.Pages = out.Pages[:min(len(out.Pages), traffic.RealtimePages)]
	return out, nil
}
