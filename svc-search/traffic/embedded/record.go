package embedded

import (
	"encoding/binary"
	"errors"
	"slices"
	"time"

	sessionsv1 "github.com/sightlinehq/sightline/gen/sightline/sessions/v1"
	"github.com/sightlinehq/sightline/svc-search/traffic"
)

// maxLeaveTimes bounds the leave times kept per page view (realtime counts
// a visitor active on a leave); the latest ones are kept.
const maxLeaveTimes = 8

// session is one (site, session id) as Pebble holds it: every hit kept,
// folded, and the recorded mark. Times are Unix nanoseconds.
type session struct {
	pvs    []pageView
	events []event
	// mark is the recorded mark (marked false: none yet).
	marked  bool
	version int64
	flags   uint8 // flagRage | flagDead | flagErrors
}

type pageView struct {
	id string
	// seen: the page view itself arrived (not only a leave of it).
	seen      bool
	time      int64
	url, ref  string
	visitor   string
	device    uint8
	browser   string
	os        string
	country   string
	w, h      int32
	sampled   bool
	retention int32
	dur       int64
	leaves    []int64
}

type event struct {
	pv, name  string
	visitor   string
	time      int64
	retention int32
}

const (
	flagRage uint8 = 1 << iota
	flagDead
	flagErrors
)

func (s *session) hasPageView() bool {
	for i := range s.pvs {
		if s.pvs[i].seen {
			return true
		}
	}
	return false
}

func (s *session) countPV() (seen, all int) {
	for i := range s.pvs {
		if s.pvs[i].seen {
			seen++
		}
	}
	return seen, len(s.pvs)
}

// apply folds one hit in; it reports whether anything changed.
func (s *session) apply(h *traffic.Hit) bool {
	t := h.Time.UnixNano()
	switch h.Kind {
	case sessionsv1.HitKind_HIT_KIND_PAGE_VIEW:
		i := s.findPV(h.PageViewID)
		if i >= 0 && s.pvs[i].seen {
			return false // idempotent: the same page view again
		}
		if i < 0 {
			if seen, _ := s.countPV(); seen >= traffic.MaxPageViewsPerSession || len(s.pvs) >= 2*traffic.MaxPageViewsPerSession {
				return false
			}
			s.pvs = append(s.pvs, pageView{id: h.PageViewID})
			i = len(s.pvs) - 1
		} else if seen, _ := s.countPV(); seen >= traffic.MaxPageViewsPerSession {
			return false
		}
		p := &s.pvs[i]
		p.seen, p.time, p.url, p.ref, p.visitor = true, t, h.URL, h.Referrer, h.VisitorID
		p.device, p.browser, p.os, p.country = uint8(h.Device), h.Browser, h.OS, h.Country
		p.w, p.h, p.sampled = h.ScreenW, h.ScreenH, h.Recorded
		p.retention = max(p.retention, h.RetentionDays)
		return true
	case sessionsv1.HitKind_HIT_KIND_PAGE_LEAVE:
		i := s.findPV(h.PageViewID)
		if i < 0 {
			if len(s.pvs) >= 2*traffic.MaxPageViewsPerSession {
				return false
			}
			s.pvs = append(s.pvs, pageView{id: h.PageViewID, visitor: h.VisitorID})
			i = len(s.pvs) - 1
		}
		p := &s.pvs[i]
		d := min(max(int64(h.Duration), 0), int64(traffic.MaxLeave))
		changed := false
		if d > p.dur {
			p.dur, changed = d, true
		}
		if h.RetentionDays > p.retention {
			p.retention, changed = h.RetentionDays, true
		}
		if j, found := slices.BinarySearch(p.leaves, t); !found {
			p.leaves = slices.Insert(p.leaves, j, t)
			if len(p.leaves) > maxLeaveTimes {
				p.leaves = p.leaves[1:]
			}
			changed = true
		}
		return changed
	case sessionsv1.HitKind_HIT_KIND_EVENT:
		for i := range s.events {
			e := &s.events[i]
			if e.time == t && e.pv == h.PageViewID && e.name == h.Event {
				return false
			}
		}
		if len(s.events) >= traffic.MaxEventsPerSession {
			return false
		}
		s.events = append(s.events, event{pv: h.PageViewID, name: h.Event, visitor: h.VisitorID, time: t, retention: h.RetentionDays})
		return true
	}
	return false
}

func (s *session) findPV(id string) int {
	for i := range s.pvs {
		if s.pvs[i].id == id {
			return i
		}
	}
	return -1
}

// mark applies a recorded mark unless an older version than the one held.
func (s *session) mark(m traffic.Recorded) bool {
	if s.marked && m.Version < s.version {
		return false
	}
	var f uint8
	if m.Rage {
		f |= flagRage
	}
	if m.Dead {
		f |= flagDead
	}
	if m.Errors {
		f |= flagErrors
	}
	if s.marked && s.version == m.Version && s.flags == f {
		return false
	}
	s.marked, s.version, s.flags = true, m.Version, f
	return true
}

// lastHit is the latest Time of any hit, and the largest retention.
func (s *session) lastHit() (last int64, retention int32, any bool) {
	for i := range s.pvs {
		p := &s.pvs[i]
		if p.seen {
			last, any = max(last, p.time), true
		}
		if n := len(p.leaves); n > 0 {
			if !any || p.leaves[n-1] > last {
				last = p.leaves[n-1]
			}
			any = true
		}
		retention = max(retention, p.retention)
	}
	for i := range s.events {
		if !any || s.events[i].time > last {
			last = s.events[i].time
		}
		any = true
		retention = max(retention, s.events[i].retention)
	}
	return last, retention, any
}

