package elastic

import (
	"cmp"
	"slices"
	"strconv"
	"strings"
	"time"

	sessionsv1 "github.com/sightlinehq/sightline/gen/sightline/sessions/v1"
	"github.com/sightlinehq/sightline/referrer"
	"github.com/sightlinehq/sightline/svc-search/index"
	"github.com/sightlinehq/sightline/svc-search/traffic"
)

// state is everything a session document knows, kept in its _source under
// fState (not indexed): the indexed fields are derived from it on every
// write, so a merge is plain Go (unit-tested here) rather than a painless
// script nobody can run without a server.
type state struct {
	PVs     []pageView `json:"pv,omitempty"`
	Events  []event    `json:"ev,omitempty"`
	Pending []leave    `json:"pl,omitempty"`
	// Ret is the largest RetentionDays of any hit; LastHit the latest hit
	// Time (Unix ns), leaves and dropped hits included.
	Ret     int32 `json:"ret,omitempty"`
	LastHit int64 `json:"lh,omitempty"`
	Mark    *mark `json:"mk,omitempty"`
	// MarkedAt is when a mark arrived (Unix ns), for sweeping marks whose
	// session never got a page view.
	MarkedAt int64 `json:"ma,omitempty"`
}

type pageView struct {
	ID      string `json:"id"`
	T       int64  `json:"t"`
	URL     string `json:"u,omitempty"`
	Ref     string `json:"r,omitempty"`
	Visitor string `json:"v,omitempty"`
	// Dur is the largest leave duration (ns); Leaves the latest few leave
	// times (realtime counts a leave as a hit).
	Dur     int64   `json:"d,omitempty"`
	Leaves  []int64 `json:"lt,omitempty"`
	Device  int32   `json:"dev,omitempty"`
	Browser string  `json:"br,omitempty"`
	OS      string  `json:"os,omitempty"`
	Country string  `json:"cc,omitempty"`
	W       int32   `json:"w,omitempty"`
	H       int32   `json:"h,omitempty"`
}

type event struct {
	PV      string `json:"pv"`
	T       int64  `json:"t"`
	Name    string `json:"n"`
	Visitor string `json:"v,omitempty"`
}

// leave is a PAGE_LEAVE whose page view has not arrived yet.
type leave struct {
	PV      string  `json:"pv"`
	Dur     int64   `json:"d"`
	Times   []int64 `json:"lt,omitempty"`
	Visitor string  `json:"v,omitempty"`
}

type mark struct {
	Version int64 `json:"v"`
	Rage    bool  `json:"r,omitempty"`
	Dead    bool  `json:"d,omitempty"`
	Errors  bool  `json:"e,omitempty"`
}

// maxLeaveTimes bounds the leave times kept per page view: the latest
// ones, which are the ones a realtime window can still see.
const maxLeaveTimes = 4

// addTime keeps the latest maxLeaveTimes distinct times.
func addTime(ts []int64, t int64) []int64 {
	if slices.Contains(ts, t) {
		return ts
	}
	ts = append(ts, t)
	slices.Sort(ts)
	if len(ts) > maxLeaveTimes {
		ts = ts[len(ts)-maxLeaveTimes:]
	}
	return ts
}

