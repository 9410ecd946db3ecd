package batch

import (
	"math"
	"strings"
	"time"
	"unicode/utf8"

	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	recordingsv1 "github.com/sightlinehq/sightline/gen/sightline/recordings/v1"
	sessionsv1 "github.com/sightlinehq/sightline/gen/sightline/sessions/v1"
)

// Limits of a traffic beacon (POST /i/v1/hit?k=<site key>). DecodeHits
// (ingest) and CheckHit (search's TrafficService.AppendHits) read the same
// constants, so a hit ingest accepts is one search stores.
const (
	// MaxHitBytes bounds a beacon's body.
	MaxHitBytes = 8 << 10
	// MaxHits bounds the hits of one body.
	MaxHits = 20
	// MaxHitURLBytes bounds a hit's url and referrer.
	MaxHitURLBytes = 2048
	// MaxEventName bounds a custom event's name, in characters.
	MaxEventName = 100
	// MaxLeave caps a page view's duration: a longer one is cut to it.
	MaxLeave = 24 * time.Hour
	// MaxHitSkew bounds how far before its acceptance ingest dates a hit
	// (HitServerTime): a body whose hits span more keeps their order only
	// within the last hour.
	MaxHitSkew = time.Hour
)

// Hits is one decoded beacon body.
type Hits struct {
	V         int64
	SessionID string
	VisitorID string
	Recorded  bool
	ScreenW   int32
	ScreenH   int32
	Hits      []Hit
	// MaxTime is the latest hit time of the body (ms), the anchor of
	// HitServerTime.
	MaxTime int64
}

// Hit is one page view, page-view end or custom event of a body.
type Hit struct {
	Kind       sessionsv1.HitKind
	PageViewID string
	Time       int64 // the tracker's clock, ms since the Unix epoch
	URL        string
	Referrer   string
	Duration   int64 // ms, PAGE_LEAVE only, capped at MaxLeave
	Name       string
}

// DecodeHits parses one beacon body and applies the whole contract to it.
// A refusal is a *Error whose message names the field, never its content.
func DecodeHits(b []byte) (Hits, error) {
	var h Hits
	if len(b) > MaxHitBytes {
		return h, errf("hit body larger than %d bytes", MaxHitBytes)
	}
	d, err := objectBody(b)
	if err != nil {
		return h, err
	}
	var hasV, hasSession, hasVisitor, hasHits bool
	err = d.object("body", func(key []byte) error {
		var err error
		switch string(key) {
		case "v":
			h.V, err = d.int("v", math.MinInt64, math.MaxInt64)
			hasV = true
		case "sessionId":
			h.SessionID, err = d.typedStr("sessionId")
			hasSession = true
		case "visitorId":
			h.VisitorID, err = d.typedStr("visitorId")
			hasVisitor = true
		case "recorded":
			h.Recorded, err = d.boolOrNull("recorded")
		case "screen":
			err = d.screen(&h)
		case "hits":
			hasHits = true
			err = d.hits(&h)
		default:
			// Unknown fields are skipped so that newer trackers keep working.
			err = d.skip(1)
		}
		return err
	})
	if err != nil {
		return h, err
	}
	if err := d.end("the body"); err != nil {
		return h, err
	}
	switch {
	case !hasV || h.V != Version:
		return h, errf("unsupported version (v must be %d)", Version)
	case !hasSession:
		return h, errf("sessionId is required")
	case !hasVisitor:
		return h, errf("visitorId is required")
	case !hasHits || len(h.Hits) == 0:
		return h, errf("hits must hold 1-%d hits", MaxHits)
	}
	if err := checkID("sessionId", h.SessionID, "s_"); err != nil {
		return h, err
	}
	if err := checkID("visitorId", h.VisitorID, "v_"); err != nil {
		return h, err
	}
	for _, x := range h.Hits {
		h.MaxTime = max(h.MaxTime, x.Time)
	}
	return h, nil
}

// screen reads [width, height] (or null).
func (d *decoder) screen(h *Hits) error {
	if d.peek() == 'n' {
		return d.lit("null")
	}
	var wh [2]int32
	n := 0
	if err := d.array("screen", 2, func(i int) error {
		v, err := d.int("screen[]", 0, MaxViewport)
		wh[i], n = int32(v), i+1
		return err
	}); err != nil {
		return err
	}
	if n != 2 {
		return errf("screen must be [width, height]")
	}
	h.ScreenW, h.ScreenH = wh[0], wh[1]
	return nil
}

