// Package traffic defines the traffic store svc-search counts visitors,
// sessions, page views and funnels from: the interface every backend
// (embedded, Elasticsearch) implements, with its contract written on it,
// and the counting rules every backend shares. The conformance suite in
// traffictest checks the contract against a reference evaluation.
//
// Its input is the tracker's page-view beacons of every visitor the
// tracker may count (recorded or not), delivered by ingest's traffic spool
// through TrafficService.AppendHits, plus the recorded sessions' summaries
// (which mark a traffic session recorded and carry its rage clicks, dead
// clicks and errors).
package traffic

import (
	"cmp"
	"context"
	"errors"
	"strings"
	"time"

	searchv1 "github.com/sightlinehq/sightline/gen/sightline/search/v1"
	sessionsv1 "github.com/sightlinehq/sightline/gen/sightline/sessions/v1"
	trafficv1 "github.com/sightlinehq/sightline/gen/sightline/traffic/v1"
	"github.com/sightlinehq/sightline/svc-search/index"
)

// Store is a per-site traffic store.
//
// Contract (every backend, checked by traffictest.Run):
//
//   - Tenancy: every hit and session belongs to one site; every read and
//     delete takes a site id and never sees another site's data.
//   - AddHits is idempotent. A PAGE_VIEW is identified by (site, page view
//     id) and an EVENT by (site, session id, page view id, event name,
//     time); storing the same one again changes nothing (re-delivered hits
//     are byte-identical; different content under one identity is hostile
//     and the store may keep either). A PAGE_LEAVE sets its page view's
//     duration to the largest duration any leave of that page view carried
//     (a page hidden twice sends twice), whether it arrives before or after
//     its page view. Order of arrival never matters.
//   - A traffic session is the hits of one (site, session id); see the
//     counting rules in proto/sightline/traffic/v1/traffic.proto, which
//     every method follows. In short: start = earliest page view's Time;
//     end = latest of page view Time + duration and event Time; attributes
//     from the earliest page view (ties: smallest page view id); sessions
//     without a page view do not exist for any query. Page views and events
//     count with their session, by the session's start.
//   - Timeline order (funnels): a session's page views and events sorted by
//     Time, ties by page view before event, then page view id, then event
//     name (Less).
//   - SetRecorded marks sessions recorded with their flags; a flag set with
//     a lower Version than the one held is ignored. Marks may arrive before
//     the session's first hit and must then apply once it does.
//   - Delete removes the sessions chosen by the selector (their hits and
//     marks) and answers how many sessions (with at least one page view)
//     existed; StartedBefore compares session starts. After a delete,
//     hits of a deleted session that arrive later start it afresh.
//   - Sweep removes every session whose latest hit Time plus its
//     retention (the largest RetentionDays among its hits, else
//     defaultRetention) is before now, and answers how many.
//   - Read-your-writes: once a write returns nil, every read sees it.
//   - Queries never panic on valid input (validated by the service: ranges
//     with both bounds, start < end, at most MaxRange; 2–MaxSteps funnel
//     steps; limits within bounds).
type Store interface {
	// AddHits stores hits (any sites).
	AddHits(ctx context.Context, hits []Hit) error
	// SetRecorded marks recorded sessions (any sites).
	SetRecorded(ctx context.Context, marks []Recorded) error
	// Delete removes one site's sessions chosen by sel.
	Delete(ctx context.Context, siteID int64, sel index.Selector) (int64, error)
	// Sweep removes expired sessions of every site.
	Sweep(ctx context.Context, now time.Time, defaultRetention time.Duration) (int64, error)

	// Overview answers the tiles of q's range and of the previous period
	// (the range of the same length ending at q.Start), and the series of q
	// in buckets of interval (HOUR, DAY or WEEK; never unspecified) in
	// q.Location: Buckets(q.Start, q.End, ...), every bucket present.
	Overview(ctx context.Context, q Query, interval trafficv1.TrafficInterval) (*trafficv1.GetTrafficOverviewResponse, error)
	// Breakdown answers the top limit rows of one dimension, by sessions
	// descending then value ascending, with the number of distinct values
	// and the sessions under q.
	Breakdown(ctx context.Context, q Query, dim trafficv1.TrafficDimension, limit int) (*trafficv1.GetTrafficBreakdownResponse, error)
	// Realtime answers the hits of one site with Time in (now-RealtimeWindow,
	// now]; per_minute counts page views in the 30 minutes before now,
	// minute i covering (now-(30-i) min, now-(29-i) min].
	Realtime(ctx context.Context, siteID int64, now time.Time) (*trafficv1.GetRealtimeResponse, error)
	// Funnel answers one result per step.
	Funnel(ctx context.Context, q FunnelQuery) (*trafficv1.ComputeFunnelResponse, error)
	// FunnelSessions answers the sessions of one step (reached it, or
	// dropped off at it): their total, how many are recorded, and one page
	// of the recorded ones' ids, newest session start first, ties by
	// session id descending; after is the previous page's last
	// FunnelCursor, nil for the first page.
	FunnelSessions(ctx context.Context, q FunnelQuery, step int, dropped bool, after *FunnelCursor, limit int) (FunnelPage, error)

	// Ready reports whether the backend can serve.
	Ready(ctx context.Context) error
	// Close releases the backend.
	Close() error
}

