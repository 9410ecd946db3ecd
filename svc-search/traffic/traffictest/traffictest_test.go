package traffictest_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	trafficv1 "github.com/sightlinehq/sightline/gen/sightline/traffic/v1"
	"github.com/sightlinehq/sightline/internal/testseed"
	"github.com/sightlinehq/sightline/svc-search/traffic"
	"github.com/sightlinehq/sightline/svc-search/traffic/traffictest"
)

// The reference passes its own suite (whose hand-computed cases pin it).
func TestReference(t *testing.T) {
	traffictest.Run(t, func(*testing.T) traffic.Store { return traffictest.NewReference() })
}

// Broken stores: each wraps the reference with one plausible mistake, and
// the suite must catch every one of them.
type upperMedian struct{ *traffictest.Reference }

// Overview answers the upper median instead of the lower one.
func (u upperMedian) Overview(ctx context.Context, q traffic.Query, iv trafficv1.TrafficInterval) (*trafficv1.GetTrafficOverviewResponse, error) {
	out, err := u.Reference.Overview(ctx, q, iv)
	if err != nil {
		return nil, err
	}
	for _, pair := range []struct {
		tot   *trafficv1.TrafficTotals
		start time.Time
		end   time.Time
	}{{out.Current, q.Start, q.End}, {out.Previous, q.Start.Add(-q.End.Sub(q.Start)), q.Start}} {
		var ds []time.Duration
		for _, s := range u.Sessions(q.SiteID) {
			if !s.Start.Before(pair.start) && s.Start.Before(pair.end) && traffictest.Passes(q.Filter, s) {
				ds = append(ds, s.Duration)
			}
		}
		if len(ds) > 0 {
			slices.Sort(ds)
			pair.tot.MedianDuration = durationpb.New(ds[len(ds)/2].Truncate(time.Millisecond))
		}
	}
	return out, nil
}

type utcOnly struct{ *traffictest.Reference }

// Overview ignores the query's time zone.
func (u utcOnly) Overview(ctx context.Context, q traffic.Query, iv trafficv1.TrafficInterval) (*trafficv1.GetTrafficOverviewResponse, error) {
	q.Location = nil
	return u.Reference.Overview(ctx, q, iv)
}

type noPrevious struct{ *traffictest.Reference }

// Overview counts the previous period one bucket short: from start-len+1h.
func (u noPrevious) Overview(ctx context.Context, q traffic.Query, iv trafficv1.TrafficInterval) (*trafficv1.GetTrafficOverviewResponse, error) {
	out, err := u.Reference.Overview(ctx, q, iv)
	if err != nil {
		return nil, err
	}
	p, err := u.Reference.Overview(ctx, traffic.Query{SiteID: q.SiteID, Start: q.Start.Add(-q.End.Sub(q.Start) + time.Hour), End: q.Start.Add(time.Hour), Filter: q.Filter}, iv)
	if err != nil {
		return nil, err
	}
	out.Previous = p.Current
	return out, nil
}

type tenantLeak struct{ *traffictest.Reference }

// Breakdown reads another site's rows when its own has none.
func (u tenantLeak) Breakdown(ctx context.Context, q traffic.Query, dim trafficv1.TrafficDimension, limit int) (*trafficv1.GetTrafficBreakdownResponse, error) {
	out, err := u.Reference.Breakdown(ctx, q, dim, limit)
	if err == nil && out.Sessions == 0 {
		q.SiteID = traffictest.SiteB
		return u.Reference.Breakdown(ctx, q, dim, limit)
	}
	return out, err
}

type funnelAnyOrder struct{ *traffictest.Reference }

