package batch

import (
	"math"
	"strings"

	"github.com/sightlinehq/sightline/wireid"
)

// Envelope is one decoded batch.
type Envelope struct {
	V           int64
	SiteKey     string
	SessionID   string
	VisitorID   string
	PageViewID  string
	Seq         int64
	ClientTime  int64 // ms since the Unix epoch; 0 when absent
	URL         string
	Referrer    string
	ViewportW   int32
	ViewportH   int32
	Traceparent string
	Truncated   bool
	// Events is the raw JSON array, a sub-slice of the decoded input,
	// every event of which the contract checked (see Events).
	Events     []byte
	EventCount int
}

// The fields a batch envelope and an answer both require, as bits of the
// decoders' seen masks; each decoder numbers its own from fHead << 1.
const (
	fV = 1 << iota
	fSite
	fSession
	fVisitor
	fPage
	fHead = fPage
)

// checkHead reports the first required field seen lacks, in the order the
// contract names them, and a version other than this one.
func checkHead(seen uint16, v int64) error {
	switch {
	case seen&fV == 0 || v != Version:
		return errf("unsupported version (v must be %d)", Version)
	case seen&fSite == 0:
		return errf("siteKey is required")
	case seen&fSession == 0:
		return errf("sessionId is required")
	case seen&fVisitor == 0:
		return errf("visitorId is required")
	case seen&fPage == 0:
		return errf("pageViewId is required")
	}
	return nil
}

// Decode parses one envelope and applies the whole contract to it, events
// included: what it accepts, recordings stores. maxEvents ≤ 0 means no
// limit on the number of events. A refusal is a *Error (answer 400) or wraps
// ErrTooManyEvents (413).
func Decode(b []byte, maxEvents int) (Envelope, error) {
	var e Envelope
	d, err := objectBody(b)
	if err != nil {
		return e, err
	}
	var seen uint16
	const (
		fSeq = fHead << (iota + 1)
		fEvents
	)
	o := members{name: "envelope"}
	for key, ok := d.member(&o); ok; key, ok = d.member(&o) {
		var err error
		switch string(key) { // no allocation: the compiler compares the bytes
		case "v":
			e.V, err = d.int("v", math.MinInt64, math.MaxInt64)
			seen |= fV
		case "siteKey":
			e.SiteKey, err = d.str()
			seen |= fSite
		case "sessionId":
			e.SessionID, err = d.str()
			seen |= fSession
		case "visitorId":
			e.VisitorID, err = d.str()
			seen |= fVisitor
		case "pageViewId":
			e.PageViewID, err = d.str()
			seen |= fPage
		case "seq":
			e.Seq, err = d.int("seq", 0, MaxSafeInteger)
			seen |= fSeq
		case "clientTime":
			if d.peek() == 'n' {
				err = d.lit("null")
			} else {
				e.ClientTime, err = d.int("clientTime", 0, MaxTimestampMs)
			}
		case "traceparent":
			e.Traceparent, err = d.strOrNull()
		case "truncated":
			switch d.peek() {
			case 't':
				err = d.lit("true")
				e.Truncated = true
			case 'f':
				err = d.lit("false")
				e.Truncated = false
			case 'n':
				err = d.lit("null")
			default:
				err = errf("truncated must be a boolean")
			}
		case "page":
			err = d.page(&e)
		case "events":
			start := d.i
			e.EventCount, err = d.events(maxEvents)
			e.Events = d.b[start:d.i]
			seen |= fEvents
		default:
			// Unknown fields are skipped so that newer trackers keep working.
			err = d.skip(0)
		}
		if err != nil {
			return e, err
		}
	}
	if o.err != nil {
		return e, o.err
	}
	if o.n == 0 {
		return e, errf("empty envelope")
	}
	if err := d.end("envelope"); err != nil {
		return e, err
	}
	if err := checkHead(seen, e.V); err != nil {
		return e, err
	}
	switch {
	case seen&fSeq == 0:
		return e, errf("seq is required")
	case seen&fEvents == 0:
		return e, errf("events is required")
	}
	if err := checkIDs(e.SessionID, e.VisitorID, e.PageViewID); err != nil {
		return e, err
	}
	if len(e.SiteKey) == 0 || len(e.SiteKey) > 64 {
		return e, errf("siteKey must be 1-64 characters")
	}
	if len(e.URL) > MaxURLBytes || len(e.Referrer) > MaxURLBytes {
		return e, errf("page url and referrer must be at most %d bytes", MaxURLBytes)
	}
	if len(e.Traceparent) > MaxTraceparent {
		e.Traceparent = "" // not a valid traceparent; ignore rather than reject
	}
	return e, nil
}

func checkIDs(session, visitor, pageView string) error {
	for _, f := range [...]struct{ name, v, prefix string }{
		{"sessionId", session, "s_"}, {"visitorId", visitor, "v_"}, {"pageViewId", pageView, "p_"},
	} {
		if err := checkID(f.name, f.v, f.prefix); err != nil {
			return err
		}
	}
	return nil
}

// checkID enforces the given prefix and wireid's format: 8–64 characters of
// [A-Za-z0-9_-].
func checkID(name, v, prefix string) error {
	if len(v) < wireid.MinLen || len(v) > wireid.MaxLen || !strings.HasPrefix(v, prefix) {
		return errf("%s must be %s followed by 6-62 of [A-Za-z0-9_-]", name, prefix)
	}
	if !wireid.URLSafe(v) {
		return errf("%s has a character outside [A-Za-z0-9_-]", name)
	}
	return nil
}

func (d *decoder) page(e *Envelope) error {
	if d.peek() == 'n' {
		return d.lit("null")
	}
	o := members{name: "page"}
	for key, ok := d.member(&o); ok; key, ok = d.member(&o) {
		var err error
		switch string(key) { // no allocation: the compiler compares the bytes
		case "url":
			e.URL, err = d.strOrNull()
		case "referrer":
			e.Referrer, err = d.strOrNull()
		case "viewport":
			err = d.viewport(e)
		default:
			err = d.skip(1)
		}
		if err != nil {
			return err
		}
	}
	return o.err
}

func (d *decoder) viewport(e *Envelope) error {
	if d.peek() == 'n' {
		return d.lit("null")
	}
	o := members{name: "page.viewport"}
	for key, ok := d.member(&o); ok; key, ok = d.member(&o) {
		var err error
		var n int64
		switch string(key) { // no allocation: the compiler compares the bytes
		case "w":
			n, err = d.int("page.viewport.w", 0, MaxViewport)
			e.ViewportW = int32(n)
		case "h":
			n, err = d.int("page.viewport.h", 0, MaxViewport)
			e.ViewportH = int32(n)
		default:
			err = d.skip(2)
		}
		if err != nil {
			return err
		}
	}
	return o.err
}