// Limits every backend and the service share.
const (
	// MaxRange is the longest range a query may span.
	MaxRange = 400 * 24 * time.Hour
	// MaxSteps bounds a funnel's steps (and MinSteps from below).
	MaxSteps = 8
	MinSteps = 2
	// MaxBreakdownRows bounds Breakdown's limit.
	MaxBreakdownRows = 1000
	// MaxBuckets bounds a series.
	MaxBuckets = 1000
	// RealtimeWindow is "now" for realtime.
	RealtimeWindow = 5 * time.Minute
	// RealtimePages bounds GetRealtimeResponse.pages.
	RealtimePages = 20
	// MaxPageViewsPerSession and MaxEventsPerSession bound what one
	// session keeps: further page views and events are dropped (counted
	// in a metric), so one hostile visitor cannot grow a session without
	// bound. Durations of kept page views still update.
	MaxPageViewsPerSession = 500
	MaxEventsPerSession    = 500
	// MaxEventName bounds an event name (bytes); MaxURL a URL and referrer.
	MaxEventName = 100
	MaxURL       = 2048
	// MaxLeave caps a page view's duration.
	MaxLeave = 24 * time.Hour
)

// ErrTooManyBuckets marks a series longer than MaxBuckets.
var ErrTooManyBuckets = errors.New("traffic: the series has too many buckets")

// Hit is one beacon as the service hands it to the store (decoded from a
// recordings.v1.Chunk carrying a sessions.v1.Hit).
type Hit struct {
	SiteID         int64
	OrganizationID int64
	SessionID      string
	VisitorID      string
	PageViewID     string
	Kind           sessionsv1.HitKind
	// Time is ingest's accept time (Chunk.server_time): ranges, ordering
	// and realtime use it, not the visitor's clock.
	Time time.Time
	// URL and Referrer as sent (PAGE_VIEW; ≤ MaxURL).
	URL      string
	Referrer string
	// Event is the custom event's name (EVENT).
	Event string
	// Duration is the page view's duration so far (PAGE_LEAVE; ≤ MaxLeave).
	Duration time.Duration
	Device   sessionsv1.DeviceType
	Browser  string
	OS       string
	Country  string
	ScreenW  int32
	ScreenH  int32
	// Recorded: the tracker sampled this session in.
	Recorded      bool
	RetentionDays int32
}

// Recorded marks a session recorded, from its summary.
type Recorded struct {
	SiteID    int64
	SessionID string
	Version   int64
	Rage      bool
	Dead      bool
	Errors    bool
}

// RecordedOf is the mark a session summary makes.
func RecordedOf(s *sessionsv1.SessionSummary) Recorded {
	return Recorded{
		SiteID: s.GetSiteId(), SessionID: s.GetSessionId(), Version: s.GetVersion(),
		Rage: s.GetRageClickCount() > 0, Dead: s.GetDeadClickCount() > 0, Errors: s.GetErrorCount() > 0,
	}
}

// Query selects the sessions one overview or breakdown counts: one site's
// sessions starting in [Start, End) that pass Filter (nil passes all).
type Query struct {
	SiteID   int64
	Start    time.Time
	End      time.Time
	Filter   *trafficv1.TrafficFilter
	Location *time.Location
}

// Loc is q.Location, UTC when nil.
func (q Query) Loc() *time.Location {
	if q.Location == nil {
		return time.UTC
	}
	return q.Location
}

// FunnelQuery selects the sessions a funnel counts: one site's sessions
// starting in [Start, End) whose device is one of DeviceTypes (empty: any).
type FunnelQuery struct {
	SiteID      int64
	Start       time.Time
	End         time.Time
	Steps       []*trafficv1.FunnelStep
	DeviceTypes []sessionsv1.DeviceType
}

// FunnelCursor is a position in FunnelSessions' order.
type FunnelCursor struct {
	Start     time.Time
	SessionID string
}

// FunnelPage is one page of FunnelSessions.
type FunnelPage struct {
	// SessionIDs of recorded sessions, in order.
	SessionIDs []string
	// Next is the cursor after the last id; nil when no more follow.
	Next *FunnelCursor
	// Total sessions selected, recorded or not; Recorded among them.
	Total    int64
	Recorded int64
}

// MatchPage tells whether a page URL matches a URL rule: the sessions
// filter's rules (pagerule via index's reference semantics), so a funnel's
// page step, a traffic filter and the recordings they link to pick the
// same pages. A nil or empty rule matches every page.
func MatchPage(m *searchv1.UrlMatch, url string) bool {
	return index.MatchURL(m, url)
}