// add merges one hit; it reports false when the hit changed nothing
// (re-delivery), so an unchanged document is not written again.
func (s *state) add(h traffic.Hit) bool {
	t := h.Time.UnixNano()
	changed := false
	if t > s.LastHit {
		s.LastHit, changed = t, true
	}
	if h.RetentionDays > s.Ret {
		s.Ret, changed = h.RetentionDays, true
	}
	switch h.Kind {
	case sessionsv1.HitKind_HIT_KIND_PAGE_VIEW:
		if s.findPV(h.PageViewID) >= 0 {
			return changed
		}
		if len(s.PVs) >= traffic.MaxPageViewsPerSession {
			return changed
		}
		pv := pageView{
			ID: h.PageViewID, T: t, URL: h.URL, Ref: h.Referrer, Visitor: h.VisitorID,
			Device: int32(h.Device), Browser: h.Browser, OS: h.OS, Country: h.Country, W: h.ScreenW, H: h.ScreenH,
		}
		if i := s.findPending(h.PageViewID); i >= 0 {
			pv.Dur, pv.Leaves = s.Pending[i].Dur, s.Pending[i].Times
			s.Pending = slices.Delete(s.Pending, i, i+1)
		}
		s.PVs = append(s.PVs, pv)
		slices.SortFunc(s.PVs, func(a, b pageView) int {
			if a.T != b.T {
				return cmp.Compare(a.T, b.T)
			}
			return strings.Compare(a.ID, b.ID)
		})
		return true
	case sessionsv1.HitKind_HIT_KIND_PAGE_LEAVE:
		d := int64(min(max(h.Duration, 0), traffic.MaxLeave))
		if i := s.findPV(h.PageViewID); i >= 0 {
			pv := &s.PVs[i]
			before := len(pv.Leaves)
			last := int64(0)
			if before > 0 {
				last = pv.Leaves[before-1]
			}
			pv.Leaves = addTime(pv.Leaves, t)
			if len(pv.Leaves) != before || pv.Leaves[len(pv.Leaves)-1] != last {
				changed = true
			}
			if d > pv.Dur {
				pv.Dur, changed = d, true
			}
			return changed
		}
		i := s.findPending(h.PageViewID)
		if i < 0 {
			if len(s.Pending) >= traffic.MaxPageViewsPerSession {
				return changed
			}
			// Kept sorted by page view id: the document must not depend
			// on the order leaves arrived in.
			i, _ = slices.BinarySearchFunc(s.Pending, h.PageViewID, func(l leave, id string) int { return strings.Compare(l.PV, id) })
			s.Pending = slices.Insert(s.Pending, i, leave{PV: h.PageViewID, Visitor: h.VisitorID})
			changed = true
		}
		p := &s.Pending[i]
		n := len(p.Times)
		p.Times = addTime(p.Times, t)
		if len(p.Times) != n {
			changed = true
		}
		if d > p.Dur {
			p.Dur, changed = d, true
		}
		return changed
	case sessionsv1.HitKind_HIT_KIND_EVENT:
		for _, e := range s.Events {
			if e.PV == h.PageViewID && e.T == t && e.Name == h.Event {
				return changed
			}
		}
		if len(s.Events) >= traffic.MaxEventsPerSession {
			return changed
		}
		s.Events = append(s.Events, event{PV: h.PageViewID, T: t, Name: h.Event, Visitor: h.VisitorID})
		slices.SortFunc(s.Events, func(a, b event) int {
			if a.T != b.T {
				return cmp.Compare(a.T, b.T)
			}
			if a.PV != b.PV {
				return strings.Compare(a.PV, b.PV)
			}
			return strings.Compare(a.Name, b.Name)
		})
		return true
	}
	return changed
}

// setMark applies a recorded mark unless a newer version is held.
func (s *state) setMark(r traffic.Recorded, now time.Time) bool {
	m := mark{Version: r.Version, Rage: r.Rage, Dead: r.Dead, Errors: r.Errors}
	if s.Mark != nil && (r.Version < s.Mark.Version || *s.Mark == m) {
		return false
	}
	s.Mark = &m
	s.MarkedAt = now.UnixNano()
	return true
}

func (s *state) findPV(id string) int {
	for i := range s.PVs {
		if s.PVs[i].ID == id {
			return i
		}
	}
	return -1
}

func (s *state) findPending(id string) int {
	for i := range s.Pending {
		if s.Pending[i].PV == id {
			return i
		}
	}
	return -1
}

// timeline is the session's page views and events in traffic.Compare order.
func (s *state) timeline() []traffic.Item {
	items := make([]traffic.Item, 0, len(s.PVs)+len(s.Events))
	for _, p := range s.PVs {
		items = append(items, traffic.Item{Time: time.Unix(0, p.T), PageViewID: p.ID, URL: p.URL})
	}
	for _, e := range s.Events {
		items = append(items, traffic.Item{Time: time.Unix(0, e.T), Event: true, PageViewID: e.PV, Name: e.Name})
	}
	slices.SortFunc(items, traffic.Compare)
	return items
}

// ScreenSize is the screen dimension's value: "WxH", "" when unknown.
func ScreenSize(w, h int32) string {
	if w <= 0 || h <= 0 {
		return ""
	}
	return strconv.Itoa(int(w)) + "x" + strconv.Itoa(int(h))
}

