package embedded

import (
	"cmp"
	"context"
	"slices"
	"strings"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"

	trafficv1 "github.com/sightlinehq/sightline/gen/sightline/traffic/v1"
	"github.com/sightlinehq/sightline/svc-search/traffic"
)

// step is a funnel step compiled against a site's dictionaries.
type step struct {
	event bool
	name  int64  // event: the name's id, -1 when no session has it
	urls  []bool // page: by URL id; nil matches every page view
}

func (st *site) steps(in []*trafficv1.FunnelStep) []step {
	out := make([]step, len(in))
	for i, fs := range in {
		switch m := fs.GetMatch().(type) {
		case *trafficv1.FunnelStep_Event:
			out[i] = step{event: true, name: -1}
			if id, ok := st.strs.lookup(m.Event); ok {
				out[i].name = int64(id)
			}
		case *trafficv1.FunnelStep_Page:
			out[i] = step{urls: st.matchURLs(m.Page)}
		default: // no match: no hit satisfies it
			out[i] = step{event: true, name: -1}
		}
	}
	return out
}

// walk answers how many steps a session reached, and when it reached
// each (at).
func walk(st *site, r *row, steps []step, at []int64) int {
	k := 0
	ts, vs := st.timeline(r)
	for j, v := range vs {
		s := &steps[k]
		if (v&evBit != 0) != s.event {
			continue
		}
		if s.event {
			if int64(v&^evBit) != s.name {
				continue
			}
		} else if s.urls != nil && !s.urls[v] {
			continue
		}
		at[k] = ts[j]
		if k++; k == len(steps) {
			break
		}
	}
	return k
}

// funnelRows calls fn for every session a funnel query selects, with the
// steps it reached, from w goroutines (fn's first argument).
func (st *site) funnelRows(q traffic.FunnelQuery, w int, fn func(w, i int, r *row, k int, at []int64)) {
	steps := st.steps(q.Steps)
	if len(steps) == 0 {
		return
	}
	var devices []uint8
	for _, d := range q.DeviceTypes {
		devices = append(devices, uint8(d))
	}
	lo, hi := q.Start.UnixNano(), q.End.UnixNano()
	parallel(len(st.rows), w, func(w, from, to int) {
		at := make([]int64, len(steps))
		for i := from; i < to; i++ {
			r := &st.rows[i]
			if r.flags&rowLive == 0 || r.start < lo || r.start >= hi || (devices != nil && !slices.Contains(devices, r.device)) {
				continue
			}
			fn(w, i, r, walk(st, r, steps, at), at)
		}
	})
}

// Funnel answers one result per step.
func (s *Store) Funnel(ctx context.Context, q traffic.FunnelQuery) (*trafficv1.ComputeFunnelResponse, error) {
	l, err := s.site(ctx, q.SiteID)
	if err != nil {
		return nil, err
	}
	defer l.done()
	n := len(q.Steps)
	type part struct {
		reached, dropped, droppedRec []int64
		gaps                         [][]int64
	}
	ps := make([]part, l.s.workers())
	for w := range ps {
		ps[w] = part{make([]int64, n), make([]int64, n), make([]int64, n), make([][]int64, n)}
	}
	l.s.funnelRows(q, len(ps), func(w, _ int, r *row, k int, at []int64) {
		p := &ps[w]
		for j := 0; j < k; j++ {
			p.reached[j]++
			if j > 0 {
				p.gaps[j] = append(p.gaps[j], at[j]-at[j-1])
			}
		}
		if k >= 1 && k < n {
			p.dropped[k]++
			if r.flags&rowMarked != 0 {
				p.droppedRec[k]++
			}
		}
	})
	reached, dropped, droppedRec, gaps := ps[0].reached, ps[0].dropped, ps[0].droppedRec, ps[0].gaps
	for _, p := range ps[1:] {
		for j := range n {
			reached[j] += p.reached[j]
			dropped[j] += p.dropped[j]
			droppedRec[j] += p.droppedRec[j]
			gaps[j] = append(gaps[j], p.gaps[j]...)
		}
	}
	// The drop-offs as counted (the sessions that reached exactly j steps).
	out := &trafficv1.ComputeFunnelResponse{Steps: traffic.FunnelSteps(reached, nil)}
	for j, res := range out.Steps {
		res.Dropped, res.DroppedRecorded = dropped[j], droppedRec[j]
		if j > 0 && len(gaps[j]) > 0 {
			res.MedianTimeFromPrevious = durationpb.New(time.Duration(lowerMedian(gaps[j])).Truncate(time.Millisecond))
		}
	}
	return out, nil
}

// FunnelSessions answers the sessions of one step and a page of the
// recorded ones' ids, newest start first (ties: session id descending).
func (s *Store) FunnelSessions(ctx context.Context, q traffic.FunnelQuery, stepIdx int, dropped bool, after *traffic.FunnelCursor, limit int) (traffic.FunnelPage, error) {
	var page traffic.FunnelPage
	if stepIdx < 0 || stepIdx >= len(q.Steps) || (dropped && stepIdx == 0) {
		return page, nil
	}
	l, err := s.site(ctx, q.SiteID)
	if err != nil {
		return page, err
	}
	defer l.done()
	st := l.s
	type hit struct {
		start int64
		id    string
	}
	type part struct {
		rec             []hit
		total, recorded int64
	}
	ps := make([]part, st.workers())
	var cs int64
	var cid string
	if after != nil {
		cs, cid = after.Start.UnixNano(), after.SessionID
	}
	st.funnelRows(q, len(ps), func(w, i int, r *row, k int, _ []int64) {
		if (dropped && k != stepIdx) || (!dropped && k <= stepIdx) {
			return
		}
		p := &ps[w]
		p.total++
		if r.flags&rowMarked == 0 {
			return
		}
		p.recorded++
		if after != nil && (r.start > cs || (r.start == cs && string(st.sids.bytes(uint32(i))) >= cid)) {
			return
		}
		p.rec = append(p.rec, hit{r.start, st.sids.get(uint32(i))})
	})
	var rec []hit
	for _, p := range ps {
		page.Total += p.total
		page.Recorded += p.recorded
		rec = append(rec, p.rec...)
	}
	slices.SortFunc(rec, func(a, b hit) int {
		if a.start != b.start {
			return cmp.Compare(b.start, a.start)
		}
		return strings.Compare(b.id, a.id)
	})
	if limit <= 0 {
		limit = 25
	}
	for _, h := range rec[:min(limit, len(rec))] {
		page.SessionIDs = append(page.SessionIDs, h.id)
	}
	if len(rec) > limit {
		lst := rec[limit-1]
		page.Next = &traffic.FunnelCursor{Start: time.Unix(0, lst.start).UTC(), SessionID: lst.id}
	}
	return page, nil
}