// AutoInterval picks the series' interval of a range: hours up to 2 days,
// days up to 92 days, weeks beyond.
func AutoInterval(start, end time.Time) trafficv1.TrafficInterval {
	switch d := end.Sub(start); {
	case d <= 48*time.Hour:
		return trafficv1.TrafficInterval_TRAFFIC_INTERVAL_HOUR
	case d <= 92*24*time.Hour:
		return trafficv1.TrafficInterval_TRAFFIC_INTERVAL_DAY
	default:
		return trafficv1.TrafficInterval_TRAFFIC_INTERVAL_WEEK
	}
}

// BucketStart is the start of the bucket holding t: the start of its
// local hour (the wall clock's minutes and seconds taken off, so a zone
// offset by half an hour keeps its own hours and the hour repeated when
// DST ends is two buckets), of its local day, or of the local Monday of
// its week.
func BucketStart(t time.Time, iv trafficv1.TrafficInterval, loc *time.Location) time.Time {
	if iv == trafficv1.TrafficInterval_TRAFFIC_INTERVAL_HOUR {
		l := t.In(loc)
		return l.Add(-time.Duration(l.Minute())*time.Minute - time.Duration(l.Second())*time.Second - time.Duration(l.Nanosecond()))
	}
	return index.BucketStart(t, statsInterval(iv), loc)
}

// NextBucket is the start of the bucket after the one starting at b.
func NextBucket(b time.Time, iv trafficv1.TrafficInterval, loc *time.Location) time.Time {
	if iv == trafficv1.TrafficInterval_TRAFFIC_INTERVAL_HOUR {
		n := BucketStart(b.Add(time.Hour), iv, loc)
		if !n.After(b) { // an offset change of less than an hour
			n = b.Add(time.Hour)
		}
		return n
	}
	return index.NextBucket(b, statsInterval(iv), loc)
}

// Buckets lists the bucket starts of the range [start, end): from the
// bucket holding start to the one holding the instant before end.
func Buckets(start, end time.Time, iv trafficv1.TrafficInterval, loc *time.Location) ([]time.Time, error) {
	if !start.Before(end) {
		return nil, nil
	}
	last := BucketStart(end.Add(-time.Nanosecond), iv, loc)
	var out []time.Time
	for b := BucketStart(start, iv, loc); !b.After(last); b = NextBucket(b, iv, loc) {
		if len(out) == MaxBuckets {
			return nil, ErrTooManyBuckets
		}
		out = append(out, b)
	}
	return out, nil
}

func statsInterval(iv trafficv1.TrafficInterval) searchv1.StatsInterval {
	if iv == trafficv1.TrafficInterval_TRAFFIC_INTERVAL_WEEK {
		return searchv1.StatsInterval_STATS_INTERVAL_WEEK
	}
	return searchv1.StatsInterval_STATS_INTERVAL_DAY
}

// Item is one entry of a session's timeline: a page view or an event.
type Item struct {
	Time       time.Time
	Event      bool
	PageViewID string
	// Name is the event's name (events), URL the page view's (page views).
	Name string
	URL  string
}

// Compare orders a timeline: by Time (the instant), ties by page view
// before event, then page view id, then event name.
func Compare(a, b Item) int {
	if c := a.Time.Compare(b.Time); c != 0 {
		return c
	}
	if a.Event != b.Event {
		if a.Event {
			return 1
		}
		return -1
	}
	return cmp.Or(strings.Compare(a.PageViewID, b.PageViewID), strings.Compare(a.Name, b.Name))
}

// MatchStep tells whether a timeline item satisfies a funnel step.
func MatchStep(st *trafficv1.FunnelStep, it Item) bool {
	switch m := st.GetMatch().(type) {
	case *trafficv1.FunnelStep_Page:
		return !it.Event && MatchPage(m.Page, it.URL)
	case *trafficv1.FunnelStep_Event:
		return it.Event && it.Name == m.Event
	}
	return false
}

// FunnelSteps are a funnel's step results from how many sessions reached
// each step (reached[0] entered the funnel) and how many of those were
// recorded (nil: the caller sets DroppedRecorded): conversion from the
// first step and from the previous one (0 when nobody reached it; the
// first step's is 1) and the sessions that dropped off before each step.
// The caller adds the median times between steps.
func FunnelSteps(reached, recorded []int64) []*trafficv1.FunnelStepResult {
	steps := make([]*trafficv1.FunnelStepResult, len(reached))
	for k := range reached {
		st := &trafficv1.FunnelStepResult{Sessions: reached[k], StepConversion: 1}
		if reached[0] > 0 {
			st.Conversion = float64(reached[k]) / float64(reached[0])
		}
		if k > 0 {
			st.StepConversion = 0
			if reached[k-1] > 0 {
				st.StepConversion = float64(reached[k]) / float64(reached[k-1])
			}
			st.Dropped = reached[k-1] - reached[k]
			if recorded != nil {
				st.DroppedRecorded = recorded[k-1] - recorded[k]
			}
		}
		steps[k] = st
	}
	return steps
}