// visitors are the distinct visitor ids of every hit kept (a delete by
// visitor finds the session by any of them).
func (s *state) visitors() []string {
	var out []string
	add := func(v string) {
		if v != "" && !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	for _, p := range s.PVs {
		add(p.Visitor)
	}
	for _, e := range s.Events {
		add(e.Visitor)
	}
	for _, l := range s.Pending {
		add(l.Visitor)
	}
	return out
}

func rfc(ns int64) string { return time.Unix(0, ns).UTC().Format(time.RFC3339Nano) }

// document is the indexed form of a session: site and id always, the
// derived fields once it has a page view (a mark-only document matches no
// query, since every query asks for page_count ≥ 1).
func document(siteID int64, sessionID string, s *state) map[string]any {
	d := map[string]any{
		fSite: strconv.FormatInt(siteID, 10), fSession: sessionID, fState: s,
		fRecorded: s.Mark != nil,
	}
	if s.Mark != nil {
		d[fRage], d[fDead], d[fErrors] = s.Mark.Rage, s.Mark.Dead, s.Mark.Errors
	}
	if s.MarkedAt != 0 {
		d[fMarkedAt] = rfc(s.MarkedAt)
	}
	if s.LastHit != 0 {
		d[fLastHit] = rfc(s.LastHit)
		if s.Ret > 0 {
			d[fExpires] = rfc(s.LastHit + int64(s.Ret)*int64(24*time.Hour))
		}
	}
	if v := s.visitors(); len(v) > 0 {
		d[fVisitors] = v
	}
	if len(s.PVs) == 0 {
		return d
	}
	first, last := s.PVs[0], s.PVs[len(s.PVs)-1]
	start, end := first.T, first.T
	type count struct {
		key   string
		views int
	}
	var pages, paths []string
	var views []count
	seen := map[string]int{}
	for _, p := range s.PVs {
		end = max(end, p.T+p.Dur)
		k := index.PageKey(p.URL)
		if i, ok := seen["\x01"+k]; ok {
			views[i].views++
		} else {
			seen["\x01"+k] = len(views)
			views = append(views, count{k, 1})
		}
		if _, ok := seen[p.URL]; !ok && p.URL != "" {
			seen[p.URL] = 0
			pages = append(pages, p.URL)
		}
		if path := index.PagePath(p.URL); path != "" {
			if _, ok := seen["\x00"+path]; !ok {
				seen["\x00"+path] = 0
				paths = append(paths, path)
			}
		}
	}
	var names []string
	for _, e := range s.Events {
		end = max(end, e.T)
		if !slices.Contains(names, e.Name) {
			names = append(names, e.Name)
		}
	}
	keys := make([]string, len(views))
	nested := make([]any, len(views))
	for i, v := range views {
		keys[i] = v.key
		nested[i] = map[string]any{fPVKey: v.key, fPVCount: v.views}
	}
	bounce := 0
	if len(s.PVs) == 1 {
		bounce = 1
	}
	src, med, camp := referrer.UTM(first.URL)
	d[fVisitor] = first.Visitor
	d[fStart], d[fEnd] = rfc(start), rfc(end)
	d[fDuration] = time.Duration(end - start).Milliseconds()
	d[fPageCount] = len(s.PVs)
	d[fBounce] = bounce
	d[fEntry], d[fEntryPath], d[fEntryKey] = first.URL, index.PagePath(first.URL), index.PageKey(first.URL)
	d[fExit], d[fExitPath], d[fExitKey] = last.URL, index.PagePath(last.URL), index.PageKey(last.URL)
	d[fPages], d[fPaths], d[fPageKeys], d[fPageViews] = pages, paths, keys, nested
	d[fReferrer] = referrer.External(first.URL, first.Ref)
	d[fUTMSource], d[fUTMMedium], d[fUTMCamp] = src, med, camp
	d[fCountry], d[fBrowser], d[fOS] = first.Country, first.Browser, first.OS
	d[fDevice] = index.DeviceName(sessionsv1.DeviceType(first.Device))
	d[fScreen] = ScreenSize(first.W, first.H)
	if len(names) > 0 {
		d[fEvents] = names
	}
	return d
}