// expired tells whether Sweep removes a session at now, from its
// record's header.
func expired(b []byte, now time.Time, def time.Duration) (bool, error) {
	if len(b) == 0 || b[0] != recordVersion {
		return false, errCorrupt
	}
	d := dec{b: b[1:]}
	any := d.byte() == 1
	last := d.i()
	ret := int32(d.i())
	if d.err != nil {
		return false, d.err
	}
	return expiredAt(any, last, ret, now, def), nil
}

func expiredAt(any bool, last int64, ret int32, now time.Time, def time.Duration) bool {
	if !any {
		return false
	}
	keep := def
	if ret > 0 {
		keep = time.Duration(ret) * 24 * time.Hour
	}
	return time.Unix(0, last).Add(keep).Before(now)
}

// Encoding: a version byte, then fields as uvarints/varints and
// length-prefixed strings. Hand-rolled because a site's first query
// decodes every one of its sessions.
const recordVersion = 1

type enc struct{ b []byte }

func (e *enc) u(v uint64)  { e.b = binary.AppendUvarint(e.b, v) }
func (e *enc) i(v int64)   { e.b = binary.AppendVarint(e.b, v) }
func (e *enc) s(v string)  { e.u(uint64(len(v))); e.b = append(e.b, v...) }
func (e *enc) bool(v bool) { e.b = append(e.b, b2u(v)) }
func b2u(v bool) byte {
	if v {
		return 1
	}
	return 0
}

func (s *session) encode(buf []byte) []byte {
	e := enc{b: append(buf[:0], recordVersion)}
	// What Sweep needs comes first, so it reads no further.
	last, ret, any := s.lastHit()
	e.bool(any)
	e.i(last)
	e.i(int64(ret))
	e.bool(s.marked)
	e.i(s.version)
	e.b = append(e.b, s.flags)
	e.u(uint64(len(s.pvs)))
	for i := range s.pvs {
		p := &s.pvs[i]
		e.s(p.id)
		e.bool(p.seen)
		e.i(p.time)
		e.s(p.url)
		e.s(p.ref)
		e.s(p.visitor)
		e.b = append(e.b, p.device)
		e.s(p.browser)
		e.s(p.os)
		e.s(p.country)
		e.i(int64(p.w))
		e.i(int64(p.h))
		e.bool(p.sampled)
		e.i(int64(p.retention))
		e.i(p.dur)
		e.u(uint64(len(p.leaves)))
		for _, l := range p.leaves {
			e.i(l)
		}
	}
	e.u(uint64(len(s.events)))
	for i := range s.events {
		ev := &s.events[i]
		e.s(ev.pv)
		e.s(ev.name)
		e.s(ev.visitor)
		e.i(ev.time)
		e.i(int64(ev.retention))
	}
	return e.b
}

var errCorrupt = errors.New("embedded: corrupt session record")

type dec struct {
	b   []byte
	err error
}

func (d *dec) u() uint64 { return varint(d, binary.Uvarint) }

func (d *dec) i() int64 { return varint(d, binary.Varint) }

// varint reads one varint with read (binary.Uvarint or binary.Varint); a
// malformed one makes the record corrupt.
func varint[T uint64 | int64](d *dec, read func([]byte) (T, int)) T {
	v, n := read(d.b)
	if n <= 0 {
		d.err, d.b = errCorrupt, nil
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *dec) byte() byte {
	if len(d.b) == 0 {
		d.err = errCorrupt
		return 0
	}
	v := d.b[0]
	d.b = d.b[1:]
	return v
}

func (d *dec) s() string {
	n := d.u()
	if n > uint64(len(d.b)) {
		d.err, d.b = errCorrupt, nil
		return ""
	}
	v := string(d.b[:n])
	d.b = d.b[n:]
	return v
}

func (d *dec) count(per int) int {
	n := d.u()
	if n > uint64(len(d.b)/per+1) {
		d.err, d.b = errCorrupt, nil
		return 0
	}
	return int(n)
}

func decodeSession(b []byte) (*session, error) {
	if len(b) == 0 || b[0] != recordVersion {
		return nil, errCorrupt
	}
	d := dec{b: b[1:]}
	d.byte() // the expiry header: see peekExpiry
	d.i()
	d.i()
	s := &session{}
	s.marked = d.byte() == 1
	s.version = d.i()
	s.flags = d.byte()
	if n := d.count(16); n > 0 {
		s.pvs = make([]pageView, n)
	}
	for i := range s.pvs {
		p := &s.pvs[i]
		p.id = d.s()
		p.seen = d.byte() == 1
		p.time = d.i()
		p.url = d.s()
		p.ref = d.s()
		p.visitor = d.s()
		p.device = d.byte()
		p.browser = d.s()
		p.os = d.s()
		p.country = d.s()
		p.w = int32(d.i())
		p.h = int32(d.i())
		p.sampled = d.byte() == 1
		p.retention = int32(d.i())
		p.dur = d.i()
		if n := d.count(1); n > 0 {
			p.leaves = make([]int64, n)
			for j := range p.leaves {
				p.leaves[j] = d.i()
			}
		}
	}
	if n := d.count(5); n > 0 {
		s.events = make([]event, n)
	}
	for i := range s.events {
		ev := &s.events[i]
		ev.pv = d.s()
		ev.name = d.s()
		ev.visitor = d.s()
		ev.time = d.i()
		ev.retention = int32(d.i())
	}
	if d.err != nil {
		return nil, d.err
	}
	return s, nil
}