// hits reads the hits array, checking each hit.
func (d *decoder) hits(h *Hits) error {
	return d.array("hits", MaxHits, func(i int) error {
		var x Hit
		var kind string
		var hasKind, hasTime, hasDuration, hasName bool
		if err := d.object("hits[]", func(key []byte) error {
			var err error
			switch string(key) {
			case "kind":
				kind, err = d.typedStr("hits[].kind")
				hasKind = true
			case "pageViewId":
				x.PageViewID, err = d.typedStr("hits[].pageViewId")
			case "time":
				x.Time, err = d.int("hits[].time", 1, MaxTimestampMs)
				hasTime = true
			case "url":
				x.URL, err = d.hitURL("hits[].url")
			case "referrer":
				x.Referrer, err = d.hitURL("hits[].referrer")
			case "duration":
				x.Duration, err = d.int("hits[].duration", 0, MaxSafeInteger)
				x.Duration = min(x.Duration, MaxLeave.Milliseconds())
				hasDuration = true
			case "name":
				x.Name, err = d.textOrNull("hits[].name", MaxEventName)
				hasName = x.Name != ""
			default:
				err = d.skip(2)
			}
			return err
		}); err != nil {
			return err
		}
		switch {
		case !hasKind:
			return errf("hits[%d].kind is required", i)
		case !hasTime:
			return errf("hits[%d].time is required", i)
		}
		if err := checkID("hits[].pageViewId", x.PageViewID, "p_"); err != nil {
			return err
		}
		switch kind {
		case "pageview":
			x.Kind = sessionsv1.HitKind_HIT_KIND_PAGE_VIEW
			if x.URL == "" {
				return errf("hits[%d].url is required for a pageview", i)
			}
			if !httpURL(x.URL) {
				return errf("hits[%d].url must be an http or https URL", i)
			}
		case "leave":
			x.Kind = sessionsv1.HitKind_HIT_KIND_PAGE_LEAVE
			if !hasDuration {
				return errf("hits[%d].duration is required for a leave", i)
			}
		case "event":
			x.Kind = sessionsv1.HitKind_HIT_KIND_EVENT
			if !hasName {
				return errf("hits[%d].name is required for an event (1-%d characters)", i, MaxEventName)
			}
		default:
			return errf(`hits[%d].kind must be "pageview", "leave" or "event"`, i)
		}
		if hasDuration && x.Kind != sessionsv1.HitKind_HIT_KIND_PAGE_LEAVE {
			return errf("hits[%d].duration is for a leave only", i)
		}
		if hasName && x.Kind != sessionsv1.HitKind_HIT_KIND_EVENT {
			return errf("hits[%d].name is for an event only", i)
		}
		h.Hits = append(h.Hits, x)
		return nil
	})
}

// hitURL reads a url or referrer of at most MaxHitURLBytes (null reads as "").
func (d *decoder) hitURL(name string) (string, error) {
	s, err := d.textOrNull(name, math.MaxInt)
	if err == nil && len(s) > MaxHitURLBytes {
		err = errf("%s must be at most %d bytes", name, MaxHitURLBytes)
	}
	return s, err
}

// httpURL reports whether s starts with http:// or https:// (any case)
// and names a host.
func httpURL(s string) bool {
	for _, p := range [...]string{"http://", "https://"} {
		if len(s) > len(p) && strings.EqualFold(s[:len(p)], p) {
			return true
		}
	}
	return false
}

// HitServerTime dates a hit on ingest's clock: accept minus how long
// before the body's latest hit the tracker says it happened, clamped to
// [accept − MaxHitSkew, accept]. The hits of one body keep the tracker's
// order and spacing; a visitor's wrong clock shifts nothing.
func HitServerTime(accept time.Time, maxTime, t int64) time.Time {
	back := time.Duration(maxTime-t) * time.Millisecond
	if back < 0 {
		back = 0
	}
	return accept.Add(-min(back, MaxHitSkew))
}