// Funnel counts a step reached when the session has a matching hit
// anywhere, ignoring order.
func (u funnelAnyOrder) Funnel(ctx context.Context, q traffic.FunnelQuery) (*trafficv1.ComputeFunnelResponse, error) {
	out, err := u.Reference.Funnel(ctx, q)
	if err != nil {
		return nil, err
	}
	var n []int64
	for range q.Steps {
		n = append(n, 0)
	}
	for _, s := range u.Sessions(q.SiteID) {
		if s.Start.Before(q.Start) || !s.Start.Before(q.End) || (len(q.DeviceTypes) > 0 && !slices.Contains(q.DeviceTypes, s.Device)) {
			continue
		}
		for k, st := range q.Steps {
			if !slices.ContainsFunc(s.Timeline, func(it traffic.Item) bool { return traffic.MatchStep(st, it) }) {
				break
			}
			n[k]++
		}
	}
	for k := range out.Steps {
		out.Steps[k].Sessions = n[k]
	}
	return out, nil
}

type pagingSkips struct{ *traffictest.Reference }

// FunnelSessions skips the first session after the cursor.
func (u pagingSkips) FunnelSessions(ctx context.Context, q traffic.FunnelQuery, step int, dropped bool, after *traffic.FunnelCursor, limit int) (traffic.FunnelPage, error) {
	p, err := u.Reference.FunnelSessions(ctx, q, step, dropped, after, limit+1)
	if err != nil || after == nil || len(p.SessionIDs) == 0 {
		return u.Reference.FunnelSessions(ctx, q, step, dropped, after, limit)
	}
	p.SessionIDs = p.SessionIDs[1:]
	return p, nil
}

type realtimeInclusive struct{ *traffictest.Reference }

// Realtime counts the window's start instant too.
func (u realtimeInclusive) Realtime(ctx context.Context, site int64, now time.Time) (*trafficv1.GetRealtimeResponse, error) {
	out, err := u.Reference.Realtime(ctx, site, now.Add(time.Millisecond))
	if err == nil {
		out.AsOf = timestamppb.New(now)
	}
	return out, err
}

type staleMarks struct {
	*traffictest.Reference
	n *int64
}

// SetRecorded ignores versions: the last mark to arrive wins.
func (u staleMarks) SetRecorded(ctx context.Context, marks []traffic.Recorded) error {
	for _, m := range marks {
		*u.n++
		m.Version = *u.n
		if err := u.Reference.SetRecorded(ctx, []traffic.Recorded{m}); err != nil {
			return err
		}
	}
	return nil
}

func TestSuiteCatchesBrokenStores(t *testing.T) {
	seed := testseed.Seed(t)
	for name, c := range map[string]struct {
		store func(r *traffictest.Reference) traffic.Store
		// checks that must fail (at least these).
		want []string
	}{
		"upper median":            {func(r *traffictest.Reference) traffic.Store { return upperMedian{r} }, []string{"HandComputed", "RandomOverview"}},
		"ignores the time zone":   {func(r *traffictest.Reference) traffic.Store { return utcOnly{r} }, []string{"HandComputed", "SeriesAcrossDST"}},
		"previous period shifted": {func(r *traffictest.Reference) traffic.Store { return noPrevious{r} }, []string{"HandComputed", "RandomOverview"}},
		"tenant leak":             {func(r *traffictest.Reference) traffic.Store { return tenantLeak{r} }, []string{"Tenancy"}},
		"funnel ignores order":    {func(r *traffictest.Reference) traffic.Store { return funnelAnyOrder{r} }, []string{"FunnelHandComputed", "RandomFunnels"}},
		"paging skips":            {func(r *traffictest.Reference) traffic.Store { return pagingSkips{r} }, []string{"FunnelSessionsPaging"}},
		"stale marks win":         {func(r *traffictest.Reference) traffic.Store { return staleMarks{r, new(int64)} }, []string{"Recorded"}},
		"realtime window":         {func(r *traffictest.Reference) traffic.Store { return realtimeInclusive{r} }, []string{"Realtime"}},
	} {
		t.Run(name, func(t *testing.T) {
			fails := traffictest.Failures(func() traffic.Store { return c.store(traffictest.NewReference()) }, seed, c.want...)
			for _, w := range c.want {
				if len(fails[w]) == 0 {
					t.Errorf("%s passed %s (%s=%d)", name, w, testseed.Env, seed)
				}
			}
			for check, msgs := range fails {
				t.Logf("%s fails %s: %d messages, first: %.200s", name, check, len(msgs), msgs[0])
			}
		})
	}
}
