package embedded

import (
	"slices"
	"strconv"
	"strings"
	"sync"

	searchv1 "github.com/sightlinehq/sightline/gen/sightline/search/v1"
	sessionsv1 "github.com/sightlinehq/sightline/gen/sightline/sessions/v1"
	"github.com/sightlinehq/sightline/referrer"
	"github.com/sightlinehq/sightline/svc-search/index"
)

// dict interns strings as dense ids; id 0 is "".
type dict struct {
	m map[string]uint32
	s []string
}

func newDict() dict { return dict{m: map[string]uint32{"": 0}, s: []string{""}} }

func (d *dict) id(v string) uint32 {
	if id, ok := d.m[v]; ok {
		return id
	}
	id := uint32(len(d.s))
	d.m[v] = id
	d.s = append(d.s, v)
	return id
}

// lookup answers v's id, false when v was never interned (nothing has it).
func (d *dict) lookup(v string) (uint32, bool) {
	id, ok := d.m[v]
	return id, ok
}

// item is one entry of a session's timeline, sorted by traffic.Less when
// the row is built (page view ids are only needed for that sort, so they
// stay in Pebble): v is the page view's URL id or the event's name id.
type item struct {
	t  int64
	v  uint32
	ev bool
}

// row is one counted session (one with a page view) of a site.
type row struct {
	start, end, last int64 // Unix ns; last: the latest hit of any kind
	visitor          uint32
	entry, exit      uint32 // URL ids
	ref, utmS, utmM  uint32 // string ids
	utmC, country    uint32
	browser, os      uint32
	screen           uint32
	pvs              uint32
	device           uint8
	flags            uint8 // rowLive | rowMarked | flagRage...
	tl               []item
}

const (
	rowLive   uint8 = 1 << 6
	rowMarked uint8 = 1 << 7
)

// site is the in-memory columnar copy of one site's sessions: rows in
// arrival order (a query scans them all — a million rows is a few
// milliseconds — so no order has to be kept up to date on writes),
// strings dictionary-encoded so filters and page rules are evaluated once
// per distinct value, not per row.
type site struct {
	rows  []row
	ids   []string // row → session id
	byID  map[string]uint32
	strs  dict // attributes, event names, page keys
	urls  dict
	keyOf []uint32  // URL id → page key's string id
	urlAt []urlInfo // URL id → what sessions landing on it derive
	vis   dict      // visitor ids
	dead  int

	// cmu guards the page rules' results (rules, by rule, per URL id,
	// extended as URLs are added; readers extend them under the site's
	// read lock) and paths (URL id → index.PagePath, filled on demand).
	cmu   sync.Mutex
	rules map[ruleKey][]bool
	paths []string
}

type urlInfo struct {
	domain           string // referrer.Domain of the URL: its own site
	utmS, utmM, utmC uint32
}

type ruleKey struct {
	op    searchv1.UrlMatch_Operator
	value string
}

func newSite() *site {
	s := &site{byID: map[string]uint32{}, strs: newDict(), urls: newDict(), vis: newDict()}
	s.keyOf = []uint32{s.strs.id(index.PageKey(""))}
	s.urlAt = []urlInfo{{}}
	s.rules = map[ruleKey][]bool{}
	return s
}

func (s *site) url(u string) uint32 {
	id := s.urls.id(u)
	if int(id) == len(s.keyOf) {
		s.keyOf = append(s.keyOf, s.strs.id(index.PageKey(u)))
		src, med, camp := referrer.UTM(u)
		s.urlAt = append(s.urlAt, urlInfo{domain: referrer.Domain(u), utmS: s.strs.id(src), utmM: s.strs.id(med), utmC: s.strs.id(camp)})
	}
	return id
}

// put updates (or adds, or removes) the row of one session from its
// stored state.
func (s *site) put(id string, ss *session) {
	i, ok := s.byID[id]
	if ss == nil || !ss.hasPageView() {
		if ok {
			s.drop(i)
		}
		return
	}
	if !ok {
		i = uint32(len(s.rows))
		s.rows = append(s.rows, row{})
		s.ids = append(s.ids, id)
		s.byID[id] = i
	}
	s.build(&s.rows[i], ss)
}

func (s *site) drop(i uint32) {
	if s.rows[i].flags&rowLive == 0 {
		return
	}
	delete(s.byID, s.ids[i])
	s.rows[i] = row{}
	s.ids[i] = ""
	s.dead++
}

// build derives a row from a session that has a page view, by the
// counting rules of traffic.proto.
func (s *site) build(r *row, ss *session) {
	type ord struct {
		t    int64
		ev   bool
		pv   string
		name string
		v    uint32
	}
	tl := make([]ord, 0, len(ss.pvs)+len(ss.events))
	var entry, exit *pageView
	var end int64
	var n uint32
	for i := range ss.pvs {
		p := &ss.pvs[i]
		if !p.seen {
			continue
		}
		n++
		tl = append(tl, ord{t: p.time, pv: p.id, v: s.url(p.url)})
		if entry == nil || p.time < entry.time || (p.time == entry.time && p.id < entry.id) {
			entry = p
		}
		if exit == nil || p.time > exit.time || (p.time == exit.time && p.id > exit.id) {
			exit = p
		}
		end = max(end, p.time+p.dur)
	}
	for i := range ss.events {
		e := &ss.events[i]
		tl = append(tl, ord{t: e.time, ev: true, pv: e.pv, name: e.name, v: s.strs.id(e.name)})
		end = max(end, e.time)
	}
	slices.SortFunc(tl, func(a, b ord) int {
		switch {
		case a.t != b.t:
			return cmp64(a.t, b.t)
		case a.ev != b.ev:
			if a.ev {
				return 1
			}
			return -1
		case a.pv != b.pv:
			return strings.Compare(a.pv, b.pv)
		}
		return strings.Compare(a.name, b.name)
	})
	items := r.tl[:0]
	if cap(items) < len(tl) {
		items = make([]item, 0, len(tl))
	}
	for _, o := range tl {
		items = append(items, item{t: o.t, v: o.v, ev: o.ev})
	}
	last, _, _ := ss.lastHit()
	entryID := s.url(entry.url)
	at := &s.urlAt[entryID]
	// referrer.External, with the entry URL's domain derived once per URL.
	ref := referrer.Domain(entry.ref)
	if ref == at.domain {
		ref = ""
	}
	screen := ""
	if entry.w > 0 && entry.h > 0 {
		screen = strconv.Itoa(int(entry.w)) + "x" + strconv.Itoa(int(entry.h))
	}
	flags := rowLive
	if ss.marked {
		flags |= rowMarked | ss.flags
	}
	*r = row{
		start: entry.time, end: max(end, entry.time), last: last,
		visitor: s.vis.id(entry.visitor),
		entry:   entryID, exit: s.url(exit.url),
		ref:  s.strs.id(ref),
		utmS: at.utmS, utmM: at.utmM, utmC: at.utmC,
		country: s.strs.id(entry.country), browser: s.strs.id(entry.browser), os: s.strs.id(entry.os),
		screen: s.strs.id(screen), pvs: n, device: entry.device, flags: flags, tl: items,
	}
}

func cmp64(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// deviceName is a device's value in breakdowns and filters.
func deviceName(d uint8) string { return index.DeviceName(sessionsv1.DeviceType(d)) }
