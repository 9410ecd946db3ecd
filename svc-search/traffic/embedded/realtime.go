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

// Realtime answers the hits of one site with Time in (now-RealtimeWindow,
// now]. The sessions with a hit in the last half hour are found from the
// in-memory copy (each row knows its latest hit); their hits, leaves
// included, are read from Pebble.
func (s *Store) Realtime(ctx context.Context, siteID int64, now time.Time) (*trafficv1.GetRealtimeResponse, error) {
	l, err := s.site(ctx, siteID)
	if err != nil {
		return nil, err
	}
	defer s.life.RUnlock() // l.done() less the site's lock, released below
	n := now.UnixNano()
	wlo := n - int64(traffic.RealtimeWindow)
	mlo := n - perMinute*int64(time.Minute)
	var ids []string
	for i := range l.s.rows {
		if r := &l.s.rows[i]; r.flags&rowLive != 0 && r.last > mlo {
			ids = append(ids, l.s.sids.get(uint32(i)))
		}
	}
	l.mu.RUnlock()
	out := &trafficv1.GetRealtimeResponse{AsOf: timestamppb.New(now), PerMinute: make([]int64, perMinute)}
	type latest struct {
		t        int64
		pv, page string
	}
	active := map[string]bool{}
	last := map[string]latest{}
	in := func(t int64) bool { return t > wlo && t <= n }
	for _, id := range ids {
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
				if in(t) {
					active[p.visitor] = true
				}
			}
			if !p.seen {
				continue
			}
			if d := n - p.time; d >= 0 && d < perMinute*int64(time.Minute) {
				out.PerMinute[perMinute-1-int(d/int64(time.Minute))]++
			}
			if !in(p.time) {
				continue
			}
			out.PageViews++
			active[p.visitor] = true
			if b, ok := last[p.visitor]; !ok || p.time > b.t || (p.time == b.t && p.id > b.pv) {
				last[p.visitor] = latest{p.time, p.id, index.PageKey(p.url)}
			}
		}
		for i := range ss.events {
			if in(ss.events[i].time) {
				active[ss.events[i].visitor] = true
			}
		}
	}
	out.Visitors = int64(len(active))
	byPage := map[string]int64{}
	for _, b := range last {
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