// Fill sets the chunk fields that come from the body and hit i: ids,
// url, referrer, client time, server time (HitServerTime) and the Hit. The
// caller sets the rest (site, organisation, client, traceparent,
// retention).
func (h *Hits) Fill(c *recordingsv1.Chunk, i int, accept time.Time) {
	x := &h.Hits[i]
	c.SessionId, c.VisitorId, c.PageViewId = h.SessionID, h.VisitorID, x.PageViewID
	c.Url, c.Referrer = x.URL, x.Referrer
	c.ClientTime = timestamppb.New(time.UnixMilli(x.Time))
	c.ServerTime = timestamppb.New(HitServerTime(accept, h.MaxTime, x.Time))
	p := &sessionsv1.Hit{Kind: x.Kind, Event: x.Name, ScreenWidth: h.ScreenW, ScreenHeight: h.ScreenH, Recorded: h.Recorded}
	if x.Kind == sessionsv1.HitKind_HIT_KIND_PAGE_LEAVE {
		p.Duration = durationpb.New(time.Duration(x.Duration) * time.Millisecond)
	}
	c.Hit = p
}

// CheckHit applies the beacon contract to a chunk carrying a hit (search
// calls it on every chunk AppendHits is sent and refuses what fails): the
// same limits as DecodeHits on the proto's fields, so "accepted" and
// "storable" cannot disagree.
func CheckHit(c *recordingsv1.Chunk) error {
	p := c.GetHit()
	switch {
	case c == nil:
		return errf("chunk missing")
	case p == nil:
		return errf("chunk carries no hit")
	case c.GetSiteId() <= 0:
		return errf("site_id must be positive")
	case c.GetOrganizationId() < 0:
		return errf("organization_id must not be negative")
	case len(c.GetEvents()) > 0 || c.GetAnswer() != nil:
		return errf("a hit chunk carries no events and no answer")
	case c.GetRetentionDays() < 0:
		return errf("retention_days must not be negative")
	case len(c.GetUrl()) > MaxHitURLBytes || len(c.GetReferrer()) > MaxHitURLBytes:
		return errf("url and referrer must be at most %d bytes", MaxHitURLBytes)
	case !utf8.ValidString(c.GetUrl()) || !utf8.ValidString(c.GetReferrer()):
		return errf("url and referrer must be valid UTF-8")
	case p.GetScreenWidth() < 0 || p.GetScreenWidth() > MaxViewport ||
		p.GetScreenHeight() < 0 || p.GetScreenHeight() > MaxViewport:
		return errf("screen must be between 0 and %d", MaxViewport)
	}
	if err := checkIDs(c.GetSessionId(), c.GetVisitorId(), c.GetPageViewId()); err != nil {
		return err
	}
	if t := c.GetServerTime(); t == nil || t.CheckValid() != nil {
		return errf("server_time is required and must be a valid timestamp")
	} else if ms := t.AsTime().UnixMilli(); ms < 1 || ms > MaxTimestampMs {
		return errf("server_time must be between 1 and %d ms since the epoch", int64(MaxTimestampMs))
	}
	if t := c.GetClientTime(); t != nil {
		if t.CheckValid() != nil {
			return errf("client_time is not a valid timestamp")
		}
		if ms := t.AsTime().UnixMilli(); ms < 1 || ms > MaxTimestampMs {
			return errf("client_time must be between 1 and %d ms since the epoch", int64(MaxTimestampMs))
		}
	}
	kind := p.GetKind()
	if kind != sessionsv1.HitKind_HIT_KIND_EVENT && p.GetEvent() != "" {
		return errf("hit event is for an EVENT only")
	}
	if kind != sessionsv1.HitKind_HIT_KIND_PAGE_LEAVE && p.GetDuration().AsDuration() != 0 {
		return errf("hit duration is for a PAGE_LEAVE only")
	}
	switch kind {
	case sessionsv1.HitKind_HIT_KIND_PAGE_VIEW:
		if !httpURL(c.GetUrl()) {
			return errf("a PAGE_VIEW needs an http or https url")
		}
	case sessionsv1.HitKind_HIT_KIND_PAGE_LEAVE:
		d := p.GetDuration()
		if d == nil || d.CheckValid() != nil {
			return errf("a PAGE_LEAVE needs a valid duration")
		}
		if v := d.AsDuration(); v < 0 || v > MaxLeave {
			return errf("hit duration must be between 0 and %s", MaxLeave)
		}
	case sessionsv1.HitKind_HIT_KIND_EVENT:
		if err := checkText("hit event", p.GetEvent(), MaxEventName); err != nil {
			return err
		}
		if p.GetEvent() == "" {
			return errf("an EVENT needs a name")
		}
	default:
		return errf("hit kind must be PAGE_VIEW, PAGE_LEAVE or EVENT")
	}
	return nil
}
