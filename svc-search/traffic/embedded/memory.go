package embedded

import (
	"cmp"
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

// A session's timeline (page views and events sorted by traffic.Compare
// when the row is built; page view ids are only needed for that sort, so
// they stay in Pebble) lives in the site's item arenas: itT the Time,
// itV the page view's URL id or, with evBit, the event's name id.
const evBit = 1 << 31

// row is one counted session (one with a page view) of a site. It holds
// no pointers, so a million rows cost the garbage collector nothing.
type row struct {
	start, end, last int64 // Unix ns; last: the latest hit of any kind
	visitor          uint32
	entry, exit      uint32 // URL ids
	ref, utmS, utmM  uint32 // string ids
	utmC, country    uint32
	browser, os      uint32
	screen           uint32
	pvs              uint32
	tlOff            uint32
	tlLen            uint16
	device           uint8
	flags            uint8 // rowLive | rowMarked | flagRage...
}

const (
	rowLive   uint8 = 1 << 6
	rowMarked uint8 = 1 << 7
)

// site is the in-memory columnar copy of one site's sessions: rows by
// session id's intern id (a query scans them all — a million rows is a
// few milliseconds — so no order has to be kept up to date on writes),
// strings dictionary-encoded so filters and page rules are evaluated once
// per distinct value, not per row.
type site struct {
	rows  []row
	sids  intern // session ids; a row's index is its id's
	strs  dict   // attributes, event names, page keys
	urls  dict
	keyOf []uint32  // URL id → page key's string id
	urlAt []urlInfo // URL id → what sessions landing on it derive
	vis   intern    // visitor ids
	itT   []int64
	itV   []uint32
	waste int // arena items no row uses
	dead  int // rows of removed sessions (kept: their ids stay interned)
	// parallelRows: Options.ParallelRows; compactAt: the fewest wasted
	// items the arenas are compacted for.
	parallelRows, compactAt int

	// cmu guards the page rules' results (rules, by rule, per URL id,
	// extended as URLs are added; readers extend them under the site's
	// read lock) and paths (URL id → index.PagePath, filled on demand).
	cmu   sync.Mutex
	rules map[ruleKey][]bool
	paths []string

	scratch sync.Pool // *overviewScratch
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
	s := &site{sids: newIntern(), strs: newDict(), urls: newDict(), vis: newIntern()}
	s.keyOf = []uint32{s.strs.id(index.PageKey(""))}
	s.urlAt = []urlInfo{{}}
	s.compactAt = 1 << 16
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
	var p *prepared
	if ss != nil {
		p = prepare(ss)
	}
	s.putPrepared(id, p)
}

// putPrepared is put of a prepared session (nil: no page view).
func (s *site) putPrepared(id string, p *prepared) {
	if p == nil {
		if i, ok := s.sids.find(id); ok {
			s.drop(i)
		}
		return
	}
	i, added := s.sids.add(id)
	if added {
		s.rows = append(s.rows, row{})
	} else if s.rows[i].flags&rowLive == 0 {
		s.dead-- // a removed session starting afresh
	}
	s.build(&s.rows[i], p)
}

func (s *site) drop(i uint32) {
	r := &s.rows[i]
	if r.flags&rowLive == 0 {
		return
	}
	s.waste += int(r.tlLen)
	s.dead++
	*r = row{}
}

// stale tells whether removed sessions' rows outnumber the live ones by
// enough that the copy should be loaded afresh (which keeps only live
// ones): retention sweeps would otherwise grow a long-lived copy without
// bound.
func (s *site) stale() bool {
	return s.dead > 50_000 && s.dead > len(s.rows)-s.dead
}

// timeline answers a row's items.
func (s *site) timeline(r *row) ([]int64, []uint32) {
	return s.itT[r.tlOff : r.tlOff+uint32(r.tlLen)], s.itV[r.tlOff : r.tlOff+uint32(r.tlLen)]
}

// place stores a row's new timeline: over its old one when it fits, else
// at the arenas' end (compacting them when more than half is waste).
func (s *site) place(r *row, n int) (off uint32) {
	if n <= int(r.tlLen) && r.flags&rowLive != 0 {
		s.waste += int(r.tlLen) - n
		return r.tlOff
	}
	if r.flags&rowLive != 0 {
		s.waste += int(r.tlLen)
	}
	if s.waste > s.compactAt && s.waste > len(s.itT)/2 {
		s.compact(r)
	}
	off = uint32(len(s.itT))
	s.itT = append(s.itT, make([]int64, n)...)
	s.itV = append(s.itV, make([]uint32, n)...)
	return off
}

// compact rewrites the arenas with only live rows' items (skip's are
// being replaced).
func (s *site) compact(skip *row) {
	var n int
	for i := range s.rows {
		if r := &s.rows[i]; r != skip && r.flags&rowLive != 0 {
			n += int(r.tlLen)
		}
	}
	t, v := make([]int64, 0, n+n/4), make([]uint32, 0, n+n/4)
	for i := range s.rows {
		r := &s.rows[i]
		if r == skip || r.flags&rowLive == 0 {
			continue
		}
		a, b := s.timeline(r)
		r.tlOff = uint32(len(t))
		t, v = append(t, a...), append(v, b...)
	}
	s.itT, s.itV, s.waste = t, v, 0
}

// prepared is what a session's row derives from its stored state before
// any string is interned: pure, so a load prepares on many goroutines.
type prepared struct {
	tl          []entryItem // sorted by traffic.Compare
	entry, exit *pageView
	start, end  int64
	last        int64
	pvs         uint32
	ref         string // referrer.Domain of the entry's referrer
	screen      string
	marked      bool
	flags       uint8
}

type entryItem struct {
	t  int64
	ev bool
	pv string
	s  string // the page view's URL or the event's name
}

// prepare derives a session's row fields by the counting rules of
// traffic.proto; nil without a page view.
func prepare(ss *session) *prepared {
	p := &prepared{tl: make([]entryItem, 0, len(ss.pvs)+len(ss.events)), marked: ss.marked, flags: ss.flags}
	for i := range ss.pvs {
		v := &ss.pvs[i]
		if !v.seen {
			continue
		}
		p.pvs++
		p.tl = append(p.tl, entryItem{t: v.time, pv: v.id, s: v.url})
		if p.entry == nil || v.time < p.entry.time || (v.time == p.entry.time && v.id < p.entry.id) {
			p.entry = v
		}
		if p.exit == nil || v.time > p.exit.time || (v.time == p.exit.time && v.id > p.exit.id) {
			p.exit = v
		}
		p.end = max(p.end, v.time+v.dur)
	}
	if p.entry == nil {
		return nil
	}
	for i := range ss.events {
		e := &ss.events[i]
		p.tl = append(p.tl, entryItem{t: e.time, ev: true, pv: e.pv, s: e.name})
		p.end = max(p.end, e.time)
	}
	slices.SortFunc(p.tl, func(a, b entryItem) int {
		switch {
		case a.t != b.t:
			return cmp.Compare(a.t, b.t)
		case a.ev != b.ev:
			if a.ev {
				return 1
			}
			return -1
		case a.pv != b.pv:
			return strings.Compare(a.pv, b.pv)
		}
		return strings.Compare(a.s, b.s)
	})
	p.start = p.entry.time
	p.end = max(p.end, p.start)
	p.last, _, _ = ss.lastHit()
	p.ref = referrer.Domain(p.entry.ref)
	if p.entry.w > 0 && p.entry.h > 0 {
		p.screen = strconv.Itoa(int(p.entry.w)) + "x" + strconv.Itoa(int(p.entry.h))
	}
	return p
}

// build sets a row from a prepared session, interning its strings.
func (s *site) build(r *row, p *prepared) {
	off := s.place(r, len(p.tl))
	for j, it := range p.tl {
		s.itT[off+uint32(j)] = it.t
		if it.ev {
			s.itV[off+uint32(j)] = s.strs.id(it.s) | evBit
		} else {
			s.itV[off+uint32(j)] = s.url(it.s)
		}
	}
	entry := p.entry
	entryID := s.url(entry.url)
	at := s.urlAt[entryID]
	// referrer.External, with the entry URL's domain derived once per URL.
	ref := p.ref
	if ref == at.domain {
		ref = ""
	}
	flags := rowLive
	if p.marked {
		flags |= rowMarked | p.flags
	}
	vis, _ := s.vis.add(entry.visitor)
	*r = row{
		start: p.start, end: p.end, last: p.last,
		visitor: vis,
		entry:   entryID, exit: s.url(p.exit.url),
		ref:  s.strs.id(ref),
		utmS: at.utmS, utmM: at.utmM, utmC: at.utmC,
		country: s.strs.id(entry.country), browser: s.strs.id(entry.browser), os: s.strs.id(entry.os),
		screen: s.strs.id(p.screen), pvs: p.pvs, device: entry.device, flags: flags,
		tlOff: off, tlLen: uint16(len(p.tl)),
	}
}

// deviceName is a device's value in breakdowns and filters.
func deviceName(d uint8) string { return index.DeviceName(sessionsv1.DeviceType(d)) }
